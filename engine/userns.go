package engine

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// usernsMaps is a remapped container's user namespace: its uid and gid
// mappings, container id 0 first.
type usernsMaps struct {
	UID []specs.LinuxIDMapping `json:"uid"`
	GID []specs.LinuxIDMapping `json:"gid"`
}

// subIDFiles are the host's subordinate id files (a variable for tests).
var subIDFiles = [2]string{"/etc/subuid", "/etc/subgid"}

// remapDefaultUser is the user "default" stands for, docker's name.
const remapDefaultUser = "dockremap"

// parseUsernsRemap reads the daemon's --userns-remap: "" (nil: no
// remapping), "default" (user dockremap) or USER[:GROUP] (a name or an
// id; GROUP is USER when left out), whose ranges in /etc/subuid and
// /etc/subgid make the mappings. Unlike docker, berth adds no user and no
// range for "default": the ranges must be there.
func parseUsernsRemap(v string) (*usernsMaps, error) {
	if v == "" {
		return nil, nil
	}
	usr, grp, _ := strings.Cut(v, ":")
	if usr == "default" {
		usr, grp = remapDefaultUser, remapDefaultUser
	}
	if usr == "" {
		return nil, fmt.Errorf("userns-remap %q: no user name", v)
	}
	if grp == "" {
		grp = usr
	}
	var m usernsMaps
	var err error
	if m.UID, err = subIDRanges(subIDFiles[0], idKeys(usr, true)); err == nil {
		m.GID, err = subIDRanges(subIDFiles[1], idKeys(grp, false))
	}
	if err != nil {
		return nil, fmt.Errorf("userns-remap %q: %w (add a line such as %q to /etc/subuid and /etc/subgid)", v, err, usr+":100000:65536")
	}
	return &m, nil
}

// idKeys are the names an entry of the subordinate id files may have for
// a user (or group): its name and its number.
func idKeys(s string, isUser bool) []string {
	keys := []string{s}
	if isUser {
		if u, err := user.Lookup(s); err == nil {
			keys = append(keys, u.Uid)
		} else if u, err := user.LookupId(s); err == nil {
			keys = append(keys, u.Username)
		}
	} else if g, err := user.LookupGroup(s); err == nil {
		keys = append(keys, g.Gid)
	} else if g, err := user.LookupGroupId(s); err == nil {
		keys = append(keys, g.Name)
	}
	return keys
}

// subIDRanges reads the ranges of file (NAME:START:COUNT lines) for any of
// keys, as consecutive mappings from container id 0.
func subIDRanges(file string, keys []string) ([]specs.LinuxIDMapping, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []specs.LinuxIDMapping
	next := uint32(0)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) != 3 || !contains(keys, parts[0]) {
			continue
		}
		start, err1 := strconv.ParseUint(parts[1], 10, 32)
		n, err2 := strconv.ParseUint(parts[2], 10, 32)
		if err1 != nil || err2 != nil || n == 0 {
			return nil, fmt.Errorf("%s: bad line %q", file, line)
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: next, HostID: uint32(start), Size: uint32(n)})
		next += uint32(n)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no subordinate id range for %q in %s", keys[0], file)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// toHost maps a container id to the host's, false when it is not mapped.
func toHost(m []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, r := range m {
		if id >= r.ContainerID && id-r.ContainerID < r.Size {
			return r.HostID + id - r.ContainerID, true
		}
	}
	return 0, false
}

// remapRootfs gives a remapped container's root filesystem, mounted at
// r.rootfsDir(), to its user namespace: every file's owner and group are
// mapped (as docker's remapped layers are), so that what the image owns
// as root the container's root owns. The set-id bits chown clears are put
// back. The bundle directory becomes traversable for the container's
// root, which is nobody on the host.
//
// The container's writable layer gets a copy of every file (overlayfs
// copies up on chown): the price of mapping per container rather than per
// image.
func (e *Engine) remapRootfs(r *ctrRecord) error {
	if r.Userns == nil {
		return nil
	}
	if err := os.Chmod(r.Dir, 0o711); err != nil {
		return fmt.Errorf("create container %s: %w", r.ID, err)
	}
	m := r.Userns
	root := r.rootfsDir()
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		uid, ok1 := toHost(m.UID, st.Uid)
		gid, ok2 := toHost(m.GID, st.Gid)
		if !ok1 || !ok2 {
			return fmt.Errorf("%s: owner %d:%d is outside the user namespace's range", strings.TrimPrefix(p, root), st.Uid, st.Gid)
		}
		if err := unix.Lchown(p, int(uid), int(gid)); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			return unix.Chmod(p, st.Mode&0o7777)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create container %s: map its filesystem to the user namespace: %w", r.ID, err)
	}
	return nil
}
