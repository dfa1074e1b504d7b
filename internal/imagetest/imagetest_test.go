package imagetest

import (
	"archive/tar"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// readBlob reads and verifies a blob of the layout.
func readBlob(t *testing.T, dir string, d ocispec.Descriptor) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(b) != d.Digest || int64(len(b)) != d.Size {
		t.Fatalf("blob %s: %d bytes hashing to %s", d.Digest, len(b), digest.FromBytes(b))
	}
	return b
}

func readJSON(t *testing.T, dir string, d ocispec.Descriptor, v any) {
	t.Helper()
	if err := json.Unmarshal(readBlob(t, dir, d), v); err != nil {
		t.Fatal(err)
	}
}

// layerEntries decompresses a layer, checks its diff ID and lists it.
func layerEntries(t *testing.T, dir string, d ocispec.Descriptor, diffID digest.Digest) map[string]*tar.Header {
	t.Helper()
	var r io.Reader = bytes.NewReader(readBlob(t, dir, d))
	switch d.MediaType {
	case ocispec.MediaTypeImageLayerGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case ocispec.MediaTypeImageLayerZstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	case ocispec.MediaTypeImageLayer:
	default:
		t.Fatalf("layer media type %s", d.MediaType)
	}
	h := digest.Canonical.Digester()
	tr := tar.NewReader(io.TeeReader(r, h.Hash()))
	out := map[string]*tar.Header{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(hdr.Name, "/")] = hdr
	}
	io.Copy(io.Discard, r) // the tar's end padding
	if h.Digest() != diffID {
		t.Errorf("layer %s: diff ID %s, config says %s", d.Digest, h.Digest(), diffID)
	}
	return out
}

func TestBusyboxLayout(t *testing.T) {
	dir := t.TempDir()
	cfg := &ocispec.ImageConfig{Env: []string{"A=1"}, Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo hi"}, WorkingDir: "/tmp", User: "1000:1000",
		Labels: map[string]string{"l": "v"}, ExposedPorts: map[string]struct{}{"80/tcp": {}}, StopSignal: "SIGINT"}
	top := BusyboxLayout(t, dir, LayoutOptions{
		Config: cfg,
		ExtraLayers: []Layer{
			{Entries: []Entry{Dir("data"), File("data/a", "a"), File("data/b", "b"), Dir("opq"), File("opq/old", "old")}, Compression: "zstd"},
			{Entries: []Entry{Whiteout("data/a"), Opaque("opq"), File("opq/new", "new"), Hardlink("data/c", "data/b")}, Compression: "none"},
		},
		BigLayers: []int64{10 << 20},
	})
	var index ocispec.Index
	if b, err := os.ReadFile(filepath.Join(dir, "index.json")); err != nil || json.Unmarshal(b, &index) != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != top.Digest || index.Manifests[0].Annotations[ocispec.AnnotationRefName] != "latest" {
		t.Fatalf("index.json lists %+v", index.Manifests)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "oci-layout")); !strings.Contains(string(b), `"imageLayoutVersion":"1.0.0"`) {
		t.Errorf("oci-layout: %s", b)
	}
	var m ocispec.Manifest
	readJSON(t, dir, top, &m)
	var img ocispec.Image
	readJSON(t, dir, m.Config, &img)
	if top.MediaType != ocispec.MediaTypeImageManifest || len(m.Layers) != 4 || len(img.RootFS.DiffIDs) != 4 || len(img.History) != 4 {
		t.Fatalf("manifest %+v, config rootfs %+v", m, img.RootFS)
	}
	if img.OS != runtime.GOOS || img.Architecture != runtime.GOARCH || fmt.Sprint(img.Config) != fmt.Sprint(*cfg) {
		t.Errorf("config %+v", img)
	}
	wantTypes := []string{ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip}
	for i, l := range m.Layers {
		if l.MediaType != wantTypes[i] {
			t.Errorf("layer %d is %s, want %s", i, l.MediaType, wantTypes[i])
		}
	}

	base := layerEntries(t, dir, m.Layers[0], img.RootFS.DiffIDs[0])
	if h := base["bin/busybox"]; h == nil || h.Mode != 0o755 || h.Size < 100_000 {
		t.Errorf("bin/busybox: %+v", h)
	}
	for _, a := range []string{"sh", "echo", "cat", "ls", "true", "sleep", "id", "env"} {
		if h := base["bin/"+a]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: %+v", a, h)
		}
	}
	if h := base["tmp"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp: %+v", h)
	}
	for _, p := range []string{"etc/passwd", "etc/group", "proc", "dev", "sys", "root"} {
		if base[p] == nil {
			t.Errorf("%s missing", p)
		}
	}
	layerEntries(t, dir, m.Layers[1], img.RootFS.DiffIDs[1])
	wh := layerEntries(t, dir, m.Layers[2], img.RootFS.DiffIDs[2])
	for _, p := range []string{"data/.wh.a", "opq/.wh..wh..opq", "opq/new"} {
		if wh[p] == nil {
			t.Errorf("%s missing from the whiteout layer: %v", p, wh)
		}
	}
	if h := wh["data/c"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "data/b" {
		t.Errorf("hard link: %+v", h)
	}
	bigEntries := layerEntries(t, dir, m.Layers[3], img.RootFS.DiffIDs[3])
	var bigSize int64
	for _, h := range bigEntries {
		bigSize += h.Size
	}
	ratio := float64(m.Layers[3].Size) / float64(bigSize)
	if bigSize != 10<<20 || ratio < 0.4 || ratio > 0.65 {
		t.Errorf("big layer: %d bytes compressed to %d (%.2f)", bigSize, m.Layers[3].Size, ratio)
	}

	// The same options give the same image.
	again := BusyboxLayout(t, t.TempDir(), LayoutOptions{Config: cfg, ExtraLayers: []Layer{
		{Entries: []Entry{Dir("data"), File("data/a", "a"), File("data/b", "b"), Dir("opq"), File("opq/old", "old")}, Compression: "zstd"},
		{Entries: []Entry{Whiteout("data/a"), Opaque("opq"), File("opq/new", "new"), Hardlink("data/c", "data/b")}, Compression: "none"},
	}, BigLayers: []int64{10 << 20}})
	if again.Digest != top.Digest {
		t.Errorf("not deterministic: %s then %s", top.Digest, again.Digest)
	}
}

