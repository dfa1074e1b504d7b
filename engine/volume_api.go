package engine

import (
	"context"

	"github.com/moby/moby/api/types/volume"
)

// CONTRACT STUB (issue 8): owned by the volumes helper.

func (e *Engine) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	return volume.Volume{}, Errorf(KindNotImplemented, "volumes: not implemented yet")
}

func (e *Engine) VolumeList(ctx context.Context, f Filters) (volume.ListResponse, error) {
	return volume.ListResponse{}, Errorf(KindNotImplemented, "volumes: not implemented yet")
}

func (e *Engine) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	return volume.Volume{}, Errorf(KindNotImplemented, "volumes: not implemented yet")
}

func (e *Engine) VolumeRemove(ctx context.Context, name string, force bool) error {
	return Errorf(KindNotImplemented, "volumes: not implemented yet")
}

func (e *Engine) VolumesPrune(ctx context.Context, f Filters) (volume.PruneReport, error) {
	return volume.PruneReport{}, Errorf(KindNotImplemented, "volumes: not implemented yet")
}
