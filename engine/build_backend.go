package engine

import (
	"context"
	"path/filepath"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/progress"
)

// This file is what build/ uses of the engine beyond the API: images as a
// build step sees them, the commit of one step, the build cache and the
// final names. Running a RUN step goes through the API (ContainerCreate,
// ContainerAttach, ContainerStart, ContainerWait, ContainerRemove), so a
// step's container is a real container of this engine.
//
// The build cache lives in the image records (images.json): an entry is a
// Record whose BuildCache field holds its key. Such records keep their
// blobs and snapshots from the collector as any record does, resolve by
// image ID (so a RUN step's container can be created from one), and are
// hidden from ImageList, ImagesPrune and the RepoTags of inspect.

// BuildImage is an image as a build step sees it. The zero BuildImage is
// scratch: no layers, an empty config.
type BuildImage struct {
	ID     digest.Digest // the config digest (the image ID); "" for scratch
	Record image.Record  // the record it was found or made under
	// Config is the whole config, docker's extensions (Healthcheck,
	// OnBuild, Shell) included.
	Config dockerspec.DockerOCIImage
}

// BuildBaseOptions tune BuildBase.
type BuildBaseOptions struct {
	Pull     bool   // pull even when the image is present (build --pull)
	Platform string // build --platform / FROM --platform; the host's when empty
	// Progress hears the pull, as docker's build shows it.
	Progress progress.Sink
}

// BuildBase finds the image a FROM names (a reference or an image ID),
// pulling it when it is missing or o.Pull is set, and makes sure its
// layers are unpacked. A missing image that cannot be pulled is
// KindNotFound with docker's words.
func (e *Engine) BuildBase(ctx context.Context, ref string, o BuildBaseOptions) (BuildImage, error) {
	return BuildImage{}, Errorf(KindNotImplemented, "BuildBase: not implemented")
}

// BuildImageByID loads an image by its full ID (a cache hit's, a stage's).
func (e *Engine) BuildImageByID(ctx context.Context, id digest.Digest) (BuildImage, error) {
	return BuildImage{}, Errorf(KindNotImplemented, "BuildImageByID: not implemented")
}

// LayerSource is where a step's layer comes from; the zero LayerSource
// means the step adds no layer (ENV, CMD, ...).
type LayerSource struct {
	// Container: the changes of this stopped container's filesystem (a
	// RUN step) against the image it was created from.
	Container string
	// Fill is called with a writable copy of the parent's filesystem
	// mounted at root (a COPY or ADD step); what it changes is the layer.
	// root is a private mount; Fill must resolve paths inside it.
	Fill func(ctx context.Context, root string) error
}

// BuildCommitOptions tune BuildCommit.
type BuildCommitOptions struct {
	// CacheKey, when set, records the new image as the build cache entry
	// of this key, replacing an older entry of the same key.
	CacheKey string
}

// BuildCommit makes the image of one build step: parent's layers plus
// src's layer (none for the zero LayerSource), with config cfg. The caller
// gives cfg whole (Config, Created, Author, History with this step's entry
// already appended, EmptyLayer set when src is zero, Platform); BuildCommit
// sets RootFS to parent's diff IDs plus the new layer's. The new image is
// recorded (as a cache entry when o.CacheKey is set, else under its ID
// only until BuildName names it) and its layers left unpacked, so the
// next step's container starts on it without unpacking again. On error
// nothing is left: no blob, snapshot, record or mount.
func (e *Engine) BuildCommit(ctx context.Context, parent BuildImage, cfg dockerspec.DockerOCIImage, src LayerSource, o BuildCommitOptions) (BuildImage, error) {
	return BuildImage{}, Errorf(KindNotImplemented, "BuildCommit: not implemented")
}

// BuildCacheGet returns the image of a cache key; false when there is
// none (or its blobs are gone).
func (e *Engine) BuildCacheGet(ctx context.Context, key string) (BuildImage, bool, error) {
	return BuildImage{}, false, nil
}

// BuildName gives a build's final image its tags, as docker does after
// "Successfully built": each tag is (re)pointed at it, with a tag event.
// With no tags the image is recorded under its ID, as a dangling image
// that `images` lists as <none>:<none>.
func (e *Engine) BuildName(ctx context.Context, img BuildImage, tags []string) error {
	return Errorf(KindNotImplemented, "BuildName: not implemented")
}

// BuildMount mounts a read-only view of img's filesystem (for COPY
// --from) at a private directory and returns it and the function that
// unmounts and removes it. Scratch gives an empty directory.
func (e *Engine) BuildMount(ctx context.Context, img BuildImage) (root string, release func(), err error) {
	return "", nil, Errorf(KindNotImplemented, "BuildMount: not implemented")
}

// BuildCacheEntry is one build cache record.
type BuildCacheEntry struct {
	Key     string
	ID      digest.Digest
	Created time.Time
	// Size is the bytes only this entry holds: its top layer's unpacked
	// size when no other record shares that layer, else 0.
	Size int64
	// InUse: a tagged image or a container uses this entry's image.
	InUse bool
	// Description is the step that made it ("RUN apk add ...").
	Description string
}

// BuildCacheList lists the build cache.
func (e *Engine) BuildCacheList(ctx context.Context) ([]BuildCacheEntry, error) {
	return nil, nil
}

// BuildCacheRemove removes the entries of keys, then collects the blobs
// and snapshots nothing reaches any more, and returns the bytes reclaimed.
func (e *Engine) BuildCacheRemove(ctx context.Context, keys []string) (reclaimed int64, err error) {
	return 0, Errorf(KindNotImplemented, "BuildCacheRemove: not implemented")
}

// ContainerCommit makes an image of a container's changes (docker commit).
func (e *Engine) ContainerCommit(ctx context.Context, ref string, o CommitOptions) (resp container.CommitResponse, err error) {
	return resp, Errorf(KindNotImplemented, "commit: not implemented")
}

// BuildTempDir is where builds extract their contexts: under the data
// root, so that a context can be large and is on the same filesystem as
// the snapshots.
func (e *Engine) BuildTempDir() string { return filepath.Join(e.opts.Root, "build", "tmp") }
