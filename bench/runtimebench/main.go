// Command runtimebench times OCI runtimes side by side on the same bundle:
// `run` of `true`, and create/start/kill/delete of a sleeping container. The
// runtimes take turns within each iteration so that drift in the machine's
// load hits them alike. It prints medians and the ratios to the anchor.
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

func main() {
	n := flag.Int("n", 30, "iterations per runtime and operation")
	bundle := flag.String("bundle", "", "bundle with a busybox rootfs; bundles running `true` and `sleep` are made from its config.json")
	anchor := flag.String("anchor", "crun", "runtime the ratios are computed against")
	flag.Parse()
	if *bundle == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: runtimebench -bundle DIR name=/path/to/runtime ...")
		os.Exit(2)
	}
	var rts []runtime
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
		rts = append(rts, runtime{name: name, argv: append(argv, "--root", root)})
	}
	trueBundle := makeBundle(*bundle, "true")
	defer os.RemoveAll(trueBundle)
	sleepBundle := makeBundle(*bundle, "sleep", "1000")
	defer os.RemoveAll(sleepBundle)

	ops := []string{"run true", "create", "start", "kill", "delete", "create+start+kill+delete"}
	times := map[string]map[string][]time.Duration{}
	for _, rt := range rts {
		times[rt.name] = map[string][]time.Duration{}
	}
	for i := 0; i < *n; i++ {
		for k := range rts {
			rt := rts[(i+k)%len(rts)] // rotate who goes first
			id := fmt.Sprintf("bench-%d", i)
			d := timeCmd(rt, "run", "--bundle", trueBundle, id+"-t")
			times[rt.name]["run true"] = append(times[rt.name]["run true"], d)

			c := timeCmd(rt, "create", "--bundle", sleepBundle, id)
			s := timeCmd(rt, "start", id)
			kl := timeCmd(rt, "kill", id, "KILL")
			dl := timeCmd(rt, "delete", "--force", id)
			m := times[rt.name]
			m["create"] = append(m["create"], c)
			m["start"] = append(m["start"], s)
			m["kill"] = append(m["kill"], kl)
			m["delete"] = append(m["delete"], dl)
			m["create+start+kill+delete"] = append(m["create+start+kill+delete"], c+s+kl+dl)
		}
	}

	fmt.Printf("%d iterations each; medians in milliseconds (p10-p90 in brackets)\n\n", *n)
	fmt.Printf("%-26s", "operation")
	for _, rt := range rts {
		fmt.Printf("%22s", rt.name)
	}
	for _, rt := range rts {
		if rt.name != *anchor {
			fmt.Printf("%14s", rt.name+"/"+*anchor)
		}
	}
	fmt.Println()
	for _, op := range ops {
		fmt.Printf("%-26s", op)
		for _, rt := range rts {
			med, p10, p90 := stats(times[rt.name][op])
			fmt.Printf("%22s", fmt.Sprintf("%.2f [%.1f-%.1f]", ms(med), ms(p10), ms(p90)))
		}
		am, _, _ := stats(times[*anchor][op])
		for _, rt := range rts {
			if rt.name != *anchor {
				med, _, _ := stats(times[rt.name][op])
				fmt.Printf("%14.2f", float64(med)/float64(am))
			}
		}
		fmt.Println()
	}
}

// timeCmd runs one runtime command and returns how long it took; a failure
// ends the benchmark, since its numbers would mean nothing.
func timeCmd(rt runtime, args ...string) time.Duration {
	argv := append(append([]string(nil), rt.argv...), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	check(err)
	defer devnull.Close()
	// Output to a file, not a pipe: a detached container keeps its stdio,
	// and a pipe would make the command look unfinished until it exits.
	stderr, err := os.CreateTemp("", "bench-stderr-")
	check(err)
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, stderr
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(stderr.Name())
		fmt.Fprintf(os.Stderr, "%s: %v\n%s", strings.Join(argv, " "), err, msg)
		os.Exit(1)
	}
	return d
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
