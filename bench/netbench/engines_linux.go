package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/bench/internal/benchkit"
)

// imageRef is the image both engines load and run.
const imageRef = "netbench/busybox:1"

// ctrName is the benchmark's container in each engine.
const ctrName = "netbench"

// The published ports: host port -> container port, one per case.
var ports = [][2]int{{8000, 80}, {8080, 8080}, {5001, 5001}}

// engine is one engine under test in its own network namespaces.
type engine struct {
	name     string
	cli      []string // the CLI and its global flags
	env      []string // added to the CLI's environment
	ns       string   // the engine's host namespace: daemon, bridge, rules, proxies
	clientNS string   // the client one hop away
	hostIP   string   // the host's own non-loopback address (in ns)
	ctrIP    string   // the container's address
	version  string
	setupErr error
	undo     []func() // teardown steps, run last first
}

func (e *engine) atTeardown(f func()) { e.undo = append(e.undo, f) }

// teardown removes everything of the engine: container, daemon, leftover
// processes, cgroups, namespaces.
func (e *engine) teardown() {
	for i := len(e.undo) - 1; i >= 0; i-- {
		e.undo[i]()
	}
	e.undo = nil
}

// work is the run's scratch space, with the prefix of its namespaces.
type work struct {
	*benchkit.Work
	prefix string
}

func newWork(prefix string, keep bool) (*work, error) {
	w, err := benchkit.NewWork("nb-", keep, progress)
	if err != nil {
		return nil, err
	}
	return &work{Work: w, prefix: prefix}, nil
}

// command runs a command to its end and returns its stdout; its stderr is
// in the error.
func command(timeout time.Duration, env []string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = lastBytes(bytes.TrimSpace(stdout.Bytes()), 600)
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timed out after %v)", err, timeout)
		}
		return stdout.String(), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, lastBytes([]byte(msg), 1500))
	}
	return stdout.String(), nil
}

// cmd runs the engine's CLI.
func (e *engine) cmd(args ...string) (string, error) {
	return command(2*time.Minute, e.env, append(append([]string(nil), e.cli...), args...)...)
}

// setupNet makes the engine's two namespaces and the veth between them:
// ns holds 198.18.N.1/24 (the host's own address for the benchmark, from
// the range RFC 2544 sets aside for benchmarks), clientNS 198.18.N.2/24
// with its default route through ns.
func (e *engine) setupNet(w *work, n int) error {
	e.ns, e.clientNS = w.prefix+"-"+e.name, w.prefix+"-"+e.name+"-c"
	e.hostIP = fmt.Sprintf("198.18.%d.1", n)
	clientIP := fmt.Sprintf("198.18.%d.2", n)
	for _, ns := range []string{e.ns, e.clientNS} {
		if _, err := command(time.Minute, nil, "ip", "netns", "add", ns); err != nil {
			return err
		}
		e.atTeardown(func() {
			// What is left in it (daemon helpers, proxies) goes first;
			// the namespace goes with its last process.
			killNetnsProcs(ns)
			if _, err := command(time.Minute, nil, "ip", "netns", "delete", ns); err != nil {
				progress("%v", err)
			}
		})
	}
	for _, argv := range [][]string{
		{"ip", "-n", e.ns, "link", "set", "lo", "up"},
		{"ip", "-n", e.clientNS, "link", "set", "lo", "up"},
		{"ip", "-n", e.ns, "link", "add", "nb0", "type", "veth", "peer", "name", "nb0", "netns", e.clientNS},
		{"ip", "-n", e.ns, "addr", "add", e.hostIP + "/24", "dev", "nb0"},
		{"ip", "-n", e.clientNS, "addr", "add", clientIP + "/24", "dev", "nb0"},
		{"ip", "-n", e.ns, "link", "set", "nb0", "up"},
		{"ip", "-n", e.clientNS, "link", "set", "nb0", "up"},
		{"ip", "-n", e.clientNS, "route", "add", "default", "via", e.hostIP},
	} {
		if _, err := command(time.Minute, nil, argv...); err != nil {
			return err
		}
	}
	return nil
}

