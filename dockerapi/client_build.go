package dockerapi

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

// ImageBuild posts the context to /build as docker's CLI does with the
// classic builder (version=1) and hands back the stream.
func (c *Client) ImageBuild(ctx context.Context, buildContext io.Reader, o engine.BuildOptions) (io.ReadCloser, error) {
	return nil, engine.Errorf(engine.KindNotImplemented, "build: not implemented")
}

// BuildCachePrune posts to /build/prune.
func (c *Client) BuildCachePrune(ctx context.Context, o engine.BuildCachePruneOptions) (build.CachePruneReport, error) {
	return build.CachePruneReport{}, engine.Errorf(engine.KindNotImplemented, "build prune: not implemented")
}

// ContainerCommit posts to /commit.
func (c *Client) ContainerCommit(ctx context.Context, id string, o engine.CommitOptions) (container.CommitResponse, error) {
	return container.CommitResponse{}, engine.Errorf(engine.KindNotImplemented, "commit: not implemented")
}
