package layer

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/gate"
	"golang.org/x/sys/unix"
)

var baseLayer = []ent{
	dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/bar", "bar"),
	dir("bin"), file("bin/my-app-binary", "bin"), file("bin/my-app-tools", "tools"),
	dir("bin/tools"), file("bin/tools/tool-one", "one"),
	dir("etc"), file("etc/config", "c"), file("etc/keep", "k"),
	file("file1", "1"),
	dir("gone"), dir("gone/deep"), file("gone/deep/f", "f"),
	dir("x"), file("x/y", "y"),
	dir("d"), file("d/old", "old"), dir("d/sub"), file("d/sub/older", "older"),
}

// whiteoutCases are layer stacks, bottom first, and the paths (with
// regular files' contents) the merged tree must have.
var whiteoutCases = []struct {
	name   string
	layers [][]ent
	want   string // "path" or "path=content", sorted, space separated
}{
	{
		name: "whiteouts of files and dirs and nothing",
		layers: [][]ent{baseLayer, {
			wh(".wh.file1"), dir("etc"), wh("etc/.wh.config"), wh(".wh.gone"), wh(".wh.nothere"), wh("a/b/.wh.nothere"),
		}},
		want: "a a/b a/b/c a/b/c/bar=bar bin bin/my-app-binary=bin bin/my-app-tools=tools bin/tools bin/tools/tool-one=one " +
			"d d/old=old d/sub d/sub/older=older etc etc/keep=k x x/y=y",
	},
	{
		name: "opaque before the entries of its directory",
		layers: [][]ent{baseLayer, {
			dir("bin"), wh("bin/.wh..wh..opq"), file("bin/new", "new"),
		}},
		want: "a a/b a/b/c a/b/c/bar=bar bin bin/new=new d d/old=old d/sub d/sub/older=older etc etc/config=c etc/keep=k " +
			"file1=1 gone gone/deep gone/deep/f=f x x/y=y",
	},
	{
		name: "opaque after the entries of its directory (the OCI spec's example)",
		layers: [][]ent{baseLayer, {
			dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/foo", "foo"), wh("a/.wh..wh..opq"),
		}},
		want: "a a/b a/b/c a/b/c/foo=foo bin bin/my-app-binary=bin bin/my-app-tools=tools bin/tools bin/tools/tool-one=one " +
			"d d/old=old d/sub d/sub/older=older etc etc/config=c etc/keep=k file1=1 gone gone/deep gone/deep/f=f x x/y=y",
	},
	{
		name: "a whiteout spares its own layer's entry",
		layers: [][]ent{baseLayer, {
			file("samelayer", "s"), wh(".wh.samelayer"), file("x/z", "z"), wh(".wh.x"),
		}},
		want: "a a/b a/b/c a/b/c/bar=bar bin bin/my-app-binary=bin bin/my-app-tools=tools bin/tools bin/tools/tool-one=one " +
			"d d/old=old d/sub d/sub/older=older etc etc/config=c etc/keep=k file1=1 gone gone/deep gone/deep/f=f samelayer=s x x/z=z",
	},
	{
		name: "whiteout then the same directory again",
		layers: [][]ent{baseLayer, {
			wh(".wh.d"), dir("d"), file("d/new", "n"),
		}},
		want: "a a/b a/b/c a/b/c/bar=bar bin bin/my-app-binary=bin bin/my-app-tools=tools bin/tools bin/tools/tool-one=one " +
			"d d/new=n etc etc/config=c etc/keep=k file1=1 gone gone/deep gone/deep/f=f x x/y=y",
	},
	{
		name: "file replaced by a directory and back across layers",
		layers: [][]ent{baseLayer, {
			dir("file1"), file("file1/inner", "i"), file("x", "x is a file"),
		}, {
			file("file1", "file again"), dir("x"), file("x/y2", "y2"),
		}},
		want: "a a/b a/b/c a/b/c/bar=bar bin bin/my-app-binary=bin bin/my-app-tools=tools bin/tools bin/tools/tool-one=one " +
			"d d/old=old d/sub d/sub/older=older etc etc/config=c etc/keep=k file1=file again gone gone/deep gone/deep/f=f x x/y2=y2",
	},
	{
		name: "three layers with whiteout then re-add then opaque",
		layers: [][]ent{baseLayer, {
			wh(".wh.etc"), dir("bin"), wh("bin/.wh..wh..opq"), file("bin/sh", "sh"),
		}, {
			dir("etc"), file("etc/new", "new"), dir("bin"), wh("bin/.wh.sh"), file("bin/ls", "ls"), dir("d"), wh("d/.wh..wh..opq"),
		}},
		want: "a a/b a/b/c a/b/c/bar=bar bin bin/ls=ls d etc etc/new=new file1=1 gone gone/deep gone/deep/f=f x x/y=y",
	},
}

