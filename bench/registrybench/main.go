// Command registrybench measures registry servers on loopback: berth's
// (`berth registry serve`) beside Debian's docker-registry 2.8, and a
// minimal Go file server (http.FileServer) as the physical reference for
// serving the same bytes at the same URL paths.
//
// It builds an OCI layout holding a ~180 MB image of 5 gzip layers of
// random (incompressible) data, and a 100 MB blob of random data. Then, N
// times (default 3), it times on each target, every server started fresh
// on 127.0.0.1 with empty storage under /var/tmp:
//
//   - push of the image with skopeo, with `berth push` where berth has it,
//     and with a Go client (one blob after another, each in one PATCH),
//     each client into a server of its own, so none finds the blobs
//     another pushed;
//   - 8 Go-client pushes at once of the same image, each to a repository
//     of its own (-parallel), then a check that all 8 are complete;
//   - GET of the 100 MB blob by a Go client that reads to nothing (-gets
//     times per run);
//   - pull of the image with skopeo into a fresh OCI layout;
//   - pull of the image by a Go client: the manifest, then each blob in
//     turn, read to nothing;
//   - 8 such Go-client pulls at once (-parallel);
//   - 1000 HEADs of a layer and 1000 GETs of the manifest, one after
//     another on one connection: the cost of a small request.
//
// The targets take turns measurement by measurement, and GET by GET, so
// that drift in the machine's speed hits them alike. Before the first
// timed reads each target's answers are checked once (digests, sizes,
// headers, a ranged GET); what does not match is printed. At the end it
// prints medians, MB/s, the peak RSS (VmHWM) of each server process and
// the CPU time it used, and the ratios: berth to the file server for the
// GET, berth to docker-registry for push and pull.
//
// The file server runs as a separate process (this program, re-executed
// with -fileserver) so that its RSS is its own.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 3, "runs per target")
	gets := flag.Int("gets", 20, "GETs of the big blob per run")
	parallel := flag.Int("parallel", 8, "concurrent pulls in the parallel pull")
	berth := flag.String("berth", "bin/berth", "berth binary")
	layers := flag.Int("layers", 5, "layers in the image")
	mb := flag.Int("mb", 180, "size of the files in the image's layers in MB (10^6 bytes), all together")
	blobMB := flag.Int("blob-mb", 100, "size of the big blob in MB (10^6 bytes)")
	only := flag.String("targets", "fileserver,docker-registry,berth", "targets to run, comma-separated")
	layoutOnly := flag.String("layout", "", "only write the image's OCI layout (tag latest) to this directory, for use by hand")
	verbose := flag.Bool("v", false, "print every sample, not only the medians")
	fileserver := flag.String("fileserver", "", "internal: serve this directory over HTTP at -addr and do nothing else")
	addr := flag.String("addr", "", "internal: address for -fileserver")
	flag.Parse()
	if *fileserver != "" {
		// The reference: the standard library's file server, nothing else.
		fmt.Fprintln(os.Stderr, http.ListenAndServe(*addr, http.FileServer(http.Dir(*fileserver))))
		os.Exit(1)
	}
	if *layoutOnly != "" {
		im, err := makeImage(*layoutOnly, *layers, int64(*mb)*1e6)
		if err != nil {
			fmt.Fprintln(os.Stderr, "registrybench:", err)
			os.Exit(1)
		}
		fmt.Printf("%s: %d layers, %.1f MB\n", *layoutOnly, len(im.layers), float64(im.total())/1e6)
		return
	}
	b := &bench{
		n: *n, gets: *gets, parallel: *parallel, berth: *berth,
		nlayers: *layers, size: int64(*mb) * 1e6, blobSize: int64(*blobMB) * 1e6,
		samples: map[string]map[string][]time.Duration{},
		fails:   map[string]map[string]string{},
		rss:     map[string]int64{},
		cpu:     map[string]time.Duration{},
		skipped: map[string]string{},
	}
	b.verbose = *verbose
	if err := b.run(strings.Split(*only, ",")); err != nil {
		if children.interrupted() {
			select {} // the signal handler cleans up and exits
		}
		fmt.Fprintln(os.Stderr, "registrybench:", err)
		os.Exit(1)
	}
}

