package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
)

// fakeRoot makes a container root with a few files, symlinks that point
// out of it, and a host directory outside with a secret in it.
func fakeRoot(t *testing.T) (root, outside string) {
	t.Helper()
	root, outside = t.TempDir(), t.TempDir()
	for p, data := range map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
		"etc/group":    "root:x:0:\napp:x:1001:\n",
		"dir/file":     "hello\n",
		"dir/sub/x":    "x\n",
		"file.txt":     "top\n",
		"etc/hostname": "ctr\n",
	} {
		writeTestFile(t, filepath.Join(root, p), data)
	}
	writeTestFile(t, filepath.Join(outside, "secret"), "secret\n")
	for link, target := range map[string]string{
		"dlink":       "dir",
		"abs-etc":     "/etc",
		"up-and-out":  "../../../../../../" + strings.TrimPrefix(outside, "/"),
		"host-abs":    outside,
		"dir/dangler": "/nowhere/at/all",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func writeTestFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindPathStat(t *testing.T) {
	root, _ := fakeRoot(t)
	for _, tc := range []struct {
		path       string
		name       string
		mode       fs.FileMode // type bits
		linkTarget string
		size       int64
		missing    bool
	}{
		{path: "/file.txt", name: "file.txt", size: 4},
		{path: "file.txt", name: "file.txt", size: 4},
		{path: "/", name: "/", mode: fs.ModeDir},
		{path: "/dir/", name: "dir", mode: fs.ModeDir},
		{path: "/dlink", name: "dlink", mode: fs.ModeSymlink, linkTarget: "/dir"},
		{path: "/dlink/", name: "dlink", mode: fs.ModeDir},
		{path: "/dlink/.", name: ".", mode: fs.ModeDir},
		{path: "/dlink/file", name: "file", size: 6},
		{path: "/abs-etc/hostname", name: "hostname", size: 4},
		{path: "/abs-etc", name: "abs-etc", mode: fs.ModeSymlink, linkTarget: "/etc"},
		{path: "/dir/dangler", name: "dangler", mode: fs.ModeSymlink, linkTarget: "/nowhere/at/all"},
		{path: "/up-and-out", name: "up-and-out", mode: fs.ModeSymlink},
		// What the links that lead out would reach on the host is not there.
		{path: "/up-and-out/secret", missing: true},
		{path: "/host-abs/secret", missing: true},
		{path: "/host-abs/", missing: true},
		{path: "/nope", missing: true},
		{path: "/file.txt/x", missing: true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			cp, err := findPath(root, "ctr", tc.path)
			if tc.missing {
				wantKind(t, err, KindNotFound, "Could not find the file "+tc.path+" in container ctr")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cp.close()
			st := cp.stat()
			if st.Name != tc.name || st.Mode.Type() != tc.mode || (tc.size > 0 && st.Size != tc.size) ||
				(tc.linkTarget != "" && st.LinkTarget != tc.linkTarget) {
				t.Errorf("stat %+v; want name %q type %v size %d link %q", st, tc.name, tc.mode, tc.size, tc.linkTarget)
			}
			if tc.mode == fs.ModeSymlink && strings.Contains(st.LinkTarget, "secret") {
				t.Errorf("link target %q names the host", st.LinkTarget)
			}
		})
	}
}

// tarNames lists a tar's entries as "name" or "name -> link".
func tarNames(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		n := h.Name
		if h.Linkname != "" {
			n += " -> " + h.Linkname
		}
		out = append(out, n)
	}
}

func TestWritePathTar(t *testing.T) {
	root, _ := fakeRoot(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/file.txt", []string{"file.txt"}},
		{"/dir", []string{"dir/", "dir/dangler -> /nowhere/at/all", "dir/file", "dir/sub/", "dir/sub/x"}},
		{"/dlink", []string{"dlink -> dir"}},
		{"/dlink/", []string{"dlink/", "dlink/dangler -> /nowhere/at/all", "dlink/file", "dlink/sub/", "dlink/sub/x"}},
		{"/dir/sub/.", []string{"./", "./x"}},
		{"/abs-etc/passwd", []string{"passwd"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			cp, err := findPath(root, "ctr", tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer cp.close()
			var buf bytes.Buffer
			if err := writePathTar(context.Background(), &buf, cp); err != nil {
				t.Fatal(err)
			}
			if got := tarNames(t, &buf); !slices.Equal(got, tc.want) {
				t.Errorf("entries %q, want %q", got, tc.want)
			}
		})
	}
}

// tarOf makes a tar of entries: name -> content ("/" suffix: directory,
// "-> target": symlink).
func tarOf(t *testing.T, entries ...[2]string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e[0], Mode: 0o644, Uid: 42, Gid: 43}
		switch {
		case strings.HasSuffix(e[0], "/"):
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case strings.HasPrefix(e[1], "-> "):
			h.Typeflag, h.Linkname = tar.TypeSymlink, strings.TrimPrefix(e[1], "-> ")
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e[1]))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e[1]))
		}
	}
	tw.Close()
	return &buf
}

