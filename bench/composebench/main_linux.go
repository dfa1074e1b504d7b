// Command composebench times a compose project's `up -d` and `down -v`
// side by side: `berth compose` against a private berth daemon and Debian's
// docker-compose 1.29 against a private Debian dockerd (docker.io), in one
// run, on the same project (compose/testdata/app3: db healthy on a named
// volume, app waiting for it, web publishing a port) and the same busybox
// image, loaded into both. The engines take turns in each iteration; after
// every up the benchmark checks (untimed) that web answers db's value
// through the published port, after every down that no container, network
// or volume of the project is left. The table shows medians and the ratio
// berth/docker.
//
// Each engine runs in a network namespace of its own with its daemon's
// default networking (dockerd: bridges, iptables, docker-proxy; berth:
// bridges, nftables), so neither touches the machine's network nor the
// other engine's. Everything the run made (projects, daemons, namespaces,
// mounts, cgroups, temp dirs) is removed at the end, also on ^C.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/bench/internal/benchkit"
)

const (
	imageRef = "bench/busybox:1"
	project  = "app3"
	webPort  = "8080"
	// cmdTimeout bounds one command.
	cmdTimeout = 5 * time.Minute
)

// The cases in table order.
const (
	caseUp   = "up -d"
	caseDown = "down -v"
)

var cases = []string{caseUp, caseDown}

var interrupted atomic.Bool

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] composebench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// engine is one side: a daemon in its own network namespace, its CLI and
// its compose client.
type engine struct {
	name     string
	cli      []string // the engine's CLI and its global flags
	compose  []string // the compose client, up to the command
	env      []string // added to both commands' environment
	ns       string
	version  string
	setupErr error
	undo     []func() // teardown steps, run last first
	times    map[string][]time.Duration
	fail     map[string]string
}

func (e *engine) atTeardown(f func()) { e.undo = append(e.undo, f) }

func (e *engine) teardown() {
	for i := len(e.undo) - 1; i >= 0; i-- {
		e.undo[i]()
	}
	e.undo = nil
}

// command runs argv in dir to its end; it returns the time it took and
// its stdout, and with a failure its stderr in the error.
func command(dir string, env []string, argv ...string) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, out.String(), fmt.Errorf("%s: %v\n%s%s", strings.Join(argv, " "), err,
			benchkit.LastBytes(out.Bytes(), 1500), benchkit.LastBytes(errb.Bytes(), 1500))
	}
	return d, out.String(), nil
}

// run runs the engine's CLI.
func (e *engine) run(args ...string) (string, error) {
	_, out, err := command("", e.env, append(append([]string(nil), e.cli...), args...)...)
	return out, err
}

// composeRun runs the engine's compose client on the project in dir.
func (e *engine) composeRun(dir string, args ...string) (time.Duration, error) {
	d, _, err := command(dir, e.env, append(append([]string(nil), e.compose...), args...)...)
	return d, err
}

func main() {
	n := flag.Int("n", 5, "timed iterations of each case per engine")
	warm := flag.Int("warm", 1, "untimed iterations first (each engine's first up makes its bridges, loads modules)")
	berth := flag.String("berth", "bin/berth", "the berth binary")
	file := flag.String("f", "compose/testdata/app3/compose.yaml", "the compose file (IMAGE and WEB_PORT are set)")
	engines := flag.String("engines", "docker,berth", "the engines to run; berth-dc is docker-compose 1.29 on berth's daemon")
	keep := flag.Bool("keep", false, "leave the temp dir (logs, the project) in place")
	prefix := flag.String("prefix", fmt.Sprintf("cb%d", os.Getpid()), "prefix of the network namespaces' names")
	flag.Parse()
	if err := run(*n, *warm, *berth, *file, *engines, *prefix, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "composebench:", err)
		os.Exit(1)
	}
}

