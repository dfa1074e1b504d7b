package content

import (
	"context"
	"crypto/sha256"
	_ "crypto/sha512" // registers sha512 digests with go-digest
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Local is a Store in a directory.
//
// Its writers hash as they write, with the algorithm of the digest the
// Writer was opened with (sha256 when none was given). A Commit that
// expects a digest of another algorithm (a registry upload that learns its
// sha512 name only at the end) reads the data once more to verify it.
type Local struct {
	root string
}

var (
	_ Store   = (*Local)(nil)
	_ Aborter = (*Local)(nil)
)

// NewLocal opens (creating if needed) the store under root.
func NewLocal(root string) (*Local, error) {
	for _, d := range []string{filepath.Join(root, "blobs"), filepath.Join(root, "ingest")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open content store: %w", err)
		}
	}
	return &Local{root: root}, nil
}

// Root is the store's directory.
func (s *Local) Root() string { return s.root }

// BlobPath is where the blob dgst lives once committed.
func (s *Local) BlobPath(dgst digest.Digest) (string, error) {
	if err := dgst.Validate(); err != nil {
		return "", fmt.Errorf("blob %q: %w: %v", dgst, ErrInvalid, err)
	}
	return filepath.Join(s.root, "blobs", dgst.Algorithm().String(), dgst.Encoded()), nil
}

func (s *Local) Info(ctx context.Context, dgst digest.Digest) (Info, error) {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, fmt.Errorf("blob %s: %w", dgst, ErrNotFound)
		}
		return Info{}, fmt.Errorf("blob %s: %w", dgst, err)
	}
	return Info{Digest: dgst, Size: fi.Size(), CreatedAt: fi.ModTime()}, nil
}

type fileReaderAt struct {
	*os.File
	size int64
}

func (f fileReaderAt) Size() int64 { return f.size }

func (s *Local) ReaderAt(ctx context.Context, dgst digest.Digest) (ReaderAt, error) {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("blob %s: %w", dgst, ErrNotFound)
		}
		return nil, fmt.Errorf("blob %s: %w", dgst, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob %s: %w", dgst, err)
	}
	return fileReaderAt{f, fi.Size()}, nil
}

func (s *Local) Delete(ctx context.Context, dgst digest.Digest) error {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete blob %s: %w", dgst, ErrNotFound)
		}
		return fmt.Errorf("delete blob %s: %w", dgst, err)
	}
	return nil
}

