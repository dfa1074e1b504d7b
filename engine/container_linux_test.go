package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine/monitor"
)

func TestContainerExitCodes(t *testing.T) {
	e := newTestEngine(t, false)
	yes := true
	for _, tc := range []struct {
		name string
		cmd  []string
		init *bool
		code int
	}{
		{"true", []string{"true"}, nil, 0},
		{"exit 3", []string{"sh", "-c", "exit 3"}, nil, 3},
		// PID 1 cannot be killed from inside: under --init, sh is not PID 1.
		{"killed", []string{"sh", "-c", "kill -9 $$"}, &yes, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, code := run(t, e, container.Config{}, container.HostConfig{Init: tc.init}, tc.cmd...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			ins := inspect(t, e, id)
			st := ins.State
			if st.Status != container.StateExited || st.Running || st.ExitCode != tc.code || st.Pid != 0 ||
				st.StartedAt == "" || st.FinishedAt == "0001-01-01T00:00:00Z" {
				t.Errorf("state %+v", st)
			}
			if ms := mountsUnder(t, filepath.Join(e.opts.Root, "containers", id)); len(ms) > 0 {
				t.Errorf("rootfs still mounted after the exit: %v", ms)
			}
		})
	}
}

func TestContainerLogWritten(t *testing.T) {
	e := newTestEngine(t, false)
	id, code := run(t, e, container.Config{}, container.HostConfig{}, "sh", "-c", "echo out; echo err >&2")
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	ins := inspect(t, e, id)
	if ins.LogPath != filepath.Join(e.opts.Root, "containers", id, id+"-json.log") {
		t.Fatalf("LogPath %q", ins.LogPath)
	}
	b, err := os.ReadFile(ins.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"log":"out\n","stream":"stdout"`, `{"log":"err\n","stream":"stderr"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log %q lacks %q", b, want)
		}
	}
}

func TestContainerStop(t *testing.T) {
	e := newTestEngine(t, false)
	one := 1
	for _, tc := range []struct {
		name    string
		script  string
		timeout *int
		code    int
	}{
		// The shell handles TERM: it stops on it.
		{"stops on TERM", `trap "exit 7" TERM; while :; do sleep 0.1; done`, nil, 7},
		// TERM ignored: killed when the grace period is over.
		{"killed after the grace period", `trap "" TERM; while :; do sleep 0.1; done`, &one, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := create(t, e, "", container.Config{}, container.HostConfig{}, "sh", "-c", tc.script)
			if err := e.ContainerStart(ctx(t), id); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // let the shell set its trap
			if err := e.ContainerStop(ctx(t), id, StopOptions{Timeout: tc.timeout}); err != nil {
				t.Fatal(err)
			}
			ins := inspect(t, e, id)
			if ins.State.Status != container.StateExited || ins.State.ExitCode != tc.code {
				t.Errorf("after stop: %s %d, want exited %d", ins.State.Status, ins.State.ExitCode, tc.code)
			}
			err := e.ContainerStop(ctx(t), id, StopOptions{})
			if KindOf(err) != KindNotModified {
				t.Errorf("stopping a stopped container: %v (kind %v), want 304", err, KindOf(err))
			}
		})
	}
}

func TestContainerKill(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "victim", container.Config{}, container.HostConfig{}, "sleep", "1000")
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerKill(ctx(t), "victim", "NOSUCHSIG"); KindOf(err) != KindInvalid {
		t.Errorf("kill with a bad signal: %v", err)
	}
	res, errc := e.ContainerWait(ctx(t), id, container.WaitConditionNotRunning)
	if err := e.ContainerKill(ctx(t), "victim", ""); err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, errc, 137, "exit")
	err := e.ContainerKill(ctx(t), "victim", "")
	want := "Cannot kill container: victim: container " + id + " is not running"
	if err == nil || err.Error() != want || KindOf(err) != KindConflict {
		t.Errorf("kill a stopped container: %v, want %q", err, want)
	}
}

