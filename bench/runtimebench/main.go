// Command runtimebench times OCI runtimes side by side on the same bundle:
// `run` of `true`; create/start/kill/delete of a sleeping container;
// pause, resume and update of a running one; and list and state with 100
// containers running per runtime. The runtimes take turns within each
// iteration so that drift in the machine's load hits them alike. It prints
// medians and the ratios to the anchor.
//
// A command that fails does not end the benchmark: its operation shows as
// failed in the table, and the first failure of each runtime and operation
// is printed under the table with its command line and stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type runtime struct {
	name string
	argv []string // binary and global flags
}

// failure is how often a runtime's operation failed, and how, the first time.
type failure struct {
	count int
	first string
}

type bench struct {
	rts   []runtime
	times map[string]map[string][]time.Duration // runtime -> operation -> samples
	fails map[string]map[string]*failure
}

// The operations in table order.
const (
	opRun       = "run true"
	opCreate    = "create"
	opStart     = "start"
	opKill      = "kill"
	opDelete    = "delete"
	opCycle     = "create+start+kill+delete"
	opPause     = "pause"
	opResume    = "resume"
	opUpdate    = "update (flags)"
	opUpdateRes = "update (-r -, JSON)"
	opList      = "list (%d running)"
	opState     = "state (%d running)"
)

// What update sets: with flags, and as the resources JSON a shim pipes in.
var (
	updateFlags = []string{"--memory", "67108864", "--pids-limit", "100"}
	updateJSON  = `{"memory":{"limit":67108864},"pids":{"limit":100}}`
)

