package monitor_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/engine/monitor"
	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/oci"
	"github.com/berth-project/berth/runtime"
)

// berthBin is the berth binary, built once: the monitor runs from it.
var berthBin string

const busybox = "/bin/busybox"

// envStarter makes the test binary a process that starts a monitor and
// then waits to be killed (TestStarterKilled).
const envStarter = "MONITOR_TEST_STARTER"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(envStarter); cfg != "" {
		starter(cfg)
		return
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // the tests that need a container skip themselves
	}
	dir, err := os.MkdirTemp("", "berth-monitor-test")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	berthBin = filepath.Join(dir, "berth")
	cmd := exec.Command("go", "build", "-tags", "osusergo,netgo", "-ldflags", "-extldflags=-static", "-o", berthBin, "../../cmd/berth")
	if out, err := cmd.CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build berth: %v\n%s", err, out))
	}
	return m.Run()
}

// env is one container's setup: bundle, runtime root, monitor directory.
type env struct {
	t      *testing.T
	cfg    monitor.Config
	spec   *specs.Spec
	bundle string
}

// newEnv prepares a busybox bundle running args, and a monitor config for
// it; the container and its monitor are checked for leftovers at the end.
func newEnv(t *testing.T, args ...string) *env {
	t.Helper()
	gate.Root(t)
	gate.Path(t, busybox, "Debian's busybox-static")
	bundle := t.TempDir()
	spec, err := runtime.ExampleBundle(bundle, busybox, args)
	if err != nil {
		t.Fatal(err)
	}
	// A short directory: it holds unix sockets.
	dir, err := os.MkdirTemp("", "mon")
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("t-mon-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	e := &env{t: t, spec: spec, bundle: bundle, cfg: monitor.Config{
		ID: id, Bundle: bundle, RuntimeRoot: filepath.Join(t.TempDir(), "state"), Dir: dir,
		Log: logWriterConfig(filepath.Join(t.TempDir(), "log.json")),
	}}
	t.Cleanup(func() {
		e.cleanup()
		os.RemoveAll(dir)
	})
	return e
}

// save rewrites the bundle's config.json from e.spec.
func (e *env) save() {
	e.t.Helper()
	os.Remove(filepath.Join(e.bundle, oci.ConfigFile))
	if err := oci.WriteSpec(e.bundle, e.spec); err != nil {
		e.t.Fatal(err)
	}
}

// start starts the container under its monitor.
func (e *env) start() int {
	e.t.Helper()
	pid, err := monitor.Start(context.Background(), berthBin, e.cfg)
	if err != nil {
		e.t.Fatalf("start: %v", err)
	}
	if pid <= 0 {
		e.t.Fatalf("start: pid %d", pid)
	}
	return pid
}

// wait waits for the container's exit.
func (e *env) wait() monitor.Exit {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x, err := monitor.Wait(ctx, e.cfg.Dir)
	if err != nil {
		e.t.Fatalf("wait: %v", err)
	}
	return x
}

// monitorPid reads the monitor's pid file.
func (e *env) monitorPid() int {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.cfg.Dir, "monitor.pid"))
	if err != nil {
		e.t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		e.t.Fatal(err)
	}
	return pid
}

