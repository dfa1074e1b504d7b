package main

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

func (f *fakeAPI) ImageBuild(ctx context.Context, buildContext io.Reader, o engine.BuildOptions) (io.ReadCloser, error) {
	return nil, engine.ErrNotImplemented
}

func (f *fakeAPI) BuildCachePrune(ctx context.Context, o engine.BuildCachePruneOptions) (build.CachePruneReport, error) {
	return build.CachePruneReport{}, engine.ErrNotImplemented
}

func (f *fakeAPI) ContainerCommit(ctx context.Context, id string, o engine.CommitOptions) (container.CommitResponse, error) {
	return container.CommitResponse{}, engine.ErrNotImplemented
}
