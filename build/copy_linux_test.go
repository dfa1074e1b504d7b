package build

import (
	"archive/tar"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
)

func statOf(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

var srcTime = time.Unix(1400000000, 5000)

// copyFixture makes a context dir and an image root.
func copyFixture(t *testing.T) (ctxDir, root string) {
	t.Helper()
	ctxDir, root = t.TempDir(), t.TempDir()
	w := func(rel, body string, mode os.FileMode) {
		p := filepath.Join(ctxDir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, 1234, 1234)
		os.Chtimes(p, srcTime, srcTime)
	}
	w("a.txt", "A", 0o644)
	w("b.txt", "B", 0o600)
	w("c.md", "C", 0o644)
	w("dir/x", "X", 0o755)
	w("dir/sub/y", "Y", 0o644)
	os.Symlink("x", filepath.Join(ctxDir, "dir/lx"))
	os.Link(filepath.Join(ctxDir, "dir/x"), filepath.Join(ctxDir, "dir/sub/hx"))
	os.Symlink("a.txt", filepath.Join(ctxDir, "alink"))
	os.Symlink("/etc/hostname", filepath.Join(ctxDir, "hostlink"))
	os.MkdirAll(filepath.Join(root, "existing"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.Symlink("/../../etc", filepath.Join(root, "evil"))
	os.MkdirAll(filepath.Join(root, "app"), 0o755)
	return ctxDir, root
}

func TestCopy(t *testing.T) {
	gate.Root(t)
	mode0640 := os.FileMode(0o640)
	tests := []struct {
		name    string
		req     CopyRequest
		want    map[string]string // path in root -> content ("" for a dir, "->x" for a symlink)
		absent  []string
		wantErr string
		check   func(t *testing.T, root string)
	}{
		{name: "file into dir/", req: CopyRequest{Sources: []string{"a.txt"}, Dest: "/dst/"},
			want: map[string]string{"dst/a.txt": "A"}},
		{name: "file to a new name", req: CopyRequest{Sources: []string{"a.txt"}, Dest: "/new.txt"},
			want: map[string]string{"new.txt": "A"}},
		{name: "file into an existing dir without slash", req: CopyRequest{Sources: []string{"a.txt"}, Dest: "/existing"},
			want: map[string]string{"existing/a.txt": "A"}},
		{name: "relative dest from the workdir", req: CopyRequest{Sources: []string{"./a.txt"}, Dest: ".", Workdir: "/app"},
			want: map[string]string{"app/a.txt": "A"}},
		{name: "directory contents, not the directory", req: CopyRequest{Sources: []string{"dir"}, Dest: "/d"},
			want:   map[string]string{"d/x": "X", "d/sub/y": "Y", "d/lx": "->x", "d/sub/hx": "X"},
			absent: []string{"d/dir"},
			check: func(t *testing.T, root string) {
				if statOf(t, filepath.Join(root, "d/x")).Ino != statOf(t, filepath.Join(root, "d/sub/hx")).Ino {
					t.Error("hardlink not kept")
				}
				fi, _ := os.Stat(filepath.Join(root, "d"))
				if fi.Mode().Perm() != 0o755 {
					t.Errorf("new dest dir mode %v", fi.Mode())
				}
			}},
		{name: "wildcards", req: CopyRequest{Sources: []string{"*.txt", "di?/s*/y"}, Dest: "/w/"},
			want:   map[string]string{"w/a.txt": "A", "w/b.txt": "B", "w/y": "Y"},
			absent: []string{"w/c.md"}},
		{name: "source symlink copies its target under its own name", req: CopyRequest{Sources: []string{"alink"}, Dest: "/l/"},
			want: map[string]string{"l/alink": "A"}},
		{name: "several sources need a dest ending in /", req: CopyRequest{Sources: []string{"a.txt", "b.txt"}, Dest: "/multi"},
			wantErr: "When using COPY with more than one source file, the destination must be a directory and end with a /"},
		{name: "wildcard matching several needs a dest ending in /", req: CopyRequest{Sources: []string{"*.txt"}, Dest: "/multi"},
			wantErr: "When using COPY with more than one source file, the destination must be a directory and end with a /"},
		{name: "outside the context", req: CopyRequest{Sources: []string{"../x"}, Dest: "/"},
			wantErr: "COPY failed: forbidden path outside the build context: ../x ()"},
		{name: "missing source", req: CopyRequest{Sources: []string{"missing.txt"}, Dest: "/"},
			wantErr: "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist"},
		{name: "wildcard matching nothing", req: CopyRequest{Sources: []string{"*.none"}, Dest: "/"},
			wantErr: "COPY failed: no source files were specified"},
		{name: "context symlink to a host path resolves inside the context", req: CopyRequest{Sources: []string{"hostlink"}, Dest: "/"},
			wantErr: "file not found in build context"},
		{name: "URL in COPY", req: CopyRequest{Sources: []string{"http://example.com/x"}, Dest: "/"},
			wantErr: "COPY failed: source can't be a URL for COPY"},
		{name: "dest symlink escaping stays in root", req: CopyRequest{Sources: []string{"a.txt"}, Dest: "/evil/berth-copy-test-escape"},
			want: map[string]string{"etc/berth-copy-test-escape": "A"},
			check: func(t *testing.T, root string) {
				if _, err := os.Lstat("/etc/berth-copy-test-escape"); err == nil {
					os.Remove("/etc/berth-copy-test-escape")
					t.Error("copy escaped the root")
				}
			}},
		{name: "chown owns files and the parents it makes", req: CopyRequest{Sources: []string{"dir"}, Dest: "/o/p/", Chown: &Owner{UID: 1000, GID: 1001}},
			want: map[string]string{"o/p/x": "X"},
			check: func(t *testing.T, root string) {
				for _, p := range []string{"o", "o/p", "o/p/x", "o/p/sub", "o/p/lx"} {
					if st := statOf(t, filepath.Join(root, p)); st.Uid != 1000 || st.Gid != 1001 {
						t.Errorf("%s owned %d:%d", p, st.Uid, st.Gid)
					}
				}
				if st := statOf(t, filepath.Join(root, "existing")); st.Uid != 0 {
					t.Errorf("untouched dir owned %d", st.Uid)
				}
			}},
		{name: "root owns by default, mode and mtime kept", req: CopyRequest{Sources: []string{"b.txt", "dir"}, Dest: "/m/"},
			want: map[string]string{"m/b.txt": "B"},
			check: func(t *testing.T, root string) {
				for _, c := range []struct {
					p    string
					mode os.FileMode
				}{{"m/b.txt", 0o600}, {"m/x", 0o755}, {"m/sub/y", 0o644}} {
					fi, _ := os.Lstat(filepath.Join(root, c.p))
					st := statOf(t, filepath.Join(root, c.p))
					if st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != c.mode || !fi.ModTime().Equal(srcTime) {
						t.Errorf("%s: %d:%d %v %v", c.p, st.Uid, st.Gid, fi.Mode(), fi.ModTime())
					}
				}
			}},
		{name: "chmod", req: CopyRequest{Sources: []string{"dir"}, Dest: "/cm", Chmod: &mode0640},
			want: map[string]string{"cm/x": "X"},
			check: func(t *testing.T, root string) {
				for _, p := range []string{"cm/x", "cm/sub", "cm/sub/y"} {
					if fi, _ := os.Lstat(filepath.Join(root, p)); fi.Mode().Perm() != 0o640 {
						t.Errorf("%s mode %v", p, fi.Mode())
					}
				}
			}},
		{name: "a directory merges through a symlink to a directory, inside the root", req: CopyRequest{Sources: []string{"."}, Dest: "/"},
			want: map[string]string{"usr/lib/old": "O", "usr/lib/sub/y": "Y", "lib": "->usr/lib", "a.txt": "A", "etc/berth-merge": "M"},
			check: func(t *testing.T, root string) {
				if _, err := os.Lstat("/etc/berth-merge"); err == nil {
					t.Error("merge escaped the root")
				}
			}},
		{name: "replaces a file and a symlink", req: CopyRequest{Sources: []string{"a.txt"}, Dest: "/etc/hostname-link"},
			want: map[string]string{"etc/hostname-link": "A"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctxDir, root := copyFixture(t)
			os.Symlink("/etc/hostname", filepath.Join(root, "etc/hostname-link"))
			if strings.HasPrefix(tc.name, "a directory merges") {
				os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755)
				os.WriteFile(filepath.Join(root, "usr/lib/old"), []byte("O"), 0o644)
				os.Symlink("usr/lib", filepath.Join(root, "lib"))
				os.MkdirAll(filepath.Join(ctxDir, "lib/sub"), 0o755)
				os.WriteFile(filepath.Join(ctxDir, "lib/sub/y"), []byte("Y"), 0o644)
				os.RemoveAll(filepath.Join(ctxDir, "hostlink"))
				os.Symlink("/etc", filepath.Join(root, "ln-etc"))
				os.MkdirAll(filepath.Join(ctxDir, "ln-etc"), 0o755)
				os.WriteFile(filepath.Join(ctxDir, "ln-etc/berth-merge"), []byte("M"), 0o644)
			}
			req := tc.req
			req.SrcRoot, req.FromContext = ctxDir, true
			sum, cerr := Checksum(context.Background(), req)
			err := Copy(context.Background(), root, req)
			if tc.wantErr != "" {
				for _, e := range []error{err, cerr} {
					if e == nil || !strings.Contains(e.Error(), tc.wantErr) {
						t.Fatalf("error %v, want %q", e, tc.wantErr)
					}
					if engine.KindOf(e) != engine.KindInvalid {
						t.Errorf("error kind %v", engine.KindOf(e))
					}
				}
				return
			}
			if err != nil || cerr != nil {
				t.Fatalf("Copy: %v; Checksum: %v", err, cerr)
			}
			if sum == "" {
				t.Error("empty checksum")
			}
			for p, want := range tc.want {
				full := filepath.Join(root, p)
				if strings.HasPrefix(want, "->") {
					if l, err := os.Readlink(full); err != nil || l != want[2:] {
						t.Errorf("%s -> %q, %v; want %s", p, l, err, want)
					}
					continue
				}
				b, err := os.ReadFile(full)
				if err != nil || string(b) != want {
					t.Errorf("%s = %q, %v; want %q", p, b, err, want)
				}
			}
			for _, p := range tc.absent {
				if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
					t.Errorf("%s exists", p)
				}
			}
			if tc.check != nil {
				tc.check(t, root)
			}
		})
	}
}

func TestCopyFromImage(t *testing.T) {
	gate.Root(t)
	img, root := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(img, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(img, "usr/bin/app"), []byte("ELF"), 0o755)
	os.Symlink("/usr/bin", filepath.Join(img, "bin"))
	req := CopyRequest{SrcRoot: img, Sources: []string{"/bin/app"}, Dest: "/app"}
	if err := Copy(context.Background(), root, req); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "app")); string(b) != "ELF" {
		t.Errorf("app = %q", b)
	}
	req.Sources = []string{"/nope"}
	if err := Copy(context.Background(), root, req); err == nil || err.Error() != "COPY failed: stat nope: file does not exist" {
		t.Errorf("missing: %v", err)
	}
}

