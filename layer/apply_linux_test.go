package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/gate"
	"golang.org/x/sys/unix"
)

// capNetRaw is a security.capability value (VFS_CAP_REVISION_2) granting
// cap_net_raw, effective and permitted.
func capNetRaw() string {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000000|1)
	binary.LittleEndian.PutUint32(b[4:], 1<<13)
	return string(b)
}

func TestApplyEntryTypes(t *testing.T) {
	gate.Root(t)
	root := t.TempDir()
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("n", 200)
	at := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	data := mkTar(t,
		dir("etc").withMode(0o750).withOwner(10, 20).withTime(t0.Add(time.Hour)).withXattr("user.dir", "d"),
		file("etc/passwd", "root:x:0:0\n").withMode(0o640).withOwner(1000, 2000).withXattr("user.a", "1").withXattr("user.b", "two"),
		file("bin/ping", "ELF").withMode(0o755).withXattr("security.capability", capNetRaw()),
		file("bin/su", "setuid").withMode(0o4755).withOwner(0, 0),
		file("bin/sgid", "setgid").withMode(0o2711).withOwner(1000, 50),
		dir("tmp").withMode(0o1777),
		dir("shared").withMode(0o2775).withOwner(0, 100),
		symlink("bin/sh", "/bin/busybox").withOwner(7, 8),
		symlink("etc/rel", "../bin/su"),
		hardlink("bin/su2", "bin/su"),
		chardev("dev/null", 1, 3),
		ent{name: "dev/loop0", typ: tar.TypeBlock, mode: 0o660, major: 7, minor: 0, gid: 6},
		fifo("run/fifo").withMode(0o620).withOwner(5, 5),
		file(long, "long").withMode(0o600),
		ent{name: "atime", typ: tar.TypeReg, body: "x", mode: 0o644, atime: at},
		file("empty", ""),
	)
	size, err := Apply(context.Background(), root, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len("root:x:0:0\n") + 3 + 6 + 6 + 4 + 1); size != want {
		t.Errorf("size %d, want %d", size, want)
	}
	for _, tc := range []struct {
		path      string
		mode      uint32 // type and permission bits
		uid, gid  uint32
		body      string
		link      string
		rdev      uint64
		xattrs    map[string]string
		mtime     time.Time
		skipMtime bool
	}{
		{path: "etc", mode: unix.S_IFDIR | 0o750, uid: 10, gid: 20, xattrs: map[string]string{"user.dir": "d"}, mtime: t0.Add(time.Hour)},
		{path: "etc/passwd", mode: unix.S_IFREG | 0o640, uid: 1000, gid: 2000, body: "root:x:0:0\n", xattrs: map[string]string{"user.a": "1", "user.b": "two"}},
		{path: "bin/ping", mode: unix.S_IFREG | 0o755, body: "ELF", xattrs: map[string]string{"security.capability": capNetRaw()}},
		{path: "bin/su", mode: unix.S_IFREG | 0o4755, body: "setuid"},
		{path: "bin/sgid", mode: unix.S_IFREG | 0o2711, uid: 1000, gid: 50, body: "setgid"},
		{path: "tmp", mode: unix.S_IFDIR | 0o1777},
		{path: "shared", mode: unix.S_IFDIR | 0o2775, gid: 100},
		{path: "bin/sh", mode: unix.S_IFLNK | 0o777, uid: 7, gid: 8, link: "/bin/busybox"},
		{path: "etc/rel", mode: unix.S_IFLNK | 0o777, link: "../bin/su"},
		{path: "dev/null", mode: unix.S_IFCHR | 0o666, rdev: unix.Mkdev(1, 3)},
		{path: "dev/loop0", mode: unix.S_IFBLK | 0o660, gid: 6, rdev: unix.Mkdev(7, 0)},
		{path: "run/fifo", mode: unix.S_IFIFO | 0o620, uid: 5, gid: 5},
		{path: long, mode: unix.S_IFREG | 0o600, body: "long"},
		{path: "empty", mode: unix.S_IFREG | 0o644},
		{path: "bin", mode: unix.S_IFDIR | 0o755, skipMtime: true}, // made as a parent
	} {
		t.Run(strings.ReplaceAll(tc.path[:min(len(tc.path), 20)], "/", "_"), func(t *testing.T) {
			p := filepath.Join(root, tc.path)
			st := lstatT(t, p)
			if st.Mode != tc.mode || st.Uid != tc.uid || st.Gid != tc.gid {
				t.Errorf("mode %o owner %d:%d, want %o %d:%d", st.Mode, st.Uid, st.Gid, tc.mode, tc.uid, tc.gid)
			}
			if tc.mode&unix.S_IFMT == unix.S_IFREG {
				if b, _ := os.ReadFile(p); string(b) != tc.body {
					t.Errorf("content %q, want %q", b, tc.body)
				}
			}
			if tc.link != "" {
				if l, _ := os.Readlink(p); l != tc.link {
					t.Errorf("link %q, want %q", l, tc.link)
				}
			}
			if st.Rdev != tc.rdev {
				t.Errorf("rdev %x, want %x", st.Rdev, tc.rdev)
			}
			x, err := readXattrs(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(x) != len(tc.xattrs) {
				t.Errorf("xattrs %q, want %q", x, tc.xattrs)
			}
			for k, v := range tc.xattrs {
				if x[k] != v {
					t.Errorf("xattr %s = %q, want %q", k, x[k], v)
				}
			}
			want := tc.mtime
			if want.IsZero() {
				want = t0
			}
			if got := time.Unix(st.Mtim.Sec, st.Mtim.Nsec); !tc.skipMtime && !got.Equal(want) {
				t.Errorf("mtime %v, want %v", got, want)
			}
		})
	}
	su, su2 := lstatT(t, filepath.Join(root, "bin/su")), lstatT(t, filepath.Join(root, "bin/su2"))
	if su.Ino != su2.Ino || su.Nlink != 2 {
		t.Errorf("bin/su2 is not a hardlink of bin/su: inodes %d %d, nlink %d", su.Ino, su2.Ino, su.Nlink)
	}
	if st := lstatT(t, filepath.Join(root, "atime")); st.Atim.Sec != at.Unix() || st.Atim.Nsec != int64(at.Nanosecond()) {
		t.Errorf("atime %v, want %v", time.Unix(st.Atim.Sec, st.Atim.Nsec), at)
	}
}

// TestApplyReadsToEOF: a caller hashing the stream Apply reads gets the
// whole layer's digest, record padding after the end blocks included.
func TestApplyReadsToEOF(t *testing.T) {
	gate.Root(t)
	data := mkTar(t, dir("a"), file("a/b", strings.Repeat("x", 1000)))
	data = append(data, make([]byte, 10240-len(data)%10240)...) // GNU tar's record padding
	want := sha256.Sum256(data)
	h := sha256.New()
	r := bytes.NewReader(data)
	if _, err := Apply(context.Background(), t.TempDir(), io.TeeReader(r, h)); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread", r.Len())
	}
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("the digest of what Apply read is not the layer's")
	}
}

