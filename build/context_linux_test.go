package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	"testing"
	"time"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
)

// tarEntry is one entry of a test tar.
type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func makeTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// files lists the paths under dir (slash-separated, dirs with "/").
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out
}

func TestOpenContext(t *testing.T) {
	gate.Root(t) // the tar's owners are kept
	df := tarEntry{name: "Dockerfile", body: "FROM scratch\n"}
	tests := []struct {
		name       string
		body       []byte
		dockerfile string
		wantDF     string
		wantFiles  []string
		wantErr    string
	}{
		{
			name:      "plain tar",
			body:      makeTar(t, df, tarEntry{name: "a.txt", body: "a"}),
			wantDF:    "FROM scratch\n",
			wantFiles: []string{"Dockerfile", "a.txt"},
		},
		{
			name:      "gzip tar",
			body:      gzipped(t, makeTar(t, df, tarEntry{name: "d/", typ: tar.TypeDir}, tarEntry{name: "d/b", body: "b"})),
			wantDF:    "FROM scratch\n",
			wantFiles: []string{"Dockerfile", "d/", "d/b"},
		},
		{
			name:      "bare Dockerfile",
			body:      []byte("FROM busybox\nRUN true\n"),
			wantDF:    "FROM busybox\nRUN true\n",
			wantFiles: []string{"Dockerfile"},
		},
		{
			name:    "missing Dockerfile",
			body:    makeTar(t, tarEntry{name: "a.txt", body: "a"}),
			wantErr: "Cannot locate specified Dockerfile: Dockerfile",
		},
		{
			name:    "empty body",
			body:    nil,
			wantErr: "Cannot locate specified Dockerfile: Dockerfile",
		},
		{
			name:       "missing named Dockerfile",
			body:       makeTar(t, df),
			dockerfile: "build/Dockerfile.dev",
			wantErr:    "Cannot locate specified Dockerfile: build/Dockerfile.dev",
		},
		{
			name:      "lowercase fallback",
			body:      makeTar(t, tarEntry{name: "dockerfile", body: "FROM lower\n"}),
			wantDF:    "FROM lower\n",
			wantFiles: []string{"dockerfile"},
		},
		{
			name:       "named Dockerfile in a subdirectory",
			body:       makeTar(t, tarEntry{name: "build/", typ: tar.TypeDir}, tarEntry{name: "build/Dockerfile.dev", body: "FROM dev\n"}),
			dockerfile: "build/Dockerfile.dev",
			wantDF:     "FROM dev\n",
			wantFiles:  []string{"build/", "build/Dockerfile.dev"},
		},
		{
			name:       "Dockerfile path escaping the context",
			body:       makeTar(t, df),
			dockerfile: "../Dockerfile",
			wantErr:    "must be within the build context",
		},
		{
			name:    "Dockerfile symlink to a host file stays inside",
			body:    makeTar(t, tarEntry{name: "Dockerfile", typ: tar.TypeSymlink, link: "/etc/hostname"}),
			wantErr: "Cannot locate specified Dockerfile: Dockerfile",
		},
		{
			name: ".dockerignore rules",
			body: makeTar(t, df,
				tarEntry{name: ".dockerignore", body: "# comment\n*.log\n!keep.log\n**/tmp\n/abs\n./dotslash\ndir/\nDockerfile\n"},
				tarEntry{name: "a.log", body: "x"},
				tarEntry{name: "keep.log", body: "x"},
				tarEntry{name: "sub/", typ: tar.TypeDir},
				tarEntry{name: "sub/b.log", body: "x"}, // *.log is for the root only
				tarEntry{name: "sub/tmp/", typ: tar.TypeDir},
				tarEntry{name: "sub/tmp/x", body: "x"},
				tarEntry{name: "tmp", body: "x"},
				tarEntry{name: "abs", body: "x"},
				tarEntry{name: "sub/abs", body: "x"},
				tarEntry{name: "dotslash", body: "x"},
				tarEntry{name: "dir/", typ: tar.TypeDir},
				tarEntry{name: "dir/f", body: "x"},
				tarEntry{name: "dirx", body: "x"},
			),
			// The Dockerfile is excluded but still read.
			wantDF:    "FROM scratch\n",
			wantFiles: []string{".dockerignore", "dirx", "keep.log", "sub/", "sub/abs", "sub/b.log"},
		},
		{
			name: ".dockerignore exception inside an excluded directory",
			body: makeTar(t, df,
				tarEntry{name: ".dockerignore", body: "docs\n!docs/README.md\n.dockerignore\n"},
				tarEntry{name: "docs/", typ: tar.TypeDir},
				tarEntry{name: "docs/README.md", body: "x"},
				tarEntry{name: "docs/other.md", body: "x"},
			),
			wantDF:    "FROM scratch\n",
			wantFiles: []string{"Dockerfile", "docs/", "docs/README.md"},
		},
		{
			name: "entries escaping the directory land inside it",
			body: makeTar(t, df,
				tarEntry{name: "../escape-dotdot", body: "x"},
				tarEntry{name: "/escape-abs", body: "x"},
				tarEntry{name: "up", typ: tar.TypeSymlink, link: "../../.."},
				tarEntry{name: "up/escape-symlink", body: "x"},
			),
			wantDF:    "FROM scratch\n",
			wantFiles: []string{"Dockerfile", "escape-abs", "escape-dotdot", "escape-symlink", "up"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			tmp := filepath.Join(base, "tmp")
			c, err := OpenContext(context.Background(), bytes.NewReader(tc.body), tmp, tc.dockerfile)
			if tc.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatalf("OpenContext: no error, want %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("OpenContext: %v, want %q", err, tc.wantErr)
				}
				if engine.KindOf(err) != engine.KindInvalid {
					t.Errorf("error kind %v, want invalid", engine.KindOf(err))
				}
				if left := files(t, tmp); len(left) != 0 {
					t.Errorf("left in tmpDir: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenContext: %v", err)
			}
			defer c.Close()
			if fi, err := os.Stat(tmp); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("tmpDir: %v %v, want 0700", fi.Mode(), err)
			}
			got, err := c.Dockerfile()
			if err != nil || string(got) != tc.wantDF {
				t.Errorf("Dockerfile() = %q, %v; want %q", got, err, tc.wantDF)
			}
			if g := files(t, c.Dir); strings.Join(g, " ") != strings.Join(tc.wantFiles, " ") {
				t.Errorf("context files\n got %v\nwant %v", g, tc.wantFiles)
			}
			if g := files(t, base); len(g) != len(files(t, tmp))+1 {
				t.Errorf("something landed outside the context: %v", g)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if left := files(t, tmp); len(left) != 0 {
				t.Errorf("left after Close: %v", left)
			}
		})
	}
}

