package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/bench/internal/benchkit"
)

// work is the run's scratch space.
type work = benchkit.Work

func newWork(keep bool) (*work, error) { return benchkit.NewWork("eb-", keep, progress) }

var lastBytes = benchkit.LastBytes

// daemon is a daemon the benchmark started.
type daemon = benchkit.Daemon

// startDaemon runs argv with its output to logPath and waits until it
// answers GET /_ping on sock.
func startDaemon(name string, argv []string, logPath, sock string) (*daemon, error) {
	return benchkit.StartDaemon(name, argv, logPath, sock, interrupted.Load, progress)
}

// removeAll is the first step of every teardown: rm -f of the engine's
// containers, those the benchmark knows of and those ps -aq lists.
func (e *engine) removeAll(psArgs ...string) {
	if e.setupErr != nil && e.ids == nil {
		return
	}
	saved := e.setupErr
	e.setupErr = nil // the daemon may be up even if the load failed
	defer func() { e.setupErr = saved }()
	ids := map[string]bool{}
	for id := range e.ids {
		ids[id] = true
	}
	if _, out, err := e.runAll(psArgs...); err == nil {
		for _, id := range strings.Fields(out) {
			ids[id] = true
		}
	}
	var list []string
	for id := range ids {
		list = append(list, id)
	}
	for len(list) > 0 {
		k := min(len(list), 50)
		if _, _, err := e.run(cmdTimeout, append(e.rmForce, list[:k]...)...); err != nil {
			progress("%s: %v", e.name, err)
		}
		list = list[k:]
	}
}

// runAll is run with all of stdout.
func (e *engine) runAll(args ...string) (time.Duration, string, error) {
	argv := append(append([]string(nil), e.cli...), args...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), e.env...)
	start := time.Now()
	out, err := cmd.Output()
	return time.Since(start), string(out), err
}

// setupDocker starts a private dockerd (Debian's docker.io: it starts its
// own containerd under the exec root) with no bridge, no iptables, its
// cgroups under a parent of its own, and overlay2 storage.
func setupDocker(w *work) *engine {
	dir := w.Path("docker")
	execRoot := filepath.Join(dir, "x")
	sock := filepath.Join(dir, "d.sock")
	cgParent := filepath.Base(w.Dir) + "-docker"
	cli := "/usr/bin/docker" // the CLI of the same package; another docker on PATH may be newer
	if _, err := os.Stat(cli); err != nil {
		cli = "docker"
	}
	e := &engine{
		name:     "docker",
		cli:      []string{cli, "-H", "unix://" + sock},
		env:      []string{"DOCKER_CONFIG=" + filepath.Join(dir, "cli")},
		runFlags: []string{"--network", "none"},
		rmForce:  []string{"rm", "-f"},
	}
	var d *daemon
	e.helpers = func() []int {
		return findProcs(func(p proc) bool {
			return filepath.Base(p.exe) == "containerd-shim-runc-v2" && strings.Contains(p.cmdline, execRoot)
		})
	}
	containerd := func() []int {
		return findProcs(func(p proc) bool {
			return filepath.Base(p.exe) == "containerd" && strings.Contains(p.cmdline, execRoot)
		})
	}
	e.daemons = func() []int {
		if d == nil {
			return nil
		}
		return append(containerd(), d.Pid())
	}
	e.teardown = func() {
		if d != nil {
			e.removeAll("ps", "-aq", "--no-trunc")
			d.Stop()
		}
		// Whatever is left: shims (and their sockets), a containerd,
		// container processes in the daemon's cgroups.
		for _, pid := range append(e.helpers(), containerd()...) {
			p, _ := readProc(pid)
			unix.Kill(pid, unix.SIGKILL)
			removeShimSocket(p.cmdline)
		}
		benchkit.KillCgroupProcs(cgParent)
		benchkit.UnmountUnder(progress, dir)
		benchkit.RemoveCgroups(progress, cgParent)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		e.setupErr = err
		return e
	}
	progress("docker: starting dockerd")
	// The config file keeps dockerd 20.10 from reading /etc/docker/daemon.json
	// and from writing its key to /etc/docker/key.json; later versions
	// refuse that setting and get an empty file.
	var err error
	for _, config := range []string{fmt.Sprintf(`{"deprecated-key-path": %q}`, filepath.Join(dir, "key.json")), `{}`} {
		conf := filepath.Join(dir, "daemon.json")
		if err = os.WriteFile(conf, []byte(config), 0o644); err != nil {
			break
		}
		d, err = startDaemon("dockerd", []string{"dockerd",
			"--config-file", conf,
			"--data-root", filepath.Join(dir, "data"),
			"--exec-root", execRoot,
			"--pidfile", filepath.Join(dir, "d.pid"),
			"-H", "unix://" + sock,
			"--storage-driver", "overlay2",
			"--cgroup-parent", "/" + cgParent,
			"--exec-opt", "native.cgroupdriver=cgroupfs",
			"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false",
		}, filepath.Join(dir, "dockerd.log"), sock)
		if err == nil || !strings.Contains(err.Error(), "configuration") {
			break
		}
	}
	if err != nil {
		e.setupErr = err
		return e
	}
	server := firstLine(e.cli[0], append(e.cli[1:], "version", "-f", "{{.Server.Version}}")...)
	e.version = fmt.Sprintf("dockerd %s, overlay2; %s; %s; CLI %s", server,
		firstLine("containerd", "--version"), firstLine("runc", "--version"), firstLine(cli, "--version"))
	return e
}

