package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// repo is the repository every target serves the image and blob under.
const repo = "bench/big"

// image is what makeImage wrote, for the clients to ask for and check.
type image struct {
	manifest       []byte
	manifestDigest digest.Digest
	config         ocispec.Descriptor
	layers         []ocispec.Descriptor
	bigBlob        digest.Digest // the separate big blob, not part of the image
}

// blobs are the manifest's blobs: config, then layers.
func (im *image) blobs() []ocispec.Descriptor {
	return append([]ocispec.Descriptor{im.config}, im.layers...)
}

// total is the bytes a pull reads: manifest, config and layers.
func (im *image) total() int64 {
	n := int64(len(im.manifest))
	for _, d := range im.blobs() {
		n += d.Size
	}
	return n
}

// makeImage writes an OCI layout (tag "latest") holding one image of
// nlayers gzip layers, size bytes of file data in all. The files hold
// random bytes, so the layers do not compress: a pull moves about size
// bytes, as with an image of already-compressed content. Gzip at its
// fastest level keeps making them quick; the layers are real tar+gzip so
// that clients that look inside (or check the diff IDs) are content.
func makeImage(dir string, nlayers int, size int64) (*image, error) {
	blobDir := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return nil, err
	}
	put := func(mt string, b []byte) (ocispec.Descriptor, error) {
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		return d, os.WriteFile(filepath.Join(blobDir, d.Digest.Encoded()), b, 0o644)
	}
	rng := rand.NewChaCha8([32]byte{'b', 'e', 'r', 't', 'h'})
	im := &image{}
	var diffIDs []digest.Digest
	for l := 0; l < nlayers; l++ {
		desc, diffID, err := writeLayer(blobDir, l, size/int64(nlayers), rng)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		im.layers = append(im.layers, desc)
		diffIDs = append(diffIDs, diffID)
	}
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/sh"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	}
	cb, _ := json.Marshal(cfg)
	var err error
	if im.config, err = put(ocispec.MediaTypeImageConfig, cb); err != nil {
		return nil, err
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: im.config, Layers: im.layers}
	m.SchemaVersion = 2
	im.manifest, _ = json.Marshal(m)
	md, err := put(ocispec.MediaTypeImageManifest, im.manifest)
	if err != nil {
		return nil, err
	}
	im.manifestDigest = md.Digest
	// The ref name is what skopeo's oci:DIR:latest finds; the containerd
	// name is what `berth load` names the image.
	md.Annotations = map[string]string{ocispec.AnnotationRefName: "latest", "io.containerd.image.name": "docker.io/registrybench/big:latest"}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644); err != nil {
		return nil, err
	}
	return im, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// writeLayer writes one gzip layer of files holding size bytes of random
// data into blobDir, and returns its descriptor and diff ID.
func writeLayer(blobDir string, l int, size int64, rng io.Reader) (ocispec.Descriptor, digest.Digest, error) {
	f, err := os.CreateTemp(blobDir, "layer-")
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	defer f.Close()
	gzHash, tarHash := sha256.New(), sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, gzHash)}
	zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	tw := tar.NewWriter(io.MultiWriter(zw, tarHash))
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("layer%d/", l), Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	// Files of up to 8 MiB: a few big ones, as in layers that carry
	// binaries or data.
	for i, left := 0, size; left > 0; i++ {
		n := min(left, 8<<20)
		hdr := &tar.Header{Name: fmt.Sprintf("layer%d/data%03d", l, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: n, ModTime: mtime}
		if err := tw.WriteHeader(hdr); err != nil {
			return ocispec.Descriptor{}, "", err
		}
		if _, err := io.CopyN(tw, rng, n); err != nil {
			return ocispec.Descriptor{}, "", err
		}
		left -= n
	}
	if err := tw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := zw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := f.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	d := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest:    digest.NewDigestFromBytes(digest.SHA256, gzHash.Sum(nil)),
		Size:      cw.n,
	}
	if err := os.Rename(f.Name(), filepath.Join(blobDir, d.Digest.Encoded())); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	return d, digest.NewDigestFromBytes(digest.SHA256, tarHash.Sum(nil)), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// makeBlob writes size random bytes to path.
func makeBlob(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{'b', 'l', 'o', 'b'})
	if _, err := io.CopyN(f, rng, size); err != nil {
		return "", err
	}
	return path, f.Close()
}

func fileDigest(path string) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return digest.SHA256.FromReader(f)
}
