package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/content"
)

// annotationDescription is the annotation (and config label) search
// shows as a repository's description.
const annotationDescription = "org.opencontainers.image.description"

// manifestDoc is the part of a manifest or index the server reads: what
// it must check and what it records.
type manifestDoc struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// manifestFormats are the media types the server stores.
var manifestFormats = map[string]bool{
	ocispec.MediaTypeImageManifest: true, ocispec.MediaTypeImageIndex: true,
	mediaTypeDockerManifest: true, mediaTypeDockerManifestList: true,
}

func manifestInvalid(format string, args ...any) *apiError {
	return apiErrorf(codeManifestInvalid, format, args...)
}

// parseManifest reads and checks a manifest pushed with contentType and
// returns it with its media type: the body's mediaType field, which must
// agree with Content-Type when both are given.
func parseManifest(body []byte, contentType string) (manifestDoc, string, error) {
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return doc, "", manifestInvalid("manifest is not a JSON object: %v", err)
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	switch ct {
	case "application/json", "application/octet-stream", "text/plain":
		ct = "" // says nothing about the manifest
	}
	mt := doc.MediaType
	switch {
	case mt != "" && ct != "" && mt != ct:
		return doc, "", manifestInvalid("manifest mediaType %s does not match Content-Type %s", mt, ct)
	case mt == "" && ct != "":
		mt = ct
	case mt == "" && doc.Manifests != nil:
		mt = ocispec.MediaTypeImageIndex
	case mt == "" && doc.Config != nil:
		mt = ocispec.MediaTypeImageManifest
	}
	switch {
	case mt == mediaTypeDockerSchema1 || mt == mediaTypeDockerSchema1JWS:
		return doc, "", manifestInvalid("docker schema 1 manifests are not supported")
	case !manifestFormats[mt]:
		return doc, "", manifestInvalid("unsupported manifest media type %q", mt)
	case doc.SchemaVersion == nil || *doc.SchemaVersion != 2:
		return doc, "", manifestInvalid("schemaVersion must be 2")
	}
	check := func(what string, d ocispec.Descriptor) error {
		if err := d.Digest.Validate(); err != nil {
			return manifestInvalid("%s: invalid digest %q: %v", what, d.Digest, err)
		}
		if d.Size < 0 {
			return manifestInvalid("%s %s: negative size", what, d.Digest)
		}
		return nil
	}
	if isIndex(mt) {
		if doc.Config != nil || doc.Layers != nil {
			return doc, "", manifestInvalid("an index has no config or layers")
		}
		if doc.Manifests == nil {
			return doc, "", manifestInvalid("index has no manifests list")
		}
		for _, m := range doc.Manifests {
			if err := check("manifest", m); err != nil {
				return doc, "", err
			}
		}
	} else {
		if doc.Manifests != nil {
			return doc, "", manifestInvalid("an image manifest has no manifests list")
		}
		if doc.Config == nil {
			return doc, "", manifestInvalid("image manifest has no config")
		}
		if err := check("config", *doc.Config); err != nil {
			return doc, "", err
		}
		for _, l := range doc.Layers {
			if err := check("layer", l); err != nil {
				return doc, "", err
			}
		}
	}
	if doc.Subject != nil {
		if err := check("subject", *doc.Subject); err != nil {
			return doc, "", err
		}
	}
	return doc, mt, nil
}

// nonDistributableLayer reports whether a layer may be missing from the
// registry: it says it is not to be pushed, or where else to get it.
func nonDistributableLayer(l ocispec.Descriptor) bool {
	switch l.MediaType {
	case ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip,
		ocispec.MediaTypeImageLayerNonDistributableZstd, mediaTypeDockerForeignLayer:
		return true
	}
	return len(l.URLs) > 0
}

// checkReferences checks that the blobs an image manifest needs are
// linked in the repository (rb, nil when it does not exist yet) with the
// sizes it says. An index's manifests may be missing: see the package doc.
func checkReferences(rb *repoBuckets, doc manifestDoc, mt string) error {
	if isIndex(mt) {
		return nil
	}
	descs := append([]ocispec.Descriptor{*doc.Config}, doc.Layers...)
	for i, d := range descs {
		if i > 0 && nonDistributableLayer(d) {
			continue
		}
		var size int64
		ok := false
		if rb != nil {
			size, ok = rb.blobSize(d.Digest)
		}
		if !ok {
			return apiErrorf(codeManifestBlobUnknown, "manifest references blob %s, which is not in the repository", d.Digest).withDetail(map[string]string{"digest": d.Digest.String()})
		}
		if size != d.Size {
			return manifestInvalid("manifest says blob %s has %d bytes; it has %d", d.Digest, d.Size, size)
		}
	}
	return nil
}