func main() {
	n := flag.Int("n", 30, "iterations per runtime and operation")
	bundle := flag.String("bundle", "", "bundle with a busybox rootfs; bundles running `true` and `sleep` are made from its config.json")
	anchor := flag.String("anchor", "crun", "runtime the ratios are computed against")
	many := flag.Int("many", 100, "containers running per runtime while list and state are timed")
	flag.Parse()
	if *bundle == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: runtimebench -bundle DIR name=/path/to/runtime ...")
		os.Exit(2)
	}
	b := &bench{times: map[string]map[string][]time.Duration{}, fails: map[string]map[string]*failure{}}
	for _, a := range flag.Args() {
		name, bin, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "bad runtime %q: want name=path\n", a)
			os.Exit(2)
		}
		argv := strings.Fields(bin)
		root, err := os.MkdirTemp("/run", "bench-"+name+"-")
		check(err)
		defer os.RemoveAll(root)
		b.rts = append(b.rts, runtime{name: name, argv: append(argv, "--root", root)})
		b.times[name] = map[string][]time.Duration{}
		b.fails[name] = map[string]*failure{}
	}
	trueBundle := makeBundle(*bundle, "true")
	defer os.RemoveAll(trueBundle)
	sleepBundle := makeBundle(*bundle, "sleep", "1000")
	defer os.RemoveAll(sleepBundle)
	jsonFile, err := os.CreateTemp("", "bench-resources-")
	check(err)
	defer os.Remove(jsonFile.Name())
	_, err = jsonFile.WriteString(updateJSON)
	check(err)
	check(jsonFile.Close())

	// 1. The lifecycle: run, and create/start/kill/delete.
	for i := 0; i < *n; i++ {
		for k := range b.rts {
			rt := b.rts[(i+k)%len(b.rts)] // rotate who goes first
			id := fmt.Sprintf("bench-%d", i)
			b.time(rt, opRun, "", "run", "--bundle", trueBundle, id+"-t")
			b.quiet(rt, "delete", "--force", id+"-t") // in case run failed half way

			var sum time.Duration
			all := true
			for _, step := range []struct {
				op   string
				args []string
			}{
				{opCreate, []string{"create", "--bundle", sleepBundle, id}},
				{opStart, []string{"start", id}},
				{opKill, []string{"kill", id, "KILL"}},
				{opDelete, []string{"delete", "--force", id}},
			} {
				d, ok := b.time(rt, step.op, "", step.args...)
				sum += d
				if all = all && ok; !all {
					break
				}
			}
			if all {
				b.times[rt.name][opCycle] = append(b.times[rt.name][opCycle], sum)
			} else {
				b.quiet(rt, "delete", "--force", id)
			}
		}
	}

	// 2. pause, resume and update of one running container per runtime.
	// The containers that run side by side have ids of their own per
	// runtime: a runtime's default cgroup path is named after the id.
	pauseID := func(rt runtime) string { return rt.name + "-pause" }
	for _, rt := range b.rts {
		if !b.setup(rt, pauseID(rt), sleepBundle) {
			b.fail(rt, opPause, "(the container to pause could not be started)")
		}
	}
	for i := 0; i < *n; i++ {
		for k := range b.rts {
			rt := b.rts[(i+k)%len(b.rts)]
			if _, ok := b.time(rt, opPause, "", "pause", pauseID(rt)); ok {
				b.time(rt, opResume, "", "resume", pauseID(rt))
			} else {
				b.fail(rt, opResume, "(not paused)")
			}
			b.time(rt, opUpdate, "", append(append([]string{"update"}, updateFlags...), pauseID(rt))...)
			b.time(rt, opUpdateRes, jsonFile.Name(), "update", "--resources", "-", pauseID(rt))
		}
	}
	for _, rt := range b.rts {
		b.quiet(rt, "resume", pauseID(rt))
		b.quiet(rt, "delete", "--force", pauseID(rt))
	}

	// 3. list and state with many containers running per runtime.
	list, state := fmt.Sprintf(opList, *many), fmt.Sprintf(opState, *many)
	manyID := func(rt runtime, j int) string { return fmt.Sprintf("%s-many-%03d", rt.name, j) }
	for j := 0; j < *many; j++ {
		for _, rt := range b.rts {
			if !b.setup(rt, manyID(rt, j), sleepBundle) {
				b.fail(rt, list, fmt.Sprintf("(container %s could not be started)", manyID(rt, j)))
			}
		}
	}
	for i := 0; i < *n; i++ {
		for k := range b.rts {
			rt := b.rts[(i+k)%len(b.rts)]
			b.time(rt, list, "", "list")
			b.time(rt, state, "", "state", manyID(rt, *many/2))
		}
	}
	for _, rt := range b.rts {
		for j := 0; j < *many; j++ {
			b.quiet(rt, "delete", "--force", manyID(rt, j))
		}
	}

	b.print(*n, *anchor, []string{opRun, opCreate, opStart, opKill, opDelete, opCycle,
		opPause, opResume, opUpdate, opUpdateRes, list, state})
}

// setup creates and starts a sleeping container, untimed.
func (b *bench) setup(rt runtime, id, bundle string) bool {
	if err := b.quiet(rt, "create", "--bundle", bundle, id); err != nil {
		fmt.Fprintf(os.Stderr, "%s: create %s: %v\n", rt.name, id, err)
		return false
	}
	if err := b.quiet(rt, "start", id); err != nil {
		fmt.Fprintf(os.Stderr, "%s: start %s: %v\n", rt.name, id, err)
		b.quiet(rt, "delete", "--force", id)
		return false
	}
	return true
}

// time runs one runtime command for op and records how long it took, or
// its failure. stdin names a file for its standard input ("" for none).
func (b *bench) time(rt runtime, op, stdin string, args ...string) (time.Duration, bool) {
	d, err := runCmd(rt, stdin, args...)
	if err != nil {
		b.fail(rt, op, err.Error())
		return 0, false
	}
	b.times[rt.name][op] = append(b.times[rt.name][op], d)
	return d, true
}

func (b *bench) fail(rt runtime, op, msg string) {
	f := b.fails[rt.name][op]
	if f == nil {
		f = &failure{first: msg}
		b.fails[rt.name][op] = f
	}
	f.count++
}

