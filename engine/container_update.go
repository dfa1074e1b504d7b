package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/runtime"
)

// ContainerRename gives the container a new name.
func (e *Engine) ContainerRename(ctx context.Context, ref, newName string) error {
	if newName == "" {
		return Invalid("Neither old nor new names may be empty")
	}
	name, err := checkName(newName)
	if err != nil {
		return err
	}
	r, err := e.load(ref)
	if err != nil {
		return err
	}
	old := r.Name
	if old == name {
		return Invalid("Renaming a container with the same name as its current name")
	}
	err = e.core.store.update(func(tx *bolt.Tx) error {
		x, err := getRecord(tx, r.ID)
		if err != nil {
			return err
		}
		if x == nil {
			return NotFound("No such container: %s", ref)
		}
		if id := nameOwner(tx, name); id != "" {
			return nameConflict(name, id)
		}
		if err := deleteRecord(tx, x); err != nil {
			return err
		}
		old, x.Name = x.Name, name
		r = x
		return putRecord(tx, x)
	})
	if err != nil {
		return err
	}
	e.emit(events.ContainerEventType, events.ActionRename, r.ID, r.attrs("oldName", "/"+old))
	if r.Net.running() {
		// Its DNS names change with it.
		e.refreshNames(ctx, r)
	}
	return nil
}

// ContainerUpdate changes the restart policy and resources: recorded,
// and applied to the cgroup of a running container at once.
func (e *Engine) ContainerUpdate(ctx context.Context, ref string, u container.UpdateConfig) (container.UpdateResponse, error) {
	r, err := e.current(ref)
	if err != nil {
		return container.UpdateResponse{}, err
	}
	if u.RestartPolicy.Name != "" {
		if err := container.ValidateRestartPolicy(u.RestartPolicy); err != nil {
			return container.UpdateResponse{}, Invalid("%v", err)
		}
		if r.HostConfig.AutoRemove && !u.RestartPolicy.IsNone() {
			return container.UpdateResponse{}, Invalid("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
	}
	if err := checkUpdate(r.HostConfig.Resources, u.Resources); err != nil {
		return container.UpdateResponse{}, err
	}
	merged := r.HostConfig.Resources
	mergeResources(&merged, u.Resources)
	if err := checkResources(merged, hostResources()); err != nil {
		return container.UpdateResponse{}, err
	}
	warnings := []string{}
	if u.MemorySwap > 0 && !hostResources().swapLimit {
		warnings = append(warnings, "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		u.MemorySwap = 0
	}
	if u.BlkioWeight > 0 && !hostResources().blkioWeight {
		warnings = append(warnings, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		u.BlkioWeight = 0
	}
	if r.State.live() {
		c, err := e.Runtime.Load(r.ID)
		if err == nil {
			lr := linuxResources(u.Resources)
			if lr.Memory != nil {
				// cgroup v2 has no EBUSY of its own: refuse a limit under
				// the usage there too, instead of OOM-killing.
				lr.Memory.CheckBeforeUpdate = ptr(true)
			}
			err = c.Update(lr)
		}
		if err != nil && !errors.Is(err, runtime.ErrNotRunning) && !errors.Is(err, runtime.ErrNotExist) {
			if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "update "+r.ID+": ") {
				err = inner // the container is named once
			}
			return container.UpdateResponse{}, fmt.Errorf("Cannot update container %s: %w", r.ID, err)
		}
	}
	r, _, err = e.mutate(r.ID, func(x *ctrRecord) error {
		mergeResources(&x.HostConfig.Resources, u.Resources)
		if u.RestartPolicy.Name != "" {
			x.HostConfig.RestartPolicy = u.RestartPolicy
		}
		return nil
	})
	if err != nil {
		return container.UpdateResponse{}, err
	}
	e.emit(events.ContainerEventType, events.ActionUpdate, r.ID, r.attrs())
	return container.UpdateResponse{Warnings: warnings}, nil
}

// ContainersPrune removes the stopped containers that match f (until,
// label, label!).
func (e *Engine) ContainersPrune(ctx context.Context, f Filters) (container.PruneReport, error) {
	for k := range f {
		if k != "until" && k != "label" && k != "label!" {
			return container.PruneReport{}, Invalid("invalid filter '%s'", k)
		}
	}
	var until time.Time
	if vs := f["until"]; len(vs) > 0 {
		if len(vs) > 1 {
			return container.PruneReport{}, Invalid("more than one until filter specified")
		}
		t, err := parseFilterTime(vs[0], time.Now())
		if err != nil {
			return container.PruneReport{}, Invalid("%v", err)
		}
		until = t
	}
	recs, err := e.freshRecords()
	if err != nil {
		return container.PruneReport{}, err
	}
	rep := container.PruneReport{ContainersDeleted: []string{}}
	for _, r := range recs {
		if r.State.running() || r.State.Status == container.StateRemoving {
			continue
		}
		if !until.IsZero() && !r.Created.Before(until) {
			continue
		}
		if !matchLabels(f["label"], r.Config.Labels) || labelsExcluded(f["label!"], r.Config.Labels) {
			continue
		}
		rw, _ := e.sizes(ctx, r)
		if err := e.remove(ctx, r, false, false); err != nil {
			if KindOf(err) == KindNotFound || KindOf(err) == KindConflict {
				continue // removed or started meanwhile
			}
			return rep, err
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, r.ID)
		rep.SpaceReclaimed += uint64(rw)
	}
	e.emit(events.ContainerEventType, events.ActionPrune, "", map[string]string{
		"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10),
	})
	return rep, nil
}

// labelsExcluded: a label! filter ("key" or "key=value") holds.
func labelsExcluded(filters []string, labels map[string]string) bool {
	for _, l := range filters {
		k, v, hasV := strings.Cut(l, "=")
		if got, ok := labels[k]; ok && (!hasV || got == v) {
			return true
		}
	}
	return false
}

// parseFilterTime reads an until/since filter value as docker does: a Go
// duration meaning that long before now, unix seconds (with an optional
// fraction), or an RFC3339 time or date (local time without a zone).
func parseFilterTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if sec, frac, ok := strings.Cut(s, "."); !ok || frac != "" {
		if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
			var ns int64
			if ok {
				f := (frac + "000000000")[:9]
				if ns, err = strconv.ParseInt(f, 10, 64); err != nil {
					return time.Time{}, fmt.Errorf("invalid timestamp %q", s)
				}
			}
			return time.Unix(n, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", s)
}
