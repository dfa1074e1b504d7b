package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	mimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/imagetest"
)

// wire is a stream line as a client decodes it.
type wire struct {
	jsonstream.Message
	ProgressMessage string `json:"progress"`
	ErrorMessage    string `json:"error"`
}

// readStream decodes every line of a jsonstream.
func readStream(t *testing.T, r io.ReadCloser) []wire {
	t.Helper()
	defer r.Close()
	var out []wire
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m wire
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stream line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read stream: %v", err)
	}
	return out
}

func statuses(ms []wire) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Status)
	}
	return out
}

func wantKind(t *testing.T, err error, k Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want kind %d %q", k, msg)
	}
	if KindOf(err) != k || (msg != "" && err.Error() != msg) {
		t.Fatalf("error %q (kind %d); want %q (kind %d)", err, KindOf(err), msg, k)
	}
}

// imagesEngine is an engine with only an image service, holding
// busybox:latest, the same image as 127.0.0.1:5000/team/app:v1, a labelled
// image with one more layer as labelled:1, and that one's parent-less
// twin left unnamed.
func imagesEngine(t *testing.T) (*Engine, map[string]image.Record) {
	t.Helper()
	s := newImages(t)
	e := &Engine{Images: s}
	recs := map[string]image.Record{}
	dir := t.TempDir()
	top := imagetest.BusyboxLayout(t, dir, imagetest.LayoutOptions{})
	recs["busybox"] = addLayout(t, s, dir, top, "docker.io/library/busybox:latest")
	recs["app"] = record(t, s, top, "127.0.0.1:5000/team/app:v1")
	dir2 := t.TempDir()
	top2 := imagetest.BusyboxLayout(t, dir2, imagetest.LayoutOptions{
		Config:      &ocispec.ImageConfig{Cmd: []string{"sh"}, Labels: map[string]string{"tier": "web", "team": "a"}},
		ExtraLayers: []imagetest.Layer{{Entries: []imagetest.Entry{imagetest.File("etc/motd", "hi\n")}}},
	})
	recs["labelled"] = addLayout(t, s, dir2, top2, "docker.io/library/labelled:1")
	dir3 := t.TempDir()
	top3 := imagetest.BusyboxLayout(t, dir3, imagetest.LayoutOptions{
		ExtraLayers: []imagetest.Layer{{Entries: []imagetest.Entry{imagetest.File("etc/dangling", "x\n")}}},
	})
	rec := addLayout(t, s, dir3, top3, "docker.io/library/tmp:1")
	if err := s.Records.Update(context.Background(), func(m map[string]image.Record) error {
		delete(m, rec.Name)
		rec.Name = rec.ID().String()
		m[rec.Name] = rec
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	recs["dangling"] = rec
	return e, recs
}

func TestImageList(t *testing.T) {
	ctx := context.Background()
	e, recs := imagesEngine(t)
	byID := func(list []mimage.Summary) map[string]mimage.Summary {
		m := map[string]mimage.Summary{}
		for _, s := range list {
			m[s.ID] = s
		}
		return m
	}
	all, err := e.ImageList(ctx, ImageListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("listed %d images, want 3: %+v", len(all), all)
	}
	bb := byID(all)[recs["busybox"].ID().String()]
	slices.Sort(bb.RepoTags)
	if want := []string{"127.0.0.1:5000/team/app:v1", "busybox:latest"}; !slices.Equal(bb.RepoTags, want) {
		t.Errorf("RepoTags %v, want %v", bb.RepoTags, want)
	}
	if len(bb.RepoDigests) != 2 || !strings.HasPrefix(bb.RepoDigests[0], "127.0.0.1:5000/team/app@sha256:") {
		t.Errorf("RepoDigests %v", bb.RepoDigests)
	}
	if bb.Created != imagetest.Epoch.Unix() || bb.Containers != -1 || bb.Descriptor == nil {
		t.Errorf("summary %+v", bb)
	}
	dg := byID(all)[recs["dangling"].ID().String()]
	if dg.RepoTags == nil || len(dg.RepoTags) != 0 || len(dg.RepoDigests) != 0 {
		t.Errorf("dangling image names: %v %v", dg.RepoTags, dg.RepoDigests)
	}

	for _, tc := range []struct {
		name    string
		filters Filters
		want    []string // keys of recs
		tags    []string // RepoTags of the first, when set
	}{
		{"dangling", Filters{"dangling": {"true"}}, []string{"dangling"}, nil},
		{"not dangling", Filters{"dangling": {"false"}}, []string{"busybox", "labelled"}, nil},
		{"label key", Filters{"label": {"tier"}}, []string{"labelled"}, nil},
		{"label value", Filters{"label": {"tier=web", "team=a"}}, []string{"labelled"}, nil},
		{"label mismatch", Filters{"label": {"tier=db"}}, nil, nil},
		{"reference", Filters{"reference": {"busybox"}}, []string{"busybox"}, []string{"busybox:latest"}},
		{"reference glob", Filters{"reference": {"127.0.0.1:5000/team/*"}}, []string{"busybox"}, []string{"127.0.0.1:5000/team/app:v1"}},
		{"reference tag", Filters{"reference": {"*:1"}}, []string{"labelled"}, nil},
		{"until past", Filters{"until": {"2023-01-01"}}, nil, nil},
		{"until now", Filters{"until": {"1s"}}, []string{"busybox", "labelled", "dangling"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.ImageList(ctx, ImageListOptions{Filters: tc.filters})
			if err != nil {
				t.Fatal(err)
			}
			var ids, want []string
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			for _, k := range tc.want {
				want = append(want, recs[k].ID().String())
			}
			slices.Sort(ids)
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				t.Fatalf("got %v, want %v", ids, want)
			}
			if tc.tags != nil && !slices.Equal(got[0].RepoTags, tc.tags) {
				t.Errorf("RepoTags %v, want %v", got[0].RepoTags, tc.tags)
			}
		})
	}
	for _, tc := range []struct {
		name    string
		filters Filters
		kind    Kind
		msg     string
	}{
		{"unknown key", Filters{"colour": {"red"}}, KindInvalid, "invalid filter 'colour'"},
		{"bad dangling", Filters{"dangling": {"maybe"}}, KindInvalid, "invalid filter 'dangling=maybe'"},
		{"bad until", Filters{"until": {"soon"}}, KindInvalid, ""},
		{"before missing", Filters{"before": {"nope"}}, KindNotFound, "No such image: nope:latest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ImageList(ctx, ImageListOptions{Filters: tc.filters})
			wantKind(t, err, tc.kind, tc.msg)
		})
	}
}

