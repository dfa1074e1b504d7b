// Command enginebench times container engines side by side through their
// own CLIs: berth (its daemon and CLI), Debian's docker (dockerd,
// containerd, containerd-shim-runc-v2, runc) and podman (conmon, runc). The
// cases, with the same argv shapes for all: `run --rm IMG true`; `run -d IMG
// sleep 1000` then `stop -t 1 ID` and `rm ID`; `exec ID true`; `ps` with
// 100 containers running; and M sleeping containers started one after
// another, with the host memory each costs beyond its own processes (the
// engine's per-container helpers, the daemon's growth, and MemAvailable as a
// cross-check).
//
// Each engine gets private storage and, for the daemons, a private daemon
// (its own data root, exec root, pidfile and socket) under one temp dir; all
// of it (containers, daemons, helpers, mounts, cgroups, directories) is
// removed at the end, also on ^C. The engines take turns within each
// iteration so that drift in the machine's load hits them alike. A command
// that fails does not end the benchmark: its case shows as FAILED, and the
// first failure of each engine and case is printed under the table with its
// command line and stderr.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// imageRef is the one image every engine runs, loaded into each.
const imageRef = "bench/busybox:1"

// cmdTimeout bounds one CLI command; one that takes longer fails.
const cmdTimeout = 5 * time.Minute

// The cases in table order.
const (
	opRunRm = "run --rm true"
	opRunD  = "run -d sleep"
	opStop  = "stop -t 1"
	opRm    = "rm"
	opCycle = "run -d + stop + rm"
	opExec  = "exec true"
	opPs    = "ps (%d running)"
	opMany  = "run -d, %d in a row"
)

// engine is one engine under test, driven through its CLI.
type engine struct {
	name     string
	cli      []string // the CLI and its global flags
	env      []string // added to the CLI's environment
	runFlags []string // flags after "run" that this engine needs on this machine
	// rmForce removes running containers at once (cleanup, not timed).
	rmForce []string
	version string
	// setupErr: the engine could not be set up; each of its cases fails
	// with this.
	setupErr error
	// helpers lists the engine's per-container helper processes (shims,
	// conmons, monitors); daemons its daemon processes.
	helpers func() []int
	daemons func() []int
	// teardown removes everything of the engine, containers first.
	teardown func()
	ids      map[string]bool // containers made, for the cleanup
	mem      *memory
}

// memory is what M sleeping containers cost an engine, in KiB.
type memory struct {
	containers      int
	helpers         int   // helper processes found
	helperRSS       int64 // their summed RSS
	helperPSS       int64 // their summed PSS
	helperUSS       int64 // their summed private memory
	daemonPSSGrowth int64 // the daemons' PSS after minus before
	daemonRSSGrowth int64 // and their RSS
	available       int64 // MemAvailable before minus after
	started         time.Duration
}

// failure is how often an engine's case failed, and how, the first time.
type failure struct {
	count int
	first string
}

type bench struct {
	engines []*engine
	times   map[string]map[string][]time.Duration // engine -> case -> samples
	fails   map[string]map[string]*failure
}

// interrupted is set by ^C (or SIGTERM, SIGHUP): the benchmark stops at the
// next step, prints what it has and cleans up.
var interrupted atomic.Bool

func main() {
	n := flag.Int("n", 20, "iterations per engine of each single-container case")
	many := flag.Int("many", 200, "sleeping containers started in a row per engine, for their start time and memory")
	psN := flag.Int("ps", 100, "containers running while ps is timed")
	berth := flag.String("berth", "bin/berth", "the berth binary")
	names := flag.String("engines", "docker,podman,berth", "engines to compare, in column order")
	keep := flag.Bool("keep", false, "leave the temp dir (logs) in place; containers and daemons are still removed")
	flag.Parse()
	if err := run(*n, *many, *psN, *berth, strings.Split(*names, ","), *keep); err != nil {
		fmt.Fprintln(os.Stderr, "enginebench:", err)
		os.Exit(1)
	}
}