func TestChecksum(t *testing.T) {
	gate.Root(t)
	ctxDir, _ := copyFixture(t)
	sum := func(srcs ...string) string {
		t.Helper()
		d, err := Checksum(context.Background(), CopyRequest{SrcRoot: ctxDir, FromContext: true, Sources: srcs, Dest: "/x/"})
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	dir0, a0, again := sum("dir"), sum("a.txt"), sum("dir")
	if dir0 != again {
		t.Error("checksum not stable")
	}
	if sum("b.txt") == a0 {
		t.Error("different files, same checksum")
	}
	// One byte changed in a file under dir: dir's checksum changes.
	os.WriteFile(filepath.Join(ctxDir, "dir/sub/y"), []byte("Z"), 0o644)
	dir1 := sum("dir")
	if dir1 == dir0 {
		t.Error("a changed byte did not change the checksum")
	}
	// An unrelated file changed: no change.
	os.WriteFile(filepath.Join(ctxDir, "c.md"), []byte("changed"), 0o644)
	if sum("dir") != dir1 || sum("a.txt") != a0 {
		t.Error("an unrelated file changed the checksum")
	}
	// A mode change counts; an mtime change alone does not.
	os.Chtimes(filepath.Join(ctxDir, "a.txt"), time.Now(), time.Now())
	if sum("a.txt") != a0 {
		t.Error("mtime changed the checksum")
	}
	os.Chmod(filepath.Join(ctxDir, "a.txt"), 0o755)
	if sum("a.txt") == a0 {
		t.Error("mode change did not change the checksum")
	}
}

func TestAddArchive(t *testing.T) {
	gate.Root(t)
	ctxDir, root := copyFixture(t)
	tb := makeTar(t, tarEntry{name: "pkg/", typ: tar.TypeDir}, tarEntry{name: "pkg/f", body: "F"}, tarEntry{name: "../up", body: "U"})
	os.WriteFile(filepath.Join(ctxDir, "pkg.tar"), tb, 0o644)
	os.WriteFile(filepath.Join(ctxDir, "pkg.data"), gzipped(t, tb), 0o644) // sniffed, not named
	os.WriteFile(filepath.Join(ctxDir, "fake.tar.gz"), []byte("not an archive"), 0o644)
	for _, c := range []struct {
		src, dest string
		want      map[string]string
	}{
		{"pkg.tar", "/opt", map[string]string{"opt/pkg/f": "F", "opt/up": "U"}},
		{"pkg.data", "/gz/", map[string]string{"gz/pkg/f": "F"}},
		{"fake.tar.gz", "/plain/", map[string]string{"plain/fake.tar.gz": "not an archive"}},
	} {
		req := CopyRequest{SrcRoot: ctxDir, FromContext: true, Sources: []string{c.src}, Dest: c.dest, Add: true, Cmd: "ADD"}
		if err := Copy(context.Background(), root, req); err != nil {
			t.Fatalf("ADD %s: %v", c.src, err)
		}
		for p, want := range c.want {
			if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
				t.Errorf("ADD %s: %s = %q, %v", c.src, p, b, err)
			}
		}
	}
	// COPY never extracts.
	req := CopyRequest{SrcRoot: ctxDir, FromContext: true, Sources: []string{"pkg.tar"}, Dest: "/copied/"}
	if err := Copy(context.Background(), root, req); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, "copied/pkg.tar")); err != nil || fi.Size() != int64(len(tb)) {
		t.Errorf("COPY of a tar: %v", err)
	}
}

