package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/layer"
)

// Annotations an OCI layout's index.json uses to name its images:
// containerd and docker write the full name, the OCI spec the tag.
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = ocispec.AnnotationRefName
)

// Named is an image to save, with the names it goes under.
type Named struct {
	Names    []string           // full references
	Target   ocispec.Descriptor // what the names point to: index or manifest
	Manifest ocispec.Descriptor // the manifest for this platform
}

// dockerManifestEntry is one image of a docker-archive's manifest.json.
type dockerManifestEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// Save writes images as one tar that is both an OCI image layout and a
// docker-archive (what `docker save` writes since Docker 25): docker,
// podman and skopeo load it, and so does berth. Blobs are written as they
// are stored, layers still compressed: docker's and containers/image's
// loaders decompress what they find.
func Save(ctx context.Context, cs content.Store, w io.Writer, imgs []Named) error {
	tw := tar.NewWriter(w)
	written := map[digest.Digest]bool{}
	blob := func(desc ocispec.Descriptor) error {
		if written[desc.Digest] {
			return nil
		}
		written[desc.Digest] = true
		ra, err := cs.ReaderAt(ctx, desc.Digest)
		if err != nil {
			return fmt.Errorf("save %s: %w", desc.Digest, err)
		}
		defer ra.Close()
		hdr := &tar.Header{Name: blobPath(desc.Digest), Mode: 0o444, Size: ra.Size(), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, io.NewSectionReader(ra, 0, ra.Size()))
		return err
	}
	var idx ocispec.Index
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	var manifestJSON []dockerManifestEntry
	repos := map[string]map[string]string{}
	dirs := map[string]bool{}
	for _, img := range imgs {
		m, _, err := ReadManifest(ctx, cs, img.Manifest)
		if err != nil {
			return err
		}
		for _, d := range []string{"blobs/", "blobs/" + img.Manifest.Digest.Algorithm().String() + "/"} {
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
					return err
				}
			}
		}
		if err := blob(img.Manifest); err != nil {
			return err
		}
		if err := blob(m.Config); err != nil {
			return err
		}
		entry := dockerManifestEntry{Config: blobPath(m.Config.Digest), RepoTags: []string{}}
		for _, l := range m.Layers {
			if err := blob(l); err != nil {
				return err
			}
			entry.Layers = append(entry.Layers, blobPath(l.Digest))
		}
		desc := img.Manifest
		desc.Platform = nil
		if len(img.Names) == 0 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		for _, name := range img.Names {
			ref, err := ParseReference(name)
			if err != nil {
				continue
			}
			d := desc
			d.Annotations = map[string]string{AnnotationImageName: ref.String()}
			if ref.Tag != "" {
				d.Annotations[AnnotationRefName] = ref.Tag
				entry.RepoTags = append(entry.RepoTags, ref.Familiar())
				if repos[ref.FamiliarName()] == nil {
					repos[ref.FamiliarName()] = map[string]string{}
				}
				repos[ref.FamiliarName()][ref.Tag] = m.Config.Digest.Encoded()
			}
			idx.Manifests = append(idx.Manifests, d)
		}
		manifestJSON = append(manifestJSON, entry)
	}
	files := []struct {
		name string
		v    any
	}{
		{ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}},
		{"index.json", idx},
		{"manifest.json", manifestJSON},
		{"repositories", repos},
	}
	for _, f := range files {
		b, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	return tw.Close()
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// SaveLayout writes images into an OCI image layout directory (created, or
// added to if it already holds one), naming each by its tag the way skopeo
// and umoci read it ("oci:DIR:TAG").
func SaveLayout(ctx context.Context, cs content.Store, dir string, imgs []Named) error {
	var idx ocispec.Index
	if b, err := os.ReadFile(filepath.Join(dir, "index.json")); err == nil {
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("save to %s: index.json: %w", dir, err)
		}
	}
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	put := func(desc ocispec.Descriptor) error {
		p := filepath.Join(dir, filepath.FromSlash(blobPath(desc.Digest)))
		if _, err := os.Stat(p); err == nil {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		ra, err := cs.ReaderAt(ctx, desc.Digest)
		if err != nil {
			return fmt.Errorf("save %s: %w", desc.Digest, err)
		}
		defer ra.Close()
		b, err := io.ReadAll(io.NewSectionReader(ra, 0, ra.Size()))
		if err != nil {
			return err
		}
		return WriteFileAtomic(p, b, 0o644)
	}
	for _, img := range imgs {
		m, _, err := ReadManifest(ctx, cs, img.Manifest)
		if err != nil {
			return err
		}
		for _, d := range append([]ocispec.Descriptor{img.Manifest, m.Config}, m.Layers...) {
			if err := put(d); err != nil {
				return err
			}
		}
		if len(img.Names) == 0 {
			// Saved by ID: listed without a name, once, as Save does.
			listed := false
			for _, old := range idx.Manifests {
				listed = listed || (old.Digest == img.Manifest.Digest && len(old.Annotations) == 0)
			}
			if !listed {
				d := img.Manifest
				d.Annotations = nil
				idx.Manifests = append(idx.Manifests, d)
			}
		}
		for _, name := range img.Names {
			ref, err := ParseReference(name)
			if err != nil {
				continue
			}
			d := img.Manifest
			d.Annotations = map[string]string{AnnotationImageName: ref.String()}
			if ref.Tag != "" {
				d.Annotations[AnnotationRefName] = ref.Tag
			}
			// A tag names one manifest: the new one replaces the old.
			kept := idx.Manifests[:0]
			for _, old := range idx.Manifests {
				if old.Annotations[AnnotationRefName] != d.Annotations[AnnotationRefName] || ref.Tag == "" {
					kept = append(kept, old)
				}
			}
			idx.Manifests = append(kept, d)
		}
	}
	b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := WriteFileAtomic(filepath.Join(dir, ocispec.ImageLayoutFile), b, 0o644); err != nil {
		return err
	}
	b, _ = json.Marshal(idx)
	return WriteFileAtomic(filepath.Join(dir, "index.json"), b, 0o644)
}

// Loaded is an image found in an archive or layout, its blobs now in the
// content store.
type Loaded struct {
	Names    []string // full references; none for an unnamed image
	Target   ocispec.Descriptor
	Manifest ocispec.Descriptor
}

// maxSmall is the largest archive entry kept in memory while reading:
// anything bigger is a layer and goes to the content store at once.
const maxSmall = content.MaxInline

// ReadArchive reads a docker-archive (`docker save`, old or new format) or
// an OCI layout in a tar (an oci-archive) from r, storing its blobs in the
// content store, each verified against the digest the archive names it
// by, and returns the images it holds. Platform selects among the
// manifests of an index.
func ReadArchive(ctx context.Context, cs content.Store, r io.Reader, platform ocispec.Platform) ([]Loaded, error) {
	small := map[string][]byte{}
	stored := map[string]ocispec.Descriptor{} // path -> blob, for big entries
	links := map[string]string{}              // path -> the path it links to
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			// docker save (before 25) writes a layer it already wrote
			// under another v1 ID as a link: <id2>/layer.tar ->
			// ../<id1>/layer.tar.
			links[name] = path.Join(path.Dir(name), hdr.Linkname)
			continue
		case tar.TypeLink:
			links[name] = path.Clean(strings.TrimPrefix(hdr.Linkname, "./"))
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if hdr.Size <= maxSmall {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("read archive: %s: %w", name, err)
			}
			small[name] = b
			continue
		}
		desc, err := storeEntry(ctx, cs, name, tr, hdr.Size)
		if err != nil {
			return nil, err
		}
		stored[name] = desc
	}
	src := &archiveSource{cs: cs, small: small, stored: stored, links: links}
	if _, ok := small["manifest.json"]; ok {
		if _, isOCI := small["index.json"]; !isOCI {
			return src.loadDocker(ctx)
		}
	}
	if _, ok := small["index.json"]; ok {
		return src.loadOCI(ctx, platform)
	}
	if _, ok := small["manifest.json"]; ok {
		return src.loadDocker(ctx)
	}
	return nil, fmt.Errorf("read archive: neither a docker-archive (manifest.json) nor an OCI layout (index.json)")
}