func TestExtractTo(t *testing.T) {
	gate.Root(t) // the tar's owners are applied
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		dest  string
		tar   [][2]string
		o     CopyToOptions
		kind  Kind
		msg   string
		check map[string]string // path in root -> content ("" : must not exist)
		owner [2]int
	}{
		{name: "into a directory", dest: "/dir", tar: [][2]string{{"new.txt", "new"}, {"d/", ""}, {"d/y", "y"}},
			check: map[string]string{"dir/new.txt": "new", "dir/d/y": "y"}, owner: [2]int{42, 43}},
		{name: "through a symlink", dest: "/dlink", tar: [][2]string{{"via.txt", "via"}},
			check: map[string]string{"dir/via.txt": "via"}},
		{name: "absolute link resolves in the root", dest: "/abs-etc", tar: [][2]string{{"motd", "m"}},
			check: map[string]string{"etc/motd": "m"}},
		{name: "dot-dot names stay inside", dest: "/dir", tar: [][2]string{{"../../../../escape.txt", "e"}},
			check: map[string]string{"dir/escape.txt": "e", "escape.txt": ""}},
		{name: "a symlink in the tar does not lead out", dest: "/dir",
			tar:   [][2]string{{"evil", "-> /"}, {"evil/planted", "p"}},
			check: map[string]string{"dir/planted": "p"}},
		{name: "copy uid gid", dest: "/dir", o: CopyToOptions{CopyUIDGID: true}, tar: [][2]string{{"mine", "m"}},
			check: map[string]string{"dir/mine": "m"}, owner: [2]int{1000, 1001}},
		{name: "not a directory", dest: "/file.txt", tar: [][2]string{{"x", "x"}}, kind: KindInvalid, msg: "extraction point is not a directory"},
		{name: "missing", dest: "/nope", tar: [][2]string{{"x", "x"}}, kind: KindNotFound, msg: "Could not find the file /nope in container ctr"},
		{name: "link to the host", dest: "/host-abs", tar: [][2]string{{"x", "x"}}, kind: KindNotFound},
		{name: "directory over file", dest: "/", tar: [][2]string{{"file.txt/", ""}}, kind: KindInvalid,
			msg: `cannot overwrite non-directory "/file.txt" with directory "/"`},
		{name: "file over directory", dest: "/", tar: [][2]string{{"dir", "flat"}}, kind: KindInvalid,
			msg: `cannot overwrite directory "/dir" with non-directory "/"`},
		{name: "file over directory allowed", dest: "/", o: CopyToOptions{AllowOverwriteDirWithFile: true},
			tar: [][2]string{{"dir", "flat"}}, check: map[string]string{"dir": "flat"}},
		{name: "whiteout name", dest: "/dir", tar: [][2]string{{".wh.file", ""}}, kind: KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, outside := fakeRoot(t)
			err := extractTo(ctx, root, "ctr", tc.dest, tarOf(t, tc.tar...), tc.o, "app")
			if tc.kind != 0 {
				wantKind(t, err, tc.kind, tc.msg)
				if _, err := os.Stat(filepath.Join(root, "dir", "file")); tc.kind != 0 && err != nil {
					t.Errorf("a refused copy changed the container: %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			for p, want := range tc.check {
				b, err := os.ReadFile(filepath.Join(root, p))
				switch {
				case want == "" && err == nil:
					t.Errorf("%s exists", p)
				case want != "" && (err != nil || string(b) != want):
					t.Errorf("%s: %q, %v; want %q", p, b, err, want)
				}
			}
			if tc.owner != [2]int{} {
				for p := range tc.check {
					var st = statOwner(t, filepath.Join(root, p))
					if st != tc.owner {
						t.Errorf("%s owned by %v, want %v", p, st, tc.owner)
					}
				}
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Errorf("the host directory outside the root changed: %v", ents)
			}
		})
	}
}

func statOwner(t *testing.T, p string) [2]int {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return [2]int{int(st.Uid), int(st.Gid)}
}

