package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/imagetest"
)

// The tests of this file feed berth bad input (corrupt, truncated,
// mislabelled or hostile images, malformed references) and check that it
// fails with an error a user can act on and leaves nothing behind that a
// user could see or run: no name, no committed snapshot of the bad layer,
// no half-unpacked snapshot, no mount, no blob that is not what its name
// says.

// storeLayout is what a test knows of one image of an OCI layout.
type storeLayout struct {
	dir      string
	top      ocispec.Descriptor // what index.json lists: a manifest or an index
	manDesc  ocispec.Descriptor // the host's image manifest
	manifest ocispec.Manifest
	config   ocispec.Image
}

// readStoreLayout reads the image of an imagetest layout (the host's one,
// when it is an index).
func readStoreLayout(t *testing.T, dir string) storeLayout {
	t.Helper()
	var idx ocispec.Index
	layoutJSON(t, dir, "index.json", &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("layout %s lists %d images", dir, len(idx.Manifests))
	}
	l := storeLayout{dir: dir, top: idx.Manifests[0], manDesc: idx.Manifests[0]}
	if l.top.MediaType == ocispec.MediaTypeImageIndex {
		var sub ocispec.Index
		layoutJSON(t, dir, layoutBlobPath(l.top.Digest), &sub)
		found := false
		for _, m := range sub.Manifests {
			if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == hostArch(t) {
				l.manDesc, found = m, true
			}
		}
		if !found {
			t.Fatalf("layout %s has no image for this host", dir)
		}
	}
	layoutJSON(t, dir, layoutBlobPath(l.manDesc.Digest), &l.manifest)
	layoutJSON(t, dir, layoutBlobPath(l.manifest.Config.Digest), &l.config)
	return l
}

func layoutBlobPath(d digest.Digest) string {
	return filepath.Join("blobs", d.Algorithm().String(), d.Encoded())
}

func layoutJSON(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// blobs are the digests of the image's index (if any), manifest, config
// and layers: what a pull of it stores.
func (l storeLayout) blobs() []digest.Digest {
	var out []digest.Digest
	if l.top.Digest != l.manDesc.Digest {
		out = append(out, l.top.Digest)
	}
	out = append(out, l.manDesc.Digest, l.manifest.Config.Digest)
	for _, d := range l.manifest.Layers {
		out = append(out, d.Digest)
	}
	return out
}

// chains are the chain IDs of the image's layer stacks, bottom up: the
// names of the snapshots an unpack commits.
func (l storeLayout) chains() []string {
	var out []string
	for i := range l.config.RootFS.DiffIDs {
		out = append(out, identity.ChainID(l.config.RootFS.DiffIDs[:i+1]).String())
	}
	return out
}

// rewriteLayout changes the manifest and config of a single-image layout
// and writes them back as new blobs, so that every digest (config in the
// manifest, manifest in index.json) is right again: the image is then
// wrong only in the way edit made it.
func rewriteLayout(t *testing.T, dir string, edit func(*ocispec.Manifest, *ocispec.Image)) storeLayout {
	t.Helper()
	l := readStoreLayout(t, dir)
	if l.top.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("rewriteLayout handles a plain manifest, not %s", l.top.MediaType)
	}
	edit(&l.manifest, &l.config)
	l.manifest.Config = writeLayoutBlob(t, dir, ocispec.MediaTypeImageConfig, l.config)
	desc := writeLayoutBlob(t, dir, ocispec.MediaTypeImageManifest, l.manifest)
	desc.Annotations = l.top.Annotations
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{desc}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return readStoreLayout(t, dir)
}