// cleanup kills what is left of the container, waits for its monitor to
// go, and fails the test if anything stays behind.
func (e *env) cleanup() {
	t := e.t
	if rt, err := runtime.New(e.cfg.RuntimeRoot); err == nil {
		if c, err := rt.Load(e.cfg.ID); err == nil {
			c.Kill(syscall.SIGKILL, true)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for monitor.Alive(e.cfg.Dir) || len(monitorProcs(e.cfg.Dir)) > 0 {
		if time.Now().After(deadline) {
			for _, p := range monitorProcs(e.cfg.Dir) {
				syscall.Kill(p, syscall.SIGKILL)
			}
			t.Errorf("monitor of %s still running", e.cfg.ID)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkNoLeftovers(t, e.cfg)
}

// checkNoLeftovers fails if anything of the container or its monitor is
// left: runtime state, a cgroup, a monitor process, sockets.
func checkNoLeftovers(t *testing.T, c monitor.Config) {
	t.Helper()
	if entries, _ := os.ReadDir(c.RuntimeRoot); len(entries) > 0 {
		t.Errorf("runtime state left in %s: %v", c.RuntimeRoot, entries)
		if rt, err := runtime.New(c.RuntimeRoot); err == nil {
			if ctr, err := rt.Load(c.ID); err == nil {
				ctr.Delete(true)
			}
		}
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/" + c.ID)
	for _, d := range cgs {
		t.Errorf("cgroup %s left behind", d)
	}
	for _, p := range monitorProcs(c.Dir) {
		t.Errorf("monitor process %d left behind", p)
	}
	for _, f := range []string{"ctl.sock", "console.sock", "monitor.pid"} {
		if _, err := os.Lstat(filepath.Join(c.Dir, f)); err == nil {
			t.Errorf("%s left in the monitor's directory", f)
		}
	}
}

// monitorProcs finds the processes running as the monitor of dir.
func monitorProcs(dir string) []int {
	var out []int
	want := []byte("berth\x00monitor\x00" + dir + "\x00")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Equal(b, want) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, pid)
		}
	}
	return out
}

// demux splits a stdcopy stream into stdout and stderr.
func demux(t *testing.T, r io.Reader) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	var h [8]byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			if err != io.EOF {
				t.Fatalf("read frame header: %v", err)
			}
			return out.String(), errb.String()
		}
		if h[1] != 0 || h[2] != 0 || h[3] != 0 {
			t.Fatalf("bad frame header %x", h)
		}
		n := binary.BigEndian.Uint32(h[4:])
		var dst *bytes.Buffer
		switch h[0] {
		case 1:
			dst = &out
		case 2:
			dst = &errb
		default:
			t.Fatalf("frame of stream %d", h[0])
		}
		if _, err := io.CopyN(dst, r, int64(n)); err != nil {
			t.Fatalf("read frame of %d bytes: %v", n, err)
		}
	}
}

func TestStartWait(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		kill   bool  // SIGKILL the init from outside
		memory int64 // limit
		code   int
		signal int
		oom    bool
	}{
		{"success", []string{"true"}, false, 0, 0, 0, false},
		{"exit code", []string{"sh", "-c", "exit 3"}, false, 0, 3, 0, false},
		{"killed from outside", []string{"sleep", "100"}, true, 0, 137, 9, false},
		{"out of memory", []string{"sh", "-c", "x=a; while :; do x=$x$x; done"}, false, 16 << 20, 137, 9, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.args...)
			if tc.memory > 0 {
				needMemoryCgroup(t)
				e.spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &tc.memory, Swap: &tc.memory}}
				e.save()
			}
			before := time.Now().UTC()
			pid := e.start()
			mpid := e.monitorPid()
			if tc.kill {
				if !monitor.Alive(e.cfg.Dir) {
					t.Fatal("no monitor answers while the container runs")
				}
				// Signals to the monitor's session must not end it.
				for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
					if err := syscall.Kill(mpid, sig); err != nil {
						t.Fatal(err)
					}
				}
				if !monitor.Alive(e.cfg.Dir) {
					t.Fatal("the monitor died of SIGTERM, SIGINT or SIGHUP")
				}
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			x := e.wait()
			if x.Code != tc.code || x.Signal != tc.signal || x.Error != "" || x.OOMKilled != tc.oom {
				t.Fatalf("exit %+v, want code %d signal %d oom %v", x, tc.code, tc.signal, tc.oom)
			}
			if x.StartedAt.Before(before.Add(-time.Second)) || x.FinishedAt.Before(x.StartedAt) {
				t.Errorf("times: started %v, finished %v (test began %v)", x.StartedAt, x.FinishedAt, before)
			}
			// Recorded, and found again once the monitor is gone (and
			// reaped: Start's caller is its parent here).
			waitGone(t, mpid)
			rec, ok, err := monitor.ReadExit(e.cfg.Dir)
			if err != nil || !ok || rec.Code != tc.code || !rec.FinishedAt.Equal(x.FinishedAt) {
				t.Fatalf("exit.json: %+v %v %v", rec, ok, err)
			}
			again, err := monitor.Wait(context.Background(), e.cfg.Dir)
			if err != nil || again.Code != tc.code {
				t.Fatalf("wait after the monitor is gone: %+v %v", again, err)
			}
			checkNoLeftovers(t, e.cfg)
		})
	}
}

// needMemoryCgroup skips the test without a memory controller (v1 or v2).
func needMemoryCgroup(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
		return
	}
	if b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); !strings.Contains(string(b), "memory") {
		t.Skip("needs the memory cgroup controller")
	}
}