func run(n, warm int, berthBin, file, which, prefix string, keep bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (it starts daemons in network namespaces)")
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sigs
		progress("interrupted: finishing the current step, then cleaning up")
		interrupted.Store(true)
	}()
	w, err := benchkit.NewWork("cb-", keep, progress)
	if err != nil {
		return err
	}
	defer w.Remove()

	projDir := w.Path(project)
	if err := writeProject(file, projDir); err != nil {
		return err
	}
	archive := w.Path("busybox.tar")
	if err := benchkit.WriteBusyboxImage(archive, imageRef, benchkit.BusyboxImage{
		Applets: []string{"httpd", "od"},
		Config: map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"sh"},
		},
		CreatedBy: "composebench: /bin/busybox and its applets",
	}); err != nil {
		return err
	}

	var es []*engine
	for _, name := range strings.Split(which, ",") {
		switch name {
		case "docker":
			es = append(es, setupDocker(w, prefix))
		case "berth":
			es = append(es, setupBerth(w, prefix, berthBin, false))
		case "berth-dc":
			es = append(es, setupBerth(w, prefix, berthBin, true))
		default:
			return fmt.Errorf("unknown engine %q (docker, berth, berth-dc)", name)
		}
	}
	defer func() {
		for _, e := range es {
			e.teardown()
		}
	}()
	for _, e := range es {
		e.times, e.fail = map[string][]time.Duration{}, map[string]string{}
		if e.setupErr != nil {
			continue
		}
		if _, err := e.run("load", "-i", archive); err != nil {
			e.setupErr = fmt.Errorf("load the image: %w", err)
		}
	}

	for i := 0; i < warm+n && !interrupted.Load(); i++ {
		timed := i >= warm
		if timed {
			progress("iteration %d/%d", i-warm+1, n)
		} else {
			progress("warm-up %d/%d", i+1, warm)
		}
		for _, e := range es {
			if e.setupErr != nil || interrupted.Load() {
				continue
			}
			if ok := e.measure(caseUp, timed, projDir, e.checkUp, "up", "-d"); !ok {
				// Whatever up made goes, untimed, before the next try.
				e.composeRun(projDir, "down", "-v", "-t", "0")
				continue
			}
			e.measure(caseDown, timed, projDir, e.checkDown, "down", "-v")
		}
	}

	fmt.Printf("\nproject: %s (3 services: db healthy on a named volume, app, web publishing a port), image %s\n", file, imageRef)
	fmt.Printf("%d iterations after %d warm-up, the engines taking turns; medians\n", n, warm)
	for _, e := range es {
		v := e.version
		if e.setupErr != nil {
			v = "SETUP FAILED: " + e.setupErr.Error()
		}
		fmt.Printf("%-7s %s\n", e.name+":", v)
	}
	// Each engine's median, then each other engine's ratio to docker's.
	var docker *engine
	fmt.Printf("\n%-10s", "case")
	for _, e := range es {
		if e.name == "docker" {
			docker = e
		}
		fmt.Printf(" %12s", e.name)
	}
	for _, e := range es {
		if docker != nil && e != docker {
			fmt.Printf(" %15s", e.name+"/docker")
		}
	}
	fmt.Println()
	for _, c := range cases {
		fmt.Printf("%-10s", c)
		for _, e := range es {
			fmt.Printf(" %12s", show(e, c))
		}
		for _, e := range es {
			if docker == nil || e == docker {
				continue
			}
			ratio := "-"
			if dm, m := median(docker.times[c]), median(e.times[c]); dm > 0 && m > 0 {
				ratio = fmt.Sprintf("%.2f", float64(m)/float64(dm))
			}
			fmt.Printf(" %15s", ratio)
		}
		fmt.Println()
	}
	for _, e := range es {
		for _, c := range cases {
			if f := e.fail[c]; f != "" {
				fmt.Printf("\n%s, %s FAILED:\n%s\n", e.name, c, f)
			}
		}
	}
	return nil
}

// measure runs the compose command of case c, then check (untimed); it
// records the time when timed and both succeeded, the first failure
// otherwise.
func (e *engine) measure(c string, timed bool, dir string, check func() error, args ...string) bool {
	d, err := e.composeRun(dir, args...)
	if err == nil {
		err = check()
	}
	if err != nil {
		if e.fail[c] == "" {
			e.fail[c] = err.Error()
		}
		progress("%s: %s failed", e.name, c)
		return false
	}
	if timed {
		e.times[c] = append(e.times[c], d)
	}
	return true
}

// checkUp: web answers the 16 hex digits db made, through app, on the
// published port (from inside the engine's namespace).
func (e *engine) checkUp() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, out, err := command("", nil, inNS(e.ns, "timeout", "5", "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:"+webPort+"/cgi-bin/value")...)
		if err == nil && regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(out) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after up, web did not answer db's value within 30s: %q %v", out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkDown: nothing of the project is left.
