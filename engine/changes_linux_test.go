package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/gate"
)

var fixedTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// mkTree makes entries under dir: "d/" a directory, "f" a file with
// content, "w" (content "\x00whiteout") a whiteout device, and every
// entry gets fixedTime, directories last.
func mkTree(t *testing.T, dir string, entries map[string]string) {
	t.Helper()
	var dirs []string
	for p, data := range entries {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case p[len(p)-1] == '/':
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
		case data == "\x00whiteout":
			if err := unix.Mknod(full, unix.S_IFCHR|0o600, 0); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(full, fixedTime, fixedTime)
		}
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for _, d := range dirs {
		os.Chtimes(d, fixedTime, fixedTime)
	}
}

func changeStrings(cs []container.FilesystemChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s %s", c.Kind, c.Path))
	}
	return out
}

func TestOverlayChanges(t *testing.T) {
	gate.Root(t) // whiteout devices and trusted.* xattrs
	lowerBottom, lowerTop, upper := t.TempDir(), t.TempDir(), t.TempDir()
	mkTree(t, lowerBottom, map[string]string{
		"bin/sh": "sh", "etc/passwd": "root", "etc/group": "g", "var/old/a": "a", "usr/gone/z": "z",
	})
	mkTree(t, lowerTop, map[string]string{
		"usr/gone": "\x00whiteout", "opt/tool": "t",
	})
	mkTree(t, upper, map[string]string{
		"bin/sh":      "\x00whiteout",
		"etc/passwd":  "root\napp",
		"etc/newfile": "n",
		"tmp/new":     "n",
		"var/old/b":   "b",
		"usr/gone/z":  "again",
	})
	if err := unix.Setxattr(filepath.Join(upper, "var/old"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	// /etc changed (a file was added to it); /bin, /var, /usr only hold changes.
	later := fixedTime.Add(time.Hour)
	os.Chtimes(filepath.Join(upper, "etc"), later, later)

	got, err := overlayChanges(upper, []string{lowerTop, lowerBottom})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"C /bin", "D /bin/sh",
		"C /etc", "A /etc/newfile", "C /etc/passwd",
		"A /tmp", "A /tmp/new",
		// Whited out in the top lower layer: new again in the container.
		"C /usr", "A /usr/gone", "A /usr/gone/z",
		"C /var", "D /var/old", "A /var/old/b",
	}
	if g := changeStrings(got); !slices.Equal(g, want) {
		t.Errorf("changes\n%q\nwant\n%q", g, want)
	}
}

func TestTreeChanges(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	mkTree(t, lower, map[string]string{"bin/sh": "sh", "etc/passwd": "root", "etc/group": "g", "var/log/": ""})
	mkTree(t, upper, map[string]string{"bin/sh": "sh", "etc/passwd": "root\napp", "etc/new": "n", "var/log/x": "x"})
	// var/log gained a file: its mtime moved, but a directory's times do
	// not count; /etc/group is gone.
	got, err := treeChanges(lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"C /etc", "A /etc/new", "C /etc/passwd", "D /etc/group", "C /var", "C /var/log", "A /var/log/x"}
	if g := changeStrings(got); !slices.Equal(g, want) {
		t.Errorf("changes %q, want %q", g, want)
	}
	all, err := treeChanges("", upper)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 8 || all[0].Kind != container.ChangeAdd {
		t.Errorf("against nothing: %q", changeStrings(all))
	}
}
