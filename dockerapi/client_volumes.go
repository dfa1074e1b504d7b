package dockerapi

import (
	"context"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
)

// CONTRACT STUB (issue 8): owned by the volumes helper.

func (c *Client) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	return volume.Volume{}, engine.ErrNotImplemented
}

func (c *Client) VolumeList(ctx context.Context, f engine.Filters) (volume.ListResponse, error) {
	return volume.ListResponse{}, engine.ErrNotImplemented
}

func (c *Client) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	return volume.Volume{}, engine.ErrNotImplemented
}

func (c *Client) VolumeRemove(ctx context.Context, name string, force bool) error {
	return engine.ErrNotImplemented
}

func (c *Client) VolumesPrune(ctx context.Context, f engine.Filters) (volume.PruneReport, error) {
	return volume.PruneReport{}, engine.ErrNotImplemented
}
