//go:build linux

package snapshot_test

import (
	"testing"

	"github.com/berth-project/berth/snapshot"
	"github.com/berth-project/berth/snapshot/snapshottest"
)

func newCopy(t *testing.T, root string) snapshot.Snapshotter {
	t.Helper()
	sn, err := snapshot.NewCopy(root)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// TestCopy runs the suite on the copy driver; without root, only the parts
// that need no mounts.
func TestCopy(t *testing.T) {
	snapshottest.Run(t, newCopy)
}
