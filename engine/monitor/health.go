package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
)

// HealthCheck is the container's health check as the monitor runs it: the
// probe's argv (a CMD-SHELL test already wrapped in the container's
// shell) and docker's timings; a zero field takes docker's default.
type HealthCheck struct {
	Cmd           []string      `json:"cmd"`
	Interval      time.Duration `json:"interval,omitempty"`      // between probes; 30s
	Timeout       time.Duration `json:"timeout,omitempty"`       // of one probe; 30s
	StartPeriod   time.Duration `json:"startPeriod,omitempty"`   // failures do not count; 0
	StartInterval time.Duration `json:"startInterval,omitempty"` // between probes in the start period; 5s
	Retries       int           `json:"retries,omitempty"`       // failures in a row to be unhealthy; 3
}

// Docker's defaults and limits of health checks.
const (
	DefaultHealthInterval      = 30 * time.Second
	DefaultHealthTimeout       = 30 * time.Second
	DefaultHealthStartInterval = 5 * time.Second
	DefaultHealthRetries       = 3
	// healthLogKept is how many probe results Health.Log keeps.
	healthLogKept = 5
	// healthOutputMax is how much of a probe's output a result keeps.
	healthOutputMax = 4096
)

// withDefaults is h with docker's default for every zero field.
func (h HealthCheck) withDefaults() HealthCheck {
	if h.Interval <= 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.StartInterval <= 0 {
		h.StartInterval = DefaultHealthStartInterval
	}
	if h.StartPeriod < 0 {
		h.StartPeriod = 0
	}
	if h.Retries <= 0 {
		h.Retries = DefaultHealthRetries
	}
	return h
}

// healthFile holds the container's container.Health, rewritten atomically
// after every probe.
const healthFile = "health.json"

// ReadHealth reads the health state the monitor in dir wrote for the
// container's last run; nil when there is none (no health check, or the
// container never ran with one).
func ReadHealth(dir string) (*container.Health, error) {
	data, err := os.ReadFile(filepath.Join(dir, healthFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read health of container in %s: %w", dir, err)
	}
	var h container.Health
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, healthFile), err)
	}
	if h.Log == nil {
		h.Log = []*container.HealthcheckResult{}
	}
	return &h, nil
}

// restartHealth is the health a run starts with: starting, no failures,
// the log of the previous run kept (as docker does on a restart).
func restartHealth(prev *container.Health) container.Health {
	h := container.Health{Status: container.Starting, Log: []*container.HealthcheckResult{}}
	if prev != nil && prev.Log != nil {
		h.Log = prev.Log
	}
	return h
}

// nextHealth is the health after a probe's result, by docker's rules: a
// success makes the container healthy and ends the failing streak; a
// failure (any other exit code) adds to the streak, except while the
// container is still starting within its start period, and makes it
// unhealthy once the streak reaches the retries. The log keeps the last
// healthLogKept results. startedAt is when the container started.
func nextHealth(h container.Health, hc HealthCheck, startedAt time.Time, res container.HealthcheckResult) container.Health {
	hc = hc.withDefaults()
	log := append([]*container.HealthcheckResult{}, h.Log...)
	log = append(log, &res)
	if len(log) > healthLogKept {
		log = log[len(log)-healthLogKept:]
	}
	h.Log = log
	if res.ExitCode == 0 {
		h.FailingStreak = 0
		h.Status = container.Healthy
		return h
	}
	if h.Status == container.Starting && res.Start.Sub(startedAt) < hc.StartPeriod {
		return h // a failure in the start period does not count
	}
	h.FailingStreak++
	if h.FailingStreak >= hc.Retries {
		h.Status = container.Unhealthy
	}
	return h
}

// probeDelay is how long to wait before the next probe, elapsed after
// the container started, as docker schedules them: the interval, but the
// start interval while the container is still starting in its start
// period, and never past the end of the start period.
func probeDelay(hc HealthCheck, elapsed time.Duration, status container.HealthStatus) time.Duration {
	hc = hc.withDefaults()
	if elapsed >= hc.StartPeriod {
		return hc.Interval
	}
	left := hc.StartPeriod - elapsed
	if left < hc.Interval {
		return left
	}
	if status == container.Starting {
		return hc.StartInterval
	}
	return hc.Interval
}

// timedOut is the result of a probe killed at its timeout, in docker's
// words.
func timedOut(timeout time.Duration, out string) string {
	if out != "" {
		return fmt.Sprintf("Health check exceeded timeout (%v): %s", timeout, out)
	}
	return fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
}

// limitedBuffer keeps the first healthOutputMax bytes written to it; the
// rest is dropped and String ends with "..." then.
type limitedBuffer struct {
	mu        sync.Mutex
	buf       []byte
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(healthOutputMax-len(b.buf), len(p))
	if keep > 0 {
		b.buf = append(b.buf, p[:keep]...)
	}
	if keep < len(p) {
		b.truncated = true
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return string(b.buf) + "..."
	}
	return string(b.buf)
}
