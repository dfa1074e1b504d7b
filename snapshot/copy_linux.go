package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/mount"
)

// NewCopy opens (making it if needed) a snapshotter rooted at root that
// works on any filesystem: each active snapshot starts as a full copy of its
// parent's tree (reflinked where the filesystem can), and each committed
// snapshot is a whole tree. Its active snapshots take layers with whiteouts
// applied as plain deletions.
func NewCopy(root string) (Snapshotter, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open copy snapshotter in %s: %w", root, err)
	}
	return open(root, copyDriver{})
}

type copyDriver struct{}

func (copyDriver) name() string { return "copy" }

func (copyDriver) populate(ctx context.Context, dir string, kind Kind, parents []string) error {
	fsDir := filepath.Join(dir, "fs")
	if kind != KindActive || len(parents) == 0 {
		// A view shows its parent's tree itself; this one stays empty.
		if err := os.Mkdir(fsDir, 0o755); err != nil {
			return err
		}
		if err := syncDir(dir); err != nil {
			return err
		}
		return syncDir(filepath.Dir(dir))
	}
	if err := copyTree(ctx, fsDir, parents[0]); err != nil {
		return err
	}
	return syncFS(fsDir)
}

func (copyDriver) mounts(dir string, kind Kind, parents []string) []mount.Mount {
	switch {
	case kind == KindActive:
		return []mount.Mount{{Type: "bind", Source: filepath.Join(dir, "fs"), Options: []string{"rbind", "rw"}}}
	case len(parents) == 0:
		return []mount.Mount{{Type: "bind", Source: filepath.Join(dir, "fs"), Options: []string{"rbind", "ro"}}}
	default:
		// Committed trees never change, so a view needs no copy.
		return []mount.Mount{{Type: "bind", Source: parents[0], Options: []string{"rbind", "ro"}}}
	}
}