func TestImageInspectHistoryTag(t *testing.T) {
	ctx := context.Background()
	e, recs := imagesEngine(t)
	in, err := e.ImageInspect(ctx, "labelled:1")
	if err != nil {
		t.Fatal(err)
	}
	id := recs["labelled"].ID().String()
	if in.ID != id || !slices.Equal(in.RepoTags, []string{"labelled:1"}) || in.Config == nil ||
		in.Config.Labels["tier"] != "web" || len(in.RootFS.Layers) != 2 || in.RootFS.Type != "layers" ||
		in.Descriptor == nil || in.Os != "linux" || in.GraphDriver == nil || in.GraphDriver.Name != "copy" {
		t.Errorf("inspect: %+v", in)
	}
	// By ID prefix too.
	if in2, err := e.ImageInspect(ctx, id[len("sha256:"):][:12]); err != nil || in2.ID != id {
		t.Errorf("inspect by short ID: %v %v", in2.ID, err)
	}
	_, err = e.ImageInspect(ctx, "nope")
	wantKind(t, err, KindNotFound, "No such image: nope:latest")

	h, err := e.ImageHistory(ctx, "labelled:1")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) < 2 || h[0].ID != id || !slices.Equal(h[0].Tags, []string{"labelled:1"}) || h[1].ID != "<missing>" || h[0].Size <= 0 {
		t.Errorf("history: %+v", h)
	}
	_, err = e.ImageHistory(ctx, "nope:2")
	wantKind(t, err, KindNotFound, "No such image: nope:2")

	if err := e.ImageTag(ctx, "labelled:1", "example.com/x/y:2"); err != nil {
		t.Fatal(err)
	}
	if in, _ := e.ImageInspect(ctx, "example.com/x/y:2"); in.ID != id {
		t.Errorf("the new tag names %s, want %s", in.ID, id)
	}
	for _, tc := range []struct {
		src, dst string
		kind     Kind
		msg      string
	}{
		{"nope", "x:1", KindNotFound, "No such image: nope:latest"},
		{"labelled:1", "x@" + id, KindInvalid, "refusing to create a tag with a digest reference"},
		{"labelled:1", "Upper:1", KindInvalid, "invalid reference format: repository name (library/Upper) must be lowercase"},
		{"labelled:1", "sha256:1", KindInvalid, "refusing to create an ambiguous tag using digest algorithm as name"},
	} {
		t.Run(tc.dst, func(t *testing.T) {
			wantKind(t, e.ImageTag(ctx, tc.src, tc.dst), tc.kind, tc.msg)
		})
	}
}