// putManifest stores a manifest under its digest and the tags of the
// reference and the tag parameters.
func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, rt route) {
	if !s.allow(w, r, RepositoryAccess(rt.name, ActionPull, ActionPush)) {
		return
	}
	var want digest.Digest
	var tags []string
	if tagRE.MatchString(rt.ref) {
		tags = append(tags, rt.ref)
	} else {
		d, err := checkServerDigest(rt.ref)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		want = d
	}
	var paramTags []string
	for _, t := range r.URL.Query()["tag"] {
		if !tagRE.MatchString(t) {
			s.fail(w, r, manifestInvalid("invalid tag %q", t))
			return
		}
		if !containsString(tags, t) {
			tags = append(tags, t)
			paramTags = append(paramTags, t)
		}
	}
	tooLarge := func() {
		s.fail(w, r, manifestInvalid("manifest is over the limit of %d bytes", s.cfg.maxManifest).withStatus(http.StatusRequestEntityTooLarge))
	}
	if r.ContentLength > s.cfg.maxManifest {
		tooLarge()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.maxManifest))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		tooLarge()
		return
	}
	if err != nil {
		s.fail(w, r, manifestInvalid("read manifest: %v", err))
		return
	}
	alg := digest.Canonical
	if want != "" {
		alg = want.Algorithm()
	}
	d := alg.FromBytes(body)
	if want != "" && d != want {
		s.fail(w, r, apiErrorf(codeDigestInvalid, "manifest digest is %s, not %s", d, want).withDetail(map[string]string{"digest": want.String()}))
		return
	}
	doc, mt, err := parseManifest(body, r.Header.Get("Content-Type"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Fail early, before the bytes are stored; the write transaction
	// checks again.
	if err := s.db.View(func(tx *bolt.Tx) error { return checkReferences(openRepo(tx, rt.name), doc, mt) }); err != nil {
		s.fail(w, r, err)
		return
	}
	rec := manifestRecord{MediaType: mt, Size: int64(len(body)), ArtifactType: doc.ArtifactType, Pushed: time.Now().UTC()}
	if rec.ArtifactType == "" && !isIndex(mt) {
		rec.ArtifactType = doc.Config.MediaType
	}
	if doc.Subject != nil {
		rec.Subject = doc.Subject.Digest
		rec.Annotations = doc.Annotations
	}
	rec.Description = doc.Annotations[annotationDescription]
	if rec.Description == "" && !isIndex(mt) {
		rec.Description = s.configLabel(r.Context(), *doc.Config, annotationDescription)
	}
	if err := content.WriteBlob(r.Context(), s.store, bytes.NewReader(body), ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))}); err != nil {
		s.fail(w, r, fmt.Errorf("store manifest %s: %w", d, err))
		return
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		rb, err := createRepo(tx, rt.name)
		if err != nil {
			return err
		}
		if err := checkReferences(rb, doc, mt); err != nil {
			return err
		}
		if rec.Description == "" && isIndex(mt) {
			// An index says little itself; its first image may.
			for _, m := range doc.Manifests {
				if child, ok, _ := rb.manifest(m.Digest); ok && child.Description != "" {
					rec.Description = child.Description
					break
				}
			}
		}
		if err := putJSON(rb.manifests, []byte(d), rec); err != nil {
			return err
		}
		if rec.Subject != "" {
			if err := rb.referrer.Put(referrerKey(rec.Subject, d), nil); err != nil {
				return err
			}
		}
		for _, t := range tags {
			if err := putJSON(rb.tags, []byte(t), tagRecord{Digest: d, Pushed: rec.Pushed}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Location", "/v2/"+rt.name+"/manifests/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	if rec.Subject != "" {
		h.Set("OCI-Subject", rec.Subject.String())
	}
	for _, t := range paramTags {
		h.Add("OCI-Tag", t)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// maxConfigRead is the largest config putManifest reads for its labels.
const maxConfigRead = 1 << 20

// configLabel returns a label of an image config, if the config is one
// and is small; "" otherwise.
func (s *Server) configLabel(ctx context.Context, desc ocispec.Descriptor, label string) string {
	if !isConfig(desc.MediaType) || desc.Size > maxConfigRead {
		return ""
	}
	b, err := content.ReadBlob(ctx, s.store, desc)
	if err != nil {
		return ""
	}
	var cfg ocispec.Image
	if json.Unmarshal(b, &cfg) != nil {
		return ""
	}
	return cfg.Config.Labels[label]
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// resolveManifest returns the digest and record that reference (a tag or
// a digest) names in repository name.
func (s *Server) resolveManifest(name, reference string) (digest.Digest, manifestRecord, error) {
	var d digest.Digest
	byTag := tagRE.MatchString(reference)
	if !byTag {
		var err error
		if d, err = checkServerDigest(reference); err != nil {
			return "", manifestRecord{}, err
		}
	}
	var rec manifestRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		rb := openRepo(tx, name)
		if rb == nil {
			return nameUnknown(name)
		}
		if byTag {
			t, ok, err := rb.tag(reference)
			if err != nil {
				return err
			}
			if !ok {
				return manifestUnknown(reference)
			}
			d = t.Digest
		}
		var ok bool
		var err error
		if rec, ok, err = rb.manifest(d); err != nil {
			return err
		} else if !ok {
			return manifestUnknown(reference)
		}
		return nil
	})
	return d, rec, err
}

func manifestUnknown(reference string) *apiError {
	key := "digest"
	if tagRE.MatchString(reference) {
		key = "tag"
	}
	return apiErrorf(codeManifestUnknown, "manifest unknown to registry").withDetail(map[string]string{key: reference})
}

// getManifest answers GET and HEAD of a manifest by tag or digest, with
// the media type it was pushed with. The body is one small read of the
// stored bytes.
func (s *Server) getManifest(w http.ResponseWriter, r *http.Request, rt route) {
	if !s.allow(w, r, RepositoryAccess(rt.name, ActionPull)) {
		return
	}
	d, rec, err := s.resolveManifest(rt.name, rt.ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag := `"` + d.String() + `"`
	h := w.Header()
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Etag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var body []byte
	if r.Method != http.MethodHead {
		p, err := s.store.BlobPath(d)
		if err == nil {
			body, err = os.ReadFile(p)
		}
		if errors.Is(err, fs.ErrNotExist) {
			s.fail(w, r, manifestUnknown(rt.ref))
			return
		}
		if err == nil && int64(len(body)) != rec.Size {
			err = fmt.Errorf("manifest %s has %d bytes, its record says %d", d, len(body), rec.Size)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	h.Set("Content-Type", rec.MediaType)
	h.Set("Content-Length", fmt.Sprint(rec.Size))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// deleteManifest deletes a tag (only the tag) or a manifest by digest
// (with the tags that point at it). The manifest's bytes stay in the store
// until GarbageCollect.
func (s *Server) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) {
	if !s.allow(w, r, RepositoryAccess(rt.name, ActionDelete)) {
		return
	}
	byTag := tagRE.MatchString(rt.ref)
	var d digest.Digest
	if !byTag {
		var err error
		if d, err = checkServerDigest(rt.ref); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		rb := openRepo(tx, rt.name)
		if rb == nil {
			return nameUnknown(rt.name)
		}
		if byTag {
			if _, ok, err := rb.tag(rt.ref); err != nil {
				return err
			} else if !ok {
				return manifestUnknown(rt.ref)
			}
			if err := rb.tags.Delete([]byte(rt.ref)); err != nil {
				return err
			}
		} else {
			rec, ok, err := rb.manifest(d)
			if err != nil {
				return err
			}
			if !ok {
				return manifestUnknown(rt.ref)
			}
			if err := rb.removeManifest(d, rec); err != nil {
				return err
			}
		}
		return pruneRepo(tx, rt.name)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

// referrers answers the referrers API: an index of the manifests whose
// subject is the digest, filtered by artifactType when asked. It never
// answers 404: a repository or subject it does not know has no referrers.
func (s *Server) referrers(w http.ResponseWriter, r *http.Request, rt route) {
	if !s.allow(w, r, RepositoryAccess(rt.name, ActionPull)) {
		return
	}
	subject, err := checkServerDigest(rt.ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	filter := r.URL.Query().Get("artifactType")
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	err = s.db.View(func(tx *bolt.Tx) error {
		rb := openRepo(tx, rt.name)
		if rb == nil {
			return nil
		}
		for _, d := range rb.referrersOf(subject) {
			rec, ok, err := rb.manifest(d)
			if err != nil {
				return err
			}
			if !ok || (filter != "" && rec.ArtifactType != filter) {
				continue
			}
			idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
				MediaType: rec.MediaType, Digest: d, Size: rec.Size,
				ArtifactType: rec.ArtifactType, Annotations: rec.Annotations,
			})
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	writeJSON(w, r, http.StatusOK, ocispec.MediaTypeImageIndex, idx)
}
