package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
)

// pushFake is a registry that takes pushes, for unit tests: blobs and
// manifests in memory, uploads by POST then PUT, mounts, a log of the
// requests and a hook to misbehave.
type pushFake struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	blobs     map[string][]byte // "repo@digest"
	manifests map[string][]byte // "repo:ref"
	requests  []fakeRequest
	// relative makes upload Locations relative, with a query to keep.
	relative bool
	// uploadHost, when set, is where upload Locations point.
	uploadHost string
	hook       func(w http.ResponseWriter, r *http.Request) bool
}

func newPushFake(t *testing.T) *pushFake {
	f := &pushFake{t: t, blobs: map[string][]byte{}, manifests: map[string][]byte{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *pushFake) host() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *pushFake) log() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *pushFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Authorization: r.Header.Get("Authorization")})
	hook := f.hook
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/v2/")
	switch {
	case strings.Contains(rest, "/blobs/uploads/"):
		repo, id, _ := strings.Cut(rest, "/blobs/uploads/")
		f.upload(w, r, repo, id)
	case strings.Contains(rest, "/blobs/"):
		repo, d, _ := strings.Cut(rest, "/blobs/")
		f.mu.Lock()
		b, ok := f.blobs[repo+"@"+d]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	case strings.Contains(rest, "/manifests/"):
		repo, ref, _ := strings.Cut(rest, "/manifests/")
		f.manifest(w, r, repo, ref)
	default:
		http.NotFound(w, r)
	}
}

func (f *pushFake) upload(w http.ResponseWriter, r *http.Request, repo, id string) {
	switch r.Method {
	case http.MethodPost:
		if from, d := r.URL.Query().Get("from"), r.URL.Query().Get("mount"); from != "" {
			f.mu.Lock()
			b, ok := f.blobs[from+"@"+d]
			if ok {
				f.blobs[repo+"@"+d] = b
			}
			f.mu.Unlock()
			if ok {
				w.WriteHeader(http.StatusCreated)
				return
			}
		}
		loc := "/v2/" + repo + "/blobs/uploads/u1?_state=opaque%3D%3D"
		switch {
		case f.uploadHost != "":
			loc = "http://" + f.uploadHost + loc
		case !f.relative:
			loc = f.srv.URL + loc
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusAccepted)
	case http.MethodPut:
		if r.URL.Query().Get("_state") != "opaque==" {
			writeError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "lost the upload's state")
			return
		}
		b, _ := io.ReadAll(r.Body)
		d := r.URL.Query().Get("digest")
		if digest.FromBytes(b).String() != d || r.ContentLength != int64(len(b)) {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "provided digest did not match uploaded content")
			return
		}
		f.mu.Lock()
		f.blobs[repo+"@"+d] = b
		f.mu.Unlock()
		w.Header().Set("Docker-Content-Digest", d)
		w.WriteHeader(http.StatusCreated)
	case http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (f *pushFake) manifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	switch r.Method {
	case http.MethodHead, http.MethodGet:
		f.mu.Lock()
		b, ok := f.manifests[repo+":"+ref]
		f.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
			return
		}
		w.Write(b)
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		var m ocispec.Manifest
		json.Unmarshal(b, &m)
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, l := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if _, ok := f.blobs[repo+"@"+l.Digest.String()]; l.Digest != "" && !ok {
				writeError(w, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry")
				return
			}
		}
		d := digest.FromBytes(b)
		f.manifests[repo+":"+ref] = b
		f.manifests[repo+":"+d.String()] = b
		w.Header().Set("Docker-Content-Digest", d.String())
		w.WriteHeader(http.StatusCreated)
	}
}

// fixture is a small image in a store: a config and two layers of bytes.
type fixture struct {
	store    *content.Local
	manifest ocispec.Descriptor
	config   ocispec.Descriptor
	layers   []ocispec.Descriptor
}

func newFixture(t *testing.T, layers ...string) fixture {
	t.Helper()
	ctx := context.Background()
	fx := fixture{store: newStore(t)}
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers"}}
	for _, l := range layers {
		d, err := content.WriteBytes(ctx, fx.store, ocispec.MediaTypeImageLayerGzip, []byte(l))
		if err != nil {
			t.Fatal(err)
		}
		fx.layers = append(fx.layers, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromString(l))
	}
	cb, _ := json.Marshal(cfg)
	var err error
	if fx.config, err = content.WriteBytes(ctx, fx.store, ocispec.MediaTypeImageConfig, cb); err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: fx.config, Layers: fx.layers}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	if fx.manifest, err = content.WriteBytes(ctx, fx.store, ocispec.MediaTypeImageManifest, mb); err != nil {
		t.Fatal(err)
	}
	return fx
}

