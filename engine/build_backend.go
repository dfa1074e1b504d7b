package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/progress"
	"github.com/berth-project/berth/mount"
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

// layers are the image's layer descriptors, from its manifest.
func (e *Engine) buildLayers(ctx context.Context, img BuildImage) ([]ocispec.Descriptor, error) {
	if img.ID == "" {
		return nil, nil
	}
	m, _, err := image.ReadManifest(ctx, e.Images.Content, img.Record.Manifest)
	if err != nil {
		return nil, err
	}
	return m.Layers, nil
}

// chainOf is the snapshot name of img's filesystem ("" for scratch).
func buildChain(img BuildImage) string {
	if img.ID == "" || len(img.Config.RootFS.DiffIDs) == 0 {
		return ""
	}
	return image.ChainID(diffLayers(img.Config.RootFS.DiffIDs)).String()
}

func diffLayers(ids []digest.Digest) []image.Layer {
	ls := make([]image.Layer, len(ids))
	for i, d := range ids {
		ls[i] = image.Layer{DiffID: d}
	}
	return ls
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
	recs, err := e.Images.Records.Find(ctx, ref)
	if err != nil && !errors.Is(err, image.ErrNotFound) {
		return BuildImage{}, imageErr(err, ref)
	}
	_, perr := image.ParseReference(ref)
	if (err != nil || o.Pull) && perr == nil {
		var po PullOptions
		po.Progress = o.Progress
		if o.Platform != "" {
			if po.Platform, err = image.ParsePlatform(o.Platform); err != nil {
				return BuildImage{}, Invalid("%s", err.Error())
			}
		}
		rec, perr := e.Images.Pull(ctx, ref, po)
		if perr != nil {
			return BuildImage{}, imageErr(perr, ref)
		}
		recs = []image.Record{rec}
	} else if err != nil {
		return BuildImage{}, imageErr(err, ref)
	}
	unlock, err := e.sharedLock(ctx)
	if err != nil {
		return BuildImage{}, err
	}
	defer unlock()
	img, err := e.buildImageOf(ctx, recs[0])
	if err != nil {
		return BuildImage{}, err
	}
	li, err := image.Load(ctx, e.Images.Content, img.Record)
	if err != nil {
		return BuildImage{}, err
	}
	if err := e.ensureUnpacked(ctx, li); err != nil {
		return BuildImage{}, fmt.Errorf("unpack image %s: %w", ref, err)
	}
	e.pinFor(ctx, img)
	return img, nil
}

func (e *Engine) buildImageOf(ctx context.Context, rec image.Record) (BuildImage, error) {
	b, err := content.ReadBlob(ctx, e.Images.Content, rec.Config)
	if err != nil {
		return BuildImage{}, fmt.Errorf("read config of image %s: %w", rec.ID(), err)
	}
	img := BuildImage{ID: rec.ID(), Record: rec}
	if err := json.Unmarshal(b, &img.Config); err != nil {
		return BuildImage{}, fmt.Errorf("read config of image %s: %w", rec.ID(), err)
	}
	return img, nil
}

// BuildImageByID loads an image by its full ID (a cache hit's, a stage's).
func (e *Engine) BuildImageByID(ctx context.Context, id digest.Digest) (BuildImage, error) {
	unlock, err := e.sharedLock(ctx)
	if err != nil {
		return BuildImage{}, err
	}
	defer unlock()
	recs, err := e.Images.Records.Find(ctx, id.String())
	if err != nil {
		return BuildImage{}, imageErr(err, id.String())
	}
	img, err := e.buildImageOf(ctx, recs[0])
	if err == nil {
		e.pinFor(ctx, img)
	}
	return img, err
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
	// CacheKey records the new image as the build cache entry of this
	// key, replacing an older entry of the same key. Required.
	CacheKey string
	// Description is the step that made it, for `builder prune` and df.
	Description string
}

