package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// TestHealthFlags: --health-* and --no-healthcheck -> Config.Healthcheck,
// as docker's CLI builds it.
func TestHealthFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want *container.HealthConfig
	}{
		{"none given", nil, nil},
		{"cmd", []string{"--health-cmd", "test -f /ok"}, &container.HealthConfig{Test: []string{"CMD-SHELL", "test -f /ok"}}},
		{"all", []string{"--health-cmd", "true", "--health-interval", "200ms", "--health-timeout", "1s", "--health-retries", "2",
			"--health-start-period", "1m", "--health-start-interval", "50ms"},
			&container.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 200 * time.Millisecond, Timeout: time.Second, Retries: 2,
				StartPeriod: time.Minute, StartInterval: 50 * time.Millisecond}},
		{"timings only: the image's test", []string{"--health-interval", "5s"}, &container.HealthConfig{Interval: 5 * time.Second}},
		{"no healthcheck", []string{"--no-healthcheck"}, &container.HealthConfig{Test: []string{"NONE"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{createID: fullID}
			r := berth(t, f, "", append(append([]string{"create"}, tt.args...), "busybox")...)
			if r.code != 0 {
				t.Fatalf("create: exit %d, stderr %q", r.code, r.stderr)
			}
			if got := f.createReqs[0].Config.Healthcheck; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("healthcheck %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHealthFlagsBad(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--no-healthcheck", "--health-cmd", "true"}, "berth: --no-healthcheck conflicts with --health-* options"},
		{[]string{"--no-healthcheck", "--health-retries", "1"}, "--no-healthcheck conflicts with --health-* options"},
		{[]string{"--health-interval", "-1s"}, "--health-interval cannot be negative"},
		{[]string{"--health-timeout", "-1s"}, "--health-timeout cannot be negative"},
		{[]string{"--health-retries", "-1"}, "--health-retries cannot be negative"},
		{[]string{"--health-start-period", "-1s"}, "--health-start-period cannot be negative"},
		{[]string{"--health-start-interval", "-1s"}, "--health-start-interval cannot be negative"},
		{[]string{"--health-interval", "often"}, `invalid argument "often" for "--health-interval" flag`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := &fakeAPI{createID: fullID}
			r := berth(t, f, "", append(append([]string{"create"}, tt.args...), "busybox")...)
			if r.code != 125 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 125 and %q", r.code, r.stderr, tt.want)
			}
			if len(f.calls) != 0 {
				t.Errorf("calls made: %v", f.calls)
			}
		})
	}
}