// TestApplyReplace: an entry replaces what is at its path; a directory
// over a directory keeps it and its content.
func TestApplyReplace(t *testing.T) {
	gate.Root(t)
	for _, tc := range []struct {
		name  string
		lower []ent
		layer []ent
		check func(t *testing.T, root string)
	}{
		{
			name:  "file over file",
			lower: []ent{file("f", "old"), hardlink("g", "f")},
			layer: []ent{file("f", "new content")},
			check: func(t *testing.T, root string) {
				if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "new content" {
					t.Errorf("f = %q", b)
				}
				if b, _ := os.ReadFile(filepath.Join(root, "g")); string(b) != "old" {
					t.Errorf("the old file's other link was written through: g = %q", b)
				}
			},
		},
		{
			name:  "dir over dir",
			lower: []ent{dir("d"), file("d/keep", "k")},
			layer: []ent{dir("d").withMode(0o700).withOwner(3, 4)},
			check: func(t *testing.T, root string) {
				if st := lstatT(t, filepath.Join(root, "d")); st.Mode != unix.S_IFDIR|0o700 || st.Uid != 3 {
					t.Errorf("d: mode %o uid %d", st.Mode, st.Uid)
				}
				if !exists(filepath.Join(root, "d/keep")) {
					t.Error("d/keep went away")
				}
			},
		},
		{
			name:  "file over dir tree",
			lower: []ent{dir("d"), dir("d/e"), file("d/e/f", "x")},
			layer: []ent{file("d", "now a file")},
			check: func(t *testing.T, root string) {
				if b, _ := os.ReadFile(filepath.Join(root, "d")); string(b) != "now a file" {
					t.Errorf("d = %q", b)
				}
			},
		},
		{
			name:  "dir over file",
			lower: []ent{file("d", "file")},
			layer: []ent{dir("d"), file("d/f", "in")},
			check: func(t *testing.T, root string) {
				if b, _ := os.ReadFile(filepath.Join(root, "d/f")); string(b) != "in" {
					t.Errorf("d/f = %q", b)
				}
			},
		},
		{
			name:  "symlink over dir",
			lower: []ent{dir("d"), file("d/f", "x")},
			layer: []ent{symlink("d", "elsewhere")},
			check: func(t *testing.T, root string) {
				if l, _ := os.Readlink(filepath.Join(root, "d")); l != "elsewhere" {
					t.Errorf("d -> %q", l)
				}
			},
		},
		{
			name:  "dir over symlink",
			lower: []ent{dir("real"), file("real/f", "x"), symlink("d", "real")},
			layer: []ent{dir("d"), file("d/g", "y")},
			check: func(t *testing.T, root string) {
				if st := lstatT(t, filepath.Join(root, "d")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
					t.Errorf("d is %o, not a directory", st.Mode)
				}
				if exists(filepath.Join(root, "real/g")) {
					t.Error("d/g was written through the old symlink")
				}
			},
		},
		{
			name:  "fifo and device and hardlink over files",
			lower: []ent{file("p", "x"), file("c", "x"), file("h", "x"), file("src", "src")},
			layer: []ent{fifo("p"), chardev("c", 1, 5), hardlink("h", "src")},
			check: func(t *testing.T, root string) {
				if st := lstatT(t, filepath.Join(root, "p")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
					t.Errorf("p: mode %o", st.Mode)
				}
				if st := lstatT(t, filepath.Join(root, "c")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 5) {
					t.Errorf("c: mode %o rdev %x", st.Mode, st.Rdev)
				}
				if b, _ := os.ReadFile(filepath.Join(root, "h")); string(b) != "src" {
					t.Errorf("h = %q", b)
				}
			},
		},
		{
			name:  "same entry twice",
			layer: []ent{file("f", "one"), file("f", "two"), dir("d").withMode(0o700), dir("d").withMode(0o711)},
			check: func(t *testing.T, root string) {
				if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "two" {
					t.Errorf("f = %q", b)
				}
				if st := lstatT(t, filepath.Join(root, "d")); st.Mode != unix.S_IFDIR|0o711 {
					t.Errorf("d: mode %o", st.Mode)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.lower != nil {
				apply(t, root, mkTar(t, tc.lower...))
			}
			apply(t, root, mkTar(t, tc.layer...))
			tc.check(t, root)
		})
	}
}

// TestApplyDirTimes: a directory's mtime is the header's even when
// entries, whiteouts and removals come into it afterwards.
func TestApplyDirTimes(t *testing.T) {
	gate.Root(t)
	for _, overlay := range []bool{false, true} {
		t.Run(map[bool]string{false: "delete", true: "overlay"}[overlay], func(t *testing.T) {
			root := t.TempDir()
			var opts []ApplyOption
			if overlay {
				opts = append(opts, WithOverlayWhiteouts())
			}
			apply(t, root, mkTar(t, dir("d"), file("d/old", "x"), dir("d/sub")))
			mt := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
			apply(t, root, mkTar(t,
				dir("d").withTime(mt),
				dir("d/sub").withTime(mt.Add(time.Second)),
				file("d/sub/a", "a"),
				file("d/new", "n"),
				ent{name: "d/.wh.old", typ: tar.TypeReg},
				file("d/sub/b", "b"),
				ent{name: "d/sub/.wh..wh..opq", typ: tar.TypeReg},
			), opts...)
			for p, want := range map[string]time.Time{"d": mt, "d/sub": mt.Add(time.Second)} {
				st := lstatT(t, filepath.Join(root, p))
				if got := time.Unix(st.Mtim.Sec, st.Mtim.Nsec); !got.Equal(want) {
					t.Errorf("%s: mtime %v, want %v", p, got, want)
				}
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	gate.Root(t)
	one := mkTar(t, file("a", strings.Repeat("a", 3000)))
	valid := mkTar(t, file("a", strings.Repeat("a", 3000)), file("b", "b"))
	endOfA := len(one) - 1024 // before the two zero blocks
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{name: "truncated content", data: valid[:endOfA-1000], want: `entry "a": read content`},
		{name: "truncated header", data: valid[:endOfA+100], want: "read tar"},
		{name: "garbage", data: bytes.Repeat([]byte("garbage!"), 200), want: "read tar"},
		{name: "unsupported type", data: mkTar(t, ent{name: "x", typ: 'Z'}), want: `entry "x": unsupported tar entry type`},
		{name: "file below a file", data: mkTar(t, file("f", "x"), file("f/g", "y")), want: `entry "f/g"`},
		{name: "hardlink to a missing file", data: mkTar(t, hardlink("h", "nothere")), want: `entry "h": hardlink to "nothere"`},
		{name: "hardlink to a directory", data: mkTar(t, dir("d"), hardlink("h", "d")), want: `entry "h": hardlink to "d"`},
		{name: "whiteout of dot", data: mkTar(t, ent{name: "a/.wh..", typ: tar.TypeReg}), want: `entry "a/.wh..": invalid whiteout`},
		{name: "whiteout name as directory", data: mkTar(t, file(".wh.x/y", "")), want: "whiteout name used as a directory"},
		{name: "negative owner", data: mkTar(t, file("f", "").withOwner(-5, 0)), want: "invalid owner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestApplyCanceled(t *testing.T) {
	gate.Root(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, t.TempDir(), bytes.NewReader(mkTar(t, file("a", "a"))))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestApplyXattrPolicy: overlayfs's xattrs never come from a tar; an
// unsupported one is skipped, but not security.capability.
func TestApplyXattrPolicy(t *testing.T) {
	gate.Root(t)
	root := t.TempDir()
	apply(t, root, mkTar(t,
		dir("d").withXattr("trusted.overlay.opaque", "y").withXattr("trusted.overlay.redirect", "/etc"),
		file("f", "x").withXattr("user.overlay.metacopy", "").withXattr("trusted.ok", "1"),
		symlink("l", "f").withXattr("user.skipped", "1").withXattr("trusted.kept", "2"),
		fifo("p").withXattr("user.skipped", "1"),
		file("labelled", "x").withXattr("security.selinux", "system_u:object_r:etc_t:s0"),
	))
	for p, want := range map[string]map[string]string{
		"d": nil, "f": {"trusted.ok": "1"}, "l": {"trusted.kept": "2"}, "p": nil, "labelled": nil,
	} {
		x, err := readXattrs(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if len(x) != len(want) || (want != nil && x[firstKey(want)] != want[firstKey(want)]) {
			t.Errorf("%s: xattrs %q, want %q", p, x, want)
		}
	}

	// The kernel refuses a malformed capability: that must fail the apply.
	_, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(mkTar(t,
		file("f", "x").withXattr("security.capability", "not a capability"))))
	if err == nil || !strings.Contains(err.Error(), "security.capability") {
		t.Errorf("a bad security.capability: err = %v", err)
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// TestApplyNoXattrFilesystem: on ramfs, which has no xattrs at all, a
// user.* xattr is skipped but a file capability fails the apply.
func TestApplyNoXattrFilesystem(t *testing.T) {
	gate.Root(t)
	root := t.TempDir()
	if err := unix.Mount("ramfs", root, "ramfs", 0, ""); err != nil {
		t.Skipf("mount ramfs: %v", err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	apply(t, root, mkTar(t, file("f", "x").withXattr("user.a", "1"), dir("d").withXattr("trusted.b", "2")))
	if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "x" {
		t.Errorf("f = %q", b)
	}
	_, err := Apply(context.Background(), root, bytes.NewReader(mkTar(t, file("ping", "x").withXattr("security.capability", capNetRaw()))))
	if err == nil || !strings.Contains(err.Error(), `entry "ping": set xattr security.capability`) {
		t.Errorf("err = %v, want the capability refused", err)
	}
}

// TestApplyWithoutWhiteouts: a plain archive's ".wh." entries are files;
// nothing they name is removed.
func TestApplyWithoutWhiteouts(t *testing.T) {
	gate.Root(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := mkTar(t, dir("etc"), file("etc/.wh.passwd", "x"), file(".wh..wh..opq", "y"))
	if _, err := Apply(context.Background(), root, bytes.NewReader(data), WithoutWhiteouts()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"etc/passwd", "etc/.wh.passwd", ".wh..wh..opq"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
