package engine

import (
	"context"
	"strconv"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/image"
)

// ImageInspect is `image inspect`'s answer, in the shape of Docker's.
type ImageInspect struct {
	ID           string              `json:"Id"`
	RepoTags     []string            `json:"RepoTags"`
	RepoDigests  []string            `json:"RepoDigests"`
	Parent       string              `json:"Parent"`
	Comment      string              `json:"Comment"`
	Created      string              `json:"Created"`
	Author       string              `json:"Author"`
	Config       ocispec.ImageConfig `json:"Config"`
	Architecture string              `json:"Architecture"`
	Variant      string              `json:"Variant,omitempty"`
	Os           string              `json:"Os"`
	Size         int64               `json:"Size"`
	GraphDriver  ImageInspectGraph   `json:"GraphDriver"`
	RootFS       ImageInspectRootFS  `json:"RootFS"`
	Metadata     map[string]string   `json:"Metadata"`
	// Descriptor is the manifest the image was unpacked from.
	Descriptor ocispec.Descriptor `json:"Descriptor"`
}

// ImageInspectRootFS lists the layers by diff ID.
type ImageInspectRootFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

// ImageInspectGraph names the storage driver and the image's top snapshot.
type ImageInspectGraph struct {
	Name string            `json:"Name"`
	Data map[string]string `json:"Data"`
}

// Inspect describes one image, with every name it has.
func (s *Images) Inspect(ctx context.Context, name string) (ImageInspect, error) {
	img, err := s.Get(ctx, name)
	if err != nil {
		return ImageInspect{}, err
	}
	cfg := img.Config()
	out := ImageInspect{
		ID:           img.ID().String(),
		RepoTags:     []string{},
		RepoDigests:  []string{},
		Author:       cfg.Author,
		Config:       cfg.Config,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		Size:         img.Size,
		GraphDriver:  ImageInspectGraph{Name: s.Driver, Data: map[string]string{"snapshot": img.ChainID().String()}},
		RootFS:       ImageInspectRootFS{Type: "layers"},
		Metadata:     map[string]string{"LastTagTime": img.Record.Created.Format(time.RFC3339Nano)},
		Descriptor:   img.Record.Manifest,
	}
	if cfg.Created != nil {
		out.Created = cfg.Created.Format(time.RFC3339Nano)
	}
	for _, d := range cfg.RootFS.DiffIDs {
		out.RootFS.Layers = append(out.RootFS.Layers, d.String())
	}
	if len(cfg.History) > 0 {
		out.Comment = cfg.History[len(cfg.History)-1].Comment
	}
	recs, err := s.Records.Find(ctx, img.ID().String())
	if err != nil {
		return out, err
	}
	digests := map[string]bool{}
	for _, r := range recs {
		if !r.Named() {
			continue
		}
		ref, err := image.ParseReference(r.Name)
		if err != nil {
			continue
		}
		if ref.Tag != "" && ref.Digest == "" {
			out.RepoTags = append(out.RepoTags, ref.Familiar())
		}
		d := ref.FamiliarName() + "@" + r.Target.Digest.String()
		if !digests[d] {
			digests[d] = true
			out.RepoDigests = append(out.RepoDigests, d)
		}
	}
	return out, nil
}

// HistoryEntry is one line of `image history`.
type HistoryEntry struct {
	ID        string
	Created   string
	CreatedBy string
	Size      int64
	Comment   string
}

// History lists an image's history, newest first, pairing the entries
// that made layers with the layers' blob sizes.
func History(img *image.Image) []HistoryEntry {
	cfg := img.Config()
	layers := img.Layers()
	var out []HistoryEntry
	li := 0
	for _, h := range cfg.History {
		e := HistoryEntry{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment}
		if h.Created != nil {
			e.Created = HumanAgo(*h.Created)
		}
		if !h.EmptyLayer && li < len(layers) {
			e.Size = layers[li].Blob.Size
			li++
		}
		out = append(out, e)
	}
	if len(cfg.History) == 0 {
		for _, l := range layers {
			out = append(out, HistoryEntry{ID: "<missing>", Size: l.Blob.Size})
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > 0 {
		out[0].ID = img.ID().Encoded()[:12]
	}
	return out
}

// HumanAgo says how long ago t was, as docker does.
func HumanAgo(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "Less than a minute ago"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute")
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour")
	case d < 14*24*time.Hour:
		return plural(int(d.Hours()/24), "day")
	case d < 60*24*time.Hour:
		return plural(int(d.Hours()/24/7), "week")
	case d < 2*365*24*time.Hour:
		return plural(int(d.Hours()/24/30), "month")
	}
	return plural(int(d.Hours()/24/365), "year")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "About a " + unit + " ago"
	}
	return strconv.Itoa(n) + " " + unit + "s ago"
}