// quiet runs a command that is not timed (setup and cleanup).
func (b *bench) quiet(rt runtime, args ...string) error {
	_, err := runCmd(rt, "", args...)
	return err
}

// runCmd runs one runtime command and returns how long it took; its error
// has the command line, exit status and stderr.
func runCmd(rt runtime, stdin string, args ...string) (time.Duration, error) {
	argv := append(append([]string(nil), rt.argv...), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	in, err := os.Open(os.DevNull)
	if stdin != "" {
		in, err = os.Open(stdin)
	}
	check(err)
	defer in.Close()
	out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	check(err)
	defer out.Close()
	// Output to a file, not a pipe: a detached container keeps its stdio,
	// and a pipe would make the command look unfinished until it exits.
	stderr, err := os.CreateTemp("", "bench-stderr-")
	check(err)
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, stderr
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(stderr.Name())
		return d, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(msg)))
	}
	return d, nil
}

func (b *bench) print(n int, anchor string, ops []string) {
	fmt.Printf("%d iterations each; medians in milliseconds (p10-p90 in brackets)\n\n", n)
	fmt.Printf("%-26s", "operation")
	for _, rt := range b.rts {
		fmt.Printf("%22s", rt.name)
	}
	for _, rt := range b.rts {
		if rt.name != anchor {
			fmt.Printf("%14s", rt.name+"/"+anchor)
		}
	}
	fmt.Println()
	for _, op := range ops {
		fmt.Printf("%-26s", op)
		for _, rt := range b.rts {
			fmt.Printf("%22s", b.cell(rt.name, op))
		}
		am, _, _ := stats(b.times[anchor][op])
		for _, rt := range b.rts {
			if rt.name == anchor {
				continue
			}
			med, _, _ := stats(b.times[rt.name][op])
			if med == 0 || am == 0 || b.fails[rt.name][op] != nil || b.fails[anchor][op] != nil {
				fmt.Printf("%14s", "-")
			} else {
				fmt.Printf("%14.2f", float64(med)/float64(am))
			}
		}
		fmt.Println()
	}
	var lines []string
	for _, op := range ops {
		for _, rt := range b.rts {
			if f := b.fails[rt.name][op]; f != nil {
				lines = append(lines, fmt.Sprintf("%s %s: failed %d times; first: %s", rt.name, op, f.count, f.first))
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

// cell is one runtime's figure for op: the median and spread, or FAILED.
func (b *bench) cell(name, op string) string {
	ds := b.times[name][op]
	f := b.fails[name][op]
	if len(ds) == 0 {
		if f != nil {
			return "FAILED"
		}
		return "-"
	}
	med, p10, p90 := stats(ds)
	s := fmt.Sprintf("%.2f [%.1f-%.1f]", ms(med), ms(p10), ms(p90))
	if f != nil {
		s = fmt.Sprintf("%.2f (%d failed)", ms(med), f.count)
	}
	return s
}

// makeBundle writes a config.json running args next to bundle's rootfs. It
// declares spec version 1.0.2, the newest that all the compared runtimes
// accept (crun 1.8 refuses later ones); nothing in it needs a later version.
func makeBundle(bundle string, args ...string) string {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	check(err)
	var spec map[string]any
	check(json.Unmarshal(data, &spec))
	abs, err := filepath.Abs(bundle)
	check(err)
	root := spec["root"].(map[string]any)
	if p := root["path"].(string); !filepath.IsAbs(p) {
		root["path"] = filepath.Join(abs, p)
	}
	spec["process"].(map[string]any)["args"] = args
	spec["ociVersion"] = "1.0.2"
	dir, err := os.MkdirTemp("", "bench-"+args[0]+"-")
	check(err)
	out, err := json.MarshalIndent(spec, "", "  ")
	check(err)
	check(os.WriteFile(filepath.Join(dir, "config.json"), out, 0o644))
	return dir
}

func stats(ds []time.Duration) (med, p10, p90 time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)/10], s[len(s)*9/10]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
