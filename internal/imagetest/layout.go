package imagetest

import (
	"archive/tar"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/gate"
)

// BusyboxPath is the static busybox the fixtures are built from
// (Debian's busybox-static).
const BusyboxPath = "/bin/busybox"

// Applets are the commands the busybox layer links to busybox in /bin.
var Applets = []string{
	"sh", "ash", "echo", "cat", "ls", "true", "false", "sleep", "id", "env", "pwd", "mkdir", "rm",
	"rmdir", "touch", "cp", "mv", "ln", "chmod", "chown", "stat", "test", "[", "printf", "head",
	"tail", "wc", "grep", "sed", "awk", "sort", "uniq", "cut", "tr", "tee", "ps", "kill", "hostname",
	"uname", "date", "mount", "umount", "df", "du", "find", "xargs", "readlink", "realpath", "sha256sum",
	"md5sum", "seq", "yes", "nproc", "whoami", "wget", "nc", "ip", "ping", "nslookup", "vi", "tar",
	"gzip", "gunzip", "timeout", "usleep", "dd", "basename", "dirname", "expr", "which",
}

// Epoch is the modification time of every fixture file and the creation
// time of every fixture image: fixed, so digests do not change.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// LayoutOptions shape the image BusyboxLayout builds.
type LayoutOptions struct {
	// Compression of every layer that does not choose its own: "gzip"
	// (default), "zstd" or "none".
	Compression string
	// ExtraLayers go on top of the busybox layer, in order.
	ExtraLayers []Layer
	// BigLayers adds one layer per entry, after ExtraLayers, holding that
	// many bytes of deterministic pseudo-random data that compresses to
	// about half (hex digits), split into files of up to 8 MiB.
	BigLayers []int64
	// Platforms makes the image an index with one manifest per platform
	// ("linux/amd64", "linux/arm/v7"): the host's platform gets the
	// busybox image, every other a tiny stand-in image (one file,
	// /platform, naming it) that cannot run here. Empty: a plain manifest.
	Platforms []string
	// Config is the image's execution config; nil gives PATH and Cmd ["sh"].
	Config *ocispec.ImageConfig
	// Healthcheck is docker's HEALTHCHECK of the image (a field of docker's
	// config that OCI's lacks); nil: none.
	Healthcheck *dockerspec.HealthcheckConfig
	// RefName is index.json's org.opencontainers.image.ref.name for the
	// image; default "latest".
	RefName string
}

// Layer is a layer given entry by entry.
type Layer struct {
	Entries []Entry
	// Compression overrides LayoutOptions.Compression for this layer.
	Compression string
}

// Entry is one tar entry of a Layer.
type Entry struct {
	Path     string // relative, slash-separated
	Type     byte   // tar.TypeReg (default), TypeDir, TypeSymlink, TypeLink, ...
	Mode     int64  // permission bits; 0 means 0644 for files, 0755 for directories
	Data     []byte
	Linkname string
	UID, GID int
}

// File is a regular file with content data.
func File(p, data string) Entry { return Entry{Path: p, Type: tar.TypeReg, Data: []byte(data)} }

// Dir is a directory.
func Dir(p string) Entry { return Entry{Path: p, Type: tar.TypeDir} }

// Symlink is a symbolic link to target.
func Symlink(p, target string) Entry { return Entry{Path: p, Type: tar.TypeSymlink, Linkname: target} }

// Hardlink is a hard link to the earlier entry target.
func Hardlink(p, target string) Entry { return Entry{Path: p, Type: tar.TypeLink, Linkname: target} }

// Whiteout deletes p of the layers below.
func Whiteout(p string) Entry {
	return Entry{Path: path.Join(path.Dir(p), ".wh."+path.Base(p)), Type: tar.TypeReg}
}

// Opaque hides everything the layers below have in dir.
func Opaque(dir string) Entry {
	return Entry{Path: path.Join(dir, ".wh..wh..opq"), Type: tar.TypeReg}
}

// BusyboxLayout writes an OCI image layout of a busybox image into dir and
// returns the descriptor index.json lists: an image index when
// o.Platforms is set, a manifest otherwise. It skips the test when
// /bin/busybox is missing.
func BusyboxLayout(t testing.TB, dir string, o LayoutOptions) ocispec.Descriptor {
	t.Helper()
	gate.Path(t, BusyboxPath, "the busybox image fixture; Debian's busybox-static")
	l := &layoutWriter{t: t, dir: dir, compression: o.Compression}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	l.writeFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))

	var top ocispec.Descriptor
	if len(o.Platforms) == 0 {
		top = l.busyboxImage(o, hostPlatform())
	} else {
		idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
		for _, s := range o.Platforms {
			p := parsePlatform(t, s)
			var m ocispec.Descriptor
			if p.OS == runtime.GOOS && p.Architecture == runtime.GOARCH {
				m = l.busyboxImage(o, p)
			} else {
				m = l.standInImage(p)
			}
			m.Platform = &p
			idx.Manifests = append(idx.Manifests, m)
		}
		top = l.writeJSON(ocispec.MediaTypeImageIndex, idx)
	}

	ref := o.RefName
	if ref == "" {
		ref = "latest"
	}
	entry := top
	entry.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{entry}})
	if err != nil {
		t.Fatal(err)
	}
	l.writeFile("index.json", b)
	return top
}

