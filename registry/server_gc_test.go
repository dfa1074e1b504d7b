package registry

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
)

// gcFixture is a registry with something of everything GarbageCollect
// must tell apart.
type gcFixture struct {
	root string
	// app:v1, its signature, an index (app:multi) of an untagged image.
	tagged, signature, multi, child ocispec.Descriptor
	taggedBlobs, signatureBlobs     []digest.Digest
	// untagged image with a referrer of its own
	untagged, untaggedRef           ocispec.Descriptor
	untaggedBlobs, untaggedRefBlobs []digest.Digest
	// deleted: pushed to app and deleted there; other:v1 has the same.
	deleted      ocispec.Descriptor
	deletedBlobs []digest.Digest
	// gone: pushed to app and deleted; nobody else has it.
	gone      ocispec.Descriptor
	goneBlobs []digest.Digest
	orphan    digest.Digest
}

func (img serverImage) blobs() []digest.Digest {
	out := []digest.Digest{img.config.Digest}
	for _, l := range img.layers {
		out = append(out, l.Digest)
	}
	return out
}

func newGCFixture(t *testing.T) *gcFixture {
	f := &gcFixture{root: t.TempDir()}
	ts := openTestServer(t, f.root)
	tagged := ts.pushImage("app", "v1", "tagged", nil)
	f.tagged, f.taggedBlobs = tagged.manifest, tagged.blobs()
	// A signature of v1: untagged, kept with it.
	empty := ts.pushBlob("app", []byte("{}"))
	empty.MediaType = ocispec.MediaTypeEmptyJSON
	sigLayer := ts.pushBlob("app", []byte("signature of v1"))
	f.signature = ts.pushReferrer("app", empty, sigLayer, f.tagged)
	f.signatureBlobs = []digest.Digest{sigLayer.Digest}

	child := ts.pushImage("app", "", "child", nil)
	f.child = child.manifest
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{child.manifest}}
	idx.SchemaVersion = 2
	f.multi, _ = ts.pushManifest("app", "multi", ocispec.MediaTypeImageIndex, idx)
	f.taggedBlobs = append(f.taggedBlobs, child.blobs()...)

	untagged := ts.pushImage("app", "", "untagged", nil)
	f.untagged, f.untaggedBlobs = untagged.manifest, untagged.blobs()
	refLayer := ts.pushBlob("app", []byte("sbom of the untagged image"))
	f.untaggedRef = ts.pushReferrer("app", empty, refLayer, f.untagged)
	f.untaggedRefBlobs = []digest.Digest{refLayer.Digest}

	deleted := ts.pushImage("app", "deleted", "shared", nil)
	f.deleted, f.deletedBlobs = deleted.manifest, deleted.blobs()
	ts.pushImage("other", "v1", "shared", nil)
	ts.do("DELETE", "/v2/app/manifests/"+f.deleted.Digest.String(), nil).expect(t, http.StatusAccepted, "")

	gone := ts.pushImage("app", "gone", "gone", nil)
	f.gone, f.goneBlobs = gone.manifest, gone.blobs()
	ts.do("DELETE", "/v2/app/manifests/"+f.gone.Digest.String(), nil).expect(t, http.StatusAccepted, "")

	f.orphan = ts.pushBlob("app", []byte("uploaded, never used")).Digest

	if _, err := GarbageCollect(context.Background(), f.root, GCOptions{}); !errorIsLocked(err) {
		t.Fatalf("gc while serving: %v", err)
	}
	ts.close()
	return f
}

func errorIsLocked(err error) bool { return err != nil && isStorageLocked(err) }

// pushReferrer pushes an artifact of one layer whose subject is subject.
func (ts *testServer) pushReferrer(repo string, config, layer, subject ocispec.Descriptor) ocispec.Descriptor {
	ts.t.Helper()
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.example.sig",
		Config: config, Layers: []ocispec.Descriptor{layer}, Subject: &subject}
	m.SchemaVersion = 2
	b, _ := json.Marshal(m)
	d, _ := ts.pushManifest(repo, digest.FromBytes(b).String(), ocispec.MediaTypeImageManifest, m)
	return d
}

func storeBlobs(t *testing.T, root string) []digest.Digest {
	t.Helper()
	s, err := content.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []digest.Digest
	s.Walk(context.Background(), func(i content.Info) error { out = append(out, i.Digest); return nil })
	slices.Sort(out)
	return out
}