// The measurements, in table order.
const (
	opGet       = "GET big blob"
	opPushSk    = "push: skopeo copy"
	opPushGo    = "push: Go client"
	opPushBerth = "push: berth push"
	opPushPar   = "push: %d at once, Go client"
	opPullSk    = "pull: skopeo copy"
	opPullRaw   = "pull: Go client"
	opPullPar   = "pull: %d at once, Go client"
	opHeads     = "HEAD of a layer"
	opManifests = "GET of the manifest"
)

type bench struct {
	n, gets, parallel int
	berth             string
	nlayers           int
	size, blobSize    int64

	work   string
	layout string // the OCI layout with the image
	img    *image
	blob   string // the big blob's file

	targets   []*target
	berthPush *pusher                               // nil without `berth push`
	samples   map[string]map[string][]time.Duration // target -> op -> samples
	fails     map[string]map[string]string          // target -> op -> first failure
	rss       map[string]int64                      // target -> max VmHWM in kB over its runs
	cpu       map[string]time.Duration              // target -> user+system time, all runs
	skipped   map[string]string                     // target -> why
	verbose   bool
}

func (b *bench) run(only []string) error {
	work, err := os.MkdirTemp("/var/tmp", "berth-registrybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b.work = work
	// On ^C the servers and clients running go, then the work dir.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		children.killAll()
		os.RemoveAll(work)
		fmt.Fprintln(os.Stderr, "registrybench:", s)
		os.Exit(1)
	}()
	b.layout = filepath.Join(work, "layout")
	start := time.Now()
	if b.img, err = makeImage(b.layout, b.nlayers, b.size); err != nil {
		return err
	}
	if b.blob, err = makeBlob(filepath.Join(work, "blob"), b.blobSize); err != nil {
		return err
	}
	b.img.bigBlob, err = fileDigest(b.blob)
	if err != nil {
		return err
	}
	fmt.Printf("image: %d gzip layers of random data, %.1f MB of blobs in all (manifest, config, layers); big blob: %.1f MB; made in %.1fs\n",
		len(b.img.layers), float64(b.img.total())/1e6, float64(b.blobSize)/1e6, time.Since(start).Seconds())

	all := []*target{fileServerTarget(), dockerRegistryTarget(), berthTarget(b.berth)}
	for _, t := range all {
		want := false
		for _, o := range only {
			want = want || strings.TrimSpace(o) == t.name
		}
		if !want {
			continue
		}
		if why := t.available(); why != "" {
			b.skipped[t.name] = why
			fmt.Printf("%s: skipped: %s\n", t.name, why)
			continue
		}
		b.targets = append(b.targets, t)
	}
	registries := false
	for _, t := range b.targets {
		registries = registries || t.registry
	}
	if registries {
		if b.berthPush = berthPusher(b.berth); b.berthPush == nil {
			fmt.Printf("berth push: skipped: %s has no `push` yet\n", b.berth)
		} else if err := b.berthPush.prepare(b); err != nil {
			fmt.Printf("berth push: skipped: loading the image into berth's store failed: %v\n", err)
			b.berthPush = nil
		}
	}
	if len(b.targets) == 0 {
		return fmt.Errorf("no target to run")
	}
	for i := 0; i < b.n; i++ {
		if err := b.runOnce(i); err != nil {
			return err
		}
	}
	b.report()
	return nil
}

