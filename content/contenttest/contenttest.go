// Package contenttest is the conformance suite every content.Store passes.
package contenttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
)

// Run runs the suite; newStore makes an empty store in a fresh root, or
// reopens the store at root when it is given the same one again.
func Run(t *testing.T, newStore func(t *testing.T, root string) content.Store) {
	blob := bytes.Repeat([]byte("berth content "), 100000) // 1.4 MB
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	ctx := context.Background()

	t.Run("CommitMakesVisible", func(t *testing.T) {
		s := newStore(t, t.TempDir())
		w, err := s.Writer(ctx, "ref", desc)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(blob[:1000])
		if _, err := s.Info(ctx, desc.Digest); !errors.Is(err, content.ErrNotFound) {
			t.Fatalf("blob visible before commit: %v", err)
		}
		w.Write(blob[1000:])
		if w.Digest() != desc.Digest || w.Offset() != desc.Size {
			t.Fatalf("writer says %s/%d, want %s/%d", w.Digest(), w.Offset(), desc.Digest, desc.Size)
		}
		if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, desc.Digest)
		if err != nil || info.Size != desc.Size {
			t.Fatalf("info after commit: %+v %v", info, err)
		}
		got, err := content.ReadBlob(ctx, s, desc)
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("read back %d bytes: %v", len(got), err)
		}
		if _, err := s.Writer(ctx, "other", desc); !errors.Is(err, content.ErrAlreadyExists) {
			t.Fatalf("writer of a present blob: %v, want ErrAlreadyExists", err)
		}
	})

	bad := []struct {
		name  string
		data  []byte
		size  int64
		dgst  digest.Digest
		wants string
	}{
		{"WrongDigest", blob, desc.Size, digest.FromString("something else"), "digest mismatch"},
		{"Truncated", blob[:len(blob)/2], desc.Size, desc.Digest, "expected"},
		{"TooLong", append(append([]byte{}, blob...), 'x'), desc.Size, desc.Digest, "expected"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, t.TempDir())
			w, err := s.Writer(ctx, "ref", ocispec.Descriptor{Digest: tc.dgst, Size: tc.size})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(tc.data)
			err = w.Commit(ctx, tc.size, tc.dgst)
			if !errors.Is(err, content.ErrInvalid) || !bytes.Contains([]byte(err.Error()), []byte(tc.wants)) {
				t.Fatalf("commit: %v, want ErrInvalid mentioning %q", err, tc.wants)
			}
			n := 0
			s.Walk(ctx, func(content.Info) error { n++; return nil })
			if n != 0 {
				t.Fatalf("%d blobs visible after a failed commit", n)
			}
			// The bad data is gone: a new write starts at 0.
			w, err = s.Writer(ctx, "ref", ocispec.Descriptor{Digest: tc.dgst, Size: tc.size})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if w.Offset() != 0 {
				t.Fatalf("a failed commit left %d bytes to resume", w.Offset())
			}
		})
	}

	t.Run("Resume", func(t *testing.T) {
		root := t.TempDir()
		s := newStore(t, root)
		w, err := s.Writer(ctx, "ref", desc)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(blob[:500000])
		w.Close()
		s = newStore(t, root) // as after a restart
		w, err = s.Writer(ctx, "ref", desc)
		if err != nil {
			t.Fatal(err)
		}
		if w.Offset() != 500000 {
			t.Fatalf("resumed at %d, want 500000", w.Offset())
		}
		w.Write(blob[500000:])
		if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
			t.Fatal(err)
		}
		// A different expected blob under the same ref does not resume.
		other := ocispec.Descriptor{Digest: digest.FromString("x"), Size: 1}
		third := ocispec.Descriptor{Digest: digest.FromString("y"), Size: 1}
		w, err = s.Writer(ctx, "ref2", third)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("y"))
		w.Close()
		w, err = s.Writer(ctx, "ref2", other)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if w.Offset() != 0 {
			t.Fatalf("resumed a write of another blob at %d", w.Offset())
		}
	})

	t.Run("ResumeWithWriteBlob", func(t *testing.T) {
		s := newStore(t, t.TempDir())
		w, _ := s.Writer(ctx, desc.Digest.String(), desc)
		w.Write(blob[:123457])
		w.Close()
		if err := content.WriteBlob(ctx, s, bytes.NewReader(blob), desc); err != nil {
			t.Fatal(err)
		}
		if err := content.WriteBlob(ctx, s, bytes.NewReader(nil), desc); err != nil {
			t.Fatalf("second write of a present blob: %v", err)
		}
		got, err := content.ReadBlob(ctx, s, desc)
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("read back: %v", err)
		}
	})

	t.Run("ConcurrentSameBlob", func(t *testing.T) {
		s := newStore(t, t.TempDir())
		var wg sync.WaitGroup
		var committed, existed atomic.Int32
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, err := s.Writer(ctx, "same", desc)
				if errors.Is(err, content.ErrAlreadyExists) {
					existed.Add(1)
					return
				}
				if err != nil {
					errs <- err
					return
				}
				// Write in pieces so that writers overlap in time.
				for off := 0; off < len(blob); off += 100000 {
					w.Write(blob[off:min(off+100000, len(blob))])
					time.Sleep(time.Millisecond)
				}
				if err := w.Commit(ctx, desc.Size, desc.Digest); errors.Is(err, content.ErrAlreadyExists) {
					existed.Add(1)
				} else if err != nil {
					errs <- err
				} else {
					committed.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if committed.Load() != 1 || existed.Load() != 7 {
			t.Fatalf("%d commits and %d already-exists, want 1 and 7", committed.Load(), existed.Load())
		}
		got, err := content.ReadBlob(ctx, s, desc)
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("read back: %v", err)
		}
	})

	t.Run("WaitingWriterHonoursContext", func(t *testing.T) {
		s := newStore(t, t.TempDir())
		w, err := s.Writer(ctx, "held", desc)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := s.Writer(cctx, "held", desc); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second writer: %v, want a context error", err)
		}
	})

	t.Run("DeleteAndWalk", func(t *testing.T) {
		s := newStore(t, t.TempDir())
		var want []digest.Digest
		for i := 0; i < 5; i++ {
			d, err := content.WriteBytes(ctx, s, "text/plain", []byte(fmt.Sprint("blob ", i)))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, d.Digest)
		}
		seen := map[digest.Digest]bool{}
		if err := s.Walk(ctx, func(i content.Info) error { seen[i.Digest] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		for _, d := range want {
			if !seen[d] {
				t.Fatalf("walk missed %s", d)
			}
		}
		if err := s.Delete(ctx, want[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Info(ctx, want[0]); !errors.Is(err, content.ErrNotFound) {
			t.Fatalf("info after delete: %v", err)
		}
		if err := s.Delete(ctx, want[0]); !errors.Is(err, content.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := s.ReaderAt(ctx, want[0]); !errors.Is(err, content.ErrNotFound) {
			t.Fatalf("reader of a deleted blob: %v", err)
		}
	})

	t.Run("InvalidDigest", func(t *testing.T) {
		s := newStore(t, t.TempDir())
		for _, d := range []digest.Digest{"sha256:short", "../../etc/passwd", "sha256:../../../../etc/passwd"} {
			if _, err := s.Info(ctx, d); !errors.Is(err, content.ErrInvalid) {
				t.Errorf("info %q: %v, want ErrInvalid", d, err)
			}
		}
	})

	t.Run("ReadBlobLimit", func(t *testing.T) {
		s := newStore(t, t.TempDir())
		big := ocispec.Descriptor{Digest: desc.Digest, Size: content.MaxInline + 1}
		if _, err := content.ReadBlob(ctx, s, big); !errors.Is(err, content.ErrInvalid) {
			t.Fatalf("read of an oversized descriptor: %v", err)
		}
	})

}
