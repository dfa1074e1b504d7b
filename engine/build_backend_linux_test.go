package engine

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/layer"
	"github.com/berth-project/berth/snapshot"
)

// step is the config of a step on parent with one history entry.
func step(parent BuildImage, createdBy string, empty bool) dockerspec.DockerOCIImage {
	cfg := parent.Config
	now := time.Now().UTC()
	cfg.Created = &now
	cfg.History = append(slices.Clone(cfg.History), ocispec.History{Created: &now, CreatedBy: createdBy, EmptyLayer: empty})
	return cfg
}

func TestBuildPrimitives(t *testing.T) {
	e := newTestEngine(t, false)
	c := ctx(t)
	base, err := e.BuildBase(c, "busybox", BuildBaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nbase := len(base.Config.RootFS.DiffIDs)

	// A RUN step: the container's file lands in the layer, the mountpoints
	// the engine made for it do not.
	id := create(t, e, "", container.Config{Image: base.ID.String()}, container.HostConfig{}, "sh", "-c", "echo ran > /ran")
	if code := startWait(t, e, id); code != 0 {
		t.Fatalf("run: %d", code)
	}
	ran, err := e.BuildCommit(c, base, step(base, "/bin/sh -c echo ran > /ran", false), LayerSource{Container: id}, BuildCommitOptions{CacheKey: "k-run", Description: "RUN echo"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerRemove(c, id, RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(ran.Config.RootFS.DiffIDs); n != nbase+1 {
		t.Fatalf("run step: %d layers, want %d", n, nbase+1)
	}
	changes := layerNames(t, e, ran)
	if !slices.Contains(changes, "ran") || slices.ContainsFunc(changes, func(s string) bool { return strings.HasPrefix(s, "etc/h") || s == "etc/resolv.conf" }) {
		t.Errorf("run layer: %v", changes)
	}

	// A COPY step: Fill's changes are the layer; a failing Fill leaves no
	// snapshot or mount.
	cp, err := e.BuildCommit(c, ran, step(ran, "COPY", false), LayerSource{Fill: func(ctx context.Context, root string) error {
		return os.WriteFile(filepath.Join(root, "copied"), []byte("x"), 0o644)
	}}, BuildCommitOptions{CacheKey: "k-copy"})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshotNames(t, e)
	_, err = e.BuildCommit(c, ran, step(ran, "COPY", false), LayerSource{Fill: func(ctx context.Context, root string) error {
		return errors.New("fill failed")
	}}, BuildCommitOptions{CacheKey: "k-bad"})
	if err == nil || err.Error() != "fill failed" {
		t.Errorf("failing fill: %v", err)
	}
	if after := snapshotNames(t, e); !slices.Equal(before, after) {
		t.Errorf("snapshots after a failed fill: %v, before %v", after, before)
	}
	if ms := mountsUnder(t, e.opts.Root); len(ms) != 0 {
		t.Errorf("mounts left: %v", ms)
	}

	// A config-only step shares the layers.
	cfg := step(cp, "/bin/sh -c #(nop)  CMD [\"cat\" \"/copied\"]", true)
	cfg.Config.Cmd = []string{"cat", "/copied"}
	final, err := e.BuildCommit(c, cp, cfg, LayerSource{}, BuildCommitOptions{CacheKey: "k-cmd"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(final.Config.RootFS.DiffIDs, cp.Config.RootFS.DiffIDs) || final.ID == cp.ID {
		t.Errorf("config-only step: %v vs %v", final.Config.RootFS.DiffIDs, cp.Config.RootFS.DiffIDs)
	}

	// Cache entries are hidden from the image list and from prune.
	list, err := e.ImageList(c, ImageListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("images with the cache: %d, want only busybox", len(list))
	}
	if _, err := e.ImagesPrune(c, Filters{"dangling": {"false"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := e.BuildCacheGet(c, "k-cmd"); !ok || err != nil {
		t.Fatalf("cache entry after prune: %v %v", ok, err)
	}

	// Named, the image runs; the cache survives a reopen.
	if err := e.BuildName(c, final, []string{"built:1"}); err != nil {
		t.Fatal(err)
	}
	out := runLogs(t, e, "built:1")
	if out != "x" {
		t.Errorf("built image: %q", out)
	}
	e2 := openTest(t, e.opts, true)
	got, ok, err := e2.BuildCacheGet(c, "k-run")
	if !ok || err != nil || got.ID != ran.ID {
		t.Errorf("cache after reopen: %v %v %v", got.ID, ok, err)
	}
	ents, err := e2.BuildCacheList(c)
	if err != nil || len(ents) != 3 {
		t.Fatalf("cache list: %v %v", ents, err)
	}
	// docker system df's build cache part lists the same entries.
	du, err := e2.DiskUsage(c)
	if err != nil || du.BuildCacheUsage == nil || len(du.BuildCacheUsage.Items) != 3 || du.BuildCacheUsage.TotalCount != 3 || du.BuildCacheUsage.ActiveCount < 1 {
		t.Errorf("disk usage of the build cache: %v %+v", err, du.BuildCacheUsage)
	}
	var keys []string
	for _, ent := range ents {
		keys = append(keys, ent.Key)
		if ent.Key == "k-cmd" && !ent.InUse {
			t.Error("k-cmd: the tagged image's entry is not in use")
		}
	}
	if _, err := e2.BuildCacheRemove(c, keys); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := e2.BuildCacheGet(c, "k-run"); ok {
		t.Error("k-run still cached")
	}
	if out := runLogs(t, e2, "built:1"); out != "x" {
		t.Errorf("built image after prune: %q", out)
	}
}

func TestContainerCommit(t *testing.T) {
	e := newTestEngine(t, false)
	c := ctx(t)
	id, code := run(t, e, container.Config{}, container.HostConfig{NetworkMode: "none"}, "sh", "-c", "echo committed > /data")
	if code != 0 {
		t.Fatal(code)
	}
	resp, err := e.ContainerCommit(c, id, CommitOptions{Reference: "snap", Comment: "why", Author: "me", Changes: []string{`CMD ["cat", "/data"]`, "ENV X=1", "EXPOSE 80"}})
	if err != nil {
		t.Fatal(err)
	}
	insp, err := e.ImageInspect(c, "snap:latest")
	if err != nil || insp.ID != resp.ID {
		t.Fatalf("inspect: %v %v", insp.ID, err)
	}
	if insp.Author != "me" || insp.Comment != "why" || !slices.Contains(insp.Config.Env, "X=1") || !slices.Equal(insp.Config.Cmd, []string{"cat", "/data"}) {
		t.Errorf("committed config: %+v author %q comment %q", insp.Config, insp.Author, insp.Comment)
	}
	if out := runLogs(t, e, "snap"); out != "committed" {
		t.Errorf("committed image: %q", out)
	}
	if _, err := e.ContainerCommit(c, id, CommitOptions{Changes: []string{"RUN true"}}); KindOf(err) != KindInvalid || err.Error() != "RUN is not a valid change command" {
		t.Errorf("bad change: %v", err)
	}
	if _, err := e.ContainerCommit(c, "nosuch", CommitOptions{}); KindOf(err) != KindNotFound {
		t.Errorf("missing container: %v", err)
	}
}

func runLogs(t *testing.T, e *Engine, img string, cmd ...string) string {
	t.Helper()
	resp, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &container.Config{Image: img, Cmd: cmd}, HostConfig: &container.HostConfig{NetworkMode: "none"}}})
	if err != nil {
		t.Fatal(err)
	}
	startWait(t, e, resp.ID)
	out := strings.TrimSpace(logsOf(t, e, resp.ID))
	e.ContainerRemove(ctx(t), resp.ID, RemoveOptions{Force: true})
	return out
}

func snapshotNames(t *testing.T, e *Engine) []string {
	var out []string
	e.Images.Snapshots.Walk(context.Background(), func(i snapshot.Info) error {
		out = append(out, i.Name)
		return nil
	})
	return out
}

// layerNames lists the entries of img's top layer.
func layerNames(t *testing.T, e *Engine, img BuildImage) []string {
	t.Helper()
	layers, err := e.buildLayers(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := e.Images.Content.ReaderAt(context.Background(), layers[len(layers)-1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rc, _, err := layer.Decompress(io.NewSectionReader(ra, 0, ra.Size()))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	return tarNames(t, rc)
}

// A daemon's start undoes what a build cut short by a crash left.
func TestBuildLeftoversCleaned(t *testing.T) {
	o := testOptions(t, true)
	e := openTest(t, o, true)
	c := ctx(t)
	stuck := filepath.Join(e.BuildTempDir(), "context-stuck")
	if err := os.MkdirAll(stuck, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", stuck, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Images.Snapshots.Prepare(c, "build-fill-stuck", ""); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e2 := openTest(t, o, true)
	if ents, _ := os.ReadDir(e2.BuildTempDir()); len(ents) != 0 {
		t.Errorf("left in build/tmp: %v", ents)
	}
	if slices.Contains(snapshotNames(t, e2), "build-fill-stuck") {
		t.Error("the stuck step's snapshot is still there")
	}
	if ms := mountsUnder(t, filepath.Join(o.Root, "build")); len(ms) != 0 {
		t.Errorf("mounts left: %v", ms)
	}
}

// A prune while a build runs takes the cache records but not what the
// build holds: the build's last image is still whole when it is named.
func TestBuildLeaseSurvivesPrune(t *testing.T) {
	e := newTestEngine(t, false)
	lctx, release := e.BuildLease(ctx(t))
	base, err := e.BuildBase(lctx, "busybox", BuildBaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := e.BuildCommit(lctx, base, step(base, "COPY", false), LayerSource{Fill: func(ctx context.Context, root string) error {
		return os.WriteFile(filepath.Join(root, "leased"), []byte("kept"), 0o644)
	}}, BuildCommitOptions{CacheKey: "k-lease"})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := e.BuildCacheList(ctx(t))
	if err != nil || len(ents) != 1 || !ents[0].InUse {
		t.Fatalf("entries while leased: %+v %v", ents, err)
	}
	if _, err := e.BuildCacheRemove(ctx(t), []string{"k-lease"}); err != nil {
		t.Fatal(err)
	}
	if err := e.BuildName(lctx, img, []string{"leased:1"}); err != nil {
		t.Fatal(err)
	}
	release()
	if _, err := e.ImagesPrune(ctx(t), Filters{}); err != nil {
		t.Fatal(err)
	}
	if out := runLogs(t, e, "leased:1", "cat", "/leased"); out != "kept" {
		t.Errorf("a container of the leased image: %q", out)
	}

	// Without a lease, the same prune takes the image: the lease is what
	// kept it.
	img2, err := e.BuildCommit(ctx(t), base, step(base, "COPY 2", false), LayerSource{Fill: func(ctx context.Context, root string) error {
		return os.WriteFile(filepath.Join(root, "unleased"), []byte("gone"), 0o644)
	}}, BuildCommitOptions{CacheKey: "k-nolease"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.BuildCacheRemove(ctx(t), []string{"k-nolease"}); err != nil {
		t.Fatal(err)
	}
	if err := e.BuildName(ctx(t), img2, []string{"unleased:1"}); err == nil {
		t.Error("named an image whose blobs were collected")
	}
}
