package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
)

// daemon is a `berth daemon` the test started on its own data root, exec
// root and socket.
type daemon struct {
	t        *testing.T
	c        *cli
	sock     string
	execRoot string
	cmd      *exec.Cmd
	logs     *syncBuffer
	extra    []string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon starts a daemon for c and points c's berth (BERTH_HOST) at
// it. Exec roots are short: monitor sockets live there.
func startDaemon(t *testing.T, c *cli, extra ...string) *daemon {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "bt")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, c: c, sock: filepath.Join(dir, "berth.sock"), execRoot: filepath.Join(dir, "x"), logs: &syncBuffer{}, extra: extra}
	t.Cleanup(func() {
		// Whatever the test left goes, through the daemon if it runs, else
		// through the in-process engine.
		out := c.run(nil, "ps", "-aq").stdout
		if ids := strings.Fields(out); len(ids) > 0 {
			c.run(nil, append([]string{"rm", "-f"}, ids...)...)
		}
		d.stop()
		os.RemoveAll(dir)
	})
	c.env = append(c.env, "BERTH_HOST=unix://"+d.sock, "BERTH_EXEC_ROOT="+d.execRoot)
	d.start()
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	args := append([]string{"daemon", "-H", "unix://" + d.sock, "--exec-root", d.execRoot, "--data-root", d.c.root}, d.extra...)
	cmd := exec.Command(berthBin, args...)
	cmd.Env = d.c.env
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.cmd = cmd
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if conn, err := net.Dial("unix", d.sock); err == nil {
			conn.Close()
			return
		}
		select {
		case <-exited:
			d.t.Fatalf("berth daemon exited at start:\n%s", d.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("berth daemon did not answer on %s:\n%s", d.sock, d.logs)
		}
	}
}

// stop stops the daemon with SIGTERM (a clean stop).
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitPid(d.cmd.Process.Pid, 30*time.Second)
	d.cmd = nil
}

// kill SIGKILLs the daemon, as a crash would.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	waitPid(d.cmd.Process.Pid, 30*time.Second)
	d.cmd = nil
}

