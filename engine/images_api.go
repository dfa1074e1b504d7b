package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/events"
	mimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	mregistry "github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/storage"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/progress"
	"github.com/berth-project/berth/registry"
	"github.com/berth-project/berth/snapshot"
)

// imageErr gives an error of the image service its kind and, for a name
// nothing has, docker's "No such image: NAME" (NAME normalized as docker
// does: "busybox" is "busybox:latest").
func imageErr(err error, name string) error {
	var ee *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return err
	case errors.Is(err, image.ErrNotFound):
		var de *dockerError
		if errors.As(err, &de) {
			return &Error{Kind: KindNotFound, Msg: de.msg, Err: err}
		}
		return &Error{Kind: KindNotFound, Msg: "No such image: " + displayName(name), Err: err}
	case errors.Is(err, image.ErrConflict):
		return &Error{Kind: KindConflict, Msg: err.Error(), Err: err}
	case errors.Is(err, image.ErrInvalidReference), errors.Is(err, image.ErrInvalidPlatform),
		errors.Is(err, registry.ErrInvalid):
		return &Error{Kind: KindInvalid, Msg: err.Error(), Err: err}
	case errors.Is(err, image.ErrNoMatchingManifest):
		// docker says only "no matching manifest for linux/s390x in the
		// manifest list entries", without the pull's prefix.
		return &Error{Kind: KindNotFound, Msg: innermost(err, image.ErrNoMatchingManifest).Error(), Err: err}
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, registry.ErrDenied):
		// dockerd answers 404 for a manifest or repository the registry
		// does not have and for one it refuses (it cannot tell them
		// apart), as for a platform the image does not have.
		return &Error{Kind: KindNotFound, Msg: err.Error(), Err: err}
	}
	return err
}

// innermost is the deepest error in err's chain that still is target:
// the error that first said so, without the context wrapped around it.
func innermost(err, target error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil || !errors.Is(next, target) {
			return err
		}
		err = next
	}
}

// displayName is a name as docker's messages show it: a reference in its
// familiar form with the default tag, anything else (an ID) as typed.
func displayName(name string) string {
	if isIDLike(name) {
		return name
	}
	if ref, err := image.ParseReference(name); err == nil {
		return ref.Familiar()
	}
	return name
}

// isIDLike reports whether name reads as an image ID or ID prefix rather
// than a repository name.
func isIDLike(name string) bool {
	hex := strings.TrimPrefix(name, "sha256:")
	return (hex != name || len(hex) >= 12) && len(hex) >= 4 && len(hex) <= 64 && strings.Trim(hex, "0123456789abcdef") == ""
}

