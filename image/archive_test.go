package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

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

// TestReadLayoutRefusesSpecialFiles: a blob in a layout directory that is
// a FIFO or a symlink to a device is refused instead of read forever.
func TestReadLayoutRefusesSpecialFiles(t *testing.T) {
	for _, kind := range []string{"fifo", "device"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			cs, err := content.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			d := digest.FromString("anything")
			blob := filepath.Join(dir, "blobs", "sha256", d.Encoded())
			os.MkdirAll(filepath.Dir(blob), 0o755)
			if kind == "fifo" {
				if err := unix.Mkfifo(blob, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Symlink("/dev/zero", blob); err != nil {
				t.Fatal(err)
			}
			idx := ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 100}}}
			idx.SchemaVersion = 2
			b, _ := json.Marshal(idx)
			os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
			os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
			done := make(chan error, 1)
			go func() {
				_, err := ReadLayout(context.Background(), cs, dir, HostPlatform())
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("a layout whose blob is not a regular file loaded")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("ReadLayout hung on a special file")
			}
		})
	}
}
