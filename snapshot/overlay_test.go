//go:build linux

package snapshot_test

import (
	"testing"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/snapshot"
	"github.com/berth-project/berth/snapshot/snapshottest"
)

func newOverlay(t *testing.T, root string) snapshot.Snapshotter {
	t.Helper()
	sn, err := snapshot.NewOverlay(root)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func TestOverlay(t *testing.T) {
	gate.Root(t)
	snapshottest.Run(t, newOverlay)
}
