package monitor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// TestNextHealth plays sequences of probe results through docker's rules.
func TestNextHealth(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type probe struct {
		at   time.Duration // after the start
		code int
	}
	tests := []struct {
		name   string
		hc     HealthCheck
		probes []probe
		status container.HealthStatus
		streak int
	}{
		{"one success", HealthCheck{}, []probe{{time.Second, 0}}, container.Healthy, 0},
		{"failures below retries", HealthCheck{Retries: 3}, []probe{{1 * time.Second, 1}, {2 * time.Second, 1}}, container.Starting, 2},
		{"failures reach retries", HealthCheck{Retries: 3}, []probe{{1 * time.Second, 1}, {2 * time.Second, 1}, {3 * time.Second, 1}}, container.Unhealthy, 3},
		{"default retries are 3", HealthCheck{}, []probe{{1 * time.Second, 1}, {2 * time.Second, 2}, {3 * time.Second, -1}}, container.Unhealthy, 3},
		{"one retry", HealthCheck{Retries: 1}, []probe{{time.Second, 1}}, container.Unhealthy, 1},
		{"success ends the streak", HealthCheck{Retries: 2}, []probe{{1 * time.Second, 1}, {2 * time.Second, 1}, {3 * time.Second, 0}}, container.Healthy, 0},
		{"healthy then failing", HealthCheck{Retries: 2}, []probe{{1 * time.Second, 0}, {2 * time.Second, 1}}, container.Healthy, 1},
		{"healthy then unhealthy", HealthCheck{Retries: 2}, []probe{{1 * time.Second, 0}, {2 * time.Second, 1}, {3 * time.Second, 1}}, container.Unhealthy, 2},
		{"start period failures do not count", HealthCheck{Retries: 1, StartPeriod: 10 * time.Second},
			[]probe{{1 * time.Second, 1}, {5 * time.Second, 1}, {9 * time.Second, 1}}, container.Starting, 0},
		{"failures after the start period count", HealthCheck{Retries: 2, StartPeriod: 10 * time.Second},
			[]probe{{1 * time.Second, 1}, {11 * time.Second, 1}, {12 * time.Second, 1}}, container.Unhealthy, 2},
		{"a success ends the start period", HealthCheck{Retries: 1, StartPeriod: 10 * time.Second},
			[]probe{{1 * time.Second, 0}, {2 * time.Second, 1}}, container.Unhealthy, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := restartHealth(nil)
			for _, p := range tt.probes {
				start := t0.Add(p.at)
				h = nextHealth(h, tt.hc, t0, container.HealthcheckResult{Start: start, End: start.Add(time.Millisecond), ExitCode: p.code})
			}
			if h.Status != tt.status || h.FailingStreak != tt.streak {
				t.Errorf("status %s, streak %d; want %s, %d", h.Status, h.FailingStreak, tt.status, tt.streak)
			}
			if len(h.Log) != len(tt.probes) {
				t.Errorf("log has %d results, want %d", len(h.Log), len(tt.probes))
			}
		})
	}
}

// TestHealthLogKeepsFive: the log is the last five results, oldest first;
// a new run starts as starting with no streak but keeps the log.
func TestHealthLogKeepsFive(t *testing.T) {
	t0 := time.Now()
	h := restartHealth(nil)
	for i := range 7 {
		h = nextHealth(h, HealthCheck{Retries: 100}, t0, container.HealthcheckResult{Start: t0, ExitCode: 1, Output: string(rune('a' + i))})
	}
	var outs []string
	for _, r := range h.Log {
		outs = append(outs, r.Output)
	}
	if got := strings.Join(outs, ""); got != "cdefg" {
		t.Errorf("log outputs %q, want cdefg", got)
	}
	next := restartHealth(&h)
	if next.Status != container.Starting || next.FailingStreak != 0 || len(next.Log) != 5 {
		t.Errorf("restarted health %+v: want starting, streak 0, the 5 results kept", next)
	}
}

// TestProbeDelay is docker's schedule: the start interval while starting
// in the start period, never past its end, the interval otherwise.
func TestProbeDelay(t *testing.T) {
	s := time.Second
	tests := []struct {
		name    string
		hc      HealthCheck
		elapsed time.Duration
		status  container.HealthStatus
		want    time.Duration
	}{
		{"defaults", HealthCheck{}, 0, container.Starting, 30 * s},
		{"interval", HealthCheck{Interval: 2 * s}, 0, container.Starting, 2 * s},
		{"start interval while starting", HealthCheck{Interval: 10 * s, StartPeriod: 60 * s, StartInterval: s}, 5 * s, container.Starting, s},
		{"default start interval", HealthCheck{Interval: 10 * s, StartPeriod: 60 * s}, 5 * s, container.Starting, 5 * s},
		{"healthy in the start period", HealthCheck{Interval: 10 * s, StartPeriod: 60 * s, StartInterval: s}, 5 * s, container.Healthy, 10 * s},
		{"not past the start period", HealthCheck{Interval: 10 * s, StartPeriod: 60 * s, StartInterval: s}, 57 * s, container.Starting, 3 * s},
		{"after the start period", HealthCheck{Interval: 10 * s, StartPeriod: 60 * s, StartInterval: s}, 61 * s, container.Starting, 10 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := probeDelay(tt.hc, tt.elapsed, tt.status); got != tt.want {
				t.Errorf("delay %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLimitedBuffer(t *testing.T) {
	var b limitedBuffer
	b.Write([]byte("hello "))
	if b.String() != "hello " {
		t.Fatalf("got %q", b.String())
	}
	big := strings.Repeat("x", healthOutputMax)
	if n, err := b.Write([]byte(big)); n != len(big) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	want := "hello " + big[:healthOutputMax-6] + "..."
	if b.String() != want {
		t.Errorf("got %d bytes, want the first %d and ...", len(b.String()), healthOutputMax)
	}
}

func TestTimedOutWords(t *testing.T) {
	if got := timedOut(2*time.Second, ""); got != "Health check exceeded timeout (2s)" {
		t.Errorf("got %q", got)
	}
	if got := timedOut(500*time.Millisecond, "partial"); got != "Health check exceeded timeout (500ms): partial" {
		t.Errorf("got %q", got)
	}
}

func TestReadHealth(t *testing.T) {
	dir := t.TempDir()
	if h, err := ReadHealth(dir); h != nil || err != nil {
		t.Fatalf("no file: %v, %v; want nil, nil", h, err)
	}
	os.WriteFile(filepath.Join(dir, healthFile), []byte(`{"Status":"healthy","FailingStreak":0,"Log":[{"ExitCode":0,"Output":"ok"}]}`), 0o644)
	h, err := ReadHealth(dir)
	if err != nil || h.Status != container.Healthy || len(h.Log) != 1 || h.Log[0].Output != "ok" {
		t.Fatalf("got %+v, %v", h, err)
	}
	os.WriteFile(filepath.Join(dir, healthFile), []byte(`{`), 0o644)
	if _, err := ReadHealth(dir); err == nil {
		t.Error("a broken file read without error")
	}
}
