package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-project/berth/mount"
)

// mountEntry is one cgroup filesystem mount from /proc/self/mountinfo.
type mountEntry struct {
	mountpoint string   // where it is mounted
	root       string   // the cgroup shown at mountpoint ("/" unless bind-mounted)
	subsystems []string // v1: controllers and name=... of the hierarchy; nil for cgroup2
}

// layout is the set of cgroup hierarchies this process sees.
type layout struct {
	v1 []mountEntry // one per v1 hierarchy, in mountinfo order
	v2 *mountEntry  // the cgroup2 mount, or nil
}

var errNoCgroupFS = errors.New("no cgroup filesystem mounted")

// readLayout parses /proc/self/mountinfo.
func readLayout() (layout, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return layout{}, err
	}
	defer f.Close()
	l, err := parseMountinfo(f)
	if err != nil {
		return layout{}, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	return l, nil
}

// parseMountinfo keeps the cgroup and cgroup2 mounts of a mountinfo file.
// A hierarchy mounted more than once counts once (the first mount).
func parseMountinfo(r io.Reader) (layout, error) {
	var l layout
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 16*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(" - cgroup")) {
			continue
		}
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		f := strings.Fields(string(line))
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 {
			continue
		}
		m := mountEntry{root: mount.Unescape(f[3]), mountpoint: mount.Unescape(f[4])}
		switch f[sep+1] {
		case "cgroup2":
			if l.v2 == nil {
				l.v2 = &m
			}
		case "cgroup":
			m.subsystems = v1Subsystems(f[sep+3])
			key := strings.Join(m.subsystems, ",")
			if len(m.subsystems) == 0 || seen[key] {
				continue
			}
			seen[key] = true
			l.v1 = append(l.v1, m)
		}
	}
	return l, sc.Err()
}

// v1Subsystems picks the controllers and the name=... of a v1 hierarchy out
// of its super options, sorted.
func v1Subsystems(opts string) []string {
	var subs []string
	for _, o := range strings.Split(opts, ",") {
		switch {
		case o == "rw", o == "ro", o == "none", o == "all", o == "noprefix", o == "clone_children",
			o == "xattr", o == "cpuset_v2_mode", o == "favordynmods", o == "nofavordynmods",
			strings.HasPrefix(o, "release_agent="), o == "":
			continue
		}
		subs = append(subs, o)
	}
	slices.Sort(subs)
	return subs
}

// mode classifies the layout as ModeV1, ModeHybrid or ModeV2 ("" when no
// cgroup filesystem is mounted). Named-only v1 hierarchies next to cgroup2
// do not make a host hybrid.
func (l layout) mode() string {
	controllers := false
	for _, m := range l.v1 {
		for _, s := range m.subsystems {
			if !strings.HasPrefix(s, "name=") {
				controllers = true
			}
		}
	}
	switch {
	case controllers && l.v2 != nil:
		return ModeHybrid
	case controllers:
		return ModeV1
	case l.v2 != nil:
		return ModeV2
	}
	return ""
}

// readOwnCgroups parses /proc/self/cgroup.
func readOwnCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	own, err := parseProcCgroup(f)
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	return own, nil
}

// parseProcCgroup maps each subsystem (every controller of a line, and
// "name=..." for named hierarchies) to the process's cgroup in it; "" is the
// unified hierarchy ("0::/path").
func parseProcCgroup(r io.Reader) (map[string]string, error) {
	own := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			if parts[0] == "0" {
				own[""] = parts[2]
			}
			continue
		}
		for _, s := range strings.Split(parts[1], ",") {
			own[s] = parts[2]
		}
	}
	return own, sc.Err()
}

// checkPath rejects cgroup paths that are empty, name a hierarchy root or
// climb with "..", and returns p cleaned.
func checkPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty cgroups path")
	}
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return "", fmt.Errorf("cgroups path %q: must not contain ..", p)
		}
	}
	c := filepath.Clean(p)
	if c == "/" || c == "." {
		return "", fmt.Errorf("cgroups path %q: names the hierarchy root", p)
	}
	return c, nil
}

// dirIn returns the directory of cgroup path p (already checked) in the
// hierarchy mounted at m. Absolute paths start at the mountpoint; relative
// ones at the process's own cgroup, looked up in own under key.
func dirIn(m mountEntry, own map[string]string, key, p string) (string, error) {
	if filepath.IsAbs(p) {
		return filepath.Join(m.mountpoint, p), nil
	}
	cur, ok := own[key]
	if !ok {
		name := key
		if name == "" {
			name = "the unified hierarchy"
		}
		return "", fmt.Errorf("own cgroup in %s: not listed in /proc/self/cgroup", name)
	}
	rel, err := filepath.Rel(m.root, cur)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("own cgroup %s is outside the root %s mounted at %s", cur, m.root, m.mountpoint)
	}
	return filepath.Join(m.mountpoint, rel, p), nil
}

// manager resolves cgroup path p (checked) against the layout. own is only
// consulted for relative paths.
func (l layout) manager(own map[string]string, p string) (Manager, error) {
	switch l.mode() {
	case ModeV2:
		dir, err := dirIn(*l.v2, own, "", p)
		if err != nil {
			return nil, err
		}
		return &v2Manager{root: l.v2.mountpoint, dir: dir}, nil
	case ModeV1, ModeHybrid:
		m := &v1Manager{}
		for _, mnt := range l.v1 {
			dir, err := dirIn(mnt, own, mnt.subsystems[0], p)
			if err != nil {
				return nil, err
			}
			m.hier = append(m.hier, hierarchy{subsystems: mnt.subsystems, mount: mnt.mountpoint, dir: dir})
		}
		if l.v2 != nil {
			dir, err := dirIn(*l.v2, own, "", p)
			if err != nil {
				return nil, err
			}
			m.unified = dir
		}
		return m, nil
	}
	return nil, errNoCgroupFS
}

// Hierarchy is one cgroup hierarchy mounted on this host, as a container's
// /sys/fs/cgroup mirrors it.
type Hierarchy struct {
	Mountpoint string
	// Options name the hierarchy for mount(2): its controllers and
	// name=..., comma separated ("cpu", "name=systemd"); empty for cgroup2.
	Options string
	V2      bool
}

// Hierarchies lists the mounted cgroup hierarchies, v1 first in mount order,
// then the cgroup2 one.
func Hierarchies() ([]Hierarchy, error) {
	l, err := readLayout()
	if err != nil {
		return nil, err
	}
	var out []Hierarchy
	for _, m := range l.v1 {
		out = append(out, Hierarchy{Mountpoint: m.mountpoint, Options: strings.Join(m.subsystems, ",")})
	}
	if l.v2 != nil {
		out = append(out, Hierarchy{Mountpoint: l.v2.mountpoint, V2: true})
	}
	return out, nil
}
