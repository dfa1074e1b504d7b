// Package cgtree lists the cgroup directories a test or benchmark made,
// for its cleanup and its leak checks.
package cgtree

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Dirs lists the cgroup directories named name at the top of each
// hierarchy under /sys/fs/cgroup (v1 controllers, and the v2 root) and
// everything under them, deepest first, so they can be removed in order.
func Dirs(name string) []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if fi, err := os.Stat("/sys/fs/cgroup/" + name); err == nil && fi.IsDir() {
		roots = append(roots, "/sys/fs/cgroup/"+name)
	}
	var dirs []string
	for _, r := range roots {
		filepath.WalkDir(r, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	for i, j := 0, len(dirs)-1; i < j; i, j = i+1, j-1 {
		dirs[i], dirs[j] = dirs[j], dirs[i]
	}
	return dirs
}
