// Command buildbench times Dockerfile builds side by side: `berth build`
// against a private berth daemon and `DOCKER_BUILDKIT=0 docker build` (the
// classic builder) against a private Debian dockerd, on the same project.
// The cases: a cold build (no image, no build cache), a fully cached
// rebuild of the same context, and a rebuild after a file of the last
// COPY changed. The engines take turns in each iteration; the table shows
// medians and the ratio berth/docker, and beside them the time to hash
// the context's files in-process (what a cached rebuild cannot go below).
// Everything the run made (daemons, their roots, mounts) is removed at
// the end, also on ^C.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/bench/internal/benchkit"
)

const (
	imageRef = "bench/busybox:1"
	tag      = "bench/built:1"
	// cmdTimeout bounds one CLI command.
	cmdTimeout = 10 * time.Minute
)

// The cases in table order.
const (
	caseCold   = "cold build"
	caseCached = "cached rebuild"
	caseLast   = "last step changed"
)

var cases = []string{caseCold, caseCached, caseLast}

// dockerfile is the project: ~12 steps, config-only ones among them.
const dockerfile = `FROM ` + imageRef + `
ENV APP=/app MODE=bench
WORKDIR /app
COPY lib/ /app/lib/
COPY data/ /app/data/
RUN find /app/lib -type f | wc -l > /app/count
RUN for i in $(seq 1 500); do echo "line $i"; done > /app/generated.txt
RUN mkdir -p /app/out && cp /app/data/big-1.bin /app/out/ && sha256sum /app/out/big-1.bin > /app/out/sum
ENV READY=1
LABEL org.example.bench=build
EXPOSE 8080
COPY src/ /app/src/
CMD ["cat", "/app/count"]
`

var interrupted atomic.Bool

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "buildbench: "+format+"\n", args...)
}

// engine is one side of the comparison, driven through its CLI.
type engine struct {
	name     string
	cli      []string
	env      []string
	version  string
	setupErr error
	daemon   *benchkit.Daemon
	// clean removes the built image and the build cache (not timed).
	clean    [][]string
	teardown func()
	times    map[string][]time.Duration
	fail     map[string]string
}

func (e *engine) run(args ...string) (time.Duration, string, error) {
	argv := append(append([]string(nil), e.cli...), args...)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), e.env...)
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

func main() {
	n := flag.Int("n", 5, "iterations of each case per engine")
	small := flag.Int("small", 2000, "small files (4 kB each) in the context, besides 3 files of 4 MB")
	berth := flag.String("berth", "bin/berth", "the berth binary")
	keep := flag.Bool("keep", false, "leave the temp dir (logs, context) in place")
	flag.Parse()
	if err := run(*n, *small, *berth, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "buildbench:", err)
		os.Exit(1)
	}
}

