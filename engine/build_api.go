package engine

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/progress"
)

// BuildOptions are the query parameters of docker's POST /build (the
// classic builder, version=1). BuildArgs values are nil for an ARG given
// with no value (--build-arg K: taken from the client's environment).
type BuildOptions struct {
	Tags        []string           // t (repeatable)
	Dockerfile  string             // dockerfile: path inside the context; "Dockerfile" when empty
	BuildArgs   map[string]*string // buildargs (JSON)
	Labels      map[string]string  // labels (JSON)
	Target      string             // target
	NoCache     bool               // nocache
	Pull        bool               // pull
	Quiet       bool               // q: only the final image ID is printed
	Remove      bool               // rm (default true): remove intermediate containers after a successful build
	ForceRemove bool               // forcerm: remove them always
	NetworkMode string             // networkmode: "default" (bridge), host, none, a network name
	Platform    string             // platform
	Remote      string             // remote: a URL to fetch the context (or Dockerfile) from; not supported yet
	ExtraHosts  []string           // extrahosts
	ShmSize     int64              // shmsize
	// CacheFrom is accepted and, as in docker's classic builder, names
	// images whose steps may be reused; berth ignores it for now.
	CacheFrom []string // cachefrom (JSON)
}

// BuildCachePruneOptions are the query parameters of POST /build/prune.
type BuildCachePruneOptions struct {
	All     bool    // all: every cache entry, not only unused ones
	Filters Filters // until, id
	// KeepStorage keeps the newest entries up to this many bytes (0: none).
	KeepStorage int64
}

// BuildOutput is where a build writes what docker's classic builder
// streams: text lines ({"stream": ...}), auxiliary values ({"aux":
// {"ID": "sha256:..."}}) and the pull progress of FROM images.
type BuildOutput interface {
	progress.Sink
	Stream(text string)
	Aux(v any)
}

// Builder runs Dockerfile builds for the engine. The engine cannot import
// build/ (it sits above on the layer map), so cmd/berth wires one in
// through Options.Builder.
type Builder interface {
	// Build reads the context (a tar, possibly compressed, or a bare
	// Dockerfile) and builds it. The error it returns ends the stream as
	// docker's errorDetail line; an error with an ExitCode() int method
	// (a failed RUN) gives the line its code.
	Build(ctx context.Context, buildContext io.Reader, o BuildOptions, out BuildOutput) error
	// PruneCache removes build cache entries.
	PruneCache(ctx context.Context, o BuildCachePruneOptions) (build.CachePruneReport, error)
}

// CommitOptions are docker commit's (POST /commit): Changes are Dockerfile
// instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER,
// VOLUME, WORKDIR, STOPSIGNAL, HEALTHCHECK, SHELL) applied to the config.
type CommitOptions struct {
	Reference string // repo[:tag]; empty: an untagged image
	Comment   string
	Author    string
	Changes   []string
	Pause     bool
	Config    *container.Config // merged over the container's config
}

// ImageBuild streams a build as docker's classic builder does, through the
// Builder wired in Options.Builder.
func (e *Engine) ImageBuild(ctx context.Context, buildContext io.Reader, o BuildOptions) (io.ReadCloser, error) {
	if e.builder == nil {
		return nil, Errorf(KindNotImplemented, "this engine has no builder")
	}
	return runStream(ctx, nil, func(ctx context.Context, s *jsonStream) error {
		return e.builder.Build(ctx, buildContext, o, buildStream{s})
	})
}

// BuildCachePrune removes build cache (docker builder prune).
func (e *Engine) BuildCachePrune(ctx context.Context, o BuildCachePruneOptions) (build.CachePruneReport, error) {
	if e.builder == nil {
		return build.CachePruneReport{}, Errorf(KindNotImplemented, "this engine has no builder")
	}
	return e.builder.PruneCache(ctx, o)
}

// buildStream is a jsonStream as a BuildOutput.
type buildStream struct{ *jsonStream }

func (b buildStream) Stream(text string) { b.jsonStream.stream(text) }
func (b buildStream) Aux(v any)          { b.jsonStream.aux(v) }
