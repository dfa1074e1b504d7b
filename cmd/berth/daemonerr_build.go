package main

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

func (d daemonErrors) ImageBuild(ctx context.Context, buildContext io.Reader, o engine.BuildOptions) (io.ReadCloser, error) {
	r, err := d.api.ImageBuild(ctx, buildContext, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) BuildCachePrune(ctx context.Context, o engine.BuildCachePruneOptions) (build.CachePruneReport, error) {
	r, err := d.api.BuildCachePrune(ctx, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerCommit(ctx context.Context, id string, o engine.CommitOptions) (container.CommitResponse, error) {
	r, err := d.api.ContainerCommit(ctx, id, o)
	return r, fromDaemon(err)
}