func TestRunStream(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	header := func() streamMessage { return streamMessage{Message: jsonstream.Message{Status: "first"}} }
	for _, tc := range []struct {
		name    string
		op      func(ctx context.Context, s *jsonStream) error
		err     error
		lines   []string
		lastErr string
	}{
		{"error before any message", func(ctx context.Context, s *jsonStream) error { return boom }, boom, nil, ""},
		{"nothing at all", func(ctx context.Context, s *jsonStream) error { return nil }, nil, nil, ""},
		{"messages", func(ctx context.Context, s *jsonStream) error {
			s.Update("abc", "Downloading", 5, 10)
			s.status("done")
			return nil
		}, nil, []string{"first", "Downloading", "done"}, ""},
		{"error after messages", func(ctx context.Context, s *jsonStream) error {
			s.status("working")
			return boom
		}, nil, []string{"first", "working", ""}, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := runStream(ctx, header, tc.op)
			if !errors.Is(err, tc.err) {
				t.Fatalf("runStream: %v, want %v", err, tc.err)
			}
			if err != nil {
				if r != nil {
					t.Fatal("a stream with the error")
				}
				return
			}
			ms := readStream(t, r)
			if got := statuses(ms); !slices.Equal(got, tc.lines) {
				t.Fatalf("statuses %q, want %q", got, tc.lines)
			}
			if tc.lastErr != "" {
				last := ms[len(ms)-1]
				if last.Error == nil || last.Error.Message != tc.lastErr || last.ErrorMessage != tc.lastErr {
					t.Errorf("last line %+v, want error %q", last, tc.lastErr)
				}
			}
			for _, m := range ms {
				if m.Status == "Downloading" && (m.Progress == nil || m.Progress.Current != 5 || m.Progress.Total != 10 || m.ID != "abc" || !strings.Contains(m.ProgressMessage, "/10B")) {
					t.Errorf("progress line %+v", m)
				}
			}
		})
	}
}

