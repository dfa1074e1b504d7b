package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ent is one entry of a tar built by a test.
type ent struct {
	name   string
	typ    byte
	body   string
	link   string
	mode   int64
	uid    int
	gid    int
	mtime  time.Time
	atime  time.Time
	xattrs map[string]string
	major  int64
	minor  int64
}

var t0 = time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)

func file(name, body string) ent { return ent{name: name, typ: tar.TypeReg, body: body, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}
func fifo(name string) ent { return ent{name: name, typ: tar.TypeFifo, mode: 0o600} }
func chardev(name string, major, minor int64) ent {
	return ent{name: name, typ: tar.TypeChar, mode: 0o666, major: major, minor: minor}
}

func (e ent) withMode(m int64) ent       { e.mode = m; return e }
func (e ent) withOwner(uid, gid int) ent { e.uid, e.gid = uid, gid; return e }
func (e ent) withTime(m time.Time) ent   { e.mtime = m; return e }
func (e ent) withXattr(k, v string) ent {
	x := map[string]string{}
	for a, b := range e.xattrs {
		x[a] = b
	}
	x[k] = v
	e.xattrs = x
	return e
}

// mkTar builds an uncompressed PAX tar of ents, in order.
func mkTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		mt := e.mtime
		if mt.IsZero() {
			mt = t0
		}
		h := &tar.Header{
			Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, ModTime: mt, AccessTime: e.atime,
			Devmajor: e.major, Devminor: e.minor, Format: tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords[paxXattr+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func apply(t testing.TB, root string, data []byte, opts ...ApplyOption) {
	t.Helper()
	if _, err := Apply(context.Background(), root, bytes.NewReader(data), opts...); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// snapOpts says what a tree snapshot leaves out.
type snapOpts struct {
	dirTimes bool // include directories' mtimes
	times    bool // include other entries' mtimes
	ctime    bool // include ctime, inode and link count (for "nothing changed")
}

// snap describes every entry below root (root itself too, as "."), one
// line per path: type, mode, owner, size, content hash, link target,
// device, xattrs and, as asked, times.
func snap(t testing.TB, root string, o snapOpts) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		var d strings.Builder
		fmt.Fprintf(&d, "mode=%o owner=%d:%d", st.Mode, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			fmt.Fprintf(&d, " size=%d sha=%s", len(b), hex.EncodeToString(h[:6]))
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&d, " link=%s", l)
		case unix.S_IFCHR, unix.S_IFBLK:
			fmt.Fprintf(&d, " dev=%d,%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		x, err := readXattrs(p)
		if err != nil {
			return err
		}
		var keys []string
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&d, " %s=%q", k, x[k])
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if (isDir && o.dirTimes) || (!isDir && o.times) {
			fmt.Fprintf(&d, " mtime=%d.%09d", st.Mtim.Sec, st.Mtim.Nsec)
		}
		if o.ctime {
			fmt.Fprintf(&d, " ctime=%d.%09d ino=%d nlink=%d", st.Ctim.Sec, st.Ctim.Nsec, st.Ino, st.Nlink)
		}
		out[rel] = d.String()
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return out
}

// diffSnaps reports how two snapshots differ, "" if they do not.
func diffSnaps(a, b map[string]string) string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var d strings.Builder
	for _, k := range keys {
		va, oka := a[k]
		vb, okb := b[k]
		switch {
		case !oka:
			fmt.Fprintf(&d, "+ %s: %s\n", k, vb)
		case !okb:
			fmt.Fprintf(&d, "- %s: %s\n", k, va)
		case va != vb:
			fmt.Fprintf(&d, "~ %s:\n    %s\n    %s\n", k, va, vb)
		}
	}
	return d.String()
}

// tarNames lists the entry names of a tar, in order.
func tarNames(t testing.TB, data []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func lstatT(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
