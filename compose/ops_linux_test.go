package compose

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/imagetest"
)

// This file tests the commands beyond up and down (ops*.go) on a real
// in-process engine: builds through the classic builder, and containers
// that carry docker compose's labels.

// opsProject writes files (path -> content) under a new directory and
// loads its compose.yaml.
func opsProject(t *testing.T, files map[string]string) *types.Project {
	t.Helper()
	return loadFiles(t, "", []string{}, files)
}

func TestOpsBuild(t *testing.T) {
	e := openEngine(t, false)
	ctx := context.Background()
	p := opsProject(t, map[string]string{
		"compose.yaml": `
name: opsb
services:
  web:
    build:
      context: ./web
      args:
        MSG: from-the-file
      labels:
        built.by: compose
    image: opsb/web:1
  worker:
    build: ./web
    image: opsb/web:1
  staged:
    build:
      context: ./staged
      dockerfile: Other.Dockerfile
      target: first
  inline:
    build:
      context: ./web
      dockerfile_inline: |
        FROM busybox
        LABEL inline=yes
  pulled:
    image: busybox
`,
		"web/Dockerfile":             "FROM busybox\nARG MSG=none\nLABEL msg=$MSG\nRUN echo built\n",
		"web/.dockerignore":          "secret.txt\n",
		"web/secret.txt":             "no\n",
		"staged/Other.Dockerfile":    "FROM busybox AS first\nLABEL stage=first\nFROM busybox AS second\nLABEL stage=second\n",
		"staged/unused/file.txt":     "x",
		"staged/.dockerignore":       "",
		"web/sub/nothing-to-see.txt": "",
	})
	var out bytes.Buffer
	must(t, New(e, &out).Build(ctx, p, BuildOptions{Output: &out}))
	// web and worker share opsb/web:1: one build.
	if n := strings.Count(out.String(), "Successfully tagged opsb/web:1"); n != 1 {
		t.Errorf("opsb/web:1 built %d times:\n%s", n, out.String())
	}
	web, err := e.ImageInspect(ctx, "opsb/web:1")
	must(t, err)
	if web.Config.Labels["msg"] != "from-the-file" || web.Config.Labels["built.by"] != "compose" || web.Config.Labels[LabelProject] != "opsb" || web.Config.Labels[LabelService] == "" {
		t.Errorf("opsb/web:1 labels %v", web.Config.Labels)
	}
	staged, err := e.ImageInspect(ctx, "opsb-staged")
	must(t, err)
	if staged.Config.Labels["stage"] != "first" {
		t.Errorf("target first: labels %v", staged.Config.Labels)
	}
	inline, err := e.ImageInspect(ctx, "opsb-inline")
	must(t, err)
	if inline.Config.Labels["inline"] != "yes" {
		t.Errorf("dockerfile_inline: labels %v", inline.Config.Labels)
	}

	// --build-arg over the file's, for one service.
	out.Reset()
	must(t, New(e, &out).Build(ctx, p, BuildOptions{Services: []string{"web"}, Args: map[string]string{"MSG": "from-the-flag"}, Output: &out}))
	web, err = e.ImageInspect(ctx, "opsb/web:1")
	must(t, err)
	if web.Config.Labels["msg"] != "from-the-flag" {
		t.Errorf("--build-arg: labels %v", web.Config.Labels)
	}
	if err := New(e, nil).Build(ctx, p, BuildOptions{Services: []string{"nope"}}); err == nil || err.Error() != "no such service: nope" {
		t.Errorf("unknown service: %v", err)
	}
}