func run(n, many, psN int, berth string, names []string, keep bool) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for range sigs {
			if interrupted.Swap(true) {
				fmt.Fprintln(os.Stderr, "enginebench: still cleaning up, please wait")
			} else {
				fmt.Fprintln(os.Stderr, "enginebench: interrupted; removing containers and daemons")
			}
		}
	}()

	w, err := newWork(keep)
	if err != nil {
		return err
	}
	defer w.Remove()
	tarball, err := writeImage(w.Path("busybox.tar"), imageRef)
	if err != nil {
		return err
	}

	b := &bench{times: map[string]map[string][]time.Duration{}, fails: map[string]map[string]*failure{}}
	for _, name := range names {
		var e *engine
		switch name {
		case "docker":
			e = setupDocker(w)
		case "podman":
			e = setupPodman(w)
		case "berth":
			e = setupBerth(w, berth)
		default:
			return fmt.Errorf("unknown engine %q: want docker, podman or berth", name)
		}
		e.ids = map[string]bool{}
		defer func() {
			progress("%s: removing containers and the daemon", e.name)
			e.teardown()
		}()
		b.engines = append(b.engines, e)
		b.times[e.name] = map[string][]time.Duration{}
		b.fails[e.name] = map[string]*failure{}
		if e.setupErr == nil {
			if _, _, err := e.run(cmdTimeout, "load", "-i", tarball); err != nil {
				e.setupErr = fmt.Errorf("load the image: %w", err)
			}
		}
		if e.setupErr != nil {
			progress("%s: %v", e.name, e.setupErr)
		}
		if interrupted.Load() {
			return errors.New("interrupted")
		}
	}
	for _, e := range b.engines {
		if e.setupErr != nil {
			fmt.Printf("%s: not set up (see the failures)\n", e.name)
		} else {
			fmt.Printf("%s: %s\n", e.name, e.version)
		}
	}
	fmt.Printf("image: %s, /bin/busybox from busybox-static and its applets, one layer\n", imageRef)
	for _, e := range b.engines {
		if len(e.runFlags) > 0 {
			fmt.Printf("%s run flags: %s\n", e.name, strings.Join(e.runFlags, " "))
		}
	}
	fmt.Println()

	b.lifecycle(n)
	b.exec(n)
	b.many(n, many, psN)
	b.print(n, many, psN)
	if interrupted.Load() {
		return errors.New("interrupted: the table has what was measured before")
	}
	return nil
}

// lifecycle times `run --rm true` and run -d / stop / rm, after one untimed
// `run --rm` per engine (its first container may fill caches).
func (b *bench) lifecycle(n int) {
	for _, e := range b.engines {
		if e.setupErr == nil {
			e.run(cmdTimeout, e.runArgs("--rm", imageRef, "true")...)
		}
	}
	progress("run --rm and run -d/stop/rm, %d iterations", n)
	for i := 0; i < n && !interrupted.Load(); i++ {
		for k := range b.engines {
			e := b.engines[(i+k)%len(b.engines)] // rotate who goes first
			if e.setupErr != nil {
				continue
			}
			b.time(e, opRunRm, e.runArgs("--rm", imageRef, "true")...)

			d1, id, ok := b.time(e, opRunD, e.runArgs("-d", imageRef, "sleep", "1000")...)
			if !ok {
				continue
			}
			d2, _, ok2 := b.time(e, opStop, "stop", "-t", "1", id)
			d3, _, ok3 := b.time(e, opRm, "rm", id)
			if ok2 && ok3 {
				b.times[e.name][opCycle] = append(b.times[e.name][opCycle], d1+d2+d3)
				delete(e.ids, id)
			} else {
				b.fail(e, opCycle, "(stop or rm failed)")
			}
		}
		if (i+1)%5 == 0 {
			progress("  %d/%d", i+1, n)
		}
	}
}

// exec times `exec ID true` in one sleeping container per engine.
func (b *bench) exec(n int) {
	if interrupted.Load() {
		return
	}
	progress("exec, %d iterations", n)
	ids := map[string]string{}
	for _, e := range b.engines {
		if e.setupErr != nil {
			continue
		}
		if _, id, err := e.run(cmdTimeout, e.runArgs("-d", imageRef, "sleep", "1000")...); err != nil {
			b.fail(e, opExec, "(the container to exec in did not start) "+err.Error())
		} else {
			ids[e.name] = id
		}
	}
	for i := 0; i < n && !interrupted.Load(); i++ {
		for k := range b.engines {
			e := b.engines[(i+k)%len(b.engines)]
			if id := ids[e.name]; id != "" {
				b.time(e, opExec, "exec", id, "true")
			}
		}
	}
	for _, e := range b.engines {
		if id := ids[e.name]; id != "" {
			if _, _, err := e.run(cmdTimeout, append(e.rmForce, id)...); err == nil {
				delete(e.ids, id)
			}
		}
	}
}