// runOnce takes every measurement once on every target (GET b.gets
// times), the targets taking turns measurement by measurement.
//
// Each push client pushes into a server of its own, started fresh with
// empty storage, so that none finds the blobs another one pushed. The Go
// client's push goes last; those servers then stay up together for the
// reads, which take turns GET by GET (the first target changing each
// time) so that drift in the machine's speed hits all alike.
func (b *bench) runOnce(i int) error {
	dir := filepath.Join(b.work, fmt.Sprint("run", i))
	defer os.RemoveAll(dir)
	type pushClient struct {
		op   string
		push func(host string) error
	}
	pushers := []pushClient{{opPushSk, func(host string) error {
		return runCmd("skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:"+b.layout+":latest", "docker://"+host+"/"+repo+":latest")
	}}}
	if b.berthPush != nil {
		pushers = append(pushers, pushClient{opPushBerth, func(host string) error { return b.berthPush.push(b, host) }})
	}
	pushers = append(pushers, pushClient{b.parPushOp(), func(host string) error { return pushParallel(host, b.parallel, b.img, b.layout) }})
	// Who goes first changes from run to run.
	targets := append(append([]*target(nil), b.targets[i%len(b.targets):]...), b.targets[:i%len(b.targets)]...)
	for k, p := range pushers {
		for _, t := range targets {
			if !t.registry {
				continue
			}
			srv, err := b.startTarget(t, filepath.Join(dir, fmt.Sprintf("%s-push%d", t.name, k)))
			if err != nil {
				return err
			}
			if srv == nil {
				continue
			}
			exec.Command("sync").Run()
			b.time(t, p.op, func() error { return p.push(srv.host) })
			b.stopTarget(t, srv)
		}
	}

	// The servers to read from: filled by the Go client's push (the file
	// server, before it starts), and the big blob.
	var readers []*target
	hosts := map[*target]string{}
	for _, t := range targets {
		srv, err := b.startTarget(t, filepath.Join(dir, t.name))
		if err != nil {
			return err
		}
		if srv == nil {
			continue
		}
		defer b.stopTarget(t, srv)
		if t.registry {
			exec.Command("sync").Run()
			b.time(t, opPushGo, func() error { return pushImage(srv.host, repo, "latest", b.layout, b.img) })
			if err, failed := b.fails[t.name][opPushGo]; failed {
				for _, op := range []string{opGet, opPullSk, opPullRaw, b.parOp()} {
					b.fail(t, op, fmt.Errorf("no image to read: the Go client's push failed: %s", err))
				}
				continue
			}
			if err := pushBlob(srv.host, repo, b.blob, b.img.bigBlob, b.blobSize); err != nil {
				b.fail(t, opGet, fmt.Errorf("upload of the big blob: %w", err))
			}
		}
		if i == 0 {
			if err := b.check(t, srv.host); err != nil {
				b.fail(t, "check", err)
			}
		}
		readers = append(readers, t)
		hosts[t] = srv.host
	}
	exec.Command("sync").Run()

	clients := map[*target]*http.Client{}
	for _, t := range readers {
		clients[t] = newClient()
	}
	for g := 0; g < b.gets; g++ {
		for k := range readers {
			t := readers[(g+k)%len(readers)]
			b.time(t, opGet, func() error {
				n, err := getBlob(clients[t], hosts[t], repo, b.img.bigBlob, false)
				if err == nil && n != b.blobSize {
					err = fmt.Errorf("read %d bytes, want %d", n, b.blobSize)
				}
				return err
			})
		}
	}
	// Small requests, one after another on one connection: what a
	// client pays per layer it checks and per manifest it resolves.
	for _, t := range readers {
		layer := "http://" + hosts[t] + "/v2/" + repo + "/blobs/" + b.img.layers[0].Digest.String()
		manifest := "http://" + hosts[t] + "/v2/" + repo + "/manifests/latest"
		b.time(t, opHeads, func() error { return smallRequests(clients[t], "HEAD", layer, smallCount) })
		b.time(t, opManifests, func() error { return smallRequests(clients[t], "GET", manifest, smallCount) })
	}
	for _, t := range readers {
		if !t.registry {
			continue
		}
		out := filepath.Join(dir, "pulled")
		b.time(t, opPullSk, func() error {
			return runCmd("skopeo", "copy", "-q", "--src-tls-verify=false", "docker://"+hosts[t]+"/"+repo+":latest", "oci:"+out+":latest")
		})
		os.RemoveAll(out)
		exec.Command("sync").Run()
	}
	for _, t := range readers {
		b.time(t, opPullRaw, func() error {
			_, err := pullImage(newClient(), hosts[t], repo, "latest", b.img.total(), false)
			return err
		})
	}
	for _, t := range readers {
		b.time(t, b.parOp(), func() error { return pullParallel(hosts[t], b.parallel, b.img.total()) })
	}
	return nil
}

// startTarget starts target t with its storage under dir (filled first
// when the target needs that). A server that does not start is a failure
// of t, not of the benchmark: it returns nil, nil.
func (b *bench) startTarget(t *target, dir string) (*server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if t.prefill != nil {
		if err := t.prefill(filepath.Join(dir, "root"), b); err != nil {
			return nil, fmt.Errorf("fill %s: %w", t.name, err)
		}
	}
	srv, err := t.start(dir)
	if err != nil {
		b.fail(t, "start", err)
		return nil, nil
	}
	return srv, nil
}