func TestContainerPause(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "", container.Config{}, container.HostConfig{}, "sleep", "1000")
	if err := e.ContainerPause(ctx(t), id); KindOf(err) != KindConflict {
		t.Errorf("pause a created container: %v", err)
	}
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerPause(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	ins := inspect(t, e, id)
	if !ins.State.Paused || !ins.State.Running || ins.State.Status != container.StatePaused {
		t.Errorf("paused state %+v", ins.State)
	}
	list, err := e.ContainerList(ctx(t), ListOptions{})
	if err != nil || len(list) != 1 || !strings.HasSuffix(list[0].Status, "(Paused)") {
		t.Errorf("ps of a paused container: %+v %v", list, err)
	}
	if err := e.ContainerPause(ctx(t), id); err == nil || err.Error() != "Container "+id+" is already paused" {
		t.Errorf("pause twice: %v", err)
	}
	if err := e.ContainerUnpause(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if ins := inspect(t, e, id); ins.State.Paused || ins.State.Status != container.StateRunning {
		t.Errorf("unpaused state %+v", ins.State)
	}
	if err := e.ContainerUnpause(ctx(t), id); err == nil || err.Error() != "Container "+id+" is not paused" {
		t.Errorf("unpause a running container: %v", err)
	}
	// A paused container stops: the signal is not left waiting.
	if err := e.ContainerPause(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	zero := 0
	if err := e.ContainerStop(ctx(t), id, StopOptions{Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	if ins := inspect(t, e, id); ins.State.Status != container.StateExited {
		t.Errorf("after stopping a paused container: %+v", ins.State)
	}
}

func TestContainerRestart(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "", container.Config{}, container.HostConfig{}, "sleep", "1000")
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerStart(ctx(t), id); KindOf(err) != KindNotModified {
		t.Errorf("start a running container: %v (kind %v), want 304", err, KindOf(err))
	}
	before := inspect(t, e, id)
	zero := 0
	if err := e.ContainerRestart(ctx(t), id, StopOptions{Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	after := inspect(t, e, id)
	if after.State.Status != container.StateRunning || after.State.Pid == before.State.Pid || after.State.StartedAt == before.State.StartedAt {
		t.Errorf("before %+v after %+v", before.State, after.State)
	}
}

func TestContainerRemove(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "busy", container.Config{}, container.HostConfig{}, "sleep", "1000")
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	err := e.ContainerRemove(ctx(t), "busy", RemoveOptions{})
	want := `cannot remove container "/busy": container is running: stop the container before removing or force remove`
	if err == nil || err.Error() != want || KindOf(err) != KindConflict {
		t.Errorf("remove a running container: %v", err)
	}
	res, errc := e.ContainerWait(ctx(t), id, container.WaitConditionRemoved)
	if err := e.ContainerRemove(ctx(t), "busy", RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-res:
	case err := <-errc:
		t.Fatal(err)
	}
	if left := leftovers(t, e); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if _, err := e.ContainerInspect(ctx(t), id, false); KindOf(err) != KindNotFound {
		t.Errorf("inspect a removed container: %v", err)
	}
}

// TestCreateFailuresLeaveNothing: every refused create leaves no record,
// name, snapshot, mount or directory behind.
func TestCreateFailuresLeaveNothing(t *testing.T) {
	e := newTestEngine(t, false)
	taken := create(t, e, "taken", container.Config{}, container.HostConfig{}, "true")
	before := leftovers(t, e)
	for _, tc := range []struct {
		name  string
		cname string
		cfg   container.Config
		hc    container.HostConfig
		kind  Kind
		msg   string
	}{
		{"name conflict", "taken", container.Config{Image: "busybox"}, container.HostConfig{}, KindConflict,
			`Conflict. The container name "/taken" is already in use by container "` + taken + `". You have to remove (or rename) that container to be able to reuse that name.`},
		{"bad name", "-x", container.Config{Image: "busybox"}, container.HostConfig{}, KindInvalid,
			"Invalid container name (-x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"},
		{"unknown image", "", container.Config{Image: "nosuch"}, container.HostConfig{}, KindNotFound, "No such image: nosuch:latest"},
		{"bad restart policy", "", container.Config{Image: "busybox"}, container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}}, KindInvalid,
			"invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{"auto-remove with restart", "", container.Config{Image: "busybox"}, container.HostConfig{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: "always"}}, KindInvalid,
			"can't create 'AutoRemove' container with restart policy"},
		{"bad log driver", "", container.Config{Image: "busybox"}, container.HostConfig{LogConfig: container.LogConfig{Type: "carrier-pigeon"}}, KindInvalid,
			"logger: no log driver named 'carrier-pigeon' is registered"},
		{"bad max-size", "", container.Config{Image: "busybox"}, container.HostConfig{LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "lots"}}}, KindInvalid, ""},
		{"unknown log opt", "", container.Config{Image: "busybox"}, container.HostConfig{LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"colour": "red"}}}, KindInvalid,
			"unknown log opt 'colour' for json-file log driver"},
		{"no command", "", container.Config{Image: "busybox", Entrypoint: []string{""}, Cmd: []string{}}, container.HostConfig{}, KindInvalid, "no command specified"},
		{"relative workdir", "", container.Config{Image: "busybox", WorkingDir: "srv"}, container.HostConfig{}, KindInvalid,
			"the working directory 'srv' is invalid, it needs to be an absolute path"},
		{"pid mode", "", container.Config{Image: "busybox"}, container.HostConfig{PidMode: "container:x"}, KindInvalid, ""},
		{"unknown user", "", container.Config{Image: "busybox", User: "nobody-here"}, container.HostConfig{}, KindInvalid, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			_, err := e.ContainerCreate(ctx(t), tc.cname, CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &tc.hc}})
			if err == nil || KindOf(err) != tc.kind || tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("create: %v (kind %v), want %q (kind %v)", err, KindOf(err), tc.msg, tc.kind)
			}
			if after := leftovers(t, e); !slices.Equal(after, before) {
				t.Errorf("left behind: %v, had %v", after, before)
			}
		})
	}
}