// many starts M sleeping containers per engine, one engine after another
// (the memory figures of one engine must not include another's), timing
// each start; times ps when psN are running, and measures memory when M
// are.
func (b *bench) many(n, many, psN int) {
	total := max(many, psN)
	ps, start := fmt.Sprintf(opPs, psN), fmt.Sprintf(opMany, many)
	for _, e := range b.engines {
		if interrupted.Load() {
			return
		}
		if e.setupErr != nil {
			continue
		}
		progress("%s: starting %d sleeping containers", e.name, total)
		settle()
		availBefore := memAvailable()
		var daemonBefore [2]int64
		if e.daemons != nil {
			daemonBefore = sumMem(e.daemons())
		}
		var ids []string
		began := time.Now()
		for j := 0; j < total && !interrupted.Load(); j++ {
			op := start
			if j >= many {
				op = "(more, for ps)"
			}
			if _, id, ok := b.time(e, op, e.runArgs("-d", imageRef, "sleep", "1000")...); ok {
				ids = append(ids, id)
			}
			if (j+1)%20 == 0 {
				progress("  %s: %d/%d started, %s", e.name, j+1, total, time.Since(began).Round(time.Second))
			}
			if j+1 == many {
				e.mem = measure(e, len(ids), time.Since(began), availBefore, daemonBefore)
			}
			if j+1 == psN {
				for i := 0; i < n && !interrupted.Load(); i++ {
					b.time(e, ps, "ps")
				}
			}
		}
		progress("%s: removing %d containers", e.name, len(ids))
		t := time.Now()
		for len(ids) > 0 {
			k := min(len(ids), 50)
			if _, _, err := e.run(cmdTimeout, append(e.rmForce, ids[:k]...)...); err != nil {
				progress("%s: %v", e.name, err)
			} else {
				for _, id := range ids[:k] {
					delete(e.ids, id)
				}
			}
			ids = ids[k:]
		}
		progress("%s: removed in %s", e.name, time.Since(t).Round(100*time.Millisecond))
	}
}

// measure reads what the engine's containers cost once they are all
// started and have settled.
func measure(e *engine, containers int, took time.Duration, availBefore int64, daemonBefore [2]int64) *memory {
	settle()
	m := &memory{containers: containers, started: took}
	for _, pid := range e.helpers() {
		rss, pss, uss := procMem(pid)
		m.helpers++
		m.helperRSS += rss
		m.helperPSS += pss
		m.helperUSS += uss
	}
	if e.daemons != nil {
		after := sumMem(e.daemons())
		m.daemonRSSGrowth, m.daemonPSSGrowth = after[0]-daemonBefore[0], after[1]-daemonBefore[1]
	}
	m.available = availBefore - memAvailable()
	progress("%s: %d containers: %d helper processes, PSS %d KiB in all", e.name, containers, m.helpers, m.helperPSS)
	if pids := e.helpers(); len(pids) > 0 {
		progress("%s: a helper: %s", e.name, cmdline(pids[0]))
	}
	return m
}

// settle waits for what was just started to finish starting (shims and
// monitors finish their setup after the CLI returns).
func settle() { time.Sleep(3 * time.Second) }

// sumMem is the summed RSS and PSS of processes, in KiB.
func sumMem(pids []int) [2]int64 {
	var s [2]int64
	for _, p := range pids {
		rss, pss, _ := procMem(p)
		s[0] += rss
		s[1] += pss
	}
	return s
}

// runArgs is `run`, the engine's own run flags, then args.
func (e *engine) runArgs(args ...string) []string {
	return append(append([]string{"run"}, e.runFlags...), args...)
}

// run runs one CLI command; it returns how long it took and the last line
// of its standard output (the container ID of run -d), which it remembers
// for the cleanup. Its error has the command line, exit status and stderr.
func (e *engine) run(timeout time.Duration, args ...string) (time.Duration, string, error) {
	if e.setupErr != nil {
		return 0, "", e.setupErr
	}
	argv := append(append([]string(nil), e.cli...), args...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), e.env...)
	// Output to files, not pipes: a detached container may keep the
	// CLI's stdio, and a pipe would make the command look unfinished
	// until the container exits.
	stdout, err := os.CreateTemp("", "enginebench-out-")
	if err != nil {
		return 0, "", err
	}
	defer os.Remove(stdout.Name())
	defer stdout.Close()
	stderr, err := os.CreateTemp("", "enginebench-err-")
	if err != nil {
		return 0, "", err
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	out, _ := os.ReadFile(stdout.Name())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if len(args) > 0 && args[0] == "run" && last != "" && !strings.ContainsAny(last, " \t") {
		e.ids[last] = true
	}
	if err != nil {
		msg, _ := os.ReadFile(stderr.Name())
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timed out after %s)", err, timeout)
		}
		return d, last, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, lastBytes(bytes.TrimSpace(msg), 600))
	}
	return d, last, nil
}

