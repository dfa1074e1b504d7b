package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
	bnet "github.com/berth-project/berth/network"
	"github.com/berth-project/berth/snapshot"
)

// The berth binary the containers' monitors run, built once, the first
// time a test needs it (as scripts/build makes it: static).
var (
	berthOnce sync.Once
	berthDir  string
	berthBin  string
	berthErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if berthDir != "" {
		os.RemoveAll(berthDir)
	}
	os.Exit(code)
}

func berthBinary(t *testing.T) string {
	t.Helper()
	berthOnce.Do(func() {
		if berthDir, berthErr = os.MkdirTemp("", "berth-engine-test"); berthErr != nil {
			return
		}
		berthBin = filepath.Join(berthDir, "berth")
		cmd := exec.Command("go", "build", "-tags", "osusergo,netgo", "-ldflags", "-extldflags=-static", "-o", berthBin, "../cmd/berth")
		if out, err := cmd.CombinedOutput(); err != nil {
			berthErr = fmt.Errorf("build berth: %v\n%s", err, out)
		}
	})
	if berthErr != nil {
		t.Fatal(berthErr)
	}
	return berthBin
}

// busyboxRef is the name the test image has.
var busyboxRef = func() string {
	r, _ := image.ParseReference("busybox")
	return r.String()
}()

// testOptions are the options of a test's engine: its own roots (the
// exec root short, for the monitors' sockets), the busybox image in it.
func testOptions(t *testing.T, daemon bool) Options {
	t.Helper()
	gate.Root(t)
	gate.Path(t, imagetest.BusyboxPath, "the busybox image fixture")
	dir := t.TempDir()
	execRoot, err := os.MkdirTemp("/tmp", "be")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(execRoot) })
	o := Options{
		Root: filepath.Join(dir, "data"), RuntimeRoot: filepath.Join(execRoot, "rt"), ExecRoot: filepath.Join(execRoot, "m"),
		Daemon: daemon, Self: berthBinary(t),
		// Its own bridge and nftables table: tests of other packages run
		// engines at the same time.
		NetName: fmt.Sprintf("be%x", rand.Uint32()),
	}
	t.Cleanup(func() {
		bnet.DeleteRules(o.NetName)
		bnet.DeleteBridge(o.NetName)
	})
	s, err := OpenImages(o.Root, o.Images)
	if err != nil {
		t.Fatal(err)
	}
	layout := t.TempDir()
	top := imagetest.BusyboxLayout(t, layout, imagetest.LayoutOptions{})
	addLayout(t, s, layout, top, busyboxRef)
	s.Close()
	return o
}

// openTest opens an engine on o, closed (after its containers are
// removed, when clean) at the end of the test.
func openTest(t *testing.T, o Options, clean bool) *Engine {
	t.Helper()
	e, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if clean {
			all, _ := e.ContainerList(context.Background(), ListOptions{All: true})
			for _, c := range all {
				if err := e.ContainerRemove(context.Background(), c.ID, RemoveOptions{Force: true}); err != nil {
					t.Errorf("cleanup: remove %s: %v", c.Names[0], err)
				}
			}
		}
		e.Close()
	})
	return e
}

func newTestEngine(t *testing.T, daemon bool) *Engine {
	return openTest(t, testOptions(t, daemon), true)
}

// ctx is a test's context with a guard against hangs (not a timing
// assertion: a wait that should end ends much sooner).
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// create makes a busybox container running cmd.
func create(t *testing.T, e *Engine, name string, cfg container.Config, hc container.HostConfig, cmd ...string) string {
	t.Helper()
	cfg.Image = "busybox"
	if len(cmd) > 0 {
		cfg.Cmd = cmd
	}
	resp, err := e.ContainerCreate(ctx(t), name, CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &hc}})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return resp.ID
}

// run creates, starts and waits for a container, returning its exit code.
func run(t *testing.T, e *Engine, cfg container.Config, hc container.HostConfig, cmd ...string) (string, int) {
	t.Helper()
	id := create(t, e, "", cfg, hc, cmd...)
	return id, startWait(t, e, id)
}

// startWait starts container id and returns its exit code: the wait is
// registered before the start, so no exit is missed.
func startWait(t *testing.T, e *Engine, id string) int {
	t.Helper()
	res, errc := e.ContainerWait(ctx(t), id, container.WaitConditionNextExit)
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatalf("start: %v", err)
	}
	select {
	case r := <-res:
		return int(r.StatusCode)
	case err := <-errc:
		t.Fatalf("wait: %v", err)
	}
	return -1
}

// logsOf is container id's log, stdout then stderr.
func logsOf(t *testing.T, e *Engine, id string) string {
	t.Helper()
	rc, err := e.ContainerLogs(ctx(t), id, LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, errs := demux(t, readAll(t, rc))
	return out + errs
}

func inspect(t *testing.T, e *Engine, id string) container.InspectResponse {
	t.Helper()
	ins, err := e.ContainerInspect(ctx(t), id, false)
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return ins
}

// waitFor polls cond until it holds (or the test's guard ends it).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	c := ctx(t)
	for !cond() {
		select {
		case <-c.Done():
			t.Fatalf("waiting for %s: %v", what, c.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// demux splits stdcopy frames into stdout and stderr.
func demux(t *testing.T, b []byte) (stdout, stderr string) {
	t.Helper()
	var o, e strings.Builder
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("short stdcopy header: %q", b)
		}
		n := int(binary.BigEndian.Uint32(b[4:8]))
		if len(b) < 8+n {
			t.Fatalf("short stdcopy frame")
		}
		switch b[0] {
		case 1:
			o.Write(b[8 : 8+n])
		case 2:
			e.Write(b[8 : 8+n])
		default:
			t.Fatalf("stream %d in a stdcopy header", b[0])
		}
		b = b[8+n:]
	}
	return o.String(), e.String()
}

// mountsUnder lists the mount points under dir (in this mount namespace).
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir) {
			out = append(out, fields[4])
		}
	}
	return out
}

// leftovers lists what containers left on disk and in the records:
// records, container directories, container snapshots, mounts, monitor
// directories and runtime state.
func leftovers(t *testing.T, e *Engine) []string {
	t.Helper()
	var out []string
	recs, err := e.records()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		out = append(out, "record "+r.Name)
	}
	for _, dir := range []string{filepath.Join(e.opts.Root, "containers"), e.opts.ExecRoot, e.opts.RuntimeRoot, e.netnsDir()} {
		ents, _ := os.ReadDir(dir)
		for _, ent := range ents {
			if dir == e.opts.ExecRoot && ent.Name() == "network" {
				continue // the networks' state: its netns dir is checked
			}
			out = append(out, filepath.Join(dir, ent.Name()))
		}
	}
	// The veths on this engine's bridge (other tests' engines have theirs).
	ents, _ := os.ReadDir("/sys/class/net/" + e.bridgeName() + "/brif")
	for _, ent := range ents {
		out = append(out, "veth "+ent.Name())
	}
	e.Images.Snapshots.Walk(context.Background(), func(info snapshot.Info) error {
		if len(info.Name) == 64 && isHexPrefix(info.Name) {
			out = append(out, "snapshot "+info.Name)
		}
		return nil
	})
	for _, m := range mountsUnder(t, e.opts.Root) {
		out = append(out, "mount "+m)
	}
	return out
}

// readAll reads a stream to its end, guarded against hangs.
func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	done := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, r)
		done <- b.Bytes()
	}()
	select {
	case b := <-done:
		return b
	case <-ctx(t).Done():
		t.Fatal("reading the stream did not end")
	}
	return nil
}
