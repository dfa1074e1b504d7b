package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/layer"
)

// ImportOptions describe the image Import makes.
type ImportOptions struct {
	Platform ocispec.Platform // the host's when empty
	Config   ocispec.ImageConfig
	Message  string // the history comment
	Source   string // where the tar came from, for the history
}

// Import makes a one-layer image from a root filesystem tar (plain, gzip
// or zstd): the layer is stored gzip-compressed, its diff ID computed on
// the way, and a config and manifest written for it. It returns the
// manifest's descriptor.
func Import(ctx context.Context, cs content.Store, r io.Reader, o ImportOptions) (ocispec.Descriptor, error) {
	rc, _, err := layer.Decompress(r)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("import: %w", err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	diffID := digest.Canonical.Digester()
	compressed := make(chan struct{})
	go func() {
		defer close(compressed)
		zw, err := layer.Compress(pw, layer.Gzip)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		_, err = io.CopyBuffer(zw, io.TeeReader(rc, diffID.Hash()), make([]byte, 1<<20))
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	// Whatever the outcome, the compressor must not outlive Import: were
	// the copy below to stop early, it would block on the pipe forever,
	// reading rc after the deferred rc.Close.
	defer func() {
		pr.Close()
		<-compressed
	}()
	ref := fmt.Sprintf("import-%d", time.Now().UnixNano())
	w, err := cs.Writer(ctx, ref, ocispec.Descriptor{})
	if err != nil {
		pr.CloseWithError(err)
		return ocispec.Descriptor{}, err
	}
	defer w.Close()
	n, err := io.CopyBuffer(w, pr, make([]byte, 1<<20))
	if err != nil {
		// Nothing will resume an import: its partial layer goes.
		w.Close()
		if a, ok := cs.(content.Aborter); ok {
			a.Abort(context.WithoutCancel(ctx), ref)
		}
		return ocispec.Descriptor{}, fmt.Errorf("import: %w", err)
	}
	layerDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: w.Digest(), Size: n}
	if err := w.Commit(ctx, n, layerDesc.Digest); err != nil && !errors.Is(err, content.ErrAlreadyExists) {
		return ocispec.Descriptor{}, err
	}
	p := o.Platform
	if p.OS == "" {
		p = HostPlatform()
	}
	now := time.Now().UTC()
	cfg := ocispec.Image{
		Created:  &now,
		Platform: ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		Config:   o.Config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID.Digest()}},
		History:  []ocispec.History{{Created: &now, CreatedBy: "berth import " + o.Source, Comment: o.Message}},
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfgDesc, err := content.WriteBytes(ctx, cs, ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: []ocispec.Descriptor{layerDesc}}
	m.SchemaVersion = 2
	mb, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return content.WriteBytes(ctx, cs, ocispec.MediaTypeImageManifest, mb)
}