func run(n, small int, berthBin string, keep bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (it starts daemons)")
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sigs
		progress("interrupted: finishing the current step, then cleaning up")
		interrupted.Store(true)
	}()
	w, err := benchkit.NewWork("bb-", keep, progress)
	if err != nil {
		return err
	}
	defer w.Remove()

	ctxDir := w.Path("project")
	size, files, err := writeProject(ctxDir, small)
	if err != nil {
		return err
	}
	archive := w.Path("busybox.tar")
	if err := benchkit.WriteBusyboxImage(archive, imageRef, benchkit.BusyboxImage{
		Config: map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"sh"},
		},
		CreatedBy: "buildbench: /bin/busybox and its applets",
	}); err != nil {
		return err
	}

	engines := []*engine{setupDocker(w), setupBerth(w, berthBin)}
	defer func() {
		for _, e := range engines {
			if e.teardown != nil {
				e.teardown()
			}
		}
	}()
	for _, e := range engines {
		e.times, e.fail = map[string][]time.Duration{}, map[string]string{}
		if e.setupErr != nil {
			continue
		}
		if _, _, err := e.run("load", "-i", archive); err != nil {
			e.setupErr = err
		}
	}

	buildArgs := []string{"build", "-t", tag, "--network", "none", ctxDir}
	srcFile := filepath.Join(ctxDir, "src", "main.txt")
	for i := 0; i < n && !interrupted.Load(); i++ {
		progress("iteration %d/%d", i+1, n)
		for _, c := range cases {
			if c == caseLast {
				// A file of the last COPY changes; the same change for both.
				if err := os.WriteFile(srcFile, []byte(fmt.Sprintf("iteration %d %d\n", i, rand.Int())), 0o644); err != nil {
					return err
				}
			}
			for _, e := range engines {
				if e.setupErr != nil || interrupted.Load() {
					continue
				}
				if c == caseCold {
					for _, argv := range e.clean {
						if _, _, err := e.run(argv...); err != nil && !strings.Contains(err.Error(), "No such image") {
							progress("%s: clean: %v", e.name, err)
						}
					}
				}
				d, out, err := e.run(buildArgs...)
				if err == nil {
					err = checkCase(c, out)
				}
				if err != nil {
					if e.fail[c] == "" {
						e.fail[c] = err.Error()
					}
					continue
				}
				e.times[c] = append(e.times[c], d)
			}
		}
	}
	hash := hashTime(ctxDir, n)

	fmt.Printf("\ncontext: %d files, %s; %d steps; %d iterations, medians\n", files, humanBytes(size), strings.Count(strings.TrimSpace(dockerfile), "\n")+1, n)
	for _, e := range engines {
		v := e.version
		if e.setupErr != nil {
			v = "SETUP FAILED: " + e.setupErr.Error()
		}
		fmt.Printf("%-7s %s\n", e.name+":", v)
	}
	fmt.Printf("\n%-20s %12s %12s %14s\n", "case", "docker", "berth", "berth/docker")
	for _, c := range cases {
		dm, bm := median(engines[0].times[c]), median(engines[1].times[c])
		ratio := "-"
		if dm > 0 && bm > 0 {
			ratio = fmt.Sprintf("%.2f", float64(bm)/float64(dm))
		}
		fmt.Printf("%-20s %12s %12s %14s\n", c, show(engines[0], c, dm), show(engines[1], c, bm), ratio)
	}
	fmt.Printf("%-20s %12s %12s\n", "hash the context", "", hash.Round(time.Millisecond))
	for _, e := range engines {
		for _, c := range cases {
			if f := e.fail[c]; f != "" {
				fmt.Printf("\n%s, %s FAILED:\n%s\n", e.name, c, f)
			}
		}
	}
	return nil
}

// checkCase checks a build's output for what the case is: no cache hit
// on a cold build, hits for every step after FROM on a cached one, and
// hits up to the last COPY only when its file changed.
func checkCase(c, out string) error {
	hits := strings.Count(out, " ---> Using cache")
	steps := strings.Count(strings.TrimSpace(dockerfile), "\n") + 1
	var want int
	switch c {
	case caseCold:
		want = 0
	case caseCached:
		want = steps - 1
	case caseLast:
		want = steps - 3 // all but FROM, the last COPY and CMD
	}
	if hits != want {
		return fmt.Errorf("%s: %d cache hits, want %d:\n%s", c, hits, want, benchkit.LastBytes([]byte(out), 3000))
	}
	return nil
}

func show(e *engine, c string, d time.Duration) string {
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

func humanBytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// writeProject writes the Dockerfile and the context: small files under
// lib/ (in directories of 100), three large ones under data/, and src/.
func writeProject(dir string, small int) (size int64, files int, err error) {
	write := func(p string, b []byte) {
		if err != nil {
			return
		}
		p = filepath.Join(dir, p)
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, b, 0o644)
		}
		size += int64(len(b))
		files++
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	block := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rnd.IntN(26))
		}
		return b
	}
	write("Dockerfile", []byte(dockerfile))
	write(".dockerignore", []byte("*.tmp\n"))
	for i := 0; i < small; i++ {
		write(fmt.Sprintf("lib/d%02d/f%04d.txt", i/100, i), block(4096))
	}
	for i := 1; i <= 3; i++ {
		write(fmt.Sprintf("data/big-%d.bin", i), block(4<<20))
	}
	write("src/main.txt", []byte("first\n"))
	write("src/other.txt", block(1024))
	write("scratch.tmp", block(1<<20)) // excluded
	return size, files, err
}

// hashTime is the median time to read and sha256 every file of dir.
func hashTime(dir string, n int) time.Duration {
	var ds []time.Duration
	for i := 0; i < max(n, 1); i++ {
		start := time.Now()
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return nil
			}
			h := sha256.New()
			io.Copy(h, f)
			f.Close()
			return nil
		})
		ds = append(ds, time.Since(start))
	}
	return median(ds)
}