func TestOpenContextKeepsMetadata(t *testing.T) {
	gate.Root(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1600000000, 0)
	for _, h := range []*tar.Header{
		{Name: "Dockerfile", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5, ModTime: mt},
		{Name: "run.sh", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1234, Gid: 5678, Size: 5, ModTime: mt},
		{Name: "hard", Typeflag: tar.TypeLink, Linkname: "run.sh"},
	} {
		tw.WriteHeader(h)
		if h.Size > 0 {
			tw.Write([]byte("12345"))
		}
	}
	tw.Close()
	c, err := OpenContext(context.Background(), &buf, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fi, err := os.Lstat(filepath.Join(c.Dir, "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	st := statOf(t, filepath.Join(c.Dir, "run.sh"))
	if fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 || st.Uid != 1234 || st.Gid != 5678 || !fi.ModTime().Equal(mt) || st.Nlink != 2 {
		t.Errorf("run.sh: mode %v uid %d gid %d mtime %v nlink %d", fi.Mode(), st.Uid, st.Gid, fi.ModTime(), st.Nlink)
	}
}

func TestTarContextRoundTrip(t *testing.T) {
	gate.Root(t)
	dir := t.TempDir()
	write := func(rel, body string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\nCOPY . /\n", 0o644)
	write(".dockerignore", "*.log\nbig\nDockerfile\n.dockerignore\n", 0o644)
	write("app/main.go", "package main\n", 0o600)
	write("app/run.sh", "#!/bin/sh\n", 0o755)
	write("debug.log", "noise", 0o644)
	write("big", strings.Repeat("x", 1<<20), 0o644)
	os.Symlink("app/run.sh", filepath.Join(dir, "run"))
	os.Link(filepath.Join(dir, "app/run.sh"), filepath.Join(dir, "app/run2.sh"))
	os.Chown(filepath.Join(dir, "app/main.go"), 1000, 1001)
	mt := time.Unix(1500000000, 123456789)
	os.Chtimes(filepath.Join(dir, "app/main.go"), mt, mt)

	rc, name, err := TarContext(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if name != "Dockerfile" {
		t.Errorf("dockerfile name %q", name)
	}
	c, err := OpenContext(context.Background(), rc, t.TempDir(), name)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if df, _ := c.Dockerfile(); string(df) != "FROM scratch\nCOPY . /\n" {
		t.Errorf("Dockerfile %q", df)
	}
	want := []string{"app/", "app/main.go", "app/run.sh", "app/run2.sh", "run"}
	if got := files(t, c.Dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files\n got %v\nwant %v", got, want)
	}
	st := statOf(t, filepath.Join(c.Dir, "app/main.go"))
	fi, _ := os.Stat(filepath.Join(c.Dir, "app/main.go"))
	if st.Uid != 1000 || st.Gid != 1001 || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mt) {
		t.Errorf("app/main.go: uid %d gid %d mode %v mtime %v", st.Uid, st.Gid, fi.Mode(), fi.ModTime())
	}
	if l, _ := os.Readlink(filepath.Join(c.Dir, "run")); l != "app/run.sh" {
		t.Errorf("run -> %q", l)
	}
	if st := statOf(t, filepath.Join(c.Dir, "app/run.sh")); st.Nlink != 2 {
		t.Errorf("app/run.sh has %d links, want 2", st.Nlink)
	}
}

func TestTarContextOutsideDockerfile(t *testing.T) {
	gate.Root(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644)
	other := filepath.Join(t.TempDir(), "other.Dockerfile")
	os.WriteFile(other, []byte("FROM other\n"), 0o644)
	rc, name, err := TarContext(dir, other)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, ".dockerfile.") || len(name) != len(".dockerfile.")+20 {
		t.Errorf("name %q", name)
	}
	c, err := OpenContext(context.Background(), rc, t.TempDir(), name)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if df, _ := c.Dockerfile(); string(df) != "FROM other\n" {
		t.Errorf("Dockerfile %q", df)
	}
	if got := files(t, c.Dir); strings.Join(got, " ") != ".dockerignore a.txt" {
		t.Errorf("files %v", got)
	}
}

func TestTarContextErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := TarContext(dir, ""); err == nil || !strings.Contains(err.Error(), "Cannot locate specified Dockerfile") {
		t.Errorf("no Dockerfile: %v", err)
	}
	if _, _, err := TarContext(filepath.Join(dir, "nope"), ""); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("no dir: %v", err)
	}
	if os.Geteuid() == 0 {
		return // root reads everything
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM x"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("x"), 0o000)
	if _, _, err := TarContext(dir, ""); err == nil || !strings.Contains(err.Error(), "error checking context") {
		t.Errorf("unreadable file: %v", err)
	}
}

// A small context is extracted on a tmpfs of its own, which Close
// unmounts; nothing is left in the temp dir.
func TestOpenContextTmpfs(t *testing.T) {
	gate.Root(t)
	tmp := t.TempDir()
	c, err := OpenContext(context.Background(), strings.NewReader("FROM scratch\n"), tmp, "")
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(c.Dir, &st); err != nil || st.Type != unix.TMPFS_MAGIC || !c.mounted {
		t.Errorf("context dir: fs type %#x, mounted %v: %v", st.Type, c.mounted, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in the temp dir: %v", ents)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), c.Dir) {
		t.Errorf("%s still mounted", c.Dir)
	}
}