// time runs one CLI command for a case and records how long it took, or its
// failure.
func (b *bench) time(e *engine, op string, args ...string) (time.Duration, string, bool) {
	d, out, err := e.run(cmdTimeout, args...)
	if err != nil {
		b.fail(e, op, err.Error())
		return 0, "", false
	}
	b.times[e.name][op] = append(b.times[e.name][op], d)
	return d, out, true
}

func (b *bench) fail(e *engine, op, msg string) {
	f := b.fails[e.name][op]
	if f == nil {
		f = &failure{first: msg}
		b.fails[e.name][op] = f
	}
	f.count++
}

// subject is the engine the ratios are of: berth when it is compared.
func (b *bench) subject() *engine {
	for _, e := range b.engines {
		if e.name == "berth" {
			return e
		}
	}
	return b.engines[len(b.engines)-1]
}

func (b *bench) print(n, many, psN int) {
	subj := b.subject()
	var others []*engine
	for _, e := range b.engines {
		if e != subj {
			others = append(others, e)
		}
	}
	ops := []string{opRunRm, opRunD, opStop, opRm, opCycle, opExec, fmt.Sprintf(opPs, psN), fmt.Sprintf(opMany, many)}
	fmt.Printf("\n%d iterations of each case (%d starts in a row); median (p90) in milliseconds\n\n", n, many)
	fmt.Printf("%-24s", "case")
	for _, e := range b.engines {
		fmt.Printf("%20s", e.name)
	}
	for _, o := range others {
		fmt.Printf("%15s", subj.name+"/"+o.name)
	}
	fmt.Println()
	for _, op := range ops {
		fmt.Printf("%-24s", op)
		for _, e := range b.engines {
			fmt.Printf("%20s", b.cell(e, op))
		}
		sm, _ := stats(b.times[subj.name][op])
		for _, o := range others {
			om, _ := stats(b.times[o.name][op])
			if sm == 0 || om == 0 || b.fails[subj.name][op] != nil || b.fails[o.name][op] != nil {
				fmt.Printf("%15s", "-")
			} else {
				fmt.Printf("%15.3f", float64(sm)/float64(om))
			}
		}
		fmt.Println()
	}
	fmt.Printf("%-24s", fmt.Sprintf("all %d started in", many))
	for _, e := range b.engines {
		if e.mem != nil {
			fmt.Printf("%20s", e.mem.started.Round(100*time.Millisecond))
		} else {
			fmt.Printf("%20s", "-")
		}
	}
	fmt.Println()

	b.printMemory(subj, others, many)
	b.printGoals(subj)

	var lines []string
	for _, e := range b.engines {
		if e.setupErr != nil {
			lines = append(lines, fmt.Sprintf("%s: every case: %v", e.name, e.setupErr))
		}
	}
	for _, op := range append(ops, "(more, for ps)") {
		for _, e := range b.engines {
			if f := b.fails[e.name][op]; f != nil {
				lines = append(lines, fmt.Sprintf("%s %s: failed %d times; first: %s", e.name, op, f.count, f.first))
			}
		}
	}
	if len(lines) > 0 {
		fmt.Println("\nfailures:")
		for _, l := range lines {
			fmt.Println("  " + l)
		}
	}
}

// memRow is one line of the memory table: a figure per engine, in KiB.
type memRow struct {
	name  string
	value func(m *memory) float64
	ratio bool
}