func TestContainerInspectShape(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "shape", container.Config{Env: []string{"A=1"}, Labels: map[string]string{"k": "v"}},
		container.HostConfig{}, "sh", "-c", "echo hi")
	ins := inspect(t, e, id)
	if ins.ID != id || ins.Name != "/shape" || ins.Path != "sh" || !slices.Equal(ins.Args, []string{"-c", "echo hi"}) {
		t.Errorf("identity: %q %q %q %q", ins.ID, ins.Name, ins.Path, ins.Args)
	}
	if !strings.HasPrefix(ins.Image, "sha256:") || ins.Config.Image != "busybox" || ins.Config.Hostname != id[:12] {
		t.Errorf("image %q config image %q hostname %q", ins.Image, ins.Config.Image, ins.Config.Hostname)
	}
	if ins.State.Status != container.StateCreated || ins.State.StartedAt != "0001-01-01T00:00:00Z" {
		t.Errorf("state %+v", ins.State)
	}
	if !slices.Contains(ins.Config.Env, "A=1") || ins.Config.Labels["k"] != "v" {
		t.Errorf("config %+v", ins.Config)
	}
	if ins.HostConfig.RestartPolicy.Name != "no" || ins.HostConfig.LogConfig.Type != "json-file" || ins.HostConfig.NetworkMode != "bridge" {
		t.Errorf("host config defaults %+v %+v %q", ins.HostConfig.RestartPolicy, ins.HostConfig.LogConfig, ins.HostConfig.NetworkMode)
	}
	if ins.Mounts == nil || ins.NetworkSettings == nil || ins.GraphDriver == nil || ins.GraphDriver.Name != e.Images.Driver || ins.Driver != e.Images.Driver {
		t.Errorf("mounts %v network %v graph %+v", ins.Mounts, ins.NetworkSettings, ins.GraphDriver)
	}
	if _, err := time.Parse(time.RFC3339Nano, ins.Created); err != nil {
		t.Errorf("created %q: %v", ins.Created, err)
	}
	withSize, err := e.ContainerInspect(ctx(t), id, true)
	if err != nil || withSize.SizeRw == nil || withSize.SizeRootFs == nil || *withSize.SizeRootFs <= 0 {
		t.Errorf("inspect with size: %v %v", withSize.SizeRootFs, err)
	}
	// The view other parts of the engine use.
	v, err := e.view(ctx(t), "shape")
	if err != nil || v.ID != id || v.Name != "shape" || v.Status != container.StateCreated || v.Dir != filepath.Join(e.opts.Root, "containers", id) {
		t.Errorf("view %+v %v", v, err)
	}
	// A stopped container's filesystem, mounted for a while.
	root, release, err := e.rootfs(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "busybox")); err != nil {
		t.Errorf("rootfs of a created container: %v", err)
	}
	release()
	if _, err := os.Stat(root); !os.IsNotExist(err) || len(mountsUnder(t, root)) > 0 {
		t.Errorf("the temporary mount %s stays: %v", root, err)
	}
	e.execAdded(id, "exec1")
	e.execAdded(id, "exec2")
	e.execRemoved(id, "exec1")
	if got := inspect(t, e, id).ExecIDs; !slices.Equal(got, []string{"exec2"}) {
		t.Errorf("ExecIDs %v", got)
	}
}

