package build

import (
	"context"
	"io"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/build"
	"github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/engine"
)

// Backend is what a build needs of the engine: the API (RUN steps run as
// the engine's containers) and the build primitives of
// engine/build_backend.go. *engine.Engine satisfies it.
type Backend interface {
	engine.API
	BuildBase(ctx context.Context, ref string, o engine.BuildBaseOptions) (engine.BuildImage, error)
	BuildImageByID(ctx context.Context, id digest.Digest) (engine.BuildImage, error)
	BuildCommit(ctx context.Context, parent engine.BuildImage, cfg dockerspec.DockerOCIImage, src engine.LayerSource, o engine.BuildCommitOptions) (engine.BuildImage, error)
	BuildCacheGet(ctx context.Context, key string) (engine.BuildImage, bool, error)
	BuildName(ctx context.Context, img engine.BuildImage, tags []string) error
	BuildMount(ctx context.Context, img engine.BuildImage) (root string, release func(), err error)
	BuildCacheList(ctx context.Context) ([]engine.BuildCacheEntry, error)
	BuildCacheRemove(ctx context.Context, keys []string) (int64, error)
}

var _ Backend = (*engine.Engine)(nil)

// Builder builds on a Backend; it is the engine's engine.Builder.
type Builder struct {
	b Backend
	// TempDir holds extracted contexts; os.TempDir() when empty.
	TempDir string
}

var _ engine.Builder = (*Builder)(nil)

// New makes the Builder of an engine (cmd/berth passes it as
// engine.Options.Builder).
func New(e *engine.Engine) engine.Builder { return &Builder{b: e, TempDir: e.BuildTempDir()} }

// NewOn makes a Builder on any Backend (tests).
func NewOn(b Backend, tempDir string) *Builder { return &Builder{b: b, TempDir: tempDir} }

// Build runs a build: see engine.Builder.
func (bd *Builder) Build(ctx context.Context, buildContext io.Reader, o engine.BuildOptions, out engine.BuildOutput) error {
	return engine.Errorf(engine.KindNotImplemented, "build: not implemented")
}

// PruneCache removes build cache entries: without o.All only those no
// tagged image or container uses; with until, only those older.
func (bd *Builder) PruneCache(ctx context.Context, o engine.BuildCachePruneOptions) (build.CachePruneReport, error) {
	return build.CachePruneReport{}, engine.Errorf(engine.KindNotImplemented, "build cache prune: not implemented")
}
