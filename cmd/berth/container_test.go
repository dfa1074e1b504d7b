package main

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"

	"github.com/berth-project/berth/engine"
)

// TestContainerCommands: each command's flags become the API call, its
// output is docker's, and a failure on one of several containers prints
// the daemon's error and exits 1 after doing the others.
func TestContainerCommands(t *testing.T) {
	missing := engine.NotFound("No such container: nope")
	tests := []struct {
		name   string
		args   []string
		errs   map[string]error
		code   int
		stdout string
		stderr string
		check  func(t *testing.T, f *fakeAPI)
	}{
		{"stop", []string{"stop", "-t", "5", "-s", "SIGINT", "a", "b"}, nil, 0, "a\nb\n", "", func(t *testing.T, f *fakeAPI) {
			want := engine.StopOptions{Signal: "SIGINT", Timeout: intp(5)}
			if !reflect.DeepEqual(f.stopOpts, []engine.StopOptions{want, want}) {
				t.Errorf("stop options %+v", f.stopOpts)
			}
		}},
		{"stop default timeout", []string{"stop", "a"}, nil, 0, "a\n", "", func(t *testing.T, f *fakeAPI) {
			if f.stopOpts[0].Timeout != nil {
				t.Errorf("timeout set without -t: %d", *f.stopOpts[0].Timeout)
			}
		}},
		{"stop missing", []string{"stop", "nope", "a"}, map[string]error{"ContainerStop nope": missing}, 1, "a\n",
			"Error response from daemon: No such container: nope\n", nil},
		{"restart", []string{"restart", "--timeout", "0", "a"}, nil, 0, "a\n", "", func(t *testing.T, f *fakeAPI) {
			if *f.stopOpts[0].Timeout != 0 {
				t.Errorf("timeout %d", *f.stopOpts[0].Timeout)
			}
		}},
		{"kill", []string{"kill", "-s", "HUP", "a"}, nil, 0, "a\n", "", func(t *testing.T, f *fakeAPI) {
			if f.killSigs[0] != "HUP" {
				t.Errorf("signal %q", f.killSigs[0])
			}
		}},
		{"rm", []string{"rm", "-f", "-v", "a"}, nil, 0, "a\n", "", func(t *testing.T, f *fakeAPI) {
			if f.removeOpts[0] != (engine.RemoveOptions{Force: true, RemoveVolumes: true}) {
				t.Errorf("remove options %+v", f.removeOpts[0])
			}
		}},
		{"container rm", []string{"container", "rm", "nope"}, map[string]error{"ContainerRemove nope": missing}, 1, "",
			"Error response from daemon: No such container: nope\n", nil},
		{"start", []string{"start", "a", "nope"}, map[string]error{"ContainerStart nope": missing}, 1, "a\n",
			"Error response from daemon: No such container: nope\nError: failed to start containers: nope\n", nil},
		{"pause unpause", []string{"pause", "a"}, nil, 0, "a\n", "", nil},
		{"unpause", []string{"container", "unpause", "a"}, nil, 0, "a\n", "", nil},
		{"rename", []string{"rename", "a", "b"}, nil, 0, "", "", func(t *testing.T, f *fakeAPI) {
			if f.calls[0] != "ContainerRename a b" {
				t.Errorf("calls %v", f.calls)
			}
		}},
		{"wait", []string{"wait", "a", "b"}, nil, 0, "7\n7\n", "", func(t *testing.T, f *fakeAPI) {
			if f.waitConds[0] != container.WaitConditionNotRunning {
				t.Errorf("condition %q", f.waitConds[0])
			}
		}},
		{"wait missing", []string{"wait", "nope"}, map[string]error{"ContainerWait nope": missing}, 1, "",
			"Error response from daemon: No such container: nope\n", nil},
		{"top", []string{"top", "a", "-o", "pid,comm"}, nil, 0,
			"PID                 COMMAND\n1                   sh\n", "", func(t *testing.T, f *fakeAPI) {
				if f.topArgs[0] != "-o pid,comm" {
					t.Errorf("ps args %q", f.topArgs[0])
				}
			}},
		{"diff", []string{"diff", "a"}, nil, 0, "C /etc\nA /etc/new\nD /gone\n", "", nil},
		{"update", []string{"update", "--restart", "always", "-m", "1g", "--cpus", "2", "--pids-limit", "10", "a"}, nil, 0, "a\n", "",
			func(t *testing.T, f *fakeAPI) {
				u := f.updates[0]
				if u.RestartPolicy.Name != "always" || u.Memory != 1<<30 || u.NanoCPUs != 2e9 || *u.PidsLimit != 10 {
					t.Errorf("update %+v", u)
				}
			}},
		{"update nothing", []string{"update", "a"}, nil, 1, "", "you must provide one or more flags when using this command\n", nil},
		{"export", []string{"export", "a"}, nil, 0, "tar of a", "", nil},
		{"container prune", []string{"container", "prune", "-f"}, nil, 0,
			"Deleted Containers:\nx1\nx2\n\nTotal reclaimed space: 1.5kB\n", "", nil},
		{"container prune refused", []string{"container", "prune"}, nil, 0,
			"WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ", "", func(t *testing.T, f *fakeAPI) {
				if len(f.calls) != 0 {
					t.Errorf("pruned without a yes: %v", f.calls)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{errs: tt.errs, waitStatus: 7,
				top:             container.TopResponse{Titles: []string{"PID", "COMMAND"}, Processes: [][]string{{"1", "sh"}}},
				changes:         []container.FilesystemChange{{Kind: container.ChangeModify, Path: "/etc"}, {Kind: container.ChangeAdd, Path: "/etc/new"}, {Kind: container.ChangeDelete, Path: "/gone"}},
				pruneContainers: container.PruneReport{ContainersDeleted: []string{"x1", "x2"}, SpaceReclaimed: 1500},
			}
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestImageCommands(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stdin  string
		errs   map[string]error
		code   int
		stdout string
		stderr string
	}{
		{"rmi", []string{"rmi", "a"}, "", nil, 0, "Untagged: a:latest\nDeleted: sha256:1\n", ""},
		{"rmi conflict", []string{"image", "rm", "b", "a"}, "", map[string]error{"ImageRemove b": engine.Conflict("conflict: unable to delete 111111111111 (must be forced) - image is referenced in multiple repositories")},
			1, "Untagged: a:latest\nDeleted: sha256:1\n",
			"Error response from daemon: conflict: unable to delete 111111111111 (must be forced) - image is referenced in multiple repositories\n"},
		{"tag", []string{"tag", "a", "b:2"}, "", nil, 0, "", ""},
		{"image prune", []string{"image", "prune", "-f"}, "", nil, 0, "Deleted Images:\nuntagged: a:latest\ndeleted: sha256:1\n\nTotal reclaimed space: 2MB\n", ""},
		{"image prune asks", []string{"image", "prune", "-a"}, "yes\n", nil, 0,
			"WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] " +
				"Deleted Images:\nuntagged: a:latest\ndeleted: sha256:1\n\nTotal reclaimed space: 2MB\n", ""},
		{"system prune", []string{"system", "prune", "-f"}, "", nil, 0,
			"Deleted Containers:\nx1\n\nDeleted Images:\nuntagged: a:latest\ndeleted: sha256:1\n\nTotal reclaimed space: 2MB\n", ""},
		{"save", []string{"save", "a", "b"}, "", nil, 0, "tar of a,b", ""},
		{"load", []string{"load"}, "archive bytes", nil, 0, "Loaded image: a:latest\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{errs: tt.errs,
				removed:         []image.DeleteResponse{{Untagged: "a:latest"}, {Deleted: "sha256:1"}},
				pruneImages:     image.PruneReport{ImagesDeleted: []image.DeleteResponse{{Untagged: "a:latest"}, {Deleted: "sha256:1"}}, SpaceReclaimed: 2000000},
				pruneContainers: container.PruneReport{ContainersDeleted: []string{"x1"}},
				pullBody:        `{"stream":"Loaded image: a:latest\n"}` + "\n",
			}
			r := berth(t, f, tt.stdin, tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
			if tt.name == "load" && f.calls[0] != "ImageLoad archive bytes" {
				t.Errorf("calls %v", f.calls)
			}
			if strings.Contains(tt.name, "prune") && len(f.pruneFilters) > 0 {
				want := "true"
				if strings.Contains(strings.Join(tt.args, " "), "-a") {
					want = "false"
				}
				if got := f.pruneFilters[len(f.pruneFilters)-1]["dangling"]; len(got) != 1 || got[0] != want {
					t.Errorf("dangling filter %v, want %s", got, want)
				}
			}
		})
	}
}

// TestPullPush: docker's pull output (the default tag, the stream, the
// reference) and errors; push -q prints the name only.
func TestPullPush(t *testing.T) {
	body := `{"status":"Pulling from library/busybox","id":"latest"}` + "\n" +
		`{"status":"Pull complete","id":"abcdef012345"}` + "\n" +
		`{"status":"Digest: sha256:1"}` + "\n"
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		ref    string
	}{
		{"default tag", []string{"pull", "busybox"}, 0, "Using default tag: latest\nlatest: Pulling from library/busybox\nabcdef012345: Pull complete\nDigest: sha256:1\ndocker.io/library/busybox:latest\n", "", "docker.io/library/busybox:latest"},
		{"quiet", []string{"pull", "-q", "busybox:1.36"}, 0, "docker.io/library/busybox:1.36\n", "", "docker.io/library/busybox:1.36"},
		{"all tags", []string{"pull", "-a", "-q", "localhost:5000/team/app"}, 0, "localhost:5000/team/app\n", "", "localhost:5000/team/app"},
		{"all tags with tag", []string{"pull", "-a", "busybox:1"}, 1, "", "tag can't be used with --all-tags/-a\n", ""},
		{"bad reference", []string{"pull", "Busybox"}, 1, "", "invalid reference format: repository name (library/Busybox) must be lowercase\n", ""},
		{"push quiet", []string{"push", "-q", "localhost:5000/team/app"}, 0, "localhost:5000/team/app:latest\n", "", ""},
		{"push all with tag", []string{"push", "-a", "localhost:5000/team/app:v1"}, 1, "", "tag can't be used with --all-tags/-a\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{pullBody: body}
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
			if tt.ref != "" && (len(f.pulls) != 1 || f.pulls[0] != tt.ref) {
				t.Errorf("pulled %v, want %s", f.pulls, tt.ref)
			}
		})
	}
	// An error in the stream fails the pull with its message.
	f := &fakeAPI{pullBody: `{"status":"Pulling fs layer","id":"abc"}` + "\n" + `{"errorDetail":{"message":"digest mismatch"},"error":"digest mismatch"}` + "\n"}
	if r := berth(t, f, "", "pull", "busybox:1"); r.code != 1 || r.stderr != "digest mismatch\n" {
		t.Errorf("stream error: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestLogs(t *testing.T) {
	f := &fakeAPI{
		inspect: map[string]container.InspectResponse{
			"web": {ID: fullID, Config: &container.Config{}},
			"tty": {ID: "tty-id", Config: &container.Config{Tty: true}},
		},
		logs: framed(t, 1, "out\n", 2, "err\n"),
	}
	r := berth(t, f, "", "logs", "-f", "-t", "-n", "5", "--details", "--since", "1700000000", "web")
	if r.code != 0 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	want := engine.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true, Tail: "5", Details: true, Since: "1700000000"}
	if !reflect.DeepEqual(f.logsOpts[0], want) {
		t.Errorf("options %+v, want %+v", f.logsOpts[0], want)
	}
	// A TTY container's log is raw.
	f.logs = []byte("raw\r\n")
	if r := berth(t, f, "", "logs", "tty"); r.stdout != "raw\r\n" || f.logsOpts[1].Tail != "all" {
		t.Errorf("tty logs %q, options %+v", r.stdout, f.logsOpts[1])
	}
	if r := berth(t, f, "", "logs", "nope"); r.code != 1 || r.stderr != "Error response from daemon: No such container: nope\n" {
		t.Errorf("missing: exit %d, %q", r.code, r.stderr)
	}
}

func TestExec(t *testing.T) {
	f := &fakeAPI{
		inspect:  map[string]container.InspectResponse{"web": {ID: fullID, Config: &container.Config{}}},
		execOut:  framed(t, 1, "hi\n"),
		execCode: 42,
	}
	r := berth(t, f, "", "exec", "-e", "A=1", "-u", "nobody", "-w", "/tmp", "--privileged", "web", "sh", "-c", "exit 42")
	if r.code != 42 || r.stdout != "hi\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	want := container.ExecCreateRequest{User: "nobody", Privileged: true, AttachStdout: true, AttachStderr: true,
		Env: []string{"A=1"}, WorkingDir: "/tmp", Cmd: []string{"sh", "-c", "exit 42"}}
	if !reflect.DeepEqual(f.execReqs[0], want) {
		t.Errorf("exec request %+v, want %+v", f.execReqs[0], want)
	}
	f.calls = nil
	if r := berth(t, f, "", "exec", "-d", "web", "sleep", "9"); r.code != 0 || r.stdout != "" {
		t.Errorf("exec -d: exit %d, %q", r.code, r.stdout)
	}
	if got := f.execReqs[1]; got.AttachStdout || got.AttachStderr {
		t.Errorf("exec -d attaches: %+v", got)
	}
	if r := berth(t, f, "", "exec", "nope", "true"); r.code != 1 || r.stderr != "Error response from daemon: No such container: nope\n" {
		t.Errorf("exec on a missing container: exit %d, %q", r.code, r.stderr)
	}
	if r := berth(t, f, "", "exec", "web"); r.code != 1 || !strings.Contains(r.stderr, "requires at least 2 arguments") {
		t.Errorf("exec without a command: exit %d, %q", r.code, r.stderr)
	}
}

// TestStartAttached: start -a attaches, waits, starts and exits with the
// status; attach refuses a stopped container.
func TestStartAttached(t *testing.T) {
	f := &fakeAPI{
		inspect: map[string]container.InspectResponse{
			"web":     {ID: fullID, Config: &container.Config{OpenStdin: true}, HostConfig: &container.HostConfig{}, State: &container.State{}},
			"stopped": {ID: "s", Config: &container.Config{}, State: &container.State{Status: "exited"}},
		},
		attachOut:  framed(t, 1, "hello\n"),
		waitStatus: 2,
	}
	r := berth(t, f, "input", "start", "-ai", "web")
	if r.code != 2 || r.stdout != "hello\n" {
		t.Errorf("start -ai: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if o := f.attachOpts[0]; !o.Stdin || !o.Stdout || !o.Stderr || !o.Stream {
		t.Errorf("attach options %+v", o)
	}
	wantCalls := []string{"ContainerInspect web", "ContainerAttach " + fullID, "ContainerWait " + fullID, "ContainerStart " + fullID}
	if !reflect.DeepEqual(f.calls, wantCalls) {
		t.Errorf("calls %q, want %q", f.calls, wantCalls)
	}
	if r := berth(t, f, "", "start", "-a", "web", "stopped"); r.code != 1 || r.stderr != "you cannot start and attach multiple containers at once\n" {
		t.Errorf("start -a two: exit %d, %q", r.code, r.stderr)
	}
	if r := berth(t, f, "", "attach", "stopped"); r.code != 1 || r.stderr != "You cannot attach to a stopped container, start it first\n" {
		t.Errorf("attach stopped: exit %d, %q", r.code, r.stderr)
	}
}

func TestStats(t *testing.T) {
	f := &fakeAPI{list: []container.Summary{{ID: "web"}}}
	r := berth(t, f, "", "stats", "--no-stream")
	want := "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O         BLOCK I/O       PIDS\n" +
		"web000000000   web       40.00%    2MiB / 8MiB         25.00%    1.5kB / 500B    4.1kB / 1.02kB   3\n"
	if r.code != 0 || collapse(r.stdout) != collapse(want) {
		t.Errorf("exit %d, stderr %q, stdout\n%s\nwant\n%s", r.code, r.stderr, r.stdout, want)
	}
	r = berth(t, f, "", "stats", "--no-stream", "--format", "{{.Container}} {{.CPUPerc}} {{.PIDs}}", "web")
	if r.stdout != "web 40.00% 3\n" {
		t.Errorf("stats --format: %q", r.stdout)
	}
	f.errs = map[string]error{"ContainerStats nope": engine.NotFound("No such container: nope")}
	if r := berth(t, f, "", "stats", "--no-stream", "nope"); r.code != 1 || r.stderr != "Error response from daemon: No such container: nope\n" {
		t.Errorf("stats of a missing container: exit %d, %q", r.code, r.stderr)
	}
}

func TestCpArgs(t *testing.T) {
	tests := []struct {
		src, dst string
		want     cpJob
		err      string
	}{
		{"web:/etc/hosts", "/tmp/hosts", cpJob{ctr: "web", ctrPath: "/etc/hosts", local: "/tmp/hosts", fromContainer: true}, ""},
		{"web:/etc", "-", cpJob{ctr: "web", ctrPath: "/etc", local: "-", fromContainer: true}, ""},
		{"./a:b", "web:/tmp", cpJob{ctr: "web", ctrPath: "/tmp", local: "./a:b"}, ""},
		{"-", "web:/tmp", cpJob{ctr: "web", ctrPath: "/tmp", local: "-"}, ""},
		{"/abs/with:colon", "web:/", cpJob{ctr: "web", ctrPath: "/", local: "/abs/with:colon"}, ""},
		{"a:/x", "b:/y", cpJob{}, "copying between containers is not supported"},
		{"here", "there", cpJob{}, "must specify at least one container source"},
		{"web:", "/tmp", cpJob{}, "source can not be empty"},
		{"/tmp/x", "web:", cpJob{}, "destination can not be empty"},
	}
	for _, tt := range tests {
		got, err := parseCpArgs(tt.src, tt.dst)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("cp %s %s: %v, want %q", tt.src, tt.dst, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("cp %s %s: %+v, %v; want %+v", tt.src, tt.dst, got, err, tt.want)
		}
	}
}

func TestRebaseEntry(t *testing.T) {
	tests := []struct{ entry, root, name, want string }{
		{"etc", "etc", "conf", "conf"},
		{"etc/", "etc", "conf", "conf/"},
		{"etc/hosts", "etc", "conf", "conf/hosts"},
		{"./etc/hosts", "etc", "conf", "conf/hosts"},
		{"etc/hosts", "etc", "", "hosts"},
		{"etc", "etc", "", ""},
		{"other", "etc", "conf", "other"},
	}
	for _, tt := range tests {
		if got := rebaseEntry(tt.entry, tt.root, tt.name); got != tt.want {
			t.Errorf("rebaseEntry(%q, %q, %q) = %q, want %q", tt.entry, tt.root, tt.name, got, tt.want)
		}
	}
}

func TestDetachKeys(t *testing.T) {
	keys, err := parseDetachKeys("ctrl-p,ctrl-q")
	if err != nil || !bytes.Equal(keys, []byte{16, 17}) {
		t.Fatalf("ctrl-p,ctrl-q: %v, %v", keys, err)
	}
	if k, err := parseDetachKeys("a,ctrl-@,ctrl-["); err != nil || !bytes.Equal(k, []byte{'a', 0, 27}) {
		t.Errorf("a,ctrl-@,ctrl-[: %v, %v", k, err)
	}
	if _, err := parseDetachKeys("ctrl-ü"); err == nil {
		t.Error("ctrl-ü parsed")
	}
	tests := []struct {
		in       string
		out      string
		detached bool
	}{
		{"hello", "hello", false},
		{"ab\x10\x11cd", "ab", true},
		{"a\x10b\x10\x11", "a\x10b", true},
		{"\x10\x10\x11", "\x10", true},
		{"x\x10", "x\x10", false},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		_, err := io.Copy(&out, &escapeReader{r: &oneByte{s: tt.in}, keys: keys})
		if out.String() != tt.out || errors.Is(err, errDetached) != tt.detached {
			t.Errorf("%q: read %q, %v; want %q, detached %v", tt.in, out.String(), err, tt.out, tt.detached)
		}
	}
}

// oneByte reads a byte at a time, as a terminal gives keys; at the end a
// partial sequence is flushed by io.Copy's EOF.
type oneByte struct {
	s string
	i int
}

func (o *oneByte) Read(p []byte) (int, error) {
	if o.i >= len(o.s) {
		return 0, io.EOF
	}
	p[0] = o.s[o.i]
	o.i++
	return 1, nil
}