func TestPushLocation(t *testing.T) {
	for _, relative := range []bool{false, true} {
		t.Run(fmt.Sprint("relative=", relative), func(t *testing.T) {
			f := newPushFake(t)
			f.relative = relative
			fx := newFixture(t, "layer one", "layer two")
			res, err := Push(context.Background(), NewClient(noConfig(t)), fx.store, f.host(), "app", "v1", fx.manifest, PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Pushed != 3 || res.Digest != fx.manifest.Digest {
				t.Errorf("result %+v", res)
			}
			var order []string
			for _, r := range f.log() {
				if r.Method == http.MethodPut {
					order = append(order, r.Path)
				}
			}
			if len(order) != 4 || order[3] != "/v2/app/manifests/v1" {
				t.Errorf("PUTs %v: the manifest must go last", order)
			}
		})
	}
}

func TestPushByDigest(t *testing.T) {
	f := newPushFake(t)
	fx := newFixture(t, "layer")
	res, err := Push(context.Background(), NewClient(noConfig(t)), fx.store, f.host(), "app", "", fx.manifest, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	_, ok := f.manifests["app:"+fx.manifest.Digest.String()]
	f.mu.Unlock()
	if !ok || res.Digest != fx.manifest.Digest {
		t.Errorf("not pushed by digest: %+v", res)
	}
}

// An upload Location on another host gets no registry credentials.
func TestPushUploadElsewhere(t *testing.T) {
	f := newPushFake(t)
	storage := newPushFake(t)
	f.uploadHost = storage.host()
	// The storage host takes the upload and tells the registry.
	storage.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut {
			b, _ := io.ReadAll(r.Body)
			f.mu.Lock()
			f.blobs["app@"+r.URL.Query().Get("digest")] = b
			f.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			return true
		}
		return false
	}
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); !ok || u != "me" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return true
		}
		return false
	}
	cfg := writeConfig(t, `{"auths":{"`+f.host()+`":{"username":"me","password":"secret"}}}`)
	fx := newFixture(t, "layer")
	if _, err := Push(context.Background(), NewClient(WithDockerConfig(cfg)), fx.store, f.host(), "app", "v1", fx.manifest, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	puts := 0
	for _, r := range storage.log() {
		if r.Method == http.MethodPut {
			puts++
		}
		if r.Authorization != "" {
			t.Errorf("%s %s on the storage host carried %q", r.Method, r.Path, r.Authorization)
		}
	}
	if puts != 2 {
		t.Errorf("%d uploads to the storage host, want 2", puts)
	}
}

func TestPushErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		hook func(w http.ResponseWriter, r *http.Request) bool
		want string
		is   error
	}{
		{
			name: "forbidden without a body",
			hook: func(w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(http.StatusForbidden)
				return true
			},
			want: "push HOST/app:v1: denied: requested access to the resource is denied",
			is:   ErrDenied,
		},
		{
			name: "unauthorized upload",
			hook: func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPost {
					writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
					return true
				}
				return false
			},
			want: "push HOST/app:v1: unauthorized: authentication required",
			is:   ErrDenied,
		},
		{
			name: "manifest blob unknown",
			hook: func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
					writeError(w, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry")
					return true
				}
				return false
			},
			want: "push HOST/app:v1: manifest sha256:",
		},
		{
			name: "digest invalid",
			hook: func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/uploads/") {
					writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "provided digest did not match uploaded content")
					return true
				}
				return false
			},
			want: "digest invalid: provided digest did not match uploaded content",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPushFake(t)
			f.hook = tc.hook
			fx := newFixture(t, "layer")
			_, err := Push(context.Background(), NewClient(noConfig(t)), fx.store, f.host(), "app", "v1", fx.manifest, PushOptions{})
			want := strings.ReplaceAll(tc.want, "HOST", f.host())
			if err == nil || !strings.Contains(err.Error(), want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("err = %v\nwant %q", err, want)
			}
			if tc.name == "manifest blob unknown" && !strings.HasSuffix(err.Error(), "answered: manifest blob unknown: blob unknown to registry") {
				t.Errorf("the registry's words are not at the end: %v", err)
			}
		})
	}
}