func (b *bench) printMemory(subj *engine, others []*engine, many int) {
	per := func(v int64, m *memory) float64 { return float64(v) / float64(max(m.containers, 1)) }
	rows := []memRow{
		{"containers running", func(m *memory) float64 { return float64(m.containers) }, false},
		{"helper processes", func(m *memory) float64 { return float64(m.helpers) }, false},
		{"helper RSS / container", func(m *memory) float64 { return per(m.helperRSS, m) }, true},
		{"helper PSS / container", func(m *memory) float64 { return per(m.helperPSS, m) }, true},
		{"helper private / ctr", func(m *memory) float64 { return per(m.helperUSS, m) }, true},
		{"daemon RSS growth / ctr", func(m *memory) float64 { return per(m.daemonRSSGrowth, m) }, false},
		{"daemon PSS growth / ctr", func(m *memory) float64 { return per(m.daemonPSSGrowth, m) }, false},
		{"helpers+daemon / ctr", func(m *memory) float64 { return per(m.helperPSS+m.daemonPSSGrowth, m) }, true},
		{"MemAvailable drop / ctr", func(m *memory) float64 { return per(m.available, m) }, true},
	}
	fmt.Printf("\nmemory with %d sleeping containers, KiB. Helpers: docker's containerd-shim-runc-v2, podman's conmon, berth's monitors;\n"+
		"daemon: dockerd + containerd, berth's daemon. PSS shares pages that processes share among them: it sums to what the\n"+
		"host spends; private: what a helper alone maps (USS). MemAvailable drop: everything, the containers' own processes\n"+
		"and the kernel's part too, and whatever else the machine did meanwhile.\n\n", many)
	fmt.Printf("%-24s", "")
	for _, e := range b.engines {
		fmt.Printf("%20s", e.name)
	}
	for _, o := range others {
		fmt.Printf("%15s", subj.name+"/"+o.name)
	}
	fmt.Println()
	for _, r := range rows {
		fmt.Printf("%-24s", r.name)
		for _, e := range b.engines {
			switch {
			case e.mem == nil:
				fmt.Printf("%20s", "-")
			case e.daemons == nil && strings.HasPrefix(r.name, "daemon"):
				fmt.Printf("%20s", "(no daemon)")
			default:
				fmt.Printf("%20.0f", r.value(e.mem))
			}
		}
		for _, o := range others {
			if !r.ratio || subj.mem == nil || o.mem == nil || r.value(o.mem) <= 0 {
				fmt.Printf("%15s", "-")
			} else {
				fmt.Printf("%15.3f", r.value(subj.mem)/r.value(o.mem))
			}
		}
		fmt.Println()
	}
}

// printGoals says whether the subject meets issue 6's targets.
func (b *bench) printGoals(subj *engine) {
	if subj.name != "berth" {
		return
	}
	fmt.Println("\ngoals (issue 6):")
	med := func(name string) time.Duration { m, _ := stats(b.times[name][opRunRm]); return m }
	if bm, dm, pm := med("berth"), med("docker"), med("podman"); bm > 0 && dm > 0 && pm > 0 && b.fails["berth"][opRunRm] == nil {
		fmt.Printf("  run --rm true: berth %.1f ms; at most docker/10 = %.1f ms: %s; below podman %.1f ms: %s\n",
			ms(bm), ms(dm)/10, yes(bm*10 <= dm), ms(pm), yes(bm < pm))
	} else {
		fmt.Println("  run --rm true: not measured for all three")
	}
	var docker *engine
	for _, e := range b.engines {
		if e.name == "docker" {
			docker = e
		}
	}
	if docker == nil || docker.mem == nil || subj.mem == nil {
		fmt.Println("  memory per idle container: not measured for berth and docker")
		return
	}
	per := func(v int64, m *memory) float64 { return float64(v) / float64(max(m.containers, 1)) }
	bh, dh := per(subj.mem.helperPSS, subj.mem), per(docker.mem.helperPSS, docker.mem)
	bt := per(subj.mem.helperPSS+subj.mem.daemonPSSGrowth, subj.mem)
	dt := per(docker.mem.helperPSS+docker.mem.daemonPSSGrowth, docker.mem)
	fmt.Printf("  memory per idle container, at most half of docker's: monitors %.0f KiB vs shims/2 %.0f KiB: %s; "+
		"with daemon growth %.0f KiB vs %.0f KiB: %s\n", bh, dh/2, yes(bh*2 <= dh), bt, dt/2, yes(bt*2 <= dt))
}

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// cell is an engine's figure for a case: the median and p90, or FAILED.
func (b *bench) cell(e *engine, op string) string {
	if e.setupErr != nil {
		return "FAILED"
	}
	name := e.name
	ds := b.times[name][op]
	f := b.fails[name][op]
	if len(ds) == 0 {
		if f != nil {
			return "FAILED"
		}
		return "-"
	}
	med, p90 := stats(ds)
	if f != nil {
		return fmt.Sprintf("%s (%d failed)", num(ms(med)), f.count)
	}
	return fmt.Sprintf("%s (%s)", num(ms(med)), num(ms(p90)))
}

// num prints a duration in ms with the digits that mean something.
func num(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func stats(ds []time.Duration) (med, p90 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[min(len(s)*9/10, len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
