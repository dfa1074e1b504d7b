package engine

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/imagetest"
)

// healthboxRef is a busybox image whose config has a HEALTHCHECK.
var healthboxRef = func() string {
	r, _ := image.ParseReference("healthbox")
	return r.String()
}()

// healthEngine is a test engine that also has healthbox: busybox with
// HEALTHCHECK CMD-SHELL "test -e /tmp/ready" every 200ms, 1 retry.
func healthEngine(t *testing.T) *Engine {
	o := testOptions(t, false)
	s, err := OpenImages(o.Root, o.Images)
	if err != nil {
		t.Fatal(err)
	}
	layout := t.TempDir()
	top := imagetest.BusyboxLayout(t, layout, imagetest.LayoutOptions{Healthcheck: &dockerspec.HealthcheckConfig{
		Test: []string{"CMD-SHELL", "test -e /tmp/ready"}, Interval: 200 * time.Millisecond, Retries: 1,
	}})
	addLayout(t, s, layout, top, healthboxRef)
	s.Close()
	return openTest(t, o, true)
}

// eventLog collects the container events of e from now on.
type eventLog struct {
	mu   sync.Mutex
	msgs []events.Message
}

func watchEvents(t *testing.T, e *Engine) *eventLog {
	c, cancel := context.WithCancel(ctx(t))
	t.Cleanup(cancel)
	msgs, _ := e.Events(c, EventsOptions{Filters: Filters{"type": {"container"}}})
	l := &eventLog{}
	go func() {
		for m := range msgs {
			l.mu.Lock()
			l.msgs = append(l.msgs, m)
			l.mu.Unlock()
		}
	}()
	return l
}

// actions lists the actions of the events about id so far.
func (l *eventLog) actions(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.msgs {
		if m.Actor.ID == id {
			out = append(out, string(m.Action))
		}
	}
	return out
}

// health is the Health inspect shows.
func health(t *testing.T, e *Engine, id string) *container.Health {
	t.Helper()
	return inspect(t, e, id).State.Health
}

func waitHealth(t *testing.T, e *Engine, id string, want container.HealthStatus) *container.Health {
	t.Helper()
	var h *container.Health
	waitFor(t, "health "+string(want), func() bool {
		h = health(t, e, id)
		return h != nil && h.Status == want
	})
	return h
}

// psLine is the ps line of id, with the filters given.
func psLine(t *testing.T, e *Engine, id string, f Filters) *container.Summary {
	t.Helper()
	list, err := e.ContainerList(ctx(t), ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list {
		if list[i].ID == id {
			return &list[i]
		}
	}
	return nil
}

func startHealth(t *testing.T, e *Engine, cfg container.Config, cmd ...string) string {
	t.Helper()
	id := create(t, e, "", cfg, container.HostConfig{NetworkMode: "none"}, cmd...)
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, e, id)
	return id
}

// removeAtEnd removes the container at the end of the (sub)test: its
// probes stop costing the machine.
func removeAtEnd(t *testing.T, e *Engine, id string) {
	t.Cleanup(func() {
		if err := e.ContainerRemove(context.Background(), id, RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove %s: %v", id, err)
		}
	})
}