func TestContainerHostNamespaces(t *testing.T) {
	e := newTestEngine(t, false)
	self, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		hc   container.HostConfig
		same bool
	}{
		{"private", container.HostConfig{}, false},
		{"host", container.HostConfig{PidMode: "host"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := create(t, e, "", container.Config{}, tc.hc, "sleep", "1000")
			if err := e.ContainerStart(ctx(t), id); err != nil {
				t.Fatal(err)
			}
			ns, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(inspect(t, e, id).State.Pid), "ns", "pid"))
			if err != nil {
				t.Fatal(err)
			}
			if (ns == self) != tc.same {
				t.Errorf("container pid namespace %s, ours %s", ns, self)
			}
		})
	}
}

func TestContainerLogNone(t *testing.T) {
	e := newTestEngine(t, false)
	id, code := run(t, e, container.Config{}, container.HostConfig{LogConfig: container.LogConfig{Type: "none"}}, "echo", "unlogged")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	ins := inspect(t, e, id)
	if ins.LogPath != "" || ins.HostConfig.LogConfig.Type != "none" {
		t.Errorf("LogPath %q, log config %+v", ins.LogPath, ins.HostConfig.LogConfig)
	}
	ents, _ := os.ReadDir(filepath.Join(e.opts.Root, "containers", id))
	for _, ent := range ents {
		if strings.Contains(ent.Name(), "json.log") {
			t.Errorf("a log was written: %s", ent.Name())
		}
	}
}

