package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The on-disk layout of a snapshotter's root:
//
//	metadata.json        every snapshot: key -> {id, kind, parent, created, labels}
//	lock                 flock(2)ed by whoever changes metadata.json
//	snapshots/<id>/fs    the snapshot's tree (an overlay's upper dir)
//	snapshots/<id>/work  an overlay's work dir
//	tmp/                 scratch space (the overlay probe)
//
// metadata.json is only ever replaced whole (temp file, fsync, rename), so
// readers need no lock. Writers hold the lock from reading the file to
// renaming its successor. A directory under snapshots/ that metadata.json
// does not name is an orphan unless someone holds a flock on it (a Prepare
// filling it); Cleanup removes orphans.
const (
	metadataFile    = "metadata.json"
	lockFile        = "lock"
	snapshotsDir    = "snapshots"
	tmpDir          = "tmp"
	metadataVersion = 1
)

type metadata struct {
	Version   int                `json:"version"`
	Driver    string             `json:"driver"`
	NextID    uint64             `json:"next_id"`
	Snapshots map[string]*record `json:"snapshots"`
}

type record struct {
	ID      uint64            `json:"id"`
	Kind    Kind              `json:"kind"`
	Parent  string            `json:"parent,omitempty"`
	Created time.Time         `json:"created"`
	Labels  map[string]string `json:"labels,omitempty"`
}

func (r *record) info(name string) Info {
	info := Info{Kind: r.Kind, Name: name, Parent: r.Parent, Created: r.Created}
	if len(r.Labels) > 0 {
		info.Labels = make(map[string]string, len(r.Labels))
		for k, v := range r.Labels {
			info.Labels[k] = v
		}
	}
	return info
}

// store is the metadata file of one root and the lock that guards it.
type store struct {
	root   string
	driver string
}

func (s *store) dir(id uint64) string {
	return filepath.Join(s.root, snapshotsDir, strconv.FormatUint(id, 10))
}

// init makes the root's directories and, on a new root, the metadata file.
// An existing root made by another driver is refused.
func (s *store) init() error {
	for _, d := range []string{s.root, filepath.Join(s.root, snapshotsDir), filepath.Join(s.root, tmpDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	_, err = s.load()
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// A new root. If snapshot directories exist, the metadata was lost:
	// starting afresh would have Cleanup delete them all.
	entries, err := os.ReadDir(filepath.Join(s.root, snapshotsDir))
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is missing but %s holds %d snapshot directories: %w",
			filepath.Join(s.root, metadataFile), filepath.Join(s.root, snapshotsDir), len(entries), ErrInvalid)
	}
	return s.save(&metadata{Version: metadataVersion, Driver: s.driver, NextID: 1, Snapshots: map[string]*record{}})
}

// lock takes the root's exclusive lock, which also excludes the other
// goroutines of this process (each call opens the lock file anew, and flock
// locks belong to open files).
func (s *store) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.root, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// load reads the metadata file; with or without the lock, it sees a whole one.
func (s *store) load() (*metadata, error) {
	b, err := os.ReadFile(filepath.Join(s.root, metadataFile))
	if err != nil {
		return nil, err
	}
	var md metadata
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(s.root, metadataFile), err)
	}
	if md.Version != metadataVersion {
		return nil, fmt.Errorf("%s: version %d, want %d: %w", filepath.Join(s.root, metadataFile), md.Version, metadataVersion, ErrInvalid)
	}
	if md.Driver != s.driver {
		return nil, fmt.Errorf("%s belongs to the %s snapshotter, not %s: %w", s.root, md.Driver, s.driver, ErrInvalid)
	}
	if md.Snapshots == nil {
		md.Snapshots = map[string]*record{}
	}
	return &md, nil
}

// save replaces the metadata file; the caller holds the lock.
func (s *store) save(md *metadata) error {
	b, err := json.MarshalIndent(md, "", "\t")
	if err != nil {
		return err
	}
	path := filepath.Join(s.root, metadataFile)
	tmp := path + ".tmp" // one writer at a time: the lock holder
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(s.root)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// update runs fn on the metadata under the lock and saves it if fn
// succeeds.
func (s *store) update(fn func(*metadata) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	md, err := s.load()
	if err != nil {
		return err
	}
	if err := fn(md); err != nil {
		return err
	}
	return s.save(md)
}

// chain returns the ids of a committed snapshot and its ancestors, nearest
// first.
func (md *metadata) chain(name string) ([]uint64, error) {
	var ids []uint64
	for name != "" {
		r, ok := md.Snapshots[name]
		if !ok {
			return nil, fmt.Errorf("parent %q: %w", name, ErrNotFound)
		}
		if len(ids) > len(md.Snapshots) {
			return nil, fmt.Errorf("parent %q: loop in metadata: %w", name, ErrInvalid)
		}
		ids = append(ids, r.ID)
		name = r.Parent
	}
	return ids, nil
}

// children counts the snapshots whose parent is name.
func (md *metadata) children(name string) int {
	n := 0
	for _, r := range md.Snapshots {
		if r.Parent == name {
			n++
		}
	}
	return n
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