func TestHealthChecks(t *testing.T) {
	e := healthEngine(t)
	evs := watchEvents(t, e)
	fast := func(test ...string) *container.HealthConfig {
		return &container.HealthConfig{Test: test, Interval: 200 * time.Millisecond, Retries: 2}
	}

	t.Run("passing", func(t *testing.T) {
		// CMD form, with the container's environment.
		id := startHealth(t, e, container.Config{Env: []string{"FOO=bar"}, Healthcheck: fast("CMD", "sh", "-c", `echo "foo is $FOO"; test "$FOO" = bar`)}, "sleep", "1000")
		h := waitHealth(t, e, id, container.Healthy)
		last := h.Log[len(h.Log)-1]
		if last.ExitCode != 0 || last.Output != "foo is bar\n" || last.End.Before(last.Start) || h.FailingStreak != 0 {
			t.Errorf("health %+v, last result %+v", h, last)
		}
		s := psLine(t, e, id, nil)
		if !strings.HasSuffix(s.Status, " (healthy)") || s.Health == nil || s.Health.Status != container.Healthy {
			t.Errorf("ps: status %q, health %+v", s.Status, s.Health)
		}
		if psLine(t, e, id, Filters{"health": {"healthy"}}) == nil || psLine(t, e, id, Filters{"health": {"none"}}) != nil {
			t.Error("ps --filter health=healthy does not list it, or health=none does")
		}
		waitFor(t, "health_status: healthy event", func() bool {
			return slices.Contains(evs.actions(id), "health_status: healthy")
		})
		for _, a := range evs.actions(id) {
			if strings.HasPrefix(a, "exec_") {
				t.Errorf("a probe made an event %q", a)
			}
		}
		// Stopped, it keeps its last health.
		if err := e.ContainerStop(ctx(t), id, StopOptions{Timeout: new(int)}); err != nil {
			t.Fatal(err)
		}
		if h := health(t, e, id); h == nil || h.Status != container.Healthy || len(h.Log) == 0 {
			t.Errorf("health after stop: %+v", h)
		}
		if s := psLine(t, e, id, nil); !strings.HasPrefix(s.Status, "Exited") || strings.Contains(s.Status, "healthy") {
			t.Errorf("ps status of the stopped container: %q", s.Status)
		}
	})

	t.Run("failing", func(t *testing.T) {
		id := startHealth(t, e, container.Config{Healthcheck: fast("CMD-SHELL", "echo not ready; exit 1")}, "sleep", "1000")
		h := waitHealth(t, e, id, container.Unhealthy)
		last := h.Log[len(h.Log)-1]
		if h.FailingStreak < 2 || last.ExitCode != 1 || last.Output != "not ready\n" {
			t.Errorf("health %+v, last result %+v", h, last)
		}
		if s := psLine(t, e, id, Filters{"health": {"unhealthy"}}); s == nil || !strings.HasSuffix(s.Status, " (unhealthy)") {
			t.Errorf("ps --filter health=unhealthy: %+v", s)
		}
		waitFor(t, "health_status: unhealthy event", func() bool {
			return slices.Contains(evs.actions(id), "health_status: unhealthy")
		})
		if slices.Contains(evs.actions(id), "health_status: healthy") {
			t.Errorf("events %v", evs.actions(id))
		}
	})

	t.Run("timeout", func(t *testing.T) {
		hc := fast("CMD-SHELL", "echo slow; sleep 100")
		hc.Timeout, hc.Retries = 300*time.Millisecond, 1
		id := startHealth(t, e, container.Config{Healthcheck: hc}, "sleep", "1000")
		h := waitHealth(t, e, id, container.Unhealthy)
		last := h.Log[len(h.Log)-1]
		if last.ExitCode != -1 || last.Output != "Health check exceeded timeout (300ms): slow\n" {
			t.Errorf("last result %+v", last)
		}
	})

	t.Run("no such command", func(t *testing.T) {
		hc := fast("CMD", "nope")
		hc.Retries = 1
		id := startHealth(t, e, container.Config{Healthcheck: hc}, "sleep", "1000")
		h := waitHealth(t, e, id, container.Unhealthy)
		last := h.Log[len(h.Log)-1]
		if last.ExitCode != -1 || !strings.HasPrefix(last.Output, "OCI runtime exec failed: ") || !strings.Contains(last.Output, "executable file not found") {
			t.Errorf("last result %+v", last)
		}
	})

	t.Run("starting", func(t *testing.T) {
		id := startHealth(t, e, container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Hour}}, "sleep", "1000")
		h := health(t, e, id)
		if h == nil || h.Status != container.Starting || len(h.Log) != 0 {
			t.Fatalf("health before the first probe: %+v", h)
		}
		if s := psLine(t, e, id, Filters{"health": {"starting"}}); s == nil || !strings.HasSuffix(s.Status, " (health: starting)") {
			t.Errorf("ps --filter health=starting: %+v", s)
		}
	})

	t.Run("image healthcheck", func(t *testing.T) {
		cfg := container.Config{Image: "healthbox", Cmd: []string{"sh", "-c", "touch /tmp/ready; exec sleep 1000"}}
		resp, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &container.HostConfig{NetworkMode: "none"}}})
		if err != nil {
			t.Fatal(err)
		}
		id := resp.ID
		removeAtEnd(t, e, id)
		if hc := inspect(t, e, id).Config.Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD-SHELL", "test -e /tmp/ready"}) {
			t.Fatalf("config's health check %+v, want the image's", hc)
		}
		if h := health(t, e, id); h != nil {
			t.Errorf("health of a created container: %+v, want none", h)
		}
		if err := e.ContainerStart(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		waitHealth(t, e, id, container.Healthy)
	})

	t.Run("user overrides the image's", func(t *testing.T) {
		cfg := container.Config{Image: "healthbox", Cmd: []string{"sleep", "1000"},
			Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "exit 3"}}}
		resp, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &container.HostConfig{NetworkMode: "none"}}})
		if err != nil {
			t.Fatal(err)
		}
		removeAtEnd(t, e, resp.ID)
		hc := inspect(t, e, resp.ID).Config.Healthcheck
		if hc.Interval != 200*time.Millisecond || hc.Retries != 1 {
			t.Fatalf("merged health check %+v: want the image's interval and retries", hc)
		}
		if err := e.ContainerStart(ctx(t), resp.ID); err != nil {
			t.Fatal(err)
		}
		h := waitHealth(t, e, resp.ID, container.Unhealthy)
		if code := h.Log[len(h.Log)-1].ExitCode; code != 3 {
			t.Errorf("exit code %d, want the user's check's 3", code)
		}
	})

	t.Run("no healthcheck", func(t *testing.T) {
		cfg := container.Config{Image: "healthbox", Cmd: []string{"sleep", "1000"}, Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}}
		resp, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &container.HostConfig{NetworkMode: "none"}}})
		if err != nil {
			t.Fatal(err)
		}
		removeAtEnd(t, e, resp.ID)
		if err := e.ContainerStart(ctx(t), resp.ID); err != nil {
			t.Fatal(err)
		}
		if h := health(t, e, resp.ID); h != nil {
			t.Errorf("health with NONE: %+v", h)
		}
		s := psLine(t, e, resp.ID, Filters{"health": {"none"}})
		if s == nil || strings.Contains(s.Status, "(") {
			t.Errorf("ps --filter health=none: %+v", s)
		}
	})

	t.Run("restart keeps the log", func(t *testing.T) {
		// Probes every 200ms while starting, then none for an hour.
		hc := &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Hour, StartPeriod: 3 * time.Hour, StartInterval: 200 * time.Millisecond}
		id := startHealth(t, e, container.Config{Healthcheck: hc}, "sleep", "1000")
		h := waitHealth(t, e, id, container.Healthy)
		if err := e.ContainerRestart(ctx(t), id, StopOptions{Timeout: new(int)}); err != nil {
			t.Fatal(err)
		}
		after := waitHealth(t, e, id, container.Healthy)
		if len(h.Log) != 1 || len(after.Log) != 2 || !after.Log[0].Start.Equal(h.Log[0].Start) {
			t.Errorf("health after restart %+v, before %+v: want the log kept", after, h)
		}
	})

	t.Run("bad config", func(t *testing.T) {
		for _, hc := range []*container.HealthConfig{
			{Test: []string{"CMD", "true"}, Interval: 5},
			{Test: []string{"CMD", "true"}, Retries: -1},
		} {
			cfg := container.Config{Image: "busybox", Healthcheck: hc}
			_, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &container.HostConfig{}}})
			if KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "in Healthcheck cannot be") {
				t.Errorf("create with %+v: %v", hc, err)
			}
		}
	})
}

// TestHealthAcrossDaemonRestart: the monitor goes on probing while no
// daemon runs, and the next daemon hears of the changes.
func TestHealthAcrossDaemonRestart(t *testing.T) {
	o := testOptions(t, true)
	e1, err := Open(ctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	hc := &container.HealthConfig{Test: []string{"CMD-SHELL", "test -e /tmp/ready"}, Interval: 200 * time.Millisecond, Retries: 1}
	id := create(t, e1, "", container.Config{Healthcheck: hc}, container.HostConfig{NetworkMode: "none"}, "sleep", "1000")
	if err := e1.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, e1, id, container.Unhealthy)
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := openTest(t, o, true)
	evs := watchEvents(t, e2)
	x, err := e2.ExecCreate(ctx(t), id, container.ExecCreateRequest{Cmd: []string{"touch", "/tmp/ready"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e2.ExecStart(ctx(t), x.ID, container.ExecStartRequest{Detach: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "health_status: healthy from the new daemon", func() bool {
		return slices.Contains(evs.actions(id), "health_status: healthy")
	})
	if h := health(t, e2, id); h.Status != container.Healthy || h.FailingStreak != 0 {
		t.Errorf("health %+v", h)
	}
}
