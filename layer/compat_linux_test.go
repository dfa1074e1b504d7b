package layer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/gate"
	"golang.org/x/sys/unix"
)

// compatTree is richTree with whole-second times (GNU tar's own format
// keeps no more) and a file past the small-file size, streamed apart.
func compatTree() []ent {
	var out []ent
	for _, e := range richTree() {
		if e.name != "bin/ping" { // GNU tar and capabilities: see below
			out = append(out, e)
		}
	}
	out = append(out,
		file("huge", strings.Repeat("z", smallFileSize+12345)).withMode(0o4750).withOwner(3000000, 3000001).withXattr("user.big", "1"),
	)
	for i := range out {
		out[i].mtime = t0.Truncate(time.Second)
	}
	return out
}

// TestApplyGNUTar: layers made by GNU tar, in its own format (long names
// as ././@LongLink entries) and in PAX with xattrs, apply to the tree they
// were made from.
func TestApplyGNUTar(t *testing.T) {
	gate.Root(t)
	tarCmd := gate.Command(t, "tar")
	src := t.TempDir()
	apply(t, src, mkTar(t, compatTree()...))
	truncTimes(t, src)
	for _, format := range [][]string{
		{"--format=gnu"},
		{"--format=posix", "--xattrs", "--xattrs-include=*"},
	} {
		t.Run(format[0], func(t *testing.T) {
			args := append([]string{"-c", "--numeric-owner", "-C", src}, format...)
			out, err := exec.Command(tarCmd, append(args, ".")...).Output()
			if err != nil {
				t.Fatalf("tar: %v", err)
			}
			dst := t.TempDir()
			apply(t, dst, out)
			o := snapOpts{times: true, dirTimes: true}
			want, got := withoutRoot(snap(t, src, o)), withoutRoot(snap(t, dst, o))
			if format[0] == "--format=gnu" { // no xattrs in that format
				for k, v := range want {
					want[k] = stripXattrs(v)
				}
			}
			if d := diffSnaps(want, got); d != "" {
				t.Errorf("tree from GNU tar's layer differs:\n%s", d)
			}
		})
	}
}

func stripXattrs(line string) string {
	var keep []string
	for _, f := range strings.Fields(line) {
		if !strings.Contains(f, `="`) {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}

// TestWriteTarGNUTar: GNU tar extracts what WriteTar writes into the same
// tree.
func TestWriteTarGNUTar(t *testing.T) {
	gate.Root(t)
	tarCmd := gate.Command(t, "tar")
	src := t.TempDir()
	apply(t, src, mkTar(t, append(compatTree(), richTree()[2])...)) // bin/ping, with its capability
	dst := t.TempDir()
	cmd := exec.Command(tarCmd, "-x", "--numeric-owner", "-p", "--xattrs", "--xattrs-include=*", "-C", dst)
	cmd.Stdin = bytes.NewReader(writeTar(t, src))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v: %s", err, out)
	}
	if d := diffSnaps(withoutRoot(snap(t, src, fullSnap)), withoutRoot(snap(t, dst, fullSnap))); d != "" {
		t.Errorf("GNU tar made another tree:\n%s", d)
	}
}

// TestCompressedRoundTrip: a tree through WriteTar, Compress, Decompress
// and Apply, with the diff ID taken as a puller would, for each
// compression.
func TestCompressedRoundTrip(t *testing.T) {
	gate.Root(t)
	src := t.TempDir()
	apply(t, src, mkTar(t, compatTree()...))
	plain := writeTar(t, src)
	diffID := sha256.Sum256(plain)
	for _, c := range []Compression{None, Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			var blob bytes.Buffer
			w, err := Compress(&blob, c)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteTar(context.Background(), w, src); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			rc, got, err := Decompress(&blob)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got != c {
				t.Errorf("detected %v", got)
			}
			h := sha256.New()
			dst := t.TempDir()
			size, err := Apply(context.Background(), dst, io.TeeReader(rc, h))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(h.Sum(nil), diffID[:]) {
				t.Error("diff ID of the decompressed stream is not the plain tar's")
			}
			var want int64
			for _, e := range compatTree() {
				want += int64(len(e.body))
			}
			if size != want {
				t.Errorf("size %d, want %d", size, want)
			}
			if d := diffSnaps(withoutRoot(snap(t, src, fullSnap)), withoutRoot(snap(t, dst, fullSnap))); d != "" {
				t.Errorf("round trip changed the tree:\n%s", d)
			}
		})
	}
}

// truncTimes drops the sub-second part of every mtime below root (those of
// the parents Apply made), for formats that keep whole seconds.
func truncTimes(t *testing.T, root string) {
	t.Helper()
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := lstatT(t, p)
		ts := []unix.Timespec{st.Atim, {Sec: st.Mtim.Sec}}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
}
