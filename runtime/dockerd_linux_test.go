package runtime_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/cgtree"
	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/runtime"
)

// TestDockerd is a third-party driver test: Debian's dockerd (docker.io,
// with its containerd and the containerd-shim-runc-v2 shim) runs containers
// with berth as its runtime, `--add-runtime berth=.../berth-runtime`. The
// shim calls the runtime as it calls runc (create, start, exec, update,
// pause, resume, ps, kill, delete), so this checks berth's runc command line
// against a real caller, end to end through the docker CLI.
//
// The daemon is private to the test: its own data and exec roots, socket,
// pidfile, config file, containerd (started by dockerd under the exec root)
// and cgroup parent, no bridge, no iptables, no ip forwarding. Everything it
// leaves (containers, shims, mounts, cgroups) is removed at the end, also on
// failure.
func TestDockerd(t *testing.T) {
	gate.Root(t)
	gate.Path(t, busybox, "Debian's busybox-static")
	dockerdBin, err := exec.LookPath("dockerd")
	if err != nil {
		t.Skip("dockerd is not installed (Debian's docker.io; scripts/test installs it)")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("containerd is not installed (Debian's containerd, a dependency of docker.io)")
	}
	// The CLI of the same package: another docker on PATH may be newer.
	dockerBin := "/usr/bin/docker"
	if _, err := os.Stat(dockerBin); err != nil {
		if dockerBin, err = exec.LookPath("docker"); err != nil {
			t.Skip("the docker CLI is not installed (Debian's docker.io)")
		}
	}

	d := startDockerd(t, dockerdBin, dockerBin)

	// An image from a busybox root filesystem, as the other tests build it.
	img := "berth-test/busybox:latest"
	tarball := filepath.Join(d.dir, "rootfs.tar")
	if _, err := runtime.ExampleBundle(filepath.Join(d.dir, "bundle"), busybox, []string{"true"}); err != nil {
		t.Fatal(err)
	}
	if err := tarDir(filepath.Join(d.dir, "bundle", "rootfs"), tarball); err != nil {
		t.Fatal(err)
	}
	d.ok("import", tarball, img)
	t.Run("ImageArchives", func(t *testing.T) { checkArchives(t, d, img) })

	// A detached container: running, PID 1 of a new pid namespace.
	id := strings.TrimSpace(d.ok("run", "-d", "--runtime", "berth", "--network", "none", "--name", "bc", img, "sleep", "1000"))
	f := strings.Fields(d.ok("inspect", "-f", "{{.State.Running}} {{.State.Pid}} {{.HostConfig.Runtime}}", "bc"))
	if len(f) != 3 || f[0] != "true" || f[2] != "berth" {
		t.Fatalf("inspect: running, pid, runtime = %v, want true, a pid, berth", f)
	}
	pid, _ := strconv.Atoi(f[1])
	if nspid := procStatus(pid, "NSpid"); len(strings.Fields(nspid)) != 2 || strings.Fields(nspid)[1] != "1" {
		t.Errorf("container process %d: NSpid %q, want its own pid namespace where it is 1", pid, nspid)
	}
	if self, _ := os.Readlink("/proc/self/ns/pid"); self == readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)) {
		t.Errorf("container process %d shares the test's pid namespace %s", pid, self)
	}

	// exec, without and with a terminal.
	if got := d.ok("exec", "bc", "cat", "/proc/1/cmdline"); got != "sleep\x001000\x00" {
		t.Errorf("exec cat /proc/1/cmdline = %q, want sleep 1000", got)
	}
	if got := strings.TrimSpace(d.ok("exec", "bc", "hostname")); got != id[:12] {
		t.Errorf("exec hostname = %q, want %q", got, id[:12])
	}
	if got := strings.TrimSpace(d.ok("exec", "-t", "bc", "tty")); !strings.HasPrefix(got, "/dev/pts/") {
		t.Errorf("exec -t tty = %q, want a /dev/pts/N", got)
	}
	if r := d.docker("exec", "bc", "sh", "-c", "exit 5"); r.code != 5 {
		t.Errorf("exec sh -c 'exit 5': exit %d, want 5 (%s)", r.code, r.stderr)
	}

	// stats: the shim reads the container's cgroups itself.
	stats := strings.TrimSpace(d.ok("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", "bc"))
	if !regexp.MustCompile(`^[0-9.]+[KMG]?i?B / [0-9.]+[KMGT]?i?B\|1$`).MatchString(stats) {
		t.Errorf("stats = %q, want memory usage / limit and 1 pid", stats)
	}

	// update: the shim pipes the resources as JSON (update --resources -).
	d.ok("update", "--memory", "64m", "--memory-swap", "-1", "--pids-limit", "50", "bc")
	if got := pidCgroupFile(t, pid, "memory", "memory.limit_in_bytes", "memory.max"); got != "67108864" {
		t.Errorf("memory limit after update = %q, want 67108864", got)
	}
	if got := pidCgroupFile(t, pid, "pids", "pids.max", "pids.max"); got != "50" {
		t.Errorf("pids.max after update = %q, want 50", got)
	}

	// An update of the restart policy alone reaches the runtime as all
	// zeros, which mean "unchanged".
	d.ok("update", "--restart", "on-failure", "bc")
	if got := pidCgroupFile(t, pid, "memory", "memory.limit_in_bytes", "memory.max"); got != "67108864" {
		t.Errorf("memory limit after an update of zeros = %q, want 67108864 still", got)
	}
	if got := pidCgroupFile(t, pid, "pids", "pids.max", "pids.max"); got != "50" {
		t.Errorf("pids.max after an update of zeros = %q, want 50 still", got)
	}

	// pause and unpause.
	d.ok("pause", "bc")
	if got := strings.TrimSpace(d.ok("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "bc")); got != "paused true" {
		t.Errorf("inspect after pause = %q, want paused true", got)
	}
	if got := pidCgroupFile(t, pid, "freezer", "freezer.state", "cgroup.freeze"); got != "FROZEN" && got != "1" {
		t.Errorf("freezer after pause = %q, want FROZEN", got)
	}
	d.ok("unpause", "bc")
	if got := strings.TrimSpace(d.ok("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "bc")); got != "running false" {
		t.Errorf("inspect after unpause = %q, want running false", got)
	}
	d.ok("exec", "bc", "true")

	// top: the shim runs `ps --format json` for the pids.
	if top := d.ok("top", "bc"); !strings.Contains(top, "sleep 1000") || !strings.Contains(top, strconv.Itoa(pid)) {
		t.Errorf("top = %q, want sleep 1000 with pid %d", top, pid)
	}

	// stop: sleep as PID 1 ignores SIGTERM, so it ends with SIGKILL.
	d.ok("stop", "-t", "1", "bc")
	if got := strings.TrimSpace(d.ok("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", "bc")); got != "false 137" {
		t.Errorf("inspect after stop = %q, want false 137", got)
	}
	d.ok("rm", "bc")
	d.checkGone(id)

	// A foreground container: its output and exit code.
	r := d.docker("run", "--rm", "--runtime", "berth", "--network", "none", img, "sh", "-c", "echo hi; exit 3")
	if r.code != 3 || r.stdout != "hi\n" {
		t.Errorf("run sh -c 'echo hi; exit 3': exit %d, stdout %q, want 3 and hi (stderr %s)", r.code, r.stdout, r.stderr)
	}
	// And one with a terminal.
	r = d.docker("run", "--rm", "-t", "--runtime", "berth", "--network", "none", img, "tty")
	if r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), "/dev/pts/") {
		t.Errorf("run -t tty: exit %d, stdout %q, want a /dev/pts/N (stderr %s)", r.code, r.stdout, r.stderr)
	}

	// Standard input, through the runtime's stdin.
	if r := d.dockerIn("hello\n", "run", "--rm", "-i", "--runtime", "berth", "--network", "none", img, "cat"); r.code != 0 || r.stdout != "hello\n" {
		t.Errorf("run -i cat: exit %d, stdout %q, want hello (stderr %s)", r.code, r.stdout, r.stderr)
	}
	// What docker puts in the spec at create: user, read-only root, no
	// capabilities, no_new_privs, rlimits, oom score, cgroup limits.
	r = d.docker("run", "--rm", "--runtime", "berth", "--network", "none",
		"--user", "1000:1000", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--ulimit", "nofile=123:456", "--oom-score-adj", "300", "--memory", "32m", "--pids-limit", "20", img,
		"sh", "-c", `id -u; ulimit -n; cat /proc/self/oom_score_adj; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; `+
			`touch /x 2>/dev/null || echo ro; cd /sys/fs/cgroup; `+
			`cat memory/memory.limit_in_bytes 2>/dev/null || cat memory.max; cat pids/pids.max 2>/dev/null || cat pids.max`)
	want := "1000\n123\n300\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nro\n33554432\n20\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("run with limits: exit %d, stdout\n%s\nwant\n%s(stderr %s)", r.code, r.stdout, want, r.stderr)
	}
	// In the host's pid namespace, a container's other processes outlive
	// its init: the shim ends them with `kill --all ID 9` once init exits.
	r = d.docker("run", "--rm", "--runtime", "berth", "--network", "none", "--pid", "host", img, "sh", "-c", "sleep 1000 & exit 4")
	if r.code != 4 {
		t.Errorf("run --pid host sh -c 'sleep 1000 & exit 4': exit %d, want 4 (stderr %s)", r.code, r.stderr)
	}
	d.checkGone("") // no sleep left in the daemon's cgroups
	// docker asks for its default seccomp profile in every spec: a filter.
	r = d.docker("run", "--rm", "--runtime", "berth", "--network", "none", img, "grep", "^Seccomp:", "/proc/self/status")
	if mode := strings.Join(strings.Fields(r.stdout), " "); r.code != 0 || mode != "Seccomp: 2" {
		t.Errorf("run grep Seccomp: exit %d, stdout %q, want Seccomp: 2 (stderr %s)", r.code, r.stdout, r.stderr)
	}

	if ps := strings.TrimSpace(d.ok("ps", "-aq")); ps != "" {
		t.Errorf("containers left: %s", ps)
	}
	d.checkGone("")
}