// waitGone waits until process pid is gone, zombie included.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("monitor did not exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWaitLost(t *testing.T) {
	dir := t.TempDir()
	if _, err := monitor.Wait(context.Background(), dir); !errors.Is(err, monitor.ErrLost) {
		t.Fatalf("wait with no monitor and no exit: %v, want ErrLost", err)
	}
	if monitor.Alive(dir) {
		t.Fatal("alive with no monitor")
	}
	if _, err := monitor.Attach(dir, monitor.AttachOptions{Stdout: true}); !errors.Is(err, monitor.ErrNotRunning) {
		t.Fatalf("attach with no monitor: %v", err)
	}
}

// startAttached starts the container with WaitAttach and attaches as soon
// as Start returns, as the engine does for a container run in the
// foreground: no output may be missed.
func (e *env) startAttached(o monitor.AttachOptions) (monitor.Conn, int) {
	e.t.Helper()
	e.cfg.WaitAttach = true
	pid := e.start()
	conn, err := monitor.Attach(e.cfg.Dir, o)
	if err != nil {
		e.t.Fatalf("attach: %v", err)
	}
	// A guard against a hung container, not a timing check.
	conn.(*net.UnixConn).SetDeadline(time.Now().Add(time.Minute))
	return conn, pid
}

func TestAttach(t *testing.T) {
	script := `echo first; echo first-err >&2; read x; echo "out-$x"; echo "err-$x" >&2; exit 5`
	tests := []struct {
		name             string
		o                monitor.AttachOptions
		stdout, stderr   string
		stdin, stdinOnce bool
	}{
		{"both streams", monitor.AttachOptions{Stdin: true, Stdout: true, Stderr: true}, "first\nout-hi\n", "first-err\nerr-hi\n", true, true},
		{"stdout only", monitor.AttachOptions{Stdin: true, Stdout: true}, "first\nout-hi\n", "", true, true},
		{"stderr only", monitor.AttachOptions{Stdin: true, Stderr: true}, "", "first-err\nerr-hi\n", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "sh", "-c", script)
			e.cfg.Stdin, e.cfg.StdinOnce = tc.stdin, tc.stdinOnce
			conn, _ := e.startAttached(tc.o)
			defer conn.Close()
			if _, err := conn.Write([]byte("hi\n")); err != nil {
				t.Fatal(err)
			}
			conn.CloseWrite()
			stdout, stderr := demux(t, conn)
			if stdout != tc.stdout || stderr != tc.stderr {
				t.Errorf("stdout %q stderr %q, want %q %q", stdout, stderr, tc.stdout, tc.stderr)
			}
			if x := e.wait(); x.Code != 5 {
				t.Fatalf("exit %+v, want 5", x)
			}
		})
	}
}

// TestStdinOnce: with StdinOnce the first attached stdin to end ends the
// container's; without, a second client can go on writing.
func TestStdinOnce(t *testing.T) {
	for _, once := range []bool{true, false} {
		t.Run(fmt.Sprintf("once=%v", once), func(t *testing.T) {
			e := newEnv(t, "cat")
			e.cfg.Stdin, e.cfg.StdinOnce = true, once
			o := monitor.AttachOptions{Stdin: true, Stdout: true, Stderr: true}
			conn, pid := e.startAttached(o)
			defer conn.Close()
			conn.Write([]byte("abc\n"))
			conn.CloseWrite()
			if once {
				stdout, _ := demux(t, conn)
				if stdout != "abc\n" {
					t.Fatalf("stdout %q", stdout)
				}
				if x := e.wait(); x.Code != 0 {
					t.Fatalf("exit %+v, want 0 (cat saw its stdin end)", x)
				}
				return
			}
			// The first client's stdin has ended, the container's has not.
			second, err := monitor.Attach(e.cfg.Dir, monitor.AttachOptions{Stdin: true})
			if err != nil {
				t.Fatal(err)
			}
			second.Write([]byte("more\n"))
			second.Close()
			got := make([]byte, 0, 64)
			buf := make([]byte, 64)
			for !strings.Contains(string(got), "more\n") {
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("read: %v (got %q)", err, got)
				}
				got = append(got, buf[:n]...)
			}
			syscall.Kill(pid, syscall.SIGKILL)
			if x := e.wait(); x.Code != 137 {
				t.Fatalf("exit %+v, want 137", x)
			}
		})
	}
}