// imageGroups reads every image here (one per config digest) with all the
// records naming it, newest first.
func (e *Engine) imageGroups(ctx context.Context) ([]*imageGroup, error) {
	recs, err := e.Images.Records.List(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[digest.Digest]*imageGroup{}
	var out []*imageGroup
	for _, rec := range recs {
		if rec.BuildCache != "" {
			continue // the build cache is no image of its own
		}
		g, ok := byID[rec.ID()]
		if !ok {
			img, err := image.Load(ctx, e.Images.Content, rec)
			if err != nil {
				continue // its content is gone: nothing to show
			}
			g = &imageGroup{id: rec.ID().String(), img: img}
			layers := img.Layers()
			for i := range layers {
				g.chain = append(g.chain, image.ChainID(layers[:i+1]).String())
			}
			byID[rec.ID()] = g
			out = append(out, g)
		}
		g.records = append(g.records, rec)
	}
	for _, g := range out {
		g.tags, g.digests = namesOf(g.records)
	}
	sortGroups(out)
	return out, nil
}

// namesOf lists the tags ("busybox:latest") and repository digests
// ("busybox@sha256:...") that records give an image.
func namesOf(recs []image.Record) (tags, digests []string) {
	tags, digests = []string{}, []string{}
	for _, r := range recs {
		ref, ok := refOf(r)
		if !ok {
			continue
		}
		if ref.Tag != "" && ref.Digest == "" {
			tags = append(tags, ref.Familiar())
		}
		d := ref.FamiliarName() + "@" + r.Target.Digest.String()
		if !slices.Contains(digests, d) {
			digests = append(digests, d)
		}
	}
	return tags, digests
}

// dangling: the image has no name (docker's <none>:<none>).
func (g *imageGroup) dangling() bool { return len(g.tags) == 0 && len(g.digests) == 0 }

// summary is the image as ImageList shows it.
func (g *imageGroup) summary() mimage.Summary {
	cfg := g.img.Config()
	s := mimage.Summary{
		ID:          g.id,
		RepoTags:    g.tags,
		RepoDigests: g.digests,
		Labels:      cfg.Config.Labels,
		Size:        g.size(),
		SharedSize:  -1,
		Containers:  -1,
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if c := cfg.Created; c != nil {
		s.Created = c.Unix()
	}
	target := g.records[0].Target
	s.Descriptor = &target
	return s
}

// size is the unpacked size of the image's layers.
func (g *imageGroup) size() int64 {
	var n int64
	for _, r := range g.records {
		n = max(n, r.Size)
	}
	return n
}

// ImagePull pulls an image, streaming docker's progress messages: the
// repository line, each layer's progress, the digest and the status.
// A malformed reference, a platform that does not parse, or an image the
// registry does not have (or refuses) fail before the stream starts.
func (e *Engine) ImagePull(ctx context.Context, name string, o PullRequest) (io.ReadCloser, error) {
	ref, err := image.ParseReference(name)
	if err != nil {
		return nil, imageErr(err, name)
	}
	if o.All {
		return nil, Errorf(KindNotImplemented, "pulling all tags of a repository is not supported")
	}
	var po PullOptions
	if o.Platform != "" {
		if po.Platform, err = image.ParsePlatform(o.Platform); err != nil {
			return nil, Invalid("%s", err.Error())
		}
	}
	tagOrDigest := ref.Tag
	if ref.Digest != "" {
		tagOrDigest = ref.Digest.String()
	}
	header := func() streamMessage {
		return streamMessage{Message: jsonstream.Message{ID: tagOrDigest, Status: "Pulling from " + ref.Path}}
	}
	imgs, done, err := e.withAuth(ref, o.RegistryAuth)
	if err != nil {
		return nil, err
	}
	before, _ := e.Images.Records.Get(ctx, ref.String())
	return runStream(ctx, header, func(ctx context.Context, s *jsonStream) error {
		defer done()
		po.Progress = s
		rec, err := imgs.Pull(ctx, name, po)
		if err != nil {
			return imageErr(err, name)
		}
		s.status("Digest: " + rec.Target.Digest.String())
		if before.Target.Digest == rec.Target.Digest {
			s.status("Status: Image is up to date for " + ref.Familiar())
		} else {
			s.status("Status: Downloaded newer image for " + ref.Familiar())
		}
		e.emit(events.ImageEventType, events.ActionPull, ref.Familiar(), map[string]string{"name": ref.Familiar()})
		return nil
	})
}

// ImageList lists the images, newest first, filtered as docker filters
// them: dangling, label, reference, before, since and until.
func (e *Engine) ImageList(ctx context.Context, o ImageListOptions) ([]mimage.Summary, error) {
	groups, err := e.imageGroups(ctx)
	if err != nil {
		return nil, err
	}
	keep, err := e.imageFilter(ctx, o.Filters, groups, []string{"dangling", "label", "reference", "before", "since", "until"})
	if err != nil {
		return nil, err
	}
	out := []mimage.Summary{}
	for _, g := range groups {
		s := g.summary()
		if !keep(g, &s) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// imageFilter parses docker's image filters (only the keys allowed) into a
// predicate; the predicate may narrow the summary's names (reference
// keeps the matching tags only, as docker does).
func (e *Engine) imageFilter(ctx context.Context, f Filters, groups []*imageGroup, allowed []string) (func(*imageGroup, *mimage.Summary) bool, error) {
	for k := range f {
		if !slices.Contains(allowed, k) {
			return nil, Invalid("invalid filter '%s'", k)
		}
	}
	var preds []func(*imageGroup, *mimage.Summary) bool
	if vs := f["dangling"]; len(vs) > 0 {
		want, err := boolFilter("dangling", vs)
		if err != nil {
			return nil, err
		}
		preds = append(preds, func(g *imageGroup, _ *mimage.Summary) bool { return g.dangling() == want })
	}
	for _, key := range []string{"label", "label!"} {
		if vs := f[key]; len(vs) > 0 {
			neg := key == "label!"
			preds = append(preds, func(g *imageGroup, _ *mimage.Summary) bool {
				return matchLabels(vs, g.img.Config().Config.Labels) != neg
			})
		}
	}
	if pats := f["reference"]; len(pats) > 0 {
		for _, p := range pats {
			if _, err := path.Match(p, ""); err != nil {
				return nil, Invalid("invalid filter 'reference=%s': %v", p, err)
			}
		}
		preds = append(preds, func(g *imageGroup, s *mimage.Summary) bool {
			var tags, digests []string
			for _, r := range g.records {
				ref, ok := refOf(r)
				if !ok || !matchReference(pats, ref) {
					continue
				}
				t, d := namesOf([]image.Record{r})
				tags, digests = append(tags, t...), append(digests, d...)
			}
			if len(tags)+len(digests) == 0 {
				return false
			}
			s.RepoTags, s.RepoDigests = tags, slices.Compact(digests)
			return true
		})
	}
	for _, key := range []string{"before", "since"} {
		for _, v := range f[key] {
			var ref *imageGroup
			recs, err := e.Images.Records.Find(ctx, v)
			if err != nil {
				return nil, imageErr(err, v)
			}
			for _, g := range groups {
				if g.id == recs[0].ID().String() {
					ref = g
				}
			}
			if ref == nil {
				return nil, NotFound("No such image: %s", displayName(v))
			}
			t, before := created(ref), key == "before"
			preds = append(preds, func(g *imageGroup, _ *mimage.Summary) bool {
				if before {
					return created(g).Before(t)
				}
				return created(g).After(t)
			})
		}
	}
	for _, v := range f["until"] {
		t, err := parseTimeFilter(v, time.Now())
		if err != nil {
			return nil, Invalid("invalid filter 'until=%s': %v", v, err)
		}
		preds = append(preds, func(g *imageGroup, _ *mimage.Summary) bool { return created(g).Before(t) })
	}
	return func(g *imageGroup, s *mimage.Summary) bool {
		for _, p := range preds {
			if !p(g, s) {
				return false
			}
		}
		return true
	}, nil
}

// boolFilter reads a filter whose values must all be one boolean.
func boolFilter(key string, vs []string) (bool, error) {
	var want *bool
	for _, v := range vs {
		var b bool
		switch strings.ToLower(v) {
		case "true", "1":
			b = true
		case "false", "0":
		default:
			return false, Invalid("invalid filter '%s=%s'", key, v)
		}
		if want != nil && *want != b {
			return false, Invalid("invalid filter '%s': conflicting values", key)
		}
		want = &b
	}
	return *want, nil
}

// matchReference matches a name against docker's reference patterns: a
// pattern is matched (path.Match) against the familiar name with its tag
// and against the familiar name alone.
func matchReference(pats []string, ref image.Reference) bool {
	for _, p := range pats {
		for _, s := range []string{ref.Familiar(), ref.FamiliarName(), ref.String(), ref.Name()} {
			if ok, _ := path.Match(p, s); ok {
				return true
			}
		}
	}
	return false
}

// parseTimeFilter reads a time as docker's until/since filters take it: a
// unix time ("1700000000", "1700000000.5"), an RFC 3339 time or date, or a
// Go duration meaning that long before now.
func parseTimeFilter(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if secs, frac, ok := strings.Cut(v, "."); true {
		if s, err := strconv.ParseInt(secs, 10, 64); err == nil {
			var ns int64
			if ok {
				frac = (frac + "000000000")[:9]
				if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
					return time.Time{}, fmt.Errorf("bad fraction of a second")
				}
			}
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a unix time, date or duration")
}

// ImageInspect describes one image in docker's shape.
func (e *Engine) ImageInspect(ctx context.Context, name string) (mimage.InspectResponse, error) {
	in, err := e.Images.Inspect(ctx, name)
	if err != nil {
		return mimage.InspectResponse{}, imageErr(err, name)
	}
	img, err := e.Images.Get(ctx, name)
	if err != nil {
		return mimage.InspectResponse{}, imageErr(err, name)
	}
	out := mimage.InspectResponse{
		ID:           in.ID,
		RepoTags:     in.RepoTags,
		RepoDigests:  in.RepoDigests,
		Comment:      in.Comment,
		Created:      in.Created,
		Author:       in.Author,
		Architecture: in.Architecture,
		Variant:      in.Variant,
		Os:           in.Os,
		OsVersion:    img.Config().OSVersion,
		Size:         in.Size,
		GraphDriver:  &storage.DriverData{Name: in.GraphDriver.Name, Data: in.GraphDriver.Data},
		RootFS:       mimage.RootFS{Type: in.RootFS.Type, Layers: in.RootFS.Layers},
		Metadata:     mimage.Metadata{LastTagTime: img.Record.Created},
	}
	// Docker's Descriptor is the image's target: the index of a
	// multi-platform image (Architecture and Variant say which of its
	// platforms is here); an image with no name has its manifest.
	desc := img.Record.Manifest
	if img.Record.Named() && img.Record.Target.Digest != "" {
		desc = img.Record.Target
	}
	if desc.Digest != "" {
		out.Descriptor = &desc
	}
	// The config with docker's extensions (healthcheck, shell, onbuild).
	var full dockerspec.DockerOCIImage
	if b, err := content.ReadBlob(ctx, e.Images.Content, img.Record.Config); err == nil && json.Unmarshal(b, &full) == nil {
		cfg := full.Config
		out.Config = &cfg
	} else {
		out.Config = &dockerspec.DockerOCIImageConfig{ImageConfig: in.Config}
	}
	return out, nil
}

// ImageHistory lists the image's history, newest first; the top entry
// carries the image's ID and tags, the others "<missing>" as with a
// pulled image in docker.
func (e *Engine) ImageHistory(ctx context.Context, name string) ([]mimage.HistoryResponseItem, error) {
	img, err := e.Images.Get(ctx, name)
	if err != nil {
		return nil, imageErr(err, name)
	}
	cfg := img.Config()
	layers := img.Layers()
	var out []mimage.HistoryResponseItem
	li := 0
	for _, h := range cfg.History {
		it := mimage.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: nil}
		if h.Created != nil {
			it.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && li < len(layers) {
			it.Size = layers[li].Blob.Size
			li++
		}
		out = append(out, it)
	}
	for ; li < len(layers); li++ { // layers the history does not tell of
		out = append(out, mimage.HistoryResponseItem{ID: "<missing>", Size: layers[li].Blob.Size})
	}
	slices.Reverse(out)
	if len(out) == 0 {
		out = append(out, mimage.HistoryResponseItem{})
	}
	out[0].ID = img.ID().String()
	recs, _ := e.Images.Records.Find(ctx, img.ID().String())
	out[0].Tags, _ = namesOf(recs)
	return out, nil
}

// ImageTag gives the image source the name target.
func (e *Engine) ImageTag(ctx context.Context, source, target string) error {
	img, err := e.Images.Get(ctx, source)
	if err != nil {
		return imageErr(err, source)
	}
	ref, err := image.ParseReference(target)
	if err != nil {
		return imageErr(err, target)
	}
	if ref.Digest != "" {
		return Invalid("refusing to create a tag with a digest reference")
	}
	if ref.FamiliarName() == string(digest.Canonical) {
		return Invalid("refusing to create an ambiguous tag using digest algorithm as name")
	}
	if err := e.Images.Tag(ctx, img.ID().String(), ref.String()); err != nil {
		return imageErr(err, source)
	}
	e.emit(events.ImageEventType, events.ActionTag, img.ID().String(), map[string]string{"name": ref.Familiar()})
	return nil
}

// ImagePush pushes the image name (every tag of its repository with
// o.All), streaming docker's messages. A name that is not here fails
// before the stream starts.
func (e *Engine) ImagePush(ctx context.Context, name string, o PushRequest) (io.ReadCloser, error) {
	ref, err := image.ParseReference(name)
	if err != nil {
		return nil, imageErr(err, name)
	}
	imgs, done, err := e.withAuth(ref, o.RegistryAuth)
	if err != nil {
		return nil, err
	}
	return runStream(ctx, nil, func(ctx context.Context, s *jsonStream) error {
		defer done()
		said := false
		po := PushOptions{
			AllTags: o.All,
			Progress: func(ref image.Reference) progress.Sink {
				if !said {
					said = true
					s.status("The push refers to repository [" + ref.Name() + "]")
				}
				return s
			},
			Pushed: func(p PushedImage) {
				if p.Partial != nil {
					s.status(fmt.Sprintf("Not all multiplatform-content is present and only the available single-platform image was pushed\n%s -> %s", p.Partial.Digest, p.Digest))
				}
				s.status(fmt.Sprintf("%s: digest: %s size: %d", p.Reference.Tag, p.Digest, p.Size))
				s.aux(struct {
					Tag    string
					Digest string
					Size   int64
				}{p.Reference.Tag, p.Digest.String(), p.Size})
				e.emit(events.ImageEventType, events.ActionPush, p.Reference.Familiar(), map[string]string{"name": p.Reference.Familiar()})
			},
		}
		_, err := imgs.Push(ctx, name, po)
		return imageErr(err, name)
	})
}

// imageUsers maps image IDs to the containers made from them.
func (e *Engine) imageUsers(ctx context.Context) (map[string][]containerUse, error) {
	ctrs, err := e.containerSummaries(ctx, false)
	if err != nil {
		return nil, err
	}
	out := map[string][]containerUse{}
	for _, c := range ctrs {
		running := c.State == "running" || c.State == "paused" || c.State == "restarting"
		out[c.ImageID] = append(out[c.ImageID], containerUse{id: c.ID, running: running})
	}
	return out, nil
}

type containerUse struct {
	id      string
	running bool
}

// ImageRemove removes a name, or an image, as `docker rmi` does:
//   - by name: the name goes (and the repository's digests with its last
//     tag); the image goes with its last name, unless a container uses it
//     (then a conflict, or with force the image stays, unnamed);
//   - by ID: an image with one name (or names in one repository) loses them
//     and goes; one with names in several repositories, or used by a
//     stopped container, needs force; one a running container uses
//     cannot be removed.
func (e *Engine) ImageRemove(ctx context.Context, name string, o ImageRemoveOptions) ([]mimage.DeleteResponse, error) {
	if _, err := e.Images.Records.Find(ctx, name); err != nil {
		return nil, imageErr(err, name)
	}
	users, err := e.imageUsers(ctx)
	if err != nil {
		return nil, err
	}
	return e.imageRemove(ctx, name, o, users)
}

// imageRemove is ImageRemove with the containers that use each image.
func (e *Engine) imageRemove(ctx context.Context, name string, o ImageRemoveOptions, users map[string][]containerUse) ([]mimage.DeleteResponse, error) {
	recs, err := e.Images.Records.Find(ctx, name)
	if err == nil {
		// The build cache is no image to remove (builder prune is).
		recs = slices.DeleteFunc(recs, func(r image.Record) bool { return r.BuildCache != "" })
		if len(recs) == 0 {
			err = fmt.Errorf("%w: %s", image.ErrNotFound, name)
		}
	}
	if err != nil {
		return nil, imageErr(err, name)
	}
	id := recs[0].ID()
	uses := users[id.String()]
	short := progress.ShortID(id.String())
	var running, stopped *containerUse
	for i := range uses {
		if uses[i].running && running == nil {
			running = &uses[i]
		}
		if !uses[i].running && stopped == nil {
			stopped = &uses[i]
		}
	}
	byRef := false
	if ref, err := image.ParseReference(name); err == nil && recs[0].Name == ref.String() {
		byRef = true
	}
	var out []mimage.DeleteResponse
	var untagged []string
	deleteImage := false
	err = e.Images.Records.Update(ctx, func(m map[string]image.Record) error {
		out, untagged, deleteImage = nil, nil, false
		var named []image.Record
		for _, r := range m {
			if r.ID() == id && r.Named() {
				named = append(named, r)
			}
		}
		slices.SortFunc(named, func(a, b image.Record) int { return strings.Compare(a.Name, b.Name) })
		untag := func(r image.Record, includeDigest bool) {
			delete(m, r.Name)
			ref, _ := refOf(r)
			out = append(out, mimage.DeleteResponse{Untagged: ref.Familiar()})
			untagged = append(untagged, ref.Familiar())
			if includeDigest && ref.Digest == "" {
				d := ref.FamiliarName() + "@" + r.Target.Digest.String()
				out = append(out, mimage.DeleteResponse{Untagged: d})
				untagged = append(untagged, d)
			}
		}
		if byRef {
			if !o.Force && len(uses) > 0 && singleReference(named) {
				u := uses[0]
				if running != nil {
					u = *running
				}
				return Conflict("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
					name, progress.ShortID(u.id), short)
			}
			target := recs[0]
			ref, _ := refOf(target)
			// The repository's digest goes with its last tag.
			lastInRepo := true
			for _, r := range named {
				if r2, ok := refOf(r); ok && r.Name != target.Name && r2.Name() == ref.Name() {
					lastInRepo = false
				}
			}
			untag(target, lastInRepo)
			if len(named) > 1 {
				return nil
			}
			// The image lost its last name: it goes unless a container
			// holds it, which keeps it, unnamed.
			if running != nil {
				keep := target
				keep.Name = id.String()
				m[keep.Name] = keep
				return nil
			}
		} else {
			if running != nil {
				return Conflict("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", short, progress.ShortID(running.id))
			}
			if !o.Force && !singleReference(named) {
				return Conflict("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", short)
			}
			if !o.Force && stopped != nil {
				return Conflict("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", short, progress.ShortID(stopped.id))
			}
			for _, r := range named {
				ref, _ := refOf(r)
				lastInRepo := !slices.ContainsFunc(out, func(d mimage.DeleteResponse) bool {
					return strings.HasPrefix(d.Untagged, ref.FamiliarName()+"@")
				})
				untag(r, lastInRepo)
			}
		}
		delete(m, id.String())
		deleteImage = true
		return nil
	})
	if err != nil {
		return nil, imageErr(err, name)
	}
	for range untagged {
		e.emit(events.ImageEventType, events.ActionUnTag, id.String(), map[string]string{"name": id.String()})
	}
	if deleteImage {
		deleted, err := e.collectImages(ctx, [][]string{chainOf(ctx, e.Images, recs[0])})
		out = append(out, mimage.DeleteResponse{Deleted: id.String()})
		for _, d := range deleted {
			out = append(out, mimage.DeleteResponse{Deleted: d})
		}
		e.emit(events.ImageEventType, events.ActionDelete, id.String(), map[string]string{"name": id.String()})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// singleReference: at most one tag, and all names in one repository (a
// tag and its repository's digest), as docker's isSingleReference.
func singleReference(named []image.Record) bool {
	repos := map[string]bool{}
	tags := 0
	for _, r := range named {
		ref, ok := refOf(r)
		if !ok {
			continue
		}
		repos[ref.Name()] = true
		if ref.Digest == "" {
			tags++
		}
	}
	return len(repos) <= 1 && tags <= 1
}

// chainOf lists the chain IDs of a record's layers, bottom up.
func chainOf(ctx context.Context, s *Images, rec image.Record) []string {
	img, err := image.Load(ctx, s.Content, rec)
	if err != nil {
		return nil
	}
	layers := img.Layers()
	out := make([]string, len(layers))
	for i := range layers {
		out[i] = image.ChainID(layers[:i+1]).String()
	}
	return out
}

// collectImages frees what no image or container uses any more and returns
// the layer snapshots of chains that went, topmost first, as docker lists
// its deleted layers.
func (e *Engine) collectImages(ctx context.Context, chains [][]string) ([]string, error) {
	out, _, err := e.collectChains(ctx, e.chainsHad(ctx, chains))
	return out, err
}

// chainsHad lists the snapshots of chains that exist, topmost first.
func (e *Engine) chainsHad(ctx context.Context, chains [][]string) []string {
	var had []string // topmost first
	seen := map[string]bool{}
	for _, chain := range chains {
		for i := len(chain) - 1; i >= 0; i-- {
			ch := chain[i]
			if seen[ch] {
				continue
			}
			seen[ch] = true
			if _, err := e.Images.Snapshots.Stat(ctx, ch); err == nil {
				had = append(had, ch)
			}
		}
	}
	return had
}

// collectChains runs the store's garbage collection and says which of the
// snapshots in had (chain IDs) it removed, and what else it took.
func (e *Engine) collectChains(ctx context.Context, had []string) ([]string, image.Collected, error) {
	col, err := e.Images.collect(context.WithoutCancel(ctx))
	var out []string
	for _, ch := range had {
		if _, serr := e.Images.Snapshots.Stat(ctx, ch); errors.Is(serr, snapshot.ErrNotFound) {
			out = append(out, ch)
		}
	}
	return out, col, err
}

// ImagesPrune removes the dangling images no container uses (every such
// image with dangling=false), filtered by until and label.
func (e *Engine) ImagesPrune(ctx context.Context, f Filters) (mimage.PruneReport, error) {
	users, err := e.imageUsers(ctx)
	if err != nil {
		return mimage.PruneReport{}, err
	}
	return e.imagesPrune(ctx, f, users)
}

// imagesPrune is ImagesPrune with the containers that use each image.
func (e *Engine) imagesPrune(ctx context.Context, f Filters, users map[string][]containerUse) (mimage.PruneReport, error) {
	groups, err := e.imageGroups(ctx)
	if err != nil {
		return mimage.PruneReport{}, err
	}
	onlyDangling := true
	if vs := f["dangling"]; len(vs) > 0 {
		if onlyDangling, err = boolFilter("dangling", vs); err != nil {
			return mimage.PruneReport{}, err
		}
	}
	g := maps.Clone(f)
	delete(g, "dangling")
	keep, err := e.imageFilter(ctx, g, groups, []string{"until", "label", "label!"})
	if err != nil {
		return mimage.PruneReport{}, err
	}
	sizes := e.layerSizes(ctx, groups)
	var victims []*imageGroup
	for _, g := range groups {
		s := g.summary()
		if (onlyDangling && !g.dangling()) || len(users[g.id]) > 0 || !keep(g, &s) {
			continue
		}
		victims = append(victims, g)
	}
	rep := mimage.PruneReport{ImagesDeleted: []mimage.DeleteResponse{}}
	// First what no image names (a failed pull's manifest and config, an
	// interrupted unpack), listed blob by blob as the store's prune did.
	orphans, err := e.Images.collect(context.WithoutCancel(ctx))
	if err != nil {
		return rep, err
	}
	for _, d := range orphans.Digests {
		rep.ImagesDeleted = append(rep.ImagesDeleted, mimage.DeleteResponse{Deleted: d.String()})
	}
	rep.SpaceReclaimed += uint64(orphans.Bytes)
	gone := map[string]bool{}
	if len(victims) > 0 {
		err = e.Images.Records.Update(ctx, func(m map[string]image.Record) error {
			for _, v := range victims {
				for _, r := range v.records {
					delete(m, r.Name)
				}
				gone[v.id] = true
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	before := e.blobBytes(ctx)
	var chains [][]string
	for _, v := range victims {
		chains = append(chains, v.chain)
	}
	deleted, cerr := e.collectImages(ctx, chains)
	for _, v := range victims {
		for _, t := range v.tags {
			rep.ImagesDeleted = append(rep.ImagesDeleted, mimage.DeleteResponse{Untagged: t})
		}
		for _, d := range v.digests {
			rep.ImagesDeleted = append(rep.ImagesDeleted, mimage.DeleteResponse{Untagged: d})
		}
		rep.ImagesDeleted = append(rep.ImagesDeleted, mimage.DeleteResponse{Deleted: v.id})
		e.emit(events.ImageEventType, events.ActionDelete, v.id, map[string]string{"name": v.id})
	}
	for _, d := range deleted {
		rep.ImagesDeleted = append(rep.ImagesDeleted, mimage.DeleteResponse{Deleted: d})
		rep.SpaceReclaimed += uint64(sizes[d])
	}
	if after := e.blobBytes(ctx); after < before {
		rep.SpaceReclaimed += uint64(before - after)
	}
	e.emit(events.ImageEventType, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	return rep, cerr
}

// blobBytes is the size of every blob in the content store.
func (e *Engine) blobBytes(ctx context.Context) int64 {
	var n int64
	e.Images.Content.Walk(ctx, func(i content.Info) error {
		n += i.Size
		return nil
	})
	return n
}

// ImageSave streams a docker-archive of the images. Names that are not
// here fail before the stream starts.
func (e *Engine) ImageSave(ctx context.Context, names []string) (io.ReadCloser, error) {
	if len(names) == 0 {
		return nil, Invalid("no images given to save")
	}
	imgs, err := e.Images.named(ctx, names)
	if err != nil {
		name := names[0]
		for _, n := range names {
			if _, ferr := e.Images.Records.Find(ctx, n); ferr != nil {
				name = n
				break
			}
		}
		return nil, imageErr(err, name)
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		err := image.Save(ctx, e.Images.Content, pw, imgs)
		pw.CloseWithError(err)
		if err == nil {
			for _, img := range imgs {
				e.emit(events.ImageEventType, events.ActionSave, img.Manifest.Digest.String(), nil)
			}
		}
	}()
	return &streamReader{PipeReader: pr, cancel: cancel}, nil
}

// ImageLoad loads a docker-archive or OCI archive and streams what it
// loaded ("Loaded image: busybox:latest", or "Loaded image ID: sha256:..."
// for an image without a name); a failure is the stream's last line, as
// dockerd reports it.
func (e *Engine) ImageLoad(ctx context.Context, tar io.Reader, quiet bool) (io.ReadCloser, error) {
	recs, lerr := e.Images.Load(ctx, tar, "", ocispec.Platform{})
	pr, pw := io.Pipe()
	s := newJSONStream(pw)
	go func() {
		defer pw.Close()
		if lerr != nil {
			s.fail(imageErr(lerr, ""))
			return
		}
		for _, r := range recs {
			if ref, ok := refOf(r); ok {
				s.stream("Loaded image: " + ref.Familiar() + "\n")
				e.emit(events.ImageEventType, events.ActionLoad, r.ID().String(), map[string]string{"name": ref.Familiar()})
			} else {
				s.stream("Loaded image ID: " + r.ID().String() + "\n")
				e.emit(events.ImageEventType, events.ActionLoad, r.ID().String(), map[string]string{"name": r.ID().String()})
			}
		}
	}()
	return pr, nil
}

// ImageSearch searches a registry (Docker Hub unless the term names
// another) for repositories.
func (e *Engine) ImageSearch(ctx context.Context, term string, o SearchRequest) ([]mregistry.SearchResult, error) {
	var filters []string
	for _, k := range slices.Sorted(maps.Keys(o.Filters)) {
		for _, v := range o.Filters[k] {
			filters = append(filters, k+"="+v)
		}
	}
	imgs := e.Images
	if host, _ := SplitSearchTerm(term); o.RegistryAuth != "" {
		s, done, err := e.withAuth(image.Reference{Domain: host}, o.RegistryAuth)
		if err != nil {
			return nil, err
		}
		defer done()
		imgs = s
	}
	res, err := imgs.Search(ctx, term, SearchOptions{Limit: o.Limit, Filters: filters})
	if err != nil {
		return nil, imageErr(err, term)
	}
	out := make([]mregistry.SearchResult, 0, len(res))
	for _, r := range res {
		out = append(out, mregistry.SearchResult{
			Name: r.Name, Description: r.Description, StarCount: r.StarCount,
			IsOfficial: r.IsOfficial, IsAutomated: r.IsAutomated,
		})
	}
	return out, nil
}

// withAuth returns the image service to use for a registry operation on
// ref: e.Images, or, when the request carries credentials (docker's
// X-Registry-Auth, base64url JSON), a copy of it whose registry client
// uses them (and nothing of the daemon's own docker config). done removes
// what that took.
func (e *Engine) withAuth(ref image.Reference, registryAuth string) (s *Images, done func(), err error) {
	if registryAuth == "" {
		return e.Images, func() {}, nil
	}
	ac, err := authconfig.Decode(registryAuth)
	if err != nil {
		return nil, nil, Invalid("invalid X-Registry-Auth header: %v", err)
	}
	if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" {
		return e.Images, func() {}, nil
	}
	entry := map[string]string{"identitytoken": ac.IdentityToken}
	switch {
	case ac.Auth != "":
		entry["auth"] = ac.Auth
	case ac.Username != "" || ac.Password != "":
		entry["auth"] = base64.StdEncoding.EncodeToString([]byte(ac.Username + ":" + ac.Password))
	}
	server := ref.RegistryHost()
	if ref.Domain == image.DefaultDomain {
		server = "https://index.docker.io/v1/"
	}
	b, err := json.Marshal(map[string]any{"auths": map[string]any{server: entry}})
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "berth-auth-")
	if err != nil {
		return nil, nil, fmt.Errorf("registry credentials of the request: %w", err)
	}
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("registry credentials of the request: %w", err)
	}
	opts := append(slices.Clone(e.opts.Images.Registry), registry.WithDockerConfig(cfg))
	c := *e.Images
	c.Registry = registry.NewClient(opts...)
	return &c, func() { os.RemoveAll(dir) }, nil
}
