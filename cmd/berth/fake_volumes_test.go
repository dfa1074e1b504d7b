package main

import (
	"context"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
)

// CONTRACT STUB (issue 8): the fake's volume side, owned by the volumes helper.

func (f *fakeAPI) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	return volume.Volume{}, engine.ErrNotImplemented
}

func (f *fakeAPI) VolumeList(ctx context.Context, fl engine.Filters) (volume.ListResponse, error) {
	return volume.ListResponse{}, engine.ErrNotImplemented
}

func (f *fakeAPI) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	return volume.Volume{}, engine.ErrNotImplemented
}

func (f *fakeAPI) VolumeRemove(ctx context.Context, name string, force bool) error {
	return engine.ErrNotImplemented
}

func (f *fakeAPI) VolumesPrune(ctx context.Context, fl engine.Filters) (volume.PruneReport, error) {
	return volume.PruneReport{}, engine.ErrNotImplemented
}
