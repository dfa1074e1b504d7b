package compose

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

// TestFailedUpKeepsWorking: a second up that fails (b's new port is
// busy) leaves each service a container under its own name: a replaced
// container is not undone once the old one is gone, and a sibling's swap
// is not cut off midway (the old one killed, the new one undone).
func TestFailedUpKeepsWorking(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	var progress syncBuffer
	c := New(e, &progress)
	p1, p2 := freePort(t), freePort(t)
	yaml := `services:
  a:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    environment: {V: "%s"}
  b:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    environment: {V: "%s"}
    ports: ["127.0.0.1:%d:80"]
`
	p := loadYAML(t, "fk", fmt.Sprintf(yaml, "1", "1", p1))
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p2))
	must(t, err)
	defer l.Close()
	p = loadYAML(t, "fk", fmt.Sprintf(yaml, "2", "2", p2))
	if err := c.Up(ctx, p, UpOptions{Detach: true}); err == nil {
		t.Fatalf("up with b's port busy succeeded:\n%s", progress.String())
	} else {
		t.Logf("up: %v", err)
	}
	list, err := c.Containers(ctx, "fk", OneoffInclude, true)
	must(t, err)
	names := map[string]container.Summary{}
	for _, ct := range list {
		names[containerName(ct)] = ct
	}
	if len(list) != 2 || names["fk-a-1"].ID == "" || names["fk-b-1"].ID == "" {
		t.Fatalf("after the failed up: %v\n%s", names, progress.String())
	}
	for n, ct := range names {
		insp, err := e.ContainerInspect(ctx, ct.ID, false)
		must(t, err)
		if insp.State.Status == container.StateExited && insp.State.ExitCode != 0 {
			t.Errorf("%s cut off midway: exited (%d)", n, insp.State.ExitCode)
		}
		if !strings.Contains(strings.Join(insp.Config.Env, " "), "V=2") {
			t.Errorf("%s not recreated: %v", n, insp.Config.Env)
		}
	}
	l.Close()
	// The next up starts b's replacement: nothing to recreate.
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	after, err := c.ServiceContainer(ctx, "fk", "b", 1)
	must(t, err)
	if after.ID != names["fk-b-1"].ID || after.State != container.StateRunning {
		t.Errorf("b after the next up: %s %s, want %s running", after.ID[:12], after.State, names["fk-b-1"].ID[:12])
	}
	must(t, c.Down(ctx, "fk", p, DownOptions{}))
}

// runOnce ups p detached, waits for service's container to exit and
// returns its output.
func runOnce(t *testing.T, c *Compose, p *types.Project, service string) string {
	t.Helper()
	ctx := context.Background()
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	ct, err := c.ServiceContainer(ctx, p.Name, service, 1)
	must(t, err)
	return exitOutput(t, c.API, ct.ID)
}

// TestInjectKeepsFolders: a content config copied into /tmp leaves /tmp
// as it was (1777), and a secret whose folder does not exist yet still
// lands (the engine makes the folder).
func TestInjectKeepsFolders(t *testing.T) {
	e := realEngine(t)
	c := New(e, nil)
	p := loadYAMLEnv(t, "ik", []string{"TOKEN=s3cret"}, `services:
  show:
    image: busybox:latest
    command: ["sh", "-c", "stat -c '%a' /tmp; cat /tmp/app.conf /run/secrets/deep/token"]
    secrets:
      - source: token
        target: deep/token
    configs:
      - source: conf
        target: /tmp/app.conf
secrets:
  token:
    environment: TOKEN
configs:
  conf:
    content: answer=42
`)
	if out := runOnce(t, c, p, "show"); out != "1777\nanswer=42s3cret" {
		t.Errorf("output: %q", out)
	}
	must(t, c.Down(context.Background(), "ik", p, DownOptions{}))
}

