package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/gate"
	"golang.org/x/sys/unix"
)

// richTree is a tree with every kind of entry and metadata a layer keeps.
func richTree() []ent {
	long := strings.Repeat("long-directory-name/", 8) + strings.Repeat("f", 150)
	return []ent{
		dir("bin").withMode(0o755).withTime(t0.Add(time.Minute)),
		file("bin/su", "setuid binary").withMode(0o4755),
		file("bin/ping", "ping").withMode(0o755).withXattr("security.capability", capNetRaw()),
		hardlink("bin/su-again", "bin/su"),
		symlink("bin/sh", "busybox"),
		dir("etc").withMode(0o750).withOwner(0, 42).withXattr("user.dir", "yes"),
		file("etc/passwd", "root:x:0:0::/root:/bin/sh\n").withOwner(0, 0),
		file("etc/keep", "keep").withOwner(1000, 1000).withXattr("user.note", "a\x00binary\xffvalue"),
		file("etc/config", "config"),
		dir("tmp").withMode(0o1777),
		dir("dev"), chardev("dev/null", 1, 3), ent{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660, major: 8, minor: 0},
		fifo("dev/initctl"),
		dir("gone"), dir("gone/deep"), file("gone/deep/f", "f"),
		dir("tools"), file("tools/a", "a"),
		file("file1", "1"),
		dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/bar", "bar"),
		symlink("link", "etc/passwd"),
		file("x", "x"),
		file(long, "long name"),
		file("big", strings.Repeat("0123456789abcdef", 1<<16)), // 1 MiB: more than one buffer
	}
}

