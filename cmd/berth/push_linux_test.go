package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/imagetest"
)

// pushFixture starts a registry holding a busybox image as
// team/busybox:1 and returns the registry, the reference and the
// image's manifest digest.
func pushFixture(t *testing.T) (*imagetest.Registry, string, string) {
	t.Helper()
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	layout := filepath.Join(t.TempDir(), "layout")
	top := imagetest.BusyboxLayout(t, layout, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("etc/motd", "pushed\n")}},
	}})
	ref := reg.Host + "/team/busybox:1"
	reg.PushLayout(t, layout, ref)
	return reg, ref, top.Digest.String()
}

// layerLines returns, per layer id, the statuses push printed for it in
// plain mode, in order.
func layerLines(out string) map[string][]string {
	m := map[string][]string{}
	re := regexp.MustCompile(`^([0-9a-f]{12}): (.*)$`)
	for _, l := range strings.Split(out, "\n") {
		if g := re.FindStringSubmatch(l); g != nil {
			m[g[1]] = append(m[g[1]], g[2])
		}
	}
	return m
}

// TestPushRetagMounts pulls an image, tags it into another repository of
// the same registry and pushes it: its layers are mounted, not sent.
func TestPushRetagMounts(t *testing.T) {
	c := newCLI(t)
	reg, ref, manifest := pushFixture(t)
	c.ok("pull", ref)
	other := reg.Host + "/other/busybox"
	c.ok("tag", ref, other)

	out := c.ok("push", other)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "The push refers to repository ["+other+"]" {
		t.Errorf("first line %q", lines[0])
	}
	last := regexp.MustCompile(`^latest: digest: (sha256:[0-9a-f]{64}) size: [0-9]+$`).FindStringSubmatch(lines[len(lines)-1])
	if last == nil || last[1] != manifest {
		t.Fatalf("last line %q; want latest: digest: %s size: N\n%s", lines[len(lines)-1], manifest, out)
	}
	layers := layerLines(out)
	if len(layers) != 2 {
		t.Errorf("%d layer lines, want 2:\n%s", len(layers), out)
	}
	for id, st := range layers {
		if strings.Join(st, ", ") != "Preparing, Mounted from team/busybox" {
			t.Errorf("layer %s: %v; want Preparing, then Mounted from team/busybox\n%s", id, st, out)
		}
	}

	// Again: all there.
	out = c.ok("image", "push", other+":latest")
	for id, st := range layerLines(out) {
		if st[len(st)-1] != "Layer already exists" {
			t.Errorf("second push, layer %s: %v", id, st)
		}
	}
	if out := c.ok("push", "-q", other); out != other+":latest\n" {
		t.Errorf("push -q said %q", out)
	}

	// Someone else pulls it.
	c2 := newCLI(t)
	if out := c2.ok("pull", other); !strings.Contains(out, "Digest: "+manifest) {
		t.Errorf("pull of the pushed image:\n%s", out)
	}
}

func TestPushUploadsAndTags(t *testing.T) {
	c := newCLI(t)
	_, ref, manifest := pushFixture(t)
	dst := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	c.ok("pull", ref)
	repo := dst.Host + "/copy"
	c.ok("tag", ref, repo+":v1")
	c.ok("tag", ref, repo+":v2")

	out := c.ok("push", "--all-tags", repo)
	if strings.Count(out, "The push refers to repository ["+repo+"]") != 1 {
		t.Errorf("the repository line is not there once:\n%s", out)
	}
	for _, tag := range []string{"v1", "v2"} {
		if !strings.Contains(out, "\n"+tag+": digest: "+manifest+" size: ") {
			t.Errorf("no digest line for %s:\n%s", tag, out)
		}
	}
	// v1 uploads; v2 finds everything there.
	v1, v2, _ := strings.Cut(out, "v1: digest:")
	for id, st := range layerLines(v1) {
		if st[0] != "Preparing" || st[len(st)-1] != "Pushed" || !strings.Contains(strings.Join(st, ","), "Pushing") {
			t.Errorf("v1, layer %s: %v", id, st)
		}
	}
	for id, st := range layerLines(v2) {
		if st[len(st)-1] != "Layer already exists" {
			t.Errorf("v2, layer %s: %v", id, st)
		}
	}

	if out := c.ok("push", "-a", "-q", repo); out != repo+"\n" {
		t.Errorf("push -a -q said %q", out)
	}
	c.fails("tag can't be used with --all-tags/-a", "push", "-a", repo+":v1")
	c.fails("An image does not exist locally with the tag: "+dst.Host+"/nope", "push", dst.Host+"/nope")
	c.fails("tag does not exist: "+repo+":v3", "push", repo+":v3")
	c.fails("tag does not exist: "+repo+":latest", "image", "push", repo) // NAME is NAME:latest, which is not here
}

// searchJSON is docker's v1 search JSON, as berth's registry answers.
const searchJSON = `{"num_results":2,"num_pages":1,"page":1,"page_size":2,"query":"busy","results":[` +
	`{"name":"library/busybox","description":"Busybox base image, with many common UNIX utilities in one small binary","star_count":3,"is_official":true,"is_automated":false,"tag_count":4},` +
	`{"name":"team/busybox","description":"ours","star_count":0,"is_official":false,"is_automated":false,"tag_count":1}]}`

func TestSearch(t *testing.T) {
	c := newCLI(t)
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/search" {
			http.NotFound(w, r)
			return
		}
		queries = append(queries, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(searchJSON))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	out := c.ok("search", host+"/busy")
	want := "NAME              DESCRIPTION                                     TAGS   STARS   OFFICIAL\n" +
		"library/busybox   Busybox base image, with many common UNIX ut…   4      3       [OK]\n" +
		"team/busybox      ours                                            1      0       \n"
	if out != want {
		t.Errorf("search said\n%s\nwant\n%s", out, want)
	}
	if len(queries) != 1 || queries[0] != "n=25&q=busy" {
		t.Errorf("queries %v", queries)
	}
	if out := c.ok("search", "--no-trunc", "--limit", "2", host+"/busy"); !strings.Contains(out, "in one small binary") {
		t.Errorf("--no-trunc:\n%s", out)
	}
	if queries[1] != "n=2&q=busy" {
		t.Errorf("--limit 2 asked %q", queries[1])
	}
	if out := c.ok("search", "--format", "{{.Name}}: {{.StarCount}} {{.IsOfficial}}", host+"/busy"); out != "library/busybox: 3 [OK]\nteam/busybox: 0 \n" {
		t.Errorf("--format said %q", out)
	}
	if out := c.ok("search", "--format", `table {{.Name}}\t{{.TagCount}}`, "-f", "is-official=false", host+"/busy"); out != "NAME           TAGS\nteam/busybox   1\n" {
		t.Errorf("table format with a filter said %q", out)
	}
	c.fails("invalid filter 'nope'", "search", "-f", "nope", host+"/busy")
	c.fails("limit 200 is outside the range of [1, 100]", "search", "--limit", "200", host+"/busy")

	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	c.fails("registry "+reg.Host+" does not support search", "search", reg.Host+"/busybox")
}