// stopTarget stops srv, recording its peak RSS and CPU time.
func (b *bench) stopTarget(t *target, srv *server) {
	if kb := vmHWM(srv.cmd.Process.Pid); kb > b.rss[t.name] {
		b.rss[t.name] = kb
	}
	b.cpu[t.name] += srv.stop()
}

func (b *bench) parOp() string     { return fmt.Sprintf(opPullPar, b.parallel) }
func (b *bench) parPushOp() string { return fmt.Sprintf(opPushPar, b.parallel) }

// time runs f, records its duration under t and op, or its failure.
func (b *bench) time(t *target, op string, f func() error) {
	if _, failed := b.fails[t.name][op]; failed {
		return
	}
	start := time.Now()
	if err := f(); err != nil {
		b.fail(t, op, err)
		return
	}
	if b.samples[t.name] == nil {
		b.samples[t.name] = map[string][]time.Duration{}
	}
	b.samples[t.name][op] = append(b.samples[t.name][op], time.Since(start))
}

func (b *bench) fail(t *target, op string, err error) {
	if b.fails[t.name] == nil {
		b.fails[t.name] = map[string]string{}
	}
	if _, ok := b.fails[t.name][op]; !ok {
		b.fails[t.name][op] = err.Error()
		if !children.interrupted() {
			fmt.Fprintf(os.Stderr, "%s: %s: %v\n", t.name, op, err)
		}
	}
}

