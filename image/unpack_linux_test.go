package image

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/layer"
	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/snapshot"
)

// layerBlob stores a gzip layer of files and returns it with its diff ID.
func layerBlob(t *testing.T, cs content.Store, files map[string]string) Layer {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	var gz bytes.Buffer
	zw, _ := layer.Compress(&gz, layer.Gzip)
	zw.Write(raw.Bytes())
	zw.Close()
	desc, err := content.WriteBytes(context.Background(), cs, ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return Layer{Blob: desc, DiffID: digest.FromBytes(raw.Bytes())}
}

func TestUnpack(t *testing.T) {
	gate.Root(t)
	for _, driver := range []string{"overlay", "copy"} {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			cs, _ := content.NewLocal(filepath.Join(dir, "content"))
			var sn snapshot.Snapshotter
			var err error
			if driver == "overlay" {
				sn, err = snapshot.NewOverlay(filepath.Join(dir, "sn"))
			} else {
				sn, err = snapshot.NewCopy(filepath.Join(dir, "sn"))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer sn.Close()
			l1 := layerBlob(t, cs, map[string]string{"a": "one", "b": "b"})
			l2 := layerBlob(t, cs, map[string]string{"a": "two"})
			chain, size, err := Unpack(ctx, cs, sn, []Layer{l1, l2}, UnpackOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if chain != ChainID([]Layer{l1, l2}) || size != 7 {
				t.Fatalf("chain %s size %d", chain, size)
			}
			ms, err := sn.View(ctx, "view", chain.String())
			if err != nil {
				t.Fatal(err)
			}
			target := t.TempDir()
			if err := mount.All(ms, target); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(target, "a"))
			b2, _ := os.ReadFile(filepath.Join(target, "b"))
			mount.Unmount(target)
			if string(b) != "two" || string(b2) != "b" {
				t.Fatalf("a=%q b=%q", b, b2)
			}
			sn.Remove(ctx, "view")

			// Unpacked again: every layer is already there.
			var seen []string
			if _, size2, err := Unpack(ctx, cs, sn, []Layer{l1, l2}, UnpackOptions{
				Progress: func(_ digest.Digest, status string, _, _ int64) { seen = append(seen, status) },
			}); err != nil || size2 != size {
				t.Fatalf("second unpack: %d %v", size2, err)
			}
			if strings.Join(seen, ",") != "Already exists,Already exists" {
				t.Fatalf("second unpack reported %v", seen)
			}

			// A layer whose content does not match its diff ID: an error,
			// and no snapshot, committed or half-made, stays.
			bad := layerBlob(t, cs, map[string]string{"c": "c"})
			bad.DiffID = digest.FromString("not it")
			_, _, err = Unpack(ctx, cs, sn, []Layer{l1, bad}, UnpackOptions{})
			if err == nil || !strings.Contains(err.Error(), "diff_id") {
				t.Fatalf("bad diff ID: %v", err)
			}
			n := 0
			sn.Walk(ctx, func(i snapshot.Info) error { n++; return nil })
			if n != 2 {
				t.Fatalf("%d snapshots after a failed unpack, want the 2 good ones", n)
			}
		})
	}
}
