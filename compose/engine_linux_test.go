package compose

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/build"
	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
	bnet "github.com/berth-project/berth/network"
)

var berthBin struct {
	once sync.Once
	path string
	out  []byte
	err  error
}

// selfBinary builds berth once per test binary (the engine's Self).
func selfBinary(t *testing.T) string {
	t.Helper()
	b := &berthBin
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "berth-compose-test")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "berth")
		cmd := exec.Command("go", "build", "-tags", "osusergo,netgo", "-ldflags", "-extldflags=-static", "-o", b.path, "../cmd/berth")
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("build berth: %v\n%s", b.err, b.out)
	}
	return b.path
}

// realEngine opens an in-process engine in daemon mode (restart policies
// apply, as in berth's daemon): see openEngine.
func realEngine(t *testing.T) *engine.Engine { return openEngine(t, true) }

// openEngine opens an in-process engine of its own (as root) in a temp
// dir, with the Dockerfile builder and the busybox fixture tagged
// "busybox:latest"; daemon is engine.Options.Daemon (false: as the CLI's
// in-process engine). What the test leaves behind is removed.
func openEngine(t *testing.T, daemon bool) *engine.Engine {
	t.Helper()
	gate.Root(t)
	gate.Path(t, imagetest.BusyboxPath, "the busybox image fixture")
	bin := selfBinary(t)
	execRoot, err := os.MkdirTemp("/tmp", "bc")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(execRoot) })
	o := engine.Options{
		Root: filepath.Join(t.TempDir(), "data"), RuntimeRoot: filepath.Join(execRoot, "rt"), ExecRoot: filepath.Join(execRoot, "m"),
		Self: bin, NetName: fmt.Sprintf("bc%x", rand.Uint32()), Builder: build.New,
		Daemon: daemon,
	}
	t.Cleanup(func() {
		bnet.DeleteRules(o.NetName)
		bnet.DeleteBridge(o.NetName)
	})
	ctx := context.Background()
	e, err := engine.Open(ctx, o)
	must(t, err)
	t.Cleanup(func() {
		// Whatever a failed test left: containers, then the networks.
		list, _ := e.ContainerList(ctx, engine.ListOptions{All: true})
		for _, ct := range list {
			e.ContainerRemove(ctx, ct.ID, engine.RemoveOptions{Force: true, RemoveVolumes: true})
		}
		nets, _ := e.NetworkList(ctx, nil)
		for _, n := range nets {
			if n.Labels[LabelProject] != "" {
				e.NetworkRemove(ctx, n.ID)
			}
		}
		e.Close()
	})
	layout := t.TempDir()
	imagetest.BusyboxLayout(t, layout, imagetest.LayoutOptions{})
	rc, err := e.ImageLoad(ctx, imagetest.TarDir(t, layout), true)
	must(t, err)
	io.Copy(io.Discard, rc)
	rc.Close()
	imgs, err := e.ImageList(ctx, engine.ImageListOptions{All: true})
	must(t, err)
	if len(imgs) != 1 {
		t.Fatalf("load: %d images", len(imgs))
	}
	must(t, e.ImageTag(ctx, imgs[0].ID, "busybox:latest"))
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// freePort is a TCP port nobody listens on right now, on any address
// (a port published on all of them is free too).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// fetch GETs url until it answers 200 with a body (or the deadline) and
// returns the body: a CGI whose backend is not up yet answers empty.
func fetch(t *testing.T, url string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && len(bytes.TrimSpace(b)) > 0 {
				return string(b)
			}
			last = fmt.Sprintf("%s: %s", resp.Status, b)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %s", url, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loadApp3 loads testdata/app3 with busybox and web on port.
func loadApp3(t *testing.T, port int, project string) *types.Project {
	t.Helper()
	p, err := Load(context.Background(), LoadOptions{
		ConfigFiles: []string{"testdata/app3/compose.yaml"},
		ProjectName: project,
		Environ:     []string{"IMAGE=busybox:latest", fmt.Sprintf("WEB_PORT=%d", port)},
	})
	must(t, err)
	return p
}

// state is what a test compares across ups: each container's ID and
// start time, by name.
func state(t *testing.T, c *Compose, project string) map[string]string {
	t.Helper()
	ctx := context.Background()
	list, err := c.Containers(ctx, project, OneoffInclude, true)
	must(t, err)
	out := map[string]string{}
	for _, ct := range list {
		insp, err := c.API.ContainerInspect(ctx, ct.ID, false)
		must(t, err)
		out[strings.TrimPrefix(insp.Name, "/")] = ct.ID + "@" + insp.State.StartedAt + "/" + string(insp.State.Status)
	}
	return out
}

// leftovers lists what the project has on the engine: containers,
// networks and volumes.
func leftovers(t *testing.T, api engine.API, project string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	f := engine.Filters{"label": {LabelProject + "=" + project}}
	cts, err := api.ContainerList(ctx, engine.ListOptions{All: true, Filters: f})
	must(t, err)
	for _, ct := range cts {
		out = append(out, "container "+containerName(ct))
	}
	nets, err := api.NetworkList(ctx, f)
	must(t, err)
	for _, n := range nets {
		out = append(out, "network "+n.Name)
	}
	vols, err := api.VolumeList(ctx, f)
	must(t, err)
	for _, v := range vols.Volumes {
		out = append(out, "volume "+v.Name)
	}
	return out
}

// exitOutput waits (20 s at the most) for container id to stop running
// and returns its output, stdout and stderr as they came.
func exitOutput(t *testing.T, api engine.API, id string) string {
	t.Helper()
	ctx := context.Background()
	wait, errc := api.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-wait:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatalf("container %.12s did not exit", id)
	}
	rc, err := api.ContainerLogs(ctx, id, engine.LogsOptions{ShowStdout: true, ShowStderr: true})
	must(t, err)
	defer rc.Close()
	var out strings.Builder
	stdcopy.StdCopy(&out, &out, rc)
	return out.String()
}

// execOutput runs cmd in container id and returns its output, stdout and
// stderr as they came.
func execOutput(t *testing.T, api engine.API, id string, cmd ...string) string {
	t.Helper()
	ctx := context.Background()
	ex, err := api.ExecCreate(ctx, id, container.ExecCreateRequest{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	must(t, err)
	st, err := api.ExecStart(ctx, ex.ID, container.ExecStartRequest{})
	must(t, err)
	defer st.Close()
	var out strings.Builder
	stdcopy.StdCopy(&out, &out, st)
	return out.String()
}
