package engine

import (
	"context"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine/monitor"
	"github.com/berth-project/berth/runtime"
)

// restore squares the records with what runs, at Open: a container whose
// monitor answers is adopted (a daemon watches it from now on); one whose
// monitor is gone gets the exit its monitor left (or 255, "monitor
// lost"). A daemon then applies the restart policies as docker's does at
// its start: always brings back every container that ran, unless-stopped
// and on-failure the ones the user did not stop; it also finishes the
// removals a crash cut short.
func (e *Engine) restore(ctx context.Context) error {
	recs, err := e.records()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if e.opts.Daemon && !r.State.live() {
			// A start cut short may have left its secrets mounted, its
			// volumes referenced and its subpaths bound.
			e.secretsDown(r)
			e.mountsDown(r)
		}
		switch r.State.Status {
		case container.StateRunning, container.StatePaused:
			if !monitor.Alive(r.MonitorDir) {
				e.reapGone(r, true)
				continue
			}
			e.syncPaused(r)
			if e.opts.Daemon {
				e.ensureWatch(r)
			}
		case container.StateRestarting:
			if e.opts.Daemon {
				e.scheduleRestart(r, 0)
			}
		case container.StateExited:
			if e.opts.Daemon && !r.State.StartedAt.IsZero() && shouldRestart(exitFacts{
				Policy: r.HostConfig.RestartPolicy, ExitCode: r.State.ExitCode, ManuallyStopped: r.ManuallyStopped,
				RestartCount: r.RestartCount, AtEngineStart: true,
			}) {
				r, changed, err := e.mutate(r.ID, func(x *ctrRecord) error {
					if x.State.Status != container.StateExited {
						return errUnchanged
					}
					x.State.Status = container.StateRestarting
					x.RestartCount++
					return nil
				})
				if err == nil && changed {
					e.scheduleRestart(r, 0)
				}
			}
		case container.StateRemoving:
			if e.opts.Daemon {
				e.core.wg.Add(1)
				go func() {
					defer e.core.wg.Done()
					e.remove(e.core.ctx, r, true, r.HostConfig != nil && r.HostConfig.AutoRemove)
				}()
			}
		}
	}
	return nil
}

// syncPaused records whether an adopted container is paused, as the
// runtime sees it (a pause or unpause may have been cut short).
func (e *Engine) syncPaused(r *ctrRecord) {
	c, err := e.Runtime.Load(r.ID)
	if err != nil {
		return
	}
	want := container.StateRunning
	if c.Status() == runtime.Paused {
		want = container.StatePaused
	}
	if want == r.State.Status {
		return
	}
	e.mutate(r.ID, func(x *ctrRecord) error {
		if !x.State.live() || !x.State.StartedAt.Equal(r.State.StartedAt) {
			return errUnchanged
		}
		x.State.Status = want
		return nil
	})
}
