package compose

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/berth-project/berth/engine"
)

// loadYAML loads yaml as project, with an empty environment.
func loadYAML(t *testing.T, project, yaml string) *types.Project {
	return loadYAMLEnv(t, project, []string{}, yaml)
}

// loadYAMLEnv loads yaml as project with env as the environment.
func loadYAMLEnv(t *testing.T, project string, env []string, yaml string) *types.Project {
	t.Helper()
	return loadFiles(t, project, env, map[string]string{"compose.yaml": yaml})
}

// loadFiles writes files (path -> content) under a new folder and loads
// its compose.yaml as project (the file's name when ""), with env as the
// environment.
func loadFiles(t *testing.T, project string, env []string, files map[string]string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(content), 0o644))
	}
	p, err := Load(context.Background(), LoadOptions{WorkingDir: dir, ConfigFiles: []string{filepath.Join(dir, "compose.yaml")}, ProjectName: project, Environ: env})
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
    depends_on:
      once:
        condition: service_completed_successfully
  once:
    image: busybox:latest
    command: ["true"]
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
	for _, want := range []string{"Attaching to counter-1, counter-2, hello-1\n", "hello-1    | hello from one\n", "hello-1    | to stderr\n", "counter-1  | n=3\n", "counter-2  | n=1\n", "hello-1 exited with code 0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("attached output lacks %q:\n%s", want, out)
		}
	}

	// A restart policy brings a container back: its new runs are followed.
	p = loadYAML(t, "att", `services:
  flaky:
    image: busybox:latest
    command: ["sh", "-c", "echo run; exit 3"]
    restart: on-failure:2
`)
	logs = syncBuffer{}
	go func() { done <- c.Up(ctx, p, UpOptions{Logs: &logs, RemoveOrphans: true}) }()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("attached up of a restarting service did not return:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "flaky-1  | run\n"); n != 3 {
		t.Errorf("%d runs followed, want 3 (one and two restarts):\n%s", n, logs.String())
	}
	if !strings.HasSuffix(logs.String(), "flaky-1 exited with code 3\n") {
		t.Errorf("the last exit is not reported last:\n%s", logs.String())
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

	// Attaching to a container that ran already shows its new output
	// only, as compose does.
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	time.Sleep(300 * time.Millisecond)
	cctx, cancel = context.WithCancel(ctx)
	logs = syncBuffer{}
	go func() { done <- c.Up(cctx, p, UpOptions{Logs: &logs}) }()
	time.Sleep(time.Second)
	cancel()
	must(t, <-done)
	if out := logs.String(); !strings.Contains(out, "Attaching to forever-1") || strings.Contains(out, "forever-1  | up") {
		t.Errorf("attaching to a running container:\n%s", out)
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
	p := loadYAMLEnv(t, "inj", []string{"TOKEN=s3cret"}, `services:
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
`)
	if out := runOnce(t, c, p, "show"); out != "s3cretanswer=42\n400 1000\n" {
		t.Errorf("injected files: %q", out)
	}
	must(t, c.Down(ctx, "inj", p, DownOptions{}))
}

// TestDependsOnRestart: depends_on restart: true restarts a dependent
// (same container, new start) when its dependency is recreated; without
// it the dependent is left alone.
func TestDependsOnRestart(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	var progress syncBuffer
	c := New(e, &progress)
	yaml := `services:
  base:
    image: busybox:latest
    init: true
    command: ["sleep", "60"]
    environment:
      V: "%s"
  follows:
    image: busybox:latest
    init: true
    command: ["sleep", "60"]
    depends_on:
      base:
        condition: service_started
        restart: true
  ignores:
    image: busybox:latest
    init: true
    command: ["sleep", "60"]
    depends_on: [base]
`
	must(t, c.Up(ctx, loadYAML(t, "rs", strings.Replace(yaml, "%s", "1", 1)), UpOptions{Detach: true}))
	before := state(t, c, "rs")
	time.Sleep(1100 * time.Millisecond) // StartedAt has a clock's resolution
	progress = syncBuffer{}
	p := loadYAML(t, "rs", strings.Replace(yaml, "%s", "2", 1))
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	after := state(t, c, "rs")
	id := func(s string) string { return s[:strings.Index(s, "@")] }
	if id(before["rs-base-1"]) == id(after["rs-base-1"]) {
		t.Errorf("base was not recreated")
	}
	if b, a := before["rs-follows-1"], after["rs-follows-1"]; id(b) != id(a) || b == a {
		t.Errorf("follows: %s -> %s, want the same container restarted\n%s", b, a, progress.String())
	}
	if before["rs-ignores-1"] != after["rs-ignores-1"] {
		t.Errorf("ignores was touched: %s -> %s", before["rs-ignores-1"], after["rs-ignores-1"])
	}
	must(t, c.Down(ctx, "rs", p, DownOptions{}))
}

// TestDownOneoffAndOrphans: down removes the services' one-off (run)
// containers too, warns about orphans and removes them with
// --remove-orphans; a second down has nothing left and says so.
func TestDownOneoffAndOrphans(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	var progress syncBuffer
	c := New(e, &progress)
	yaml := `services:
  one:
    image: busybox:latest
    init: true
    command: ["sleep", "60"]
  two:
    image: busybox:latest
    init: true
    command: ["sleep", "60"]
`
	p := loadYAML(t, "dn", yaml)
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	// A one-off container of service one, as compose run makes it.
	name, req, err := c.createSpec(ctx, p, p.Services["one"], CreateOptions{Oneoff: true})
	must(t, err)
	if !strings.HasPrefix(name, "dn-one-run-") {
		t.Errorf("one-off name %q", name)
	}
	r, err := e.ContainerCreate(ctx, name, req)
	must(t, err)
	must(t, e.ContainerStart(ctx, r.ID))

	// two is gone from the model: an orphan.
	p2 := loadYAML(t, "dn", yaml)
	delete(p2.Services, "two")
	progress = syncBuffer{}
	must(t, c.Down(ctx, "dn", p2, DownOptions{}))
	if !strings.Contains(progress.String(), "Found orphan containers ([dn-two-1])") {
		t.Errorf("no orphan warning:\n%s", progress.String())
	}
	if l := leftovers(t, e, "dn"); len(l) != 2 || l[0] != "container dn-two-1" {
		t.Errorf("after down without --remove-orphans: %v, want dn-two-1 and its network", l)
	}
	must(t, c.Down(ctx, "dn", p2, DownOptions{RemoveOrphans: true}))
	if l := leftovers(t, e, "dn"); len(l) != 0 {
		t.Errorf("after down --remove-orphans: %v", l)
	}
	progress = syncBuffer{}
	must(t, c.Down(ctx, "dn", p2, DownOptions{}))
	if !strings.Contains(progress.String(), `No resource found to remove for project "dn".`) {
		t.Errorf("second down: %q", progress.String())
	}
}

// TestUpOptions: --force-recreate, --no-recreate, --no-deps with a
// service named, --build over an existing image, and
// --abort-on-container-exit.
func TestUpOptions(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "img"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "img", "Dockerfile"), []byte("FROM busybox:latest\nRUN echo 1 > /version\n"), 0o644))
	yaml := `services:
  base:
    image: busybox:latest
    init: true
    command: ["sleep", "60"]
    environment: {V: "%s"}
  top:
    build: ./img
    init: true
    command: ["sleep", "60"]
    depends_on: [base]
`
	load := func(v string) *types.Project {
		f := filepath.Join(dir, "compose.yaml")
		must(t, os.WriteFile(f, []byte(strings.Replace(yaml, "%s", v, 1)), 0o644))
		p, err := Load(ctx, LoadOptions{ConfigFiles: []string{f}, ProjectName: "opts", Environ: []string{}})
		must(t, err)
		return p
	}
	id := func(s string) string { return s[:strings.Index(s, "@")] }
	p := load("1")
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	s1 := state(t, c, "opts")

	// --force-recreate: new containers although nothing changed.
	must(t, c.Up(ctx, p, UpOptions{Detach: true, ForceRecreate: true}))
	s2 := state(t, c, "opts")
	for name := range s1 {
		if id(s1[name]) == id(s2[name]) {
			t.Errorf("--force-recreate kept %s", name)
		}
	}
	// --no-recreate: a changed service keeps its container.
	p = load("2")
	must(t, c.Up(ctx, p, UpOptions{Detach: true, NoRecreate: true}))
	if s3 := state(t, c, "opts"); !maps.Equal(s2, s3) {
		t.Errorf("--no-recreate changed containers: %v -> %v", s2, s3)
	}
	// up --no-deps top: base (changed) is left alone, top is converged.
	must(t, c.Up(ctx, p, UpOptions{Detach: true, Services: []string{"top"}, NoDeps: true}))
	if s4 := state(t, c, "opts"); s4["opts-base-1"] != s2["opts-base-1"] || s4["opts-top-1"] != s2["opts-top-1"] {
		t.Errorf("up --no-deps top touched something: %v -> %v", s2, s4)
	}
	// --build rebuilds top's image: a new image, so top is recreated.
	must(t, os.WriteFile(filepath.Join(dir, "img", "Dockerfile"), []byte("FROM busybox:latest\nRUN echo 2 > /version\n"), 0o644))
	must(t, c.Up(ctx, p, UpOptions{Detach: true, Build: true, Services: []string{"top"}, NoDeps: true}))
	s5 := state(t, c, "opts")
	if id(s5["opts-top-1"]) == id(s2["opts-top-1"]) {
		t.Errorf("--build did not recreate top on its new image")
	}
	if s5["opts-base-1"] != s2["opts-base-1"] {
		t.Errorf("--build --no-deps top touched base")
	}
	must(t, c.Down(ctx, "opts", p, DownOptions{Images: "local"}))
	if _, err := e.ImageInspect(ctx, "opts-top"); err == nil {
		t.Errorf("--rmi local kept opts-top")
	}

	// --abort-on-container-exit: one container ending stops the others.
	p = loadYAML(t, "abort", `services:
  quick:
    image: busybox:latest
    command: ["sh", "-c", "sleep 0.5; echo bye"]
  long:
    image: busybox:latest
    init: true
    command: ["sleep", "600"]
`)
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- c.Up(ctx, p, UpOptions{Logs: &logs, AbortOnContainerExit: true}) }()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("--abort-on-container-exit did not return:\n%s", logs.String())
	}
	if l, _ := c.Containers(ctx, "abort", OneoffExclude, false); len(l) != 0 {
		t.Errorf("%d containers still running after the abort", len(l))
	}
	if !strings.Contains(logs.String(), "Aborting on container exit...") {
		t.Errorf("output:\n%s", logs.String())
	}
	must(t, c.Down(ctx, "abort", p, DownOptions{}))
}

