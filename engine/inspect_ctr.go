package engine

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/storage"
)

// ContainerInspect describes a container in docker's shape; with size,
// its disk use too.
func (e *Engine) ContainerInspect(ctx context.Context, ref string, size bool) (container.InspectResponse, error) {
	r, err := e.current(ref)
	if err != nil {
		return container.InspectResponse{}, err
	}
	out := inspectOf(r)
	out.State.Health = healthOf(r)
	out.ExecIDs = e.execIDs(r.ID)
	out.GraphDriver = e.graphDriver(ctx, r)
	if size {
		rw, rootfs := e.sizes(ctx, r)
		out.SizeRw, out.SizeRootFs = &rw, &rootfs
	}
	return out, nil
}

// inspectOf is the part of inspect the record alone gives.
func inspectOf(r *ctrRecord) container.InspectResponse {
	st := r.State
	return container.InspectResponse{
		ID:      r.ID,
		Created: r.Created.Format(time.RFC3339Nano),
		Path:    r.Path,
		Args:    nonNil(r.Args),
		State: &container.State{
			Status:     st.Status,
			Running:    st.running(),
			Paused:     st.Status == container.StatePaused,
			Restarting: st.Status == container.StateRestarting,
			OOMKilled:  st.OOMKilled,
			Dead:       st.Status == container.StateDead,
			Pid:        st.Pid,
			ExitCode:   st.ExitCode,
			Error:      st.Error,
			StartedAt:  st.StartedAt.UTC().Format(time.RFC3339Nano),
			FinishedAt: st.FinishedAt.UTC().Format(time.RFC3339Nano),
		},
		Image:        r.ImageID,
		LogPath:      r.LogPath,
		Name:         "/" + r.Name,
		RestartCount: r.RestartCount,
		Driver:       r.Driver,
		Platform:     "linux",
		HostConfig:   r.HostConfig,
		Mounts:       mountPoints(r),
		Config:       r.Config,
		NetworkSettings: &container.NetworkSettings{
			SandboxID:  sandboxID(r),
			SandboxKey: r.Net.NetNS,
			Ports:      portMap(r),
			Networks:   endpointSettings(r),
		},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// graphDriver names the snapshot of the container and, for overlay, its
// directories as docker's overlay2 shows them.
func (e *Engine) graphDriver(ctx context.Context, r *ctrRecord) *storage.DriverData {
	d := &storage.DriverData{Name: r.Driver, Data: map[string]string{"snapshot": r.ID}}
	ms, err := e.Images.Snapshots.Mounts(ctx, r.ID)
	if err != nil || len(ms) != 1 || ms[0].Type != "overlay" {
		return d
	}
	d.Data["MergedDir"] = r.rootfsDir()
	for _, o := range ms[0].Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			d.Data["LowerDir"] = v
		case "upperdir":
			d.Data["UpperDir"] = v
		case "workdir":
			d.Data["WorkDir"] = v
		}
	}
	return d
}

// execIDs lists the exec instances of id (nil when none, as docker).
func (e *Engine) execIDs(id string) []string {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	if l := e.core.live[id]; l != nil && len(l.execIDs) > 0 {
		return slices.Clone(l.execIDs)
	}
	return nil
}
