package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// testCase is one measure, taken on every path.
type testCase struct {
	key, title string
	hostPort   int // the published port
	ctrPort    int // the container's port
}

var tests = []testCase{
	{"conn", "new conn/s (httpd)", 8000, 80},
	{"ka", "keep-alive req/s", 8080, 8080},
	{"bulk", "bulk MB/s", 5001, 5001},
}

// pathCase is one way from a client to the container's servers.
type pathCase struct {
	key, label string
	remote     bool   // from the client namespace one hop away, else from the host
	published  bool   // to a published port on the host, else to the container's IP
	loopback   bool   // published, on 127.0.0.1
	base       string // the direct path a published one is held against
}

var paths = []pathCase{
	{"lo", "host -> 127.0.0.1:port", false, true, true, "direct"},
	{"ip", "host -> host IP:port", false, true, false, "direct"},
	{"direct", "host -> container IP", false, false, false, ""},
	{"rip", "netns -> host IP:port", true, true, false, "rdirect"},
	{"rdirect", "netns -> container IP", true, false, false, ""},
}

// interrupted is set by ^C (or SIGTERM, SIGHUP): the benchmark stops at
// the next step, prints what it has and cleans up.
var interrupted atomic.Bool

type config struct {
	d, warm     time.Duration
	rounds      int
	conns, thr  int
	self        string
	wrkVersion  string
	engineNames []string
}

// results holds the samples (by round, from 1) and the first failure of
// each engine, path and case.
type results struct {
	samples map[string]map[int]float64
	fails   map[string]string
}

func key(e *engine, p pathCase, t testCase) string { return e.name + "|" + p.key + "|" + t.key }

func bench(args []string) error {
	fs := flag.NewFlagSet("netbench", flag.ExitOnError)
	d := fs.Duration("d", time.Second, "length of one measurement (whole seconds: wrk's unit)")
	rounds := fs.Int("rounds", 6, "measurements of each engine, path and case (the table has their median; many short ones pair published and direct paths closer in time than a few long ones)")
	warm := fs.Duration("warm", time.Second, "length of the warm-up measurement of each engine, path and case (not counted; one that fails is not tried again)")
	conns := fs.Int("c", 32, "wrk's connections")
	thr := fs.Int("t", 1, "wrk's threads")
	berth := fs.String("berth", "bin/berth", "the berth binary")
	names := fs.String("engines", "docker,berth", "engines to compare, in table order")
	prefix := fs.String("prefix", fmt.Sprintf("nb%d", os.Getpid()), "prefix of the network namespaces' names")
	keep := fs.Bool("keep", false, "leave the temp dir (daemon logs) in place; containers, daemons and namespaces are still removed")
	fs.Parse(args)
	if *d < time.Second || *d%time.Second != 0 || *warm < time.Second || *warm%time.Second != 0 {
		return errors.New("-d and -warm are whole seconds, at least 1s")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := &config{d: *d, warm: *warm, rounds: *rounds, conns: *conns, thr: *thr, self: self,
		engineNames: strings.Split(*names, ",")}
	cfg.wrkVersion, _, _ = strings.Cut(firstLine(nil, "sh", "-c", "wrk -v 2>&1; true"), " [")

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for range sigs {
			if interrupted.Swap(true) {
				fmt.Fprintln(os.Stderr, "netbench: still cleaning up, please wait")
			} else {
				fmt.Fprintln(os.Stderr, "netbench: interrupted; removing containers, daemons and namespaces")
			}
		}
	}()

	w, err := newWork(*prefix, *keep)
	if err != nil {
		return err
	}
	defer w.Remove()
	tarball := w.Path("image.tar")
	if err := writeImage(tarball, imageRef); err != nil {
		return err
	}

	var engines []*engine
	for i, name := range cfg.engineNames {
		var e *engine
		switch name {
		case "docker":
			e = setupDocker(w, i+1)
		case "berth":
			e = setupBerth(w, i+1, *berth)
		default:
			return fmt.Errorf("unknown engine %q: want docker or berth", name)
		}
		defer func() {
			progress("%s: removing the container, the daemon and the namespaces", e.name)
			e.teardown()
		}()
		engines = append(engines, e)
		if e.setupErr == nil {
			progress("%s: loading the image and starting the container", e.name)
			e.setupErr = e.startContainer(tarball, self)
		}
		if e.setupErr != nil {
			progress("%s: not set up (the error is under the engines' versions)", e.name)
		}
		if interrupted.Load() {
			return errors.New("interrupted")
		}
	}

	printHeader(cfg, engines)
	r := &results{samples: map[string]map[int]float64{}, fails: map[string]string{}}
	r.measure(cfg, engines)
	r.print(cfg, engines)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		fmt.Printf("\nload average at the end: %s (other work on the machine during the run widens the ± columns)\n", strings.Join(f[:3], " "))
	}
	if interrupted.Load() {
		return errors.New("interrupted: the table has what was measured before")
	}
	return nil
}

