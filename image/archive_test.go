package image

import (
	"archive/tar"
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/content"
)

// TestSaveLayoutUnnamed: an image saved by ID (no names) must still be in
// the layout's index.json, as Save puts it in the archive's, or nothing
// can load it back.
func TestSaveLayoutUnnamed(t *testing.T) {
	ctx := context.Background()
	cs, err := content.NewLocal(filepath.Join(t.TempDir(), "content"))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	md, err := Import(ctx, cs, &raw, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		imgs []Named
		want int
	}{
		{"unnamed", []Named{{Target: md, Manifest: md}}, 1},
		{"named", []Named{{Names: []string{"docker.io/library/x:1"}, Target: md, Manifest: md}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := SaveLayout(ctx, cs, dir, tc.imgs); err != nil {
				t.Fatal(err)
			}
			// Twice: saving again must not list it twice.
			if err := SaveLayout(ctx, cs, dir, tc.imgs); err != nil {
				t.Fatal(err)
			}
			loaded, err := ReadLayout(ctx, cs, dir, HostPlatform())
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded) != tc.want {
				t.Fatalf("the layout holds %d images, want %d", len(loaded), tc.want)
			}
		})
	}
}