func TestContainerFilesystem(t *testing.T) {
	e := newTestEngine(t, false)
	id := startSleeper(t, e, container.Config{})
	outside := t.TempDir()
	writeTestFile(t, filepath.Join(outside, "secret"), "host secret\n")
	script := "echo new > /tmp/new; echo changed >> /etc/group; rm /bin/yes; mkdir /newdir; touch /newdir/f; " +
		"ln -s " + outside + " /tmp/hostlink; ln -s ../../../../../../../.." + outside + " /tmp/uplink"
	if _, errOut, code := execRun(t, e, id, container.ExecCreateRequest{Cmd: []string{"sh", "-c", script}}, ""); code != 0 {
		t.Fatalf("making changes: %d %s", code, errOut)
	}

	t.Run("changes", func(t *testing.T) {
		cs, err := e.ContainerChanges(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		got := changeStrings(cs)
		for _, want := range []string{"C /bin", "D /bin/yes", "C /etc/group", "A /newdir", "A /newdir/f", "C /tmp", "A /tmp/new", "A /tmp/hostlink"} {
			if !slices.Contains(got, want) {
				t.Errorf("changes %q lack %q", got, want)
			}
		}
	})

	t.Run("export", func(t *testing.T) {
		r, err := e.ContainerExport(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		names := tarNames(t, r)
		r.Close()
		for _, want := range []string{"tmp/new", "newdir/f", "bin/busybox"} {
			if !slices.ContainsFunc(names, func(n string) bool { return strings.TrimSuffix(n, "/") == want }) {
				t.Errorf("export lacks %s", want)
			}
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "bin/yes") }) {
			t.Error("export has the deleted /bin/yes")
		}
	})

	t.Run("copy out", func(t *testing.T) {
		r, st, err := e.CopyFromContainer(ctx(t), id, "/etc/group")
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(r)
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		r.Close()
		if h.Name != "group" || string(b) != imagetest.Group+"changed\n" || st.Name != "group" || st.Size != int64(len(b)) {
			t.Errorf("copy out: %q %q %+v", h.Name, b, st)
		}
		st, err = e.ContainerStatPath(ctx(t), id, "/tmp/hostlink")
		if err != nil || st.Mode&fs.ModeSymlink == 0 || st.LinkTarget != outside {
			t.Errorf("stat of a link: %+v %v", st, err)
		}
		for _, p := range []string{"/tmp/hostlink/secret", "/tmp/uplink/secret", "/tmp/hostlink/"} {
			_, _, err := e.CopyFromContainer(ctx(t), id, p)
			wantKind(t, err, KindNotFound, "Could not find the file "+p+" in container "+id)
		}
	})

	t.Run("copy in", func(t *testing.T) {
		if err := e.CopyToContainer(ctx(t), id, "/tmp", tarOf(t, [2]string{"in.txt", "copied in"}), CopyToOptions{}); err != nil {
			t.Fatal(err)
		}
		if out, _, _ := execRun(t, e, id, container.ExecCreateRequest{Cmd: []string{"cat", "/tmp/in.txt"}}, ""); out != "copied in" {
			t.Errorf("the container reads %q", out)
		}
		for _, p := range []string{"/tmp/hostlink", "/tmp/uplink"} {
			err := e.CopyToContainer(ctx(t), id, p, tarOf(t, [2]string{"planted", "x"}), CopyToOptions{})
			wantKind(t, err, KindNotFound, "Could not find the file "+p+" in container "+id)
		}
		// A tar whose symlink points out, then a file through it.
		err := e.CopyToContainer(ctx(t), id, "/tmp", tarOf(t, [2]string{"out", "-> " + outside}, [2]string{"out/planted", "x"}), CopyToOptions{})
		if err != nil {
			t.Logf("copy of a tar that goes through its own link: %v", err)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 1 {
			t.Errorf("the host directory changed: %v", ents)
		}
	})

	t.Run("stopped", func(t *testing.T) {
		stopped := create(t, e, "", container.Config{}, container.HostConfig{}, "cat", "/tmp/in.txt")
		if err := e.CopyToContainer(ctx(t), stopped, "/tmp", tarOf(t, [2]string{"in.txt", "before start"}), CopyToOptions{}); err != nil {
			t.Fatal(err)
		}
		st, err := e.ContainerStatPath(ctx(t), stopped, "/tmp/in.txt")
		if err != nil || st.Size != int64(len("before start")) {
			t.Errorf("stat: %+v %v", st, err)
		}
		cs, err := e.ContainerChanges(ctx(t), stopped)
		if err != nil || !slices.Contains(changeStrings(cs), "A /tmp/in.txt") {
			t.Errorf("changes %q %v", changeStrings(cs), err)
		}
		for _, m := range mountsUnder(t, filepath.Join(e.opts.Root, "containers", stopped)) {
			t.Errorf("left mounted: %s", m)
		}
		ro := create(t, e, "", container.Config{}, container.HostConfig{ReadonlyRootfs: true}, "true")
		err = e.CopyToContainer(ctx(t), ro, "/tmp", tarOf(t, [2]string{"x", "x"}), CopyToOptions{})
		wantKind(t, err, KindInvalid, "container rootfs is marked read-only")
	})
}