func sortedDigests(ds ...[]digest.Digest) []digest.Digest {
	var out []digest.Digest
	for _, d := range ds {
		out = append(out, d...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestGarbageCollect(t *testing.T) {
	ctx := context.Background()
	f := newGCFixture(t)
	before := storeBlobs(t, f.root)

	// Only what nothing refers to: the orphan upload and the manifest
	// deleted from the only repository that had it, with its blobs. The
	// shared image stays: other:v1 uses it.
	wantBlobs := sortedDigests([]digest.Digest{f.orphan, f.gone.Digest}, f.goneBlobs)
	var logged []string
	dry, err := GarbageCollect(ctx, f.root, GCOptions{DryRun: true, Logf: func(format string, args ...any) { logged = append(logged, format) }})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry.Blobs, wantBlobs) || len(dry.Manifests) != 0 || dry.Bytes == 0 || len(logged) != len(wantBlobs) {
		t.Fatalf("dry run: %+v, want blobs %v", dry, wantBlobs)
	}
	if after := storeBlobs(t, f.root); !slices.Equal(after, before) {
		t.Fatal("a dry run removed blobs")
	}
	res, err := GarbageCollect(ctx, f.root, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Blobs, dry.Blobs) || res.Bytes != dry.Bytes {
		t.Fatalf("gc: %+v, dry run said %+v", res, dry)
	}
	if after := storeBlobs(t, f.root); len(after) != len(before)-len(wantBlobs) {
		t.Fatalf("%d blobs left of %d", len(after), len(before))
	}
	again, err := GarbageCollect(ctx, f.root, GCOptions{})
	if err != nil || len(again.Blobs) != 0 {
		t.Fatalf("second gc: %+v %v", again, err)
	}

	ts := openTestServer(t, f.root)
	for _, d := range sortedDigests(f.taggedBlobs, f.signatureBlobs, f.untaggedBlobs, f.untaggedRefBlobs) {
		ts.do("HEAD", "/v2/app/blobs/"+d.String(), nil).expect(t, http.StatusOK, "")
	}
	for _, m := range []ocispec.Descriptor{f.tagged, f.signature, f.multi, f.child, f.untagged, f.untaggedRef} {
		ts.do("GET", "/v2/app/manifests/"+m.Digest.String(), nil).expect(t, http.StatusOK, "")
	}
	// The deleted manifest's links in app went; other still has it all.
	for _, d := range append(f.deletedBlobs, f.goneBlobs...) {
		ts.do("HEAD", "/v2/app/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, "")
	}
	for _, d := range f.deletedBlobs {
		ts.do("HEAD", "/v2/other/blobs/"+d.String(), nil).expect(t, http.StatusOK, "")
	}
	ts.do("GET", "/v2/other/manifests/v1", nil).expect(t, http.StatusOK, "")
	ts.do("HEAD", "/v2/app/blobs/"+f.orphan.String(), nil).expect(t, http.StatusNotFound, "")
	ts.close()

	// DeleteUntagged: the untagged image and its referrer go; the
	// signature of the tagged image and the index's image stay.
	wantManifests := sortedDigests([]digest.Digest{f.untagged.Digest, f.untaggedRef.Digest})
	wantBlobs = sortedDigests(wantManifests, f.untaggedBlobs, f.untaggedRefBlobs)
	dry, err = GarbageCollect(ctx, f.root, GCOptions{DeleteUntagged: true, DryRun: true})
	if err != nil || !slices.Equal(dry.Manifests, wantManifests) || !slices.Equal(dry.Blobs, wantBlobs) {
		t.Fatalf("dry run, untagged: %+v %v; want manifests %v blobs %v", dry, err, wantManifests, wantBlobs)
	}
	res, err = GarbageCollect(ctx, f.root, GCOptions{DeleteUntagged: true})
	if err != nil || !slices.Equal(res.Manifests, wantManifests) || !slices.Equal(res.Blobs, wantBlobs) {
		t.Fatalf("gc, untagged: %+v %v", res, err)
	}
	ts = openTestServer(t, f.root)
	for _, m := range []ocispec.Descriptor{f.untagged, f.untaggedRef} {
		ts.do("GET", "/v2/app/manifests/"+m.Digest.String(), nil).expect(t, http.StatusNotFound, codeManifestUnknown)
	}
	for _, m := range []ocispec.Descriptor{f.tagged, f.signature, f.multi, f.child} {
		ts.do("GET", "/v2/app/manifests/"+m.Digest.String(), nil).expect(t, http.StatusOK, "")
	}
	for _, d := range f.taggedBlobs {
		ts.do("GET", "/v2/app/blobs/"+d.String(), nil).expect(t, http.StatusOK, "")
	}
	r := ts.do("GET", "/v2/app/referrers/"+f.tagged.Digest.String(), nil)
	if !strings.Contains(string(r.body), f.signature.Digest.String()) {
		t.Errorf("referrers of v1 after gc: %s", r.body)
	}
	r = ts.do("GET", "/v2/app/referrers/"+f.untagged.Digest.String(), nil)
	if !strings.Contains(string(r.body), `"manifests":[]`) {
		t.Errorf("referrers of the removed image: %s", r.body)
	}
}

func TestGarbageCollectRefusesUnreadableManifests(t *testing.T) {
	f := newGCFixture(t)
	s, _ := content.NewLocal(f.root)
	if err := s.Delete(context.Background(), f.tagged.Digest); err != nil {
		t.Fatal(err)
	}
	before := storeBlobs(t, f.root)
	_, err := GarbageCollect(context.Background(), f.root, GCOptions{})
	if err == nil || !strings.Contains(err.Error(), f.tagged.Digest.String()) {
		t.Fatalf("gc with a manifest missing: %v", err)
	}
	if after := storeBlobs(t, f.root); !slices.Equal(after, before) {
		t.Fatal("a failed gc removed blobs")
	}
	if _, err := GarbageCollect(context.Background(), t.TempDir(), GCOptions{}); err == nil {
		t.Fatal("gc of an empty directory")
	}
}
