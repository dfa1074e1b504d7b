package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-project/berth/internal/lazyre"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
)

// Media types of Docker's image format (v2 schema 2), which registries
// serve beside OCI's.
const (
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayerTar     = "application/vnd.docker.image.rootfs.diff.tar"
	mediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mediaTypeDockerSchema1      = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1JWS   = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// manifestAccept is the Accept header of manifest requests: the two
// formats' indexes and manifests, never schema 1.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
	mediaTypeDockerManifestList, mediaTypeDockerManifest,
}, ", ")

// isIndex reports whether mediaType is an OCI index or a Docker manifest list.
func isIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == mediaTypeDockerManifestList
}

// isManifest reports whether mediaType is an OCI or Docker schema 2 image manifest.
func isManifest(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageManifest || mediaType == mediaTypeDockerManifest
}

// isConfig reports whether mediaType is an image config.
func isConfig(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageConfig || mediaType == mediaTypeDockerConfig
}

// isLayer reports whether mediaType is a layer that berth can pull and
// unpack: an OCI tar (plain, gzip or zstd, distributable or not) or a
// Docker rootfs diff (including foreign layers).
func isLayer(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip,
		ocispec.MediaTypeImageLayerNonDistributableZstd,
		mediaTypeDockerLayer, mediaTypeDockerLayerTar, mediaTypeDockerForeignLayer:
		return true
	}
	return false
}

// The distribution spec's grammar of repository names and tags.
var (
	repoRE = lazyre.New(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = lazyre.New(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

func checkRepo(host, repo string) error {
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return fmt.Errorf("bad registry host %q: %w", host, ErrInvalid)
	}
	if len(repo) > 255 || !repoRE.MatchString(repo) {
		return fmt.Errorf("bad repository name %q: %w", repo, ErrInvalid)
	}
	return nil
}

// checkDigest accepts digests of the algorithms berth can verify.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("bad digest %q: %w: %v", d, ErrInvalid, err)
	}
	return nil
}

// maxManifest is the largest manifest or index the client reads, as
// content reads: anything larger is malformed or hostile.
const maxManifest = content.MaxInline

// Resolve fetches the manifest or index that reference (a tag or a digest)
// names in repo on host, verified, and returns its descriptor and body.
//
// The body must hash to reference when it is a digest, and otherwise to
// the Docker-Content-Digest header when the registry sends one. The media
// type comes from Content-Type and the body's mediaType field, which must
// agree; schema 1 manifests and unknown types are refused.
func (c *Client) Resolve(ctx context.Context, host, repo, reference string) (ocispec.Descriptor, []byte, error) {
	if err := checkRepo(host, repo); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	name := familiarName(host, repo)
	var want digest.Digest
	if strings.Contains(reference, ":") {
		want = digest.Digest(reference)
		if err := checkDigest(want); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("resolve %s@%s: %w", name, reference, err)
		}
		name += "@" + reference
	} else {
		if !tagRE.MatchString(reference) {
			return ocispec.Descriptor{}, nil, fmt.Errorf("resolve %s: bad tag %q: %w", name, reference, ErrInvalid)
		}
		name += ":" + reference
	}

	resp, err := c.do(ctx, request{
		method: http.MethodGet, host: host, repo: repo,
		path:   repo + "/manifests/" + reference,
		header: http.Header{"Accept": {manifestAccept}},
	})
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("resolve %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return ocispec.Descriptor{}, nil, responseError(resp, host, repo, "manifest for "+name)
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxManifest {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s is over 4 MiB (%d bytes): %w", name, resp.ContentLength, ErrInvalid)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("resolve %s: read manifest: %w", name, err)
	}
	if len(body) > maxManifest {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s is over 4 MiB: %w", name, ErrInvalid)
	}

	dgst := digest.FromBytes(body)
	if want != "" {
		if got := want.Algorithm().FromBytes(body); got != want {
			return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: digest mismatch: body hashes to %s: %w", name, got, ErrInvalid)
		}
		dgst = want
	} else if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		hd := digest.Digest(h)
		if err := checkDigest(hd); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: Docker-Content-Digest: %w", name, err)
		}
		if got := hd.Algorithm().FromBytes(body); got != hd {
			return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: registry says its digest is %s, body hashes to %s: %w", name, hd, got, ErrInvalid)
		}
	}
	mt, err := manifestMediaType(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: dgst, Size: int64(len(body))}, body, nil
}

