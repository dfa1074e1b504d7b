//go:build !linux

package cgroup

import "errors"

var errNotLinux = errors.New("cgroups need Linux")

// New returns the manager for cgroupsPath; cgroups need Linux.
func New(cgroupsPath string) (Manager, error) { return nil, errNotLinux }

// Load rebuilds a manager from saved Paths; cgroups need Linux.
func Load(paths map[string]string) (Manager, error) { return nil, errNotLinux }

// NewV1 returns a v1 manager over the given mounts; cgroups need Linux.
func NewV1(mounts map[string]string, path string) (Manager, error) { return nil, errNotLinux }

// NewV2 returns a v2 manager under root; cgroups need Linux.
func NewV2(root, path string) (Manager, error) { return nil, errNotLinux }

// Mode reports "" off Linux.
func Mode() string { return "" }

// Prime does nothing where there are no cgroups.
func Prime() {}

// Hierarchy is one mounted cgroup hierarchy.
type Hierarchy struct {
	Mountpoint, Options string
	V2                  bool
}

// Hierarchies lists the mounted cgroup hierarchies; there are none.
func Hierarchies() ([]Hierarchy, error) { return nil, errNotLinux }