// TestUpAttachNamed: attached, up SERVICE follows SERVICE's logs only,
// not those of what it depends on, unless AttachDependencies.
func TestUpAttachNamed(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	p := loadYAML(t, "an", `services:
  dep:
    image: busybox:latest
    command: ["sh", "-c", "echo dep-line; sleep 1"]
  main:
    image: busybox:latest
    command: ["sh", "-c", "echo main-line"]
    depends_on: [dep]
`)
	for _, deps := range []bool{false, true} {
		var logs syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- c.Up(ctx, p, UpOptions{Services: []string{"main"}, Logs: &logs, AttachDependencies: deps, ForceRecreate: true})
		}()
		select {
		case err := <-done:
			must(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("attached up did not return:\n%s", logs.String())
		}
		out := logs.String()
		if !strings.Contains(out, "main-1  | main-line\n") {
			t.Errorf("deps=%v: no main line:\n%s", deps, out)
		}
		if strings.Contains(out, "dep-line") != deps {
			t.Errorf("deps=%v: dep's lines shown %v:\n%s", deps, !deps, out)
		}
	}
	must(t, c.Down(ctx, "an", p, DownOptions{}))
}

// TestHashContentsNotProfiles: an edited content: config or environment:
// secret recreates the service (its file is copied in once); editing
// profiles: alone does not.
func TestHashContentsNotProfiles(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	yaml := `services:
  show:
    image: busybox:latest
    profiles: [%s]
    command: ["sh", "-c", "cat /app.conf /run/secrets/token; echo; trap 'exit 0' TERM; while true; do sleep 1; done"]
    secrets: [token]
    configs:
      - source: conf
        target: /app.conf
secrets:
  token:
    environment: TOKEN
configs:
  conf:
    content: "%s "
`
	load := func(profiles, conf, token string) *types.Project {
		f := filepath.Join(t.TempDir(), "compose.yaml")
		must(t, os.WriteFile(f, []byte(fmt.Sprintf(yaml, profiles, conf)), 0o644))
		p, err := Load(ctx, LoadOptions{ConfigFiles: []string{f}, ProjectName: "hc", Environ: []string{"TOKEN=" + token}, Profiles: []string{"a", "b"}})
		must(t, err)
		return p
	}
	output := func(id string) string {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			rc, err := e.ContainerLogs(ctx, id, engine.LogsOptions{ShowStdout: true})
			must(t, err)
			var out strings.Builder
			stdcopy.StdCopy(&out, &out, rc)
			rc.Close()
			if strings.HasSuffix(out.String(), "\n") || time.Now().After(deadline) {
				return out.String()
			}
		}
	}
	up := func(p *types.Project) (string, string) {
		t.Helper()
		must(t, c.Up(ctx, p, UpOptions{Detach: true}))
		ct, err := c.ServiceContainer(ctx, "hc", "show", 1)
		must(t, err)
		return ct.ID, output(ct.ID)
	}
	id1, out := up(load("a", "v1", "t1"))
	if out != "v1 t1\n" {
		t.Fatalf("first up: %q", out)
	}
	if id, _ := up(load("a, b", "v1", "t1")); id != id1 {
		t.Errorf("editing profiles recreated the container")
	}
	id2, out := up(load("a, b", "v2", "t1"))
	if id2 == id1 || out != "v2 t1\n" {
		t.Errorf("after editing the config's content: recreated %v, %q", id2 != id1, out)
	}
	id3, out := up(load("a, b", "v2", "t2"))
	if id3 == id2 || out != "v2 t2\n" {
		t.Errorf("after changing the secret's variable: recreated %v, %q", id3 != id2, out)
	}
	must(t, c.Down(ctx, "hc", load("a", "v2", "t2"), DownOptions{}))
}

// TestDeployRestartPolicy: deploy.restart_policy overrides restart:, and
// its condition takes the engine's names too, as compose v2 maps them.
func TestDeployRestartPolicy(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	p := loadYAML(t, "rp", `services:
  over:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
    restart: "no"
    deploy:
      restart_policy: {condition: unless-stopped}
  any:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
    restart: unless-stopped
    deploy:
      restart_policy: {condition: on-failure, max_attempts: 2}
  plain:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
    restart: always
`)
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	want := map[string]container.RestartPolicy{
		"over":  {Name: container.RestartPolicyUnlessStopped},
		"any":   {Name: container.RestartPolicyOnFailure, MaximumRetryCount: 2},
		"plain": {Name: container.RestartPolicyAlways},
	}
	for svc, rp := range want {
		ct, err := c.ServiceContainer(ctx, "rp", svc, 1)
		must(t, err)
		insp, err := e.ContainerInspect(ctx, ct.ID, false)
		must(t, err)
		if insp.HostConfig.RestartPolicy != rp {
			t.Errorf("%s: restart policy %+v, want %+v", svc, insp.HostConfig.RestartPolicy, rp)
		}
	}
	must(t, c.Down(ctx, "rp", p, DownOptions{}))
}

