package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/progress"
	"github.com/berth-project/berth/registry"
)

// PushOptions tune Push.
type PushOptions struct {
	// AllTags pushes every tag of the repository; the name must not
	// have a tag then.
	AllTags bool
	// Concurrency is how many blobs upload at once (default 3).
	Concurrency int
	// Progress, when set, is asked for the sink of each tag's push as
	// that push starts (nil from it: quiet).
	Progress func(ref image.Reference) progress.Sink
	// Pushed, when set, is called after each tag is pushed.
	Pushed func(PushedImage)
}

// PushedImage is one tag Push sent.
type PushedImage struct {
	// Reference is the name pushed, with its tag.
	Reference image.Reference
	registry.PushResult
	// Partial is the index the name points to when only its manifest
	// for this host's platform is here (a pull keeps only that one):
	// that manifest went up in its place, as docker does.
	Partial *ocispec.Descriptor
}

// dockerError is an error whose text is docker's word for word, wrapping a
// sentinel for the API's status mapping.
type dockerError struct {
	msg  string
	kind error
}

func (e *dockerError) Error() string { return e.msg }
func (e *dockerError) Unwrap() error { return e.kind }

// Push sends the image name names to its registry, by docker's rules:
// NAME alone is NAME:latest; with o.AllTags every tag of the repository
// goes, one after the other. A name that is not here fails with docker's
// "An image does not exist locally with the tag: NAME".
//
// What goes up is what the name points to: an index with all its
// platforms when they are all here, else (after a pull, which keeps only
// this platform's manifest) that manifest alone, as docker with the
// containerd store does. Blobs that other images here hold under another
// repository of the same registry are offered to the registry as
// cross-repository mounts from there, so a retagged image is not sent
// again. Nothing local changes.
func (s *Images) Push(ctx context.Context, name string, o PushOptions) ([]PushedImage, error) {
	ref, err := image.ParseReference(name)
	if err != nil {
		return nil, err
	}
	if ref.Digest != "" {
		return nil, &dockerError{"cannot push a digest reference", registry.ErrInvalid}
	}
	if o.AllTags && hasTag(name) {
		return nil, &dockerError{"tag can't be used with --all-tags/-a", registry.ErrInvalid}
	}
	unlock, err := s.Records.Lock(ctx, false) // no collection under the push
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := s.Records.List(ctx)
	if err != nil {
		return nil, err
	}
	var tags []image.Record
	for _, rec := range all {
		if r, ok := refOf(rec); ok && r.Name() == ref.Name() && r.Tag != "" && r.Digest == "" {
			if o.AllTags || r.Tag == ref.Tag {
				tags = append(tags, rec)
			}
		}
	}
	if len(tags) == 0 {
		if !o.AllTags && slices.ContainsFunc(all, func(rec image.Record) bool {
			r, ok := refOf(rec)
			return ok && r.Name() == ref.Name()
		}) {
			return nil, &dockerError{"tag does not exist: " + ref.Familiar(), image.ErrNotFound}
		}
		return nil, &dockerError{"An image does not exist locally with the tag: " + ref.FamiliarName(), image.ErrNotFound}
	}
	sources := mountSources(ctx, s.Content, all, ref)
	var out []PushedImage
	for _, rec := range tags {
		r, _ := refOf(rec)
		root := rec.Target
		var partial *ocispec.Descriptor
		if rec.Target.Digest != rec.Manifest.Digest {
			missing, err := registry.MissingContent(ctx, s.Content, rec.Target)
			if err != nil {
				return out, fmt.Errorf("push %s: %w", r.Familiar(), err)
			}
			if len(missing) > 0 {
				t := rec.Target
				partial, root = &t, rec.Manifest
			}
		}
		ro := registry.PushOptions{
			Concurrency: o.Concurrency,
			MountFrom:   func(d digest.Digest) []string { return sources[d] },
		}
		if o.Progress != nil {
			ro.Progress = o.Progress(r)
		}
		res, err := registry.Push(ctx, s.Registry, s.Content, r.RegistryHost(), r.Path, r.Tag, root, ro)
		if err != nil {
			return out, err
		}
		p := PushedImage{Reference: r, PushResult: res, Partial: partial}
		out = append(out, p)
		if o.Pushed != nil {
			o.Pushed(p)
		}
	}
	return out, nil
}

// refOf is the reference of a record that has a name.
func refOf(rec image.Record) (image.Reference, bool) {
	if !rec.Named() {
		return image.Reference{}, false
	}
	r, err := image.ParseReference(rec.Name)
	return r, err == nil
}

// hasTag reports whether a name as typed has a tag ("host:5000/app" has
// none: that colon is the port's).
func hasTag(name string) bool {
	last := name[strings.LastIndexByte(name, '/')+1:]
	last, _, _ = strings.Cut(last, "@")
	return strings.Contains(last, ":")
}

// mountSources maps each blob of the images here that live in another
// repository of ref's registry to those repositories: where the registry
// may already have it, to mount it from instead of uploading it.
func mountSources(ctx context.Context, cs content.Store, recs []image.Record, ref image.Reference) map[digest.Digest][]string {
	out := map[digest.Digest][]string{}
	add := func(d digest.Digest, repo string) {
		if !slices.Contains(out[d], repo) {
			out[d] = append(out[d], repo)
		}
	}
	for _, rec := range recs {
		r, ok := refOf(rec)
		if !ok || r.RegistryHost() != ref.RegistryHost() || r.Path == ref.Path {
			continue
		}
		m, _, err := image.ReadManifest(ctx, cs, rec.Manifest)
		if err != nil {
			continue // an image whose content is not all here offers nothing
		}
		add(m.Config.Digest, r.Path)
		for _, l := range m.Layers {
			add(l.Digest, r.Path)
		}
	}
	return out
}
