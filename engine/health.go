package engine

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/engine/monitor"
	"github.com/berth-project/berth/image"
)

// checkHealthConfig checks the health check a create request sets, as
// dockerd does (durations are nanoseconds on the wire: a bare 3 would be
// 3ns, hence the minimum).
func checkHealthConfig(h *container.HealthConfig) error {
	if h == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Interval", h.Interval}, {"Timeout", h.Timeout}, {"StartPeriod", h.StartPeriod}, {"StartInterval", h.StartInterval},
	} {
		if d.v != 0 && d.v < container.MinimumDuration {
			return Invalid("%s in Healthcheck cannot be less than %s", d.name, container.MinimumDuration)
		}
	}
	if h.Retries < 0 {
		return Invalid("Retries in Healthcheck cannot be negative")
	}
	return nil
}

// mergeImageExtras fills the user's config with what docker's image
// config has beyond OCI's: the HEALTHCHECK, field by field where the user
// left one unset (a user's Test ["NONE"] disables the image's), and the
// SHELL. An image whose config cannot be read adds nothing.
func (e *Engine) mergeImageExtras(ctx context.Context, img *image.Image, c *container.Config) {
	b, err := content.ReadBlob(ctx, e.Images.Content, img.Record.Config)
	if err != nil {
		return
	}
	var full dockerspec.DockerOCIImage
	if json.Unmarshal(b, &full) != nil {
		return
	}
	mergeHealthcheck(c, full.Config.Healthcheck)
	if len(c.Shell) == 0 {
		c.Shell = slices.Clone(full.Config.Shell)
	}
}

// mergeHealthcheck is docker's merge of the image's health check into the
// user's: the image's whole when the user set none, else each field the
// user left zero.
func mergeHealthcheck(c *container.Config, img *dockerspec.HealthcheckConfig) {
	if img == nil {
		return
	}
	if c.Healthcheck == nil {
		h := *img
		h.Test = slices.Clone(img.Test)
		c.Healthcheck = &h
		return
	}
	h := c.Healthcheck
	if len(h.Test) == 0 {
		h.Test = slices.Clone(img.Test)
	}
	if h.Interval == 0 {
		h.Interval = img.Interval
	}
	if h.Timeout == 0 {
		h.Timeout = img.Timeout
	}
	if h.StartPeriod == 0 {
		h.StartPeriod = img.StartPeriod
	}
	if h.StartInterval == 0 {
		h.StartInterval = img.StartInterval
	}
	if h.Retries == 0 {
		h.Retries = img.Retries
	}
}

// healthCheckOf is the health check the monitor runs for a container's
// (merged) config: CMD runs its arguments, CMD-SHELL its string in the
// container's shell (/bin/sh -c by default); nil for none, NONE, or a
// type docker does not know either.
func healthCheckOf(c *container.Config) *monitor.HealthCheck {
	if c == nil || c.Healthcheck == nil || len(c.Healthcheck.Test) == 0 {
		return nil
	}
	h := c.Healthcheck
	var cmd []string
	switch h.Test[0] {
	case "CMD":
		cmd = slices.Clone(h.Test[1:])
	case "CMD-SHELL":
		shell := c.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		cmd = append(slices.Clone(shell), h.Test[1:]...)
	default:
		return nil
	}
	if len(cmd) == 0 {
		return nil
	}
	return &monitor.HealthCheck{
		Cmd: cmd, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod,
		StartInterval: h.StartInterval, Retries: h.Retries,
	}
}

// healthOf is the container's health as inspect shows it: nil without a
// health check or before its first run with one; else the state its
// monitor wrote, which stays after the container stopped.
func healthOf(r *ctrRecord) *container.Health {
	if healthCheckOf(r.Config) == nil || r.State.StartedAt.IsZero() {
		return nil
	}
	h, err := monitor.ReadHealth(r.MonitorDir)
	if err != nil {
		return nil
	}
	return h
}

// healthStatus is the status ps filters on: none without a health state.
func healthStatus(h *container.Health) container.HealthStatus {
	if h == nil {
		return container.NoHealthcheck
	}
	return h.Status
}

// withHealth adds the health to a ps line: its summary, and in the status
// column of a running container "(healthy)", "(unhealthy)" or
// "(health: starting)" as docker words it.
func withHealth(s *container.Summary, h *container.Health) {
	s.Health = &container.HealthSummary{Status: healthStatus(h)}
	if h == nil {
		return
	}
	s.Health.FailingStreak = h.FailingStreak
	if s.State == container.StateRunning {
		word := string(h.Status)
		if h.Status == container.Starting {
			word = "health: starting"
		}
		s.Status += " (" + word + ")"
	}
}

// watchHealth follows the health status of the current run of r, when it
// has a health check, and emits docker's health_status events at each
// change. Called from ensureWatch, once per run.
func (e *Engine) watchHealth(r *ctrRecord) {
	if healthCheckOf(r.Config) == nil {
		return
	}
	e.core.wg.Add(1)
	go func() {
		defer e.core.wg.Done()
		ctx := e.core.ctx
		// A run starts as starting: what differs is news.
		last := container.Starting
		for {
			monitor.WatchHealth(ctx, r.MonitorDir, func(s container.HealthStatus) {
				if s == last || s == "" {
					return
				}
				last = s
				e.emit(events.ContainerEventType, events.Action(string(events.ActionHealthStatus)+": "+string(s)), r.ID, r.attrs())
			})
			// The run ended (or the engine closes); else the monitor was
			// not ready (its container not started yet): again.
			if ctx.Err() != nil || !e.sameRun(r) || !monitor.Alive(r.MonitorDir) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

// sameRun reports whether r's run is still the one being watched.
func (e *Engine) sameRun(r *ctrRecord) bool {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	l := e.core.live[r.ID]
	return l != nil && l.watchedRun.Equal(r.State.StartedAt)
}