// setupDocker starts a private dockerd (Debian's docker.io, its own
// containerd under the exec root): no bridge, no iptables, overlay2.
func setupDocker(w *benchkit.Work) *engine {
	dir := w.Path("docker")
	execRoot := filepath.Join(dir, "x")
	sock := filepath.Join(dir, "d.sock")
	cli := "/usr/bin/docker"
	if _, err := os.Stat(cli); err != nil {
		cli = "docker"
	}
	e := &engine{
		name: "docker",
		cli:  []string{cli, "-H", "unix://" + sock},
		env:  []string{"DOCKER_CONFIG=" + filepath.Join(dir, "cli"), "DOCKER_BUILDKIT=0"},
		// The classic builder's cache is the intermediate images: rmi of
		// the tag removes the chain, prune what dangles.
		clean: [][]string{{"rmi", "-f", tag}, {"image", "prune", "-f"}},
	}
	e.teardown = func() {
		e.daemon.Stop()
		for _, pid := range findProcs(func(exe, cmdline string) bool {
			return strings.Contains(cmdline, execRoot) && (filepath.Base(exe) == "containerd" || strings.HasPrefix(filepath.Base(exe), "containerd-shim"))
		}) {
			unix.Kill(pid, unix.SIGKILL)
		}
		benchkit.UnmountUnder(progress, dir)
	}
	if e.setupErr = os.MkdirAll(dir, 0o700); e.setupErr != nil {
		return e
	}
	progress("docker: starting dockerd")
	for _, config := range []string{fmt.Sprintf(`{"deprecated-key-path": %q}`, filepath.Join(dir, "key.json")), `{}`} {
		conf := filepath.Join(dir, "daemon.json")
		if e.setupErr = os.WriteFile(conf, []byte(config), 0o644); e.setupErr != nil {
			return e
		}
		e.daemon, e.setupErr = benchkit.StartDaemon("dockerd", []string{"dockerd",
			"--config-file", conf,
			"--data-root", filepath.Join(dir, "data"),
			"--exec-root", execRoot,
			"--pidfile", filepath.Join(dir, "d.pid"),
			"-H", "unix://" + sock,
			"--storage-driver", "overlay2",
			"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false",
		}, filepath.Join(dir, "dockerd.log"), sock, interrupted.Load, progress)
		if e.setupErr == nil || !strings.Contains(e.setupErr.Error(), "configuration") {
			break
		}
	}
	if e.setupErr == nil {
		e.version = fmt.Sprintf("dockerd %s, overlay2, classic builder (DOCKER_BUILDKIT=0)",
			firstLine(cli, "-H", "unix://"+sock, "version", "-f", "{{.Server.Version}}"))
	}
	return e
}

// setupBerth starts a private berth daemon; the CLI reaches it through
// BERTH_HOST.
func setupBerth(w *benchkit.Work, bin string) *engine {
	dir := w.Path("berth")
	sock := filepath.Join(dir, "b.sock")
	execRoot := filepath.Join(w.Run, "x")
	runtimeRoot := filepath.Join(w.Run, "r")
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	e := &engine{
		name:  "berth",
		cli:   []string{bin},
		env:   []string{"BERTH_HOST=unix://" + sock},
		clean: [][]string{{"rmi", "-f", tag}, {"builder", "prune", "-a", "-f"}, {"image", "prune", "-f"}},
	}
	e.teardown = func() {
		e.daemon.Stop()
		benchkit.UnmountUnder(progress, dir, w.Run)
	}
	if e.setupErr = os.MkdirAll(dir, 0o700); e.setupErr != nil {
		return e
	}
	conf := filepath.Join(dir, "daemon.json")
	if e.setupErr = os.WriteFile(conf, []byte("{}"), 0o644); e.setupErr != nil {
		return e
	}
	progress("berth: starting the daemon")
	e.daemon, e.setupErr = benchkit.StartDaemon("berth daemon", []string{bin, "--data-root", filepath.Join(dir, "data"), "daemon",
		"--config-file", conf, "-H", "unix://" + sock, "--exec-root", execRoot, "--runtime-root", runtimeRoot,
	}, filepath.Join(dir, "daemon.log"), sock, interrupted.Load, progress)
	if e.setupErr == nil {
		e.version = fmt.Sprintf("%s (%s), daemon and CLI", bin, firstLine(bin, "-H", "unix://"+sock, "version", "--format", "{{.Server.Version}}"))
	}
	return e
}

func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return fmt.Sprintf("(%s %s: %v)", name, strings.Join(args, " "), err)
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// findProcs lists the live processes whose executable and command line
// match.
func findProcs(match func(exe, cmdline string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range ents {
		var pid int
		if _, err := fmt.Sscan(ent.Name(), &pid); err != nil {
			continue
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if match(exe, strings.ReplaceAll(string(cl), "\x00", " ")) {
			pids = append(pids, pid)
		}
	}
	return pids
}