func writeTar(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteTar(context.Background(), &b, dir); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fullSnap is what a faithful copy keeps: everything but the root's times.
var fullSnap = snapOpts{times: true, dirTimes: true}

func withoutRoot(m map[string]string) map[string]string {
	delete(m, ".")
	return m
}

func TestWriteTar(t *testing.T) {
	gate.Root(t)
	src := t.TempDir()
	apply(t, src, mkTar(t, richTree()...))
	l, err := net.Listen("unix", filepath.Join(src, "tmp", "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	data := writeTar(t, src)
	if again := writeTar(t, src); !bytes.Equal(data, again) {
		t.Error("two tars of the same tree differ")
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: uname %q gname %q atime %v ctime %v", h.Name, h.Uname, h.Gname, h.AccessTime, h.ChangeTime)
		}
		for k := range h.PAXRecords {
			if k != "path" && k != "mtime" && !strings.HasPrefix(k, paxXattr) {
				t.Errorf("%s: PAX record %s", h.Name, k)
			}
		}
		switch h.Name {
		case "bin/su-again":
			if h.Typeflag != tar.TypeLink || h.Linkname != "bin/su" {
				t.Errorf("bin/su-again: type %c link %q, want a hardlink to bin/su", h.Typeflag, h.Linkname)
			}
		case "etc/passwd":
			if !h.ModTime.Equal(t0) {
				t.Errorf("etc/passwd: mtime %v, want %v", h.ModTime, t0)
			}
		}
	}
	for i := 1; i < len(names); i++ {
		if strings.TrimSuffix(names[i-1], "/") >= strings.TrimSuffix(names[i], "/") && !strings.HasPrefix(names[i], names[i-1]) {
			t.Errorf("entries out of order: %q before %q", names[i-1], names[i])
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "./") || n == "/" || strings.Contains(n, "sock") {
			t.Errorf("entry %q should not be there", n)
		}
	}

	dst := t.TempDir()
	apply(t, dst, data)
	os.Remove(filepath.Join(src, "tmp", "sock"))
	l.Close()
	// The socket's removal changed tmp's mtime; put it back for the compare.
	os.Chtimes(filepath.Join(src, "tmp"), t0, t0)
	os.Chtimes(filepath.Join(dst, "tmp"), t0, t0)
	if d := diffSnaps(withoutRoot(snap(t, src, fullSnap)), withoutRoot(snap(t, dst, fullSnap))); d != "" {
		t.Errorf("round trip through WriteTar and Apply changed the tree:\n%s", d)
	}
	if a, b := lstatT(t, filepath.Join(dst, "bin/su")), lstatT(t, filepath.Join(dst, "bin/su-again")); a.Ino != b.Ino {
		t.Error("hardlink not kept")
	}
}

// mutation changes an upper tree the way a container or build step would.
type mutation func(t *testing.T, root string)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mutations, applied in order; later ones look at what earlier ones did.
var mutations = []struct {
	name string
	do   mutation
}{
	{"add a file", func(t *testing.T, r string) { must(t, os.WriteFile(filepath.Join(r, "etc/new"), []byte("new"), 0o600)) }},
	{"add a tree", func(t *testing.T, r string) {
		must(t, os.MkdirAll(filepath.Join(r, "opt/app/lib"), 0o755))
		must(t, os.WriteFile(filepath.Join(r, "opt/app/lib/x.so"), []byte("so"), 0o755))
	}},
	{"modify content", func(t *testing.T, r string) {
		must(t, os.WriteFile(filepath.Join(r, "etc/passwd"), []byte("root:x:0:0::/root:/bin/bash\nu:x:1:1::/:/bin/sh\n"), 0o644))
	}},
	{"chmod", func(t *testing.T, r string) { must(t, os.Chmod(filepath.Join(r, "bin/su"), 0o755)) }},
	{"chown", func(t *testing.T, r string) { must(t, os.Lchown(filepath.Join(r, "etc/keep"), 5, 6)) }},
	{"touch", func(t *testing.T, r string) {
		must(t, os.Chtimes(filepath.Join(r, "file1"), t0, t0.Add(time.Hour)))
	}},
	{"xattr", func(t *testing.T, r string) {
		must(t, unix.Lsetxattr(filepath.Join(r, "x"), "user.added", []byte("v"), 0))
	}},
	{"delete a file", func(t *testing.T, r string) { must(t, os.Remove(filepath.Join(r, "etc/config"))) }},
	{"delete a tree", func(t *testing.T, r string) { must(t, os.RemoveAll(filepath.Join(r, "gone"))) }},
	{"file becomes a directory", func(t *testing.T, r string) {
		p := filepath.Join(r, "a/b/c/bar")
		must(t, os.Remove(p))
		must(t, os.Mkdir(p, 0o700))
		must(t, os.WriteFile(filepath.Join(p, "inside"), []byte("i"), 0o644))
	}},
	{"directory becomes a file", func(t *testing.T, r string) {
		p := filepath.Join(r, "tools")
		must(t, os.RemoveAll(p))
		must(t, os.WriteFile(p, []byte("now a file"), 0o644))
	}},
	{"retarget a symlink", func(t *testing.T, r string) {
		p := filepath.Join(r, "link")
		must(t, os.Remove(p))
		must(t, os.Symlink("etc/keep", p))
	}},
	{"new hardlink", func(t *testing.T, r string) {
		must(t, os.Link(filepath.Join(r, "etc/new"), filepath.Join(r, "etc/new-link")))
	}},
	{"empty and refill a directory", func(t *testing.T, r string) {
		must(t, os.RemoveAll(filepath.Join(r, "dev")))
		must(t, os.Mkdir(filepath.Join(r, "dev"), 0o755))
		must(t, os.WriteFile(filepath.Join(r, "dev/fresh"), nil, 0o644))
	}},
}

func mutate(t *testing.T, root string) {
	for _, m := range mutations {
		t.Logf("mutation: %s", m.name)
		m.do(t, root)
	}
}

func TestWriteDiff(t *testing.T) {
	gate.Root(t)
	lower, upper := t.TempDir(), t.TempDir()
	base := mkTar(t, richTree()...)
	apply(t, lower, base)
	apply(t, upper, writeTar(t, lower))
	if d := diffSnaps(withoutRoot(snap(t, lower, fullSnap)), withoutRoot(snap(t, upper, fullSnap))); d != "" {
		t.Fatalf("copy differs:\n%s", d)
	}
	var empty bytes.Buffer
	if err := WriteDiff(context.Background(), &empty, lower, upper); err != nil {
		t.Fatal(err)
	}
	if n := tarNames(t, empty.Bytes()); len(n) != 0 {
		t.Errorf("diff of a tree and its copy has entries %q", n)
	}

	mutate(t, upper)
	var b bytes.Buffer
	if err := WriteDiff(context.Background(), &b, lower, upper); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a/", "a/b/", "a/b/c/", "a/b/c/bar/", "a/b/c/bar/inside",
		"bin/", "bin/su", "bin/su-again", // a hardlink: its one inode changed
		"dev/", "dev/.wh.initctl", "dev/.wh.null", "dev/.wh.sda", "dev/fresh",
		"etc/", "etc/.wh.config", "etc/keep", "etc/new", "etc/new-link", "etc/passwd",
		"file1", ".wh.gone", "link", "opt/", "opt/app/", "opt/app/lib/", "opt/app/lib/x.so", "tools", "x",
	}
	got := tarNames(t, b.Bytes())
	if !sameSet(got, want) {
		t.Errorf("diff entries:\n got %q\nwant %q", got, want)
	}
	if again := func() []byte {
		var c bytes.Buffer
		WriteDiff(context.Background(), &c, lower, upper)
		return c.Bytes()
	}(); !bytes.Equal(again, b.Bytes()) {
		t.Error("two diffs of the same trees differ")
	}
	checkWhiteoutsFirst(t, got)

	apply(t, lower, b.Bytes())
	if d := diffSnaps(withoutRoot(snap(t, upper, fullSnap)), withoutRoot(snap(t, lower, fullSnap))); d != "" {
		t.Errorf("lower + diff is not upper:\n%s", d)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// checkWhiteoutsFirst: in each directory the whiteouts come before the
// other entries (the OCI spec's SHOULD), and each directory before its
// content.
func checkWhiteoutsFirst(t *testing.T, names []string) {
	t.Helper()
	seenOther := map[string]bool{}
	written := map[string]bool{"": true}
	for _, n := range names {
		d, base := splitRel(strings.TrimSuffix(n, "/"))
		if !written[d] {
			t.Errorf("%q comes before its directory", n)
		}
		if strings.HasPrefix(base, WhiteoutPrefix) {
			if seenOther[d] {
				t.Errorf("whiteout %q after other entries of its directory", n)
			}
		} else {
			seenOther[d] = true
		}
		if strings.HasSuffix(n, "/") {
			written[strings.TrimSuffix(n, "/")] = true
		}
	}
}

func TestWriteDiffRefusesWhiteoutNames(t *testing.T) {
	gate.Root(t)
	lower, upper := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(upper, ".wh.sneaky"), nil, 0o644)
	err := WriteDiff(context.Background(), io.Discard, lower, upper)
	if err == nil || !strings.Contains(err.Error(), ".wh.sneaky") {
		t.Errorf("err = %v", err)
	}
	if err := WriteTar(context.Background(), io.Discard, upper); err == nil {
		t.Error("WriteTar took a .wh. name")
	}
}

// mountRW mounts an overlay of lower with a fresh upper directory and
// returns the mount point and the upper directory.
func mountRW(t *testing.T, lower string, extra ...string) (mnt, upper string) {
	t.Helper()
	dir := t.TempDir()
	upper, work, mnt := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, work, mnt} {
		must(t, os.Mkdir(d, 0o755))
	}
	opts := append([]string{"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work, "index=off"}, extra...)
	if err := unix.Mount("overlay", mnt, "overlay", 0, strings.Join(opts, ",")); err != nil {
		t.Skipf("mount overlay %v: %v", opts, err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	return mnt, upper
}

func TestWriteOverlayDiff(t *testing.T) {
	gate.Root(t)
	lower := t.TempDir()
	apply(t, lower, mkTar(t, richTree()...))
	lowerCopy := t.TempDir()
	apply(t, lowerCopy, writeTar(t, lower))

	mnt, upper := mountRW(t, lower)
	mutate(t, mnt)
	merged := withoutRoot(snap(t, mnt, fullSnap))
	must(t, unix.Unmount(mnt, 0))

	var b bytes.Buffer
	if err := WriteOverlayDiff(context.Background(), &b, upper, lower); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, b.Bytes())
	for _, n := range []string{".wh.gone", "etc/.wh.config", "dev/.wh..wh..opq", "dev/fresh", "opt/app/lib/x.so"} {
		if !contains(names, n) {
			t.Errorf("no entry %q in %q", n, names)
		}
	}
	for _, n := range []string{"gone/", "gone/deep/f", "etc/config", "tmp/", "dev/null"} {
		if contains(names, n) {
			t.Errorf("unexpected entry %q", n)
		}
	}
	checkWhiteoutsFirst(t, names)
	tr := tar.NewReader(bytes.NewReader(b.Bytes()))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		for k := range h.PAXRecords {
			if strings.Contains(k, "overlay") {
				t.Errorf("%s: overlayfs xattr %s in the tar", h.Name, k)
			}
		}
		if h.Name == "etc/new-link" && (h.Typeflag != tar.TypeLink || h.Linkname != "etc/new") {
			t.Errorf("etc/new-link: type %c link %q, want a hardlink to etc/new", h.Typeflag, h.Linkname)
		}
	}

	t.Run("delete mode", func(t *testing.T) {
		apply(t, lowerCopy, b.Bytes())
		if d := diffSnaps(merged, withoutRoot(snap(t, lowerCopy, fullSnap))); d != "" {
			t.Errorf("lower + diff is not what the overlay showed:\n%s", d)
		}
	})
	t.Run("overlay mode", func(t *testing.T) {
		up2 := t.TempDir()
		apply(t, up2, b.Bytes(), WithOverlayWhiteouts())
		mnt2 := mountOverlay(t, []string{lower, up2})
		if d := diffSnaps(merged, withoutRoot(snap(t, mnt2, fullSnap))); d != "" {
			t.Errorf("the re-applied upper shows another tree:\n%s", d)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestWriteOverlayDiffMetacopy: with metacopy=on a chmod copies up only
// metadata; the content comes from the lower directory.
func TestWriteOverlayDiffMetacopy(t *testing.T) {
	gate.Root(t)
	lower := t.TempDir()
	apply(t, lower, mkTar(t, dir("d"), file("d/data", "the content lives below"), file("d/other", "o")))
	mnt, upper := mountRW(t, lower, "metacopy=on", "redirect_dir=on")
	must(t, os.Chmod(filepath.Join(mnt, "d/data"), 0o600))
	must(t, os.Rename(filepath.Join(mnt, "d/other"), filepath.Join(mnt, "d/moved")))
	merged := withoutRoot(snap(t, mnt, fullSnap))
	must(t, unix.Unmount(mnt, 0))
	if _, err := getXattr(filepath.Join(upper, "d/data"), overlayMetacopyXattr); err != nil {
		t.Skipf("no metacopy upper file made: %v", err)
	}

	if err := WriteOverlayDiff(context.Background(), io.Discard, upper); err == nil || !strings.Contains(err.Error(), "metacopy") {
		t.Errorf("without lowers: err = %v, want a metacopy error", err)
	}
	var b bytes.Buffer
	if err := WriteOverlayDiff(context.Background(), &b, upper, lower); err != nil {
		t.Fatal(err)
	}
	apply(t, lower, b.Bytes())
	if d := diffSnaps(merged, withoutRoot(snap(t, lower, fullSnap))); d != "" {
		t.Errorf("lower + diff is not what the overlay showed:\n%s", d)
	}
}

func TestWriteOverlayDiffRedirectedDir(t *testing.T) {
	gate.Root(t)
	lower := t.TempDir()
	apply(t, lower, mkTar(t, dir("d"), file("d/f", "f")))
	mnt, upper := mountRW(t, lower, "redirect_dir=on")
	must(t, os.Rename(filepath.Join(mnt, "d"), filepath.Join(mnt, "e")))
	must(t, unix.Unmount(mnt, 0))
	if _, err := getXattr(filepath.Join(upper, "e"), overlayRedirectXattr); err != nil {
		t.Skipf("no redirect made: %v", err)
	}
	err := WriteOverlayDiff(context.Background(), io.Discard, upper, lower)
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("err = %v, want a clear refusal", err)
	}
}
