package registry

// Real clients against the server: skopeo pushes, the registry client
// pulls, skopeo copies back out.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
)

// skopeo runs skopeo with a permissive policy and no credentials.
func skopeo(t *testing.T, args ...string) {
	t.Helper()
	bin := gate.Command(t, "skopeo")
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600)
	authFile := filepath.Join(dir, "auth.json")
	os.WriteFile(authFile, []byte(`{}`), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--policy", policy}, args...)...)
	cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+authFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// layoutTop reads the one manifest an OCI layout's index.json lists.
func layoutTop(t *testing.T, dir string) ocispec.Descriptor {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index.json %s: %v", b, err)
	}
	return idx.Manifests[0]
}

func TestServerSkopeoRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images and runs skopeo; not in -short")
	}
	ctx := context.Background()
	ts := newTestServer(t)
	host := strings.TrimPrefix(ts.hs.URL, "http://")
	reg := &imagetest.Registry{Host: host}
	c := NewClient(noConfig(t))
	hostPlatform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name string
		opts imagetest.LayoutOptions
		// docker converts to Docker's schema 2 on the way in.
		docker bool
	}{
		{name: "gzip", opts: imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
			{Entries: []imagetest.Entry{imagetest.Dir("etc"), imagetest.File("etc/motd", "served by berth\n")}},
		}}},
		{name: "zstd-big", opts: imagetest.LayoutOptions{Compression: "zstd", BigLayers: []int64{24 << 20}}},
		{name: "multi-platform", opts: imagetest.LayoutOptions{Platforms: []string{"linux/arm64", hostPlatform, "linux/s390x"}}},
		{name: "docker", docker: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			top := imagetest.BusyboxLayout(t, dir, tc.opts)
			ref := "library/busybox:" + tc.name
			if tc.docker {
				skopeo(t, "copy", "--format", "v2s2", "--dest-tls-verify=false", "oci:"+dir, "docker://"+host+"/"+ref)
			} else {
				reg.PushLayout(t, dir, ref)
			}
			store := newStore(t)
			res, err := Pull(ctx, c, store, host, "library/busybox", tc.name, PullOptions{SelectManifest: selectHost})
			if err != nil {
				t.Fatal(err)
			}
			checkPulled(t, store, res)
			pulledTop := res.Manifest
			if res.Index != nil {
				pulledTop = *res.Index
			}
			switch {
			case tc.docker && res.Manifest.MediaType != mediaTypeDockerManifest:
				t.Errorf("pushed as v2s2, pulled %s", res.Manifest.MediaType)
			case !tc.docker && pulledTop.Digest != top.Digest:
				t.Errorf("pulled %s, pushed %s", pulledTop.Digest, top.Digest)
			}

			// And back out, every platform, digests kept.
			out := t.TempDir()
			skopeo(t, "copy", "--all", "--preserve-digests", "--src-tls-verify=false", "docker://"+host+"/"+ref, "oci:"+out)
			if got := layoutTop(t, out); got.Digest != pulledTop.Digest {
				t.Errorf("copied out %s, pulled %s", got.Digest, pulledTop.Digest)
			}
		})
	}

	// The catalog and tags list what skopeo pushed.
	r := ts.do("GET", "/v2/library/busybox/tags/list", nil)
	r.expect(t, 200, "")
	if string(r.body) != `{"name":"library/busybox","tags":["docker","gzip","multi-platform","zstd-big"]}`+"\n" {
		t.Errorf("tags: %s", r.body)
	}
}