func TestContainerResize(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "", container.Config{Tty: true, OpenStdin: true}, container.HostConfig{}, "sh", "-c", "read x; stty size")
	if err := e.ContainerResize(ctx(t), id, 30, 100); KindOf(err) != KindConflict {
		t.Errorf("resize a created container: %v", err)
	}
	s, err := e.ContainerAttach(ctx(t), id, AttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerResize(ctx(t), id, 30, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	if out := readAll(t, s); !strings.Contains(string(out), "30 100") {
		t.Errorf("stty size after the resize: %q", out)
	}
}

func TestContainerListAndRename(t *testing.T) {
	e := newTestEngine(t, false)
	up := create(t, e, "up", container.Config{Labels: map[string]string{"role": "server"}}, container.HostConfig{}, "sleep", "1000")
	if err := e.ContainerStart(ctx(t), up); err != nil {
		t.Fatal(err)
	}
	done, _ := run(t, e, container.Config{}, container.HostConfig{}, "sh", "-c", "exit 2")
	fresh := create(t, e, "fresh", container.Config{}, container.HostConfig{}, "true")
	names := func(o ListOptions) []string {
		t.Helper()
		l, err := e.ContainerList(ctx(t), o)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range l {
			out = append(out, s.Names[0])
		}
		return out
	}
	doneName := inspect(t, e, done).Name
	for _, tc := range []struct {
		name string
		o    ListOptions
		want []string
	}{
		{"running", ListOptions{}, []string{"/up"}},
		{"all, newest first", ListOptions{All: true}, []string{"/fresh", doneName, "/up"}},
		{"limit", ListOptions{Limit: 2}, []string{"/fresh", doneName}},
		{"exited=2", ListOptions{All: true, Filters: Filters{"exited": {"2"}}}, []string{doneName}},
		{"status=created", ListOptions{Filters: Filters{"status": {"created"}}}, []string{"/fresh"}},
		{"label", ListOptions{All: true, Filters: Filters{"label": {"role=server"}}}, []string{"/up"}},
		{"ancestor", ListOptions{All: true, Filters: Filters{"ancestor": {"busybox"}}}, []string{"/fresh", doneName, "/up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(tc.o); !slices.Equal(got, tc.want) {
				t.Errorf("names %v, want %v", got, tc.want)
			}
		})
	}
	l, _ := e.ContainerList(ctx(t), ListOptions{})
	if s := l[0]; !strings.HasPrefix(s.Status, "Up ") || s.State != container.StateRunning || s.Command != "sleep 1000" ||
		s.Image != "busybox" || s.Labels["role"] != "server" || s.Ports == nil {
		t.Errorf("summary %+v", s)
	}
	if _, err := e.ContainerList(ctx(t), ListOptions{Filters: Filters{"bogus": {"1"}}}); err == nil || err.Error() != "invalid filter 'bogus'" {
		t.Errorf("unknown filter: %v", err)
	}

	t.Run("rename", func(t *testing.T) {
		if err := e.ContainerRename(ctx(t), "fresh", "renamed"); err != nil {
			t.Fatal(err)
		}
		if ins := inspect(t, e, fresh); ins.Name != "/renamed" {
			t.Errorf("name after rename %q", ins.Name)
		}
		if _, err := e.ContainerInspect(ctx(t), "fresh", false); KindOf(err) != KindNotFound {
			t.Errorf("old name still resolves: %v", err)
		}
		err := e.ContainerRename(ctx(t), "renamed", "up")
		if KindOf(err) != KindConflict || !strings.Contains(err.Error(), `The container name "/up" is already in use by container "`+up+`"`) {
			t.Errorf("rename onto a taken name: %v", err)
		}
		if err := e.ContainerRename(ctx(t), "renamed", "renamed"); KindOf(err) != KindInvalid {
			t.Errorf("rename to the same name: %v", err)
		}
		if err := e.ContainerRename(ctx(t), "renamed", "b@d"); KindOf(err) != KindInvalid {
			t.Errorf("rename to a bad name: %v", err)
		}
		// The old name is free again.
		create(t, e, "fresh", container.Config{}, container.HostConfig{}, "true")
	})
}

func TestContainerAutoRemove(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "", container.Config{}, container.HostConfig{AutoRemove: true}, "sh", "-c", "exit 4")
	res, errc := e.ContainerWait(ctx(t), id, container.WaitConditionRemoved)
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, errc, 4, "exit")
	if left := leftovers(t, e); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestContainerStartFailure(t *testing.T) {
	e := newTestEngine(t, false)
	for _, tc := range []struct {
		name     string
		attached bool // the CLI's foreground run: attach, then start
	}{
		{"detached", false},
		{"attached", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := create(t, e, "", container.Config{}, container.HostConfig{}, "nosuchcommand")
			if tc.attached {
				s, err := e.ContainerAttach(ctx(t), id, AttachOptions{Stream: true, Stdout: true, Stderr: true})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			}
			err := e.ContainerStart(ctx(t), id)
			if err == nil || KindOf(err) != KindInvalid {
				t.Fatalf("start: %v (kind %v)", err, KindOf(err))
			}
			t.Logf("start error: %v", err)
			ins := inspect(t, e, id)
			if ins.State.Status != container.StateCreated || ins.State.ExitCode != 127 || ins.State.Error == "" || ins.State.Running {
				t.Errorf("state after a failed start %+v", ins.State)
			}
			if ms := mountsUnder(t, e.opts.Root); len(ms) > 0 {
				t.Errorf("mounted after a failed start: %v", ms)
			}
			if alive := monitor.Alive(filepath.Join(e.opts.ExecRoot, id)); alive {
				t.Error("a monitor answers after a failed start")
			}
		})
	}
}

func TestContainerWaitConditions(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "", container.Config{}, container.HostConfig{}, "sh", "-c", "exit 5")
	// not-running on a created container answers at once.
	res, errc := e.ContainerWait(ctx(t), id, "")
	wantExit(t, res, errc, 0, "not-running of a created container")
	if _, errc := e.ContainerWait(ctx(t), id, "sometime"); KindOf(<-errc) != KindInvalid {
		t.Error("a bad condition is accepted")
	}
	if _, errc := e.ContainerWait(ctx(t), "nosuch", ""); KindOf(<-errc) != KindNotFound {
		t.Error("waiting for a missing container")
	}
	next, nexterr := e.ContainerWait(ctx(t), id, container.WaitConditionNextExit)
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	wantExit(t, next, nexterr, 5, "next-exit")
}