func writeLayoutBlob(t *testing.T, dir, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(b)
	if err := os.WriteFile(filepath.Join(dir, layoutBlobPath(d)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// pushImage builds a busybox layout with o, pushes it to ref on reg and
// returns what it holds.
func pushImage(t *testing.T, reg *imagetest.Registry, ref string, o imagetest.LayoutOptions) storeLayout {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	imagetest.BusyboxLayout(t, dir, o)
	reg.PushLayout(t, dir, ref)
	return readStoreLayout(t, dir)
}

// hostArch is the architecture berth runs on, as OCI names it.
func hostArch(*testing.T) string { return goruntime.GOARCH }

// snapRecord is one snapshot of the snapshotter's metadata file.
type snapRecord struct {
	ID     uint64 `json:"id"`
	Kind   string `json:"kind"`
	Parent string `json:"parent"`
}

// snapshotDir is the snapshotter root of the data root's driver.
func (c *cli) snapshotDir() string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.root, "driver"))
	if err != nil {
		c.t.Fatalf("which storage driver: %v", err)
	}
	return filepath.Join(c.root, "snapshots", strings.TrimSpace(string(b)))
}

// snapshots reads the snapshotter's metadata: every snapshot by name.
func (c *cli) snapshots() map[string]snapRecord {
	c.t.Helper()
	var md struct {
		Snapshots map[string]snapRecord `json:"snapshots"`
	}
	b, err := os.ReadFile(filepath.Join(c.snapshotDir(), "metadata.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &md); err != nil {
		c.t.Fatal(err)
	}
	return md.Snapshots
}

// blobs lists content/blobs by digest with each blob's size, and fails the
// test for any blob whose bytes do not hash to its name.
func (c *cli) blobs() map[digest.Digest]int64 {
	c.t.Helper()
	out := map[digest.Digest]int64{}
	dir := filepath.Join(c.root, "content", "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		c.t.Fatal(err)
	}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			c.t.Fatal(err)
		}
		h := digest.Canonical.Digester()
		n, err := io.Copy(h.Hash(), f)
		f.Close()
		if err != nil {
			c.t.Fatal(err)
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if h.Digest() != d {
			c.t.Errorf("content/blobs holds %s, whose bytes hash to %s", d, h.Digest())
		}
		out[d] = n
	}
	return out
}

// ingests lists content/ingest: downloads that were not committed.
func (c *cli) ingests() []string {
	c.t.Helper()
	ents, err := os.ReadDir(filepath.Join(c.root, "content", "ingest"))
	if err != nil && !os.IsNotExist(err) {
		c.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of a
// mountinfo field.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// assertNothingVisible checks what a failed pull of ref may leave: no name
// for it (in `image ls` or the records), no committed snapshot of the
// chains that were bad, no extract-* snapshot of an unpack, no snapshot
// directory the metadata does not name, no mount under the data root, and
// no blob that is not what its name says (nor any of noBlobs).
func (c *cli) assertNothingVisible(ref string, badChains []string, noBlobs []digest.Digest) {
	c.t.Helper()
	repo := ref
	if i := strings.LastIndexAny(ref, ":@"); i > strings.LastIndex(ref, "/") {
		repo = ref[:i]
	}
	if ls := c.ok("image", "ls"); strings.Contains(ls, repo) {
		c.t.Errorf("image ls names %s after a failed pull:\n%s", repo, ls)
	}
	if b, err := os.ReadFile(filepath.Join(c.root, "images", "images.json")); err == nil && strings.Contains(string(b), repo) {
		c.t.Errorf("images.json names %s after a failed pull:\n%s", repo, b)
	}
	snaps := c.snapshots()
	ids := map[string]bool{}
	for name, s := range snaps {
		ids[strconv.FormatUint(s.ID, 10)] = true
		if strings.HasPrefix(name, "extract-") {
			c.t.Errorf("an unpack's snapshot %s (%s) is left", name, s.Kind)
		}
	}
	for _, ch := range badChains {
		if s, ok := snaps[ch]; ok {
			c.t.Errorf("snapshot %s of a bad layer exists (%s)", ch, s.Kind)
		}
	}
	dirs, err := os.ReadDir(filepath.Join(c.snapshotDir(), "snapshots"))
	if err != nil {
		c.t.Fatal(err)
	}
	for _, d := range dirs {
		if !ids[d.Name()] {
			c.t.Errorf("snapshot directory %s is not in the metadata", d.Name())
		}
	}
	if ms := mountsUnder(c.t, c.root); len(ms) > 0 {
		c.t.Errorf("mounts left under the data root: %v", ms)
	}
	blobs := c.blobs()
	for _, d := range noBlobs {
		if _, ok := blobs[d]; ok {
			c.t.Errorf("content/blobs holds %s, which must not be there", d)
		}
	}
}

// registryBlobFile is the file docker-registry's filesystem driver keeps a
// blob in. StartRegistry keeps its storage in a t.TempDir of the test, so
// it is found among the test's temporary directories.
func registryBlobFile(t *testing.T, d digest.Digest) string {
	t.Helper()
	pattern := filepath.Join(filepath.Dir(t.TempDir()), "*", "storage", "docker", "registry", "v2",
		"blobs", "sha256", d.Encoded()[:2], d.Encoded(), "data")
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		t.Fatalf("the registry's file of blob %s: %d matches of %s", d, len(m), pattern)
	}
	return m[0]
}

// TestBadCorruptBlob corrupts a layer inside the registry's storage (same
// size, other bytes): the pull fails on the digest, and neither the
// layer's blob nor its snapshot, nor a name, appears.
func TestBadCorruptBlob(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	ref := reg.Host + "/team/corrupt:1"
	l := pushImage(t, reg, ref, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("etc/motd", "never seen\n")}},
	}})
	bad := l.manifest.Layers[1]
	f := registryBlobFile(t, bad.Digest)
	garbage := make([]byte, bad.Size)
	rand.Read(garbage)
	if err := os.WriteFile(f, garbage, 0o644); err != nil {
		t.Fatal(err)
	}

	r := c.fails("digest mismatch", "pull", ref)
	t.Logf("berth said: %s", r.stderr)
	if !strings.Contains(r.stderr, bad.Digest.String()) {
		t.Errorf("the error does not name the layer %s:\n%s", bad.Digest, r.stderr)
	}
	c.assertNothingVisible(ref, l.chains()[1:], []digest.Digest{bad.Digest})
	if r := c.run(nil, "run", "--rm", ref, "true"); r.code == 0 {
		t.Errorf("berth run of the corrupt image succeeded")
	}
}

