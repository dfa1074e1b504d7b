package registry

// Integration tests of Push: images built by imagetest, loaded into a
// content store, pushed to a real docker-registry, read back by skopeo
// and by Pull.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
	"github.com/berth-project/berth/internal/progress"
)

// loadLayout copies every blob of an OCI layout into a new store.
func loadLayout(t *testing.T, dir string) *content.Local {
	t.Helper()
	store := newStore(t)
	imagetest.EachLayoutBlob(t, dir, func(r io.Reader, desc ocispec.Descriptor) error {
		return content.WriteBlob(context.Background(), store, r, desc)
	})
	return store
}

// skopeoArgs are the flags skopeo needs to read from r.
func skopeoArgs(r *imagetest.Registry) []string {
	var args []string
	if r.CertsDir != "" {
		args = append(args, "--tls-verify=true", "--cert-dir", filepath.Dir(r.CACert))
	} else {
		args = append(args, "--tls-verify=false")
	}
	if r.Username != "" {
		args = append(args, "--creds", r.Username+":"+r.Password)
	}
	return args
}

// skopeoRead proves that another tool reads what was pushed as ref
// ("repo:tag"): skopeo copies it, every platform and every blob checked,
// and returns the digest of the manifest (or index) it found.
func skopeoRead(t *testing.T, r *imagetest.Registry, ref string) digest.Digest {
	t.Helper()
	skopeo := gate.Command(t, "skopeo")
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "REGISTRY_AUTH_FILE="+filepath.Join(dir, "auth.json"))
	os.WriteFile(filepath.Join(dir, "auth.json"), []byte(`{}`), 0o600)
	src := "docker://" + r.Host + "/" + ref
	args := append([]string{"inspect", "--raw"}, skopeoArgs(r)...)
	cmd := exec.Command(skopeo, append(args, src)...)
	cmd.Env = env
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo inspect %s: %v", src, err)
	}
	args = append([]string{"--policy", policy, "copy", "--all", "--src-tls-verify=" + map[bool]string{true: "true", false: "false"}[r.CertsDir != ""]}, srcFlags(r)...)
	cmd = exec.Command(skopeo, append(args, src, "oci:"+filepath.Join(dir, "copy"))...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy %s: %v\n%s", src, err, out)
	}
	return digest.FromBytes(raw)
}

func srcFlags(r *imagetest.Registry) []string {
	var args []string
	if r.CertsDir != "" {
		args = append(args, "--src-cert-dir", filepath.Dir(r.CACert))
	}
	if r.Username != "" {
		args = append(args, "--src-creds", r.Username+":"+r.Password)
	}
	return args
}

// statuses records the last progress status of each id.
type statuses struct {
	mu   sync.Mutex
	last map[string]string
	all  map[string][]string
}

func newStatuses() *statuses {
	return &statuses{last: map[string]string{}, all: map[string][]string{}}
}

func (s *statuses) Update(id, status string, cur, total int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last[id] != status {
		s.all[id] = append(s.all[id], status)
	}
	s.last[id] = status
}

func (s *statuses) get(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[id]
}