func printHeader(cfg *config, engines []*engine) {
	for _, e := range engines {
		if e.setupErr != nil {
			fmt.Printf("%s: not set up: %v\n", e.name, e.setupErr)
			continue
		}
		fmt.Printf("%s: %s\n", e.name, e.version)
		fmt.Printf("  netns %s: host IP %s, container IP %s; client netns %s one veth away\n", e.ns, e.hostIP, e.ctrIP, e.clientNS)
	}
	fmt.Printf("container: busybox httpd on 80 (a process per connection), a Go keep-alive HTTP server on 8080, a TCP sink on 5001; -p 8000:80 -p 8080:8080 -p 5001:5001\n")
	fmt.Printf("load: %s -t%d -c%d -d%v (new conn/s: with Connection: close; page %d bytes); bulk: one connection writing 1 MiB at a time for %v, then the sink's count\n",
		cfg.wrkVersion, cfg.thr, cfg.conns, cfg.d, pageSize, cfg.d)
	fmt.Printf("%d rounds (engines and paths take turns in each) after a %v warm-up; medians, ± half the spread of the rounds;\n", cfg.rounds, cfg.warm)
	fmt.Printf("ratios are medians of the rounds' ratios (published/direct from the same client; berth/docker on the same path)\n")
	fmt.Println()
}

// measure runs the warm-up round and the counted rounds.
func (r *results) measure(cfg *config, engines []*engine) {
	n := 0
	for _, e := range engines {
		if e.setupErr == nil {
			n++
		}
	}
	total := time.Duration(len(tests)*len(paths)*n) * (cfg.warm + time.Duration(cfg.rounds)*cfg.d)
	progress("measuring: about %v", total.Round(time.Second))
	for _, e := range engines {
		for _, p := range paths {
			if e.setupErr != nil || interrupted.Load() {
				continue
			}
			if err := reachable(cfg, e, p); err != nil {
				progress("%s, %s: unreachable: %v", e.name, p.label, err)
				for _, t := range tests {
					r.fails[key(e, p, t)] = "unreachable: " + err.Error()
				}
			}
		}
	}
	for round := 0; round <= cfg.rounds && !interrupted.Load(); round++ {
		d := cfg.d
		if round == 0 {
			d = cfg.warm
		}
		order := slices.Clone(engines)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range tests {
			for _, p := range paths {
				for _, e := range order {
					k := key(e, p, t)
					if interrupted.Load() || e.setupErr != nil || r.fails[k] != "" {
						continue
					}
					v, err := runOne(cfg, e, p, t, d)
					if err != nil {
						r.fails[k] = err.Error()
						progress("%s, %s, %s: FAILED: %v", e.name, p.label, t.title, err)
						continue
					}
					if round > 0 {
						if r.samples[k] == nil {
							r.samples[k] = map[int]float64{}
						}
						r.samples[k][round] = v
					}
				}
			}
		}
		if round > 0 {
			progress("round %d of %d done", round, cfg.rounds)
		}
	}
}

// target is the namespace a path's client runs in and the address it
// connects to for a case.
func target(e *engine, p pathCase, t testCase) (ns, addr string) {
	ns, host, port := e.ns, e.ctrIP, t.ctrPort
	if p.remote {
		ns = e.clientNS
	}
	if p.published {
		host, port = e.hostIP, t.hostPort
		if p.loopback {
			host = "127.0.0.1"
		}
	}
	return ns, host + ":" + strconv.Itoa(port)
}

