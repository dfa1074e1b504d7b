package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/internal/progress"
)

const layerGzip = ocispec.MediaTypeImageLayerGzip

// data makes n bytes that differ by seed.
func data(seed string, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		h := sha256.Sum256([]byte(seed + strconv.Itoa(i)))
		b.Write(h[:])
	}
	return b.Bytes()[:n]
}

func noConfig(t *testing.T) Option {
	return WithDockerConfig(filepath.Join(t.TempDir(), "none.json"))
}

// fastRetries makes Pull's retries quick for the test.
func fastRetries(t *testing.T) {
	old := retryDelay
	retryDelay = 5 * time.Millisecond
	t.Cleanup(func() { retryDelay = old })
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	c := NewClient(noConfig(t))
	img := f.addImage("app", "v1", layerGzip, []byte("x"))
	dockerList := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}`)
	schema1 := []byte(`{"schemaVersion":1,"name":"app","tag":"old","fsLayers":[{"blobSum":"sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8c7c22955b46d4"}]}`)
	big := append([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":"`), bytes.Repeat([]byte("a"), 4<<20)...)
	big = append(big, `"}}`...)
	other := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`)
	wrongBody := f.addManifest("app", "", fakeManifest{body: []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), contentType: ocispec.MediaTypeImageIndex})
	f.mu.Lock()
	f.manifests["app@"+wrongBody.Digest.String()] = fakeManifest{body: other, contentType: ocispec.MediaTypeImageManifest, digestHeader: "-"}
	f.mu.Unlock()

	for _, tc := range []struct {
		name, tag string
		m         *fakeManifest
		ref       string // default: tag
		wantType  string
		wantErr   string
		wantIs    error
	}{
		{name: "oci manifest", tag: "v1", wantType: ocispec.MediaTypeImageManifest},
		{name: "by digest", ref: img.manifest.Digest.String(), wantType: ocispec.MediaTypeImageManifest},
		{name: "docker list", tag: "list", m: &fakeManifest{body: dockerList, contentType: mediaTypeDockerManifestList}, wantType: mediaTypeDockerManifestList},
		{name: "type from body", tag: "json", m: &fakeManifest{body: dockerList, contentType: "application/json; charset=utf-8"}, wantType: mediaTypeDockerManifestList},
		{name: "type from shape", tag: "shape", m: &fakeManifest{body: []byte(`{"schemaVersion":2,"manifests":[]}`)}, wantType: ocispec.MediaTypeImageIndex},
		{name: "schema1 signed", tag: "old", m: &fakeManifest{body: schema1, contentType: mediaTypeDockerSchema1JWS}, wantErr: "schema 1", wantIs: ErrUnsupported},
		{name: "schema1 as json", tag: "old2", m: &fakeManifest{body: schema1, contentType: "application/json"}, wantErr: "schema 1", wantIs: ErrUnsupported},
		{name: "unknown media type", tag: "helm", m: &fakeManifest{body: []byte(`{"schemaVersion":2}`), contentType: "application/vnd.cncf.helm.chart.v1+json"}, wantErr: `unsupported manifest media type "application/vnd.cncf.helm.chart.v1+json"`, wantIs: ErrUnsupported},
		{name: "header and body disagree", tag: "disagree", m: &fakeManifest{body: dockerList, contentType: ocispec.MediaTypeImageIndex}, wantErr: "the registry says it is application/vnd.oci.image.index.v1+json, the manifest says application/vnd.docker", wantIs: ErrInvalid},
		{name: "over 4 MiB", tag: "big", m: &fakeManifest{body: big, contentType: ocispec.MediaTypeImageManifest}, wantErr: "is over 4 MiB", wantIs: ErrInvalid},
		{name: "wrong Docker-Content-Digest", tag: "lie", m: &fakeManifest{body: other, contentType: ocispec.MediaTypeImageManifest, digestHeader: digest.FromString("x").String()}, wantErr: "registry says its digest is " + digest.FromString("x").String(), wantIs: ErrInvalid},
		{name: "digest reference mismatch", ref: wrongBody.Digest.String(), wantErr: "body hashes to " + digest.FromBytes(other).String(), wantIs: ErrInvalid},
		{name: "manifest unknown", tag: "nope", wantErr: "manifest for " + f.host() + "/app:nope not found: manifest unknown: manifest unknown", wantIs: ErrNotFound},
		{name: "bad tag", ref: "a/b", wantErr: "bad tag", wantIs: ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.m != nil {
				f.addManifest("app", tc.tag, *tc.m)
			}
			ref := tc.ref
			if ref == "" {
				ref = tc.tag
			}
			desc, body, err := c.Resolve(ctx, f.host(), "app", ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, tc.wantIs) {
					t.Fatalf("err = %v, want %q (%v)", err, tc.wantErr, tc.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if desc.MediaType != tc.wantType || desc.Digest != digest.FromBytes(body) || desc.Size != int64(len(body)) {
				t.Errorf("descriptor %+v for %d bytes", desc, len(body))
			}
		})
	}
	if _, _, err := c.Resolve(ctx, f.host(), "../x", "v1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad repository: %v", err)
	}
}

func TestAccept(t *testing.T) {
	f := newFakeRegistry(t)
	var accept string
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		accept = r.Header.Get("Accept")
		return false
	}
	f.addImage("app", "v1", layerGzip, []byte("x"))
	if _, _, err := NewClient(noConfig(t)).Resolve(context.Background(), f.host(), "app", "v1"); err != nil {
		t.Fatal(err)
	}
	for _, mt := range []string{ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, mediaTypeDockerManifestList, mediaTypeDockerManifest} {
		if !strings.Contains(accept, mt) {
			t.Errorf("Accept %q lacks %s", accept, mt)
		}
	}
	if strings.Contains(accept, "distribution.manifest.v1") {
		t.Errorf("Accept %q asks for schema 1", accept)
	}
}

func TestPull(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	var layers [][]byte
	for i := range 6 {
		layers = append(layers, data(fmt.Sprint("layer", i), 100_000+i))
	}
	img := f.addImage("library/app", "latest", layerGzip, layers...)

	// The first three blob requests wait until all three are in flight:
	// the pull must download in parallel to get past them.
	var inflight, maxInflight atomic.Int32
	var started sync.WaitGroup
	started.Add(3)
	var count atomic.Int32
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/blobs/") || strings.HasSuffix(r.URL.Path, img.config.Digest.String()) {
			return false
		}
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := maxInflight.Load()
			if n <= m || maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		if count.Add(1) <= 3 {
			started.Done()
			waitTimeout(&started, 5*time.Second)
		}
		return false
	}

	store := newStore(t)
	var mu sync.Mutex
	done := map[int]digest.Digest{}
	var events []string
	res, err := Pull(ctx, NewClient(noConfig(t)), store, f.host(), "library/app", "latest", PullOptions{
		LayerDone: func(i int, d ocispec.Descriptor) {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := done[i]; dup {
				t.Errorf("LayerDone(%d) twice", i)
			}
			done[i] = d.Digest
		},
		Progress: progress.SinkFunc(func(id, status string, cur, total int64) {
			mu.Lock()
			defer mu.Unlock()
			if status != "Downloading" || cur == 0 {
				events = append(events, id+" "+status)
			}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if m := maxInflight.Load(); m != 3 {
		t.Errorf("at most %d layers downloaded at once, want 3", m)
	}
	for i, l := range img.layers {
		if done[i] != l.Digest {
			t.Errorf("LayerDone for layer %d: %s, want %s", i, done[i], l.Digest)
		}
		got, err := content.ReadBlob(ctx, store, l)
		if err != nil || !bytes.Equal(got, layers[i]) {
			t.Errorf("layer %d in store: %v", i, err)
		}
	}
	if res.Index != nil || res.Manifest.Digest != img.manifest.Digest || res.Config.Digest != img.config.Digest ||
		len(res.Layers) != 6 || len(res.ConfigBody.RootFS.DiffIDs) != 6 || res.ManifestBody.Config.Digest != img.config.Digest {
		t.Errorf("result %+v", res)
	}
	for _, d := range []ocispec.Descriptor{img.manifest, img.config} {
		if _, err := store.Info(ctx, d.Digest); err != nil {
			t.Errorf("%s not stored: %v", d.Digest, err)
		}
	}
	id := progress.ShortID(img.layers[5].Digest.String())
	want := []string{id + " Pulling fs layer", id + " Waiting", id + " Downloading", id + " Verifying Checksum", id + " Download complete"}
	var got []string
	for _, e := range events {
		if strings.HasPrefix(e, id) {
			got = append(got, e)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("progress of the last layer:\n%q\nwant\n%q", got, want)
	}

	// Again: nothing to download, every layer reported.
	f.hook = nil
	before := len(f.log())
	events = nil
	clear(done)
	if _, err := Pull(ctx, NewClient(noConfig(t)), store, f.host(), "library/app", "latest", PullOptions{
		LayerDone: func(i int, d ocispec.Descriptor) { mu.Lock(); done[i] = d.Digest; mu.Unlock() },
		Progress:  progress.SinkFunc(func(id, status string, cur, total int64) { mu.Lock(); events = append(events, status); mu.Unlock() }),
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.log()[before:] {
		if strings.Contains(r.Path, "/blobs/") && !strings.HasSuffix(r.Path, img.config.Digest.String()) {
			t.Errorf("re-pull fetched %s", r.Path)
		}
	}
	if len(done) != 6 || len(events) != 6 || events[0] != "Already exists" {
		t.Errorf("re-pull: LayerDone for %d layers, progress %q", len(done), events)
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
	}
}

func TestPullIndex(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	amd := f.addImage("app", "", layerGzip, []byte("amd64 layer"))
	arm := f.addImage("app", "", mediaTypeDockerLayer, []byte("arm64 layer"))
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: arm.manifest.Digest, Size: arm.manifest.Size, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: amd.manifest.Digest, Size: amd.manifest.Size, Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
	}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	idesc := f.addManifest("app", "multi", fakeManifest{body: ib, contentType: ocispec.MediaTypeImageIndex})
	c := NewClient(noConfig(t))

	if _, err := Pull(ctx, c, newStore(t), f.host(), "app", "multi", PullOptions{}); err == nil || !strings.Contains(err.Error(), "no platform selector") {
		t.Fatalf("pull of an index without a selector: %v", err)
	}
	store := newStore(t)
	res, err := Pull(ctx, c, store, f.host(), "app", "multi", PullOptions{SelectManifest: func(ix ocispec.Index) (ocispec.Descriptor, error) {
		for _, m := range ix.Manifests {
			if m.Platform != nil && m.Platform.Architecture == "amd64" {
				return m, nil
			}
		}
		return ocispec.Descriptor{}, errors.New("no amd64")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Index == nil || res.Index.Digest != idesc.Digest || res.Manifest.Digest != amd.manifest.Digest || res.Manifest.Platform.Architecture != "amd64" {
		t.Errorf("result: index %+v manifest %+v", res.Index, res.Manifest)
	}
	for _, d := range []digest.Digest{idesc.Digest, amd.manifest.Digest, amd.config.Digest, amd.layers[0].Digest} {
		if _, err := store.Info(ctx, d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if _, err := store.Info(ctx, arm.layers[0].Digest); err == nil {
		t.Error("the other platform's layer was pulled")
	}
	_, err = Pull(ctx, c, store, f.host(), "app", "multi", PullOptions{SelectManifest: func(ocispec.Index) (ocispec.Descriptor, error) {
		return ocispec.Descriptor{}, errors.New("no matching manifest for linux/s390x")
	}})
	if err == nil || !strings.Contains(err.Error(), "no matching manifest for linux/s390x") {
		t.Errorf("selector error: %v", err)
	}
}

func TestPullRefusesBadImages(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	c := NewClient(noConfig(t))
	manifest := func(tag string, edit func(m *ocispec.Manifest, cfg *ocispec.Image)) {
		img := f.addImage("app", "", layerGzip, []byte("a"), []byte("b"))
		var m ocispec.Manifest
		json.Unmarshal(img.manifestBody, &m)
		var cfg ocispec.Image
		cb := f.blobs[img.config.Digest]
		json.Unmarshal(cb, &cfg)
		edit(&m, &cfg)
		cb, _ = json.Marshal(cfg)
		m.Config.Digest, m.Config.Size = f.addBlob(cb), int64(len(cb))
		mb, _ := json.Marshal(m)
		f.addManifest("app", tag, fakeManifest{body: mb, contentType: ocispec.MediaTypeImageManifest})
	}
	manifest("unknown-layer", func(m *ocispec.Manifest, _ *ocispec.Image) { m.Layers[1].MediaType = "application/vnd.example.weird" })
	manifest("diffids", func(_ *ocispec.Manifest, cfg *ocispec.Image) { cfg.RootFS.DiffIDs = cfg.RootFS.DiffIDs[:1] })
	manifest("artifact", func(m *ocispec.Manifest, _ *ocispec.Image) {
		m.Config.MediaType = "application/vnd.cncf.helm.config.v1+json"
	})
	for tag, want := range map[string]string{
		"unknown-layer": `layer 1: unsupported layer media type "application/vnd.example.weird"`,
		"diffids":       "the manifest has 2 layers, the config 1 diff_ids",
		"artifact":      "is not a container image config",
	} {
		t.Run(tag, func(t *testing.T) {
			store := newStore(t)
			_, err := Pull(ctx, c, store, f.host(), "app", tag, PullOptions{})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
			n := 0
			store.Walk(ctx, func(content.Info) error { n++; return nil })
			if n != 0 {
				t.Errorf("%d blobs stored from a refused image", n)
			}
		})
	}
}

func TestPullCorruptBlob(t *testing.T) {
	ctx := context.Background()
	fastRetries(t)
	f := newFakeRegistry(t)
	img := f.addImage("app", "v1", layerGzip, data("good", 50_000), data("bad", 50_000))
	f.mu.Lock()
	f.blobs[img.layers[1].Digest] = data("evil", 50_000) // same size, other bytes
	f.mu.Unlock()
	store := newStore(t)
	_, err := Pull(ctx, NewClient(noConfig(t)), store, f.host(), "app", "v1", PullOptions{})
	if err == nil || !errors.Is(err, content.ErrInvalid) || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("err = %v", err)
	}
	if _, err := store.Info(ctx, img.layers[1].Digest); !errors.Is(err, content.ErrNotFound) {
		t.Errorf("corrupt layer is visible: %v", err)
	}
	if n := f.blobGets(img.layers[1].Digest); n != 1 {
		t.Errorf("corrupt layer fetched %d times; a digest mismatch is not retried", n)
	}
	// The failure cancels the other layer's download, whose ingest may
	// stay to be resumed; the corrupt one's is gone.
	ingests, _ := store.Ingests(ctx)
	for _, in := range ingests {
		if in.Ref == img.layers[1].Digest.String() {
			t.Errorf("corrupt layer's ingest left: %+v", in)
		}
	}

	// A server that sends more than the size is cut off, not trusted.
	f.mu.Lock()
	f.blobs[img.layers[1].Digest] = append(data("bad", 50_000), "more"...)
	f.mu.Unlock()
	_, err = Pull(ctx, NewClient(noConfig(t)), store, f.host(), "app", "v1", PullOptions{})
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more bytes than") {
		t.Fatalf("overlong blob: %v", err)
	}
}

func TestPullResumesTruncatedDownload(t *testing.T) {
	ctx := context.Background()
	fastRetries(t)
	f := newFakeRegistry(t)
	blob := data("big layer", 3<<20)
	img := f.addImage("app", "v1", layerGzip, blob)
	const cut = 1 << 20
	var first atomic.Bool
	first.Store(true)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, img.layers[0].Digest.String()) || !first.CompareAndSwap(true, false) {
			return false
		}
		// Promise the whole blob, send a third, hang up.
		w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
		w.WriteHeader(http.StatusOK)
		w.Write(blob[:cut])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
	store := newStore(t)
	var statuses []string
	var mu sync.Mutex
	if _, err := Pull(ctx, NewClient(noConfig(t)), store, f.host(), "app", "v1", PullOptions{Progress: progress.SinkFunc(func(id, st string, c, tot int64) {
		mu.Lock()
		statuses = append(statuses, st)
		mu.Unlock()
	})}); err != nil {
		t.Fatal(err)
	}
	var ranges []string
	for _, r := range f.log() {
		if strings.HasSuffix(r.Path, img.layers[0].Digest.String()) {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{"", fmt.Sprintf("bytes=%d-", cut)}; !slices.Equal(ranges, want) {
		t.Errorf("blob requests with Range %q, want %q", ranges, want)
	}
	if info, err := store.Info(ctx, img.layers[0].Digest); err != nil || info.Size != int64(len(blob)) {
		t.Errorf("layer after resume: %+v %v", info, err)
	}
	if !slices.ContainsFunc(statuses, func(s string) bool { return strings.HasPrefix(s, "Retrying in") }) {
		t.Errorf("no retry in progress: %q", statuses)
	}
}

func TestPullGivesUpAfterRetries(t *testing.T) {
	fastRetries(t)
	f := newFakeRegistry(t)
	img := f.addImage("app", "v1", layerGzip, data("x", 10_000))
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, img.layers[0].Digest.String()) {
			writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try later")
			return true
		}
		return false
	}
	_, err := Pull(context.Background(), NewClient(noConfig(t)), newStore(t), f.host(), "app", "v1", PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "try later") || !strings.Contains(err.Error(), "gave up after 5 retries") {
		t.Fatalf("err = %v", err)
	}
	if n := f.blobGets(img.layers[0].Digest); n != 1+maxRetries {
		t.Errorf("%d attempts, want %d", n, 1+maxRetries)
	}
}

func TestFetchBlobRange(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	blob := data("blob", 10_000)
	d := f.addBlob(blob)
	desc := ocispec.Descriptor{Digest: d, Size: int64(len(blob))}
	c := NewClient(noConfig(t))
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprint("server ignores range ", ignore), func(t *testing.T) {
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if ignore {
					r.Header.Del("Range")
				}
				return false
			}
			rc, err := c.FetchBlob(ctx, f.host(), "app", desc, 4000)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, blob[4000:]) {
				t.Errorf("read %d bytes from 4000: %v", len(got), err)
			}
		})
	}
	f.hook = nil
	if _, err := c.FetchBlob(ctx, f.host(), "app", ocispec.Descriptor{Digest: digest.FromString("nothing"), Size: 1}, 0); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "blob unknown") {
		t.Errorf("missing blob: %v", err)
	}
}

func TestFetchBlobRedirect(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.auth = "bearer"
	blob := data("redirected", 20_000)
	img := f.addImage("app", "v1", layerGzip, blob)
	var mu sync.Mutex
	var storage []fakeRequest
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		storage = append(storage, fakeRequest{Path: r.URL.Path, Authorization: r.Header.Get("Authorization"), Range: r.Header.Get("Range")})
		mu.Unlock()
		serveBlob(w, r, blob)
	}))
	defer cdn.Close()
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+img.layers[0].Digest.String()) && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			http.Redirect(w, r, cdn.URL+"/storage/blob?sig=abc", http.StatusTemporaryRedirect)
			return true
		}
		return false
	}
	c := NewClient(noConfig(t))
	store := newStore(t)
	if _, err := Pull(ctx, c, store, f.host(), "app", "v1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := c.FetchBlob(ctx, f.host(), "app", img.layers[0], 5)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	if len(storage) != 2 {
		t.Fatalf("storage saw %d requests", len(storage))
	}
	for _, r := range storage {
		if r.Authorization != "" {
			t.Errorf("the registry's token went to another host: %+v", r)
		}
	}
	if storage[1].Range != "bytes=5-" {
		t.Errorf("Range not kept across the redirect: %+v", storage[1])
	}
	if _, err := store.Info(ctx, img.layers[0].Digest); err != nil {
		t.Error(err)
	}
}

func TestConcurrentPulls(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	var layers [][]byte
	for i := range 4 {
		layers = append(layers, data(fmt.Sprint("shared", i), 300_000))
	}
	img := f.addImage("app", "v1", layerGzip, layers...)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/blobs/") {
			time.Sleep(20 * time.Millisecond) // long enough for the pulls to overlap
		}
		return false
	}
	store := newStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = Pull(ctx, NewClient(noConfig(t)), store, f.host(), "app", "v1", PullOptions{})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
		}
	}
	for i, l := range img.layers {
		got, err := content.ReadBlob(ctx, store, l)
		if err != nil || !bytes.Equal(got, layers[i]) {
			t.Errorf("layer %d: %v", i, err)
		}
	}
}

func TestCertsDir(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	img := f.addImage("app", "v1", layerGzip, []byte("over tls"))
	srv := httptest.NewUnstartedServer(f.srv.Config.Handler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes that fail on purpose
	srv.StartTLS()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	certs := t.TempDir()
	os.Mkdir(filepath.Join(certs, host), 0o755)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(certs, host, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	desc, _, err := NewClient(noConfig(t), WithCertsDir(certs)).Resolve(ctx, host, "app", "v1")
	if err != nil || desc.Digest != img.manifest.Digest {
		t.Fatalf("resolve over TLS: %v", err)
	}
	// Without the CA the certificate is not trusted; without the certs
	// dir the client speaks plain HTTP to 127.0.0.1 and fails too.
	os.Remove(filepath.Join(certs, host, "ca.crt"))
	if _, _, err := NewClient(noConfig(t), WithCertsDir(certs)).Resolve(ctx, host, "app", "v1"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	if _, _, err := NewClient(noConfig(t), WithCertsDir(t.TempDir())).Resolve(ctx, host, "app", "v1"); err == nil {
		t.Error("plain HTTP to a TLS server worked")
	}
}

func TestUserAgentAndLogf(t *testing.T) {
	f := newFakeRegistry(t)
	f.addImage("app", "v1", layerGzip, []byte("x"))
	var ua string
	f.hook = func(w http.ResponseWriter, r *http.Request) bool { ua = r.Header.Get("User-Agent"); return false }
	var logged []string
	c := NewClient(noConfig(t), WithUserAgent("berth-test/1"), WithLogf(func(format string, args ...any) {
		logged = append(logged, fmt.Sprintf(format, args...))
	}))
	if _, _, err := c.Resolve(context.Background(), f.host(), "app", "v1"); err != nil {
		t.Fatal(err)
	}
	if ua != "berth-test/1" || len(logged) == 0 || !strings.Contains(logged[0], "GET "+f.srv.URL+"/v2/app/manifests/v1: 200 OK") {
		t.Errorf("User-Agent %q, log %q", ua, logged)
	}
}

func TestWithHTTPClient(t *testing.T) {
	f := newFakeRegistry(t)
	f.addImage("app", "v1", layerGzip, []byte("x"))
	var n atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	if _, _, err := NewClient(noConfig(t), WithHTTPClient(hc)).Resolve(context.Background(), f.host(), "app", "v1"); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 {
		t.Errorf("the given client sent %d requests", n.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPullRestartsBadResume(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	blob := data("layer", 200_000)
	img := f.addImage("app", "v1", layerGzip, blob)
	store := newStore(t)
	// An earlier pull left 50000 wrong bytes in the ingest.
	w, err := store.Writer(ctx, img.layers[0].Digest.String(), img.layers[0])
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data("garbage", 50_000))
	w.Close()
	if _, err := Pull(ctx, NewClient(noConfig(t)), store, f.host(), "app", "v1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	var ranges []string
	for _, r := range f.log() {
		if strings.HasSuffix(r.Path, img.layers[0].Digest.String()) {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{"bytes=50000-", ""}; !slices.Equal(ranges, want) {
		t.Errorf("requests with Range %q, want %q: resume, fail verification, start over", ranges, want)
	}
	if got, err := content.ReadBlob(ctx, store, img.layers[0]); err != nil || !bytes.Equal(got, blob) {
		t.Errorf("layer: %v", err)
	}
}

func TestPullCorruptConfig(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	img := f.addImage("app", "v1", layerGzip, []byte("layer"))
	f.mu.Lock()
	good := f.blobs[img.config.Digest]
	f.blobs[img.config.Digest] = bytes.ToUpper(good)
	f.mu.Unlock()
	store := newStore(t)
	_, err := Pull(ctx, NewClient(noConfig(t)), store, f.host(), "app", "v1", PullOptions{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("err = %v", err)
	}
	n := 0
	store.Walk(ctx, func(content.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d blobs stored", n)
	}
}
