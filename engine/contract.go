package engine

// This file is the contract between the container core (state.go and
// friends) and the code that works on one container (exec, top, stats,
// changes, export, archive). The core owns it.

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/mount"
)

// ctrView is a consistent copy of one container's record.
type ctrView struct {
	ID         string
	Name       string // without the leading "/"
	Image      string // as the user named it
	ImageID    string
	Config     *container.Config
	HostConfig *container.HostConfig
	Status     container.ContainerState // created, running, paused, restarting, removing, exited, dead
	Pid        int                      // of the container's init, when running or paused
	// Dir is containers/<id> under the data root: config.json (the OCI
	// bundle), rootfs/ (where the container's root is mounted while it
	// runs), the json-file log.
	Dir string
}

// view finds a container by full ID, name (with or without the leading
// "/") or unique ID prefix, as docker does; else a NotFound error
// "No such container: REF".
func (e *Engine) view(ctx context.Context, ref string) (ctrView, error) {
	r, err := e.current(ref)
	if err != nil {
		return ctrView{}, err
	}
	return r.view(), nil
}

// rootfs returns the container's root filesystem as a host path, mounted
// (the running container's own mount, or a temporary one for a stopped
// container) until release is called.
func (e *Engine) rootfs(ctx context.Context, id string) (path string, release func(), err error) {
	r, err := e.current(id)
	if err != nil {
		return "", nil, err
	}
	if r.State.live() {
		return r.rootfsDir(), func() {}, nil
	}
	ms, err := e.Images.Snapshots.Mounts(ctx, r.ID)
	if err != nil {
		return "", nil, fmt.Errorf("mount the filesystem of container %s: %w", r.ID, err)
	}
	dir, err := os.MkdirTemp(r.Dir, "mnt-")
	if err != nil {
		return "", nil, fmt.Errorf("mount the filesystem of container %s: %w", r.ID, err)
	}
	if err := mount.All(ms, dir); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("mount the filesystem of container %s: %w", r.ID, err)
	}
	return dir, func() {
		if mount.Unmount(dir) == nil {
			os.Remove(dir)
		}
	}, nil
}

// execAdded and execRemoved keep the container's ExecIDs (inspect) in step
// with the exec instances (exec.go).
func (e *Engine) execAdded(id, execID string) {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	l := e.liveOf(id)
	l.execIDs = append(l.execIDs, execID)
}

func (e *Engine) execRemoved(id, execID string) {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	if l := e.core.live[id]; l != nil {
		l.execIDs = slices.DeleteFunc(l.execIDs, func(x string) bool { return x == execID })
	}
}

// emit publishes an event (events.go owns the bus): typ container/image,
// action start/die/..., id the actor, attrs its attributes (name, image,
// exitCode, signal, ...). The container's name and image are added by the
// caller.
var _ = events.ContainerEventType
