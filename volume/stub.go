package volume

import (
	"errors"
	"time"
)

// CONTRACT STUB (issue 8): owned by the volumes helper. Replace this file
// with the real thing; keep the names and signatures (or tell the lead).

var (
	// ErrNotFound: no volume of that name.
	ErrNotFound = errors.New("no such volume")
	// ErrInvalid: a bad name, driver or option.
	ErrInvalid = errors.New("invalid volume")
)

// Volume is what the store keeps of one volume.
type Volume struct {
	Name string
	// Driver is always "local".
	Driver string
	// Mountpoint is where the data is on the host: ROOT/NAME/_data.
	Mountpoint string
	CreatedAt  time.Time
	Labels     map[string]string
	// Options are the driver options (type, device, o).
	Options map[string]string
	// Anonymous: made for one container (docker's label
	// com.docker.volume.anonymous is set too).
	Anonymous bool
}

// Store is the volumes under one root (DATA_ROOT/volumes). Every method is
// safe for concurrent use, also by several processes (the daemon and the
// CLI's in-process engine) on the same root.
type Store struct{ root string }

// Open opens (making it when missing) the store at root.
func Open(root string) (*Store, error) { return &Store{root: root}, nil }

// Create makes the volume name (a random 64-hex name when empty), or
// returns the one that exists (created false) when it has the same
// driver. Unknown drivers or options are ErrInvalid, with a message
// naming them.
func (s *Store) Create(name, driver string, opts, labels map[string]string, anonymous bool) (v Volume, created bool, err error) {
	return Volume{}, false, errors.ErrUnsupported
}

// Get returns the volume name, or ErrNotFound.
func (s *Store) Get(name string) (Volume, error) { return Volume{}, ErrNotFound }

// List returns every volume, by name.
func (s *Store) List() ([]Volume, error) { return nil, nil }

// Remove removes volume name and its data. It does not know who uses it:
// the engine checks that first.
func (s *Store) Remove(name string) error { return errors.ErrUnsupported }

// Mount makes the volume's data ready for a container (ref is the
// container's ID) and returns the host directory to bind: Mountpoint. A
// volume with driver options has its filesystem mounted there by the
// first ref and unmounted by the last Unmount; the refs survive a restart
// of the process.
func (s *Store) Mount(name, ref string) (string, error) { return "", errors.ErrUnsupported }

// Unmount drops ref's use of the volume; unknown refs are no error.
func (s *Store) Unmount(name, ref string) error { return nil }

// Usage is the disk space the volume's data takes (-1 when unknown).
func (s *Store) Usage(name string) (int64, error) { return -1, nil }