// ReadLayout reads an OCI image layout directory, storing its blobs.
func ReadLayout(ctx context.Context, cs content.Store, dir string, platform ocispec.Platform) ([]Loaded, error) {
	b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageLayoutFile))
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	var lay ocispec.ImageLayout
	if err := json.Unmarshal(b, &lay); err != nil || lay.Version == "" {
		return nil, fmt.Errorf("read OCI layout %s: bad %s", dir, ocispec.ImageLayoutFile)
	}
	idx, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	src := &archiveSource{cs: cs, small: map[string][]byte{"index.json": idx}, dir: dir}
	return src.loadOCI(ctx, platform)
}

// storeEntry streams an archive entry into the content store; when its
// path names its digest (blobs/ALG/HEX), the bytes must match it.
func storeEntry(ctx context.Context, cs content.Store, name string, r io.Reader, size int64) (ocispec.Descriptor, error) {
	var expected digest.Digest
	if alg, hex, ok := strings.Cut(strings.TrimPrefix(name, "blobs/"), "/"); ok && strings.HasPrefix(name, "blobs/") {
		expected = digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
		if expected.Validate() != nil {
			expected = ""
		}
	}
	ref := "load-" + name
	w, err := cs.Writer(ctx, ref, ocispec.Descriptor{Digest: expected, Size: size})
	if errors.Is(err, content.ErrAlreadyExists) {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("read archive: %s: %w", name, err)
		}
		return ocispec.Descriptor{Digest: expected, Size: size}, nil
	}
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer w.Close()
	if err := w.Truncate(); err != nil {
		return ocispec.Descriptor{}, err
	}
	if _, err := io.CopyBuffer(w, r, make([]byte, 1<<20)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("read archive: %s: %w", name, err)
	}
	got := w.Digest()
	if err := w.Commit(ctx, size, expected); err != nil && !errors.Is(err, content.ErrAlreadyExists) {
		return ocispec.Descriptor{}, fmt.Errorf("read archive: %s: %w", name, err)
	}
	return ocispec.Descriptor{Digest: got, Size: size}, nil
}

