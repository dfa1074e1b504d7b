package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// stubAuthorizer records what each request asks for and answers with
// decide.
type stubAuthorizer struct {
	mu     sync.Mutex
	asked  [][]string // scopes per call
	decide func(r *http.Request, access []Access) error
}

func (a *stubAuthorizer) Authorize(r *http.Request, access []Access) error {
	var scopes []string
	for _, x := range access {
		scopes = append(scopes, x.Scope())
	}
	a.mu.Lock()
	a.asked = append(a.asked, scopes)
	decide := a.decide
	a.mu.Unlock()
	if decide == nil {
		return nil
	}
	return decide(r, access)
}

func (a *stubAuthorizer) calls() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.asked)
}

func (a *stubAuthorizer) reset(decide func(r *http.Request, access []Access) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = nil
	a.decide = decide
}

// TestServerAccess: what each endpoint asks the Authorizer for.
func TestServerAccess(t *testing.T) {
	auth := &stubAuthorizer{}
	ts := newTestServer(t, WithAuthorizer(auth))
	img := ts.pushImage("a", "v1", "access", nil)
	src := ts.pushBlob("src", []byte("source blob"))
	d := img.layers[0].Digest.String()
	session := ts.startSession("a")
	tests := []struct {
		method, path string
		want         []string
	}{
		{"GET", "/v2/", nil},
		{"GET", "/v2/_catalog", []string{"registry:catalog:*"}},
		{"GET", "/v2/a/tags/list", []string{"repository:a:pull"}},
		{"GET", "/v2/a/manifests/v1", []string{"repository:a:pull"}},
		{"HEAD", "/v2/a/manifests/v1", []string{"repository:a:pull"}},
		{"PUT", "/v2/a/manifests/v2", []string{"repository:a:pull,push"}},
		{"DELETE", "/v2/a/manifests/v2", []string{"repository:a:delete"}},
		{"GET", "/v2/a/blobs/" + d, []string{"repository:a:pull"}},
		{"DELETE", "/v2/a/blobs/" + d, []string{"repository:a:delete"}},
		{"POST", "/v2/a/blobs/uploads/", []string{"repository:a:pull,push"}},
		{"PATCH", session, []string{"repository:a:pull,push"}},
		{"GET", session, []string{"repository:a:pull,push"}},
		{"DELETE", session, []string{"repository:a:pull,push"}},
		{"POST", "/v2/a/blobs/uploads/?mount=" + src.Digest.String() + "&from=src", []string{"repository:a:pull,push", "repository:src:pull"}},
		{"GET", "/v2/a/referrers/" + d, []string{"repository:a:pull"}},
	}
	for _, tc := range tests {
		auth.reset(nil)
		var body []byte
		if tc.method == "PUT" {
			body = img.body
		}
		r := ts.do(tc.method, tc.path, body, "Content-Type", ocispec.MediaTypeImageManifest)
		if r.StatusCode >= 300 {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.StatusCode, r.body)
		}
		calls := auth.calls()
		if len(calls) != 1 || !slices.Equal(calls[0], tc.want) {
			t.Errorf("%s %s asked %q, want one call with %q", tc.method, tc.path, calls, tc.want)
		}
	}
}

func TestServerAuthorizerRefuses(t *testing.T) {
	auth := &stubAuthorizer{}
	ts := newTestServer(t, WithAuthorizer(auth))
	img := ts.pushImage("a", "v1", "refused", nil)
	challenge := &Challenge{Header: `Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"`, Reason: "insufficient scope"}
	tests := []struct {
		name    string
		decide  error
		status  int
		code    string
		message string
	}{
		{"challenge", challenge, http.StatusUnauthorized, codeUnauthorized, "insufficient scope"},
		{"empty challenge", &Challenge{Header: `Basic realm="r"`}, http.StatusUnauthorized, codeUnauthorized, "authentication required"},
		{"denied", errors.New("user bob may not pull a"), http.StatusForbidden, codeDenied, "user bob may not pull a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			auth.reset(func(*http.Request, []Access) error { return tc.decide })
			for _, p := range []string{"/v2/", "/v2/a/manifests/v1", "/v2/a/blobs/" + img.config.Digest.String(), "/v2/_catalog"} {
				r := ts.do("GET", p, nil)
				r.expect(t, tc.status, tc.code)
				var eb errorBody
				json.Unmarshal(r.body, &eb)
				if eb.Errors[0].Message != tc.message {
					t.Errorf("%s: message %q", p, eb.Errors[0].Message)
				}
				var ch *Challenge
				wantHeader := ""
				if errors.As(tc.decide, &ch) {
					wantHeader = ch.Header
				}
				if got := r.Header.Get("WWW-Authenticate"); got != wantHeader {
					t.Errorf("%s: WWW-Authenticate %q, want %q", p, got, wantHeader)
				}
			}
			// Nothing is written when refused.
			ts.do("PUT", "/v2/a/manifests/v2", img.body, "Content-Type", ocispec.MediaTypeImageManifest).expect(t, tc.status, tc.code)
			ts.do("DELETE", "/v2/a/manifests/v1", nil).expect(t, tc.status, tc.code)
			auth.reset(nil)
			ts.do("GET", "/v2/a/manifests/v2", nil).expect(t, http.StatusNotFound, codeManifestUnknown)
			ts.do("GET", "/v2/a/manifests/v1", nil).expect(t, http.StatusOK, "")
		})
	}
}