func TestIntegrationPush(t *testing.T) {
	for _, mode := range []string{"plain", "htpasswd", "token", "tls"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			o := imagetest.RegistryOptions{TLS: mode == "tls"}
			if mode == "htpasswd" || mode == "token" {
				o.Auth = mode
			}
			r := imagetest.StartRegistry(t, o)
			opts := []Option{noConfig(t)}
			if r.Username != "" {
				auth := base64.StdEncoding.EncodeToString([]byte(r.Username + ":" + r.Password))
				opts = []Option{WithDockerConfig(writeConfig(t, `{"auths":{"`+r.Host+`":{"auth":"`+auth+`"}}}`))}
			}
			if r.CertsDir != "" {
				opts = append(opts, WithCertsDir(r.CertsDir))
			}
			c := NewClient(opts...)

			dir, top := layout(t, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
				{Entries: []imagetest.Entry{imagetest.File("etc/motd", "pushed by berth\n")}},
			}})
			store := loadLayout(t, dir)
			st := newStatuses()
			before := r.TokenRequests()
			res, err := Push(ctx, c, store, r.Host, "team/busybox", "v1", top, PushOptions{Progress: st})
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != top.Digest || res.Size != top.Size || res.MediaType != ocispec.MediaTypeImageManifest {
				t.Errorf("result %+v, want %+v", res, top)
			}
			if res.Pushed != 3 || res.Mounted != 0 || res.Skipped != 0 {
				t.Errorf("pushed %d, mounted %d, skipped %d blobs; want 3 pushed", res.Pushed, res.Mounted, res.Skipped)
			}
			if mode == "token" {
				if n := r.TokenRequests() - before; n != 1 {
					t.Errorf("%d tokens fetched for one push, want 1", n)
				}
			}

			if got := skopeoRead(t, r, "team/busybox:v1"); got != top.Digest {
				t.Errorf("skopeo reads %s, pushed %s", got, top.Digest)
			}
			back := newStore(t)
			pulled, err := Pull(ctx, c, back, r.Host, "team/busybox", "v1", PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if pulled.Manifest.Digest != top.Digest {
				t.Errorf("pulled %s, pushed %s", pulled.Manifest.Digest, top.Digest)
			}
			checkPulled(t, back, pulled)
			for _, l := range pulled.Layers {
				if s := st.get(progress.ShortID(l.Digest.String())); s != "Pushed" {
					t.Errorf("layer %s: last status %q, want Pushed", l.Digest, s)
				}
			}
			if s := st.get(progress.ShortID(pulled.Config.Digest.String())); s != "" {
				t.Errorf("the config has a progress line (%q); docker shows layers only", s)
			}
		})
	}
}

// pushProxy is a reverse proxy in front of a registry that logs every
// request it passes on, and may hold back the ones that hook refuses.
type pushProxy struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []fakeRequest
}

func newPushProxy(t *testing.T, target string) *pushProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &pushProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pushProxy) host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// since returns the requests from the n-th on.
func (p *pushProxy) since(n int) []fakeRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]fakeRequest(nil), p.reqs[n:]...)
}

func (p *pushProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reqs)
}

// blobWrites counts the requests that carry blob data: PUT and PATCH of
// uploads.
func blobWrites(reqs []fakeRequest) int {
	n := 0
	for _, r := range reqs {
		if (r.Method == http.MethodPut || r.Method == http.MethodPatch) && strings.Contains(r.Path, "/blobs/uploads/") {
			n++
		}
	}
	return n
}

func mounts(reqs []fakeRequest) []fakeRequest {
	var out []fakeRequest
	for _, r := range reqs {
		if r.Method == http.MethodPost && r.Query.Get("mount") != "" {
			out = append(out, r)
		}
	}
	return out
}