// failStop is the real engine whose ContainerStop fails: an orphan that
// cannot be stopped.
type failStop struct{ engine.API }

func (failStop) ContainerStop(context.Context, string, engine.StopOptions) error {
	return errors.New("stop refused for the test")
}

// TestOrphanRemovalFailsUndo: when --remove-orphans cannot remove an
// orphan, the networks this up made are undone.
func TestOrphanRemovalFailsUndo(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	p := loadYAML(t, "ou", `services:
  old:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
`)
	must(t, New(e, nil).Up(ctx, p, UpOptions{Detach: true}))
	p2 := loadYAML(t, "ou", `services:
  new:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
    networks: [extra]
networks:
  extra: {}
`)
	if err := New(failStop{e}, nil).Up(ctx, p2, UpOptions{Detach: true, RemoveOrphans: true}); err == nil {
		t.Fatal("up succeeded with an orphan that cannot be stopped")
	}
	l := leftovers(t, e, "ou")
	if strings.Contains(strings.Join(l, ","), "network ou_extra") {
		t.Errorf("the failed up left its network: %v", l)
	}
	must(t, New(e, nil).Down(ctx, "ou", p, DownOptions{RemoveOrphans: true}))
}

// TestFileSecretModeWarns: uid, gid and mode on a file secret or config
// are ignored (the file is bind-mounted, with the host's owner and
// mode), with compose's warning rather than silently.
func TestFileSecretModeWarns(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	var progress syncBuffer
	c := New(e, &progress)
	p := loadFiles(t, "fm", []string{}, map[string]string{"key": "k", "compose.yaml": `services:
  show:
    image: busybox:latest
    command: ["sh", "-c", "stat -c '%a' /run/secrets/key /conf"]
    secrets:
      - source: key
        mode: 0400
    configs:
      - source: conf
        target: /conf
        uid: "1000"
secrets:
  key:
    file: ./key
configs:
  conf:
    file: ./key
`})
	if out := runOnce(t, c, p, "show"); out != "644\n644\n" {
		t.Errorf("modes: %q", out)
	}
	for _, w := range []string{"WARN[0000] secrets `uid`, `gid` and `mode` are not supported, they will be ignored\n", "WARN[0000] config `uid`, `gid` and `mode` are not supported, they will be ignored\n"} {
		if !strings.Contains(progress.String(), w) {
			t.Errorf("no warning %q:\n%s", w, progress.String())
		}
	}
	must(t, c.Down(ctx, "fm", p, DownOptions{}))
}

// TestScaleDownOutOfDateFirst: scaling down removes the out-of-date
// containers first (then the highest numbers), as compose; a replacement
// carries com.docker.compose.replace naming what it replaced.
func TestScaleDownOutOfDateFirst(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	yaml := `services:
  w:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
    environment: {V: "%s"}
`
	p1 := loadYAML(t, "sd", fmt.Sprintf(yaml, "1"))
	p2 := loadYAML(t, "sd", fmt.Sprintf(yaml, "2"))
	must(t, c.Up(ctx, p1, UpOptions{Detach: true, Scale: map[string]int{"w": 2}}))
	// 1 and 2 out of date, 3 up to date.
	must(t, c.Up(ctx, p2, UpOptions{Detach: true, Scale: map[string]int{"w": 3}, NoRecreate: true}))
	third, err := c.ServiceContainer(ctx, "sd", "w", 3)
	must(t, err)
	must(t, c.Up(ctx, p2, UpOptions{Detach: true, Scale: map[string]int{"w": 1}}))
	list, err := c.Containers(ctx, "sd", OneoffExclude, true, "w")
	must(t, err)
	if len(list) != 1 || list[0].ID != third.ID {
		var got []string
		for _, ct := range list {
			got = append(got, containerName(ct)+" "+ct.ID[:12])
		}
		t.Fatalf("after scaling down to 1: %v, want sd-w-3 %s", got, third.ID[:12])
	}
	if l := list[0].Labels[LabelContainerRepl]; l != "" {
		t.Errorf("a container made new has %s=%q", LabelContainerRepl, l)
	}
	// A recreate labels the replacement.
	must(t, c.Up(ctx, p1, UpOptions{Detach: true, Scale: map[string]int{"w": 1}}))
	ct, err := c.ServiceContainer(ctx, "sd", "w", 3)
	must(t, err)
	if ct.ID == third.ID || ct.Labels[LabelContainerRepl] != "w-3" {
		t.Errorf("replacement %s: %s=%q, want w-3", ct.ID[:12], LabelContainerRepl, ct.Labels[LabelContainerRepl])
	}
	must(t, c.Down(ctx, "sd", p1, DownOptions{}))
}