// TestServerMountAccess: a mount from a repository the caller may not
// pull becomes an upload; so does one without a source, unless some
// repository the caller may pull has the blob.
func TestServerMountAccess(t *testing.T) {
	auth := &stubAuthorizer{}
	ts := newTestServer(t, WithAuthorizer(auth))
	blob := ts.pushBlob("secret", []byte("secret blob"))
	denySecret := func(_ *http.Request, access []Access) error {
		for _, a := range access {
			if a.Name == "secret" {
				return errors.New("no access to secret")
			}
		}
		return nil
	}
	auth.reset(denySecret)
	r := ts.do("POST", "/v2/mine/blobs/uploads/?mount="+blob.Digest.String()+"&from=secret", nil)
	r.expect(t, http.StatusAccepted, "")
	if calls := auth.calls(); len(calls) != 2 || !slices.Equal(calls[1], []string{"repository:mine:pull,push"}) {
		t.Errorf("asked %q", calls)
	}
	ts.do("POST", "/v2/mine/blobs/uploads/?mount="+blob.Digest.String(), nil).expect(t, http.StatusAccepted, "")
	ts.do("GET", "/v2/mine/blobs/"+blob.Digest.String(), nil).expect(t, http.StatusNotFound, "")

	// Only the source is refused, with a challenge (a bearer token that
	// lacks the source's scope): the client is asked for it, as
	// distribution does, instead of uploading what it could mount.
	auth.reset(func(_ *http.Request, access []Access) error {
		for _, a := range access {
			if a.Name == "secret" {
				return &Challenge{Header: `Bearer realm="r",scope="repository:mine:pull,push repository:secret:pull",error="insufficient_scope"`}
			}
		}
		return nil
	})
	r = ts.do("POST", "/v2/mine/blobs/uploads/?mount="+blob.Digest.String()+"&from=secret", nil)
	if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, "repository:secret:pull") {
		t.Errorf("mount challenge %q does not ask for the source", ch)
	}
	r.expect(t, http.StatusUnauthorized, codeUnauthorized)

	// The target refused: the answer is the target's refusal.
	auth.reset(func(*http.Request, []Access) error { return &Challenge{Header: `Basic realm="r"`} })
	ts.do("POST", "/v2/mine/blobs/uploads/?mount="+blob.Digest.String()+"&from=secret", nil).expect(t, http.StatusUnauthorized, codeUnauthorized)

	// Allowed, without a source: mounted from the repository that has it.
	auth.reset(nil)
	ts.do("POST", "/v2/mine/blobs/uploads/?mount="+blob.Digest.String(), nil).expect(t, http.StatusCreated, "")
	ts.do("GET", "/v2/mine/blobs/"+blob.Digest.String(), nil).expect(t, http.StatusOK, "")
}

func TestServerReadOnly(t *testing.T) {
	root := t.TempDir()
	ts := openTestServer(t, root)
	img := ts.pushImage("a", "v1", "read-only", nil)
	ts.close()
	ts = openTestServer(t, root, WithReadOnly(true))
	writes := []struct{ method, path string }{
		{"PUT", "/v2/a/manifests/v2"},
		{"DELETE", "/v2/a/manifests/v1"},
		{"DELETE", "/v2/a/blobs/" + img.config.Digest.String()},
		{"POST", "/v2/a/blobs/uploads/"},
		{"PATCH", "/v2/a/blobs/uploads/" + newUploadID()},
		{"PUT", "/v2/a/blobs/uploads/" + newUploadID()},
		{"DELETE", "/v2/a/blobs/uploads/" + newUploadID()},
	}
	for _, w := range writes {
		r := ts.do(w.method, w.path, img.body)
		r.expect(t, http.StatusMethodNotAllowed, codeUnsupported)
		if !strings.Contains(string(r.body), "registry is read-only") {
			t.Errorf("%s %s: %s", w.method, w.path, r.body)
		}
	}
	ts.do("GET", "/v2/a/manifests/v1", nil).expect(t, http.StatusOK, "")
	ts.do("GET", "/v2/a/blobs/"+img.config.Digest.String(), nil).expect(t, http.StatusOK, "")
	ts.do("GET", "/v2/a/tags/list", nil).expect(t, http.StatusOK, "")
	ts.do("GET", "/v2/a/referrers/"+img.manifest.Digest.String(), nil).expect(t, http.StatusOK, "")
}

type searchTestRepo struct {
	name, description string
	tags              int
}