// inNS is argv run in a network namespace. Through nsenter, not ip netns
// exec: that one also remounts /sys for the namespace, which hides the
// cgroup mounts under it from the daemons.
func inNS(ns string, argv ...string) []string {
	return append([]string{"nsenter", "--net=" + filepath.Join("/run/netns", ns), "--"}, argv...)
}

// startContainer loads the image, runs the container with its ports
// published on all the host's addresses, finds its address and waits
// until its servers answer.
func (e *engine) startContainer(tarball, self string) error {
	if _, err := e.cmd("load", "-i", tarball); err != nil {
		return fmt.Errorf("load the image: %w", err)
	}
	args := []string{"run", "-d", "--name", ctrName}
	for _, p := range ports {
		args = append(args, "-p", fmt.Sprintf("%d:%d", p[0], p[1]))
	}
	e.atTeardown(func() {
		if _, err := e.cmd("rm", "-f", ctrName); err != nil && !strings.Contains(err.Error(), "No such container") {
			progress("%s: %v", e.name, err)
		}
	})
	if _, err := e.cmd(append(args, imageRef)...); err != nil {
		return fmt.Errorf("run the container: %w", err)
	}
	out, err := e.cmd("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", ctrName)
	if err != nil {
		return fmt.Errorf("the container's address: %w", err)
	}
	e.ctrIP = strings.TrimSpace(out)
	if net.ParseIP(e.ctrIP) == nil {
		return fmt.Errorf("the container's address: inspect says %q, want one IP address", e.ctrIP)
	}
	if _, err := command(time.Minute, nil, inNS(e.ns, self, "wait", "-t", "30s",
		"http://"+e.ctrIP+":80/index.html", "http://"+e.ctrIP+":8080/", e.ctrIP+":5001")...); err != nil {
		logs, _ := e.cmd("logs", ctrName)
		return fmt.Errorf("the container's servers: %w; its logs: %s", err, lastBytes([]byte(logs), 1000))
	}
	return nil
}

// startDaemon runs argv in the engine's namespace with its output to
// logPath and waits until it answers GET /_ping on sock. It is stopped at
// teardown.
func (e *engine) startDaemon(argv []string, logPath, sock string) error {
	// nsenter execs the daemon: the same pid.
	d, err := benchkit.StartDaemon(e.name, inNS(e.ns, argv...), logPath, sock, interrupted.Load, progress)
	if err != nil {
		return err
	}
	e.atTeardown(d.Stop)
	return nil
}

// setupDocker starts a private dockerd (Debian's docker.io 20.10; it
// starts its own containerd under the exec root) in the engine's
// namespace, with its own roots, socket and cgroup parent, and otherwise
// dockerd's defaults: the docker0 bridge, iptables rules, and docker-proxy
// for each published port.
func setupDocker(w *work, n int) *engine {
	dir := w.Path("docker")
	execRoot := filepath.Join(dir, "x")
	sock := filepath.Join(dir, "d.sock")
	cgParent := filepath.Base(w.Dir) + "-docker"
	cli := "/usr/bin/docker" // the CLI of the same package; another docker on PATH may be newer
	if _, err := os.Stat(cli); err != nil {
		cli = "docker"
	}
	e := &engine{
		name: "docker",
		cli:  []string{cli, "-H", "unix://" + sock},
		env:  []string{"DOCKER_CONFIG=" + filepath.Join(dir, "cli")},
	}
	e.atTeardown(func() {
		// Container processes (in namespaces of their own) left in the
		// daemon's cgroups; shims and containerd are in e.ns and go with
		// it.
		benchkit.KillCgroupProcs(cgParent)
		benchkit.UnmountUnder(progress, dir)
		benchkit.RemoveCgroups(progress, cgParent)
	})
	if e.setupErr = os.MkdirAll(dir, 0o700); e.setupErr != nil {
		return e
	}
	if e.setupErr = e.setupNet(w, n); e.setupErr != nil {
		return e
	}
	progress("docker: starting dockerd in netns %s", e.ns)
	// The config file keeps dockerd 20.10 from reading /etc/docker/daemon.json
	// and from writing its key to /etc/docker/key.json; later versions
	// refuse that setting and get an empty file.
	var err error
	for _, config := range []string{fmt.Sprintf(`{"deprecated-key-path": %q}`, filepath.Join(dir, "key.json")), `{}`} {
		conf := filepath.Join(dir, "daemon.json")
		if err = os.WriteFile(conf, []byte(config), 0o644); err != nil {
			break
		}
		err = e.startDaemon([]string{"dockerd",
			"--config-file", conf,
			"--data-root", filepath.Join(dir, "data"),
			"--exec-root", execRoot,
			"--pidfile", filepath.Join(dir, "d.pid"),
			"-H", "unix://" + sock,
			"--storage-driver", "overlay2",
			"--cgroup-parent", "/" + cgParent,
			"--exec-opt", "native.cgroupdriver=cgroupfs",
		}, filepath.Join(dir, "dockerd.log"), sock)
		if err == nil || !strings.Contains(err.Error(), "configuration") {
			break
		}
	}
	if err != nil {
		e.setupErr = err
		return e
	}
	server := firstLine(e.env, append(e.cli, "version", "-f", "{{.Server.Version}}")...)
	e.version = fmt.Sprintf("dockerd %s (bridge docker0, iptables %s, docker-proxy for published ports)",
		server, firstLine(nil, "iptables", "--version"))
	return e
}