// TestBadDigest pulls by digests the registry does not have, or whose
// bytes it gets wrong.
func TestBadDigest(t *testing.T) {
	t.Run("unknown", func(t *testing.T) {
		c := newCLI(t)
		reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
		pushImage(t, reg, reg.Host+"/team/known:1", imagetest.LayoutOptions{})
		missing := digest.FromString("no such manifest")
		ref := reg.Host + "/team/known@" + missing.String()
		r := c.fails("not found", "pull", ref)
		t.Logf("berth said: %s", r.stderr)
		if !strings.Contains(r.stderr, "manifest unknown") || !strings.Contains(r.stderr, missing.String()) {
			t.Errorf("want docker's %q naming the digest, got:\n%s", "manifest for ... not found: manifest unknown", r.stderr)
		}
		c.assertNothingVisible(ref, nil, nil)
		if n := len(c.blobs()); n != 0 {
			t.Errorf("%d blobs stored by a pull of nothing", n)
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		// A registry that answers every manifest request with one valid
		// manifest, whatever digest was asked for.
		c := newCLI(t)
		body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digest.FromString("{}").String() + `","size":2},"layers":[]}`)
		fake := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
			w.Write(body)
		})
		asked := digest.FromString("what the user pinned")
		ref := fake + "/team/liar@" + asked.String()
		r := c.fails("digest mismatch", "pull", ref)
		t.Logf("berth said: %s", r.stderr)
		if !strings.Contains(r.stderr, asked.String()) || !strings.Contains(r.stderr, digest.FromBytes(body).String()) {
			t.Errorf("want the error to name the pinned digest and what the body hashes to (%s), got:\n%s", digest.FromBytes(body), r.stderr)
		}
		c.assertNothingVisible(ref, nil, nil)
		if n := len(c.blobs()); n != 0 {
			t.Errorf("%d blobs stored from a registry that lied", n)
		}
	})
}