func TestServerSearch(t *testing.T) {
	auth := &stubAuthorizer{}
	ts := newTestServer(t, WithAuthorizer(auth))
	desc := func(s string) map[string]string { return map[string]string{annotationDescription: s} }

	// web: the latest tag's description wins over an older one.
	ts.pushImage("library/web", "old", "web1", desc("An old web server"))
	ts.pushImage("library/web", "new", "web2", desc("A small Web server"))
	// tools: an index whose description comes from its first image.
	img := ts.pushImage("team/tools", "", "tools", desc("Handy TOOLS for debugging"))
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{img.manifest}}
	idx.SchemaVersion = 2
	ts.pushManifest("team/tools", "latest", ocispec.MediaTypeImageIndex, idx)
	// db: the description is a label of the config.
	layer := ts.pushBlob("team/db", []byte("db layer"))
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	cfg := ts.pushBlob("team/db", []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"org.opencontainers.image.description":"a database server"}}}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}}
	m.SchemaVersion = 2
	ts.pushManifest("team/db", "15", ocispec.MediaTypeImageManifest, m)
	ts.pushManifest("team/db", "16", ocispec.MediaTypeImageManifest, m)
	// private: found by name, but only for those who may pull it.
	ts.pushImage("private/server", "v1", "private", desc("secret server"))

	search := func(query string) (searchResponse, response) {
		r := ts.do("GET", "/v1/search?"+query, nil)
		var resp searchResponse
		if r.StatusCode == http.StatusOK {
			if err := json.Unmarshal(r.body, &resp); err != nil {
				t.Fatal(err)
			}
		}
		return resp, r
	}
	names := func(resp searchResponse) []string {
		var out []string
		for _, r := range resp.Results {
			out = append(out, r.Name)
		}
		return out
	}
	resp, r := search("q=server")
	r.expect(t, http.StatusOK, "")
	if got := names(resp); !slices.Equal(got, []string{"library/web", "private/server", "team/db"}) {
		t.Errorf("q=server: %v", got)
	}
	want := searchResult{Name: "library/web", Description: "A small Web server", TagCount: 2}
	if resp.Results[0] != want || resp.NumResults != 3 || resp.NumPages != 1 || resp.Page != 1 || resp.PageSize != 25 || resp.Query != "server" {
		t.Errorf("q=server: %+v", resp)
	}
	for q, want := range map[string][]string{
		"q=TOOLS":        {"team/tools"},
		"q=debug":        {"team/tools"},
		"q=database":     {"team/db"},
		"q=team%2F":      {"team/db", "team/tools"},
		"q=nothing":      nil,
		"q=small+server": nil, // "A small Web server": not a substring
		"q=small+web":    {"library/web"},
		"q=":             {"library/web", "private/server", "team/db", "team/tools"},
		"q=e&n=2":        {"library/web", "private/server"},
		"q=e&n=2&page=2": {"team/db", "team/tools"},
		"q=e&n=2&page=3": nil,
	} {
		resp, r := search(q)
		r.expect(t, http.StatusOK, "")
		if got := names(resp); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	resp, _ = search("q=e&n=2&page=2")
	if resp.NumResults != 4 || resp.NumPages != 2 || resp.Page != 2 || resp.PageSize != 2 {
		t.Errorf("page 2: %+v", resp)
	}
	if !strings.Contains(string(mustMarshal(t, searchResponse{Results: []searchResult{{}}})), `"star_count":0,"is_official":false,"is_automated":false,"tag_count":0`) {
		t.Error("search JSON field names changed")
	}

	// With an Authorizer, only what the caller may pull.
	auth.reset(func(_ *http.Request, access []Access) error {
		if len(access) == 1 && strings.HasPrefix(access[0].Name, "private/") {
			return errors.New("denied")
		}
		return nil
	})
	resp, _ = search("q=server")
	if got := names(resp); !slices.Equal(got, []string{"library/web", "team/db"}) || resp.NumResults != 2 {
		t.Errorf("filtered: %v", got)
	}
	for _, c := range auth.calls() {
		if len(c) != 1 || !strings.HasSuffix(c[0], ":pull") {
			t.Errorf("search asked for %q", c)
		}
	}
	// A caller who may pull none of the matches but could log in is
	// challenged.
	auth.reset(func(_ *http.Request, access []Access) error {
		if strings.HasPrefix(access[0].Name, "private/") {
			return &Challenge{Header: `Basic realm="r"`}
		}
		return nil
	})
	_, r = search("q=secret")
	r.expect(t, http.StatusUnauthorized, codeUnauthorized)
	if r.Header.Get("WWW-Authenticate") != `Basic realm="r"` {
		t.Errorf("challenge %q", r.Header.Get("WWW-Authenticate"))
	}
	resp, r = search("q=server")
	r.expect(t, http.StatusOK, "")
	if got := names(resp); !slices.Equal(got, []string{"library/web", "team/db"}) {
		t.Errorf("challenged: %v", got)
	}
	_, r = search("n=0")
	r.expect(t, http.StatusBadRequest, codeUnsupported)
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