// reachable checks that each of a path's servers answers through it
// within a few seconds: the pages for the HTTP cases (through a proxy, a
// connection alone proves nothing), a connection for the sink.
func reachable(cfg *config, e *engine, p pathCase) error {
	argv := []string{cfg.self, "wait", "-t", "5s"}
	var ns string
	for _, t := range tests {
		var addr string
		ns, addr = target(e, p, t)
		switch t.key {
		case "conn":
			addr = "http://" + addr + "/index.html"
		case "ka":
			addr = "http://" + addr + "/"
		}
		argv = append(argv, addr)
	}
	_, err := command(30*time.Second, nil, inNS(ns, argv...)...)
	return err
}

// runOne takes one measurement: requests or megabytes (10^6 bytes) per
// second.
func runOne(cfg *config, e *engine, p pathCase, t testCase, d time.Duration) (float64, error) {
	ns, addr := target(e, p, t)
	timeout := d + 20*time.Second
	switch t.key {
	case "bulk":
		out, err := command(timeout, nil, inNS(ns, cfg.self, "send", "-d", d.String(), addr)...)
		if err != nil {
			return 0, err
		}
		var n int64
		var secs float64
		if _, err := fmt.Sscan(out, &n, &secs); err != nil || secs <= 0 {
			return 0, fmt.Errorf("netbench send printed %q", out)
		}
		return float64(n) / secs / 1e6, nil
	default:
		argv := []string{"wrk", "-t", strconv.Itoa(cfg.thr), "-c", strconv.Itoa(cfg.conns), "-d", fmt.Sprintf("%ds", int(d.Seconds()))}
		url := "http://" + addr + "/"
		if t.key == "conn" {
			argv = append(argv, "-H", "Connection: close")
			url += "index.html"
		}
		out, err := command(timeout, nil, inNS(ns, append(argv, url)...)...)
		if err != nil {
			return 0, err
		}
		return parseWrk(out)
	}
}

// parseWrk reads wrk's Requests/sec, and fails the run on any non-2xx
// answer or on socket errors above 1% of the requests.
func parseWrk(out string) (float64, error) {
	var rps float64
	var reqs, non2xx, errs int64
	found := false
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, fmt.Errorf("wrk: %q: %v", l, err)
			}
			rps, found = v, true
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			reqs, _ = strconv.ParseInt(f[0], 10, 64)
		case strings.HasPrefix(strings.TrimSpace(l), "Non-2xx or 3xx responses:"):
			non2xx, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		case strings.HasPrefix(strings.TrimSpace(l), "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				errs += n
			}
		}
	}
	switch {
	case !found || reqs == 0:
		return 0, fmt.Errorf("wrk made no request: %s", lastBytes([]byte(strings.TrimSpace(out)), 600))
	case non2xx > 0:
		return 0, fmt.Errorf("wrk: %d of %d answers not 2xx or 3xx", non2xx, reqs)
	case errs*100 > reqs:
		return 0, fmt.Errorf("wrk: %d socket errors in %d requests: %s", errs, reqs, lastBytes([]byte(strings.TrimSpace(out)), 600))
	}
	return rps, nil
}

// stat is the median of a key's samples and half their spread relative
// to it; ok is false without samples.
func (r *results) stat(k string) (med, spread float64, ok bool) {
	var s []float64
	for _, v := range r.samples[k] {
		s = append(s, v)
	}
	if len(s) == 0 {
		return 0, 0, false
	}
	med = median(s)
	if med > 0 {
		spread = (slices.Max(s) - slices.Min(s)) / 2 / med
	}
	return med, spread, true
}

// ratio is a over b: the median of the rounds' ratios, each of two
// measurements taken seconds apart, which the machine's drift (other
// work, the engines' own) touches less than the medians of each.
func (r *results) ratio(a, b string) (float64, bool) {
	var s []float64
	for round, x := range r.samples[a] {
		if y, ok := r.samples[b][round]; ok && y > 0 {
			s = append(s, x/y)
		}
	}
	if len(s) == 0 {
		return 0, false
	}
	return median(s), true
}

func median(s []float64) float64 {
	s = slices.Clone(s)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}

