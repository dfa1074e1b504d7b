package build

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
	bnet "github.com/berth-project/berth/network"
)

// realEngine opens an engine (as root) in a temp dir with this package's
// Builder and the busybox fixture loaded and tagged "busybox".
func realEngine(t *testing.T) *engine.Engine {
	t.Helper()
	gate.Root(t)
	gate.Path(t, imagetest.BusyboxPath, "the busybox image fixture")
	bin := filepath.Join(t.TempDir(), "berth")
	cmd := exec.Command("go", "build", "-tags", "osusergo,netgo", "-ldflags", "-extldflags=-static", "-o", bin, "../cmd/berth")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build berth: %v\n%s", err, out)
	}
	execRoot, err := os.MkdirTemp("/tmp", "bb")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(execRoot) })
	o := engine.Options{
		Root: filepath.Join(t.TempDir(), "data"), RuntimeRoot: filepath.Join(execRoot, "rt"), ExecRoot: filepath.Join(execRoot, "m"),
		Self: bin, NetName: fmt.Sprintf("bb%x", rand.Uint32()), Builder: New,
	}
	t.Cleanup(func() {
		bnet.DeleteRules(o.NetName)
		bnet.DeleteBridge(o.NetName)
	})
	ctx := context.Background()
	e, err := engine.Open(ctx, o)
	must(t, err)
	t.Cleanup(func() { e.Close() })
	layout := t.TempDir()
	imagetest.BusyboxLayout(t, layout, imagetest.LayoutOptions{})
	rc, err := e.ImageLoad(ctx, imagetest.TarDir(t, layout), true)
	must(t, err)
	loaded, _ := io.ReadAll(rc)
	rc.Close()
	imgs, err := e.ImageList(ctx, engine.ImageListOptions{All: true})
	must(t, err)
	if len(imgs) != 1 {
		t.Fatalf("load: %d images\n%s", len(imgs), loaded)
	}
	must(t, e.ImageTag(ctx, imgs[0].ID, "busybox:latest"))
	return e
}

// buildOn runs POST /build's engine side and returns the text, the image
// ID (aux) and the error line.
func buildOn(t *testing.T, e *engine.Engine, files map[string]string, o engine.BuildOptions) (text, id, errMsg string) {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	rc, err := e.ImageBuild(c, ctxTar(t, files), o)
	if err != nil {
		return "", "", err.Error()
	}
	defer rc.Close()
	var sb strings.Builder
	sc := bufio.NewScanner(rc)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m jsonstream.Message
		must(t, json.Unmarshal(sc.Bytes(), &m))
		sb.WriteString(m.Stream)
		if m.Aux != nil {
			var a struct{ ID string }
			json.Unmarshal(*m.Aux, &a)
			id = a.ID
		}
		if m.Error != nil {
			errMsg = m.Error.Message
		}
	}
	return sb.String(), id, errMsg
}

func TestEngineBuildRunsAndCaches(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	files := map[string]string{
		"Dockerfile": "FROM busybox\nENV GREETING=hello\nRUN echo \"$GREETING\" > /greeting && \\\n  ln -sf /dev/stdout /access.log\nCOPY page.html /www/\nCMD [\"cat\", \"/greeting\"]\n",
		"page.html":  "<p>hi</p>\n",
	}
	out, id, msg := buildOn(t, e, files, engine.BuildOptions{Tags: []string{"built:1"}})
	if msg != "" || id == "" {
		t.Fatalf("build: %s\n%s", msg, out)
	}
	insp, err := e.ImageInspect(ctx, "built:1")
	must(t, err)
	if insp.ID != id || insp.Config.Cmd[0] != "cat" {
		t.Errorf("inspect: %s %v", insp.ID, insp.Config)
	}
	out2, id2, msg := buildOn(t, e, files, engine.BuildOptions{Tags: []string{"built:1"}})
	if msg != "" || id2 != id || strings.Count(out2, "Using cache") != 4 {
		t.Errorf("rebuild: %s %s\n%s", msg, id2, out2)
	}
	files["page.html"] = "<p>changed</p>\n"
	out3, _, msg := buildOn(t, e, files, engine.BuildOptions{})
	if msg != "" || strings.Count(out3, "Using cache") != 2 {
		t.Errorf("after a change: %s\n%s", msg, out3)
	}
	// A failing RUN: its code and output, no container and no tag left.
	_, _, msg = buildOn(t, e, map[string]string{"Dockerfile": "FROM busybox\nRUN echo failing; exit 3\n"}, engine.BuildOptions{Tags: []string{"bad:1"}})
	if !strings.Contains(msg, "returned a non-zero code: 3") {
		t.Errorf("failing RUN: %q", msg)
	}
	if _, err := e.ImageInspect(ctx, "bad:1"); err == nil {
		t.Error("bad:1 was tagged")
	}
	all, _ := e.ContainerList(ctx, engine.ListOptions{All: true})
	if len(all) != 0 {
		t.Errorf("%d containers left", len(all))
	}
}