func waitPid(pid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
			// The cmd.Wait goroutine reaps it.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// docker runs the real docker CLI against d.
func (d *daemon) docker(stdin io.Reader, args ...string) result {
	d.t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock, "DOCKER_CONFIG="+filepath.Join(d.c.root, "..", "docker"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, stdin
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return result{out.String(), errb.String(), code}
}

func (d *daemon) dockerOK(args ...string) string {
	d.t.Helper()
	r := d.docker(nil, args...)
	if r.code != 0 {
		d.t.Fatalf("docker %s: exit %d\nstdout: %s\nstderr: %s\ndaemon:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr, lastN(d.logs.String(), 30))
	}
	return r.stdout
}

func lastN(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// eventually polls cond until it holds or 30 s passed.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: never happened; last: %s", what, last)
}

// busyboxImage pushes a busybox image to a fresh registry and returns its
// reference.
func busyboxImage(t *testing.T) string {
	t.Helper()
	reg := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{})
	ref := reg.Host + "/lecture/busybox:1"
	pushImage(t, reg, ref, imagetest.LayoutOptions{})
	return ref
}

// TestDockerCLIWorkflow is the lecture's workflow driven by the real
// docker CLI against berth's daemon.
func TestDockerCLIWorkflow(t *testing.T) {
	gate.Command(t, "docker")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)

	if out := d.dockerOK("pull", img); !strings.Contains(out, "Status: Downloaded newer image for "+img) {
		t.Fatalf("docker pull said:\n%s", out)
	}
	if out := d.dockerOK("image", "ls"); !strings.Contains(out, strings.TrimSuffix(img, ":1")) {
		t.Fatalf("docker image ls:\n%s", out)
	}
	id := strings.TrimSpace(d.dockerOK("run", "-d", "--name", "frontend-server", img,
		"sh", "-c", "echo frontend up; echo to stderr >&2; exec sleep 1000"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a full ID", id)
	}
	if out := d.dockerOK("ps"); !strings.Contains(out, "frontend-server") || !strings.Contains(out, "Up ") {
		t.Fatalf("docker ps:\n%s", out)
	}
	eventually(t, "logs", func() (bool, string) {
		r := d.docker(nil, "logs", "frontend-server")
		return r.stdout == "frontend up\n" && r.stderr == "to stderr\n", r.stdout + "|" + r.stderr
	})
	if out := d.dockerOK("exec", "frontend-server", "cat", "/proc/1/cmdline"); !strings.HasPrefix(out, "sleep") {
		t.Fatalf("exec: PID 1 is %q", out)
	}
	if r := d.docker(nil, "exec", "frontend-server", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("exec exit code %d, want 3 (%s)", r.code, r.stderr)
	}
	if got := d.dockerOK("inspect", "--format", "{{.State.Status}} {{.Name}} {{.Config.Image}}", "frontend-server"); got != "running /frontend-server "+img+"\n" {
		t.Fatalf("inspect --format: %q", got)
	}

	// cp in and out.
	src := filepath.Join(t.TempDir(), "page.html")
	os.WriteFile(src, []byte("<h1>hello</h1>\n"), 0o644)
	d.dockerOK("cp", src, "frontend-server:/tmp/")
	if out := d.dockerOK("exec", "frontend-server", "cat", "/tmp/page.html"); out != "<h1>hello</h1>\n" {
		t.Fatalf("cp in: %q", out)
	}
	d.dockerOK("exec", "frontend-server", "sh", "-c", "echo made inside > /tmp/out.txt")
	dst := t.TempDir()
	d.dockerOK("cp", "frontend-server:/tmp/out.txt", dst)
	if b, _ := os.ReadFile(filepath.Join(dst, "out.txt")); string(b) != "made inside\n" {
		t.Fatalf("cp out: %q", b)
	}

	d.dockerOK("stop", "-t", "1", "frontend-server")
	if got := d.dockerOK("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "frontend-server"); got != "exited 137\n" {
		t.Fatalf("after stop: %q", got)
	}
	if out := d.dockerOK("ps", "-a", "--format", "{{.Names}} {{.Status}}"); !strings.Contains(out, "frontend-server Exited (137)") {
		t.Fatalf("ps -a:\n%s", out)
	}
	d.dockerOK("rm", "frontend-server")
	if out := d.dockerOK("ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("after rm, ps -a -q: %q", out)
	}

	// run --rm: output, exit codes, nothing left.
	if out := d.dockerOK("run", "--rm", img, "echo", "hi"); out != "hi\n" {
		t.Fatalf("run --rm echo: %q", out)
	}
	for _, code := range []int{0, 1, 7, 42} {
		if r := d.docker(nil, "run", "--rm", img, "sh", "-c", "exit "+strconv.Itoa(code)); r.code != code {
			t.Fatalf("run --rm exit %d: got %d (%s)", code, r.code, r.stderr)
		}
	}
	if r := d.docker(nil, "run", "--rm", img, "/no/such/binary"); r.code != 127 {
		t.Fatalf("run of a missing binary: exit %d, want 127 (%s)", r.code, r.stderr)
	}
	if out := d.dockerOK("run", "--rm", "-i", img, "sh", "-c", "tr a-z A-Z"); out != "" {
		// stdin was empty (nil): nothing in, nothing out.
		t.Fatalf("run -i with no input: %q", out)
	}
	if r := d.docker(strings.NewReader("piped in\n"), "run", "--rm", "-i", img, "tr", "a-z", "A-Z"); r.stdout != "PIPED IN\n" {
		t.Fatalf("run -i: %q %q", r.stdout, r.stderr)
	}
	if out := d.dockerOK("ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("after run --rm, ps -a -q: %q", out)
	}

	// -it through a pty.
	out, code := runInPty(t, d, "exit 3\n", "run", "--rm", "-it", img, "sh", "-c", "tty; read line; eval \"$line\"")
	if code != 3 || !strings.Contains(out, "/dev/") {
		t.Fatalf("run -it: exit %d, output %q", code, out)
	}
}

// runInPty runs docker with a pty as its terminal, types input and
// returns what it printed and its exit code.
func runInPty(t *testing.T, d *daemon, input string, args ...string) (string, int) {
	t.Helper()
	pty, slavePath, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock, "DOCKER_CONFIG="+filepath.Join(d.c.root, "..", "docker"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	done := make(chan struct{})
	go func() { io.Copy(&out, pty); close(done) }()
	// Type once the shell waits for the line.
	eventually(t, "tty printed", func() (bool, string) { s := out.String(); return strings.Contains(s, "/dev/"), s })
	pty.Write([]byte(input))
	err = cmd.Wait()
	slave.Close()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return out.String(), code
}

// TestDaemonKilledLiveRestore SIGKILLs the daemon with 50 containers
// running; the restarted daemon finds all 50, the exit of one that ended
// meanwhile, and brings back a --restart=always container killed while
// it was down.
func TestDaemonKilledLiveRestore(t *testing.T) {
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	const n = 50
	for i := 0; i < n; i++ {
		c.ok("run", "-d", "--name", fmt.Sprintf("s%02d", i), img, "sleep", "1000")
	}
	c.ok("run", "-d", "--name", "exiter", img, "sh", "-c", "sleep 2; exit 42")
	c.ok("run", "-d", "--name", "always", "--restart", "always", img, "sleep", "1000")
	pid := strings.TrimSpace(c.ok("inspect", "--format", "{{.State.Pid}}", "always"))

	d.kill()
	// While no daemon runs: the exiter ends on its own, "always" is killed.
	p, _ := strconv.Atoi(pid)
	if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
		t.Fatalf("kill always's init %d: %v", p, err)
	}
	time.Sleep(3 * time.Second)
	d.start()

	running := 0
	for _, name := range strings.Fields(c.ok("ps", "--format", "{{.Names}}")) {
		if len(name) == 3 && name[0] == 's' {
			running++
		}
	}
	if running != n {
		t.Fatalf("after the restart %d of %d containers run:\n%s", running, n, c.ok("ps", "-a"))
	}
	if got := c.ok("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "exiter"); got != "exited 42\n" {
		t.Fatalf("exiter: %q", got)
	}
	eventually(t, "always restarted", func() (bool, string) {
		out := c.ok("inspect", "--format", "{{.State.Status}} {{.RestartCount}} {{.State.Pid}}", "always")
		f := strings.Fields(out)
		return len(f) == 3 && f[0] == "running" && f[2] != pid, out
	})
	// And while the daemon runs: killed, it comes back.
	pid = strings.TrimSpace(c.ok("inspect", "--format", "{{.State.Pid}}", "always"))
	p, _ = strconv.Atoi(pid)
	syscall.Kill(p, syscall.SIGKILL)
	eventually(t, "always restarted again", func() (bool, string) {
		out := c.ok("inspect", "--format", "{{.State.Status}} {{.State.Pid}}", "always")
		f := strings.Fields(out)
		return len(f) == 2 && f[0] == "running" && f[1] != pid, out
	})
	ids := strings.Fields(c.ok("ps", "-aq"))
	c.ok(append([]string{"rm", "-f"}, ids...)...)
	assertNoMonitors(t, d)
}

// assertNoMonitors checks that no monitor or container process of d is
// left.
func assertNoMonitors(t *testing.T, d *daemon) {
	t.Helper()
	eventually(t, "monitors gone", func() (bool, string) {
		ents, _ := os.ReadDir(d.execRoot)
		var left []string
		for _, e := range ents {
			if e.IsDir() && e.Name() != "network" {
				left = append(left, e.Name())
			}
		}
		// The network's state stays; no container's namespace does.
		ns, _ := os.ReadDir(filepath.Join(d.execRoot, "network", "netns"))
		for _, e := range ns {
			left = append(left, "netns "+e.Name())
		}
		return len(left) == 0, strings.Join(left, " ")
	})
}

// TestDaemonlessThenAdopted runs a container with no daemon (the CLI runs
// the engine in-process); a daemon started later adopts it.
func TestDaemonlessThenAdopted(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	dir, err := os.MkdirTemp("/run", "bt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A socket nobody serves: the CLI falls back to its own engine.
	c.env = append(c.env, "BERTH_EXEC_ROOT="+filepath.Join(dir, "x"))
	c.ok("run", "-d", "--name", "early", img, "sh", "-c", "echo early bird; exec sleep 1000")
	if out := c.ok("ps", "--format", "{{.Names}} {{.State}}"); out != "early running\n" {
		t.Fatalf("daemonless ps: %q", out)
	}
	d := startDaemon(t, c)
	_ = dir
	if out := c.ok("ps", "--format", "{{.Names}} {{.State}}"); out != "early running\n" {
		t.Fatalf("daemon's ps: %q", out)
	}
	if out := c.ok("logs", "early"); out != "early bird\n" {
		t.Fatalf("logs: %q", out)
	}
	c.ok("stop", "-t", "1", "early")
	c.ok("rm", "early")
	assertNoMonitors(t, d)
}

// TestDaemonBadInput: clear errors, nothing created.
func TestDaemonBadInput(t *testing.T) {
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)

	r := c.run(nil, "run", "--rm", "127.0.0.1:1/no/such:image", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "Unable to find image '127.0.0.1:1/no/such:image' locally") {
		t.Fatalf("unknown image: exit %d %q", r.code, r.stderr)
	}
	c.fails("unknown flag: --bogus", "run", "--bogus", img)
	c.ok("run", "-d", "--name", "taken", img, "sleep", "1000")
	r = c.fails(`Conflict. The container name "/taken" is already in use by container`, "run", "-d", "--name", "taken", img, "true")
	if r.code != 125 {
		t.Fatalf("name conflict: exit %d", r.code)
	}
	c.fails("Invalid container name", "create", "--name", "bad/name", img)
	c.fails("invalid restart policy", "create", "--restart", "sometimes", img)

	// Bad JSON straight to the API.
	hc := &http.Client{Transport: &http.Transport{Dial: func(_, _ string) (net.Conn, error) { return net.Dial("unix", d.sock) }}}
	resp, err := hc.Post("http://berth/v1.45/containers/create?name=fromjson", "application/json", strings.NewReader(`{"Image": `))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte(`"message"`)) {
		t.Fatalf("bad JSON: %d %s", resp.StatusCode, body)
	}
	resp, err = hc.Get("http://berth/v1.12/containers/json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte("too old")) {
		t.Fatalf("old API version: %d %s", resp.StatusCode, body)
	}
	if out := c.ok("ps", "-a", "--format", "{{.Names}}"); out != "taken\n" {
		t.Fatalf("containers after the bad input: %q", out)
	}
	c.ok("rm", "-f", "taken")
	assertNoMonitors(t, d)
	if ents, _ := os.ReadDir(filepath.Join(c.root, "containers")); len(ents) != 0 {
		t.Fatalf("container directories left: %v", ents)
	}
}

// TestDaemonLogDiskFull fills the file system the logs are on: the
// container keeps running, the daemon keeps answering.
func TestDaemonLogDiskFull(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	// The data root (images, snapshots, logs) on a small tmpfs.
	if err := os.MkdirAll(c.root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", c.root, "tmpfs", 0, "size=24m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(c.root, syscall.MNT_DETACH) })
	d := startDaemon(t, c)
	c.ok("pull", "-q", img)
	c.ok("run", "-d", "--name", "chatty", img, "sh", "-c", "while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done")
	eventually(t, "disk full", func() (bool, string) {
		var st syscall.Statfs_t
		syscall.Statfs(c.root, &st)
		return st.Bavail == 0, fmt.Sprint(st.Bavail)
	})
	time.Sleep(500 * time.Millisecond)
	if got := c.ok("inspect", "--format", "{{.State.Status}}", "chatty"); got != "running\n" {
		t.Fatalf("chatty on a full disk: %q", got)
	}
	c.ok("info")
	if out := c.ok("exec", "chatty", "echo", "still here"); out != "still here\n" {
		t.Fatalf("exec on a full disk: %q", out)
	}
	c.ok("rm", "-f", "chatty")
	assertNoMonitors(t, d)
}