func hostPlatform() ocispec.Platform {
	return ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
}

func parsePlatform(t testing.TB, s string) ocispec.Platform {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		t.Fatalf("imagetest: bad platform %q, want os/arch[/variant]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p
}

type layoutWriter struct {
	t           testing.TB
	dir         string
	compression string
}

func (l *layoutWriter) writeFile(name string, b []byte) {
	if err := os.WriteFile(filepath.Join(l.dir, name), b, 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// writeJSON stores v as a blob of the media type.
func (l *layoutWriter) writeJSON(mediaType string, v any) ocispec.Descriptor {
	b, err := json.Marshal(v)
	if err != nil {
		l.t.Fatal(err)
	}
	d := digest.FromBytes(b)
	if err := os.WriteFile(filepath.Join(l.dir, "blobs", "sha256", d.Encoded()), b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// image writes the config and manifest of an image of layers.
func (l *layoutWriter) image(p ocispec.Platform, cfg ocispec.ImageConfig, layers []ocispec.Descriptor, diffIDs []digest.Digest, history []string, health *dockerspec.HealthcheckConfig) ocispec.Descriptor {
	created := Epoch
	img := ocispec.Image{
		Created:  &created,
		Platform: p,
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	}
	for _, h := range history {
		img.History = append(img.History, ocispec.History{Created: &created, CreatedBy: h, Comment: "imagetest"})
	}
	var config ocispec.Descriptor
	if health != nil {
		full := dockerspec.DockerOCIImage{Image: img}
		full.Config.ImageConfig = cfg
		full.Config.Healthcheck = health
		config = l.writeJSON(ocispec.MediaTypeImageConfig, full)
	} else {
		config = l.writeJSON(ocispec.MediaTypeImageConfig, img)
	}
	return l.writeJSON(ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    layers,
	})
}

func (l *layoutWriter) busyboxImage(o LayoutOptions, p ocispec.Platform) ocispec.Descriptor {
	var layers []ocispec.Descriptor
	var diffIDs []digest.Digest
	var history []string
	add := func(compression, what string, fill func(tw *tar.Writer) error) {
		desc, diffID := l.layer(compression, fill)
		layers, diffIDs, history = append(layers, desc), append(diffIDs, diffID), append(history, what)
	}
	add("", "busybox", writeBusybox)
	for i, x := range o.ExtraLayers {
		add(x.Compression, fmt.Sprintf("extra layer %d", i), func(tw *tar.Writer) error { return writeEntries(tw, x.Entries) })
	}
	for i, size := range o.BigLayers {
		add("", fmt.Sprintf("big layer %d of %d bytes", i, size), func(tw *tar.Writer) error { return writeBig(tw, i, size) })
	}
	cfg := ocispec.ImageConfig{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: []string{"sh"},
	}
	if o.Config != nil {
		cfg = *o.Config
	}
	return l.image(p, cfg, layers, diffIDs, history, o.Healthcheck)
}

func (l *layoutWriter) standInImage(p ocispec.Platform) ocispec.Descriptor {
	name := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		name += "/" + p.Variant
	}
	desc, diffID := l.layer("", func(tw *tar.Writer) error {
		return writeEntries(tw, []Entry{File("platform", name+"\n")})
	})
	return l.image(p, ocispec.ImageConfig{Cmd: []string{"/platform"}}, []ocispec.Descriptor{desc}, []digest.Digest{diffID}, []string{"stand-in for " + name}, nil)
}

// layer writes a layer blob, streaming: fill writes the tar, which is
// hashed (diff ID), compressed, hashed again (digest) and stored.
func (l *layoutWriter) layer(compression string, fill func(tw *tar.Writer) error) (ocispec.Descriptor, digest.Digest) {
	if compression == "" {
		compression = l.compression
	}
	if compression == "" {
		compression = "gzip"
	}
	blobs := filepath.Join(l.dir, "blobs", "sha256")
	f, err := os.CreateTemp(blobs, ".layer-*")
	if err != nil {
		l.t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	blobDigester := digest.Canonical.Digester()
	out := io.MultiWriter(f, blobDigester.Hash())

	var mediaType string
	var comp io.WriteCloser
	switch compression {
	case "gzip":
		mediaType = ocispec.MediaTypeImageLayerGzip
		comp = gzip.NewWriter(out) // no name, no time: deterministic
	case "zstd":
		mediaType = ocispec.MediaTypeImageLayerZstd
		comp, err = zstd.NewWriter(out, zstd.WithEncoderConcurrency(1))
		if err != nil {
			l.t.Fatal(err)
		}
	case "none":
		mediaType = ocispec.MediaTypeImageLayer
		comp = nopCloser{out}
	default:
		l.t.Fatalf("imagetest: unknown compression %q (gzip, zstd or none)", compression)
	}
	diffDigester := digest.Canonical.Digester()
	tw := tar.NewWriter(io.MultiWriter(comp, diffDigester.Hash()))
	if err := fill(tw); err != nil {
		l.t.Fatalf("imagetest: write layer: %v", err)
	}
	if err := tw.Close(); err != nil {
		l.t.Fatal(err)
	}
	if err := comp.Close(); err != nil {
		l.t.Fatal(err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		l.t.Fatal(err)
	}
	d := blobDigester.Digest()
	if err := os.Rename(f.Name(), filepath.Join(blobs, d.Encoded())); err != nil {
		l.t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: size}, diffDigester.Digest()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// writeEntries writes entries with the fixture's fixed times and owners.
func writeEntries(tw *tar.Writer, entries []Entry) error {
	for _, e := range entries {
		h := &tar.Header{
			Name: e.Path, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Linkname,
			Uid: e.UID, Gid: e.GID, ModTime: Epoch, Format: tar.FormatPAX,
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
			if h.Typeflag == tar.TypeSymlink {
				h.Mode = 0o777
			}
		}
		if h.Typeflag == tar.TypeDir && !strings.HasSuffix(h.Name, "/") {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.Data); err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			}
		}
	}
	return nil
}

// Passwd and Group are the busybox image's /etc/passwd and /etc/group:
// root, a user "berth" (1000) and nobody.
const (
	Passwd = "root:x:0:0:root:/root:/bin/sh\n" +
		"berth:x:1000:1000:berth:/home/berth:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	Group = "root:x:0:\nberth:x:1000:\nnogroup:x:65534:\n"
)

// writeBusybox writes the busybox layer: the usual top directories,
// /bin/busybox and its applets, /etc/passwd and /etc/group.
func writeBusybox(tw *tar.Writer) error {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return err
	}
	entries := []Entry{Dir("bin"), Dir("dev"), Dir("etc"), Dir("home"),
		{Path: "home/berth", Type: tar.TypeDir, Mode: 0o755, UID: 1000, GID: 1000},
		Dir("proc"), {Path: "root", Type: tar.TypeDir, Mode: 0o700}, Dir("sys"),
		{Path: "tmp", Type: tar.TypeDir, Mode: 0o1777}, Dir("usr"), Dir("usr/bin"), Dir("var"),
		{Path: "bin/busybox", Type: tar.TypeReg, Mode: 0o755, Data: bb},
	}
	for _, a := range Applets {
		entries = append(entries, Symlink("bin/"+a, "busybox"))
	}
	entries = append(entries,
		File("etc/passwd", Passwd), File("etc/group", Group),
		File("etc/hostname", "busybox\n"),
	)
	return writeEntries(tw, entries)
}

// bigFile is the largest file of a big layer.
const bigFile = 8 << 20

// writeBig writes size bytes of hex digits from a generator seeded by the
// layer's number and size: random enough that compression halves them,
// like real binaries and text do, and the same on every run.
func writeBig(tw *tar.Writer, n int, size int64) error {
	dir := fmt.Sprintf("big/%d", n)
	if err := writeEntries(tw, []Entry{Dir("big"), Dir(dir)}); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(n), uint64(size)))
	raw := make([]byte, 32<<10)
	buf := make([]byte, 64<<10)
	for i := 0; size > 0; i++ {
		fsize := min(size, bigFile)
		size -= fsize
		h := &tar.Header{Name: fmt.Sprintf("%s/%04d.dat", dir, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: fsize, ModTime: Epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		for fsize > 0 {
			for j := 0; j < len(raw); j += 8 {
				v := rng.Uint64()
				for k := range 8 {
					raw[j+k] = byte(v >> (8 * k))
				}
			}
			hex.Encode(buf, raw)
			m := min(fsize, int64(len(buf)))
			if _, err := tw.Write(buf[:m]); err != nil {
				return err
			}
			fsize -= m
		}
	}
	return nil
}

// EachLayoutBlob calls write with every blob of the OCI layout dir,
// opened, for a test to put them in a store as a pull would have.
func EachLayoutBlob(t testing.TB, dir string, write func(r io.Reader, desc ocispec.Descriptor) error) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(blobs, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		err = write(f, ocispec.Descriptor{Digest: digest.NewDigestFromEncoded(digest.SHA256, e.Name()), Size: fi.Size()})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}
