package image

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
)

// Media types of Docker's formats, which registries and `docker save`
// still use beside OCI's.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	MediaTypeDockerSchema1      = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// IsIndex reports whether a media type is an OCI index or a Docker
// manifest list.
func IsIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsManifest reports whether a media type is an OCI or Docker schema2
// image manifest.
func IsManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// IsLayer reports whether a media type is a layer berth can unpack.
func IsLayer(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // still seen
		ocispec.MediaTypeImageLayerNonDistributableZstd, //nolint:staticcheck
		MediaTypeDockerLayer, MediaTypeDockerForeignLayer, "application/vnd.docker.image.rootfs.diff.tar":
		return true
	}
	return false
}

// Layer is one layer of an image: its blob and the digest of its
// uncompressed tar.
type Layer struct {
	Blob   ocispec.Descriptor
	DiffID digest.Digest
}

// Image is an image whose manifest and config are in the content store.
type Image struct {
	Record
	manifest ocispec.Manifest
	config   ocispec.Image
}

// Manifest returns the image manifest.
func (i *Image) Manifest() ocispec.Manifest { return i.manifest }

// Config returns the image config.
func (i *Image) Config() ocispec.Image { return i.config }

// Layers pairs the manifest's layer blobs with the config's diff IDs.
func (i *Image) Layers() []Layer { return LayersOf(i.manifest, i.config) }

// LayersOf pairs a manifest's layer blobs with its config's diff IDs, which
// ReadManifest has checked to be as many.
func LayersOf(m ocispec.Manifest, cfg ocispec.Image) []Layer {
	out := make([]Layer, len(m.Layers))
	for n, l := range m.Layers {
		out[n] = Layer{Blob: l, DiffID: cfg.RootFS.DiffIDs[n]}
	}
	return out
}

// ChainID names the snapshot that holds the image's unpacked filesystem.
func (i *Image) ChainID() digest.Digest { return ChainID(i.Layers()) }

// ChainID is the chain ID of a stack of layers (of the diff IDs, in order).
func ChainID(layers []Layer) digest.Digest {
	return identity.ChainID(diffIDs(layers))
}

// Load reads the manifest and config of a record from the content store
// and checks they agree.
func Load(ctx context.Context, cs content.Store, rec Record) (*Image, error) {
	m, cfg, err := ReadManifest(ctx, cs, rec.Manifest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", rec.Name, err)
	}
	return &Image{Record: rec, manifest: m, config: cfg}, nil
}

// ReadManifest reads an image manifest and its config from the content
// store and checks that they are consistent: known media types and as many
// layers as diff IDs.
func ReadManifest(ctx context.Context, cs content.Store, desc ocispec.Descriptor) (ocispec.Manifest, ocispec.Image, error) {
	var m ocispec.Manifest
	var cfg ocispec.Image
	b, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return m, cfg, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, cfg, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	if m.MediaType != "" && !IsManifest(m.MediaType) {
		return m, cfg, fmt.Errorf("manifest %s: unsupported media type %s", desc.Digest, m.MediaType)
	}
	for _, l := range m.Layers {
		if !IsLayer(l.MediaType) {
			return m, cfg, fmt.Errorf("manifest %s: layer %s: unsupported media type %s", desc.Digest, l.Digest, l.MediaType)
		}
	}
	cb, err := content.ReadBlob(ctx, cs, m.Config)
	if err != nil {
		return m, cfg, fmt.Errorf("config of %s: %w", desc.Digest, err)
	}
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return m, cfg, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return m, cfg, fmt.Errorf("manifest %s has %d layers but its config %d diff_ids", desc.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	return m, cfg, nil
}
