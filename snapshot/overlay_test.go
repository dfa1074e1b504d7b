//go:build linux

package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/snapshot"
	"github.com/berth-project/berth/snapshot/snapshottest"
	"golang.org/x/sys/unix"
)

func newOverlay(t *testing.T, root string) snapshot.Snapshotter {
	t.Helper()
	sn, err := snapshot.NewOverlay(root)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func TestOverlay(t *testing.T) {
	gate.Root(t)
	snapshottest.Run(t, newOverlay)
}

// TestOverlayWhiteouts writes a layer the way image unpack does, straight
// into the upper dir with overlayfs whiteouts and an opaque directory, and
// checks what a child then shows.
func TestOverlayWhiteouts(t *testing.T) {
	gate.Root(t)
	ctx := context.Background()
	sn := newOverlay(t, t.TempDir())
	defer sn.Close()
	layer := func(name, parent string, write func(up string)) {
		ms, err := sn.Prepare(ctx, "extract-"+name, parent)
		if err != nil {
			t.Fatal(err)
		}
		up, ok := snapshot.UpperDir(ms)
		if !ok {
			t.Fatalf("no upper dir: %+v", ms)
		}
		write(up)
		if err := sn.Commit(ctx, name, "extract-"+name); err != nil {
			t.Fatal(err)
		}
	}
	layer("base", "", func(up string) {
		os.MkdirAll(filepath.Join(up, "opaque"), 0o755)
		os.WriteFile(filepath.Join(up, "opaque", "old"), nil, 0o644)
		os.WriteFile(filepath.Join(up, "deleted"), nil, 0o644)
		os.WriteFile(filepath.Join(up, "kept"), nil, 0o644)
	})
	layer("top", "base", func(up string) {
		if err := unix.Mknod(filepath.Join(up, "deleted"), unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
		os.Mkdir(filepath.Join(up, "opaque"), 0o755)
		if err := unix.Setxattr(filepath.Join(up, "opaque"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(up, "opaque", "new"), nil, 0o644)
	})
	ms, err := sn.View(ctx, "v", "top")
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := mount.All(ms, target); err != nil {
		t.Fatal(err)
	}
	defer mount.Unmount(target)
	for name, want := range map[string]bool{"kept": true, "deleted": false, "opaque/new": true, "opaque/old": false} {
		_, err := os.Lstat(filepath.Join(target, name))
		if got := err == nil; got != want {
			t.Errorf("%s: present %v, want %v (%v)", name, got, want, err)
		}
	}
}

// TestOverlayMounts checks the shape of the mounts: a bind where there is
// nothing to stack, else one overlay with the nearest layer first.
func TestOverlayMounts(t *testing.T) {
	gate.Root(t)
	ctx := context.Background()
	sn := newOverlay(t, t.TempDir())
	defer sn.Close()
	uppers := map[string]string{}
	parent := ""
	for _, name := range []string{"l1", "l2", "l3"} {
		ms, err := sn.Prepare(ctx, "x-"+name, parent)
		if err != nil {
			t.Fatal(err)
		}
		uppers[name], _ = snapshot.UpperDir(ms)
		if err := sn.Commit(ctx, name, "x-"+name); err != nil {
			t.Fatal(err)
		}
		parent = name
	}
	check := func(what string, ms []mount.Mount, err error, typ string, want ...string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 || ms[0].Type != typ {
			t.Fatalf("%s: %+v, want one %s mount", what, ms, typ)
		}
		for _, w := range want {
			if !slices.Contains(ms[0].Options, w) && ms[0].Source != w {
				t.Errorf("%s: %+v lacks %s", what, ms[0], w)
			}
		}
	}
	ms, err := sn.Prepare(ctx, "a0", "")
	check("active, no parent", ms, err, "bind", "rw")
	ms, err = sn.Prepare(ctx, "a3", "l3")
	check("active on three", ms, err, "overlay", "lowerdir="+uppers["l3"]+":"+uppers["l2"]+":"+uppers["l1"], "index=off")
	if up, _ := snapshot.UpperDir(ms); up == uppers["l3"] || !strings.HasSuffix(up, "/fs") {
		t.Errorf("upper dir of a3: %s", up)
	}
	ms, err = sn.View(ctx, "v0", "")
	check("view, no parent", ms, err, "bind", "ro")
	ms, err = sn.View(ctx, "v1", "l1")
	check("view on one", ms, err, "bind", "ro", uppers["l1"])
	ms, err = sn.View(ctx, "v3", "l3")
	check("view on three", ms, err, "overlay", "ro", "lowerdir="+uppers["l3"]+":"+uppers["l2"]+":"+uppers["l1"])
}
