package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/berth-project/berth/engine"
)

func loadYAML(t *testing.T, project, yaml string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	must(t, os.WriteFile(f, []byte(yaml), 0o644))
	p, err := Load(context.Background(), LoadOptions{ConfigFiles: []string{f}, ProjectName: project, Environ: []string{}})
	must(t, err)
	return p
}

// TestDependsOnConditions: service_completed_successfully waits for exit
// 0 and fails on another code; an unhealthy dependency fails with docker
// compose's message and keeps its container for its logs.
func TestDependsOnConditions(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	var progress syncBuffer
	c := New(e, &progress)

	p := loadYAML(t, "deps", `services:
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "sleep 0.3; echo done > /shared/migrated"]
    volumes: [shared:/shared]
  app:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "cat /shared/migrated && sleep 60"]
    volumes: [shared:/shared]
    depends_on:
      migrate:
        condition: service_completed_successfully
volumes:
  shared:
`)
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	out := progress.String()
	if i, j := strings.Index(out, "deps-migrate-1  Exited"), strings.Index(out, "deps-app-1  Started"); i < 0 || j < i {
		t.Errorf("app started before migrate completed:\n%s", out)
	}
	app, err := c.ServiceContainer(ctx, "deps", "app", 1)
	must(t, err)
	insp, err := e.ContainerInspect(ctx, app.ID, false)
	must(t, err)
	if !insp.State.Running {
		t.Errorf("app is %s (it found no /shared/migrated)", insp.State.Status)
	}
	must(t, c.Down(ctx, "deps", p, DownOptions{Volumes: true}))

	p = loadYAML(t, "deps", `services:
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "exit 3"]
  app:
    image: busybox:latest
    command: ["sleep", "60"]
    depends_on:
      migrate:
        condition: service_completed_successfully
`)
	err = c.Up(ctx, p, UpOptions{Detach: true})
	if err == nil || err.Error() != `service "migrate" didn't complete successfully: exit 3` {
		t.Errorf("failed migration: %v", err)
	}
	must(t, c.Down(ctx, "deps", p, DownOptions{}))

	p = loadYAML(t, "deps", `services:
  db:
    image: busybox:latest
    init: true
    command: ["sleep", "60"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      retries: 2
  app:
    image: busybox:latest
    command: ["sleep", "60"]
    depends_on:
      db:
        condition: service_healthy
`)
	start := time.Now()
	err = c.Up(ctx, p, UpOptions{Detach: true})
	if err == nil || err.Error() != "dependency failed to start: container deps-db-1 is unhealthy" {
		t.Errorf("unhealthy db: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the unhealthy dependency took %v to be seen", time.Since(start))
	}
	if _, err := c.ServiceContainer(ctx, "deps", "db", 1); err != nil {
		t.Errorf("the unhealthy db was not kept for its logs: %v", err)
	}
	must(t, c.Down(ctx, "deps", nil, DownOptions{}))
	if l := leftovers(t, e, "deps"); len(l) != 0 {
		t.Errorf("down without a model left %v", l)
	}
}

// TestUpWait: --wait returns once every container runs and the ones with
// a healthcheck are healthy.
func TestUpWait(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	p := loadYAML(t, "waiting", `services:
  db:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "sleep 0.5; touch /tmp/ready; sleep 60"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
  plain:
    image: busybox:latest
    init: true
    command: ["sleep", "60"]
`)
	must(t, c.Up(ctx, p, UpOptions{Wait: true, WaitTimeout: 20}))
	db, err := c.ServiceContainer(ctx, "waiting", "db", 1)
	must(t, err)
	insp, err := e.ContainerInspect(ctx, db.ID, false)
	must(t, err)
	if insp.State.Health == nil || insp.State.Health.Status != "healthy" {
		t.Errorf("--wait returned with db %+v", insp.State.Health)
	}
	must(t, c.Down(ctx, "waiting", p, DownOptions{}))
}

// TestUpAttached: without -d, Up prints each container's output behind
// "SERVICE-N | " until they all stop; cancelling stops them.
func TestUpAttached(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	p := loadYAML(t, "att", `services:
  hello:
    image: busybox:latest
    command: ["sh", "-c", "echo hello from one; echo to stderr >&2"]
  counter:
    image: busybox:latest
    command: ["sh", "-c", "for i in 1 2 3; do echo n=$$i; done"]
    scale: 2
`)
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- c.Up(ctx, p, UpOptions{Logs: &logs}) }()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("attached up did not return after its containers exited:\n%s", logs.String())
	}
	out := logs.String()
	for _, want := range []string{"hello-1    | hello from one\n", "hello-1    | to stderr\n", "counter-1  | n=3\n", "counter-2  | n=1\n", "hello-1 exited with code 0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("attached output lacks %q:\n%s", want, out)
		}
	}

	// A long-running service: cancelling the context stops it.
	p = loadYAML(t, "att", `services:
  forever:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "echo up; sleep 600"]
`)
	cctx, cancel := context.WithCancel(ctx)
	logs = syncBuffer{}
	go func() { done <- c.Up(cctx, p, UpOptions{Logs: &logs, RemoveOrphans: true}) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "forever-1  | up") {
		if time.Now().After(deadline) {
			t.Fatalf("no output from forever:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("cancelled attached up did not return")
	}
	ct, err := c.ServiceContainer(ctx, "att", "forever", 1)
	if err == nil {
		t.Errorf("forever still running after the cancel: %s", ct.State)
	}
	must(t, c.Down(ctx, "att", p, DownOptions{RemoveOrphans: true}))
	if l := leftovers(t, e, "att"); len(l) != 0 {
		t.Errorf("down left %v", l)
	}
}

// TestInjectedSecrets: secrets from the environment and configs from
// content are copied into the container before it starts.
func TestInjectedSecrets(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	must(t, os.WriteFile(f, []byte(`services:
  show:
    image: busybox:latest
    command: ["sh", "-c", "cat /run/secrets/token /etc/app.conf; stat -c '%a %u' /run/secrets/token"]
    secrets:
      - source: token
        uid: "1000"
        mode: 0400
    configs:
      - source: conf
        target: /etc/app.conf
secrets:
  token:
    environment: TOKEN
configs:
  conf:
    content: |
      answer=42
`), 0o644))
	p, err := Load(ctx, LoadOptions{ConfigFiles: []string{f}, ProjectName: "inj", Environ: []string{"TOKEN=s3cret"}})
	must(t, err)
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	ct, err := c.Containers(ctx, "inj", OneoffExclude, true, "show")
	must(t, err)
	if len(ct) != 1 {
		t.Fatalf("%d containers", len(ct))
	}
	wait, errc := e.ContainerWait(ctx, ct[0].ID, "not-running")
	select {
	case <-wait:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("show did not exit")
	}
	rc, err := e.ContainerLogs(ctx, ct[0].ID, engine.LogsOptions{ShowStdout: true, ShowStderr: true})
	must(t, err)
	var out strings.Builder
	stdcopy.StdCopy(&out, &out, rc)
	rc.Close()
	if out.String() != "s3cretanswer=42\n400 1000\n" {
		t.Errorf("injected files: %q", out.String())
	}
	must(t, c.Down(ctx, "inj", p, DownOptions{}))
}
