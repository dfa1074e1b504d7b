package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/gate"
)

// TestOverlay mounts an overlay of few layers through mount(2) and one of
// many (past the one-page limit) through the fs_context API, and reads the
// top file of each.
func TestOverlay(t *testing.T) {
	gate.Root(t)
	for _, n := range []int{2, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			var lowers []string
			for i := 0; i < n; i++ {
				l := filepath.Join(dir, fmt.Sprintf("a-rather-long-layer-directory-name-%04d", i))
				os.MkdirAll(l, 0o755)
				os.WriteFile(filepath.Join(l, "f"), []byte(fmt.Sprint(i)), 0o644)
				lowers = append([]string{l}, lowers...)
			}
			upper, work, target := filepath.Join(dir, "u"), filepath.Join(dir, "w"), filepath.Join(dir, "t")
			for _, d := range []string{upper, work, target} {
				os.Mkdir(d, 0o755)
			}
			m := Mount{Type: "overlay", Source: "overlay", Options: []string{
				"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + upper, "workdir=" + work, "index=off"}}
			if err := All([]Mount{m}, target); err != nil {
				t.Fatal(err)
			}
			defer Unmount(target)
			b, err := os.ReadFile(filepath.Join(target, "f"))
			if err != nil || string(b) != fmt.Sprint(n-1) {
				t.Fatalf("read top file: %q %v", b, err)
			}
			if err := Unmount(target); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(target, "f")); !os.IsNotExist(err) {
				t.Fatalf("still mounted: %v", err)
			}
		})
	}
}

func TestBindReadOnly(t *testing.T) {
	gate.Root(t)
	src, target := t.TempDir(), t.TempDir()
	m := Mount{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}
	if err := m.Mount(target); err != nil {
		t.Fatal(err)
	}
	defer Unmount(target)
	if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err == nil {
		t.Fatal("wrote through a read-only bind mount")
	}
}