// setupPodman gives podman storage, run and tmp dirs of its own (its
// runroot must be short: podman refuses one over 50 characters), overlay
// storage, cgroupfs, and runc (crun refuses this host's hybrid cgroups).
// Its containers get a cgroup parent of their own, no network, and
// ulimits that root may set here: podman's default limits are above what
// a sandbox without CAP_SYS_RESOURCE allows.
func setupPodman(w *work) *engine {
	dir := w.Path("podman")
	cgParent := filepath.Base(w.Dir) + "-podman"
	e := &engine{
		name: "podman",
		cli: []string{"podman", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
			"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "overlay",
			"--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", "runc"},
		env: []string{"TMPDIR=" + filepath.Join(dir, "t")},
		runFlags: []string{"--network", "none", "--cgroup-parent", "/" + cgParent,
			"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"},
		// rm -f stops with the container's stop timeout (10 s) first.
		rmForce: []string{"rm", "-f", "-t", "0"},
	}
	e.helpers = func() []int {
		return findProcs(func(p proc) bool {
			return filepath.Base(p.exe) == "conmon" && strings.Contains(p.cmdline, dir)
		})
	}
	e.teardown = func() {
		e.removeAll("ps", "-aq", "--no-trunc")
		for _, pid := range e.helpers() {
			unix.Kill(pid, unix.SIGKILL)
		}
		benchkit.KillCgroupProcs(cgParent)
		benchkit.UnmountUnder(progress, dir)
		benchkit.RemoveCgroups(progress, cgParent)
	}
	for _, d := range []string{dir, filepath.Join(dir, "t")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			e.setupErr = err
			return e
		}
	}
	if n := len(filepath.Join(dir, "run")); n > 50 {
		e.setupErr = fmt.Errorf("podman's runroot %s is %d characters, over its limit of 50", filepath.Join(dir, "run"), n)
		return e
	}
	e.version = fmt.Sprintf("%s, overlay; %s; %s", firstLine("podman", "--version"), firstLine("conmon", "--version"), firstLine("runc", "--version"))
	return e
}