// dockerd is a private docker daemon.
type dockerd struct {
	t        *testing.T
	dir      string // everything of the daemon is under it
	sock     string
	cgParent string // the daemon's --cgroup-parent, without the leading /
	cli      string // the docker CLI
	cmd      *exec.Cmd
	exited   chan struct{}
}

func startDockerd(t *testing.T, dockerdBin, dockerBin string) *dockerd {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerd{
		t:        t,
		dir:      dir,
		sock:     filepath.Join(dir, "docker.sock"),
		cgParent: filepath.Base(dir),
		cli:      dockerBin,
	}
	t.Cleanup(d.teardown)
	// The CLI's own config directory, not root's ~/.docker.
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "cli"))

	// Its config file keeps dockerd 20.10 from reading /etc/docker/daemon.json
	// and from writing its identity key to /etc/docker/key.json. Later
	// dockerd versions no longer have that key and refuse the file: they get
	// an empty one.
	configs := []string{fmt.Sprintf(`{"deprecated-key-path": %q}`, filepath.Join(dir, "key.json")), `{}`}
	var log string
	for _, driver := range []string{"overlay2", "vfs"} {
		for _, config := range configs {
			os.RemoveAll(filepath.Join(dir, "data"))
			if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(config), 0o644); err != nil {
				t.Fatal(err)
			}
			if log, err = d.start(dockerdBin, driver); err == nil {
				t.Logf("dockerd is up with storage driver %s", driver)
				return d
			}
			t.Logf("dockerd with storage driver %s and config %s: %v", driver, config, err)
			if !strings.Contains(log, "configuration") {
				break // not the config file: try the next driver
			}
		}
	}
	t.Fatalf("dockerd did not start; its last log:\n%s", log)
	return nil
}