func TestPushRetries(t *testing.T) {
	fastRetries(t)
	f := newPushFake(t)
	var mu sync.Mutex
	failed := map[string]int{}
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPut && failed[r.URL.Query().Get("digest")+r.URL.Path] < 2 {
			failed[r.URL.Query().Get("digest")+r.URL.Path]++
			writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try again")
			return true
		}
		return false
	}
	fx := newFixture(t, "layer one", "layer two")
	st := newStatuses()
	res, err := Push(context.Background(), NewClient(noConfig(t)), fx.store, f.host(), "app", "v1", fx.manifest, PushOptions{Progress: st})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pushed != 3 {
		t.Errorf("result %+v", res)
	}
	for _, l := range fx.layers {
		id := l.Digest.Encoded()[:12]
		all := strings.Join(st.all[id], ", ")
		if !strings.Contains(all, "Retrying in ") || st.last[id] != "Pushed" {
			t.Errorf("layer %s went %s", id, all)
		}
	}

	// A refusal is not retried.
	f2 := newPushFake(t)
	f2.hook = func(w http.ResponseWriter, r *http.Request) bool {
		writeError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name")
		return true
	}
	if _, err := Push(context.Background(), NewClient(noConfig(t)), fx.store, f2.host(), "app", "v1", fx.manifest, PushOptions{}); err == nil {
		t.Fatal("pushed to a registry that refuses everything")
	}
	if n := len(f2.log()); n > 3 {
		t.Errorf("%d requests for a push refused at once", n)
	}
}

func TestPushMount(t *testing.T) {
	f := newPushFake(t)
	fx := newFixture(t, "shared one", "shared two")
	c := NewClient(noConfig(t))
	ctx := context.Background()
	if _, err := Push(ctx, c, fx.store, f.host(), "team/src", "v1", fx.manifest, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	st := newStatuses()
	res, err := Push(ctx, c, fx.store, f.host(), "team/dst", "v1", fx.manifest, PushOptions{
		Progress:  st,
		MountFrom: func(digest.Digest) []string { return []string{"Bad Name", "team/src"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mounted != 3 || res.Pushed != 0 {
		t.Errorf("result %+v", res)
	}
	for _, l := range fx.layers {
		if s := st.last[l.Digest.Encoded()[:12]]; s != "Mounted from team/src" {
			t.Errorf("%s: %q", l.Digest, s)
		}
	}
	// A mount the registry answers with an upload: the blob goes up there.
	fx2 := newFixture(t, "new layer")
	res, err = Push(ctx, c, fx2.store, f.host(), "team/dst", "v2", fx2.manifest, PushOptions{
		MountFrom: func(digest.Digest) []string { return []string{"team/src"} },
	})
	if err != nil || res.Pushed != 2 || res.Mounted != 0 {
		t.Errorf("result %+v, %v", res, err)
	}
}

func TestPushChecksArguments(t *testing.T) {
	fx := newFixture(t, "layer")
	c := NewClient(noConfig(t))
	for _, tc := range []struct{ host, repo, tag string }{
		{"", "app", "v1"},
		{"h:1", "App", "v1"},
		{"h:1", "app", "-bad"},
	} {
		if _, err := Push(context.Background(), c, fx.store, tc.host, tc.repo, tc.tag, fx.manifest, PushOptions{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Push(%q, %q, %q): %v", tc.host, tc.repo, tc.tag, err)
		}
	}
}

func TestCoveredScopes(t *testing.T) {
	for _, tc := range []struct {
		s      string
		scopes []string
		want   bool
	}{
		{"repository:a:pull", []string{"repository:a:pull,push"}, true},
		{"repository:a:pull,push", []string{"repository:a:pull"}, false},
		{"repository:a:pull", []string{"repository:b:pull,push"}, false},
		{"repository:a:push", []string{"repository:a:*"}, true},
		{"registry:catalog:*", []string{"registry:catalog:*"}, true},
		{"nonsense", []string{"repository:a:pull"}, false},
	} {
		if got := covered(tc.s, tc.scopes); got != tc.want {
			t.Errorf("covered(%q, %q) = %v", tc.s, tc.scopes, got)
		}
	}
}

func TestScopeDenied(t *testing.T) {
	for _, tc := range []struct {
		scopes []string
		want   string
	}{
		{[]string{"repository:app:pull"}, "pull access denied for h:1/app, repository does not exist or may require 'docker login': 401 unauthorized"},
		{[]string{"repository:app:pull,push"}, "unauthorized: authentication required"},
		{[]string{"repository:app:pull,push", "repository:src:pull"}, "unauthorized: authentication required"},
		{[]string{"registry:catalog:*"}, "unauthorized: authentication required"},
	} {
		e := &ErrorResponse{StatusCode: http.StatusUnauthorized}
		err := scopeDenied("h:1", "app", tc.scopes, e)
		if err.Error() != tc.want || !errors.Is(err, ErrDenied) {
			t.Errorf("%v: %v; want %q", tc.scopes, err, tc.want)
		}
	}
}