// newFakeRegistry serves the registry API's /v2/ and hands every other
// request to manifests; it returns the host.
func newFakeRegistry(t *testing.T, manifests http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
			w.Write([]byte("{}"))
			return
		}
		manifests(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// blobProxy stands in front of a registry and passes everything through,
// except that the body of one blob can be cut (the connection dropped
// after half of each response) or trickled (slow sets the pause between
// 64 KiB chunks).
type blobProxy struct {
	host    string
	blob    digest.Digest
	started chan struct{} // closed when the blob's first body byte is sent

	mu     sync.Mutex
	cut    bool
	slow   time.Duration
	cuts   int
	ranges []string // the Range header of each request for the blob
	once   sync.Once
}

func newBlobProxy(t *testing.T, target string, blob digest.Digest) *blobProxy {
	p := &blobProxy{blob: blob, started: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+target+r.URL.RequestURI(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		isBlob := strings.HasSuffix(r.URL.Path, "/blobs/"+blob.String()) && r.Method == http.MethodGet && resp.StatusCode/100 == 2
		p.mu.Lock()
		cut, slow := isBlob && p.cut, time.Duration(0)
		if isBlob {
			p.ranges = append(p.ranges, r.Header.Get("Range"))
			slow = p.slow
		}
		if cut {
			p.cuts++
		}
		p.mu.Unlock()
		w.WriteHeader(resp.StatusCode)
		if !isBlob {
			io.Copy(w, resp.Body)
			return
		}
		n := resp.ContentLength
		if cut {
			n /= 2
		}
		for sent := int64(0); sent < n; {
			m, err := io.CopyN(w, resp.Body, min(64<<10, n-sent))
			sent += m
			w.(http.Flusher).Flush()
			p.once.Do(func() { close(p.started) })
			if err != nil || r.Context().Err() != nil {
				return
			}
			time.Sleep(slow)
		}
		if cut {
			panic(http.ErrAbortHandler) // the connection drops mid-body
		}
	}))
	t.Cleanup(srv.Close)
	p.host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// set chooses how the blob goes through from now on, and forgets the
// ranges asked for so far.
func (p *blobProxy) set(cut bool, slow time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut, p.slow, p.ranges = cut, slow, nil
}

// TestBadTruncated pulls through a proxy that drops the connection halfway
// through a layer's body every time: berth retries, resuming, then gives
// up with an error that says what happened; once the proxy lets the
// bytes through, the next pull resumes from what the failed one kept and
// the image runs.
func TestBadTruncated(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	l := pushImage(t, reg, reg.Host+"/team/cut:1", imagetest.LayoutOptions{BigLayers: []int64{4 << 20}})
	big := l.manifest.Layers[len(l.manifest.Layers)-1]
	p := newBlobProxy(t, reg.Host, big.Digest)
	p.set(true, 0)
	ref := p.host + "/team/cut:1"

	r := c.fails("unexpected EOF", "pull", ref)
	t.Logf("berth said: %s", r.stderr)
	if !strings.Contains(r.stderr, big.Digest.String()) {
		t.Errorf("the error does not name the layer %s:\n%s", big.Digest, r.stderr)
	}
	m := regexp.MustCompile(`gave up after (\d+) retries`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("the error does not say berth retried:\n%s", r.stderr)
	}
	retries, _ := strconv.Atoi(m[1])
	p.mu.Lock()
	cuts := p.cuts
	p.mu.Unlock()
	if retries < 1 || cuts != 1+retries {
		t.Errorf("the layer was fetched %d times; the error says %d retries", cuts, retries)
	}
	c.assertNothingVisible(ref, l.chains()[len(l.chains())-1:], []digest.Digest{big.Digest})
	if len(c.ingests()) == 0 {
		t.Errorf("the failed pull kept no partial download to resume")
	}

	p.set(false, 0)
	out := c.ok("pull", ref)
	if !strings.Contains(out, "Downloaded newer image") {
		t.Errorf("second pull said:\n%s", out)
	}
	p.mu.Lock()
	ranges := p.ranges
	p.mu.Unlock()
	if len(ranges) != 1 || !strings.HasPrefix(ranges[0], "bytes=") || ranges[0] == "bytes=0-" {
		t.Errorf("second pull fetched the layer with Range %q, want one request resuming past 0", ranges)
	}
	if n := len(c.ingests()); n != 0 {
		t.Errorf("%d ingests left after a complete pull", n)
	}
	if got := c.ok("run", "--rm", ref, "sh", "-c", "du -s /big | cut -f1"); strings.TrimSpace(got) == "" {
		t.Errorf("run of the resumed image said %q", got)
	}
	blobs := c.blobs()
	for _, d := range l.blobs() {
		if _, ok := blobs[d]; !ok {
			t.Errorf("blob %s missing after the resumed pull", d)
		}
	}
}

// TestBadInterrupted interrupts a pull (SIGINT, as ^C does) while a layer
// trickles in: berth stops cleanly, leaving nothing visible, and the next
// pull resumes the layer.
func TestBadInterrupted(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	l := pushImage(t, reg, reg.Host+"/team/slow:1", imagetest.LayoutOptions{BigLayers: []int64{4 << 20}})
	big := l.manifest.Layers[len(l.manifest.Layers)-1]
	p := newBlobProxy(t, reg.Host, big.Digest)
	p.set(false, 50*time.Millisecond)
	ref := p.host + "/team/slow:1"

	cmd := exec.Command(berthBin, "pull", ref)
	cmd.Env = c.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.started:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the pull never started on the big layer")
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	t.Logf("interrupted pull: %v: %s", err, stderr.String())
	if code := cmd.ProcessState.ExitCode(); code <= 0 {
		t.Errorf("interrupted pull exited with %d (%v); want a clean failure", code, err)
	}
	c.assertNothingVisible(ref, l.chains()[len(l.chains())-1:], []digest.Digest{big.Digest})

	p.set(false, 0)
	c.ok("pull", ref)
	p.mu.Lock()
	ranges := p.ranges
	p.mu.Unlock()
	if len(ranges) != 1 || !strings.HasPrefix(ranges[0], "bytes=") || ranges[0] == "bytes=0-" {
		t.Errorf("the pull after the interrupted one fetched the layer with Range %q, want one request resuming past 0", ranges)
	}
	c.ok("run", "--rm", ref, "test", "-d", "/big/0")
}

// TestBadManifest serves manifests berth must refuse from a fake
// registry: the errors name the media type or the limit, and nothing is
// stored.
func TestBadManifest(t *testing.T) {
	cfgDigest := digest.FromString("{}").String()
	manifest := func(configType, layerType string) string {
		return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
			`"config":{"mediaType":"` + configType + `","digest":"` + cfgDigest + `","size":2},` +
			`"layers":[{"mediaType":"` + layerType + `","digest":"` + digest.FromString("layer").String() + `","size":5}]}`
	}
	big := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"pad":"` +
		strings.Repeat("x", 4<<20) + `"}}`
	tests := []struct {
		name        string
		contentType string
		body        string
		chunked     bool // no Content-Length: the limit must hold while reading
		want        []string
	}{
		{"unknown manifest type", "application/vnd.example.thing.v1+json",
			`{"schemaVersion":2,"mediaType":"application/vnd.example.thing.v1+json"}`, false,
			[]string{"unsupported manifest media type", "application/vnd.example.thing.v1+json"}},
		{"unknown layer type", ocispec.MediaTypeImageManifest,
			manifest(ocispec.MediaTypeImageConfig, "application/vnd.example.layer.v1.tar+lz4"), false,
			[]string{"unsupported layer media type", "application/vnd.example.layer.v1.tar+lz4"}},
		{"artifact config", ocispec.MediaTypeImageManifest,
			manifest("application/vnd.example.artifact.config.v1+json", ocispec.MediaTypeImageLayerGzip), false,
			[]string{"application/vnd.example.artifact.config.v1+json", "not a container image config"}},
		{"schema 1", "application/vnd.docker.distribution.manifest.v1+prettyjws",
			`{"schemaVersion":1,"name":"team/old","tag":"1","fsLayers":[]}`, false,
			[]string{"schema 1"}},
		{"over 4 MiB", ocispec.MediaTypeImageManifest, big, false, []string{"over 4 MiB"}},
		{"over 4 MiB chunked", ocispec.MediaTypeImageManifest, big, true, []string{"over 4 MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			var blobRequests int
			var mu sync.Mutex
			host := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.Path, "/blobs/") {
					mu.Lock()
					blobRequests++
					mu.Unlock()
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", tt.contentType)
				if tt.chunked {
					for b := []byte(tt.body); len(b) > 0; {
						n := min(len(b), 64<<10)
						w.Write(b[:n])
						w.(http.Flusher).Flush()
						b = b[n:]
					}
					return
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(tt.body)))
				io.WriteString(w, tt.body)
			})
			ref := host + "/team/odd:1"
			r := c.fails(tt.want[0], "pull", ref)
			t.Logf("berth said: %s", r.stderr)
			for _, w := range tt.want[1:] {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, r.stderr)
				}
			}
			if len(r.stderr) > 2000 {
				t.Errorf("the error is %d bytes long; it should not quote the manifest", len(r.stderr))
			}
			mu.Lock()
			if blobRequests != 0 {
				t.Errorf("berth fetched %d blobs of a manifest it refuses", blobRequests)
			}
			mu.Unlock()
			c.assertNothingVisible(ref, nil, nil)
			if n := len(c.blobs()); n != 0 {
				t.Errorf("%d blobs stored", n)
			}
		})
	}
}

