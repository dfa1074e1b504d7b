package engine

import (
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1", "B=2"}, []string{"A=3", "B", "C=4", "D"})
	if want := []string{"PATH=/bin", "A=3", "C=4"}; !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

// TestExecStreamDetach writes through an exec stream's detach-key filter.
func TestExecStreamDetach(t *testing.T) {
	for _, tc := range []struct {
		name     string
		writes   []string
		stdin    string
		detached bool
	}{
		{"plain", []string{"hello\n"}, "hello\n", false},
		{"keys", []string{"ab\x10\x11cd"}, "ab", true},
		{"keys split over writes", []string{"ab\x10", "\x11cd"}, "ab", true},
		{"half a sequence is passed on", []string{"a\x10b\x10\x10"}, "a\x10b\x10", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			pr, pw := io.Pipe()
			defer pw.Close()
			detached := false
			s := &execStream{out: pr, stdin: w, tty: true, keys: []byte{16, 17}, detached: func() { detached = true }}
			for _, wr := range tc.writes {
				if _, err := s.Write([]byte(wr)); err != nil && !detached {
					t.Fatal(err)
				}
			}
			w.Close()
			got, _ := io.ReadAll(r)
			if string(got) != tc.stdin || detached != tc.detached {
				t.Errorf("stdin %q detached %v; want %q %v", got, detached, tc.stdin, tc.detached)
			}
			if detached {
				if _, err := pr.Read(make([]byte, 1)); err == nil {
					t.Error("the stream still reads after the detach")
				}
			}
		})
	}
}

// startSleeper creates and starts a busybox container that sleeps.
func startSleeper(t *testing.T, e *Engine, cfg container.Config) string {
	t.Helper()
	id := create(t, e, "", cfg, container.HostConfig{}, "sleep", "1000")
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatalf("start: %v", err)
	}
	return id
}

// execRun runs an attached exec, writing stdin (closed after) when set,
// and returns its output (demultiplexed unless Tty) and exit code.
func execRun(t *testing.T, e *Engine, id string, req container.ExecCreateRequest, stdin string) (stdout, stderr string, code int) {
	t.Helper()
	req.AttachStdout, req.AttachStderr = true, true
	req.AttachStdin = req.AttachStdin || stdin != ""
	x, err := e.ExecCreate(ctx(t), id, req)
	if err != nil {
		t.Fatalf("exec create: %v", err)
	}
	s, err := e.ExecStart(ctx(t), x.ID, container.ExecStartRequest{Tty: req.Tty, ConsoleSize: req.ConsoleSize})
	if err != nil {
		t.Fatalf("exec start: %v", err)
	}
	if stdin != "" {
		go func() {
			s.Write([]byte(stdin))
			s.CloseWrite()
		}()
	}
	out := readAll(t, s)
	s.Close()
	if req.Tty {
		stdout = string(out)
	} else {
		stdout, stderr = demux(t, out)
	}
	ins, err := e.ExecInspect(ctx(t), x.ID)
	if err != nil {
		t.Fatalf("exec inspect: %v", err)
	}
	if ins.Running || ins.ExitCode == nil || ins.Pid == 0 || ins.ContainerID != id {
		t.Fatalf("exec inspect after its output ended: %+v", ins)
	}
	return stdout, stderr, *ins.ExitCode
}

