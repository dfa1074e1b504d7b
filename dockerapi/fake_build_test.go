package dockerapi

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

func (f *fakeAPI) ImageBuild(ctx context.Context, buildContext io.Reader, o engine.BuildOptions) (io.ReadCloser, error) {
	f.record("ImageBuild", readAll(buildContext), o)
	return f.body("ImageBuild")
}

func (f *fakeAPI) BuildCachePrune(ctx context.Context, o engine.BuildCachePruneOptions) (build.CachePruneReport, error) {
	f.record("BuildCachePrune", o)
	return result[build.CachePruneReport](f, "BuildCachePrune")
}

func (f *fakeAPI) ContainerCommit(ctx context.Context, id string, o engine.CommitOptions) (container.CommitResponse, error) {
	f.record("ContainerCommit", id, o)
	return result[container.CommitResponse](f, "ContainerCommit")
}
