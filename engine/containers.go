package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"

	"github.com/berth-project/berth/image"
)

// ErrNoSuchContainer is returned for a container name or ID nothing has.
var ErrNoSuchContainer = errors.New("no such container")

// ensureUnpacked unpacks an image whose layers are in the content store
// but whose snapshots are gone (a load, or a snapshot store reset).
func (e *Engine) ensureUnpacked(ctx context.Context, img *image.Image) error {
	if _, err := e.Images.Snapshots.Stat(ctx, img.ChainID().String()); err == nil {
		return nil
	}
	unlock, err := e.Images.Records.Lock(ctx, false)
	if err != nil {
		return err
	}
	defer unlock()
	_, _, err = image.Unpack(ctx, e.Images.Content, e.Images.Snapshots, img.Layers(), image.UnpackOptions{})
	return err
}

// newID is a random 64-hex ID, as docker's for containers and execs.
func newID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
