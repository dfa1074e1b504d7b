package registry

// Integration tests: images built by imagetest, pushed with skopeo to a
// real docker-registry, pulled with this client.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/internal/imagetest"
	"github.com/berth-project/berth/internal/progress"
)

// selectHost picks the manifest of the host's platform, as image's
// selector will.
func selectHost(idx ocispec.Index) (ocispec.Descriptor, error) {
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.OS == runtime.GOOS && m.Platform.Architecture == runtime.GOARCH {
			return m, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("no manifest for %s/%s", runtime.GOOS, runtime.GOARCH)
}

// checkPulled checks that every blob of res is in store, and that the
// config is busybox's.
func checkPulled(t *testing.T, store content.Store, res *PullResult) {
	t.Helper()
	ctx := context.Background()
	descs := append([]ocispec.Descriptor{res.Manifest, res.Config}, res.Layers...)
	if res.Index != nil {
		descs = append(descs, *res.Index)
	}
	for _, d := range descs {
		info, err := store.Info(ctx, d.Digest)
		if err != nil || info.Size != d.Size {
			t.Errorf("%s (%s) in store: %+v %v", d.Digest, d.MediaType, info, err)
		}
	}
	if res.ConfigBody.Architecture != runtime.GOARCH || len(res.ConfigBody.Config.Cmd) == 0 {
		t.Errorf("config %+v", res.ConfigBody)
	}
}

// layout builds a busybox layout and returns its directory and descriptor.
func layout(t *testing.T, o imagetest.LayoutOptions) (string, ocispec.Descriptor) {
	dir := t.TempDir()
	return dir, imagetest.BusyboxLayout(t, dir, o)
}

func TestIntegrationPull(t *testing.T) {
	ctx := context.Background()
	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	c := NewClient(noConfig(t))
	for _, comp := range []string{"gzip", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			dir, top := layout(t, imagetest.LayoutOptions{Compression: comp, ExtraLayers: []imagetest.Layer{
				{Entries: []imagetest.Entry{imagetest.Dir("etc"), imagetest.File("etc/motd", "hello\n")}},
				{Entries: []imagetest.Entry{imagetest.Whiteout("etc/motd")}, Compression: "gzip"},
			}})
			r.PushLayout(t, dir, "busybox:"+comp)
			store := newStore(t)
			res, err := Pull(ctx, c, store, r.Host, "busybox", comp, PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Manifest.Digest != top.Digest || res.Index != nil {
				t.Errorf("pulled manifest %s, pushed %s (digests not preserved?)", res.Manifest.Digest, top.Digest)
			}
			want := map[string]string{"gzip": ocispec.MediaTypeImageLayerGzip, "zstd": ocispec.MediaTypeImageLayerZstd, "none": ocispec.MediaTypeImageLayer}[comp]
			if len(res.Layers) != 3 || res.Layers[0].MediaType != want || res.Layers[2].MediaType != ocispec.MediaTypeImageLayerGzip {
				t.Errorf("layers %+v", res.Layers)
			}
			checkPulled(t, store, res)
		})
	}
	t.Run("multi-platform", func(t *testing.T) {
		host := runtime.GOOS + "/" + runtime.GOARCH
		dir, top := layout(t, imagetest.LayoutOptions{Platforms: []string{"linux/arm64", host, "linux/arm/v7"}})
		r.PushLayout(t, dir, "multi:latest")
		store := newStore(t)
		if _, err := Pull(ctx, c, store, r.Host, "multi", "latest", PullOptions{}); err == nil {
			t.Error("pulled an index without a selector")
		}
		res, err := Pull(ctx, c, store, r.Host, "multi", "latest", PullOptions{SelectManifest: selectHost})
		if err != nil {
			t.Fatal(err)
		}
		if res.Index == nil || res.Index.Digest != top.Digest || res.Manifest.Platform == nil || res.Manifest.Platform.Architecture != runtime.GOARCH {
			t.Errorf("index %+v manifest %+v", res.Index, res.Manifest)
		}
		checkPulled(t, store, res)
		n := 0
		store.Walk(ctx, func(content.Info) error { n++; return nil })
		if want := 3 + len(res.Layers); n != want { // index, manifest, config, layers: nothing of the other platforms
			t.Errorf("%d blobs in the store, want %d", n, want)
		}
	})
	t.Run("by digest", func(t *testing.T) {
		dir, top := layout(t, imagetest.LayoutOptions{})
		r.PushLayout(t, dir, "bydigest:v1")
		res, err := Pull(ctx, c, newStore(t), r.Host, "bydigest", top.Digest.String(), PullOptions{})
		if err != nil || res.Manifest.Digest != top.Digest {
			t.Fatalf("pull by digest: %v", err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := Pull(ctx, c, newStore(t), r.Host, "busybox", "nope", PullOptions{})
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "manifest for "+r.Host+"/busybox:nope not found: manifest unknown") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestIntegrationTokenAuth(t *testing.T) {
	ctx := context.Background()
	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{Auth: "token"})
	dir, top := layout(t, imagetest.LayoutOptions{})
	r.PushLayout(t, dir, "private/busybox:v1")

	auth := base64.StdEncoding.EncodeToString([]byte(r.Username + ":" + r.Password))
	c := NewClient(WithDockerConfig(writeConfig(t, `{"auths":{"`+r.Host+`":{"auth":"`+auth+`"}}}`)))
	before := r.TokenRequests()
	res, err := Pull(ctx, c, newStore(t), r.Host, "private/busybox", "v1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Digest != top.Digest {
		t.Errorf("manifest %s, want %s", res.Manifest.Digest, top.Digest)
	}
	if n := r.TokenRequests() - before; n != 1 {
		t.Errorf("%d tokens fetched for one pull, want 1", n)
	}

	// Anonymous: the token server hands out a token that grants nothing.
	_, err = Pull(ctx, NewClient(noConfig(t)), newStore(t), r.Host, "private/busybox", "v1", PullOptions{})
	want := "pull access denied for " + r.Host + "/private/busybox, repository does not exist or may require 'docker login'"
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), want) {
		t.Errorf("anonymous pull: %v", err)
	}
}

func TestIntegrationBasicAuth(t *testing.T) {
	ctx := context.Background()
	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{Auth: "htpasswd"})
	dir, _ := layout(t, imagetest.LayoutOptions{})
	r.PushLayout(t, dir, "basic/busybox:v1")

	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	auth := base64.StdEncoding.EncodeToString([]byte(r.Username + ":" + r.Password))
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{"`+r.Host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	store := newStore(t)
	res, err := Pull(ctx, NewClient(), store, r.Host, "basic/busybox", "v1", PullOptions{}) // config from $DOCKER_CONFIG
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, store, res)

	_, err = Pull(ctx, NewClient(noConfig(t)), newStore(t), r.Host, "basic/busybox", "v1", PullOptions{})
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "pull access denied for "+r.Host+"/basic/busybox") {
		t.Errorf("anonymous pull: %v", err)
	}
}