// start runs dockerd and waits until it answers on its socket; on failure it
// returns the daemon's log.
func (d *dockerd) start(dockerdBin, driver string) (string, error) {
	logPath := filepath.Join(d.dir, "dockerd-"+driver+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	berthRuntime := filepath.Join(filepath.Dir(berthBin), "berth-runtime")
	cmd := exec.Command(dockerdBin,
		"--config-file", filepath.Join(d.dir, "daemon.json"),
		"--data-root", filepath.Join(d.dir, "data"),
		"--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "docker.pid"),
		"-H", "unix://"+d.sock,
		"--storage-driver", driver,
		"--cgroup-parent", "/"+d.cgParent,
		"--exec-opt", "native.cgroupdriver=cgroupfs",
		"--add-runtime", "berth="+berthRuntime,
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group; and should the test binary die, dockerd goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(d.exited)

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
		},
	}, Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			b, _ := os.ReadFile(logPath)
			d.cmd = nil
			return string(b), fmt.Errorf("dockerd exited: %v", cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := client.Get("http://docker/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "", nil
			}
		}
	}
	d.stop()
	b, _ := os.ReadFile(logPath)
	return string(b), fmt.Errorf("dockerd did not answer on %s in 30s", d.sock)
}

// docker runs the CLI against the private daemon.
func (d *dockerd) docker(args ...string) result {
	d.t.Helper()
	return d.dockerIn("", args...)
}

// dockerIn runs the CLI with stdin as its standard input.
func (d *dockerd) dockerIn(stdin string, args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.cli, append([]string{"--host", "unix://" + d.sock}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		d.t.Fatalf("docker %s: timed out\nstdout: %s\nstderr: %s", strings.Join(args, " "), out.String(), errb.String())
	}
	return result{out.String(), errb.String(), code}
}

