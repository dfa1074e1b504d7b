package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/atomicfile"
)

// Sentinel errors of the image store.
var (
	ErrNotFound = errors.New("no such image")
	ErrConflict = errors.New("conflict")
)

// Record is what a name points to.
type Record struct {
	// Name is the full reference ("docker.io/library/busybox:latest",
	// "127.0.0.1:5000/app@sha256:...").
	Name string `json:"name"`
	// Target is what the name was resolved to: an index or a manifest.
	Target ocispec.Descriptor `json:"target"`
	// Manifest is the image manifest for this host's platform (Target
	// itself when that is a manifest).
	Manifest ocispec.Descriptor `json:"manifest"`
	// Config is the image's config blob; its digest is the image ID.
	Config  ocispec.Descriptor `json:"config"`
	Created time.Time          `json:"created"`
	// Size is the unpacked size of all its layers.
	Size int64 `json:"size,omitempty"`
	// BuildCache, when set, makes this record a build cache entry: its
	// key, and Name is BuildCacheName(key). Such a record is no name of
	// the image (Named is false) and keeps its blobs from the collector.
	BuildCache string `json:"buildCache,omitempty"`
	// Description is the build step that made a cache entry.
	Description string `json:"description,omitempty"`
}

// BuildCacheName is the record name of the build cache entry of key; it
// parses neither as a reference nor as an ID.
func BuildCacheName(key string) string { return "buildcache/" + key + "@" }

// ID is the image ID as docker shows it: the config digest.
func (r Record) ID() digest.Digest { return r.Config.Digest }

// Named reports whether the record is under a name: an image loaded or
// imported without one is recorded under its ID ("sha256:..."), which
// would parse as the repository "sha256" with the hex as its tag.
func (r Record) Named() bool {
	return r.BuildCache == "" && digest.Digest(r.Name).Validate() != nil
}

// Records keeps the names of images: a JSON file under root, read and
// replaced whole under an flock so that concurrent berth processes agree.
type Records struct {
	root string
}

// OpenRecords opens (creating) the name records under root.
func OpenRecords(root string) (*Records, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("open image records: %w", err)
	}
	return &Records{root: root}, nil
}

func (r *Records) file() string { return filepath.Join(r.root, "images.json") }

// lock takes the records' lock, shared or exclusive, and returns its release.
func (r *Records) lock(how int) (func(), error) {
	return flock(filepath.Join(r.root, "images.lock"), how)
}

// flock takes an flock on the file at path (creating it) and returns its
// release; the kernel drops it too if the process dies.
func flock(path string, how int) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func (r *Records) load() (map[string]Record, error) {
	m := map[string]Record{}
	b, err := os.ReadFile(r.file())
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image records: %w", err)
	}
	var list []Record
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("read image records %s: %w", r.file(), err)
	}
	for _, rec := range list {
		m[rec.Name] = rec
	}
	return m, nil
}

func (r *Records) save(m map[string]Record) error {
	list := make([]Record, 0, len(m))
	for _, rec := range m {
		list = append(list, rec)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(r.file(), b, 0o600)
}

// List returns every record, sorted by name.
func (r *Records) List(ctx context.Context) ([]Record, error) {
	unlock, err := r.lock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m, err := r.load()
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(m))
	for _, rec := range m {
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get returns the record of a full name.
func (r *Records) Get(ctx context.Context, name string) (Record, error) {
	unlock, err := r.lock(unix.LOCK_SH)
	if err != nil {
		return Record{}, err
	}
	defer unlock()
	m, err := r.load()
	if err != nil {
		return Record{}, err
	}
	rec, ok := m[name]
	if !ok {
		return Record{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return rec, nil
}

// Put adds or replaces a record.
func (r *Records) Put(ctx context.Context, rec Record) error {
	return r.Update(ctx, func(m map[string]Record) error {
		m[rec.Name] = rec
		return nil
	})
}

// Delete removes the record of a full name.
func (r *Records) Delete(ctx context.Context, name string) error {
	return r.Update(ctx, func(m map[string]Record) error {
		if _, ok := m[name]; !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		delete(m, name)
		return nil
	})
}

// Update changes the records under the exclusive lock; fn's error leaves
// them as they were.
func (r *Records) Update(ctx context.Context, fn func(map[string]Record) error) error {
	unlock, err := r.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := r.load()
	if err != nil {
		return err
	}
	if err := fn(m); err != nil {
		return err
	}
	// An image that has a name is no longer kept under its ID too, as
	// docker's image stops being dangling once tagged: else it is listed
	// twice, and removing its last name leaves it behind.
	for _, rec := range m {
		if id := rec.ID().String(); rec.Named() && !m[id].Named() {
			delete(m, id)
		}
	}
	return r.save(m)
}

// Find resolves what a user typed to records: a reference (familiar or
// full), a full image ID (sha256:...), or an unambiguous ID prefix of at
// least 4 hex digits. A reference that names no record is ErrNotFound, as
// is an ID nothing has; an ambiguous prefix is ErrConflict.
func (r *Records) Find(ctx context.Context, s string) ([]Record, error) {
	all, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	if ref, err := ParseReference(s); err == nil {
		for _, rec := range all {
			if rec.Name == ref.String() {
				return []Record{rec}, nil
			}
		}
	}
	hex := strings.TrimPrefix(s, "sha256:")
	if len(hex) >= 4 && len(hex) <= 64 && strings.Trim(hex, "0123456789abcdef") == "" {
		var out []Record
		ids := map[digest.Digest]bool{}
		for _, rec := range all {
			if strings.HasPrefix(rec.ID().Encoded(), hex) {
				out = append(out, rec)
				ids[rec.ID()] = true
			}
		}
		if len(ids) > 1 {
			return nil, fmt.Errorf("%w: image ID prefix %s is ambiguous", ErrConflict, s)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, s)
}

// WriteFileAtomic writes data to path through a temporary file, fsync and
// rename, so readers see the old content or the new, never a part.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, data, perm)
}