// TestBadBreakout pulls images whose layers try to write outside the
// snapshot: by "..", by an absolute name, through a symlink to / or to a
// host directory, by a hardlink to a host file. Each either fails naming
// the entry, leaving no name, or unpacks with everything inside the
// container's root; nothing ever appears outside.
func TestBadBreakout(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	outside := filepath.Join(t.TempDir(), "outside") // where a breakout would write
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	rel := strings.Repeat("../", 40) + strings.TrimPrefix(outside, "/")
	hostRoot := "/berth-escape-" + strconv.Itoa(os.Getpid()) // a breakout to / would make this
	t.Cleanup(func() { os.RemoveAll(hostRoot) })
	var passwdBefore fs.FileInfo
	passwdBefore, err := os.Stat("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		entries []imagetest.Entry
		// inside is a shell test run in the container when the pull
		// succeeds: where the entry must have landed.
		inside string
		// entry is what an error must name when the pull fails.
		entry string
	}{
		{"dotdot", []imagetest.Entry{imagetest.File("../../berth-escape-dotdot", "x")},
			"test -f /berth-escape-dotdot", "berth-escape-dotdot"},
		{"deep dotdot", []imagetest.Entry{imagetest.File(rel+"/dotdot", "x")},
			"test -f " + outside + "/dotdot", "dotdot"},
		{"absolute", []imagetest.Entry{imagetest.File(outside+"/absolute", "x")},
			"test -f " + outside + "/absolute", "absolute"},
		{"symlink to root", []imagetest.Entry{
			imagetest.Symlink("rootlink", "/"),
			imagetest.File("rootlink"+hostRoot, "x"),
			imagetest.File("rootlink"+outside+"/viaroot", "x"),
		}, "test -f " + hostRoot + " && test -f " + outside + "/viaroot && test -L /rootlink", "rootlink"},
		{"symlink to host dir", []imagetest.Entry{
			imagetest.Symlink("hostdir", outside),
			imagetest.File("hostdir/viadir", "x"),
		}, "test -f " + outside + "/viadir", "hostdir/viadir"},
		{"symlink by dotdot", []imagetest.Entry{
			imagetest.Symlink("up", rel),
			imagetest.File("up/viaup", "x"),
		}, "test -f " + outside + "/viaup", "up/viaup"},
		{"hardlink to host passwd", []imagetest.Entry{
			imagetest.Hardlink("passwdlink", "/etc/passwd"),
		}, "cmp /passwdlink /etc/passwd", "passwdlink"},
		{"hardlink by dotdot", []imagetest.Entry{
			imagetest.File("etc/passwd", "the layer's own passwd\n"),
			imagetest.Hardlink("passwdlink", "../../../../../../etc/passwd"),
		}, "grep -qx \"the layer's own passwd\" /passwdlink", "passwdlink"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := fmt.Sprintf("%s/team/breakout%d:1", reg.Host, i)
			l := pushImage(t, reg, ref, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{{Entries: tt.entries}}})
			r := c.run(nil, "pull", ref)
			t.Logf("pull: exit %d\n%s", r.code, r.stderr)
			if r.code != 0 {
				if !strings.Contains(r.stderr, tt.entry) || !strings.Contains(r.stderr, ref) {
					t.Errorf("the error does not name the entry %q and the image:\n%s", tt.entry, r.stderr)
				}
				c.assertNothingVisible(ref, l.chains()[1:], nil)
			} else {
				c.ok("run", "--rm", ref, "sh", "-c", tt.inside)
			}
			ents, err := os.ReadDir(outside)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				t.Errorf("the layer wrote %s outside the data root", filepath.Join(outside, e.Name()))
			}
			if _, err := os.Lstat(hostRoot); err == nil {
				t.Errorf("the layer wrote %s on the host", hostRoot)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(c.snapshotDir()), "berth-escape-dotdot")); err == nil {
				t.Errorf("the layer wrote berth-escape-dotdot beside the snapshots")
			}
			after, err := os.Stat("/etc/passwd")
			if err != nil {
				t.Fatal(err)
			}
			if !os.SameFile(passwdBefore, after) || linkCount(after) != linkCount(passwdBefore) {
				t.Errorf("the host's /etc/passwd gained a link: %d links, were %d", linkCount(after), linkCount(passwdBefore))
			}
			escapes(t, c.root)
		})
	}
}