// listing describes a tree as whiteoutCases.want does.
func listing(t *testing.T, root string) string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".":
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			out = append(out, rel+"="+string(b))
		default:
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, " ")
}

// mountOverlay mounts the directories (bottom first) read-only as an
// overlay and returns the mount point.
func mountOverlay(t *testing.T, dirs []string) string {
	t.Helper()
	var lowers []string
	for i := len(dirs) - 1; i >= 0; i-- {
		lowers = append(lowers, dirs[i])
	}
	target := t.TempDir()
	if strings.ContainsAny(strings.Join(dirs, ""), ",:") {
		t.Fatalf("overlay option separators in %q", dirs)
	}
	if err := unix.Mount("overlay", target, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lowers, ":")); err != nil {
		t.Skipf("mount overlay: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	return target
}

// TestWhiteouts applies layer stacks both ways: onto one directory
// (delete mode), and each onto its own upper directory (overlay mode),
// mounted as an overlay. Both must show the same tree.
func TestWhiteouts(t *testing.T) {
	gate.Root(t)
	for _, tc := range whiteoutCases {
		t.Run(tc.name, func(t *testing.T) {
			merged := t.TempDir()
			var uppers []string
			for _, l := range tc.layers {
				data := mkTar(t, l...)
				apply(t, merged, data)
				up := t.TempDir()
				apply(t, up, data, WithOverlayWhiteouts())
				uppers = append(uppers, up)
			}
			if got := listing(t, merged); got != tc.want {
				t.Errorf("delete mode:\n got %s\nwant %s", got, tc.want)
			}
			mnt := mountOverlay(t, uppers)
			if got := listing(t, mnt); got != tc.want {
				t.Errorf("overlay mode, mounted:\n got %s\nwant %s", got, tc.want)
			}
			o := snapOpts{times: true}
			if d := diffSnaps(snap(t, merged, o), snap(t, mnt, o)); d != "" {
				t.Errorf("the two modes differ in metadata:\n%s", d)
			}
		})
	}
}

// TestOverlayWhiteoutForm: what overlay mode leaves in the upper
// directory, before any mount.
func TestOverlayWhiteoutForm(t *testing.T) {
	gate.Root(t)
	up := t.TempDir()
	apply(t, up, mkTar(t,
		wh(".wh.file1"), dir("etc"), wh("etc/.wh.config"), dir("bin"), wh("bin/.wh..wh..opq"), file("bin/new", "n"),
		dir("a"), file("a/mine", "m"), wh("a/.wh.mine"), wh(".wh.d"), dir("d"),
	), WithOverlayWhiteouts())
	for _, p := range []string{"file1", "etc/config"} {
		st := lstatT(t, filepath.Join(up, p))
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: mode %o rdev %d, want a 0/0 character device", p, st.Mode, st.Rdev)
		}
	}
	for p, want := range map[string]string{"bin": "y", "etc": "", "a": "", "d": "y"} {
		v, _ := getXattr(filepath.Join(up, p), overlayOpaqueXattr)
		if string(v) != want {
			t.Errorf("%s: %s = %q, want %q", p, overlayOpaqueXattr, v, want)
		}
	}
	wantContent(t, filepath.Join(up, "a/mine"), "m")
	if exists(filepath.Join(up, "bin/new")) != true {
		t.Error("bin/new missing")
	}
}