func TestOpsBuildMissingContext(t *testing.T) {
	e := openEngine(t, false)
	ctx := context.Background()
	p := opsProject(t, map[string]string{
		"compose.yaml": `
name: opsm
services:
  good:
    build: ./good
  bad:
    build: ./nginx
`,
		"good/Dockerfile": "FROM busybox\nLABEL good=1\n",
	})
	before, err := e.ImageList(ctx, engine.ImageListOptions{All: true})
	must(t, err)
	err = New(e, nil).Build(ctx, p, BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), `service "bad"`) || !strings.Contains(err.Error(), "nginx") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing context: %v", err)
	}
	after, err := e.ImageList(ctx, engine.ImageListOptions{All: true})
	must(t, err)
	if len(after) != len(before) {
		t.Errorf("%d images before, %d after a build that should not have started", len(before), len(after))
	}
	// A missing Dockerfile too.
	p = opsProject(t, map[string]string{
		"compose.yaml": "name: opsm\nservices:\n  x:\n    build:\n      context: .\n      dockerfile: Nope.Dockerfile\n",
	})
	if err := New(e, nil).Build(ctx, p, BuildOptions{}); err == nil || !strings.Contains(err.Error(), "Cannot locate specified Dockerfile: Nope.Dockerfile") {
		t.Errorf("missing Dockerfile: %v", err)
	}
	// A failing RUN names the service.
	p = opsProject(t, map[string]string{
		"compose.yaml": "name: opsm\nservices:\n  x:\n    build: .\n",
		"Dockerfile":   "FROM busybox\nRUN exit 3\n",
	})
	if err := New(e, nil).Build(ctx, p, BuildOptions{}); err == nil || !strings.Contains(err.Error(), `service "x" failed to build`) {
		t.Errorf("failing RUN: %v", err)
	}
	// What the builder cannot do is refused, not dropped.
	p = opsProject(t, map[string]string{
		"compose.yaml": `
name: opsm
services:
  x:
    build:
      context: .
      secrets: [s]
      ssh: [default]
      additional_contexts:
        other: ./other
      platforms: [linux/amd64, linux/arm64]
secrets:
  s:
    file: ./Dockerfile
`,
		"Dockerfile": "FROM busybox\nLABEL x=1\n",
	})
	err = New(e, nil).Build(ctx, p, BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), `service "x": build: not supported by berth's builder: secrets, ssh, additional_contexts, several platforms`) {
		t.Errorf("unsupported build keys: %v", err)
	}
	if _, err := e.ImageInspect(ctx, "opsm-x"); err == nil {
		t.Errorf("opsm-x was built")
	}
}

// opsContainer creates and starts a container of service svc, replica n,
// of project, labelled as compose labels them, running script.
func opsContainer(t *testing.T, e *engine.Engine, project, svc string, n int, script string, port int) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("%s-%s-%d", project, svc, n)
	req := engine.CreateRequest{CreateRequest: container.CreateRequest{
		Config: &container.Config{
			Image: "busybox",
			Cmd:   []string{"sh", "-c", script},
			Labels: map[string]string{
				LabelProject: project, LabelService: svc, LabelNumber: fmt.Sprint(n), LabelOneoff: "False",
				LabelConfigFiles: "/somewhere/" + project + "/compose.yaml",
			},
		},
		HostConfig: &container.HostConfig{},
	}}
	if port != 0 {
		p := network.MustParsePort("80/tcp")
		req.Config.ExposedPorts = network.PortSet{p: {}}
		req.HostConfig.PortBindings = network.PortMap{p: {{HostPort: fmt.Sprint(port)}}}
	}
	resp, err := e.ContainerCreate(ctx, name, req)
	must(t, err)
	must(t, e.ContainerStart(ctx, resp.ID))
	return resp.ID
}

func opsState(t *testing.T, e *engine.Engine, name string) container.ContainerState {
	t.Helper()
	ins, err := e.ContainerInspect(context.Background(), name, false)
	must(t, err)
	return ins.State.Status
}

