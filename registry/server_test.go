package registry

import (
	"bytes"
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
)

// testServer is a Server on an httptest server.
type testServer struct {
	t    *testing.T
	s    *Server
	hs   *httptest.Server
	root string
}

func newTestServer(t *testing.T, opts ...ServerOption) *testServer {
	t.Helper()
	return openTestServer(t, t.TempDir(), opts...)
}

// openTestServer opens a server on root, closed when the test ends.
func openTestServer(t *testing.T, root string, opts ...ServerOption) *testServer {
	t.Helper()
	s, err := NewServer(root, append([]ServerOption{WithServerLogf(t.Logf)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, s: s, hs: httptest.NewServer(s), root: root}
	t.Cleanup(ts.close)
	return ts
}

func (ts *testServer) close() {
	ts.hs.Close()
	ts.s.Close()
}

// response is an answer, its body read.
type response struct {
	*http.Response
	body []byte
}

// do sends a request; header is key, value, key, value...
func (ts *testServer) do(method, path string, body []byte, header ...string) response {
	ts.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = ts.hs.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.hs.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{resp, b}
}

// expect fails the test unless the answer has status (and, for errors,
// the error code).
func (r response) expect(t *testing.T, status int, code string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL, r.StatusCode, status, r.body)
	}
	if code == "" {
		return
	}
	var eb errorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || len(eb.Errors) == 0 {
		t.Fatalf("%s %s: error body %q: %v", r.Request.Method, r.Request.URL, r.body, err)
	}
	if eb.Errors[0].Code != code {
		t.Fatalf("%s %s: code %s, want %s (%s)", r.Request.Method, r.Request.URL, eb.Errors[0].Code, code, eb.Errors[0].Message)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error with Content-Type %q", ct)
	}
}

// pushBlob uploads b to repo in one POST and returns its descriptor.
func (ts *testServer) pushBlob(repo string, b []byte) ocispec.Descriptor {
	ts.t.Helper()
	d := digest.FromBytes(b)
	ts.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b).expect(ts.t, http.StatusCreated, "")
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: int64(len(b))}
}

// pushManifest puts v (marshalled) as repo:ref and returns its descriptor.
func (ts *testServer) pushManifest(repo, ref, mediaType string, v any) (ocispec.Descriptor, []byte) {
	ts.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.do("PUT", "/v2/"+repo+"/manifests/"+ref, b, "Content-Type", mediaType).expect(ts.t, http.StatusCreated, "")
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}, b
}

// testImage pushes a small image of nLayers layers to repo (tagged when
// tag is not empty) and returns the manifest descriptor.
type serverImage struct {
	manifest ocispec.Descriptor
	body     []byte
	config   ocispec.Descriptor
	layers   []ocispec.Descriptor
}

func (ts *testServer) pushImage(repo, tag, seed string, annotations map[string]string) serverImage {
	ts.t.Helper()
	var img serverImage
	for i := range 2 {
		l := ts.pushBlob(repo, []byte(fmt.Sprintf("layer %d of %s", i, seed)))
		l.MediaType = ocispec.MediaTypeImageLayerGzip
		img.layers = append(img.layers, l)
	}
	cfg := ts.pushBlob(repo, []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Labels":{"seed":%q}}}`, seed)))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	img.config = cfg
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: img.layers, Annotations: annotations}
	m.SchemaVersion = 2
	ref := tag
	if ref == "" {
		b, _ := json.Marshal(m)
		ref = digest.FromBytes(b).String()
	}
	img.manifest, img.body = ts.pushManifest(repo, ref, ocispec.MediaTypeImageManifest, m)
	return img
}

func TestServerPing(t *testing.T) {
	ts := newTestServer(t)
	for _, m := range []string{"GET", "HEAD"} {
		r := ts.do(m, "/v2/", nil)
		r.expect(t, http.StatusOK, "")
		if v := r.Header.Get("Docker-Distribution-API-Version"); v != "registry/2.0" {
			t.Errorf("%s /v2/: API version header %q", m, v)
		}
		if want := map[string]string{"GET": "{}\n", "HEAD": ""}[m]; string(r.body) != want {
			t.Errorf("%s /v2/: body %q", m, r.body)
		}
	}
	// Every answer says the API version, errors too.
	r := ts.do("GET", "/v2/nope/manifests/latest", nil)
	r.expect(t, http.StatusNotFound, codeNameUnknown)
	if r.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Error("error without the API version header")
	}
	ts.do("GET", "/v3/", nil).expect(t, http.StatusNotFound, codeUnsupported)
	r = ts.do("POST", "/v2/a/manifests/latest", nil)
	r.expect(t, http.StatusMethodNotAllowed, codeUnsupported)
	if r.Header.Get("Allow") != "DELETE, GET, HEAD, PUT" {
		t.Errorf("Allow: %q", r.Header.Get("Allow"))
	}
}