// setupBerth starts a private berth daemon in the engine's namespace: its
// data root under the temp dir, its exec root (monitor sockets, netns
// files) and runtime state under /run, its socket in the data dir; the CLI
// finds it through BERTH_HOST. Networking is the daemon's default: the
// berth0 bridge and nftables rules.
func setupBerth(w *work, n int, bin string) *engine {
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
	}
	e.atTeardown(func() {
		// Containers the daemon left in the runtime's state.
		if out, err := exec.Command(bin, "runtime", "--root", runtimeRoot, "list", "-q").Output(); err == nil {
			for _, id := range strings.Fields(string(out)) {
				if b, err := exec.Command(bin, "runtime", "--root", runtimeRoot, "delete", "--force", id).CombinedOutput(); err != nil {
					progress("berth: delete leftover container %s: %v: %s", id, err, bytes.TrimSpace(b))
				}
			}
		}
		benchkit.UnmountUnder(progress, dir, w.Run)
	})
	if e.setupErr = os.MkdirAll(dir, 0o700); e.setupErr != nil {
		return e
	}
	if e.setupErr = e.setupNet(w, n); e.setupErr != nil {
		return e
	}
	progress("berth: starting the daemon in netns %s", e.ns)
	// Its config file keeps it from reading /etc/berth/daemon.json.
	conf := filepath.Join(dir, "daemon.json")
	if e.setupErr = os.WriteFile(conf, []byte("{}"), 0o644); e.setupErr != nil {
		return e
	}
	e.setupErr = e.startDaemon([]string{bin, "--data-root", filepath.Join(dir, "data"), "daemon",
		"--config-file", conf, "-H", "unix://" + sock, "--exec-root", execRoot, "--runtime-root", runtimeRoot,
	}, filepath.Join(dir, "daemon.log"), sock)
	if e.setupErr != nil {
		return e
	}
	e.version = fmt.Sprintf("%s %s (bridge berth0, nftables)", bin, firstLine(e.env, bin, "version", "--format", "{{.Server.Version}}"))
	return e
}

// firstLine is the first line of a command's output, or what went wrong.
func firstLine(env []string, argv ...string) string {
	out, err := command(time.Minute, env, argv...)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	l, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return l
}

// killNetnsProcs kills the processes whose network namespace is the named
// one (all of them the benchmark's: the engine's daemon, its helpers and
// proxies, or a client), and waits a little for them to go.
func killNetnsProcs(name string) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join("/run/netns", name), &st); err != nil {
		return
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	find := func() []int {
		ents, _ := os.ReadDir("/proc")
		var pids []int
		for _, ent := range ents {
			pid, err := strconv.Atoi(ent.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); l == want {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	for i := 0; i < 50; i++ {
		pids := find()
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	progress("processes still in netns %s: %v", name, find())
}

var lastBytes = benchkit.LastBytes
