package main

import (
	"archive/tar"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/imagetest"
)

// TestPullRun pushes a busybox image of gzip, zstd and plain layers, one
// of them with whiteouts, to a real registry, pulls it with berth and runs
// it.
func TestPullRun(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	layout := filepath.Join(t.TempDir(), "layout")
	imagetest.BusyboxLayout(t, layout, imagetest.LayoutOptions{
		ExtraLayers: []imagetest.Layer{
			{Compression: "zstd", Entries: []imagetest.Entry{
				imagetest.File("etc/motd", "hello from a pulled image\n"),
				imagetest.File("old/a", "a"), imagetest.File("old/b", "b"),
				imagetest.File("gone", "x"),
			}},
			{Compression: "none", Entries: []imagetest.Entry{
				imagetest.Whiteout("gone"), imagetest.Opaque("old"), imagetest.File("old/c", "c"),
			}},
		},
	})
	ref := reg.Host + "/team/busybox:1"
	reg.PushLayout(t, layout, ref)

	out := c.ok("image", "pull", ref)
	if !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Fatalf("pull said:\n%s", out)
	}
	// docker names the repository by its path alone, registry host left
	// out: "1: Pulling from team/busybox" (and "library/busybox" on Hub).
	if !strings.HasPrefix(out, "1: Pulling from team/busybox\n") {
		t.Fatalf("pull's first line is not docker's:\n%s", out)
	}
	out = c.ok("run", "--rm", ref, "sh", "-c", "cat /etc/motd; ls /old; test -e /gone || echo gone is gone")
	if want := "hello from a pulled image\nc\ngone is gone\n"; out != want {
		t.Fatalf("run said %q, want %q", out, want)
	}
	out = c.ok("image", "pull", ref)
	if !strings.Contains(out, "Already exists") || !strings.Contains(out, "Image is up to date") {
		t.Fatalf("re-pull said:\n%s", out)
	}
	ls := c.ok("image", "ls")
	if !strings.Contains(ls, reg.Host+"/team/busybox") {
		t.Fatalf("image ls:\n%s", ls)
	}
	_ = tar.TypeReg
}