func TestServerNames(t *testing.T) {
	ts := newTestServer(t)
	long := strings.Repeat("a/", 127) + "ab" // 256 characters
	bad := []string{"Upper", "a//b", "-a", "a-", "a..b", "a/.b", "_a", long}
	for _, name := range bad {
		t.Run(name[:min(len(name), 10)], func(t *testing.T) {
			for _, p := range []string{"/manifests/latest", "/tags/list", "/blobs/uploads/", "/blobs/" + digest.FromString("x").String()} {
				method := "GET"
				if strings.HasSuffix(p, "uploads/") {
					method = "POST"
				}
				ts.do(method, "/v2/"+name+p, nil).expect(t, http.StatusBadRequest, codeNameInvalid)
			}
		})
	}
	// What the grammar allows, including keywords as components and 255
	// characters.
	good := []string{"a", "a/b/c", "a__b", "a---b", "a.b_c-d", "blobs/manifests", "x/tags", long[:255]}
	for _, name := range good {
		ts.pushImage(name, "v1", name, nil)
		ts.do("GET", "/v2/"+name+"/manifests/v1", nil).expect(t, http.StatusOK, "")
		ts.do("GET", "/v2/"+name+"/tags/list", nil).expect(t, http.StatusOK, "")
	}
}

func TestServerBlobs(t *testing.T) {
	ts := newTestServer(t)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	d := ts.pushBlob("a", data).Digest
	sha512 := digest.SHA512.FromBytes(data)
	ts.do("POST", "/v2/a/blobs/uploads/?digest="+sha512.String(), data).expect(t, http.StatusCreated, "")

	for _, dg := range []digest.Digest{d, sha512} {
		r := ts.do("GET", "/v2/a/blobs/"+dg.String(), nil)
		r.expect(t, http.StatusOK, "")
		if !bytes.Equal(r.body, data) || r.Header.Get("Docker-Content-Digest") != dg.String() || r.Header.Get("Content-Length") != "10000" {
			t.Fatalf("GET %s: %d bytes, headers %v", dg, len(r.body), r.Header)
		}
		r = ts.do("HEAD", "/v2/a/blobs/"+dg.String(), nil)
		r.expect(t, http.StatusOK, "")
		if len(r.body) != 0 || r.Header.Get("Content-Length") != "10000" || r.Header.Get("Docker-Content-Digest") != dg.String() {
			t.Fatalf("HEAD %s: body %d, headers %v", dg, len(r.body), r.Header)
		}
	}
	ranges := []struct {
		header, contentRange string
		status               int
		want                 []byte
	}{
		{"bytes=10-19", "bytes 10-19/10000", http.StatusPartialContent, data[10:20]},
		{"bytes=9990-", "bytes 9990-9999/10000", http.StatusPartialContent, data[9990:]},
		{"bytes=-5", "bytes 9995-9999/10000", http.StatusPartialContent, data[9995:]},
		{"bytes=20000-", "bytes */10000", http.StatusRequestedRangeNotSatisfiable, nil},
	}
	for _, rg := range ranges {
		r := ts.do("GET", "/v2/a/blobs/"+d.String(), nil, "Range", rg.header)
		if r.StatusCode != rg.status || r.Header.Get("Content-Range") != rg.contentRange || (rg.want != nil && !bytes.Equal(r.body, rg.want)) {
			t.Errorf("Range %s: %d %q %q", rg.header, r.StatusCode, r.Header.Get("Content-Range"), r.body)
		}
	}

	// A blob is visible only in the repositories that link it.
	ts.pushBlob("b", []byte("something else"))
	ts.do("GET", "/v2/b/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, codeBlobUnknown)
	ts.do("GET", "/v2/c/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, codeNameUnknown)

	bad := []string{"sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha384:" + strings.Repeat("a", 96), "nodigest"}
	for _, b := range bad {
		ts.do("GET", "/v2/a/blobs/"+b, nil).expect(t, http.StatusBadRequest, codeDigestInvalid)
	}

	// DELETE unlinks.
	ts.do("DELETE", "/v2/a/blobs/"+d.String(), nil).expect(t, http.StatusAccepted, "")
	ts.do("HEAD", "/v2/a/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, "")
	ts.do("DELETE", "/v2/a/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, codeBlobUnknown)
	ts.do("GET", "/v2/a/blobs/"+sha512.String(), nil).expect(t, http.StatusOK, "")
}

// TestServerConcurrentPushes: clients pushing the same blobs and
// manifests at once all succeed.
func TestServerConcurrentPushes(t *testing.T) {
	ts := newTestServer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := fmt.Sprintf("r%d", i%4)
			data := bytes.Repeat([]byte("shared "), 50000)
			d := digest.FromBytes(data)
			req, _ := http.NewRequest("POST", ts.hs.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(data))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("push to %s: %s", repo, resp.Status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

var _ = errors.New