// TestVolumesFromRecreate: volumes_from a service whose container is
// recreated: the user keeps its container (compose resolves the
// reference by name, which a recreate keeps) and the data, ups after it
// touch nothing, and it restarts.
func TestVolumesFromRecreate(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	yaml := `services:
  data:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "echo kept > /shared/f; sleep 600"]
    volumes: [/shared]
    environment: {V: "%s"}
  user:
    image: busybox:latest
    init: true
    command: ["sleep", "600"]
    volumes_from: [data]
`
	must(t, c.Up(ctx, loadYAML(t, "vf", fmt.Sprintf(yaml, "1")), UpOptions{Detach: true}))
	before := state(t, c, "vf")
	p := loadYAML(t, "vf", fmt.Sprintf(yaml, "2"))
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	after := state(t, c, "vf")
	if after["vf-data-1"] == before["vf-data-1"] || after["vf-user-1"] != before["vf-user-1"] {
		t.Errorf("editing data: before %v, after %v", before, after)
	}
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	if again := state(t, c, "vf"); fmt.Sprint(again) != fmt.Sprint(after) {
		t.Errorf("a second up changed %v to %v", after, again)
	}
	user, err := c.ServiceContainer(ctx, "vf", "user", 1)
	must(t, err)
	must(t, e.ContainerRestart(ctx, user.ID, engine.StopOptions{}))
	if out := execOutput(t, e, user.ID, "cat", "/shared/f"); out != "kept\n" {
		t.Errorf("user's /shared/f after data's recreate: %q", out)
	}
	must(t, c.Down(ctx, "vf", p, DownOptions{}))
}

// TestEnvFileLabel: the containers' environment_file label names the
// --env-file files (absolute), else the .env read, else nothing, as
// compose v2 labels them.
func TestEnvFileLabel(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	must(t, os.WriteFile(f, []byte("services:\n  s:\n    image: busybox:latest\n    command: [\"true\"]\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "other.env"), []byte("A=1\n"), 0o644))
	label := func(envFiles ...string) string {
		t.Helper()
		p, err := Load(ctx, LoadOptions{ConfigFiles: []string{f}, ProjectName: "ef", Environ: []string{}, EnvFiles: envFiles})
		must(t, err)
		must(t, c.Up(ctx, p, UpOptions{Detach: true, ForceRecreate: true}))
		ct, err := c.ServiceContainer(ctx, "ef", "s", 1)
		must(t, err)
		return ct.Labels[LabelEnvFile]
	}
	if l := label(); l != "" {
		t.Errorf("without env files: %q", l)
	}
	must(t, os.WriteFile(filepath.Join(dir, ".env"), []byte("B=2\n"), 0o644))
	if l := label(); l != filepath.Join(dir, ".env") {
		t.Errorf("with a .env: %q", l)
	}
	if l := label(filepath.Join(dir, "other.env")); l != filepath.Join(dir, "other.env") {
		t.Errorf("with --env-file other.env: %q", l)
	}
	must(t, c.Down(ctx, "ef", nil, DownOptions{}))
}

// TestDownRmiLocalNoFile: down --rmi local without the file removes the
// images compose built for the project (their build labels say so), not
// any image whose name happens to start with PROJECT-.
func TestDownRmiLocalNoFile(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	img, err := e.ImageInspect(ctx, "busybox:latest")
	must(t, err)
	must(t, e.ImageTag(ctx, img.ID, "dl-fake:latest"))
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "b"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "b", "Dockerfile"), []byte("FROM busybox:latest\nLABEL built=yes\n"), 0o644))
	f := filepath.Join(dir, "compose.yaml")
	must(t, os.WriteFile(f, []byte(`services:
  a:
    image: dl-fake
    command: ["true"]
  b:
    build: ./b
    command: ["true"]
`), 0o644))
	p, err := Load(ctx, LoadOptions{ConfigFiles: []string{f}, ProjectName: "dl", Environ: []string{}})
	must(t, err)
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	must(t, c.Down(ctx, "dl", nil, DownOptions{Images: "local"}))
	if _, err := e.ImageInspect(ctx, "dl-fake"); err != nil {
		t.Errorf("dl-fake (a's own image:) removed: %v", err)
	}
	if _, err := e.ImageInspect(ctx, "dl-b"); err == nil {
		t.Errorf("dl-b (built by compose) kept")
	}
}