func TestContainerUpdate(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "", container.Config{}, container.HostConfig{}, "sleep", "1000")
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	_, err := e.ContainerUpdate(ctx(t), id, container.UpdateConfig{
		Resources:     container.Resources{Memory: 64 << 20},
		RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	ins := inspect(t, e, id)
	if ins.HostConfig.Memory != 64<<20 || ins.HostConfig.RestartPolicy.Name != "on-failure" || ins.HostConfig.RestartPolicy.MaximumRetryCount != 3 {
		t.Errorf("host config after update %+v", ins.HostConfig.RestartPolicy)
	}
	if _, err := e.ContainerUpdate(ctx(t), id, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: "maybe"}}); KindOf(err) != KindInvalid {
		t.Errorf("bad restart policy: %v", err)
	}
}

func TestContainersPrune(t *testing.T) {
	e := newTestEngine(t, false)
	up := create(t, e, "up", container.Config{}, container.HostConfig{}, "sleep", "1000")
	if err := e.ContainerStart(ctx(t), up); err != nil {
		t.Fatal(err)
	}
	keep := create(t, e, "keep", container.Config{Labels: map[string]string{"keep": "yes"}}, container.HostConfig{}, "true")
	gone, _ := run(t, e, container.Config{}, container.HostConfig{}, "true")
	if _, err := e.ContainersPrune(ctx(t), Filters{"colour": {"x"}}); KindOf(err) != KindInvalid {
		t.Errorf("unknown prune filter: %v", err)
	}
	rep, err := e.ContainersPrune(ctx(t), Filters{"label!": {"keep"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.ContainersDeleted, []string{gone}) {
		t.Errorf("pruned %v, want %v", rep.ContainersDeleted, []string{gone})
	}
	for _, id := range []string{up, keep} {
		inspect(t, e, id)
	}
}

func TestContainerAttachBeforeStart(t *testing.T) {
	e := newTestEngine(t, false)
	for _, tc := range []struct {
		name string
		tty  bool
	}{
		{"streams", false},
		{"tty", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := create(t, e, "", container.Config{Tty: tc.tty}, container.HostConfig{}, "sh", "-c", "echo first; echo second >&2")
			s, err := e.ContainerAttach(ctx(t), id, AttachOptions{Stream: true, Stdout: true, Stderr: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			res, errc := e.ContainerWait(ctx(t), id, container.WaitConditionNextExit)
			if err := e.ContainerStart(ctx(t), id); err != nil {
				t.Fatal(err)
			}
			out := readAll(t, s)
			if tc.tty {
				if got := strings.ReplaceAll(string(out), "\r\n", "\n"); got != "first\nsecond\n" {
					t.Errorf("tty output %q", out)
				}
			} else if stdout, stderr := demux(t, out); stdout != "first\n" || stderr != "second\n" {
				t.Errorf("stdout %q stderr %q", stdout, stderr)
			}
			wantExit(t, res, errc, 0, "exit")
		})
	}
}

func TestContainerAttachStdin(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "", container.Config{OpenStdin: true, StdinOnce: true, AttachStdin: true}, container.HostConfig{}, "cat")
	s, err := e.ContainerAttach(ctx(t), id, AttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("echo me\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if stdout, _ := demux(t, readAll(t, s)); stdout != "echo me\n" {
		t.Errorf("cat gave %q", stdout)
	}
}

func TestContainerInit(t *testing.T) {
	e := newTestEngine(t, false)
	yes := true
	id := create(t, e, "", container.Config{}, container.HostConfig{Init: &yes}, "ps", "-o", "pid,args")
	s, err := e.ContainerAttach(ctx(t), id, AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := demux(t, readAll(t, s))
	var pid1 string
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "1" {
			pid1 = strings.Join(f[1:], " ")
		}
	}
	if !strings.HasPrefix(pid1, "/sbin/docker-init") {
		t.Errorf("PID 1 is %q; ps said %q %q", pid1, stdout, stderr)
	}
	if ins := inspect(t, e, id); ins.Path != "ps" {
		t.Errorf("Path %q: the init is not the user's command", ins.Path)
	}
}

// TestRestartPolicies: a daemon restarts on-failure:2 twice and gives
// up; an always container whose init is killed from outside comes back.
func TestRestartPolicies(t *testing.T) {
	e := newTestEngine(t, true)
	t.Run("on-failure:2", func(t *testing.T) {
		id := create(t, e, "", container.Config{}, container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}},
			"sh", "-c", "exit 1")
		if err := e.ContainerStart(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "two restarts and the end", func() bool {
			ins := inspect(t, e, id)
			return ins.RestartCount == 2 && ins.State.Status == container.StateExited
		})
		ins := inspect(t, e, id)
		if ins.State.ExitCode != 1 {
			t.Errorf("exit code %d", ins.State.ExitCode)
		}
		time.Sleep(500 * time.Millisecond) // a third restart would be due by now
		if again := inspect(t, e, id); again.RestartCount != 2 || again.State.Status != container.StateExited {
			t.Errorf("restarted again: %d %s", again.RestartCount, again.State.Status)
		}
	})
	t.Run("always", func(t *testing.T) {
		id := create(t, e, "", container.Config{}, container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always"}}, "sleep", "1000")
		if err := e.ContainerStart(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		first := inspect(t, e, id).State.Pid
		if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the container back", func() bool {
			ins := inspect(t, e, id)
			return ins.State.Status == container.StateRunning && ins.State.Pid != first
		})
		if ins := inspect(t, e, id); ins.RestartCount != 1 {
			t.Errorf("after the restart: count %d", ins.RestartCount)
		}
		// Stopped by the user, it stays stopped.
		zero := 0
		if err := e.ContainerStop(ctx(t), id, StopOptions{Timeout: &zero}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if ins := inspect(t, e, id); ins.State.Status != container.StateExited {
			t.Errorf("restarted after a stop: %+v", ins.State)
		}
	})
}

// TestLiveRestore: a daemon closes (as when it stops) with containers
// running; one is killed meanwhile; the next daemon finds the others
// running, the killed one exited 137, and watches what it adopted.
func TestLiveRestore(t *testing.T) {
	o := testOptions(t, true)
	e1, err := Open(ctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	always := container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always"}}
	pids, ids := map[string]int{}, map[string]string{}
	for name, hc := range map[string]container.HostConfig{"stays": {}, "killed": {}, "phoenix": always} {
		id := create(t, e1, name, container.Config{}, hc, "sleep", "1000")
		if err := e1.ContainerStart(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		pids[name], ids[name] = inspect(t, e1, id).State.Pid, id
	}
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	// While no daemon runs, two containers are killed.
	for _, name := range []string{"killed", "phoenix"} {
		if err := syscall.Kill(pids[name], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the killed containers' monitors to end", func() bool {
		return !monitor.Alive(filepath.Join(o.ExecRoot, ids["killed"])) && !monitor.Alive(filepath.Join(o.ExecRoot, ids["phoenix"]))
	})
	e2 := openTest(t, o, true)
	if ins := inspect(t, e2, "stays"); ins.State.Status != container.StateRunning || ins.State.Pid != pids["stays"] {
		t.Errorf("stays: %+v", ins.State)
	}
	if ins := inspect(t, e2, "killed"); ins.State.Status != container.StateExited || ins.State.ExitCode != 137 {
		t.Errorf("killed: %+v", ins.State)
	}
	// --restart=always: the new daemon brings it back.
	waitFor(t, "phoenix to come back", func() bool {
		ins := inspect(t, e2, "phoenix")
		return ins.State.Status == container.StateRunning && ins.State.Pid != pids["phoenix"]
	})
	// Adopted: its end is seen by the new daemon.
	res, errc := e2.ContainerWait(ctx(t), "stays", container.WaitConditionNextExit)
	if err := syscall.Kill(pids["stays"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, errc, 137, "adopted container")
}

func TestDaemonLock(t *testing.T) {
	o := testOptions(t, true)
	openTest(t, o, false)
	_, err := Open(ctx(t), o)
	if want := "another berth daemon is running on " + o.Root; err == nil || err.Error() != want {
		t.Errorf("second daemon: %v, want %q", err, want)
	}
}

// TestDaemonlessAdoption: containers started by a daemonless engine (the
// CLI's) run on after it; a later daemonless engine sees one that ended
// meanwhile as exited, and a daemon started later adopts the other.
func TestDaemonlessAdoption(t *testing.T) {
	o := testOptions(t, false)
	cli, err := Open(ctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	short := create(t, cli, "short", container.Config{}, container.HostConfig{}, "sh", "-c", "sleep 0.2; exit 6")
	long := create(t, cli, "long", container.Config{}, container.HostConfig{}, "sleep", "1000")
	for _, id := range []string{short, long} {
		if err := cli.ContainerStart(ctx(t), id); err != nil {
			t.Fatal(err)
		}
	}
	cli.Close()
	waitFor(t, "the short container's monitor to end", func() bool {
		return !monitor.Alive(filepath.Join(o.ExecRoot, short))
	})
	cli2 := openTest(t, o, false)
	if ins := inspect(t, cli2, "short"); ins.State.Status != container.StateExited || ins.State.ExitCode != 6 {
		t.Errorf("short, seen by the next CLI: %+v", ins.State)
	}
	if ms := mountsUnder(t, filepath.Join(o.Root, "containers", short)); len(ms) > 0 {
		t.Errorf("the ended container is still mounted: %v", ms)
	}
	cli2.Close()
	d := o
	d.Daemon = true
	daemon := openTest(t, d, true)
	ins := inspect(t, daemon, "long")
	if ins.State.Status != container.StateRunning {
		t.Fatalf("long, seen by the daemon: %+v", ins.State)
	}
	res, errc := daemon.ContainerWait(ctx(t), "long", container.WaitConditionNextExit)
	if err := syscall.Kill(ins.State.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, errc, 137, "exit")
}

// TestContainerEvents: a container's life in docker's events, with the
// attributes docker gives them.
func TestContainerEvents(t *testing.T) {
	e := newTestEngine(t, false)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	msgs, errc := e.Events(c, EventsOptions{Filters: Filters{"type": {"container"}}})
	id, _ := run(t, e, container.Config{Labels: map[string]string{"team": "core"}}, container.HostConfig{}, "sh", "-c", "exit 2")
	old := inspect(t, e, id).Name
	if err := e.ContainerRename(ctx(t), id, "evented"); err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerRemove(ctx(t), id, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	attrs := map[string]map[string]string{}
	for len(got) == 0 || got[len(got)-1] != "destroy" {
		select {
		case m := <-msgs:
			if m.Actor.ID == id {
				got = append(got, string(m.Action))
				attrs[string(m.Action)] = m.Actor.Attributes
			}
		case err := <-errc:
			t.Fatal(err)
		case <-c.Done():
			t.Fatalf("events so far %v", got)
		}
	}
	if want := []string{"create", "start", "die", "rename", "destroy"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if a := attrs["die"]; a["exitCode"] != "2" || a["name"] != strings.TrimPrefix(old, "/") || a["image"] != "busybox" || a["team"] != "core" {
		t.Errorf("die attributes %v", a)
	}
	if a := attrs["rename"]; a["oldName"] != old || a["name"] != "evented" {
		t.Errorf("rename attributes %v", a)
	}
}

// wantExit waits for a ContainerWait's answer and checks its exit code.
func wantExit(t *testing.T, res <-chan container.WaitResponse, errc <-chan error, want int64, what string) {
	t.Helper()
	select {
	case r := <-res:
		if r.StatusCode != want {
			t.Errorf("%s: exit %d, want %d", what, r.StatusCode, want)
		}
	case err := <-errc:
		t.Fatal(err)
	}
}

// A working directory the image lacks is made at start, as docker does.
func TestContainerWorkdirCreated(t *testing.T) {
	e := newTestEngine(t, false)
	id, code := run(t, e, container.Config{WorkingDir: "/new/work"}, container.HostConfig{NetworkMode: "none"}, "pwd")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, logsOf(t, e, id))
	}
	if out := strings.TrimSpace(logsOf(t, e, id)); out != "/new/work" {
		t.Errorf("pwd: %q", out)
	}
}
