package snapshot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/berth-project/berth/mount"
)

// Kind is the state of a snapshot.
type Kind int

// The kinds of snapshot. The zero Kind is none of them.
const (
	// KindView is a read-only snapshot of a committed parent.
	KindView Kind = iota + 1
	// KindActive is a writable snapshot; Commit turns it into a committed one.
	KindActive
	// KindCommitted is an immutable snapshot that others may use as parent.
	KindCommitted
)

var kindNames = map[Kind]string{
	KindView:      "view",
	KindActive:    "active",
	KindCommitted: "committed",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MarshalText writes the kind by name, so that the metadata file is
// readable and stays valid if the constants are ever renumbered.
func (k Kind) MarshalText() ([]byte, error) {
	if _, ok := kindNames[k]; !ok {
		return nil, fmt.Errorf("snapshot kind %d: %w", int(k), ErrInvalid)
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a kind written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	for kk, s := range kindNames {
		if s == string(b) {
			*k = kk
			return nil
		}
	}
	return fmt.Errorf("snapshot kind %q: %w", b, ErrInvalid)
}

// Info describes a snapshot.
type Info struct {
	Kind   Kind
	Name   string // the key of an active or view snapshot, the name of a committed one
	Parent string // the committed parent's name; "" for none
	// Created is when the snapshot came to exist under Name: for a
	// committed snapshot, the time of the Commit.
	Created time.Time
	Labels  map[string]string
}

// Snapshotter makes and keeps snapshots: directory trees stacked on
// committed parents. It returns the mounts that present a snapshot; it never
// mounts anything itself, and callers unmount what they mounted before they
// Commit or Remove.
//
// Keys and names share one namespace and may be any non-empty string.
type Snapshotter interface {
	// Stat describes the snapshot called key.
	Stat(ctx context.Context, key string) (Info, error)
	// Prepare makes a writable snapshot called key on top of the committed
	// snapshot parent ("" for an empty one) and returns its mounts.
	Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error)
	// View makes a read-only snapshot called key of the committed snapshot
	// parent ("" for an empty one) and returns its mounts.
	View(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error)
	// Mounts returns the mounts of an active or view snapshot again.
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	// Commit turns the active snapshot key into the committed snapshot
	// name; key no longer exists afterwards. The committed snapshot's
	// labels are those given to Commit.
	Commit(ctx context.Context, name, key string, opts ...Opt) error
	// Remove deletes a snapshot and its contents. A snapshot that others
	// use as parent is not removed (ErrConflict).
	Remove(ctx context.Context, key string) error
	// Walk calls fn with every snapshot, in the order of their names,
	// and stops at the first error fn returns, which it returns.
	Walk(ctx context.Context, fn func(Info) error) error
	// Close releases the snapshotter; it does not touch the snapshots.
	Close() error
}

// Usage is the disk space a snapshot's own directory takes: for an
// overlay snapshot its layer (upper directory), for a copied one its whole tree.
// Hardlinked files count once.
type Usage struct {
	Size   int64 // bytes allocated
	Inodes int64
}

// Usager is a Snapshotter that can measure a snapshot's disk usage.
type Usager interface {
	Usage(ctx context.Context, key string) (Usage, error)
}

// Cleaner is a Snapshotter that can remove what crashed operations left
// behind: directories that no snapshot owns. The drivers of this package
// clean up when they are opened as well.
type Cleaner interface {
	Cleanup(ctx context.Context) error
}

// Sentinel errors; every error of this package that means one of these
// wraps it, next to the operation and the key.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrConflict      = errors.New("conflict")
	ErrInvalid       = errors.New("invalid argument")
	// ErrNotSupported is what NewOverlay wraps when overlayfs does not work
	// on the root's filesystem, so a caller can fall back to NewCopy.
	ErrNotSupported = errors.New("not supported")
)

// Opt sets something on the snapshot a Prepare, View or Commit makes.
type Opt func(*Info) error

// WithLabels adds labels to the snapshot. Label keys must not be empty.
func WithLabels(labels map[string]string) Opt {
	return func(info *Info) error {
		for k := range labels {
			if k == "" {
				return fmt.Errorf("empty label key: %w", ErrInvalid)
			}
		}
		if len(labels) == 0 {
			return nil
		}
		if info.Labels == nil {
			info.Labels = make(map[string]string, len(labels))
		}
		maps.Copy(info.Labels, labels)
		return nil
	}
}

// UpperDir returns the directory that receives the writes of an active
// snapshot, given the mounts Prepare or Mounts returned for it: the source
// of a writable bind mount, or the upperdir of an overlay. Image unpack
// writes a layer straight into it before Commit. It reports false for the
// mounts of a view.
func UpperDir(ms []mount.Mount) (string, bool) {
	if len(ms) != 1 {
		return "", false
	}
	m := ms[0]
	if m.Type == "overlay" {
		for _, o := range m.Options {
			if d, ok := strings.CutPrefix(o, "upperdir="); ok {
				return d, true
			}
		}
		return "", false
	}
	if m.IsBind() && mount.ParseOptions(m.Options).Flags&mount.RDONLY == 0 {
		return m.Source, true
	}
	return "", false
}