// TestAttachTTY runs programs on a terminal, plain and under the --init
// reaper (which must give its child the terminal's foreground: a read from
// the background would stop it, and ^C would not reach it).
func TestAttachTTY(t *testing.T) {
	tests := []struct {
		name   string
		init   bool
		script string
		input  string // written once the output has "ready"
		code   int
		out    []string
	}{
		{"plain", false, `echo ready; read x; stty size; echo "got $x"`, "go\n", 0, []string{"33 101\r\n", "got go\r\n"}},
		{"under docker-init", true, `echo ready; read x; stty size; echo "got $x"`, "go\n", 0, []string{"33 101\r\n", "got go\r\n"}},
		{"ctrl-c under docker-init", true, `trap 'echo INT; exit 9' INT; echo ready; while :; do sleep 0.05; done`, "\x03", 9, []string{"INT\r\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "sh", "-c", tc.script)
			if tc.init {
				e.spec.Mounts = append(e.spec.Mounts, specs.Mount{
					Destination: "/sbin/docker-init", Type: "bind", Source: berthBin, Options: []string{"bind", "ro"},
				})
				e.spec.Process.Args = append([]string{"/sbin/docker-init", "--"}, e.spec.Process.Args...)
			}
			e.spec.Process.Terminal = true
			e.save()
			e.cfg.Terminal, e.cfg.Stdin = true, true
			conn, _ := e.startAttached(monitor.AttachOptions{Stdin: true, Stdout: true, Stderr: true})
			defer conn.Close()
			if err := monitor.Resize(e.cfg.Dir, 33, 101); err != nil {
				t.Fatal(err)
			}
			out := readUntil(t, conn, "ready")
			conn.Write([]byte(tc.input))
			rest, err := io.ReadAll(conn)
			if err != nil {
				t.Fatal(err)
			}
			out += string(rest)
			// Raw bytes (no stdcopy headers), as a terminal puts them: with
			// the echo of the input and \r\n line ends.
			for _, want := range tc.out {
				if !strings.Contains(out, want) || out[0] == 1 {
					t.Fatalf("output %q lacks %q", out, want)
				}
			}
			if x := e.wait(); x.Code != tc.code {
				t.Fatalf("exit %+v, want %d", x, tc.code)
			}
			// A terminal's output is logged as stdout.
			for _, en := range readLog(t, e.cfg.Log.Path) {
				if en.Stream != "stdout" {
					t.Fatalf("log entry %+v", en)
				}
			}
		})
	}
}

// readUntil reads r until what it has read contains s.
func readUntil(t *testing.T, r io.Reader, s string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 256)
	for !strings.Contains(string(got), s) {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (got %q, waiting for %q)", err, got, s)
		}
		got = append(got, buf[:n]...)
	}
	return string(got)
}