// ok runs the CLI and fails the test unless it exits 0.
func (d *dockerd) ok(args ...string) string {
	d.t.Helper()
	r := d.docker(args...)
	if r.code != 0 {
		d.t.Fatalf("docker %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// checkGone fails if anything of a removed container (of any, for "") is
// left while the daemon runs: a cgroup, a mount, runtime state, a process.
func (d *dockerd) checkGone(id string) {
	d.t.Helper()
	for _, c := range d.cgroups() {
		if strings.Contains(c, id) && !strings.HasSuffix(c, "/"+d.cgParent) {
			d.t.Errorf("cgroup %s left behind", c)
		}
	}
	if id != "" {
		for _, m := range mountPoints() {
			if strings.Contains(m, id) {
				d.t.Errorf("mount %s left behind", m)
			}
		}
	}
	// The runtime's state: dockerd gives the shim a --root under its exec root.
	states, _ := filepath.Glob(filepath.Join(d.dir, "exec", "runtime-*", "*", "*"+id+"*"))
	for _, s := range states {
		d.t.Errorf("runtime state %s left behind", s)
	}
	// A shim exits soon after its container is deleted, not at once.
	var left []proc
	for range 20 {
		left = left[:0]
		for _, p := range d.processes() {
			if !strings.HasPrefix(p.cmdline, "containerd --config") {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range left {
		d.t.Errorf("process %d (%q) left behind", p.pid, p.cmdline)
	}
}

// cgroups lists the cgroup directories under the daemon's cgroup parent (and
// the parent itself) in every hierarchy, deepest first.
func (d *dockerd) cgroups() []string { return cgtree.Dirs(d.cgParent) }

type proc struct {
	pid     int
	cmdline string
}

// processes lists the processes in the daemon's cgroups, and its shims and
// containerd (which live outside them), but not dockerd itself.
func (d *dockerd) processes() []proc {
	var out []proc
	files, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, f := range files {
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if pid == os.Getpid() || (d.cmd != nil && pid == d.cmd.Process.Pid) {
			continue
		}
		if strings.HasPrefix(procStatus(pid, "State"), "Z") {
			continue // gone, only not reaped yet
		}
		cg, _ := os.ReadFile(f)
		cl, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "cmdline"))
		cmdline := strings.TrimRight(strings.ReplaceAll(string(cl), "\x00", " "), " ")
		if bytes.Contains(cg, []byte(":/"+d.cgParent+"/")) || bytes.Contains(cg, []byte(":/"+d.cgParent+"\n")) ||
			strings.Contains(cmdline, d.dir) {
			out = append(out, proc{pid, cmdline})
		}
	}
	return out
}

// stop ends dockerd: SIGTERM, which also stops the containerd it started,
// then SIGKILL after 15 s.
func (d *dockerd) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.t.Errorf("dockerd did not stop on SIGTERM in 15s: killing it")
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// teardown removes everything of the daemon, containers first.
func (d *dockerd) teardown() {
	t := d.t
	if d.cmd != nil {
		select {
		case <-d.exited:
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			out, _ := exec.CommandContext(ctx, d.cli, "--host", "unix://"+d.sock, "ps", "-aq").Output()
			if ids := strings.Fields(string(out)); len(ids) > 0 {
				args := append([]string{"--host", "unix://" + d.sock, "rm", "-f"}, ids...)
				if b, err := exec.CommandContext(ctx, d.cli, args...).CombinedOutput(); err != nil {
					t.Logf("docker rm -f %v: %v\n%s", ids, err, b)
				}
			}
			cancel()
		}
	}
	d.stop()
	// Whatever is left: shims, a containerd, container processes.
	for range 3 {
		procs := d.processes()
		if len(procs) == 0 {
			break
		}
		for _, p := range procs {
			t.Logf("killing leftover process %d: %s", p.pid, p.cmdline)
			syscall.Kill(p.pid, syscall.SIGKILL)
			removeShimSocket(p.cmdline)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Mounts under the daemon's directory, deepest (latest) first.
	mps := mountPoints()
	for i := len(mps) - 1; i >= 0; i-- {
		if mps[i] == d.dir || strings.HasPrefix(mps[i], d.dir+"/") {
			if err := unix.Unmount(mps[i], unix.MNT_DETACH); err != nil && err != unix.EINVAL {
				t.Errorf("unmount %s: %v", mps[i], err)
			}
		}
	}
	for _, c := range d.cgroups() {
		var err error
		for range 20 {
			if err = unix.Rmdir(c); err == nil || err == unix.ENOENT {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil && err != unix.ENOENT {
			t.Errorf("remove cgroup %s: %v", c, err)
		}
	}
	if err := os.RemoveAll(d.dir); err != nil {
		t.Errorf("remove %s: %v", d.dir, err)
	}
	for _, p := range d.processes() {
		t.Errorf("process %d (%s) still there after teardown", p.pid, p.cmdline)
	}
}

// removeShimSocket removes the socket of a killed containerd shim v2 (given
// its command line), which the shim would have removed on a clean exit:
// /run/containerd/s/ and the sha256 of ADDRESS/NAMESPACE/ID, as containerd
// 1.6 names it.
func removeShimSocket(cmdline string) {
	f := strings.Fields(cmdline)
	if len(f) == 0 || !strings.HasPrefix(filepath.Base(f[0]), "containerd-shim") {
		return
	}
	opt := map[string]string{}
	for i := 1; i+1 < len(f); i++ {
		if strings.HasPrefix(f[i], "-") {
			opt[strings.TrimLeft(f[i], "-")] = f[i+1]
		}
	}
	if opt["address"] == "" || opt["namespace"] == "" || opt["id"] == "" {
		return
	}
	sum := sha256.Sum256([]byte(filepath.Join(opt["address"], opt["namespace"], opt["id"])))
	os.Remove(fmt.Sprintf("/run/containerd/s/%x", sum))
}

// mountPoints lists this mount namespace's mount points in mountinfo order.
func mountPoints() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 4 {
			out = append(out, mount.Unescape(fields[4]))
		}
	}
	return out
}

// pidCgroupFile reads a file of process pid's cgroup: file1 in the v1
// hierarchy of controller, or file2 in its v2 cgroup where controller has no
// v1 hierarchy.
func pidCgroupFile(t *testing.T, pid int, controller, file1, file2 string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var path string
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				path = filepath.Join("/sys/fs/cgroup", parts[1], parts[2], file1)
			}
		}
		if parts[0] == "0" && path == "" {
			path = filepath.Join("/sys/fs/cgroup", parts[2], file2)
		}
	}
	v, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("cgroup of %d: %v", pid, err)
	}
	return strings.TrimSpace(string(v))
}

// procStatus returns a field of /proc/PID/status.
func procStatus(pid int, field string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func readlink(p string) string {
	s, _ := os.Readlink(p)
	return s
}

// tarDir writes the tree at dir to a tar file: directories, regular files
// and symlinks, owned by root.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname = rel, 0, 0, "root", "root"
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := io.Copy(tw, src); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// checkArchives moves images both ways between dockerd and berth's image
// store: `docker save` output loads into berth and runs there, and what
// `berth save` writes loads into docker and runs there (with berth as the
// runtime).
func checkArchives(t *testing.T, d *dockerd, img string) {
	data := filepath.Join(d.dir, "berth-data")
	berth := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(berthBin, args...)
		cmd.Env = append(os.Environ(), "BERTH_ROOT="+data, "BERTH_RUNTIME_ROOT="+filepath.Join(d.dir, "berth-state"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("berth %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}
	dockerTar := filepath.Join(d.dir, "docker-save.tar")
	d.ok("save", "-o", dockerTar, img)
	if out := berth("load", "-i", dockerTar); !strings.Contains(out, "Loaded image: "+img) {
		t.Fatalf("berth load of docker save output said %q", out)
	}
	if got := berth("run", "--rm", img, "echo", "from docker"); got != "from docker\n" {
		t.Fatalf("berth run of an image docker saved: %q", got)
	}
	dockerID := strings.TrimSpace(d.ok("image", "inspect", "-f", "{{.Id}}", img))
	if berthID := strings.TrimSpace(berth("image", "inspect", img)); !strings.Contains(berthID, dockerID) {
		t.Errorf("berth's image ID is not docker's %s:\n%s", dockerID, berthID)
	}

	berth("tag", img, "berth-test/from-berth:v1")
	berthTar := filepath.Join(d.dir, "berth-save.tar")
	berth("save", "-o", berthTar, "berth-test/from-berth:v1")
	if out := d.ok("load", "-i", berthTar); !strings.Contains(out, "berth-test/from-berth:v1") {
		t.Fatalf("docker load of berth save output said %q", out)
	}
	if got := d.ok("run", "--rm", "--runtime", "berth", "--network", "none", "berth-test/from-berth:v1", "echo", "from berth"); got != "from berth\n" {
		t.Fatalf("docker run of an image berth saved: %q", got)
	}
	d.ok("rmi", "berth-test/from-berth:v1")
}