// med is the median of target t's samples of op, or 0 when there are none.
func (b *bench) med(t, op string) time.Duration {
	s := append([]time.Duration(nil), b.samples[t][op]...)
	if len(s) == 0 {
		return 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func (b *bench) report() {
	names := []string{}
	for _, t := range b.targets {
		names = append(names, t.name)
	}
	cell := func(t, op string, f func(time.Duration) string) string {
		if _, ok := b.fails[t][op]; ok {
			return "FAILED"
		}
		m := b.med(t, op)
		if m == 0 {
			return "-"
		}
		return f(m)
	}
	secs := func(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
	rate := func(bytes int64) func(time.Duration) string {
		return func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(bytes)/1e6/d.Seconds()) }
	}
	row := func(label string, f func(name string) string) {
		fmt.Printf("%-44s", label)
		for _, n := range names {
			fmt.Printf(" %16s", f(n))
		}
		fmt.Println()
	}
	img := b.img.total()
	fmt.Printf("\nmedians of %d runs (GET: %d per run); MB = 10^6 bytes\n", b.n, b.gets)
	row("", func(n string) string { return n })
	row(fmt.Sprintf("GET %d MB blob, s", b.blobSize/1e6), func(n string) string { return cell(n, opGet, secs) })
	row("  MB/s", func(n string) string { return cell(n, opGet, rate(b.blobSize)) })
	for _, op := range []string{opPushSk, opPushGo, opPushBerth} {
		row(op+", s", func(n string) string { return cell(n, op, secs) })
		row("  MB/s", func(n string) string { return cell(n, op, rate(img)) })
	}
	row(b.parPushOp()+", s", func(n string) string { return cell(n, b.parPushOp(), secs) })
	row("  aggregate MB/s", func(n string) string { return cell(n, b.parPushOp(), rate(img*int64(b.parallel))) })
	for _, op := range []string{opPullSk, opPullRaw} {
		row(op+", s", func(n string) string { return cell(n, op, secs) })
		row("  MB/s", func(n string) string { return cell(n, op, rate(img)) })
	}

	row(b.parOp()+", s", func(n string) string { return cell(n, b.parOp(), secs) })
	row("  aggregate MB/s", func(n string) string { return cell(n, b.parOp(), rate(img*int64(b.parallel))) })
	perReq := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/smallCount) }
	row(fmt.Sprintf("%s, µs (%d in a row)", opHeads, smallCount), func(n string) string { return cell(n, opHeads, perReq) })
	row(fmt.Sprintf("%s, µs (%d in a row)", opManifests, smallCount), func(n string) string { return cell(n, opManifests, perReq) })
	row("server peak RSS (VmHWM), MB", func(n string) string { return fmt.Sprintf("%.1f", float64(b.rss[n])*1024/1e6) })
	row("server CPU time, all runs, s", func(n string) string { return fmt.Sprintf("%.1f", b.cpu[n].Seconds()) })

	// Ratios as speed: the reference's time over the target's, so that
	// above 1 is faster than the reference.
	speed := func(t, ref, op string) string {
		a, r := b.med(t, op), b.med(ref, op)
		_, fa := b.fails[t][op]
		_, fr := b.fails[ref][op]
		switch {
		case fa || fr:
			return "FAILED"
		case a == 0 || r == 0:
			return "-"
		}
		return fmt.Sprintf("%.2f", r.Seconds()/a.Seconds())
	}
	fmt.Printf("\nspeed ratios (reference time / target time; above 1 is faster)\n")
	fmt.Printf("%-44s %16s %16s %16s\n", "", "berth/fileserver", "berth/registry", "registry/filesrv")
	ratioRow := func(label, op string) {
		fmt.Printf("%-44s %16s %16s %16s\n", label,
			speed("berth", "fileserver", op), speed("berth", "docker-registry", op), speed("docker-registry", "fileserver", op))
	}
	ratioRow("GET big blob (goal: berth/fs >= 0.95)", opGet)
	ratioRow("push: skopeo copy (goal >= 1)", opPushSk)
	ratioRow("push: Go client (goal >= 1)", opPushGo)
	ratioRow("push: berth push (goal >= 1)", opPushBerth)
	ratioRow(b.parPushOp()+" (goal >= 1)", b.parPushOp())
	ratioRow("pull: skopeo copy (goal >= 1)", opPullSk)
	ratioRow("pull: Go client (goal >= 1)", opPullRaw)
	ratioRow(b.parOp()+" (goal >= 1)", b.parOp())
	ratioRow(opHeads, opHeads)
	ratioRow(opManifests, opManifests)

	if b.verbose {
		fmt.Printf("\nall samples, s\n")
		for _, n := range names {
			for _, op := range []string{opGet, opPushSk, opPushGo, opPushBerth, b.parPushOp(), opPullSk, opPullRaw, b.parOp(), opHeads, opManifests} {
				if len(b.samples[n][op]) == 0 {
					continue
				}
				fmt.Printf("%-16s %-28s", n, op)
				for _, d := range b.samples[n][op] {
					fmt.Printf(" %.3f", d.Seconds())
				}
				fmt.Println()
			}
		}
	}
	if len(b.skipped) > 0 || len(b.fails) > 0 {
		fmt.Println()
	}
	for _, n := range []string{"fileserver", "docker-registry", "berth"} {
		if why, ok := b.skipped[n]; ok {
			fmt.Printf("%s skipped: %s\n", n, why)
		}
		ops := []string{}
		for op := range b.fails[n] {
			ops = append(ops, op)
		}
		sort.Strings(ops)
		for _, op := range ops {
			fmt.Printf("%s: %s FAILED: %s\n", n, op, b.fails[n][op])
		}
	}
}

func runCmd(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := children.start(cmd); err != nil {
		return err
	}
	err := cmd.Wait()
	children.done(cmd)
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.Bytes())
	}
	return nil
}

// children are the processes running, each in a process group of its own
// and killed should this process die (Pdeathsig), so that ^C can end them
// before it removes their files.
var children = &procs{m: map[*exec.Cmd]bool{}}

type procs struct {
	mu      sync.Mutex
	m       map[*exec.Cmd]bool
	stopped bool
}

func (p *procs) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return fmt.Errorf("interrupted")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.m[cmd] = true
	return nil
}

func (p *procs) done(cmd *exec.Cmd) {
	p.mu.Lock()
	delete(p.m, cmd)
	p.mu.Unlock()
}

// killAll kills every child, starts no more, and waits (up to 5s) until
// their waiters have seen them go.
func (p *procs) killAll() {
	p.mu.Lock()
	p.stopped = true
	for cmd := range p.m {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	p.mu.Unlock()
	for range 100 {
		p.mu.Lock()
		n := len(p.m)
		p.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *procs) interrupted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}
