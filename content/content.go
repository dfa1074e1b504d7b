package content

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Sentinel errors; every error the store returns wraps one of them where it
// applies, naming the operation and the blob.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrInvalid       = errors.New("invalid")
)

// Info describes a committed blob.
type Info struct {
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
}

// ReaderAt reads a committed blob.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Writer writes one blob. Nothing written is visible to Info, ReaderAt or
// Walk until Commit has checked it. Close without Commit keeps what was
// written, so that a Writer opened later for the same reference resumes at
// Offset.
type Writer interface {
	io.WriteCloser
	// Digest is the digest of the bytes written so far.
	Digest() digest.Digest
	// Offset is the number of bytes written so far, including those of an
	// earlier, interrupted writer of the same reference.
	Offset() int64
	// Truncate discards what was written and starts again at offset 0.
	Truncate() error
	// Commit checks that exactly size bytes (when size > 0) with the
	// expected digest (when not empty) were written and makes the blob
	// visible. A mismatch discards the data and returns an error wrapping
	// ErrInvalid; a blob that is already present returns ErrAlreadyExists.
	Commit(ctx context.Context, size int64, expected digest.Digest) error
}

// Store is a content-addressed blob store.
type Store interface {
	Info(ctx context.Context, dgst digest.Digest) (Info, error)
	ReaderAt(ctx context.Context, dgst digest.Digest) (ReaderAt, error)
	// Writer opens the write of reference ref, a name the caller chooses
	// for one blob (a pull uses the blob's digest). desc, when its digest
	// is set, names what the write will be: if that blob is already
	// present, Writer returns ErrAlreadyExists at once. A second Writer of
	// the same ref waits until the first is closed or committed, or until
	// ctx ends.
	Writer(ctx context.Context, ref string, desc ocispec.Descriptor) (Writer, error)
	Delete(ctx context.Context, dgst digest.Digest) error
	Walk(ctx context.Context, fn func(Info) error) error
}

// Aborter is a Store that can discard an unfinished write, for writers
// that will never resume (an import of a stream that failed).
type Aborter interface {
	Abort(ctx context.Context, ref string) error
}

// MaxInline is the largest blob ReadBlob reads into memory: manifests,
// indexes and configs are far below it, so anything larger is refused as
// malformed before it costs memory.
const MaxInline = 4 << 20

// ReadBlob reads a whole committed blob described by desc, checking its
// size against desc and refusing blobs over MaxInline.
func ReadBlob(ctx context.Context, s Store, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > MaxInline {
		return nil, fmt.Errorf("read %s: size %d is over the %d byte limit: %w", desc.Digest, desc.Size, MaxInline, ErrInvalid)
	}
	ra, err := s.ReaderAt(ctx, desc.Digest)
	if err != nil {
		return nil, err
	}
	defer ra.Close()
	if desc.Size > 0 && ra.Size() != desc.Size {
		return nil, fmt.Errorf("read %s: size is %d, descriptor says %d: %w", desc.Digest, ra.Size(), desc.Size, ErrInvalid)
	}
	if ra.Size() > MaxInline {
		return nil, fmt.Errorf("read %s: size %d is over the %d byte limit: %w", desc.Digest, ra.Size(), MaxInline, ErrInvalid)
	}
	b := make([]byte, ra.Size())
	if _, err := ra.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && len(b) == 0) {
		return nil, fmt.Errorf("read %s: %w", desc.Digest, err)
	}
	return b, nil
}

// WriteBlob stores the blob desc from r, verifying size and digest. A blob
// already present is not an error (and r is not read). An interrupted
// earlier write of the same blob is resumed when r is an io.Seeker;
// otherwise it starts again.
func WriteBlob(ctx context.Context, s Store, r io.Reader, desc ocispec.Descriptor) error {
	w, err := s.Writer(ctx, desc.Digest.String(), desc)
	if errors.Is(err, ErrAlreadyExists) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	if off := w.Offset(); off > 0 {
		seeker, ok := r.(io.Seeker)
		if !ok {
			if err := w.Truncate(); err != nil {
				return err
			}
		} else if _, err := seeker.Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("write %s: resume at %d: %w", desc.Digest, off, err)
		}
	}
	if _, err := io.CopyBuffer(w, r, make([]byte, 1<<20)); err != nil {
		return fmt.Errorf("write %s: %w", desc.Digest, err)
	}
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil && !errors.Is(err, ErrAlreadyExists) {
		return err
	}
	return nil
}

// WriteBytes stores b as a blob and returns its descriptor with the given
// media type.
func WriteBytes(ctx context.Context, s Store, mediaType string, b []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	return desc, WriteBlob(ctx, s, bytes.NewReader(b), desc)
}
