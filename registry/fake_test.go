package registry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeRegistry is a small registry for unit tests: manifests and blobs in
// memory, optional basic or bearer auth (with its own token server), a
// log of the requests and a hook to misbehave.
type fakeRegistry struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	manifests map[string]fakeManifest // "repo:tag" and "repo@digest"
	blobs     map[digest.Digest][]byte
	requests  []fakeRequest

	auth       string // "", "basic", "bearer"
	user, pass string
	refresh    string // identity token the token server accepts

	tokenSrv      *httptest.Server
	tokenRequests []fakeRequest

	// hook, when set, may answer a request itself (returning true).
	hook func(w http.ResponseWriter, r *http.Request) bool
}

type fakeManifest struct {
	body         []byte
	contentType  string
	digestHeader string // "" means the right one; "-" none
}

type fakeRequest struct {
	Method, Path, Range, Authorization string
	Query                              url.Values
	Form                               url.Values
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	f := &fakeRegistry{t: t, manifests: map[string]fakeManifest{}, blobs: map[digest.Digest][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.tokenSrv = httptest.NewServer(http.HandlerFunc(f.serveToken))
	t.Cleanup(f.tokenSrv.Close)
	return f
}

// host is the registry's host:port (127.0.0.1, so plain HTTP).
func (f *fakeRegistry) host() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeRegistry) log() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *fakeRegistry) tokenLog() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.tokenRequests...)
}

// blobGets counts GETs of blob d.
func (f *fakeRegistry) blobGets(d digest.Digest) int {
	n := 0
	for _, r := range f.log() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/blobs/"+d.String()) {
			n++
		}
	}
	return n
}

func (f *fakeRegistry) addBlob(b []byte) digest.Digest {
	d := digest.FromBytes(b)
	f.mu.Lock()
	f.blobs[d] = b
	f.mu.Unlock()
	return d
}

// addManifest serves body as repo:tag (unless tag is empty) and repo@digest.
func (f *fakeRegistry) addManifest(repo, tag string, m fakeManifest) ocispec.Descriptor {
	d := digest.FromBytes(m.body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if tag != "" {
		f.manifests[repo+":"+tag] = m
	}
	f.manifests[repo+"@"+d.String()] = m
	return ocispec.Descriptor{MediaType: m.contentType, Digest: d, Size: int64(len(m.body))}
}

type testImage struct {
	manifest     ocispec.Descriptor
	manifestBody []byte
	config       ocispec.Descriptor
	layers       []ocispec.Descriptor
	layerData    [][]byte
}

// addImage serves an image of the given layers under repo:tag; layers are
// arbitrary bytes (the client does not look inside).
func (f *fakeRegistry) addImage(repo, tag string, layerMediaType string, layers ...[]byte) testImage {
	img := testImage{layerData: layers}
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers"}}
	for _, l := range layers {
		d := f.addBlob(l)
		img.layers = append(img.layers, ocispec.Descriptor{MediaType: layerMediaType, Digest: d, Size: int64(len(l))})
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromString("diff of "+string(l)))
	}
	cb, _ := json.Marshal(cfg)
	img.config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: f.addBlob(cb), Size: int64(len(cb))}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: img.config, Layers: img.layers}
	m.SchemaVersion = 2
	img.manifestBody, _ = json.Marshal(m)
	img.manifest = f.addManifest(repo, tag, fakeManifest{body: img.manifestBody, contentType: ocispec.MediaTypeImageManifest})
	return img
}

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"), Authorization: r.Header.Get("Authorization")})
	hook := f.hook
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	var repo, kind, ref string
	for _, k := range []string{"/manifests/", "/blobs/"} {
		if i := strings.LastIndex(rest, k); i > 0 {
			repo, kind, ref = rest[:i], strings.Trim(k, "/"), rest[i+len(k):]
			break
		}
	}
	if !f.authorized(w, r, repo) {
		return
	}
	switch kind {
	case "manifests":
		key := repo + ":" + ref
		if strings.Contains(ref, ":") {
			key = repo + "@" + ref
		}
		f.mu.Lock()
		m, ok := f.manifests[key]
		f.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
			return
		}
		if m.contentType != "" {
			w.Header().Set("Content-Type", m.contentType)
		}
		switch m.digestHeader {
		case "":
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(m.body).String())
		case "-":
		default:
			w.Header().Set("Docker-Content-Digest", m.digestHeader)
		}
		w.Write(m.body)
	case "blobs":
		f.mu.Lock()
		b, ok := f.blobs[digest.Digest(ref)]
		f.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry")
			return
		}
		serveBlob(w, r, b)
	default:
		if rest == "" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.NotFound(w, r)
	}
}

// serveBlob answers a blob GET, honouring "Range: bytes=N-".
func serveBlob(w http.ResponseWriter, r *http.Request, b []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if rg := r.Header.Get("Range"); rg != "" {
		var start int
		if _, err := fmt.Sscanf(rg, "bytes=%d-", &start); err != nil || start >= len(b) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(b)-1, len(b)))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)-start))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(b[start:])
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

func (f *fakeRegistry) authorized(w http.ResponseWriter, r *http.Request, repo string) bool {
	authz := r.Header.Get("Authorization")
	switch f.auth {
	case "basic":
		if u, p, ok := r.BasicAuth(); ok && u == f.user && p == f.pass {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="fake registry"`)
	case "bearer":
		if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
			scopes, _ := base64.RawURLEncoding.DecodeString(tok)
			if repo == "" || strings.Contains(string(scopes)+" ", " repository:"+repo+":pull ") {
				return true
			}
		}
		ch := fmt.Sprintf(`Bearer realm="%s/token",service="fake, registry"`, f.tokenSrv.URL)
		if repo != "" {
			ch += fmt.Sprintf(`,scope="repository:%s:pull"`, repo)
		}
		w.Header().Set("WWW-Authenticate", ch)
	default:
		return true
	}
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return false
}

// serveToken is the token server: a token lists the scopes it grants
// (base64), all of them to the right credentials or refresh token, none
// to anonymous callers when the registry has a user.
func (f *fakeRegistry) serveToken(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f.mu.Lock()
	f.tokenRequests = append(f.tokenRequests, fakeRequest{Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization"), Query: r.URL.Query(), Form: r.PostForm})
	f.mu.Unlock()
	var scopes []string
	switch {
	case r.Method == http.MethodPost:
		if r.PostForm.Get("grant_type") != "refresh_token" || f.refresh == "" || r.PostForm.Get("refresh_token") != f.refresh {
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad refresh token")
			return
		}
		scopes = strings.Fields(r.PostForm.Get("scope"))
	default:
		u, p, ok := r.BasicAuth()
		switch {
		case ok && (u != f.user || p != f.pass):
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "incorrect username or password")
			return
		case ok || f.user == "":
			scopes = r.URL.Query()["scope"]
		}
	}
	tok := base64.RawURLEncoding.EncodeToString([]byte("granted: " + strings.Join(scopes, " ")))
	w.Header().Set("Content-Type", "application/json")
	key := "token"
	if r.Method == http.MethodPost {
		key = "access_token"
	}
	json.NewEncoder(w).Encode(map[string]any{key: tok, "expires_in": 300})
}