// BuildCommit makes the image of one build step: parent's layers plus
// src's layer (none for the zero LayerSource), with config cfg. The caller
// gives cfg whole (Config, Created, Author, History with this step's entry
// already appended, EmptyLayer set when src is zero, Platform); BuildCommit
// sets RootFS to parent's diff IDs plus the new layer's. The new image is
// recorded as the cache entry of o.CacheKey and its layers left unpacked,
// so the next step's container starts on it without unpacking again. On
// error nothing is left: no snapshot, record or mount (a blob no record
// names is the collector's).
func (e *Engine) BuildCommit(ctx context.Context, parent BuildImage, cfg dockerspec.DockerOCIImage, src LayerSource, o BuildCommitOptions) (BuildImage, error) {
	if o.CacheKey == "" {
		return BuildImage{}, Invalid("build commit: no cache key")
	}
	unlock, err := e.Images.Records.Lock(ctx, false)
	if err != nil {
		return BuildImage{}, err
	}
	defer unlock()
	layers, err := e.buildLayers(ctx, parent)
	if err != nil {
		return BuildImage{}, fmt.Errorf("build commit: %w", err)
	}
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: append([]digest.Digest(nil), parent.Config.RootFS.DiffIDs...)}
	size := parent.Record.Size
	var nl *newLayer
	switch {
	case src.Container != "":
		nl, err = e.containerLayer(ctx, src.Container, true)
	case src.Fill != nil:
		nl, err = e.fillLayer(ctx, buildChain(parent), src.Fill)
	}
	if err != nil {
		return BuildImage{}, err
	}
	if nl != nil {
		layers = append(layers, nl.desc)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, nl.diffID)
		size += nl.size
	}
	rec, err := e.writeImage(ctx, cfg, layers)
	if err != nil {
		if nl != nil && nl.snapKey != "" {
			e.Images.Snapshots.Remove(context.WithoutCancel(ctx), nl.snapKey)
		}
		return BuildImage{}, err
	}
	rec.Name = image.BuildCacheName(o.CacheKey)
	rec.BuildCache = o.CacheKey
	rec.Description = o.Description
	rec.Size = size
	img := BuildImage{ID: rec.ID(), Record: rec, Config: cfg}
	if nl != nil {
		// The layer's snapshot: the filled one committed as it is, or the
		// container's changes applied from the blob.
		ls := make([]image.Layer, len(layers))
		for i := range layers {
			ls[i] = image.Layer{Blob: layers[i], DiffID: cfg.RootFS.DiffIDs[i]}
		}
		if err := e.commitLayerSnapshot(ctx, buildChain(parent), buildChain(img), nl, ls); err != nil {
			return BuildImage{}, fmt.Errorf("build commit: %w", err)
		}
	}
	if err := e.Images.Records.Put(ctx, rec); err != nil {
		return BuildImage{}, err
	}
	e.pinFor(ctx, img)
	return img, nil
}

// writeImage writes cfg's config blob and the manifest of layers, and
// returns a record (without a name) of them.
func (e *Engine) writeImage(ctx context.Context, cfg dockerspec.DockerOCIImage, layers []ocispec.Descriptor) (image.Record, error) {
	cb, err := json.Marshal(cfg)
	if err != nil {
		return image.Record{}, err
	}
	cfgDesc, err := content.WriteBytes(ctx, e.Images.Content, ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		return image.Record{}, fmt.Errorf("write image config: %w", err)
	}
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: layers}
	m.SchemaVersion = 2
	mb, err := json.Marshal(m)
	if err != nil {
		return image.Record{}, err
	}
	mDesc, err := content.WriteBytes(ctx, e.Images.Content, ocispec.MediaTypeImageManifest, mb)
	if err != nil {
		return image.Record{}, fmt.Errorf("write image manifest: %w", err)
	}
	return image.Record{Target: mDesc, Manifest: mDesc, Config: cfgDesc, Created: time.Now().UTC()}, nil
}

// BuildCacheGet returns the image of a cache key; false when there is
// none (or its blobs are gone).
func (e *Engine) BuildCacheGet(ctx context.Context, key string) (BuildImage, bool, error) {
	unlock, err := e.sharedLock(ctx)
	if err != nil {
		return BuildImage{}, false, err
	}
	defer unlock()
	rec, err := e.Images.Records.Get(ctx, image.BuildCacheName(key))
	if errors.Is(err, image.ErrNotFound) {
		return BuildImage{}, false, nil
	}
	if err != nil {
		return BuildImage{}, false, err
	}
	img, err := e.buildImageOf(ctx, rec)
	if err != nil {
		return BuildImage{}, false, nil
	}
	li, err := image.Load(ctx, e.Images.Content, rec)
	if err != nil {
		return BuildImage{}, false, nil
	}
	if err := e.ensureUnpacked(ctx, li); err != nil {
		return BuildImage{}, false, nil
	}
	e.pinFor(ctx, img)
	return img, true, nil
}

