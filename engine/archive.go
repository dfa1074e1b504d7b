package engine

import (
	"context"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/image"
)

// named resolves what the user typed to images to save, each with the
// names it was asked by (a bare ID saves the image unnamed).
func (s *Images) named(ctx context.Context, names []string) ([]image.Named, error) {
	var out []image.Named
	at := map[string]int{}
	for _, n := range names {
		recs, err := s.Records.Find(ctx, n)
		if err != nil {
			return nil, err
		}
		r := recs[0]
		i, ok := at[r.Manifest.Digest.String()]
		if !ok {
			i = len(out)
			at[r.Manifest.Digest.String()] = i
			out = append(out, image.Named{Target: r.Target, Manifest: r.Manifest})
		}
		if full := mustFull(n); full == r.Name {
			out[i].Names = append(out[i].Names, r.Name)
		}
	}
	return out, nil
}

// Save writes images as a docker-archive that is also an OCI layout.
func (s *Images) Save(ctx context.Context, w io.Writer, names []string) error {
	imgs, err := s.named(ctx, names)
	if err != nil {
		return err
	}
	return image.Save(ctx, s.Content, w, imgs)
}

// SaveLayout writes images into an OCI layout directory.
func (s *Images) SaveLayout(ctx context.Context, dir string, names []string) error {
	imgs, err := s.named(ctx, names)
	if err != nil {
		return err
	}
	return image.SaveLayout(ctx, s.Content, dir, imgs)
}

// Load reads a docker-archive or OCI archive from r, or, when dir is set,
// an OCI layout directory; unpacks every image and only then names it. A
// failure leaves nothing named and frees what the load stored.
func (s *Images) Load(ctx context.Context, r io.Reader, dir string, platform ocispec.Platform) ([]image.Record, error) {
	if platform.OS == "" {
		platform = image.HostPlatform()
	}
	recs, err := s.load(ctx, r, dir, platform)
	if err != nil {
		s.collect(context.WithoutCancel(ctx))
		return nil, err
	}
	return recs, nil
}

func (s *Images) load(ctx context.Context, r io.Reader, dir string, platform ocispec.Platform) ([]image.Record, error) {
	unlock, err := s.Records.Lock(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var loaded []image.Loaded
	if dir != "" {
		loaded, err = image.ReadLayout(ctx, s.Content, dir, platform)
	} else {
		loaded, err = image.ReadArchive(ctx, s.Content, r, platform)
	}
	if err != nil {
		return nil, err
	}
	var out []image.Record
	for _, l := range loaded {
		rec, err := s.unpackAndName(ctx, l.Target, l.Manifest, l.Names)
		if err != nil {
			return nil, err
		}
		out = append(out, rec...)
	}
	return out, nil
}

// unpackAndName unpacks the image of manifest and records it under names
// (or, with none, under its ID, as docker keeps an untagged image).
func (s *Images) unpackAndName(ctx context.Context, target, manifest ocispec.Descriptor, names []string) ([]image.Record, error) {
	m, cfg, err := image.ReadManifest(ctx, s.Content, manifest)
	if err != nil {
		return nil, err
	}
	img := image.Record{Target: target, Manifest: manifest, Config: m.Config}
	_, size, err := image.Unpack(ctx, s.Content, s.Snapshots, image.LayersOf(m, cfg), image.UnpackOptions{})
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = []string{m.Config.Digest.String()}
	}
	var out []image.Record
	now := time.Now().UTC()
	err = s.Records.Update(ctx, func(all map[string]image.Record) error {
		for _, n := range names {
			rec := img
			rec.Name, rec.Created, rec.Size = n, now, size
			all[n] = rec
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Import makes an image from a root filesystem tar, named name (or
// unnamed when name is empty).
func (s *Images) Import(ctx context.Context, r io.Reader, name string, o image.ImportOptions) (image.Record, error) {
	var names []string
	if name != "" {
		ref, err := image.ParseReference(name)
		if err != nil {
			return image.Record{}, err
		}
		names = []string{ref.String()}
	}
	recs, err := func() ([]image.Record, error) {
		unlock, err := s.Records.Lock(ctx, false)
		if err != nil {
			return nil, err
		}
		defer unlock()
		md, err := image.Import(ctx, s.Content, r, o)
		if err != nil {
			return nil, err
		}
		return s.unpackAndName(ctx, md, md, names)
	}()
	if err != nil {
		s.collect(context.WithoutCancel(ctx))
		return image.Record{}, err
	}
	return recs[0], nil
}