func (e *engine) checkDown() error {
	label := "label=com.docker.compose.project=" + project
	for _, q := range [][]string{
		{"ps", "-aq", "--filter", label},
		{"network", "ls", "-q", "--filter", label},
		{"volume", "ls", "-q", "--filter", label},
	} {
		out, err := e.run(q...)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("after down -v, %s lists %s", strings.Join(q[:2], " "), strings.Join(strings.Fields(out), " "))
		}
	}
	return nil
}

// writeProject copies the compose file into dir without the top-level
// name: docker-compose 1.29 predates it; -p names the project for both.
func writeProject(file, dir string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "name:") {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "\n")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(s), 0o644)
}

func show(e *engine, c string) string {
	d := median(e.times[c])
	if e.fail[c] != "" && d == 0 {
		return "FAILED"
	}
	if d == 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// inNS is argv run in a network namespace. Through nsenter, not ip netns
// exec: that one also remounts /sys for the namespace, which hides the
// cgroup mounts under it from the daemons.
func inNS(ns string, argv ...string) []string {
	return append([]string{"nsenter", "--net=" + filepath.Join("/run/netns", ns), "--"}, argv...)
}

// setupNS makes the engine's network namespace with lo up; it goes at
// teardown with whatever still runs in it.
func (e *engine) setupNS(prefix string) error {
	e.ns = prefix + "-" + e.name
	if _, _, err := command("", nil, "ip", "netns", "add", e.ns); err != nil {
		return err
	}
	e.atTeardown(func() {
		killNetnsProcs(e.ns)
		if _, _, err := command("", nil, "ip", "netns", "delete", e.ns); err != nil {
			progress("%v", err)
		}
	})
	_, _, err := command("", nil, "ip", "-n", e.ns, "link", "set", "lo", "up")
	return err
}

// startDaemon runs argv in the engine's namespace and waits until it
// answers on sock; it is stopped at teardown, after the project went.
func (e *engine) startDaemon(argv []string, logPath, sock, projDir string) error {
	d, err := benchkit.StartDaemon(e.name, inNS(e.ns, argv...), logPath, sock, interrupted.Load, progress)
	if err != nil {
		return err
	}
	e.atTeardown(func() {
		if _, err := e.composeRun(projDir, "down", "-v", "-t", "0"); err != nil {
			progress("%s: %v", e.name, err)
		}
		d.Stop()
	})
	return nil
}

// setupDocker starts a private dockerd (Debian's docker.io 20.10: it
// starts its own containerd under the exec root) in its namespace, with
// its own roots, socket and cgroup parent and otherwise dockerd's
// defaults; Debian's docker-compose 1.29 drives it.
func setupDocker(w *benchkit.Work, prefix string) *engine {
	dir := w.Path("docker")
	execRoot := filepath.Join(dir, "x")
	sock := filepath.Join(dir, "d.sock")
	cgParent := filepath.Base(w.Dir) + "-docker"
	cli := "/usr/bin/docker" // the CLI of the same package; another docker on PATH may be newer
	if _, err := os.Stat(cli); err != nil {
		cli = "docker"
	}
	e := &engine{
		name:    "docker",
		cli:     []string{cli, "-H", "unix://" + sock},
		compose: []string{"docker-compose", "-p", project},
		env: []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(dir, "cli"),
			"IMAGE=" + imageRef, "WEB_PORT=" + webPort},
	}
	e.atTeardown(func() {
		// Container processes left in the daemon's cgroups; containerd
		// and the shims are in the namespace and go with it.
		benchkit.KillCgroupProcs(cgParent)
		benchkit.UnmountUnder(progress, dir)
		benchkit.RemoveCgroups(progress, cgParent)
	})
	if e.setupErr = os.MkdirAll(dir, 0o700); e.setupErr != nil {
		return e
	}
	if e.setupErr = e.setupNS(prefix); e.setupErr != nil {
		return e
	}
	progress("docker: starting dockerd in netns %s", e.ns)
	// The config file keeps dockerd 20.10 from reading /etc/docker/daemon.json
	// and from writing its key to /etc/docker/key.json; later versions
	// refuse that setting and get an empty file.
	for _, config := range []string{fmt.Sprintf(`{"deprecated-key-path": %q}`, filepath.Join(dir, "key.json")), `{}`} {
		conf := filepath.Join(dir, "daemon.json")
		if e.setupErr = os.WriteFile(conf, []byte(config), 0o644); e.setupErr != nil {
			return e
		}
		e.setupErr = e.startDaemon([]string{"dockerd",
			"--config-file", conf,
			"--data-root", filepath.Join(dir, "data"),
			"--exec-root", execRoot,
			"--pidfile", filepath.Join(dir, "d.pid"),
			"-H", "unix://" + sock,
			"--storage-driver", "overlay2",
			"--cgroup-parent", "/" + cgParent,
			"--exec-opt", "native.cgroupdriver=cgroupfs",
		}, filepath.Join(dir, "dockerd.log"), sock, w.Path(project))
		if e.setupErr == nil || !strings.Contains(e.setupErr.Error(), "configuration") {
			break
		}
	}
	if e.setupErr != nil {
		return e
	}
	_, v, _ := command("", e.env, append(append([]string(nil), e.cli...), "version", "-f", "{{.Server.Version}}")...)
	_, cv, _ := command("", nil, "docker-compose", "version", "--short")
	e.version = fmt.Sprintf("docker-compose %s on dockerd %s (overlay2, bridges, iptables, docker-proxy)", strings.TrimSpace(cv), strings.TrimSpace(v))
	return e
}