func TestRunStreamCloseCancels(t *testing.T) {
	stopped := make(chan struct{})
	r, err := runStream(context.Background(), nil, func(ctx context.Context, s *jsonStream) error {
		s.status("started")
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(r)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "started") {
		t.Fatalf("first line %q, %v", line, err)
	}
	r.Close()
	<-stopped
}

func TestParseTimeFilter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"1700000000", time.Unix(1700000000, 0), false},
		{"1700000000.5", time.Unix(1700000000, 5e8), false},
		{"10m", now.Add(-10 * time.Minute), false},
		{"2024-01-02T03:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), false},
		{"soon", time.Time{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseTimeFilter(tc.in, now)
			if (err != nil) != tc.bad || (!tc.bad && !got.Equal(tc.want)) {
				t.Errorf("parseTimeFilter(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

func TestImageRemove(t *testing.T) {
	ctx := context.Background()
	const ctr = "c0ffee0123456789c0ffee0123456789c0ffee0123456789c0ffee0123456789"
	for _, tc := range []struct {
		name    string
		target  string // a key of the fixture's records, or a name
		byID    bool
		force   bool
		users   map[string][]containerUse // by fixture key
		want    []string                  // "U name" / "D id" ("D" alone: the image's ID)
		kind    Kind
		msg     string
		gone    bool // the image is no longer listed
		unnamed bool // the image is listed without a name
	}{
		{name: "a name of several", target: "busybox",
			want: []string{"U busybox:latest", "U busybox@"}},
		{name: "the last name", target: "labelled:1",
			want: []string{"U labelled:1", "U labelled@", "D"}, gone: true},
		{name: "the last name of a used image", target: "labelled:1",
			users: map[string][]containerUse{"labelled": {{id: ctr}}}, kind: KindConflict,
			msg: `conflict: unable to remove repository reference "labelled:1" (must force) - container c0ffee012345 is using its referenced image %s`},
		{name: "forced, a stopped container's image goes", target: "labelled:1", force: true,
			users: map[string][]containerUse{"labelled": {{id: ctr}}},
			want:  []string{"U labelled:1", "U labelled@", "D"}, gone: true},
		{name: "forced, a running container's image stays", target: "labelled:1", force: true,
			users: map[string][]containerUse{"labelled": {{id: ctr, running: true}}},
			want:  []string{"U labelled:1", "U labelled@"}, unnamed: true},
		{name: "by ID with names in two repositories", target: "busybox", byID: true, kind: KindConflict,
			msg: "conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories"},
		{name: "by ID forced", target: "busybox", byID: true, force: true,
			want: []string{"U 127.0.0.1:5000/team/app:v1", "U 127.0.0.1:5000/team/app@", "U busybox:latest", "U busybox@", "D"}, gone: true},
		{name: "by ID used by a running container", target: "labelled", byID: true, force: true,
			users: map[string][]containerUse{"labelled": {{id: ctr, running: true}}}, kind: KindConflict,
			msg: "conflict: unable to delete %s (cannot be forced) - image is being used by running container c0ffee012345"},
		{name: "by ID used by a stopped container", target: "labelled", byID: true,
			users: map[string][]containerUse{"labelled": {{id: ctr}}}, kind: KindConflict,
			msg: "conflict: unable to delete %s (must be forced) - image is being used by stopped container c0ffee012345"},
		{name: "by ID of a dangling image", target: "dangling", byID: true, want: []string{"D"}, gone: true},
		{name: "missing", target: "nope", kind: KindNotFound, msg: "No such image: nope:latest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, recs := imagesEngine(t)
			name, id := tc.target, ""
			if rec, ok := recs[tc.target]; ok {
				id = rec.ID().String()
				if tc.byID {
					name = rec.ID().Encoded()[:12]
				}
			}
			users := map[string][]containerUse{}
			for k, u := range tc.users {
				users[recs[k].ID().String()] = u
			}
			if id == "" && recs[strings.Split(tc.target, ":")[0]].Name != "" {
				id = recs[strings.Split(tc.target, ":")[0]].ID().String()
			}
			got, err := e.imageRemove(ctx, name, ImageRemoveOptions{Force: tc.force}, users)
			if tc.kind != 0 {
				msg := tc.msg
				if strings.Contains(msg, "%s") {
					msg = fmt.Sprintf(msg, id[7:19])
				}
				wantKind(t, err, tc.kind, msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, d := range got {
				switch {
				case d.Untagged != "":
					u := d.Untagged
					if i := strings.Index(u, "@"); i >= 0 {
						u = u[:i+1]
					}
					lines = append(lines, "U "+u)
				case d.Deleted == id:
					lines = append(lines, "D")
				default:
					lines = append(lines, "D "+d.Deleted)
				}
			}
			if !slices.Equal(lines, tc.want) {
				t.Errorf("removed %q, want %q", lines, tc.want)
			}
			list, _ := e.ImageList(ctx, ImageListOptions{})
			listed := slices.IndexFunc(list, func(s mimage.Summary) bool { return s.ID == id })
			switch {
			case tc.gone && listed >= 0:
				t.Errorf("image still listed: %+v", list[listed])
			case !tc.gone && listed < 0:
				t.Errorf("image gone")
			case tc.unnamed && len(list[listed].RepoTags) != 0:
				t.Errorf("image still named: %v", list[listed].RepoTags)
			}
		})
	}
}

func TestImagesPrune(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		filters Filters
		used    []string // fixture keys a container uses
		want    []string // fixture keys removed
		kind    Kind
	}{
		{name: "dangling", want: []string{"dangling"}},
		{name: "all unused", filters: Filters{"dangling": {"false"}}, used: []string{"busybox"}, want: []string{"labelled", "dangling"}},
		{name: "by label", filters: Filters{"dangling": {"false"}, "label": {"tier=web"}}, want: []string{"labelled"}},
		{name: "by missing label", filters: Filters{"dangling": {"false"}, "label!": {"tier"}}, want: []string{"busybox", "dangling"}},
		{name: "until", filters: Filters{"until": {"2023-01-01T00:00:00Z"}}},
		{name: "bad filter", filters: Filters{"reference": {"x"}}, kind: KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, recs := imagesEngine(t)
			users := map[string][]containerUse{}
			for _, k := range tc.used {
				users[recs[k].ID().String()] = []containerUse{{id: "c0ffee"}}
			}
			rep, err := e.imagesPrune(ctx, tc.filters, users)
			if tc.kind != 0 {
				wantKind(t, err, tc.kind, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, d := range rep.ImagesDeleted {
				if d.Deleted != "" {
					got = append(got, d.Deleted)
				}
			}
			for _, k := range tc.want {
				want = append(want, recs[k].ID().String())
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("deleted %v, want %v", got, want)
			}
			if (len(want) > 0) != (rep.SpaceReclaimed > 0) {
				t.Errorf("reclaimed %d bytes", rep.SpaceReclaimed)
			}
		})
	}
}