// archiveSource finds an archive's files: small ones in memory, big ones
// already stored, or, for a layout directory, on disk.
type archiveSource struct {
	cs     content.Store
	small  map[string][]byte
	stored map[string]ocispec.Descriptor
	links  map[string]string
	dir    string
}

// blob makes sure the file at p is in the content store and returns its
// descriptor; want, when set, is the digest it must have.
func (a *archiveSource) blob(ctx context.Context, p string, want digest.Digest) (ocispec.Descriptor, error) {
	p = path.Clean(p)
	for range 16 { // a link to a link, but not a loop
		target, ok := a.links[p]
		if !ok {
			break
		}
		p = target
	}
	if d, ok := a.stored[p]; ok {
		if want != "" && d.Digest != want {
			return d, fmt.Errorf("archive file %s has digest %s, expected %s", p, d.Digest, want)
		}
		return d, nil
	}
	if b, ok := a.small[p]; ok {
		d := ocispec.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
		if want != "" && want.Algorithm() != digest.Canonical {
			d.Digest = want.Algorithm().FromBytes(b)
		}
		if want != "" && d.Digest != want {
			return d, fmt.Errorf("archive file %s has digest %s, expected %s: %w", p, d.Digest, want, content.ErrInvalid)
		}
		return d, content.WriteBlob(ctx, a.cs, bytes.NewReader(b), d)
	}
	if a.dir != "" {
		if !filepath.IsLocal(p) {
			return ocispec.Descriptor{}, fmt.Errorf("layout path %q leaves the layout", p)
		}
		// os.Root keeps symlinks in the layout inside it; only regular
		// files are blobs (a FIFO or /dev/zero would hang or fill the disk).
		root, err := os.OpenRoot(a.dir)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("read OCI layout: %w", err)
		}
		defer root.Close()
		f, err := root.OpenFile(filepath.FromSlash(p), os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("read OCI layout: %w", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if !fi.Mode().IsRegular() {
			return ocispec.Descriptor{}, fmt.Errorf("read OCI layout: %s is not a regular file", p)
		}
		d := ocispec.Descriptor{Digest: want, Size: fi.Size()}
		if err := content.WriteBlob(ctx, a.cs, f, d); err != nil {
			return d, fmt.Errorf("read OCI layout: %s: %w", p, err)
		}
		return d, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("archive has no file %s", p)
}

// loadOCI follows index.json: each manifest (or, for a nested index, the
// one for platform) is stored with its config and layers.
func (a *archiveSource) loadOCI(ctx context.Context, platform ocispec.Platform) ([]Loaded, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(a.small["index.json"], &idx); err != nil {
		return nil, fmt.Errorf("read archive: index.json: %w", err)
	}
	var out []Loaded
	for _, d := range idx.Manifests {
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("read archive: index.json: %w", err)
		}
		target, err := a.blob(ctx, blobPath(d.Digest), d.Digest)
		if err != nil {
			return nil, err
		}
		target.MediaType = d.MediaType
		manifest := target
		if IsIndex(d.MediaType) {
			b, err := content.ReadBlob(ctx, a.cs, target)
			if err != nil {
				return nil, err
			}
			var inner ocispec.Index
			if err := json.Unmarshal(b, &inner); err != nil {
				return nil, fmt.Errorf("read archive: index %s: %w", d.Digest, err)
			}
			if manifest, err = SelectManifest(inner, platform); err != nil {
				return nil, err
			}
			if _, err := a.blob(ctx, blobPath(manifest.Digest), manifest.Digest); err != nil {
				return nil, err
			}
		} else if !IsManifest(d.MediaType) {
			return nil, fmt.Errorf("read archive: %s: unsupported media type %q", d.Digest, d.MediaType)
		}
		if err := a.manifestBlobs(ctx, manifest); err != nil {
			return nil, err
		}
		l := Loaded{Target: target, Manifest: manifest}
		if n := d.Annotations[AnnotationImageName]; n != "" {
			l.Names = append(l.Names, n)
		} else if tag := d.Annotations[AnnotationRefName]; tag != "" {
			// A bare tag names nothing by itself; docker loads such an
			// image under the tag as a repository name.
			if ref, err := ParseReference(tag); err == nil {
				l.Names = append(l.Names, ref.String())
			}
		}
		out = append(out, l)
	}
	return merge(out), nil
}

func (a *archiveSource) manifestBlobs(ctx context.Context, desc ocispec.Descriptor) error {
	b, err := content.ReadBlob(ctx, a.cs, desc)
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("read archive: manifest %s: %w", desc.Digest, err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		got, err := a.blob(ctx, blobPath(d.Digest), d.Digest)
		if err != nil {
			return err
		}
		if got.Size != d.Size {
			return fmt.Errorf("read archive: blob %s is %d bytes, its manifest says %d", d.Digest, got.Size, d.Size)
		}
	}
	_, _, err = ReadManifest(ctx, a.cs, desc)
	return err
}

// loadDocker reads a docker-archive's manifest.json, making an OCI
// manifest for each image from its config and layer files.
func (a *archiveSource) loadDocker(ctx context.Context) ([]Loaded, error) {
	var entries []dockerManifestEntry
	if err := json.Unmarshal(a.small["manifest.json"], &entries); err != nil {
		return nil, fmt.Errorf("read archive: manifest.json: %w", err)
	}
	var out []Loaded
	for _, e := range entries {
		cfg, err := a.blob(ctx, e.Config, digestFromPath(e.Config))
		if err != nil {
			return nil, err
		}
		cfg.MediaType = ocispec.MediaTypeImageConfig
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg}
		m.SchemaVersion = 2
		for _, lp := range e.Layers {
			ld, err := a.blob(ctx, lp, digestFromPath(lp))
			if err != nil {
				return nil, err
			}
			ld.MediaType, err = layerMediaType(ctx, a.cs, ld)
			if err != nil {
				return nil, fmt.Errorf("read archive: layer %s: %w", lp, err)
			}
			m.Layers = append(m.Layers, ld)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		md, err := content.WriteBytes(ctx, a.cs, ocispec.MediaTypeImageManifest, b)
		if err != nil {
			return nil, err
		}
		if _, _, err := ReadManifest(ctx, a.cs, md); err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		l := Loaded{Target: md, Manifest: md}
		for _, t := range e.RepoTags {
			ref, err := ParseReference(t)
			if err != nil {
				return nil, fmt.Errorf("read archive: RepoTags: %w", err)
			}
			l.Names = append(l.Names, ref.String())
		}
		out = append(out, l)
	}
	return out, nil
}

// digestFromPath reads the digest a docker-archive path carries:
// blobs/sha256/HEX or HEX.json; legacy layer paths (HEX/layer.tar) name a
// v1 ID, not a digest, and give none.
func digestFromPath(p string) digest.Digest {
	p = path.Clean(p)
	if strings.HasPrefix(p, "blobs/") {
		if alg, hex, ok := strings.Cut(strings.TrimPrefix(p, "blobs/"), "/"); ok {
			if d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex); d.Validate() == nil {
				return d
			}
		}
	}
	if hex, ok := strings.CutSuffix(p, ".json"); ok && !strings.Contains(hex, "/") {
		if d := digest.NewDigestFromEncoded(digest.SHA256, hex); d.Validate() == nil {
			return d
		}
	}
	return ""
}

// layerMediaType tells a layer blob's compression from its first bytes.
func layerMediaType(ctx context.Context, cs content.Store, d ocispec.Descriptor) (string, error) {
	ra, err := cs.ReaderAt(ctx, d.Digest)
	if err != nil {
		return "", err
	}
	defer ra.Close()
	rc, c, err := layer.Decompress(io.NewSectionReader(ra, 0, ra.Size()))
	if err != nil {
		return "", err
	}
	rc.Close()
	switch c {
	case layer.Gzip:
		return ocispec.MediaTypeImageLayerGzip, nil
	case layer.Zstd:
		return ocispec.MediaTypeImageLayerZstd, nil
	}
	return ocispec.MediaTypeImageLayer, nil
}

// merge folds entries for the same manifest (one per name) into one.
func merge(in []Loaded) []Loaded {
	var out []Loaded
	at := map[digest.Digest]int{}
	for _, l := range in {
		if i, ok := at[l.Target.Digest]; ok {
			out[i].Names = append(out[i].Names, l.Names...)
			continue
		}
		at[l.Target.Digest] = len(out)
		out = append(out, l)
	}
	for i := range out {
		sort.Strings(out[i].Names)
	}
	return out
}
