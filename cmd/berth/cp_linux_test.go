package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// tree lists the files under dir as "path" or "path -> target" (symlinks)
// with their contents.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case fi.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+"="+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestCpLocal: what cp writes of a local path, and how it unpacks a tar
// at a local destination, with docker's rules for where the copy lands.
func TestCpLocal(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "dir", "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "dir", "a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(src, "dir", "sub", "b"), []byte("bb"), 0o600)
	os.Symlink("a.txt", filepath.Join(src, "dir", "link"))
	os.WriteFile(filepath.Join(src, "file"), []byte("file"), 0o644)

	// archive is what a container would send for src/name: entries under
	// the base name.
	archive := func(name string) (io.Reader, bool) {
		p := filepath.Join(src, name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		go func() {
			_, err := writeLocalTar(pw, p, fi, filepath.Base(p), false)
			pw.CloseWithError(err)
		}()
		return pr, fi.IsDir()
	}
	tests := []struct {
		name     string
		src      string
		contents bool
		dst      func(dir string) string
		want     []string
		err      string
	}{
		{"dir into existing dir", "dir", false, func(d string) string { return d },
			[]string{"dir/", "dir/a.txt=a", "dir/link -> a.txt", "dir/sub/", "dir/sub/b=bb"}, ""},
		{"dir as new name", "dir", false, func(d string) string { return filepath.Join(d, "copy") },
			[]string{"copy/", "copy/a.txt=a", "copy/link -> a.txt", "copy/sub/", "copy/sub/b=bb"}, ""},
		{"dir contents", "dir", true, func(d string) string { return d },
			[]string{"a.txt=a", "link -> a.txt", "sub/", "sub/b=bb"}, ""},
		{"file into dir", "file", false, func(d string) string { return d }, []string{"file=file"}, ""},
		{"file as new name", "file", false, func(d string) string { return filepath.Join(d, "renamed") }, []string{"renamed=file"}, ""},
		{"file over file", "file", false, func(d string) string {
			os.WriteFile(filepath.Join(d, "old"), []byte("old"), 0o644)
			return filepath.Join(d, "old")
		}, []string{"old=file"}, ""},
		{"dir over file", "dir", false, func(d string) string {
			os.WriteFile(filepath.Join(d, "old"), []byte("old"), 0o644)
			return filepath.Join(d, "old")
		}, nil, "cannot copy a directory to the file"},
		{"file to missing dir", "file", false, func(d string) string { return filepath.Join(d, "nodir") + "/" }, nil, "does not exist"},
		{"missing parent", "file", false, func(d string) string { return filepath.Join(d, "no", "such") }, nil, "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := t.TempDir()
			r, isDir := archive(tt.src)
			n, err := extractLocal(context.Background(), r, filepath.Base(tt.src), isDir, tt.contents, tt.dst(dst), false)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("%v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := tree(t, dst)
			if tt.name == "file over file" {
				got = got[:1]
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if n == 0 {
				t.Errorf("copied size 0")
			}
			fi, err := os.Lstat(filepath.Join(dst, strings.TrimSuffix(tt.want[0], "/")))
			if err == nil && fi.Sys() != nil && fi.Mode()&os.ModeSymlink == 0 {
				if uid := fileUID(fi); uid != os.Getuid() {
					t.Errorf("owner %d, want the caller %d", uid, os.Getuid())
				}
			}
		})
	}
}

func fileUID(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// TestCpToContainer: where the local source lands in the container, per
// what the destination is there.
func TestCpToContainer(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "dir", "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "dir", "sub", "b"), []byte("bb"), 0o644)
	os.WriteFile(filepath.Join(src, "file"), []byte("file"), 0o644)
	dirStat := container.PathStat{Name: "tmp", Mode: os.ModeDir | 0o755}
	fileStat := container.PathStat{Name: "f", Mode: 0o644}
	tests := []struct {
		name    string
		args    []string
		path    string
		entries []string
		code    int
		stderr  string
	}{
		{"file into dir", []string{"cp", filepath.Join(src, "file"), "web:/tmp"}, "/tmp", []string{"file"}, 0, "Successfully copied 4B to web:/tmp\n"},
		{"file as new name", []string{"cp", filepath.Join(src, "file"), "web:/tmp/new"}, "/tmp", []string{"new"}, 0, "Successfully copied 4B to web:/tmp/new\n"},
		{"file over file", []string{"cp", "-q", filepath.Join(src, "file"), "web:/etc/f"}, "/etc", []string{"f"}, 0, ""},
		{"dir into dir", []string{"cp", "-a", filepath.Join(src, "dir"), "web:/tmp"}, "/tmp", []string{"dir/", "dir/sub/", "dir/sub/b"}, 0, "Successfully copied 2B to web:/tmp\n"},
		{"dir contents", []string{"cp", "-q", filepath.Join(src, "dir") + "/.", "web:/tmp"}, "/tmp", []string{"sub/", "sub/b"}, 0, ""},
		{"dir over file", []string{"cp", filepath.Join(src, "dir"), "web:/etc/f"}, "", nil, 1, "cannot copy directory"},
		{"missing source", []string{"cp", filepath.Join(src, "nope"), "web:/tmp"}, "", nil, 1, "no such file or directory"},
		{"stdin to a file", []string{"cp", "-", "web:/etc/f"}, "", nil, 1, "destination \"web:/etc/f\" must be a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{stats: map[string]container.PathStat{"/tmp": dirStat, "/etc/f": fileStat}}
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) || (tt.stderr == "" && r.stderr != "") {
				t.Fatalf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, tt.code, tt.stderr)
			}
			if tt.code != 0 {
				if len(f.copied) != 0 {
					t.Errorf("copied %+v", f.copied)
				}
				return
			}
			if len(f.copied) != 1 || f.copied[0].path != tt.path || strings.Join(f.copied[0].entries, ",") != strings.Join(tt.entries, ",") {
				t.Errorf("copied %+v, want %s %q", f.copied, tt.path, tt.entries)
			}
			if archive := strings.Contains(strings.Join(tt.args, " "), " -a "); f.copied[0].opts.CopyUIDGID != archive {
				t.Errorf("CopyUIDGID %v", f.copied[0].opts.CopyUIDGID)
			}
		})
	}
	// From the container to stdout: the tar as it came.
	f := &fakeAPI{fromTar: []byte("tar bytes"), fromStat: container.PathStat{Name: "etc", Mode: os.ModeDir}}
	if r := berth(t, f, "", "cp", "web:/etc", "-"); r.code != 0 || r.stdout != "tar bytes" {
		t.Errorf("cp to stdout: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
}
