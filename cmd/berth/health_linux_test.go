package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
)

// TestHealthChecksCLI: berth's --health-* flags and the image's
// HEALTHCHECK through the daemon, seen by berth and by the docker CLI
// (ps, inspect, events).
func TestHealthChecksCLI(t *testing.T) {
	gate.Command(t, "docker")
	c := newCLI(t)
	d := startDaemon(t, c)
	reg := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{})
	img := reg.Host + "/lecture/healthbox:1"
	pushImage(t, reg, img, imagetest.LayoutOptions{Healthcheck: &dockerspec.HealthcheckConfig{
		Test: []string{"CMD-SHELL", "test -e /tmp/ready"}, Interval: 200 * time.Millisecond, Retries: 1,
	}})
	since := time.Now().Add(-time.Second).Unix()
	d.dockerOK("pull", img)

	// berth's flags: a failing check.
	c.ok("run", "-d", "--network", "none", "--name", "sick", "--health-cmd", "echo failing; exit 1",
		"--health-interval", "200ms", "--health-retries", "2", img, "sleep", "1000")
	eventually(t, "sick unhealthy in berth ps", func() (bool, string) {
		out := c.ok("ps", "--filter", "health=unhealthy", "--format", "{{.Names}} {{.Status}}")
		return strings.HasPrefix(out, "sick Up ") && strings.HasSuffix(out, " (unhealthy)\n"), out
	})
	if got := c.ok("inspect", "--format", "{{.State.Health.Status}} {{.State.Health.FailingStreak}} {{(index .State.Health.Log 0).Output}}", "sick"); !strings.HasPrefix(got, "unhealthy ") || !strings.HasSuffix(got, " failing\n\n") {
		t.Errorf("inspect health: %q", got)
	}

	// The image's HEALTHCHECK, through the docker CLI.
	d.dockerOK("run", "-d", "--network", "none", "--name", "fine", img, "sh", "-c", "touch /tmp/ready; exec sleep 1000")
	eventually(t, "fine healthy in docker ps", func() (bool, string) {
		out := d.dockerOK("ps", "--filter", "name=fine", "--format", "{{.Names}} {{.Status}}")
		return strings.HasPrefix(out, "fine Up ") && strings.HasSuffix(out, " (healthy)\n"), out
	})
	if out := d.dockerOK("ps"); !strings.Contains(out, "(healthy)") || !strings.Contains(out, "(unhealthy)") {
		t.Errorf("docker ps:\n%s", out)
	}
	if got := d.dockerOK("ps", "--filter", "health=healthy", "--format", "{{.Names}}"); got != "fine\n" {
		t.Errorf("docker ps --filter health=healthy: %q", got)
	}
	if got := d.dockerOK("inspect", "--format", "{{.State.Health.Status}} {{json .Config.Healthcheck.Test}}", "fine"); got != `healthy ["CMD-SHELL","test -e /tmp/ready"]`+"\n" {
		t.Errorf("docker inspect: %q", got)
	}

	// --no-healthcheck: none at all.
	d.dockerOK("run", "-d", "--network", "none", "--name", "unchecked", "--no-healthcheck", img, "sleep", "1000")
	if got := d.dockerOK("inspect", "--format", "{{json .State.Health}} {{json .Config.Healthcheck.Test}}", "unchecked"); got != `null ["NONE"]`+"\n" {
		t.Errorf("docker inspect of --no-healthcheck: %q", got)
	}
	if got := d.dockerOK("ps", "--filter", "health=none", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(got, "unchecked Up ") || strings.Contains(got, "(") {
		t.Errorf("docker ps --filter health=none: %q", got)
	}
	r := d.docker(nil, "run", "-d", "--no-healthcheck", "--health-cmd", "true", img)
	if r.code != 125 || !strings.Contains(r.stderr, "--no-healthcheck conflicts with --health-* options") {
		t.Errorf("docker run --no-healthcheck --health-cmd: exit %d, %q", r.code, r.stderr)
	}
	c.fails("--no-healthcheck conflicts with --health-* options", "run", "-d", "--no-healthcheck", "--health-interval", "1s", img)
	c.fails("Interval in Healthcheck cannot be less than 1ms", "create", "--health-cmd", "true", "--health-interval", "1us", img)

	// The health events, as docker words them.
	until := time.Now().Unix() + 1
	out := d.dockerOK("events", "--since", strconv.FormatInt(since, 10), "--until", strconv.FormatInt(until, 10), "--filter", "event=health_status", "--format", "{{.Actor.Attributes.name}} {{.Action}}")
	if !strings.Contains(out, "sick health_status: unhealthy\n") || !strings.Contains(out, "fine health_status: healthy\n") {
		t.Errorf("docker events:\n%s", out)
	}
	if strings.Contains(out, "unchecked") {
		t.Errorf("events of the unchecked container:\n%s", out)
	}
}