// escapes fails the test for any berth-escape-* file under root that is
// not inside a snapshot's tree (snapshots/<driver>/snapshots/<id>/fs/).
func escapes(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasPrefix(d.Name(), "berth-escape-") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) < 6 || parts[0] != "snapshots" || parts[2] != "snapshots" || parts[4] != "fs" {
			t.Errorf("%s is outside every snapshot", p)
		}
		return nil
	})
}

func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}

// TestBadDiffID pulls an image whose config gives a wrong diff_id for its
// top layer (manifest and config otherwise consistent, every blob's digest
// right): the unpack catches it, and neither the bad chain's snapshot nor
// a name appears.
func TestBadDiffID(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	dir := filepath.Join(t.TempDir(), "layout")
	imagetest.BusyboxLayout(t, dir, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("etc/motd", "wrongly described\n")}},
	}})
	good := readStoreLayout(t, dir)
	wrong := digest.FromString("not the layer's diff id")
	l := rewriteLayout(t, dir, func(_ *ocispec.Manifest, cfg *ocispec.Image) { cfg.RootFS.DiffIDs[1] = wrong })
	ref := reg.Host + "/team/diffid:1"
	reg.PushLayout(t, dir, ref)

	r := c.fails("diff_id", "pull", ref)
	t.Logf("berth said: %s", r.stderr)
	for _, w := range []string{"pull " + ref, wrong.String(), good.config.RootFS.DiffIDs[1].String()} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("the error does not name %s:\n%s", w, r.stderr)
		}
	}
	c.assertNothingVisible(ref, append(l.chains()[1:], good.chains()[1:]...), nil)
	if r := c.run(nil, "run", "--rm", ref, "true"); r.code == 0 {
		t.Errorf("berth run of the image succeeded")
	}
}

// TestBadReference gives references docker refuses; berth refuses them
// with docker's words, before it contacts anything.
func TestBadReference(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"pull", "UPPER"}, "invalid reference format: repository name (library/UPPER) must be lowercase"},
		{[]string{"pull", "a//b"}, "invalid reference format"},
		{[]string{"pull", "localhost:5000/x:bad:tag"}, "invalid reference format"},
		{[]string{"run", ":x"}, "invalid reference format"},
		{[]string{"run", "--rm", "Busy/Box", "true"}, "must be lowercase"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := c.fails(tt.want, tt.args...)
			t.Logf("berth said: %s", r.stderr)
			if strings.Contains(r.stderr, "Unable to find image") {
				t.Errorf("berth looked for a malformed reference:\n%s", r.stderr)
			}
		})
	}
	if n := len(c.blobs()); n != 0 {
		t.Errorf("%d blobs stored", n)
	}
}
