package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
)

// TestImagePushPull pushes an image to a registry through the API and
// pulls it into another engine, checking the streams line by line as a
// docker client reads them.
func TestImagePushPull(t *testing.T) {
	gate.Root(t) // unpacking sets owners
	ctx := context.Background()
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	src, _ := imagesEngine(t)
	name := reg.Host + "/team/app:v1"
	if err := src.ImageTag(ctx, "labelled:1", name); err != nil {
		t.Fatal(err)
	}

	t.Run("push", func(t *testing.T) {
		r, err := src.ImagePush(ctx, name, PushRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ms := readStream(t, r)
		st := statuses(ms)
		if len(st) == 0 || st[0] != "The push refers to repository ["+reg.Host+"/team/app]" {
			t.Fatalf("first line %q", st)
		}
		if !slices.Contains(st, "Pushed") {
			t.Errorf("no layer pushed: %q", st)
		}
		var aux map[string]any
		for _, m := range ms {
			if m.Error != nil {
				t.Fatalf("push failed: %s", m.Error.Message)
			}
			if m.Aux != nil {
				json.Unmarshal(*m.Aux, &aux)
			}
		}
		last := st[len(st)-2] // the aux line has no status
		if !strings.HasPrefix(last, "v1: digest: sha256:") || !strings.Contains(last, " size: ") {
			t.Errorf("digest line %q", last)
		}
		if aux["Tag"] != "v1" || !strings.HasPrefix(aux["Digest"].(string), "sha256:") {
			t.Errorf("aux %v", aux)
		}
	})

	dst := &Engine{Images: newImages(t)}
	t.Run("pull", func(t *testing.T) {
		r, err := dst.ImagePull(ctx, name, PullRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ms := readStream(t, r)
		if ms[0].Status != "Pulling from team/app" || ms[0].ID != "v1" {
			t.Errorf("first line %+v", ms[0])
		}
		st := statuses(ms)
		for _, want := range []string{"Pulling fs layer", "Download complete", "Pull complete"} {
			if !slices.Contains(st, want) {
				t.Errorf("no %q line: %q", want, st)
			}
		}
		n := len(st)
		if !strings.HasPrefix(st[n-2], "Digest: sha256:") || st[n-1] != "Status: Downloaded newer image for "+name {
			t.Errorf("last lines %q", st[n-2:])
		}
		for _, m := range ms {
			if m.ID != "" && m.ID != "v1" && m.Progress == nil {
				t.Errorf("layer line without progressDetail: %+v", m)
			}
		}
		if in, err := dst.ImageInspect(ctx, name); err != nil || in.Config.Labels["tier"] != "web" {
			t.Errorf("pulled image: %+v, %v", in, err)
		}
	})

	t.Run("pull again", func(t *testing.T) {
		r, err := dst.ImagePull(ctx, name, PullRequest{})
		if err != nil {
			t.Fatal(err)
		}
		st := statuses(readStream(t, r))
		if st[len(st)-1] != "Status: Image is up to date for "+name {
			t.Errorf("last line %q", st[len(st)-1])
		}
	})

	for _, tc := range []struct {
		name string
		ref  string
		kind Kind
		msg  string
	}{
		{"missing tag", reg.Host + "/team/app:nope", KindNotFound, ""},
		{"missing repository", reg.Host + "/team/none:1", KindNotFound, ""},
		{"bad reference", "Bad/Ref", KindInvalid, "invalid reference format: repository name (Ref) must be lowercase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := dst.ImagePull(ctx, tc.ref, PullRequest{})
			if r != nil {
				r.Close()
			}
			wantKind(t, err, tc.kind, tc.msg)
		})
	}
	t.Run("remove", func(t *testing.T) {
		got, err := dst.imageRemove(ctx, name, ImageRemoveOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The name, its digest, the image, then its two layers, top first.
		if len(got) != 5 || got[0].Untagged != name || got[2].Deleted == "" || got[3].Deleted == "" || got[4].Deleted == "" {
			t.Errorf("removed %+v", got)
		}
		if list, _ := dst.ImageList(ctx, ImageListOptions{}); len(list) != 0 {
			t.Errorf("still listed: %+v", list)
		}
	})
	t.Run("bad platform", func(t *testing.T) {
		_, err := dst.ImagePull(ctx, name, PullRequest{Platform: "linux/"})
		wantKind(t, err, KindInvalid, "")
	})
	t.Run("push missing", func(t *testing.T) {
		_, err := src.ImagePush(ctx, reg.Host+"/team/none:1", PushRequest{})
		wantKind(t, err, KindNotFound, "An image does not exist locally with the tag: "+reg.Host+"/team/none")
	})
}

// TestImageSaveLoad saves images through the API and loads them into
// another engine.
func TestImageSaveLoad(t *testing.T) {
	gate.Root(t)
	ctx := context.Background()
	src, recs := imagesEngine(t)
	r, err := src.ImageSave(ctx, []string{"busybox", "labelled:1"})
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if _, err := io.Copy(&archive, r); err != nil {
		t.Fatal(err)
	}
	r.Close()
	_, err = src.ImageSave(ctx, []string{"busybox", "nope:3"})
	wantKind(t, err, KindNotFound, "No such image: nope:3")

	dst := &Engine{Images: newImages(t)}
	lr, err := dst.ImageLoad(ctx, bytes.NewReader(archive.Bytes()), false)
	if err != nil {
		t.Fatal(err)
	}
	var loaded []string
	for _, m := range readStream(t, lr) {
		if m.Error != nil {
			t.Fatalf("load: %s", m.Error.Message)
		}
		loaded = append(loaded, m.Stream)
	}
	slices.Sort(loaded)
	if want := []string{"Loaded image: busybox:latest\n", "Loaded image: labelled:1\n"}; !slices.Equal(loaded, want) {
		t.Errorf("loaded %q, want %q", loaded, want)
	}
	if in, err := dst.ImageInspect(ctx, "labelled:1"); err != nil || in.ID != recs["labelled"].ID().String() {
		t.Errorf("loaded image: %v %v", in.ID, err)
	}

	lr, err = dst.ImageLoad(ctx, strings.NewReader("not a tar"), false)
	if err != nil {
		t.Fatal(err)
	}
	ms := readStream(t, lr)
	if len(ms) != 1 || ms[0].Error == nil || ms[0].Error.Message == "" {
		t.Errorf("load of garbage: %+v", ms)
	}
}

// TestImageRegistryAuth pushes and pulls with the credentials a request
// carries (X-Registry-Auth), to a registry that wants them.
func TestImageRegistryAuth(t *testing.T) {
	gate.Root(t)
	ctx := context.Background()
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{Auth: "htpasswd"})
	src, _ := imagesEngine(t)
	name := reg.Host + "/team/private:1"
	if err := src.ImageTag(ctx, "busybox", name); err != nil {
		t.Fatal(err)
	}
	good, _ := authconfig.Encode(registry.AuthConfig{Username: reg.Username, Password: reg.Password, ServerAddress: reg.Host})
	bad, _ := authconfig.Encode(registry.AuthConfig{Username: reg.Username, Password: "wrong", ServerAddress: reg.Host})

	failed := func(r io.ReadCloser, err error) bool {
		if err != nil {
			return true
		}
		for _, m := range readStream(t, r) {
			if m.Error != nil {
				return true
			}
		}
		return false
	}
	if !failed(src.ImagePush(ctx, name, PushRequest{})) {
		t.Error("push without credentials succeeded")
	}
	if !failed(src.ImagePush(ctx, name, PushRequest{RegistryAuth: bad})) {
		t.Error("push with a wrong password succeeded")
	}
	if failed(src.ImagePush(ctx, name, PushRequest{RegistryAuth: good})) {
		t.Fatal("push with the credentials failed")
	}
	dst := &Engine{Images: newImages(t)}
	if !failed(dst.ImagePull(ctx, name, PullRequest{})) {
		t.Error("pull without credentials succeeded")
	}
	if failed(dst.ImagePull(ctx, name, PullRequest{RegistryAuth: good})) {
		t.Fatal("pull with the credentials failed")
	}
	_, err := dst.ImagePull(ctx, name, PullRequest{RegistryAuth: "%%%"})
	wantKind(t, err, KindInvalid, "")
}
