package cgroup

import (
	"context"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager manages one container's cgroup.
type Manager interface {
	// Apply creates the cgroup directories that are missing and moves pid
	// into them. On error the caller should Destroy.
	Apply(pid int) error
	// Set writes the resource limits into the directories Apply created.
	// A nil r is a no-op; unset (nil or zero) fields are left alone.
	Set(r *specs.LinuxResources) error
	// Stats reads the cgroup's counters. Counters of absent controllers
	// are zero; a cgroup that is gone is an error wrapping fs.ErrNotExist.
	Stats() (*Stats, error)
	// Pids lists every process in the cgroup and its child cgroups.
	Pids() ([]int, error)
	// Freeze freezes (true) or thaws (false) the processes and waits until
	// the kernel reports the new state.
	Freeze(frozen bool) error
	// Destroy removes the container's directories and their child cgroups.
	// Directories already gone are not an error.
	Destroy() error
	// Paths maps each subsystem ("" for the unified hierarchy) to the
	// container's absolute directory, for saving in the container state and
	// handing to Load later.
	Paths() map[string]string
}

// OOMNotifier is implemented by managers that can report the OOM killer's
// work in their cgroup; both the v1 and the v2 manager do (v1 needs the
// memory hierarchy).
type OOMNotifier interface {
	// OOMKillCount returns how many processes of the cgroup the OOM killer
	// has killed so far.
	OOMKillCount() (uint64, error)
	// OOMEvents returns a channel that receives a value each time the cgroup
	// runs out of memory (v1: the OOM killer is invoked; v2: memory.events
	// counts a new oom or oom_kill). Events that come faster than they are
	// received are merged into one. The channel is closed when ctx ends or
	// the cgroup is removed.
	OOMEvents(ctx context.Context) (<-chan struct{}, error)
}

// Host cgroup modes reported by Mode.
const (
	ModeV1     = "v1"     // only cgroup v1 hierarchies
	ModeHybrid = "hybrid" // v1 hierarchies plus a cgroup2 mount without the controllers
	ModeV2     = "v2"     // the unified cgroup2 hierarchy only
)