func TestResizeWithoutTerminal(t *testing.T) {
	e := newEnv(t, "sleep", "100")
	pid := e.start()
	if err := monitor.Resize(e.cfg.Dir, 10, 10); err == nil || !strings.Contains(err.Error(), "no terminal") {
		t.Fatalf("resize: %v", err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	e.wait()
}

// TestSlowClient: a client that reads nothing is dropped once it has
// fallen behind; the container and another client go on.
func TestSlowClient(t *testing.T) {
	e := newEnv(t, "sh", "-c", "read x; seq 1 500000; exit 4")
	e.cfg.Stdin = true
	o := monitor.AttachOptions{Stdin: true, Stdout: true}
	fast, _ := e.startAttached(o)
	defer fast.Close()
	slow, err := monitor.Attach(e.cfg.Dir, monitor.AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast.Write([]byte("go\n"))
	stdout, _ := demux(t, fast)
	if want := seqOutput(500000); stdout != want {
		t.Fatalf("fast client got %d bytes, want %d", len(stdout), len(want))
	}
	if x := e.wait(); x.Code != 4 {
		t.Fatalf("exit %+v", x)
	}
	// The slow client was cut off: it gets less than everything.
	n, _ := io.Copy(io.Discard, slow)
	if n >= int64(len(seqOutput(500000))) {
		t.Fatalf("slow client got all %d bytes", n)
	}
}

func seqOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestStarterKilled: the process that started the monitor (and its process
// group) is SIGKILLed; the container runs on, and a later Wait, through the
// directory alone, gets its real exit code.
func TestStarterKilled(t *testing.T) {
	e := newEnv(t, "sh", "-c", "read x; exit 42")
	e.cfg.Stdin = true
	cfgFile := filepath.Join(t.TempDir(), "cfg.json")
	if err := os.WriteFile(cfgFile, mustJSON(t, e.cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envStarter+"="+cfgFile, "MONITOR_TEST_BERTH="+berthBin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := readLineFrom(out)
	if err != nil || !strings.HasPrefix(line, "pid ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("starter said %q (%v)", line, err)
	}
	pid, _ := strconv.Atoi(strings.TrimPrefix(line, "pid "))
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()

	if !monitor.Alive(e.cfg.Dir) {
		t.Fatal("the monitor died with its starter")
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("container init %d: %v", pid, err)
	}
	conn, err := monitor.Attach(e.cfg.Dir, monitor.AttachOptions{Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("\n"))
	conn.Close()
	if x := e.wait(); x.Code != 42 {
		t.Fatalf("exit %+v, want 42", x)
	}
}

// starter is the test binary as the process that starts a monitor.
func starter(cfgFile string) {
	var c monitor.Config
	if err := readJSON(cfgFile, &c); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	pid, err := monitor.Start(context.Background(), os.Getenv("MONITOR_TEST_BERTH"), c)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("pid", pid)
	select {}
}

func TestFailedStart(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
		want  string
	}{
		{"missing executable", func(e *env) {}, "no-such-program"},
		{"missing rootfs", func(e *env) { os.RemoveAll(filepath.Join(e.bundle, "rootfs")) }, "rootfs"},
		{"bad spec", func(e *env) {
			os.WriteFile(filepath.Join(e.bundle, oci.ConfigFile), []byte("{not json"), 0o644)
		}, "config"},
		{"terminal without a console", func(e *env) { e.spec.Process.Terminal = true; e.save() }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "no-such-program")
			tc.setup(e)
			if tc.name == "terminal without a console" {
				// The spec asks for a terminal, the config does not: the
				// monitor has no console socket to offer.
				e.cfg.Terminal = false
			}
			_, err := monitor.Start(context.Background(), berthBin, e.cfg)
			if err == nil {
				t.Fatal("start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			t.Logf("error: %v", err)
			checkNoLeftovers(t, e.cfg)
			if _, err := os.Stat(filepath.Join(e.cfg.Dir, "config.json")); err == nil {
				t.Error("config.json left behind")
			}
			if _, err := os.Stat(e.cfg.Log.Path); err == nil {
				t.Error("log file created for a container that never ran")
			}
			if _, err := monitor.Wait(context.Background(), e.cfg.Dir); !errors.Is(err, monitor.ErrLost) {
				t.Errorf("wait after failed start: %v, want ErrLost", err)
			}
		})
	}
}

// TestStartCanceled: the caller gives up while the runtime creates the
// container (a prestart hook makes that take a while); Start returns the
// context's error and nothing is left.
func TestStartCanceled(t *testing.T) {
	e := newEnv(t, "true")
	e.spec.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: busybox, Args: []string{"sleep", "1"}}}}
	e.save()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := monitor.Start(ctx, berthBin, e.cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("start: %v, want the context's error", err)
	}
	waitGone(t, monitorProcsOr0(e.cfg.Dir))
	checkNoLeftovers(t, e.cfg)
}

// monitorProcsOr0 is the monitor process of dir, or 0.
func monitorProcsOr0(dir string) int {
	if p := monitorProcs(dir); len(p) > 0 {
		return p[0]
	}
	return 0
}

// TestMonitorMemory measures the monitors of a few idle containers. VmRSS
// counts the pages of the berth binary each has mapped; they are the same
// page cache for every monitor, which Pss shares out between them, and
// RssAnon is what each monitor costs on its own.
func TestMonitorMemory(t *testing.T) {
	const n = 4
	var envs []*env
	var pids []int
	for i := 0; i < n; i++ {
		e := newEnv(t, "sleep", "100")
		envs = append(envs, e)
		pids = append(pids, e.start())
	}
	// Let them settle: the start's garbage given back, the pumps waiting.
	time.Sleep(500 * time.Millisecond)
	for i, e := range envs {
		st := procFields(t, fmt.Sprintf("/proc/%d/status", e.monitorPid()))
		roll := procFields(t, fmt.Sprintf("/proc/%d/smaps_rollup", e.monitorPid()))
		t.Logf("monitor %d of %d idle containers: VmRSS %s (RssAnon %s, RssFile %s), Pss %s, threads %s",
			i+1, n, st["VmRSS"], st["RssAnon"], st["RssFile"], roll["Pss"], st["Threads"])
	}
	for i, e := range envs {
		syscall.Kill(pids[i], syscall.SIGKILL)
		e.wait()
	}
}

// procFields reads a "Key: value" file of /proc.
func procFields(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return fields
}