func TestBusyboxLayoutPlatforms(t *testing.T) {
	dir := t.TempDir()
	host := runtime.GOOS + "/" + runtime.GOARCH
	top := BusyboxLayout(t, dir, LayoutOptions{Platforms: []string{"linux/s390x", host, "linux/arm/v7"}, Compression: "zstd", RefName: "multi"})
	if top.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("top is %s", top.MediaType)
	}
	var idx ocispec.Index
	readJSON(t, dir, top, &idx)
	if len(idx.Manifests) != 3 {
		t.Fatalf("%d manifests", len(idx.Manifests))
	}
	for i, want := range []string{"linux/s390x", host, "linux/arm/v7"} {
		d := idx.Manifests[i]
		p := d.Platform.OS + "/" + d.Platform.Architecture
		if d.Platform.Variant != "" {
			p += "/" + d.Platform.Variant
		}
		if p != want {
			t.Errorf("manifest %d is for %s, want %s", i, p, want)
		}
		var m ocispec.Manifest
		readJSON(t, dir, d, &m)
		var img ocispec.Image
		readJSON(t, dir, m.Config, &img)
		if img.Architecture != d.Platform.Architecture || img.Variant != d.Platform.Variant {
			t.Errorf("config of %s says %s/%s", want, img.Architecture, img.Variant)
		}
		entries := layerEntries(t, dir, m.Layers[0], img.RootFS.DiffIDs[0])
		if (want == host) != (entries["bin/busybox"] != nil) {
			t.Errorf("%s: busybox present = %v", want, entries["bin/busybox"] != nil)
		}
	}
	var index ocispec.Index
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(b, &index)
	if index.Manifests[0].Annotations[ocispec.AnnotationRefName] != "multi" {
		t.Errorf("ref name %v", index.Manifests[0].Annotations)
	}
}

// getManifest fetches ref's manifest from r with the given auth header
// and returns the status and digest.
func getManifest(t *testing.T, r *Registry, hc *http.Client, repo, ref, authz string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", r.URL()+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest+", "+ocispec.MediaTypeImageIndex)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, digest.FromBytes(b).String()
}

func TestStartRegistry(t *testing.T) {
	layout := t.TempDir()
	top := BusyboxLayout(t, layout, LayoutOptions{})
	for _, o := range []RegistryOptions{{}, {Auth: "htpasswd"}, {Auth: "token", TLS: true}} {
		t.Run(fmt.Sprintf("auth=%q tls=%v", o.Auth, o.TLS), func(t *testing.T) {
			r := StartRegistry(t, o)
			r.PushLayout(t, layout, "test/busybox:v1")
			hc := http.DefaultClient
			if o.TLS {
				if !strings.HasPrefix(r.URL(), "https://") || r.CACert != filepath.Join(r.CertsDir, r.Host, "ca.crt") {
					t.Fatalf("URL %s CA %s", r.URL(), r.CACert)
				}
				hc = tlsClient(t, r.CACert)
			}
			var authz string
			switch o.Auth {
			case "htpasswd":
				if code, _ := getManifest(t, r, hc, "test/busybox", "v1", ""); code != http.StatusUnauthorized {
					t.Errorf("anonymous pull: %d", code)
				}
				req, _ := http.NewRequest("GET", "/", nil)
				req.SetBasicAuth(r.Username, r.Password)
				authz = req.Header.Get("Authorization")
			case "token":
				if code, _ := getManifest(t, r, hc, "test/busybox", "v1", ""); code != http.StatusUnauthorized {
					t.Errorf("anonymous pull: %d", code)
				}
				authz = "Bearer " + fetchToken(t, r, "repository:test/busybox:pull", true)
				anon := "Bearer " + fetchToken(t, r, "repository:test/busybox:pull", false)
				if code, _ := getManifest(t, r, hc, "test/busybox", "v1", anon); code != http.StatusUnauthorized {
					t.Errorf("pull with an anonymous token: %d", code)
				}
			}
			code, got := getManifest(t, r, hc, "test/busybox", "v1", authz)
			if code != 200 || got != top.Digest.String() {
				t.Errorf("manifest: %d %s, want %s", code, got, top.Digest)
			}
		})
	}
}

func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func fetchToken(t *testing.T, r *Registry, scope string, creds bool) string {
	t.Helper()
	q := url.Values{"service": {tokenService}, "scope": {scope}}
	req, _ := http.NewRequest("GET", r.TokenURL+"?"+q.Encode(), nil)
	if creds {
		req.SetBasicAuth(r.Username, r.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return body.Token
}