func (s *Local) Walk(ctx context.Context, fn func(Info) error) error {
	algs, err := os.ReadDir(filepath.Join(s.root, "blobs"))
	if err != nil {
		return fmt.Errorf("walk content store: %w", err)
	}
	for _, a := range algs {
		alg := digest.Algorithm(a.Name())
		if !alg.Available() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(s.root, "blobs", a.Name()))
		if err != nil {
			return fmt.Errorf("walk content store: %w", err)
		}
		for _, e := range ents {
			dgst := digest.NewDigestFromEncoded(alg, e.Name())
			if dgst.Validate() != nil {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // deleted while walking
			}
			if err := fn(Info{Digest: dgst, Size: fi.Size(), CreatedAt: fi.ModTime()}); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// ingestMeta is what an ingest remembers besides its data, so that a
// resumed write knows what it was writing.
type ingestMeta struct {
	Ref       string        `json:"ref"`
	Expected  digest.Digest `json:"expected,omitempty"`
	Total     int64         `json:"total,omitempty"`
	StartedAt time.Time     `json:"startedAt"`
}

func (s *Local) ingestDir(ref string) string {
	h := sha256.Sum256([]byte(ref))
	return filepath.Join(s.root, "ingest", hex.EncodeToString(h[:]))
}

// lockPoll is how often a waiting Writer retries the ingest lock.
const lockPoll = 10 * time.Millisecond

func (s *Local) Writer(ctx context.Context, ref string, desc ocispec.Descriptor) (Writer, error) {
	if ref == "" {
		return nil, fmt.Errorf("open writer: empty reference: %w", ErrInvalid)
	}
	if desc.Digest != "" {
		if err := desc.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("open writer %s: %w: %v", ref, ErrInvalid, err)
		}
		if _, err := s.Info(ctx, desc.Digest); err == nil {
			return nil, fmt.Errorf("blob %s: %w", desc.Digest, ErrAlreadyExists)
		}
	}
	dir := s.ingestDir(ref)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open writer %s: %w", ref, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// Another writer's commit removed the directory just after we
		// made it: make it again.
		return s.Writer(ctx, ref, desc)
	}
	if err != nil {
		return nil, fmt.Errorf("open writer %s: %w", ref, err)
	}
	// flock, not an in-process mutex: the holder may be another berth
	// process, and the kernel releases it if that process dies.
	for {
		err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			lock.Close()
			return nil, fmt.Errorf("open writer %s: lock: %w", ref, err)
		}
		select {
		case <-ctx.Done():
			lock.Close()
			return nil, fmt.Errorf("open writer %s: waiting for another writer: %w", ref, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
	// The lock holder may have removed the directory after its commit;
	// a lock on an unlinked file guards nothing, so start over.
	if fi, err := os.Stat(filepath.Join(dir, "lock")); err != nil || !sameFile(fi, lock) {
		lock.Close()
		return s.Writer(ctx, ref, desc)
	}
	w := &localWriter{s: s, ref: ref, dir: dir, lock: lock, desc: desc}
	if err := w.open(ctx); err != nil {
		w.release()
		return nil, err
	}
	return w, nil
}

func sameFile(fi fs.FileInfo, f *os.File) bool {
	fi2, err := f.Stat()
	return err == nil && os.SameFile(fi, fi2)
}

type localWriter struct {
	s      *Local
	ref    string
	dir    string
	lock   *os.File
	desc   ocispec.Descriptor
	data   *os.File
	digest digest.Digester
	offset int64
	done   bool
}

func (w *localWriter) open(ctx context.Context) error {
	// Someone may have committed the blob while we waited for the lock.
	if w.desc.Digest != "" {
		if _, err := w.s.Info(ctx, w.desc.Digest); err == nil {
			return fmt.Errorf("blob %s: %w", w.desc.Digest, ErrAlreadyExists)
		}
	}
	meta := ingestMeta{Ref: w.ref, Expected: w.desc.Digest, Total: w.desc.Size, StartedAt: time.Now().UTC()}
	resume := false
	if b, err := os.ReadFile(filepath.Join(w.dir, "meta.json")); err == nil {
		var old ingestMeta
		if json.Unmarshal(b, &old) == nil && old.Ref == w.ref && old.Expected == meta.Expected && old.Total == meta.Total {
			resume, meta = true, old
		}
	}
	alg := digest.Canonical
	if w.desc.Digest != "" {
		alg = w.desc.Digest.Algorithm()
	}
	w.digest = alg.Digester()
	f, err := os.OpenFile(filepath.Join(w.dir, "data"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open writer %s: %w", w.ref, err)
	}
	w.data = f
	if resume {
		// Rehash what is there: cheaper to keep correct than a saved
		// hash state, and it reads at disk speed.
		n, err := io.CopyBuffer(w.digest.Hash(), f, make([]byte, 1<<20))
		if err != nil {
			return fmt.Errorf("open writer %s: resume: %w", w.ref, err)
		}
		w.offset = n
		if meta.Total > 0 && n > meta.Total {
			return w.Truncate()
		}
		return nil
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("open writer %s: %w", w.ref, err)
	}
	b, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(w.dir, "meta.json"), b, 0o600); err != nil {
		return fmt.Errorf("open writer %s: %w", w.ref, err)
	}
	return nil
}

func (w *localWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write %s: writer is closed", w.ref)
	}
	n, err := w.data.Write(p)
	w.digest.Hash().Write(p[:n])
	w.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", w.ref, err)
	}
	return n, nil
}

func (w *localWriter) Digest() digest.Digest { return w.digest.Digest() }
func (w *localWriter) Offset() int64         { return w.offset }

func (w *localWriter) Truncate() error {
	if err := w.data.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", w.ref, err)
	}
	if _, err := w.data.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("truncate %s: %w", w.ref, err)
	}
	w.digest.Hash().Reset()
	w.offset = 0
	return nil
}