// TestRecreate: a recreated container keeps its name and number, takes
// over the old one's anonymous volume (its data survives), and a
// replacement the engine refuses leaves the old container running.
func TestRecreate(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	var progress syncBuffer
	c := New(e, &progress)
	yaml := `services:
  keep:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "[ -f /cache/first ] || head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /cache/first; cat /cache/first; echo; sleep 600"]
    volumes: [/cache]
    environment: {V: "%s"}
`
	p := loadYAML(t, "rc", strings.Replace(yaml, "%s", "1", 1))
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	read := func() string {
		t.Helper()
		ct, err := c.ServiceContainer(ctx, "rc", "keep", 1)
		must(t, err)
		deadline := time.Now().Add(10 * time.Second)
		for {
			rc, err := e.ContainerLogs(ctx, ct.ID, engine.LogsOptions{ShowStdout: true})
			must(t, err)
			var out strings.Builder
			stdcopy.StdCopy(&out, &out, rc)
			rc.Close()
			if v := strings.TrimSpace(out.String()); v != "" {
				return ct.ID + " " + v
			}
			if time.Now().After(deadline) {
				t.Fatal("no /cache/first")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	before := read()
	p = loadYAML(t, "rc", strings.Replace(yaml, "%s", "2", 1))
	start := time.Now()
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	t.Logf("recreate: %v", time.Since(start))
	after := read()
	if strings.Fields(before)[0] == strings.Fields(after)[0] {
		t.Fatalf("not recreated:\n%s", progress.String())
	}
	if strings.Fields(before)[1] != strings.Fields(after)[1] {
		t.Errorf("the anonymous volume's data did not survive the recreate: %q -> %q", before, after)
	}
	if l := leftovers(t, e, "rc"); len(l) != 2 || l[0] != "container rc-keep-1" {
		t.Errorf("after the recreate: %v", l)
	}
	vols, err := e.VolumeList(ctx, nil)
	must(t, err)
	if len(vols.Volumes) != 1 {
		t.Errorf("%d volumes after the recreate, want the one inherited", len(vols.Volumes))
	}

	// A replacement the engine refuses: the old container stays, running.
	bad := strings.Replace(yaml, "%s", "3", 1) + "    cap_add: [NOT_A_CAP]\n"
	err = c.Up(ctx, loadYAML(t, "rc", bad), UpOptions{Detach: true})
	if err == nil || !strings.Contains(err.Error(), "NOT_A_CAP") {
		t.Errorf("bad replacement: %v", err)
	}
	ct, err := c.ServiceContainer(ctx, "rc", "keep", 1)
	if err != nil || ct.ID != strings.Fields(after)[0] {
		t.Errorf("the old container did not survive a refused replacement: %v %s", err, ct.ID)
	}
	start = time.Now()
	must(t, c.Down(ctx, "rc", p, DownOptions{Volumes: true}))
	t.Logf("down: %v", time.Since(start))
	if vols, _ := e.VolumeList(ctx, nil); len(vols.Volumes) != 0 {
		t.Errorf("down -v left %d volumes", len(vols.Volumes))
	}
}

// TestNetworkModeService: network_mode: service:X joins X's container;
// when X is recreated the joiner is recreated too (its namespace is
// gone), and it reaches what X serves on localhost.
func TestNetworkModeService(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	yaml := `services:
  main:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "mkdir -p /www && echo main-%s > /www/index.html && httpd -f -p 7000 -h /www"]
  side:
    image: busybox:latest
    init: true
    network_mode: service:main
    command: ["sleep", "600"]
`
	p := loadYAML(t, "nm", strings.Replace(yaml, "%s", "1", 1))
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	main1, err := c.ServiceContainer(ctx, "nm", "main", 1)
	must(t, err)
	side1, err := c.ServiceContainer(ctx, "nm", "side", 1)
	must(t, err)
	if side1.HostConfig.NetworkMode != "container:"+main1.ID {
		t.Errorf("side's network mode %q, want container:%s", side1.HostConfig.NetworkMode, main1.ID)
	}
	p = loadYAML(t, "nm", strings.Replace(yaml, "%s", "2", 1))
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	main2, err := c.ServiceContainer(ctx, "nm", "main", 1)
	must(t, err)
	side2, err := c.ServiceContainer(ctx, "nm", "side", 1)
	must(t, err)
	if main2.ID == main1.ID || side2.ID == side1.ID || side2.HostConfig.NetworkMode != "container:"+main2.ID {
		t.Errorf("after recreating main: main %s -> %s, side %s -> %s (%s)", main1.ID[:12], main2.ID[:12], side1.ID[:12], side2.ID[:12], side2.HostConfig.NetworkMode)
	}
	// side shares main's network namespace: main's httpd is on its localhost.
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out = execOutput(t, e, side2.ID, "wget", "-q", "-O", "-", "http://127.0.0.1:7000/")
		if strings.TrimSpace(out) == "main-2" {
			break
		}
	}
	if strings.TrimSpace(out) != "main-2" {
		t.Errorf("side reaching main on localhost: %q", out)
	}
	must(t, c.Down(ctx, "nm", p, DownOptions{}))
}

// TestNetworksAndAliases: a service on two project networks reaches a
// service of each by name and alias; a service on one network does not
// see the other's.
func TestNetworksAndAliases(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	p := loadYAML(t, "nets", `services:
  hub:
    image: busybox:latest
    init: true
    command: ["sleep", "600"]
    networks: [front, back]
  web:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "mkdir -p /w && echo web > /w/index.html && httpd -f -p 80 -h /w"]
    networks:
      front:
        aliases: [www]
  db:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "mkdir -p /w && echo db > /w/index.html && httpd -f -p 80 -h /w"]
    networks: [back]
networks:
  front:
  back:
    internal: true
`)
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	defer c.Down(ctx, "nets", p, DownOptions{})
	get := func(service, url string, within time.Duration) string {
		t.Helper()
		ct, err := c.ServiceContainer(ctx, "nets", service, 1)
		must(t, err)
		var out string
		for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
			out = execOutput(t, e, ct.ID, "timeout", "3", "wget", "-q", "-O", "-", url)
			if !strings.Contains(out, "bad address") && !strings.Contains(out, "refused") || time.Now().After(deadline) {
				break
			}
		}
		return strings.TrimSpace(out)
	}
	for url, want := range map[string]string{"http://web/": "web", "http://www/": "web", "http://db/": "db", "http://nets-db-1/": "db"} {
		if got := get("hub", url, 10*time.Second); got != want {
			t.Errorf("hub GET %s: %q, want %q", url, got, want)
		}
	}
	if got := get("db", "http://web/", 0); got == "web" {
		t.Errorf("db (back only) reached web (front only)")
	}
	for _, n := range []string{"nets_front", "nets_back"} {
		insp, err := e.NetworkInspect(ctx, n, engine.NetworkInspectOptions{})
		must(t, err)
		if insp.Labels[LabelProject] != "nets" || insp.Labels[LabelNetwork] != strings.TrimPrefix(n, "nets_") || insp.Internal != (n == "nets_back") {
			t.Errorf("network %s: labels %v internal %v", n, insp.Labels, insp.Internal)
		}
	}
}