func TestAddURL(t *testing.T) {
	gate.Root(t)
	lastMod := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/files/tool.tar.gz":
			w.Header().Set("Last-Modified", lastMod.Format(http.TimeFormat))
			w.Write(gzipped(t, makeTar(t, tarEntry{name: "in-tar", body: "x"})))
		case "/dir/":
			w.Write([]byte("index"))
		default:
			http.Error(w, "no such file", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctxDir, root := copyFixture(t)
	add := func(src, dest string) (string, error) {
		req := CopyRequest{SrcRoot: ctxDir, FromContext: true, Sources: []string{src}, Dest: dest, Add: true, Cmd: "ADD"}
		sum, err := Checksum(context.Background(), req)
		if err != nil {
			return "", err
		}
		return sum.String(), Copy(context.Background(), root, req)
	}
	sum1, err := add(srv.URL+"/files/tool.tar.gz", "/dl/")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "dl/tool.tar.gz")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(lastMod) {
		t.Errorf("download: mode %v mtime %v", fi.Mode(), fi.ModTime())
	}
	if sum2, _ := add(srv.URL+"/files/tool.tar.gz", "/dl/"); sum2 != sum1 {
		t.Error("same download, different checksum")
	}
	if _, err := add(srv.URL+"/named", "/dl/renamed"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
	_, err = add(srv.URL+"/missing", "/dl/")
	want := "ADD failed: failed to GET " + srv.URL + "/missing with status 404 Not Found"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("404: %v, want %q", err, want)
	}
	if _, err := add(srv.URL+"/dir/", "/dl/"); err == nil || !strings.Contains(err.Error(), "cannot determine filename") {
		t.Errorf("no name: %v", err)
	}
	if _, err := add(srv.URL+"/dir/", "/dl/index.html"); err != nil {
		t.Errorf("named dest: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "dl/index.html")); err != nil || !fi.ModTime().Equal(time.Unix(0, 0)) {
		t.Errorf("no Last-Modified: %v %v", fi, err)
	}
}