func (w *localWriter) Commit(ctx context.Context, size int64, expected digest.Digest) error {
	if w.done {
		return fmt.Errorf("commit %s: writer is closed", w.ref)
	}
	defer w.release()
	got := w.digest.Digest()
	if size > 0 && w.offset != size {
		w.discard()
		return fmt.Errorf("commit %s: wrote %d bytes, expected %d: %w", w.ref, w.offset, size, ErrInvalid)
	}
	if expected != "" && expected.Algorithm() != got.Algorithm() {
		// A writer that did not know its digest up front (a registry
		// upload) hashed with the canonical algorithm; the blob's name
		// is in another one, so read the data once more to verify it.
		d, err := w.rehash(expected.Algorithm())
		if err != nil {
			w.discard()
			return err
		}
		got = d
	}
	if expected != "" && got != expected {
		w.discard()
		return fmt.Errorf("commit %s: digest mismatch: expected %s, got %s: %w", w.ref, expected, got, ErrInvalid)
	}
	if err := w.data.Sync(); err != nil {
		return fmt.Errorf("commit %s: %w", w.ref, err)
	}
	if err := w.data.Chmod(0o444); err != nil {
		return fmt.Errorf("commit %s: %w", w.ref, err)
	}
	target, err := w.s.BlobPath(got)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return fmt.Errorf("commit %s: %w", w.ref, err)
	}
	if _, err := os.Lstat(target); err == nil {
		w.discard()
		return fmt.Errorf("blob %s: %w", got, ErrAlreadyExists)
	}
	if err := os.Rename(filepath.Join(w.dir, "data"), target); err != nil {
		return fmt.Errorf("commit %s: %w", w.ref, err)
	}
	syncDir(filepath.Dir(target))
	w.discard()
	return nil
}

// rehash hashes the data written so far with alg.
func (w *localWriter) rehash(alg digest.Algorithm) (digest.Digest, error) {
	if !alg.Available() {
		return "", fmt.Errorf("commit %s: digest algorithm %q: %w", w.ref, alg, ErrInvalid)
	}
	d := alg.Digester()
	if _, err := io.CopyBuffer(d.Hash(), io.NewSectionReader(w.data, 0, w.offset), make([]byte, 1<<20)); err != nil {
		return "", fmt.Errorf("commit %s: hash as %s: %w", w.ref, alg, err)
	}
	return d.Digest(), nil
}

// discard removes the ingest: its data is committed or worthless.
func (w *localWriter) discard() {
	os.Remove(filepath.Join(w.dir, "meta.json"))
	os.Remove(filepath.Join(w.dir, "data"))
	// The lock file goes last and only while we hold it; a waiter that
	// then locks the unlinked file notices and starts over.
	os.Remove(filepath.Join(w.dir, "lock"))
	os.Remove(w.dir)
}

func (w *localWriter) release() {
	if w.done {
		return
	}
	w.done = true
	if w.data != nil {
		w.data.Close()
	}
	w.lock.Close()
}

// Close ends the write without committing; what was written stays for a
// later writer of the same reference to resume.
func (w *localWriter) Close() error {
	w.release()
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Status is an unfinished write.
type Status struct {
	Ref       string
	Offset    int64
	Total     int64
	Expected  digest.Digest
	StartedAt time.Time
}

// Ingests lists unfinished writes (interrupted pulls), for cleanup.
func (s *Local) Ingests(ctx context.Context) ([]Status, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "ingest"))
	if err != nil {
		return nil, fmt.Errorf("list ingests: %w", err)
	}
	var out []Status
	for _, e := range ents {
		dir := filepath.Join(s.root, "ingest", e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
		if err != nil {
			continue
		}
		var m ingestMeta
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		st := Status{Ref: m.Ref, Total: m.Total, Expected: m.Expected, StartedAt: m.StartedAt}
		if fi, err := os.Stat(filepath.Join(dir, "data")); err == nil {
			st.Offset = fi.Size()
		}
		out = append(out, st)
	}
	return out, nil
}

// Abort discards the unfinished write ref, waiting for a writer that holds
// it to let go.
func (s *Local) Abort(ctx context.Context, ref string) error {
	w, err := s.Writer(ctx, ref, ocispec.Descriptor{})
	if err != nil {
		return err
	}
	lw := w.(*localWriter)
	lw.discard()
	lw.release()
	return nil
}