// manifestMediaType names what body is, from the Content-Type header and
// the body's own fields.
func manifestMediaType(contentType string, body []byte) (string, error) {
	header, _, _ := mime.ParseMediaType(contentType)
	switch header {
	case "application/json", "text/plain", "application/octet-stream", "binary/octet-stream":
		header = "" // a server that does not know: the body tells
	}
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
		FSLayers      json.RawMessage `json:"fsLayers"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return "", fmt.Errorf("body is not a JSON manifest: %w: %v", ErrInvalid, err)
	}
	if header == mediaTypeDockerSchema1 || header == mediaTypeDockerSchema1JWS ||
		probe.MediaType == mediaTypeDockerSchema1 || probe.MediaType == mediaTypeDockerSchema1JWS ||
		probe.SchemaVersion == 1 || probe.FSLayers != nil {
		return "", fmt.Errorf("it is a Docker image manifest v2 schema 1, which berth does not pull (docker stopped too); push the image again with a current tool: %w", ErrUnsupported)
	}
	if header != "" && probe.MediaType != "" && header != probe.MediaType {
		return "", fmt.Errorf("the registry says it is %s, the manifest says %s: %w", header, probe.MediaType, ErrInvalid)
	}
	mt := header
	if mt == "" {
		mt = probe.MediaType
	}
	if mt == "" { // OCI allows leaving it out
		switch {
		case probe.Manifests != nil:
			mt = ocispec.MediaTypeImageIndex
		case probe.Config != nil:
			mt = ocispec.MediaTypeImageManifest
		}
	}
	if !isIndex(mt) && !isManifest(mt) {
		if mt == "" {
			return "", fmt.Errorf("neither Content-Type nor body say what it is: %w", ErrUnsupported)
		}
		return "", fmt.Errorf("unsupported manifest media type %q: %w", mt, ErrUnsupported)
	}
	if probe.SchemaVersion != 2 {
		return "", fmt.Errorf("schemaVersion is %d, not 2: %w", probe.SchemaVersion, ErrUnsupported)
	}
	return mt, nil
}

// FetchBlob opens blob desc of repo on host from offset on. It follows
// redirects (without the registry's credentials to other hosts), asks for
// a Range when offset > 0 and, if the server sends the whole blob anyway,
// skips offset bytes. The stream is not verified (the reader of a whole
// blob, or content's Commit, does that) but ends with an error if the
// server sends more than desc.Size.
func (c *Client) FetchBlob(ctx context.Context, host, repo string, desc ocispec.Descriptor, offset int64) (io.ReadCloser, error) {
	if err := checkRepo(host, repo); err != nil {
		return nil, err
	}
	if err := checkDigest(desc.Digest); err != nil {
		return nil, fmt.Errorf("fetch blob: %w", err)
	}
	if offset < 0 || (desc.Size > 0 && offset > desc.Size) {
		return nil, fmt.Errorf("fetch blob %s: offset %d out of range: %w", desc.Digest, offset, ErrInvalid)
	}
	h := http.Header{}
	if offset > 0 {
		h.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, host: host, repo: repo, path: repo + "/blobs/" + desc.Digest.String(), header: h})
	if err != nil {
		return nil, fmt.Errorf("fetch blob %s: %w", desc.Digest, err)
	}
	what := "blob " + desc.Digest.String()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); ok && start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("fetch blob %s: asked for bytes from %d, got from %d", desc.Digest, offset, start)
		}
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			c.logf("registry: %s ignored the Range of %s; skipping %d bytes", host, desc.Digest, offset)
			if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
				resp.Body.Close()
				return nil, fmt.Errorf("fetch blob %s: skip to %d: %w", desc.Digest, offset, err)
			}
		}
	default:
		return nil, responseError(resp, host, repo, what)
	}
	if desc.Size <= 0 {
		return resp.Body, nil
	}
	return &limitedBody{rc: resp.Body, left: desc.Size - offset, dgst: desc.Digest}, nil
}

// contentRangeStart reads START of "bytes START-END/TOTAL".
func contentRangeStart(v string) (int64, bool) {
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

// errBlobTooLong: the server sent more than the descriptor's size.
var errBlobTooLong = errors.New("server sent more bytes than the blob's size")

// limitedBody ends a blob stream with an error if it runs past its size.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	dgst digest.Digest
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more is enough to know.
		var b [1]byte
		n, err := l.rc.Read(b[:])
		if n > 0 {
			return 0, fmt.Errorf("fetch blob %s: %w: %w", l.dgst, errBlobTooLong, ErrInvalid)
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