func (r *results) print(cfg *config, engines []*engine) {
	const nameW, pathW = 12, 24
	const labelW = nameW + 1 + pathW
	fmt.Printf("%-*s", labelW, "")
	for _, t := range tests {
		fmt.Printf(" | %-24s", t.title)
	}
	fmt.Printf("\n%-*s %-*s", nameW, "engine", pathW, "path")
	for range tests {
		fmt.Printf(" | %9s %5s %8s", "median", "±", "/direct")
	}
	fmt.Println()
	fmt.Println(strings.Repeat("-", labelW+len(tests)*27))
	for _, e := range engines {
		for _, p := range paths {
			fmt.Printf("%-*s %-*s", nameW, e.name, pathW, p.label)
			for _, t := range tests {
				k := key(e, p, t)
				med, spread, ok := r.stat(k)
				switch {
				case e.setupErr != nil:
					fmt.Printf(" | %24s", "not set up")
				case strings.HasPrefix(r.fails[k], "unreachable"):
					fmt.Printf(" | %24s", "unreachable")
				case r.fails[k] != "" && !ok:
					fmt.Printf(" | %24s", "FAILED")
				case !ok:
					fmt.Printf(" | %24s", "-")
				default:
					rat := ""
					if p.base != "" {
						if v, ok := r.ratio(k, key(e, pathByKey(p.base), t)); ok {
							rat = fmt.Sprintf("%.2f", v)
						}
					}
					fmt.Printf(" | %9.0f %4.0f%% %8s", med, spread*100, rat)
				}
			}
			fmt.Println()
		}
	}

	// berth/docker on each path.
	var subj, ref *engine
	for _, e := range engines {
		switch e.name {
		case "berth":
			subj = e
		case "docker":
			ref = e
		}
	}
	if subj != nil && ref != nil {
		fmt.Println()
		fmt.Printf("%-*s", labelW, "")
		for _, t := range tests {
			fmt.Printf(" | %-24s", t.title)
		}
		fmt.Println()
		for _, p := range paths {
			fmt.Printf("%-*s %-*s", nameW, "berth/docker", pathW, p.label)
			for _, t := range tests {
				s := "-"
				if v, ok := r.ratio(key(subj, p, t), key(ref, p, t)); ok {
					s = fmt.Sprintf("%.2f", v)
				}
				fmt.Printf(" | %24s", s)
			}
			fmt.Println()
		}
	}
	if subj != nil && subj.setupErr == nil {
		fmt.Println()
		fmt.Println("berth's targets: each published path at >= 0.9 of its direct path" + map[bool]string{true: ", and ahead of docker's (even: within 5%)", false: ""}[ref != nil] + ":")
		for _, p := range paths {
			if !p.published {
				continue
			}
			var cells []string
			for _, t := range tests {
				k := key(subj, p, t)
				s := t.title + " "
				if v, ok := r.ratio(k, key(subj, pathByKey(p.base), t)); ok {
					s += fmt.Sprintf("%.2f %s", v, yes(v >= 0.9))
				} else {
					s += "-"
				}
				if ref != nil {
					if v, ok := r.ratio(k, key(ref, p, t)); ok {
						s += fmt.Sprintf(", x%.2f of docker %s", v, ahead(v))
					} else {
						s += ", vs docker -"
					}
				}
				cells = append(cells, s)
			}
			fmt.Printf("  %-24s %s\n", p.label, strings.Join(cells, "; "))
		}
	}

	var failed []string
	for _, e := range engines {
		for _, p := range paths {
			for _, t := range tests {
				msg := r.fails[key(e, p, t)]
				if strings.HasPrefix(msg, "unreachable") {
					failed = append(failed, fmt.Sprintf("%s, %s: %s", e.name, p.label, msg))
					if e.name == "berth" && p.key == "rdirect" {
						failed = append(failed, "    (berth drops what is routed from outside straight to a container's address, as docker 28 does;"+
							" docker 20.10 lets it through to published ports. Berth's \"netns ->\" published path has no direct one to compare with.)")
					}
					break
				}
				if msg != "" {
					failed = append(failed, fmt.Sprintf("%s, %s, %s: %s", e.name, p.label, t.title, msg))
				}
			}
		}
	}
	if len(failed) > 0 {
		fmt.Println()
		fmt.Println("failures:")
		for _, f := range failed {
			fmt.Println("  " + f)
		}
	}
}

func pathByKey(k string) pathCase {
	for _, p := range paths {
		if p.key == k {
			return p
		}
	}
	panic("no path " + k)
}

// ahead says whether berth is ahead of docker, calling a difference
// within 5% even: the rounds' spread is wider than that on a busy machine.
func ahead(v float64) string {
	switch {
	case v >= 1.05:
		return "yes"
	case v > 0.95:
		return "even"
	}
	return "NO"
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}