func TestIntegrationTLS(t *testing.T) {
	ctx := context.Background()
	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{TLS: true})
	dir, top := layout(t, imagetest.LayoutOptions{})
	r.PushLayout(t, dir, "secure:v1")
	res, err := Pull(ctx, NewClient(noConfig(t), WithCertsDir(r.CertsDir)), newStore(t), r.Host, "secure", "v1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Digest != top.Digest {
		t.Errorf("manifest %s", res.Manifest.Digest)
	}
}

// countingProxy is a reverse proxy in front of a registry that logs the
// blob requests it passes on.
type countingProxy struct {
	srv  *httptest.Server
	mu   sync.Mutex
	gets []fakeRequest
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") {
			p.mu.Lock()
			p.gets = append(p.gets, fakeRequest{Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range")})
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *countingProxy) host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// requests returns the blob requests for digest d so far.
func (p *countingProxy) requests(d string) []fakeRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []fakeRequest
	for _, r := range p.gets {
		if strings.HasSuffix(r.Path, "/blobs/"+d) {
			out = append(out, r)
		}
	}
	return out
}

func TestIntegrationInterruptedPull(t *testing.T) {
	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	dir, _ := layout(t, imagetest.LayoutOptions{BigLayers: []int64{32 << 20}})
	r.PushLayout(t, dir, "big:v1")
	proxy := newCountingProxy(t, r.URL())
	c := NewClient(noConfig(t))
	store := newStore(t)

	// First pull: cancelled once 4 MB of the big layer are in.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, body, err := c.Resolve(ctx, proxy.host(), "big", "v1")
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	big := m.Layers[len(m.Layers)-1]
	bigID := progress.ShortID(big.Digest.String())
	const stopAt = 4 << 20
	_, err = Pull(ctx, c, store, proxy.host(), "big", "v1", PullOptions{Progress: progress.SinkFunc(func(id, status string, cur, total int64) {
		if id == bigID && status == "Downloading" && cur >= stopAt {
			cancel()
		}
	})})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted pull: %v", err)
	}
	if _, err := store.Info(context.Background(), big.Digest); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("big layer visible after an interrupted pull: %v", err)
	}

	// Second pull: resumes the big layer where the first stopped.
	res, err := Pull(context.Background(), c, store, proxy.host(), "big", "v1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, store, res)
	reqs := proxy.requests(big.Digest.String())
	if len(reqs) != 2 || reqs[0].Range != "" {
		t.Fatalf("big layer requests %+v, want a whole one then a resumed one", reqs)
	}
	var off int64
	if _, err := fmt.Sscanf(reqs[1].Range, "bytes=%d-", &off); err != nil || off < stopAt || off >= big.Size {
		t.Errorf("resumed with Range %q; want from at least %d", reqs[1].Range, stopAt)
	}

	// Third pull: everything is there; no layer is fetched.
	var mu sync.Mutex
	statuses := map[string]string{}
	proxy.mu.Lock()
	before := len(proxy.gets)
	proxy.mu.Unlock()
	res, err = Pull(context.Background(), c, store, proxy.host(), "big", "v1", PullOptions{Progress: progress.SinkFunc(func(id, status string, cur, total int64) {
		mu.Lock()
		statuses[id] = status
		mu.Unlock()
	})})
	if err != nil {
		t.Fatal(err)
	}
	proxy.mu.Lock()
	after := slices.Clone(proxy.gets[before:])
	proxy.mu.Unlock()
	for _, g := range after {
		if !strings.HasSuffix(g.Path, res.Config.Digest.String()) {
			t.Errorf("a complete image's pull fetched %s", g.Path)
		}
	}
	for _, l := range res.Layers {
		if s := statuses[progress.ShortID(l.Digest.String())]; s != "Already exists" {
			t.Errorf("layer %s: %q", l.Digest, s)
		}
	}
}