// BuildName gives a build's final image its tags, as docker does after
// "Successfully built": each tag is (re)pointed at it, with a tag event.
// With no tags the image is recorded under its ID, as a dangling image
// that `images` lists as <none>:<none>.
func (e *Engine) BuildName(ctx context.Context, img BuildImage, tags []string) error {
	if img.ID == "" {
		return Invalid("no image to name")
	}
	var refs []image.Reference
	for _, t := range tags {
		ref, err := image.ParseReference(t)
		if err != nil {
			return imageErr(err, t)
		}
		if ref.Digest != "" {
			return Invalid("refusing to create a tag with a digest reference")
		}
		refs = append(refs, ref)
	}
	unlock, err := e.sharedLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for _, d := range []ocispec.Descriptor{img.Record.Manifest, img.Record.Config} {
		if _, err := e.Images.Content.Info(ctx, d.Digest); err != nil {
			return fmt.Errorf("name image %s: %w", img.ID, err)
		}
	}
	rec := img.Record
	rec.BuildCache, rec.Description = "", ""
	rec.Created = time.Now().UTC()
	if len(refs) == 0 {
		rec.Name = img.ID.String()
		return e.Images.Records.Update(ctx, func(m map[string]image.Record) error {
			for _, r := range m {
				if r.ID() == img.ID && r.Named() {
					return nil // already named: not dangling
				}
			}
			m[rec.Name] = rec
			return nil
		})
	}
	err = e.Images.Records.Update(ctx, func(m map[string]image.Record) error {
		for _, ref := range refs {
			r := rec
			r.Name = ref.String()
			m[r.Name] = r
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, ref := range refs {
		e.emit(events.ImageEventType, events.ActionTag, img.ID.String(), map[string]string{"name": ref.Familiar()})
	}
	return nil
}

// BuildMount mounts a read-only view of img's filesystem (for COPY
// --from) at a private directory and returns it and the function that
// unmounts and removes it. Scratch gives an empty directory.
func (e *Engine) BuildMount(ctx context.Context, img BuildImage) (root string, release func(), err error) {
	dir, err := os.MkdirTemp(e.buildDir(), "mount-")
	if err != nil {
		return "", nil, err
	}
	chain := buildChain(img)
	if chain == "" {
		return dir, func() { os.Remove(dir) }, nil
	}
	key := "build-view-" + newID()[:16]
	ms, err := e.Images.Snapshots.View(ctx, key, chain)
	if err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("mount image %s: %w", img.ID, err)
	}
	if err := mount.All(ms, dir); err != nil {
		e.Images.Snapshots.Remove(context.WithoutCancel(ctx), key)
		os.Remove(dir)
		return "", nil, fmt.Errorf("mount image %s: %w", img.ID, err)
	}
	return dir, func() {
		mount.Unmount(dir)
		e.Images.Snapshots.Remove(context.WithoutCancel(ctx), key)
		os.Remove(dir)
	}, nil
}

// buildDir is the private directory of build mounts (made on first use).
func (e *Engine) buildDir() string {
	d := filepath.Join(e.opts.Root, "build", "mnt")
	os.MkdirAll(d, 0o700)
	return d
}

// BuildCacheEntry is one build cache record.
type BuildCacheEntry struct {
	Key     string
	ID      digest.Digest
	Created time.Time
	// Size is the unpacked size of the entry's top layer (0 for a step
	// that made no layer).
	Size int64
	// InUse: a tagged image or a container uses this entry's image.
	InUse bool
	// Description is the step that made it ("RUN apk add ...").
	Description string
}

// BuildCacheList lists the build cache.
func (e *Engine) BuildCacheList(ctx context.Context) ([]BuildCacheEntry, error) {
	all, err := e.Images.Records.List(ctx)
	if err != nil {
		return nil, err
	}
	used := map[digest.Digest]bool{}
	for _, r := range all {
		if r.Named() {
			used[r.ID()] = true
		}
	}
	recs, err := e.records()
	if err != nil {
		return nil, err
	}
	for _, c := range recs {
		used[digest.Digest(c.ImageID)] = true
	}
	var out []BuildCacheEntry
	for _, r := range all {
		if r.BuildCache == "" {
			continue
		}
		ent := BuildCacheEntry{Key: r.BuildCache, ID: r.ID(), Created: r.Created, InUse: used[r.ID()] || e.Images.pins.has(r.ID()), Description: r.Description}
		if img, err := e.buildImageOf(ctx, r); err == nil && len(img.Config.History) > 0 && !img.Config.History[len(img.Config.History)-1].EmptyLayer {
			if info, err := e.Images.Snapshots.Stat(ctx, buildChain(img)); err == nil {
				ent.Size, _ = strconv.ParseInt(info.Labels[image.SizeLabel], 10, 64)
			}
		}
		out = append(out, ent)
	}
	return out, nil
}

// BuildCacheRemove removes the entries of keys, then collects the blobs
// and snapshots nothing reaches any more, and returns the bytes reclaimed.
func (e *Engine) BuildCacheRemove(ctx context.Context, keys []string) (reclaimed int64, err error) {
	if len(keys) == 0 {
		return 0, nil
	}
	err = e.Images.Records.Update(ctx, func(m map[string]image.Record) error {
		for _, k := range keys {
			delete(m, image.BuildCacheName(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	c, err := e.Images.collect(ctx)
	return c.Bytes, err
}

// BuildTempDir is where builds extract their contexts: under the data
// root, so that a context can be large and is on the same filesystem as
// the snapshots.
func (e *Engine) BuildTempDir() string { return filepath.Join(e.opts.Root, "build", "tmp") }