func TestExec(t *testing.T) {
	e := newTestEngine(t, false)
	id := startSleeper(t, e, container.Config{Env: []string{"FOO=bar"}, User: "berth", WorkingDir: "/tmp"})
	size := [2]uint{33, 101}
	for _, tc := range []struct {
		name        string
		req         container.ExecCreateRequest
		stdin       string
		out, errOut string
		code        int
		outContains []string
	}{
		{name: "exit code and streams", req: container.ExecCreateRequest{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}},
			out: "out\n", errOut: "err\n", code: 3},
		{name: "stdin", req: container.ExecCreateRequest{Cmd: []string{"sh", "-c", "cat; echo done"}}, stdin: "hello\nworld\n",
			out: "hello\nworld\ndone\n"},
		{name: "the container's defaults", req: container.ExecCreateRequest{Cmd: []string{"sh", "-c", "echo $FOO $HOME; id -u; pwd; echo ${TERM:-none}"}},
			out: "bar /home/berth\n1000\n/tmp\nnone\n"},
		{name: "the exec's own settings", req: container.ExecCreateRequest{Cmd: []string{"sh", "-c", "echo $FOO $HOME; id -u; pwd"},
			User: "0", WorkingDir: "/", Env: []string{"FOO=baz"}},
			out: "baz /root\n0\n/\n"},
		{name: "tty", req: container.ExecCreateRequest{Cmd: []string{"sh", "-c", "busybox tty; busybox stty size; echo $TERM; exit 5"}, Tty: true, ConsoleSize: &size},
			outContains: []string{"/dev/pts/", "33 101", "xterm"}, code: 5},
		{name: "tty stdin", req: container.ExecCreateRequest{Cmd: []string{"sh", "-c", "read line; echo got $line"}, Tty: true},
			stdin: "typed\n", outContains: []string{"got typed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := execRun(t, e, id, tc.req, tc.stdin)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (output %q %q)", code, tc.code, out, errOut)
			}
			if tc.outContains == nil && (out != tc.out || errOut != tc.errOut) {
				t.Errorf("output %q %q, want %q %q", out, errOut, tc.out, tc.errOut)
			}
			for _, s := range tc.outContains {
				if !strings.Contains(out, s) {
					t.Errorf("output %q lacks %q", out, s)
				}
			}
		})
	}

	t.Run("detached", func(t *testing.T) {
		x, err := e.ExecCreate(ctx(t), id, container.ExecCreateRequest{Cmd: []string{"sh", "-c", "echo hi > /tmp/detached; exit 7"}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := e.ExecStart(ctx(t), x.ID, container.ExecStartRequest{Detach: true})
		if err != nil || s != nil {
			t.Fatalf("detached start: %v %v", s, err)
		}
		var ins container.ExecInspectResponse
		waitFor(t, "the detached exec to exit", func() bool {
			ins, _ = e.ExecInspect(ctx(t), x.ID)
			return ins.ExitCode != nil
		})
		if *ins.ExitCode != 7 {
			t.Errorf("exit code %d", *ins.ExitCode)
		}
		_, err = e.ExecStart(ctx(t), x.ID, container.ExecStartRequest{})
		wantKind(t, err, KindConflict, "Error: Exec command "+x.ID+" has already run")
		if ids := inspect(t, e, id).ExecIDs; !slices.Contains(ids, x.ID) {
			t.Errorf("container's ExecIDs %v lack %s", ids, x.ID)
		}
	})

	t.Run("no such command", func(t *testing.T) {
		x, err := e.ExecCreate(ctx(t), id, container.ExecCreateRequest{Cmd: []string{"nope"}, AttachStdout: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.ExecStart(ctx(t), x.ID, container.ExecStartRequest{})
		if err == nil || !strings.Contains(err.Error(), "OCI runtime exec failed") || !strings.Contains(err.Error(), "executable file not found") {
			t.Fatalf("start of a missing command: %v", err)
		}
		ins, _ := e.ExecInspect(ctx(t), x.ID)
		if ins.ExitCode == nil || *ins.ExitCode != 127 {
			t.Errorf("exit code %v, want 127", ins.ExitCode)
		}
	})

	t.Run("refused", func(t *testing.T) {
		_, err := e.ExecCreate(ctx(t), id, container.ExecCreateRequest{})
		wantKind(t, err, KindInvalid, "No exec command specified")
		_, err = e.ExecCreate(ctx(t), "nope", container.ExecCreateRequest{Cmd: []string{"true"}})
		wantKind(t, err, KindNotFound, "No such container: nope")
		_, err = e.ExecInspect(ctx(t), "nope")
		wantKind(t, err, KindNotFound, "No such exec instance: nope")
		created := create(t, e, "", container.Config{}, container.HostConfig{}, "true")
		_, err = e.ExecCreate(ctx(t), created, container.ExecCreateRequest{Cmd: []string{"true"}})
		wantKind(t, err, KindConflict, "container "+created+" is not running")
		paused := startSleeper(t, e, container.Config{})
		if err := e.ContainerPause(ctx(t), paused); err != nil {
			t.Fatal(err)
		}
		_, err = e.ExecCreate(ctx(t), paused, container.ExecCreateRequest{Cmd: []string{"true"}})
		wantKind(t, err, KindConflict, "container "+paused+" is paused, unpause the container before exec")
		e.ContainerUnpause(ctx(t), paused)
	})
}