// setupBerth starts a private berth daemon in its namespace: its data
// root under the temp dir, its exec root and runtime state under /run;
// `berth compose` and the CLI find it through BERTH_HOST. With dc, the
// client is docker-compose 1.29 instead (engine "berth-dc"): the same
// client on both daemons.
func setupBerth(w *benchkit.Work, prefix, bin string, dc bool) *engine {
	name := "berth"
	if dc {
		name = "berth-dc"
	}
	dir := w.Path(name)
	sock := filepath.Join(dir, "b.sock")
	execRoot := filepath.Join(w.Run, name, "x")
	runtimeRoot := filepath.Join(w.Run, name, "r")
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	e := &engine{
		name:    name,
		cli:     []string{bin},
		compose: []string{bin, "compose", "-p", project},
		env:     []string{"BERTH_HOST=unix://" + sock, "IMAGE=" + imageRef, "WEB_PORT=" + webPort},
	}
	if dc {
		e.compose = []string{"docker-compose", "-p", project}
		e.env = append(e.env, "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+filepath.Join(dir, "cli"))
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
	client := append(append([]string(nil), e.compose[:len(e.compose)-2]...), "version") // without -p NAME
	if _, _, err := command("", nil, client...); err != nil {
		e.setupErr = fmt.Errorf("no compose client: %w", err)
		return e
	}
	if e.setupErr = os.MkdirAll(dir, 0o700); e.setupErr != nil {
		return e
	}
	if e.setupErr = e.setupNS(prefix); e.setupErr != nil {
		return e
	}
	progress("%s: starting the berth daemon in netns %s", name, e.ns)
	// Its config file keeps it from reading /etc/berth/daemon.json.
	conf := filepath.Join(dir, "daemon.json")
	if e.setupErr = os.WriteFile(conf, []byte("{}"), 0o644); e.setupErr != nil {
		return e
	}
	e.setupErr = e.startDaemon([]string{bin, "--data-root", filepath.Join(dir, "data"), "daemon",
		"--config-file", conf, "-H", "unix://" + sock, "--exec-root", execRoot, "--runtime-root", runtimeRoot,
	}, filepath.Join(dir, "daemon.log"), sock, w.Path(project))
	if e.setupErr != nil {
		return e
	}
	_, v, _ := command("", e.env, bin, "version", "--format", "{{.Server.Version}}")
	what := "berth compose"
	if dc {
		_, cv, _ := command("", nil, "docker-compose", "version", "--short")
		what = "docker-compose " + strings.TrimSpace(cv)
	}
	e.version = fmt.Sprintf("%s on the berth daemon %s (%s; bridges, nftables)", what, strings.TrimSpace(v), bin)
	return e
}

// killNetnsProcs kills the processes whose network namespace is the named
// one (all of them the benchmark's: a daemon, its helpers and proxies)
// and waits a little for them to go.
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
