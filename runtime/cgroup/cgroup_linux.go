package cgroup

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
)

// Mode reports ModeV1, ModeHybrid or ModeV2 for this host, from the cgroup
// filesystems in /proc/self/mountinfo; "" when none is mounted or the file
// cannot be read.
func Mode() string {
	l, err := readLayout()
	if err != nil {
		return ""
	}
	return l.mode()
}

// New returns the manager for cgroupsPath (config.json linux.cgroupsPath,
// never empty). An absolute path lies under each hierarchy's mountpoint; a
// relative one under the calling process's own cgroup in each hierarchy, as
// /proc/self/cgroup lists it. Paths with ".." are refused. New only reads
// /proc; Apply creates the directories.
func New(cgroupsPath string) (Manager, error) {
	p, err := checkPath(cgroupsPath)
	if err != nil {
		return nil, err
	}
	l, err := readLayout()
	if err != nil {
		return nil, err
	}
	var own map[string]string
	if !filepath.IsAbs(p) {
		if own, err = readOwnCgroups(); err != nil {
			return nil, err
		}
	}
	return l.manager(own, p)
}

// Load rebuilds a manager from the map an earlier manager's Paths returned:
// a v2 manager when "" is the only key, a v1 one otherwise.
func Load(paths map[string]string) (Manager, error) {
	if len(paths) == 0 {
		return nil, errors.New("load cgroup: no paths")
	}
	for s, d := range paths {
		if !filepath.IsAbs(d) || filepath.Clean(d) != d || d == "/" {
			return nil, fmt.Errorf("load cgroup: path %q of %q is not a clean absolute directory", d, s)
		}
	}
	if len(paths) == 1 && paths[""] != "" {
		return &v2Manager{dir: paths[""]}, nil
	}
	m := &v1Manager{unified: paths[""]}
	byDir := map[string][]string{}
	for s, d := range paths {
		if s != "" {
			byDir[d] = append(byDir[d], s)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(byDir)) {
		subs := byDir[d]
		slices.Sort(subs)
		m.hier = append(m.hier, hierarchy{subsystems: subs, dir: d})
	}
	return m, nil
}
