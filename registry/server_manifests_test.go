package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

func TestServerManifestErrors(t *testing.T) {
	ts := newTestServer(t)
	img := ts.pushImage("a", "v1", "errors", nil)
	manifest := func(edit func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(img.body, &m)
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	missing := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("missing"), Size: 7}
	tests := []struct {
		name        string
		ref         string
		contentType string
		body        []byte
		status      int
		code        string
	}{
		{"missing layer", "t", ocispec.MediaTypeImageManifest, manifest(func(m map[string]any) {
			m["layers"] = append(m["layers"].([]any), missing)
		}), http.StatusBadRequest, codeManifestBlobUnknown},
		{"missing config", "t", ocispec.MediaTypeImageManifest, manifest(func(m map[string]any) {
			m["config"] = missing
		}), http.StatusBadRequest, codeManifestBlobUnknown},
		{"layer of another repository", "t", ocispec.MediaTypeImageManifest, manifest(func(m map[string]any) {
			other := ts.pushBlob("b", []byte("b's layer"))
			m["layers"] = append(m["layers"].([]any), other)
		}), http.StatusBadRequest, codeManifestBlobUnknown},
		{"wrong layer size", "t", ocispec.MediaTypeImageManifest, manifest(func(m map[string]any) {
			l := img.layers[0]
			l.Size++
			m["layers"] = []any{l}
		}), http.StatusBadRequest, codeManifestInvalid},
		{"not json", "t", ocispec.MediaTypeImageManifest, []byte("{not json"), http.StatusBadRequest, codeManifestInvalid},
		{"media type mismatch", "t", ocispec.MediaTypeImageIndex, img.body, http.StatusBadRequest, codeManifestInvalid},
		{"unknown media type", "t", "application/vnd.example+json", manifest(func(m map[string]any) {
			delete(m, "mediaType")
		}), http.StatusBadRequest, codeManifestInvalid},
		{"schema 1", "t", mediaTypeDockerSchema1JWS, []byte(`{"schemaVersion":1,"name":"a","tag":"t","fsLayers":[]}`), http.StatusBadRequest, codeManifestInvalid},
		{"schema version 3", "t", ocispec.MediaTypeImageManifest, manifest(func(m map[string]any) {
			m["schemaVersion"] = 3
		}), http.StatusBadRequest, codeManifestInvalid},
		{"no config", "t", ocispec.MediaTypeImageManifest, manifest(func(m map[string]any) {
			delete(m, "config")
		}), http.StatusBadRequest, codeManifestInvalid},
		{"bad layer digest", "t", ocispec.MediaTypeImageManifest, manifest(func(m map[string]any) {
			m["layers"] = []any{map[string]any{"mediaType": ocispec.MediaTypeImageLayer, "digest": "sha256:123", "size": 1}}
		}), http.StatusBadRequest, codeManifestInvalid},
		{"index with layers", "t", ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"layers":[]}`), http.StatusBadRequest, codeManifestInvalid},
		{"digest mismatch", digest.FromString("other").String(), ocispec.MediaTypeImageManifest, img.body, http.StatusBadRequest, codeDigestInvalid},
		{"bad digest reference", "sha256:baddigeststring", ocispec.MediaTypeImageManifest, img.body, http.StatusBadRequest, codeDigestInvalid},
		{"bad tag reference", "-tag", ocispec.MediaTypeImageManifest, img.body, http.StatusBadRequest, codeDigestInvalid},
		{"bad tag parameter", "t?tag=" + strings.Repeat("x", 129), ocispec.MediaTypeImageManifest, img.body, http.StatusBadRequest, codeManifestInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.do("PUT", "/v2/a/manifests/"+tc.ref, tc.body, "Content-Type", tc.contentType).expect(t, tc.status, tc.code)
			ts.do("HEAD", "/v2/a/manifests/t", nil).expect(t, http.StatusNotFound, "")
			if !bytes.Equal(tc.body, img.body) { // that one is v1
				ts.do("HEAD", "/v2/a/manifests/"+digest.FromBytes(tc.body).String(), nil).expect(t, http.StatusNotFound, "")
			}
		})
	}

	t.Run("too large", func(t *testing.T) {
		ts := newTestServer(t, WithMaxManifestSize(1000))
		big := manifest(func(m map[string]any) { m["annotations"] = map[string]string{"x": strings.Repeat("x", 1000)} })
		ts.do("PUT", "/v2/a/manifests/t", big, "Content-Type", ocispec.MediaTypeImageManifest).expect(t, http.StatusRequestEntityTooLarge, codeManifestInvalid)
		// Without a Content-Length, the body is cut at the limit.
		req, _ := http.NewRequest("PUT", ts.hs.URL+"/v2/a/manifests/t", strings.NewReader(string(big)))
		req.ContentLength = -1
		req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
		resp, err := ts.hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked oversize manifest: %s", resp.Status)
		}
	})
}

// TestServerManifestsAccepted: what may be missing (non-distributable
// layers, an index's manifests, a subject) does not stop a push.
func TestServerManifestsAccepted(t *testing.T) {
	ts := newTestServer(t)
	img := ts.pushImage("a", "v1", "accepted", nil)
	foreign := []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageLayerNonDistributableGzip, Digest: digest.FromString("nd"), Size: 10},
		{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("urls"), Size: 10, URLs: []string{"https://example.com/l"}},
		{MediaType: mediaTypeDockerForeignLayer, Digest: digest.FromString("foreign"), Size: 10},
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: img.config, Layers: append(img.layers, foreign...)}
	m.SchemaVersion = 2
	ts.pushManifest("a", "foreign", ocispec.MediaTypeImageManifest, m)

	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		img.manifest, {MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("elsewhere"), Size: 100},
	}}
	idx.SchemaVersion = 2
	ts.pushManifest("a", "sparse", ocispec.MediaTypeImageIndex, idx)

	ref := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: img.config, Subject: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("later"), Size: 5}}
	ref.SchemaVersion = 2
	b, _ := json.Marshal(ref)
	r := ts.do("PUT", "/v2/a/manifests/"+digest.FromBytes(b).String(), b, "Content-Type", ocispec.MediaTypeImageManifest)
	r.expect(t, http.StatusCreated, "")
	if r.Header.Get("OCI-Subject") != digest.FromString("later").String() {
		t.Errorf("OCI-Subject %q", r.Header.Get("OCI-Subject"))
	}
}

func TestServerManifestFormats(t *testing.T) {
	ts := newTestServer(t)
	img := ts.pushImage("a", "oci", "formats", nil)
	layer := img.layers[0]
	layer.MediaType = mediaTypeDockerLayer
	config := img.config
	config.MediaType = mediaTypeDockerConfig
	docker := map[string]any{"schemaVersion": 2, "mediaType": mediaTypeDockerManifest, "config": config, "layers": []any{layer}}
	dockerDesc, dockerBody := ts.pushManifest("a", "docker", mediaTypeDockerManifest, docker)
	list := map[string]any{"schemaVersion": 2, "mediaType": mediaTypeDockerManifestList, "manifests": []any{
		map[string]any{"mediaType": mediaTypeDockerManifest, "digest": dockerDesc.Digest, "size": dockerDesc.Size, "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
	}}
	_, listBody := ts.pushManifest("a", "list", mediaTypeDockerManifestList, list)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{img.manifest}}
	idx.SchemaVersion = 2
	_, idxBody := ts.pushManifest("a", "index", ocispec.MediaTypeImageIndex, idx)
	// No mediaType in the body: Content-Type says what it is.
	noMT := ocispec.Manifest{Config: img.config, Layers: img.layers}
	noMT.SchemaVersion = 2
	_, noMTBody := ts.pushManifest("a", "no-media-type", ocispec.MediaTypeImageManifest, noMT)

	for _, tc := range []struct {
		tag, mediaType string
		body           []byte
	}{
		{"oci", ocispec.MediaTypeImageManifest, img.body},
		{"docker", mediaTypeDockerManifest, dockerBody},
		{"list", mediaTypeDockerManifestList, listBody},
		{"index", ocispec.MediaTypeImageIndex, idxBody},
		{"no-media-type", ocispec.MediaTypeImageManifest, noMTBody},
	} {
		d := digest.FromBytes(tc.body)
		for _, ref := range []string{tc.tag, d.String()} {
			r := ts.do("GET", "/v2/a/manifests/"+ref, nil, "Accept", tc.mediaType)
			r.expect(t, http.StatusOK, "")
			if !bytes.Equal(r.body, tc.body) || r.Header.Get("Content-Type") != tc.mediaType ||
				r.Header.Get("Docker-Content-Digest") != d.String() || r.Header.Get("Content-Length") != fmt.Sprint(len(tc.body)) {
				t.Errorf("GET %s: %s %v", ref, r.body, r.Header)
			}
			h := ts.do("HEAD", "/v2/a/manifests/"+ref, nil)
			h.expect(t, http.StatusOK, "")
			if len(h.body) != 0 || h.Header.Get("Content-Type") != tc.mediaType || h.Header.Get("Content-Length") != fmt.Sprint(len(tc.body)) {
				t.Errorf("HEAD %s: %v", ref, h.Header)
			}
			ts.do("GET", "/v2/a/manifests/"+ref, nil, "If-None-Match", h.Header.Get("Etag")).expect(t, http.StatusNotModified, "")
		}
	}

	// sha512 manifests, by digest with tag parameters.
	b, _ := json.Marshal(idx)
	d512 := digest.SHA512.FromBytes(b)
	r := ts.do("PUT", "/v2/a/manifests/"+d512.String()+"?tag=p1&tag=p2", b, "Content-Type", ocispec.MediaTypeImageIndex)
	r.expect(t, http.StatusCreated, "")
	if got := r.Header.Values("OCI-Tag"); !slices.Equal(got, []string{"p1", "p2"}) || r.Header.Get("Docker-Content-Digest") != d512.String() ||
		r.Header.Get("Location") != "/v2/a/manifests/"+d512.String() {
		t.Errorf("PUT with tags: %v", r.Header)
	}
	for _, ref := range []string{"p1", "p2", d512.String()} {
		r := ts.do("GET", "/v2/a/manifests/"+ref, nil)
		r.expect(t, http.StatusOK, "")
		if r.Header.Get("Docker-Content-Digest") != d512.String() {
			t.Errorf("GET %s: digest %s", ref, r.Header.Get("Docker-Content-Digest"))
		}
	}

	// DELETE of a tag removes only the tag; of a digest, the manifest and
	// its tags.
	ts.do("DELETE", "/v2/a/manifests/p1", nil).expect(t, http.StatusAccepted, "")
	ts.do("GET", "/v2/a/manifests/p1", nil).expect(t, http.StatusNotFound, codeManifestUnknown)
	ts.do("GET", "/v2/a/manifests/p2", nil).expect(t, http.StatusOK, "")
	ts.do("DELETE", "/v2/a/manifests/"+d512.String(), nil).expect(t, http.StatusAccepted, "")
	ts.do("GET", "/v2/a/manifests/p2", nil).expect(t, http.StatusNotFound, codeManifestUnknown)
	ts.do("GET", "/v2/a/manifests/"+d512.String(), nil).expect(t, http.StatusNotFound, codeManifestUnknown)
	ts.do("DELETE", "/v2/a/manifests/"+d512.String(), nil).expect(t, http.StatusNotFound, codeManifestUnknown)
	ts.do("DELETE", "/v2/a/manifests/nope", nil).expect(t, http.StatusNotFound, codeManifestUnknown)
	ts.do("DELETE", "/v2/nope/manifests/nope", nil).expect(t, http.StatusNotFound, codeNameUnknown)
	ts.do("GET", "/v2/a/manifests/sha256:bad", nil).expect(t, http.StatusBadRequest, codeDigestInvalid)
}

func TestServerReferrers(t *testing.T) {
	ts := newTestServer(t)
	img := ts.pushImage("a", "v1", "subject", nil)
	empty := ts.pushBlob("a", []byte("{}"))
	empty.MediaType = ocispec.MediaTypeEmptyJSON
	artifact := func(artifactType, configType string, note string) ocispec.Descriptor {
		cfg := empty
		if configType != "" {
			cfg.MediaType = configType
		}
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifactType, Config: cfg,
			Layers: []ocispec.Descriptor{empty}, Subject: &img.manifest, Annotations: map[string]string{"note": note}}
		m.SchemaVersion = 2
		b, _ := json.Marshal(m)
		r := ts.do("PUT", "/v2/a/manifests/"+digest.FromBytes(b).String(), b, "Content-Type", ocispec.MediaTypeImageManifest)
		r.expect(t, http.StatusCreated, "")
		if r.Header.Get("OCI-Subject") != img.manifest.Digest.String() {
			t.Fatalf("OCI-Subject %q", r.Header.Get("OCI-Subject"))
		}
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}
	}
	sig := artifact("application/vnd.example.signature", "", "sig")
	sbom := artifact("", "application/vnd.example.sbom", "sbom") // artifactType from the config
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}, Subject: &img.manifest}
	idx.SchemaVersion = 2
	b, _ := json.Marshal(idx)
	ts.do("PUT", "/v2/a/manifests/"+digest.FromBytes(b).String(), b, "Content-Type", ocispec.MediaTypeImageIndex).expect(t, http.StatusCreated, "")
	idxDigest := digest.FromBytes(b)

	list := func(query string) (ocispec.Index, response) {
		r := ts.do("GET", "/v2/a/referrers/"+img.manifest.Digest.String()+query, nil)
		r.expect(t, http.StatusOK, "")
		if r.Header.Get("Content-Type") != ocispec.MediaTypeImageIndex {
			t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		var got ocispec.Index
		if err := json.Unmarshal(r.body, &got); err != nil || got.SchemaVersion != 2 || got.MediaType != ocispec.MediaTypeImageIndex || got.Manifests == nil {
			t.Fatalf("referrers %s: %v", r.body, err)
		}
		return got, r
	}
	got, r := list("")
	if len(got.Manifests) != 3 || r.Header.Get("OCI-Filters-Applied") != "" {
		t.Fatalf("referrers: %+v", got.Manifests)
	}
	byDigest := map[digest.Digest]ocispec.Descriptor{}
	for _, m := range got.Manifests {
		byDigest[m.Digest] = m
	}
	if m := byDigest[sig.Digest]; m.ArtifactType != "application/vnd.example.signature" || m.Annotations["note"] != "sig" || m.Size != sig.Size {
		t.Errorf("signature: %+v", m)
	}
	if m := byDigest[sbom.Digest]; m.ArtifactType != "application/vnd.example.sbom" {
		t.Errorf("sbom: %+v", m)
	}
	if m := byDigest[idxDigest]; m.ArtifactType != "" || m.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("index: %+v", m)
	}
	got, r = list("?artifactType=application/vnd.example.sbom")
	if len(got.Manifests) != 1 || got.Manifests[0].Digest != sbom.Digest || r.Header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("filtered: %+v %v", got.Manifests, r.Header)
	}
	// A deleted referrer leaves the list; unknown subjects and
	// repositories have none (never 404); a bad digest is 400.
	ts.do("DELETE", "/v2/a/manifests/"+sig.Digest.String(), nil).expect(t, http.StatusAccepted, "")
	if got, _ := list(""); len(got.Manifests) != 2 {
		t.Errorf("after delete: %+v", got.Manifests)
	}
	for _, p := range []string{"/v2/a/referrers/" + digest.FromString("x").String(), "/v2/none/referrers/" + img.manifest.Digest.String()} {
		r := ts.do("GET", p, nil)
		r.expect(t, http.StatusOK, "")
		if !strings.Contains(string(r.body), `"manifests":[]`) {
			t.Errorf("%s: %s", p, r.body)
		}
	}
	ts.do("GET", "/v2/a/referrers/sha256:nope", nil).expect(t, http.StatusBadRequest, codeDigestInvalid)
}

func TestServerPagination(t *testing.T) {
	ts := newTestServer(t)
	img := ts.pushImage("r", "t00", "pages", nil)
	var tags []string
	for i := range 25 {
		tag := fmt.Sprintf("t%02d", i)
		tags = append(tags, tag)
		ts.do("PUT", "/v2/r/manifests/"+tag, img.body, "Content-Type", ocispec.MediaTypeImageManifest).expect(t, http.StatusCreated, "")
	}
	var repos []string
	for i := range 12 {
		repo := fmt.Sprintf("repo%02d/x", i)
		repos = append(repos, repo)
		ts.pushBlob(repo, []byte("x"))
	}
	repos = append(repos, "r")
	slices.Sort(repos)

	type page struct {
		Name         string   `json:"name"`
		Tags         []string `json:"tags"`
		Repositories []string `json:"repositories"`
	}
	// walk follows Link headers from first and returns all entries.
	walk := func(t *testing.T, first string, n int) ([]string, int) {
		var all []string
		pages := 0
		for next := first; next != ""; pages++ {
			r := ts.do("GET", next, nil)
			r.expect(t, http.StatusOK, "")
			var p page
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
			entries := append(p.Tags, p.Repositories...)
			if len(entries) > n {
				t.Fatalf("%s: %d entries", next, len(entries))
			}
			all = append(all, entries...)
			next = ""
			if link := r.Header.Get("Link"); link != "" {
				if !strings.HasPrefix(link, "<") || !strings.HasSuffix(link, `>; rel="next"`) {
					t.Fatalf("Link %q", link)
				}
				next = link[1:strings.Index(link, ">")]
			}
		}
		return all, pages
	}
	for _, n := range []int{1, 7, 25, 100} {
		got, pages := walk(t, fmt.Sprintf("/v2/r/tags/list?n=%d", n), n)
		if !slices.Equal(got, tags) || pages != (25+n-1)/n {
			t.Errorf("tags n=%d: %d pages %v", n, pages, got)
		}
		got, _ = walk(t, fmt.Sprintf("/v2/_catalog?n=%d", n), n)
		if !slices.Equal(got, repos) {
			t.Errorf("catalog n=%d: %v", n, got)
		}
	}
	r := ts.do("GET", "/v2/r/tags/list?last=t20", nil)
	var p page
	json.Unmarshal(r.body, &p)
	if !slices.Equal(p.Tags, tags[21:]) || p.Name != "r" || r.Header.Get("Link") != "" {
		t.Errorf("last=t20: %+v %v", p, r.Header)
	}
	r = ts.do("GET", "/v2/r/tags/list?n=0", nil)
	if string(r.body) != `{"name":"r","tags":[]}`+"\n" || r.Header.Get("Link") != "" {
		t.Errorf("n=0: %s %v", r.body, r.Header)
	}
	r = ts.do("GET", "/v2/r/tags/list?n=5000", nil)
	json.Unmarshal(r.body, &p)
	if len(p.Tags) != 25 {
		t.Errorf("n=5000: %d tags", len(p.Tags))
	}
	ts.do("GET", "/v2/r/tags/list?n=-1", nil).expect(t, http.StatusBadRequest, codeUnsupported)
	ts.do("GET", "/v2/none/tags/list", nil).expect(t, http.StatusNotFound, codeNameUnknown)
	// An empty repository is gone from the catalog.
	ts.do("DELETE", "/v2/repo00/x/blobs/"+digest.FromString("x").String(), nil).expect(t, http.StatusAccepted, "")
	got, _ := walk(t, "/v2/_catalog", maxPageSize)
	if slices.Contains(got, "repo00/x") || len(got) != len(repos)-1 {
		t.Errorf("catalog after delete: %v", got)
	}
}

func TestServerMaxPageSize(t *testing.T) {
	ts := newTestServer(t)
	img := ts.pushImage("r", "", "cap", nil)
	const n = maxPageSize + 5
	ts.s.db.Update(func(tx *bolt.Tx) error {
		rb, err := createRepo(tx, "r")
		if err != nil {
			return err
		}
		for i := range n {
			if err := putJSON(rb.tags, []byte(fmt.Sprintf("t%05d", i)), tagRecord{Digest: img.manifest.Digest}); err != nil {
				return err
			}
		}
		return nil
	})
	r := ts.do("GET", "/v2/r/tags/list?n=100000", nil)
	var p struct{ Tags []string }
	json.Unmarshal(r.body, &p)
	if len(p.Tags) != maxPageSize || r.Header.Get("Link") != fmt.Sprintf(`</v2/r/tags/list?last=t%05d&n=%d>; rel="next"`, maxPageSize-1, maxPageSize) {
		t.Fatalf("%d tags, Link %q", len(p.Tags), r.Header.Get("Link"))
	}
}