// TestIntegrationPushOnlyMissing checks that a push sends only what the
// registry lacks: nothing the second time, mounts for another repository
// of the same registry, one layer for an image one layer bigger.
func TestIntegrationPushOnlyMissing(t *testing.T) {
	ctx := context.Background()
	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	proxy := newPushProxy(t, r.URL())
	c := NewClient(noConfig(t))
	dir, top := layout(t, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("etc/motd", "one\n")}},
	}})
	store := loadLayout(t, dir)
	if _, err := Push(ctx, c, store, proxy.host(), "first", "v1", top, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := blobWrites(proxy.since(0)); n != 3 {
		t.Errorf("first push: %d blob uploads, want 3", n)
	}

	t.Run("again", func(t *testing.T) {
		n0 := proxy.count()
		st := newStatuses()
		res, err := Push(ctx, c, store, proxy.host(), "first", "v2", top, PushOptions{Progress: st})
		if err != nil {
			t.Fatal(err)
		}
		if res.Skipped != 3 || res.Pushed != 0 || res.Mounted != 0 {
			t.Errorf("result %+v; want 3 skipped", res)
		}
		reqs := proxy.since(n0)
		if n := blobWrites(reqs); n != 0 {
			t.Errorf("second push sent %d blobs: %+v", n, reqs)
		}
		for _, q := range reqs {
			if q.Method == http.MethodPost {
				t.Errorf("second push opened an upload: %+v", q)
			}
		}
		for id, s := range st.last {
			if s != "Layer already exists" {
				t.Errorf("%s: %q", id, s)
			}
		}
	})

	t.Run("mount", func(t *testing.T) {
		n0 := proxy.count()
		st := newStatuses()
		res, err := Push(ctx, c, store, proxy.host(), "second/copy", "latest", top, PushOptions{
			Progress: st,
			MountFrom: func(digest.Digest) []string {
				return []string{"second/copy", "nowhere", "first"} // itself is skipped, nowhere fails
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Mounted != 3 || res.Pushed != 0 {
			t.Errorf("result %+v; want 3 mounted", res)
		}
		reqs := proxy.since(n0)
		if n := blobWrites(reqs); n != 0 {
			t.Errorf("a push to another repository uploaded %d blobs", n)
		}
		from := map[string]int{}
		for _, m := range mounts(reqs) {
			from[m.Query.Get("from")]++
		}
		if len(from) != 2 || from["nowhere"] != 3 || from["first"] != 3 {
			t.Errorf("mounts from %v; want one from nowhere, then one from first, per blob", from)
		}
		deletes := 0
		for _, q := range reqs {
			if q.Method == http.MethodDelete {
				deletes++
			}
		}
		if deletes != 3 {
			t.Errorf("%d uploads cancelled, want the 3 the failed mounts opened", deletes)
		}
		for id, s := range st.last {
			if s != "Mounted from first" {
				t.Errorf("%s: %q", id, s)
			}
		}
		if got := skopeoRead(t, r, "second/copy:latest"); got != top.Digest {
			t.Errorf("skopeo reads %s", got)
		}
	})

	t.Run("one more layer", func(t *testing.T) {
		dir2, top2 := layout(t, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
			{Entries: []imagetest.Entry{imagetest.File("etc/motd", "one\n")}},
			{Entries: []imagetest.Entry{imagetest.File("etc/motd", "two\n")}},
		}})
		n0 := proxy.count()
		res, err := Push(ctx, c, loadLayout(t, dir2), proxy.host(), "first", "v3", top2, PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The new layer and the new config.
		if res.Pushed != 2 || res.Skipped != 2 {
			t.Errorf("result %+v; want 2 pushed, 2 skipped", res)
		}
		if n := blobWrites(proxy.since(n0)); n != 2 {
			t.Errorf("%d blob uploads, want 2", n)
		}
	})
}

func TestIntegrationPushIndex(t *testing.T) {
	ctx := context.Background()
	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	c := NewClient(noConfig(t))
	hostPlatform := runtime.GOOS + "/" + runtime.GOARCH
	dir, top := layout(t, imagetest.LayoutOptions{Platforms: []string{"linux/arm64", hostPlatform, "linux/arm/v7"}})
	store := loadLayout(t, dir)
	if missing, err := MissingContent(ctx, store, top); err != nil || len(missing) != 0 {
		t.Fatalf("MissingContent of a whole layout: %v %v", missing, err)
	}
	res, err := Push(ctx, c, store, r.Host, "multi", "v1", top, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != top.Digest || res.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("result %+v", res)
	}
	if got := skopeoRead(t, r, "multi:v1"); got != top.Digest {
		t.Errorf("skopeo reads %s, pushed %s", got, top.Digest)
	}
	back := newStore(t)
	pulled, err := Pull(ctx, c, back, r.Host, "multi", "v1", PullOptions{SelectManifest: selectHost})
	if err != nil {
		t.Fatal(err)
	}
	if pulled.Index == nil || pulled.Index.Digest != top.Digest {
		t.Fatalf("pulled index %+v", pulled.Index)
	}

	// What a pull keeps of an index is one platform: pushing the index
	// from there fails before anything is sent, naming a missing manifest.
	missing, err := MissingContent(ctx, back, top)
	if err != nil || len(missing) != 2 {
		t.Fatalf("MissingContent after a one-platform pull: %v %v; want the 2 other manifests", missing, err)
	}
	proxy := newPushProxy(t, r.URL())
	_, err = Push(ctx, c, back, proxy.host(), "multi", "partial", top, PushOptions{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "manifest "+missing[0].Digest.String()) || !strings.Contains(err.Error(), "(and 1 more) is not in the local content store") {
		t.Errorf("push of a partial index: %v", err)
	}
	if n := proxy.count(); n != 0 {
		t.Errorf("a push that cannot succeed sent %d requests", n)
	}
	// Its platform's manifest alone goes up.
	res, err = Push(ctx, c, back, r.Host, "multi", "mine", pulled.Manifest, PushOptions{})
	if err != nil || res.Digest != pulled.Manifest.Digest || res.Skipped != len(pulled.Layers)+1 {
		t.Errorf("push of the platform manifest: %+v %v", res, err)
	}
}

func TestIntegrationPushErrors(t *testing.T) {
	ctx := context.Background()
	dir, top := layout(t, imagetest.LayoutOptions{})

	for _, auth := range []string{"htpasswd", "token"} {
		t.Run("anonymous "+auth, func(t *testing.T) {
			r := imagetest.StartRegistry(t, imagetest.RegistryOptions{Auth: auth})
			_, err := Push(ctx, NewClient(noConfig(t)), loadLayout(t, dir), r.Host, "private", "v1", top, PushOptions{})
			want := "push " + r.Host + "/private:v1: unauthorized: authentication required"
			if !errors.Is(err, ErrDenied) || err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("anonymous push: %v\nwant %q", err, want)
			}
		})
	}

	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	c := NewClient(noConfig(t))

	t.Run("missing blob", func(t *testing.T) {
		store := loadLayout(t, dir)
		var m ocispec.Manifest
		b, err := content.ReadBlob(ctx, store, top)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			t.Fatal(err)
		}
		gone := m.Layers[0].Digest
		if err := store.Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
		proxy := newPushProxy(t, r.URL())
		_, err = Push(ctx, c, store, proxy.host(), "missing", "v1", top, PushOptions{})
		want := "push " + proxy.host() + "/missing:v1: layer " + gone.String() + " is not in the local content store"
		if !errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("push without a layer: %v\nwant %q", err, want)
		}
		if n := proxy.count(); n != 0 {
			t.Errorf("%d requests sent", n)
		}
		if _, _, err := c.Resolve(ctx, r.Host, "missing", "v1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the tag exists after a failed push: %v", err)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		bigDir, bigTop := layout(t, imagetest.LayoutOptions{BigLayers: []int64{32 << 20}})
		store := loadLayout(t, bigDir)
		// A slow link: the proxy passes uploads on slowly enough for the
		// cancel to land mid-body.
		u, _ := url.Parse(r.URL())
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.ErrorLog = log.New(io.Discard, "", 0) // the cancel breaks its copy, as meant
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/blobs/uploads/") {
				req.Body = &slowBody{r: req.Body}
			}
			rp.ServeHTTP(w, req)
		}))
		defer slow.Close()
		host := strings.TrimPrefix(slow.URL, "http://")
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var once sync.Once
		_, err := Push(cctx, c, store, host, "big", "v1", bigTop, PushOptions{Progress: progress.SinkFunc(func(id, status string, cur, total int64) {
			if status == "Pushing" && total > 16<<20 && cur >= 2<<20 {
				once.Do(cancel)
			}
		})})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled push: %v", err)
		}
		if _, _, err := c.Resolve(ctx, r.Host, "big", "v1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the tag exists after a cancelled push: %v", err)
		}
	})
}

// slowBody reads at about 8 MB/s.
type slowBody struct{ r io.ReadCloser }

func (s *slowBody) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	time.Sleep(8 * time.Millisecond)
	return s.r.Read(p)
}

func (s *slowBody) Close() error { return s.r.Close() }