// setupBerth starts a private berth daemon: its data root under the temp
// dir, its exec root (monitor sockets) and runtime state under /run, its
// socket in the data dir; the CLI finds it through BERTH_HOST.
func setupBerth(w *work, bin string) *engine {
	dir := w.Path("berth")
	sock := filepath.Join(dir, "b.sock")
	execRoot := filepath.Join(w.Run, "x")
	runtimeRoot := filepath.Join(w.Run, "r")
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	e := &engine{
		name: "berth",
		cli:  []string{bin},
		env:  []string{"BERTH_HOST=unix://" + sock},
		// As docker's and podman's: a namespace with only lo (the
		// default bridge is measured by bench/network.sh).
		runFlags: []string{"--network", "none"},
		rmForce:  []string{"rm", "-f"},
	}
	var d *daemon
	hostNS, _ := os.Readlink("/proc/self/ns/pid")
	self := os.Getpid()
	// Its monitors: processes of the berth binary in the host's pid
	// namespace, neither the daemon nor a CLI command of the benchmark's
	// (none runs while memory is measured). Container processes live in
	// pid namespaces of their own.
	e.helpers = func() []int {
		return findProcs(func(p proc) bool {
			return strings.TrimSuffix(p.exe, " (deleted)") == bin && (d == nil || p.pid != d.Pid()) &&
				p.pidNS == hostNS && p.ppid != self
		})
	}
	e.daemons = func() []int {
		if d == nil {
			return nil
		}
		return []int{d.Pid()}
	}
	e.teardown = func() {
		if d != nil {
			e.removeAll("ps", "-aq", "--no-trunc")
			d.Stop()
		}
		// Whatever is left: monitors, then containers in the runtime's state.
		for _, pid := range e.helpers() {
			unix.Kill(pid, unix.SIGKILL)
		}
		if out, err := exec.Command(bin, "runtime", "--root", runtimeRoot, "list", "-q").Output(); err == nil {
			for _, id := range strings.Fields(string(out)) {
				if b, err := exec.Command(bin, "runtime", "--root", runtimeRoot, "delete", "--force", id).CombinedOutput(); err != nil {
					progress("berth: delete leftover container %s: %v: %s", id, err, bytes.TrimSpace(b))
				}
			}
		}
		benchkit.UnmountUnder(progress, dir, w.Run)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		e.setupErr = err
		return e
	}
	progress("berth: starting the daemon")
	// Its config file keeps it from reading /etc/berth/daemon.json.
	conf := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(conf, []byte("{}"), 0o644); err != nil {
		e.setupErr = err
		return e
	}
	var err error
	d, err = startDaemon("berth daemon", []string{bin, "--data-root", filepath.Join(dir, "data"), "daemon",
		"--config-file", conf, "-H", "unix://" + sock, "--exec-root", execRoot, "--runtime-root", runtimeRoot,
	}, filepath.Join(dir, "daemon.log"), sock)
	if err != nil {
		e.setupErr = err
		return e
	}
	e.version = fmt.Sprintf("%s (%s), daemon and CLI", bin, firstLine(bin, "version", "--format", "{{.Server.Version}}"))
	return e
}

// firstLine is the first line of a command's output, or what went wrong.
func firstLine(name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Env = os.Environ()
	out, err := cmd.Output()
	if err != nil {
		return fmt.Sprintf("(%s %s: %v)", name, strings.Join(args, " "), err)
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// proc is what the benchmark reads of a process.
type proc struct {
	pid, ppid int
	exe       string
	cmdline   string
	pidNS     string
}

func readProc(pid int) (proc, error) {
	p := proc{pid: pid}
	base := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(base + "/stat")
	if err != nil {
		return p, err
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i > 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 {
			if f[0] == "Z" {
				return p, fmt.Errorf("process %d is a zombie", pid)
			}
			p.ppid, _ = strconv.Atoi(f[1])
		}
	}
	p.exe, _ = os.Readlink(base + "/exe")
	cl, _ := os.ReadFile(base + "/cmdline")
	p.cmdline = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
	p.pidNS, _ = os.Readlink(base + "/ns/pid")
	return p, nil
}

// cmdline is a process's command line, spaces between the arguments.
func cmdline(pid int) string {
	p, _ := readProc(pid)
	return p.cmdline
}

// findProcs lists the live processes that match.
func findProcs(match func(proc) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if p, err := readProc(pid); err == nil && match(p) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procMem is a process's RSS, PSS and private (USS) memory in KiB
// (smaps_rollup; VmRSS for all three where that is missing).
func procMem(pid int) (rss, pss, uss int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err == nil {
		return field(b, "Rss:"), field(b, "Pss:"), field(b, "Private_Clean:") + field(b, "Private_Dirty:")
	}
	b, _ = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	rss = field(b, "VmRSS:")
	return rss, rss, rss
}

// memAvailable is /proc/meminfo's MemAvailable in KiB.
func memAvailable() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	return field(b, "MemAvailable:")
}

// field reads "Name:   123 kB" from a /proc file.
func field(b []byte, name string) int64 {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), name); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// removeShimSocket removes the socket of a killed containerd shim v2 (given
// its command line), which the shim removes itself on a clean exit:
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
