package engine

import (
	"reflect"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine/monitor"
)

func TestCheckHealthConfig(t *testing.T) {
	tests := []struct {
		h    *container.HealthConfig
		want string
	}{
		{nil, ""},
		{&container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Millisecond, Timeout: time.Second, Retries: 0}, ""},
		{&container.HealthConfig{Interval: time.Microsecond}, "Interval in Healthcheck cannot be less than 1ms"},
		{&container.HealthConfig{Timeout: 3}, "Timeout in Healthcheck cannot be less than 1ms"},
		{&container.HealthConfig{StartPeriod: 999 * time.Microsecond}, "StartPeriod in Healthcheck cannot be less than 1ms"},
		{&container.HealthConfig{StartInterval: -time.Second}, "StartInterval in Healthcheck cannot be less than 1ms"},
		{&container.HealthConfig{Retries: -1}, "Retries in Healthcheck cannot be negative"},
	}
	for _, tt := range tests {
		err := checkHealthConfig(tt.h)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.h, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || KindOf(err) != KindInvalid):
			t.Errorf("%+v: error %v, want invalid %q", tt.h, err, tt.want)
		}
	}
}

// TestMergeHealthcheck: docker's merge of the image's HEALTHCHECK into
// the user's, field by field.
func TestMergeHealthcheck(t *testing.T) {
	img := &dockerspec.HealthcheckConfig{Test: []string{"CMD-SHELL", "check"}, Interval: 5 * time.Second, Timeout: 2 * time.Second,
		StartPeriod: time.Second, StartInterval: 100 * time.Millisecond, Retries: 4}
	tests := []struct {
		name string
		user *container.HealthConfig
		img  *dockerspec.HealthcheckConfig
		want *container.HealthConfig
	}{
		{"neither", nil, nil, nil},
		{"user only", &container.HealthConfig{Test: []string{"CMD", "true"}}, nil, &container.HealthConfig{Test: []string{"CMD", "true"}}},
		{"image only", nil, img, img},
		{"user's fields win", &container.HealthConfig{Test: []string{"CMD", "mine"}, Interval: time.Second, Retries: 1}, img,
			&container.HealthConfig{Test: []string{"CMD", "mine"}, Interval: time.Second, Timeout: 2 * time.Second,
				StartPeriod: time.Second, StartInterval: 100 * time.Millisecond, Retries: 1}},
		{"user's timings, image's test", &container.HealthConfig{Timeout: 7 * time.Second}, img,
			&container.HealthConfig{Test: []string{"CMD-SHELL", "check"}, Interval: 5 * time.Second, Timeout: 7 * time.Second,
				StartPeriod: time.Second, StartInterval: 100 * time.Millisecond, Retries: 4}},
		{"NONE disables", &container.HealthConfig{Test: []string{"NONE"}}, img,
			&container.HealthConfig{Test: []string{"NONE"}, Interval: 5 * time.Second, Timeout: 2 * time.Second,
				StartPeriod: time.Second, StartInterval: 100 * time.Millisecond, Retries: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &container.Config{Healthcheck: tt.user}
			mergeHealthcheck(c, tt.img)
			if !reflect.DeepEqual(c.Healthcheck, tt.want) {
				t.Errorf("got %+v, want %+v", c.Healthcheck, tt.want)
			}
		})
	}
	// The image's is copied, not shared.
	c := &container.Config{}
	mergeHealthcheck(c, img)
	c.Healthcheck.Test[1] = "changed"
	if img.Test[1] != "check" {
		t.Error("the merged health check shares the image's Test")
	}
}

func TestHealthCheckOf(t *testing.T) {
	tests := []struct {
		name string
		cfg  *container.Config
		want *monitor.HealthCheck
	}{
		{"none", &container.Config{}, nil},
		{"NONE", &container.Config{Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}}, nil},
		{"inherit only", &container.Config{Healthcheck: &container.HealthConfig{Interval: time.Second}}, nil},
		{"unknown type", &container.Config{Healthcheck: &container.HealthConfig{Test: []string{"HTTP", "/"}}}, nil},
		{"empty CMD", &container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD"}}}, nil},
		{"CMD", &container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD", "test", "-f", "/ok"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, StartInterval: 4 * time.Second, Retries: 5}},
			&monitor.HealthCheck{Cmd: []string{"test", "-f", "/ok"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, StartInterval: 4 * time.Second, Retries: 5}},
		{"CMD-SHELL", &container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "test -f /ok || exit 1"}}},
			&monitor.HealthCheck{Cmd: []string{"/bin/sh", "-c", "test -f /ok || exit 1"}}},
		{"CMD-SHELL in the container's shell", &container.Config{Shell: []string{"/bin/ash", "-ec"}, Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "true"}}},
			&monitor.HealthCheck{Cmd: []string{"/bin/ash", "-ec", "true"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := healthCheckOf(tt.cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestWithHealth: docker's status column and health summary of ps.
func TestWithHealth(t *testing.T) {
	tests := []struct {
		state  container.ContainerState
		h      *container.Health
		status string
		sum    container.HealthSummary
	}{
		{container.StateRunning, nil, "Up 5 seconds", container.HealthSummary{Status: container.NoHealthcheck}},
		{container.StateRunning, &container.Health{Status: container.Starting}, "Up 5 seconds (health: starting)", container.HealthSummary{Status: container.Starting}},
		{container.StateRunning, &container.Health{Status: container.Healthy}, "Up 5 seconds (healthy)", container.HealthSummary{Status: container.Healthy}},
		{container.StateRunning, &container.Health{Status: container.Unhealthy, FailingStreak: 3}, "Up 5 seconds (unhealthy)", container.HealthSummary{Status: container.Unhealthy, FailingStreak: 3}},
		{container.StatePaused, &container.Health{Status: container.Healthy}, "Up 5 seconds (Paused)", container.HealthSummary{Status: container.Healthy}},
		{container.StateExited, &container.Health{Status: container.Unhealthy, FailingStreak: 1}, "Exited (0) 5 seconds ago", container.HealthSummary{Status: container.Unhealthy, FailingStreak: 1}},
	}
	for _, tt := range tests {
		s := container.Summary{State: tt.state}
		switch tt.state {
		case container.StateRunning:
			s.Status = "Up 5 seconds"
		case container.StatePaused:
			s.Status = "Up 5 seconds (Paused)"
		default:
			s.Status = "Exited (0) 5 seconds ago"
		}
		withHealth(&s, tt.h)
		if s.Status != tt.status || s.Health == nil || *s.Health != tt.sum {
			t.Errorf("%s %+v: status %q, summary %+v; want %q, %+v", tt.state, tt.h, s.Status, s.Health, tt.status, tt.sum)
		}
	}
}
