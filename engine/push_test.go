package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/imagetest"
	"github.com/berth-project/berth/registry"
)

// newImages opens an image service in a temporary directory, with the
// copy snapshotter (push does not unpack) and no docker config.
func newImages(t *testing.T) *Images {
	t.Helper()
	s, err := OpenImages(t.TempDir(), ImagesOptions{Driver: "copy",
		Registry: []registry.Option{registry.WithDockerConfig(filepath.Join(t.TempDir(), "none.json"))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// addLayout copies the blobs of an OCI layout into the store and names
// its image (top) name, as a pull or load would have.
func addLayout(t *testing.T, s *Images, dir string, top ocispec.Descriptor, name string) image.Record {
	t.Helper()
	imagetest.EachLayoutBlob(t, dir, func(r io.Reader, desc ocispec.Descriptor) error {
		return content.WriteBlob(context.Background(), s.Content, r, desc)
	})
	return record(t, s, top, name)
}

// record names top (a manifest, or an index whose host manifest is
// taken) name.
func record(t *testing.T, s *Images, top ocispec.Descriptor, name string) image.Record {
	t.Helper()
	ctx := context.Background()
	rec := image.Record{Name: name, Target: top, Manifest: top, Created: time.Now()}
	if image.IsIndex(top.MediaType) {
		b, err := content.ReadBlob(ctx, s.Content, top)
		if err != nil {
			t.Fatal(err)
		}
		var idx ocispec.Index
		json.Unmarshal(b, &idx)
		if rec.Manifest, err = image.SelectManifest(idx, image.HostPlatform()); err != nil {
			t.Fatal(err)
		}
	}
	m, _, err := image.ReadManifest(ctx, s.Content, rec.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	rec.Config = m.Config
	if err := s.Records.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestHasTag(t *testing.T) {
	for name, want := range map[string]bool{
		"app": false, "app:v1": true, "host:5000/app": false, "host:5000/app:v1": true,
		"host:5000/a/b@sha256:abc": false, "a/b:c@sha256:abc": true, "localhost/x": false,
	} {
		if got := hasTag(name); got != want {
			t.Errorf("hasTag(%q) = %v", name, got)
		}
	}
}

func TestPushRefuses(t *testing.T) {
	ctx := context.Background()
	s := newImages(t)
	dir := t.TempDir()
	top := imagetest.BusyboxLayout(t, dir, imagetest.LayoutOptions{})
	addLayout(t, s, dir, top, "127.0.0.1:5000/app:v1")
	for _, tc := range []struct {
		name    string
		allTags bool
		want    string
		is      error
	}{
		{"127.0.0.1:5000/nope", false, "An image does not exist locally with the tag: 127.0.0.1:5000/nope", image.ErrNotFound},
		{"127.0.0.1:5000/nope", true, "An image does not exist locally with the tag: 127.0.0.1:5000/nope", image.ErrNotFound},
		{"nope", false, "An image does not exist locally with the tag: nope", image.ErrNotFound},
		{"127.0.0.1:5000/app", false, "tag does not exist: 127.0.0.1:5000/app:latest", image.ErrNotFound},
		{"127.0.0.1:5000/app:v1", true, "tag can't be used with --all-tags/-a", registry.ErrInvalid},
		{"127.0.0.1:5000/app@" + top.Digest.String(), false, "cannot push a digest reference", registry.ErrInvalid},
	} {
		_, err := s.Push(ctx, tc.name, PushOptions{AllTags: tc.allTags})
		if err == nil || err.Error() != tc.want || !errors.Is(err, tc.is) {
			t.Errorf("push %s (all tags %v): %v; want %q", tc.name, tc.allTags, err, tc.want)
		}
	}
}

func TestMountSources(t *testing.T) {
	ctx := context.Background()
	s := newImages(t)
	dir := t.TempDir()
	top := imagetest.BusyboxLayout(t, dir, imagetest.LayoutOptions{})
	rec := addLayout(t, s, dir, top, "reg.example:5000/team/src:v1")
	record(t, s, top, "reg.example:5000/team/dst:v1")
	record(t, s, top, "other.example/team/src:v1")
	recs, _ := s.Records.List(ctx)
	ref, _ := image.ParseReference("reg.example:5000/team/dst:v2")
	got := mountSources(ctx, s.Content, recs, ref)
	m, _, _ := image.ReadManifest(ctx, s.Content, rec.Manifest)
	for _, d := range append([]digest.Digest{m.Config.Digest}, m.Layers[0].Digest) {
		if len(got[d]) != 1 || got[d][0] != "team/src" {
			t.Errorf("%s: sources %v; want team/src only (same registry, another repository)", d, got[d])
		}
	}
}

func TestSplitSearchTerm(t *testing.T) {
	for term, want := range map[string][2]string{
		"busybox":                {"docker.io", "busybox"},
		"library/busybox":        {"docker.io", "library/busybox"},
		"localhost/busy":         {"localhost", "busy"},
		"127.0.0.1:5000/busy":    {"127.0.0.1:5000", "busy"},
		"reg.example/team/app":   {"reg.example", "team/app"},
		"127.0.0.1:5000/":        {"127.0.0.1:5000", ""},
		"team:weird/not-a-host?": {"team:weird", "not-a-host?"},
	} {
		h, q := SplitSearchTerm(term)
		if h != want[0] || q != want[1] {
			t.Errorf("SplitSearchTerm(%q) = %q, %q; want %q", term, h, q, want)
		}
	}
}

func TestSearchFilter(t *testing.T) {
	entries := []registry.SearchEntry{
		{Name: "a", StarCount: 5, IsOfficial: true},
		{Name: "b", StarCount: 1, IsAutomated: true},
		{Name: "c"},
	}
	for _, tc := range []struct {
		filters []string
		want    string
		err     string
	}{
		{nil, "a b c", ""},
		{[]string{"stars=2"}, "a", ""},
		{[]string{"is-official=true"}, "a", ""},
		{[]string{"is-official=false", "stars=1"}, "b", ""},
		{[]string{"is-automated=true"}, "b", ""},
		{[]string{"stars=x"}, "", "invalid filter 'stars=x'"},
		{[]string{"colour=blue"}, "", "invalid filter 'colour=blue'"},
		{[]string{"is-official"}, "", "invalid filter 'is-official'"},
	} {
		keep, err := searchFilter(tc.filters)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%v: err %v, want %q", tc.filters, err, tc.err)
			}
			continue
		}
		var got []string
		for _, e := range entries {
			if keep(e) {
				got = append(got, e.Name)
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%v kept %v, want %s", tc.filters, got, tc.want)
		}
	}
	if _, err := Search(context.Background(), registry.NewClient(), "x", SearchOptions{Limit: 101}); err == nil || err.Error() != "limit 101 is outside the range of [1, 100]" {
		t.Errorf("limit 101: %v", err)
	}
}

// TestPushImages pushes through the image service to a real registry:
// a retag to another repository mounts, --all-tags sends each tag, and an
// index of which only this platform is here goes up as that manifest.
func TestPushImages(t *testing.T) {
	ctx := context.Background()
	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	s := newImages(t)
	dir := t.TempDir()
	top := imagetest.BusyboxLayout(t, dir, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("etc/motd", "hi\n")}},
	}})
	addLayout(t, s, dir, top, r.Host+"/team/src:v1")
	if _, err := s.Push(ctx, r.Host+"/team/src:v1", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, r.Host+"/team/src:v1", r.Host+"/team/dst:a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, r.Host+"/team/src:v1", r.Host+"/team/dst:b"); err != nil {
		t.Fatal(err)
	}
	var tags []string
	out, err := s.Push(ctx, r.Host+"/team/dst", PushOptions{AllTags: true, Pushed: func(p PushedImage) { tags = append(tags, p.Reference.Tag) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || strings.Join(tags, ",") != "a,b" {
		t.Fatalf("pushed %+v (tags %v)", out, tags)
	}
	if out[0].Mounted != 3 || out[0].Pushed != 0 || out[1].Skipped != 3 || out[0].Digest != top.Digest {
		t.Errorf("first tag %+v, second %+v: want the first mounted from team/src, the second already there", out[0].PushResult, out[1].PushResult)
	}

	// An index of which this platform's manifest alone is here.
	hostPlatform := runtime.GOOS + "/" + runtime.GOARCH
	mdir := t.TempDir()
	idx := imagetest.BusyboxLayout(t, mdir, imagetest.LayoutOptions{Platforms: []string{hostPlatform, "linux/s390x"}})
	rec := addLayout(t, s, mdir, idx, r.Host+"/multi:v1")
	b, _ := content.ReadBlob(ctx, s.Content, idx)
	var index ocispec.Index
	json.Unmarshal(b, &index)
	for _, m := range index.Manifests {
		if m.Digest != rec.Manifest.Digest {
			if err := s.Content.Delete(ctx, m.Digest); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err = s.Push(ctx, r.Host+"/multi:v1", PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Partial == nil || out[0].Partial.Digest != idx.Digest || out[0].Digest != rec.Manifest.Digest {
		t.Errorf("partial index push %+v; want the host manifest in place of %s", out[0], idx.Digest)
	}
}