// TestNetworkChangedRecreated: a project network whose model changed (its
// subnet here) is made anew, as compose does, and its containers keep
// their identity: stopped, reconnected, started again, with their alias.
func TestNetworkChangedRecreated(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	c := New(e, nil)
	yaml := `services:
  s:
    image: busybox:latest
    init: true
    command: ["sleep", "600"]
    networks:
      net: {aliases: [al]}
  peer:
    image: busybox:latest
    init: true
    command: ["sleep", "600"]
    networks: [net]
  other:
    image: busybox:latest
    init: true
    command: ["sleep", "600"]
    networks: [net]
networks:
  net:
    ipam:
      config: [{subnet: "%s"}]
`
	must(t, c.Up(ctx, loadYAML(t, "nc", fmt.Sprintf(yaml, "10.213.71.0/24")), UpOptions{Detach: true}))
	before, err := c.ServiceContainer(ctx, "nc", "s", 1)
	must(t, err)
	p := loadYAML(t, "nc", fmt.Sprintf(yaml, "10.213.72.0/24"))
	// other is not in this up: it is started again on the new network.
	must(t, c.Up(ctx, p, UpOptions{Detach: true, Services: []string{"s", "peer"}}))
	other, err := c.ServiceContainer(ctx, "nc", "other", 1)
	must(t, err)
	if other.State != container.StateRunning {
		t.Errorf("other, not in the up, left %s", other.State)
	}
	n, err := e.NetworkInspect(ctx, "nc_net", engine.NetworkInspectOptions{})
	must(t, err)
	if len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet.String() != "10.213.72.0/24" {
		t.Fatalf("nc_net's ipam after the change: %+v", n.IPAM.Config)
	}
	after, err := c.ServiceContainer(ctx, "nc", "s", 1)
	must(t, err)
	insp, err := e.ContainerInspect(ctx, after.ID, false)
	must(t, err)
	ep := insp.NetworkSettings.Networks["nc_net"]
	if after.ID != before.ID || !insp.State.Running || ep == nil || !strings.HasPrefix(ep.IPAddress.String(), "10.213.72.") {
		t.Fatalf("s after the change: same %v, running %v, endpoint %+v", after.ID == before.ID, insp.State.Running, ep)
	}
	peer, err := c.ServiceContainer(ctx, "nc", "peer", 1)
	must(t, err)
	if out := execOutput(t, e, peer.ID, "ping", "-c", "1", "-W", "2", "al"); !strings.Contains(out, "10.213.72.") {
		t.Errorf("peer pinging al: %q", out)
	}
	// Nothing changed: a second up leaves the network alone.
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	n2, err := e.NetworkInspect(ctx, "nc_net", engine.NetworkInspectOptions{})
	must(t, err)
	if n2.ID != n.ID {
		t.Errorf("an unchanged network was recreated")
	}
	must(t, c.Down(ctx, "nc", p, DownOptions{}))
}
