package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"math/rand"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
)

// failingStore hands out writers whose Write fails, as on a full disk.
type failingStore struct{ *content.Local }

type failingWriter struct{ content.Writer }

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

func (s failingStore) Writer(ctx context.Context, ref string, desc ocispec.Descriptor) (content.Writer, error) {
	w, err := s.Local.Writer(ctx, ref, desc)
	if err != nil {
		return nil, err
	}
	return failingWriter{w}, nil
}

// TestImportWriteFailure: when the store refuses the layer, Import must
// not leave its compressing goroutine blocked on the pipe, nor the
// partial layer in the store's ingests.
func TestImportWriteFailure(t *testing.T) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	data := make([]byte, 8<<20)
	rand.New(rand.NewSource(1)).Read(data)
	tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()

	cs, err := content.NewLocal(filepath.Join(t.TempDir(), "content"))
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	if _, err := Import(context.Background(), failingStore{cs}, bytes.NewReader(raw.Bytes()), ImportOptions{}); err == nil {
		t.Fatal("Import succeeded with a store that cannot write")
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after a failed Import, %d before", n, before)
	}
}