func TestOpsContainers(t *testing.T) {
	e := openEngine(t, false)
	ctx := context.Background()
	port := freePort(t)
	const loop = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
	opsContainer(t, e, "opsp", "db", 1, "echo db says hi; echo db complains >&2; "+loop, 0)
	opsContainer(t, e, "opsp", "web", 1, "echo web one; "+loop, port)
	opsContainer(t, e, "opsp", "web", 2, "echo web two; "+loop, 0)
	opsContainer(t, e, "other", "x", 1, "echo other; "+loop, 0)
	p := opsProject(t, map[string]string{"compose.yaml": `
name: opsp
services:
  db:
    image: busybox
  web:
    image: busybox
    depends_on: [db]
`})
	var progress bytes.Buffer
	cc := New(e, &progress)

	// logs: every line after its container's name without the project,
	// padded to the longest plus one; stderr apart.
	var out, errOut bytes.Buffer
	deadline := time.Now().Add(10 * time.Second)
	for {
		out.Reset()
		errOut.Reset()
		must(t, cc.Logs(ctx, "opsp", LogsOptions{Stdout: &out, Stderr: &errOut}))
		if strings.Count(out.String(), "\n") >= 3 && errOut.Len() > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	sort.Strings(lines)
	want := []string{"db-1   | db says hi", "web-1  | web one", "web-2  | web two"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("logs:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
	if errOut.String() != "db-1   | db complains\n" {
		t.Errorf("stderr of logs: %q", errOut.String())
	}
	out.Reset()
	must(t, cc.Logs(ctx, "opsp", LogsOptions{Services: []string{"web"}, Index: 2, NoPrefix: true, Stdout: &out}))
	if out.String() != "web two\n" {
		t.Errorf("logs --index 2 --no-log-prefix web: %q", out.String())
	}
	out.Reset()
	must(t, cc.Logs(ctx, "opsp", LogsOptions{Services: []string{"db"}, Timestamps: true, Stdout: &out, Stderr: io.Discard}))
	if !regexp.MustCompile(`^db-1  \| \d{4}-\d\d-\d\dT\S+ db says hi\n$`).MatchString(out.String()) {
		t.Errorf("logs -t db: %q", out.String())
	}

	// port, top, images, ls.
	addr, err := cc.Port(ctx, "opsp", "web", 80, "tcp", 1)
	must(t, err)
	if addr != fmt.Sprintf("0.0.0.0:%d", port) {
		t.Errorf("port web 80: %q", addr)
	}
	if _, err := cc.Port(ctx, "opsp", "web", 80, "tcp", 2); err == nil || !strings.Contains(err.Error(), "no port 80/tcp for container opsp-web-2") {
		t.Errorf("port --index 2 web 80: %v", err)
	}
	if _, err := cc.Port(ctx, "opsp", "web", 80, "tcp", 3); err == nil || !strings.Contains(err.Error(), "not running container #3") {
		t.Errorf("port --index 3: %v", err)
	}
	tops, err := cc.Top(ctx, "opsp", nil)
	must(t, err)
	if len(tops) != 3 || tops[0].Name != "opsp-db-1" || len(tops[0].Processes) == 0 {
		t.Errorf("top: %+v", tops)
	}
	imgs, err := cc.Images(ctx, "opsp", []string{"web"})
	must(t, err)
	if len(imgs) != 2 || imgs[0].Container != "opsp-web-1" || imgs[0].Repository != "busybox" || imgs[0].Tag != "latest" || !strings.HasPrefix(imgs[0].ID, "sha256:") || imgs[0].Size == 0 {
		t.Errorf("images: %+v", imgs)
	}
	stacks, err := cc.List(ctx, false)
	must(t, err)
	if len(stacks) != 2 || stacks[0] != (Stack{Name: "opsp", Status: "running(3)", ConfigFiles: "/somewhere/opsp/compose.yaml"}) {
		t.Errorf("ls: %+v", stacks)
	}

	// stop web only, then everything: web goes before db.
	progress.Reset()
	zero := 0
	must(t, cc.Stop(ctx, "opsp", p, []string{"web"}, &zero))
	if opsState(t, e, "opsp-web-1") != container.StateExited || opsState(t, e, "opsp-db-1") != container.StateRunning {
		t.Errorf("stop web: web-1 %s, db-1 %s", opsState(t, e, "opsp-web-1"), opsState(t, e, "opsp-db-1"))
	}
	must(t, cc.Start(ctx, "opsp", p, nil))
	must(t, cc.Stop(ctx, "opsp", p, nil, nil))
	ev := progress.String()
	if i, j := strings.LastIndex(ev, "Container opsp-web-2  Stopped"), strings.LastIndex(ev, "Container opsp-db-1  Stopping"); i < 0 || j < 0 || i > j {
		t.Errorf("stop order (web before db):\n%s", ev)
	}
	stacks, err = cc.List(ctx, true)
	must(t, err)
	if len(stacks) != 2 || stacks[0].Status != "exited(3)" {
		t.Errorf("ls -a: %+v", stacks)
	}
	if stacks, _ := cc.List(ctx, false); len(stacks) != 1 || stacks[0].Name != "other" {
		t.Errorf("ls with opsp stopped: %+v", stacks)
	}

	// start: db before web.
	progress.Reset()
	must(t, cc.Start(ctx, "opsp", p, nil))
	ev = progress.String()
	if i, j := strings.Index(ev, "Container opsp-db-1  Started"), strings.Index(ev, "Container opsp-web-1  Starting"); i < 0 || j < 0 || i > j {
		t.Errorf("start order (db before web):\n%s", ev)
	}
	for _, n := range []string{"opsp-db-1", "opsp-web-1", "opsp-web-2"} {
		if s := opsState(t, e, n); s != container.StateRunning {
			t.Errorf("%s %s after start", n, s)
		}
	}
	if err := cc.Start(ctx, "opsp", p, []string{"nothere"}); err == nil {
		t.Error("start of a service without containers: no error")
	}

	// restart: new processes.
	before, _ := e.ContainerInspect(ctx, "opsp-web-1", false)
	must(t, cc.Restart(ctx, "opsp", nil, []string{"web"}, &zero))
	after, _ := e.ContainerInspect(ctx, "opsp-web-1", false)
	if after.State.Status != container.StateRunning || after.State.Pid == before.State.Pid {
		t.Errorf("restart: %s pid %d (was %d)", after.State.Status, after.State.Pid, before.State.Pid)
	}

	// logs -f follows until the containers stop, and picks up a restart.
	sb := &syncBuffer{}
	followed := make(chan error, 1)
	go func() {
		followed <- cc.Logs(ctx, "opsp", LogsOptions{Services: []string{"db"}, Follow: true, Tail: "0", Stdout: sb, Stderr: io.Discard, Poll: 50 * time.Millisecond})
	}()
	time.Sleep(300 * time.Millisecond)
	must(t, cc.Restart(ctx, "opsp", nil, []string{"db"}, &zero))
	time.Sleep(500 * time.Millisecond)
	must(t, cc.Stop(ctx, "opsp", nil, []string{"db"}, &zero))
	select {
	case err := <-followed:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not end when db stopped")
	}
	if s := sb.String(); !strings.Contains(s, "db-1  | db says hi") {
		t.Errorf("logs -f after a restart: %q", s)
	}

	// rm: the stopped ones only, unless Stop.
	removed, err := cc.Remove(ctx, "opsp", p, RemoveOptions{})
	must(t, err)
	if strings.Join(removed, ",") != "opsp-db-1" {
		t.Errorf("rm: %v", removed)
	}
	asked := false
	removed, err = cc.Remove(ctx, "opsp", p, RemoveOptions{Stop: true, Confirm: func(names []string) bool { asked = true; return false }})
	must(t, err)
	if !asked || removed != nil {
		t.Errorf("rm -s declined: asked %v, removed %v", asked, removed)
	}
	removed, err = cc.Remove(ctx, "opsp", p, RemoveOptions{Stop: true})
	must(t, err)
	if strings.Join(removed, ",") != "opsp-web-1,opsp-web-2" {
		t.Errorf("rm -s: %v", removed)
	}
	if left, _ := cc.Containers(ctx, "opsp", OneoffInclude, true); len(left) != 0 {
		t.Errorf("%d containers left", len(left))
	}
	if left, _ := cc.Containers(ctx, "other", OneoffInclude, true); len(left) != 1 {
		t.Errorf("the other project lost its container")
	}
}

func TestOpsDependencyOrder(t *testing.T) {
	svc := func(name string, deps ...string) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		if len(deps) > 0 {
			s.DependsOn = types.DependsOnConfig{}
			for _, d := range deps {
				s.DependsOn[d] = types.ServiceDependency{Condition: "service_started", Required: true}
			}
		}
		return s
	}
	p := &types.Project{Name: "x", Services: types.Services{
		"web": svc("web", "app"), "app": svc("app", "db", "cache"),
		"db": svc("db"), "cache": svc("cache"), "lone": svc("lone"),
	}}
	ct := func(service string) container.Summary {
		return container.Summary{Labels: map[string]string{LabelService: service}}
	}
	all := []container.Summary{ct("web"), ct("app"), ct("db"), ct("cache"), ct("lone"), ct("gone")}
	if got := fmt.Sprint(serviceLevels(p, all)); got != "[[cache db gone lone] [app] [web]]" {
		t.Errorf("levels: %s", got)
	}
	if got := fmt.Sprint(serviceLevels(p, all[:2])); got != "[[app] [web]]" {
		t.Errorf("levels of web and app: %s", got)
	}
	if got := fmt.Sprint(serviceLevels(nil, all[:3])); got != "[[app db web]]" {
		t.Errorf("levels without a project: %s", got)
	}
}

func TestOpsPrefix(t *testing.T) {
	for _, c := range []struct {
		name  string
		width int
		want  string
	}{
		{"web-1", 6, "web-1  | "},
		{"db-1", 6, "db-1   | "},
		{"a-very-long-name-1", 6, "a-very-long-name-1 | "},
	} {
		if got := Prefix(c.name, c.width); got != c.want {
			t.Errorf("Prefix(%q, %d) = %q, want %q", c.name, c.width, got, c.want)
		}
	}
}

func TestOpsPullPush(t *testing.T) {
	e := openEngine(t, false)
	ctx := context.Background()
	reg := imagetest.StartBerthRegistry(t, selfBinary(t), imagetest.RegistryOptions{})
	base := reg.Host + "/ops/base:1"
	must(t, e.ImageTag(ctx, "busybox:latest", base))
	rc, err := e.ImagePush(ctx, base, engine.PushRequest{})
	must(t, err)
	must(t, drainStream(rc))
	rc.Close()
	p := opsProject(t, map[string]string{
		"compose.yaml": fmt.Sprintf(`
name: opspp
services:
  app:
    build: .
    image: %[1]s/ops/app:1
  base:
    image: %[1]s/ops/base:1
  local:
    build: .
  never:
    image: %[1]s/ops/never:1
    pull_policy: never
  missing:
    image: %[1]s/ops/missing:1
    profiles: [broken]
`, reg.Host),
		"Dockerfile": "FROM busybox\nLABEL app=1\n",
	})
	var progress bytes.Buffer
	cc := New(e, &progress)
	must(t, cc.Build(ctx, p, BuildOptions{}))
	// push: only app (build and image:).
	must(t, cc.Push(ctx, p, PushOptions{}))
	if !strings.Contains(progress.String(), "Service app  Pushed") || strings.Contains(progress.String(), "Service base  Push") || strings.Contains(progress.String(), "Service local  Push") {
		t.Errorf("push progress:\n%s", progress.String())
	}
	// Gone locally, pull brings app and base back; local and never are skipped.
	for _, ref := range []string{reg.Host + "/ops/app:1", base} {
		_, err := e.ImageRemove(ctx, ref, engine.ImageRemoveOptions{})
		must(t, err)
	}
	progress.Reset()
	must(t, cc.Pull(ctx, p, PullOptions{}))
	for _, ref := range []string{reg.Host + "/ops/app:1", base} {
		ins, err := e.ImageInspect(ctx, ref)
		if err != nil {
			t.Errorf("%s after pull: %v\n%s", ref, err, progress.String())
		} else if ref != base && ins.Config.Labels["app"] != "1" {
			t.Errorf("%s pulled back without its label: %v", ref, ins.Config.Labels)
		}
	}
	for _, want := range []string{"Service local  Skipped - No image to be pulled", "Service never  Skipped - pull_policy is never", "Service base  Pulled"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("pull progress lacks %q:\n%s", want, progress.String())
		}
	}
	// A missing image is an error naming the service, unless ignored.
	p2, err := p.WithProfiles([]string{"broken"})
	must(t, err)
	err = cc.Pull(ctx, p2, PullOptions{Services: []string{"missing", "base"}})
	if err == nil || !strings.Contains(err.Error(), `service "missing"`) {
		t.Errorf("pull of a missing image: %v", err)
	}
	must(t, cc.Pull(ctx, p2, PullOptions{Services: []string{"missing"}, IgnorePullFailures: true}))
}

func TestOpsKillPause(t *testing.T) {
	e := openEngine(t, false)
	ctx := context.Background()
	opsContainer(t, e, "opsk", "a", 1, "sleep 1000", 0)
	opsContainer(t, e, "opsk", "b", 1, "trap 'exit 42' USR1; while :; do sleep 0.1; done", 0)
	cc := New(e, nil)
	must(t, cc.Pause(ctx, "opsk", nil, false))
	for _, n := range []string{"opsk-a-1", "opsk-b-1"} {
		if s := opsState(t, e, n); s != container.StatePaused {
			t.Errorf("%s %s after pause", n, s)
		}
	}
	must(t, cc.Pause(ctx, "opsk", []string{"b"}, true))
	if a, b := opsState(t, e, "opsk-a-1"), opsState(t, e, "opsk-b-1"); a != container.StatePaused || b != container.StateRunning {
		t.Errorf("unpause b: a %s, b %s", a, b)
	}
	must(t, cc.Pause(ctx, "opsk", nil, true))
	must(t, cc.Kill(ctx, "opsk", []string{"b"}, "SIGUSR1"))
	deadline := time.Now().Add(10 * time.Second)
	for opsState(t, e, "opsk-b-1") != container.StateExited && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	ins, err := e.ContainerInspect(ctx, "opsk-b-1", false)
	must(t, err)
	if ins.State.ExitCode != 42 || opsState(t, e, "opsk-a-1") != container.StateRunning {
		t.Errorf("kill -s USR1 b: b exit %d, a %s", ins.State.ExitCode, opsState(t, e, "opsk-a-1"))
	}
	must(t, cc.Kill(ctx, "opsk", nil, ""))
	deadline = time.Now().Add(10 * time.Second)
	for opsState(t, e, "opsk-a-1") != container.StateExited && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if s := opsState(t, e, "opsk-a-1"); s != container.StateExited {
		t.Errorf("kill: a %s", s)
	}
	if err := cc.Kill(ctx, "opsk", nil, ""); err == nil {
		t.Error("kill with nothing running: no error")
	}
}

// TestOpsLogsFollowNew: logs -f --tail 0 shows nothing old, and all of a
// container that appears meanwhile (a scale up).
func TestOpsLogsFollowNew(t *testing.T) {
	e := openEngine(t, false)
	ctx := context.Background()
	const loop = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
	opsContainer(t, e, "opsf", "a", 1, "echo old line; "+loop, 0)
	time.Sleep(300 * time.Millisecond)
	cc := New(e, nil)
	sb := &syncBuffer{}
	followed := make(chan error, 1)
	go func() {
		followed <- cc.Logs(ctx, "opsf", LogsOptions{Follow: true, Tail: "0", Stdout: sb, Poll: 50 * time.Millisecond})
	}()
	time.Sleep(300 * time.Millisecond)
	opsContainer(t, e, "opsf", "a", 2, "echo new one; echo new two; "+loop, 0)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(sb.String(), "new two") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	zero := 0
	must(t, cc.Stop(ctx, "opsf", nil, nil, &zero))
	select {
	case err := <-followed:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not end when the containers stopped")
	}
	if got := sb.String(); got != "a-2  | new one\na-2  | new two\n" {
		t.Errorf("logs -f --tail 0: %q", got)
	}
}

// opsRunOneoff starts a one-off container Run made, waits for it to end
// and returns its output.
func opsRunOneoff(t *testing.T, e *engine.Engine, id string) string {
	t.Helper()
	ctx := context.Background()
	must(t, e.ContainerStart(ctx, id))
	return exitOutput(t, e, id)
}

// opsAliases are the network aliases of a container on network.
func opsAliases(t *testing.T, e *engine.Engine, id, network string) []string {
	t.Helper()
	ins, err := e.ContainerInspect(context.Background(), id, false)
	must(t, err)
	ep := ins.NetworkSettings.Networks[network]
	if ep == nil {
		t.Fatalf("not on %s: %v", network, ins.NetworkSettings.Networks)
	}
	return ep.Aliases
}

// TestOpsRun: compose run's one-off container.
func TestOpsRun(t *testing.T) {
	e := openEngine(t, false)
	ctx := context.Background()
	p := opsProject(t, map[string]string{"compose.yaml": `
name: opsrun
services:
  web:
    image: busybox
    command: ["echo", "default"]
    networks:
      default:
        aliases: [www]
  tool:
    image: busybox
    profiles: [tools]
    command: ["echo", "tool"]
  files:
    image: busybox
    configs:
      - source: conf
        target: /etc/app.conf
    secrets: [tok]
configs:
  conf:
    content: "from content"
secrets:
  tok:
    environment: TOK
`})
	p.Environment["TOK"] = "from env"
	p.Secrets["tok"] = types.SecretConfig{Name: "opsrun_tok", Environment: "TOK"}
	cc := New(e, io.Discard)

	// A one-off is not reachable by the service's name or aliases (it
	// would take requests meant for the service), unless UseAliases.
	id, _, err := cc.Run(ctx, p, RunOptions{Service: "web"})
	must(t, err)
	if a := opsAliases(t, e, id, "opsrun_default"); slices.Contains(a, "web") || slices.Contains(a, "www") {
		t.Errorf("one-off aliases: %v", a)
	}
	id, _, err = cc.Run(ctx, p, RunOptions{Service: "web", UseAliases: true})
	must(t, err)
	if a := opsAliases(t, e, id, "opsrun_default"); !slices.Contains(a, "web") || !slices.Contains(a, "www") {
		t.Errorf("one-off aliases with --use-aliases: %v", a)
	}

	// A service of an inactive profile runs when named.
	id, _, err = cc.Run(ctx, p, RunOptions{Service: "tool"})
	must(t, err)
	if got := opsRunOneoff(t, e, id); got != "tool\n" {
		t.Errorf("run of a service of an inactive profile: %q", got)
	}

	// Secrets and configs from content or environment are copied in, as
	// up does.
	id, _, err = cc.Run(ctx, p, RunOptions{Service: "files", Command: []string{"sh", "-c", "cat /etc/app.conf; echo; cat /run/secrets/tok"}})
	must(t, err)
	if got := opsRunOneoff(t, e, id); got != "from content\nfrom env" {
		t.Errorf("one-off with content/environment config and secret: %q", got)
	}

	// --entrypoint is split as a shell would.
	ep := "sh -c"
	id, _, err = cc.Run(ctx, p, RunOptions{Service: "web", Entrypoint: &ep, Command: []string{"echo split"}})
	must(t, err)
	if got := opsRunOneoff(t, e, id); got != "split\n" {
		t.Errorf("run --entrypoint 'sh -c': %q", got)
	}

	// Bad input fails before anything exists.
	bad := opsProject(t, map[string]string{"compose.yaml": `
name: opsrunbad
services:
  web:
    image: busybox
  nope:
    image: nosuch.invalid/none:1
    pull_policy: never
  needsnope:
    image: busybox
    depends_on: [nope]
`})
	for _, tc := range []struct {
		o    RunOptions
		want string
	}{
		{RunOptions{Service: "web", Publish: []string{"99999999:80"}}, "99999999"},
		{RunOptions{Service: "web", Volumes: []string{"a:b:c:d"}}, "invalid volume"},
		{RunOptions{Service: "nope"}, "pull_policy is never"},
		{RunOptions{Service: "needsnope"}, "pull_policy is never"}, // its dependency's
	} {
		if _, _, err := cc.Run(ctx, bad, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %+v: %v, want %q", tc.o, err, tc.want)
		}
		if left := leftovers(t, e, "opsrunbad"); len(left) > 0 {
			t.Errorf("run %+v left %v", tc.o, left)
		}
	}
}

// TestOpsStartWaits: start waits for depends_on conditions, as up does.
func TestOpsStartWaits(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	p := opsProject(t, map[string]string{"compose.yaml": `
name: opsstart
services:
  db:
    image: busybox
    command: ["sh", "-c", "rm -f /tmp/ok; sleep 1; touch /tmp/ok; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 200ms
      retries: 50
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    depends_on:
      db:
        condition: service_healthy
`})
	var progress syncBuffer
	cc := New(e, &progress)
	must(t, cc.Up(ctx, p, UpOptions{Detach: true}))
	zero := 0
	must(t, cc.Stop(ctx, "opsstart", p, nil, &zero))
	progress = syncBuffer{}
	must(t, cc.Start(ctx, "opsstart", p, nil))
	ev := progress.String()
	healthy, starting := strings.Index(ev, "Container opsstart-db-1  Healthy"), strings.Index(ev, "Container opsstart-web-1  Starting")
	if healthy < 0 || starting < 0 || healthy > starting {
		t.Errorf("start did not wait for db to be healthy before web:\n%s", ev)
	}
}
