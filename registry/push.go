package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/internal/progress"
)

// PushOptions tune Push.
type PushOptions struct {
	// Concurrency is how many blobs upload at once (default 3, as docker).
	Concurrency int
	// MountFrom, when set, names repositories on the same registry that
	// may hold blob d already: Push asks the registry to mount it from
	// them (up to 3, in order) before uploading it.
	MountFrom func(d digest.Digest) []string
	// Progress receives per-layer status, with ids of 12 hex digits:
	// "Preparing", "Waiting", "Pushing" (with bytes), "Pushed",
	// "Layer already exists", "Mounted from REPO", "Retrying in N
	// seconds". Configs and manifests go up without a line, as docker's.
	Progress progress.Sink
}

// PushResult is what Push sent. The counts are of blobs (configs and
// layers), manifests left out.
type PushResult struct {
	// Digest, Size and MediaType describe the root manifest or index.
	Digest    digest.Digest
	Size      int64
	MediaType string
	// Pushed blobs were uploaded, Mounted ones mounted from another
	// repository, Skipped ones were in the repository already.
	Pushed, Mounted, Skipped int
}

// Push sends the image under root, an image manifest or an index with
// every manifest it lists, from store to repo on host, and names it tag;
// an empty tag pushes it by digest alone.
//
// Every blob, manifest and index of the tree must be in store: Push
// checks that before it sends anything, so a missing piece names its
// digest and leaves the registry untouched (MissingContent tells a caller
// beforehand). Layers of non-distributable media types are left out, as
// docker leaves foreign layers out.
//
// Blobs go first, several at once: one the repository has is skipped,
// one that o.MountFrom places in another repository of the registry is
// mounted from there, the others are uploaded whole (a POST, then one PUT
// with the body). Then the manifests an index lists, by digest, and last
// the root by tag: the tag never names an image the registry does not
// have whole. Transient failures (network, 5xx, 429) are retried.
func Push(ctx context.Context, c *Client, store content.Store, host, repo, tag string, root ocispec.Descriptor, o PushOptions) (PushResult, error) {
	name := familiarName(host, repo)
	if tag != "" {
		name += ":" + tag
	} else {
		name += "@" + root.Digest.String()
	}
	if err := checkRepo(host, repo); err != nil {
		return PushResult{}, fmt.Errorf("push %s: %w", name, err)
	}
	if tag != "" && !tagRE.MatchString(tag) {
		return PushResult{}, fmt.Errorf("push %s: bad tag %q: %w", name, tag, ErrInvalid)
	}
	t, err := readTree(ctx, store, root)
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: %w", name, err)
	}
	if len(t.missing) > 0 {
		m := t.missing[0]
		more := ""
		if n := len(t.missing) - 1; n > 0 {
			more = fmt.Sprintf(" (and %d more)", n)
		}
		return PushResult{}, fmt.Errorf("push %s: %s %s%s is not in the local content store: %w", name, kindOf(m), m.Digest, more, ErrNotFound)
	}

	fail := func(err error) (PushResult, error) {
		// A refusal reads as docker's, whichever request met it.
		var d *deniedResponse
		if errors.As(err, &d) {
			err = d
		}
		return PushResult{}, fmt.Errorf("push %s: %w", name, err)
	}
	p := &pusher{c: c, store: store, host: host, repo: repo, o: o}
	if p.o.Progress == nil {
		p.o.Progress = progress.Discard
	}
	if p.o.Concurrency <= 0 {
		p.o.Concurrency = 3
	}
	if err := p.blobs(ctx, t.blobs); err != nil {
		return fail(err)
	}
	// The manifests of an index before the index: a registry checks that
	// what a manifest refers to is there.
	for _, m := range t.manifests[:len(t.manifests)-1] {
		if err := p.retry(ctx, "", func() error { return p.manifest(ctx, m, "") }); err != nil {
			return fail(err)
		}
	}
	top := t.manifests[len(t.manifests)-1]
	if err := p.retry(ctx, "", func() error { return p.manifest(ctx, top, tag) }); err != nil {
		return fail(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return PushResult{
		Digest: top.desc.Digest, Size: top.desc.Size, MediaType: top.desc.MediaType,
		Pushed: p.pushed, Mounted: p.mounted, Skipped: p.skipped,
	}, nil
}

// MissingContent lists what of the tree under root (an image manifest or
// an index) store does not have: blobs, and manifests (whose own blobs
// are then unknown). Non-distributable layers are not looked for.
func MissingContent(ctx context.Context, store content.Store, root ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	t, err := readTree(ctx, store, root)
	if err != nil {
		return nil, err
	}
	return t.missing, nil
}

// kindOf names what a descriptor of a tree is, for messages.
func kindOf(d ocispec.Descriptor) string {
	switch {
	case isIndex(d.MediaType):
		return "index"
	case isManifest(d.MediaType):
		return "manifest"
	case isConfig(d.MediaType):
		return "config"
	case isLayer(d.MediaType):
		return "layer"
	}
	return "blob"
}

// tree is what a push sends: its blobs (once each) and its manifests,
// every manifest after those it lists, the root last.
type tree struct {
	blobs     []treeBlob
	manifests []treeManifest
	missing   []ocispec.Descriptor
}

type treeBlob struct {
	desc  ocispec.Descriptor
	layer bool // shown in the progress
}

type treeManifest struct {
	desc ocispec.Descriptor
	body []byte
}

// readTree reads the manifests under root from store and lists what to push.
func readTree(ctx context.Context, store content.Store, root ocispec.Descriptor) (*tree, error) {
	t := &tree{}
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor, depth int) error
	walk = func(d ocispec.Descriptor, depth int) error {
		if err := checkDigest(d.Digest); err != nil {
			return err
		}
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		if depth > 4 {
			return fmt.Errorf("index %s: indexes nested too deep: %w", d.Digest, ErrInvalid)
		}
		body, err := content.ReadBlob(ctx, store, d)
		if errors.Is(err, content.ErrNotFound) {
			t.missing = append(t.missing, d)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s %s: %w", kindOf(d), d.Digest, err)
		}
		if got := d.Digest.Algorithm().FromBytes(body); got != d.Digest {
			return fmt.Errorf("%s %s in the local store hashes to %s: %w", kindOf(d), d.Digest, got, ErrInvalid)
		}
		mt, err := manifestMediaType(d.MediaType, body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", kindOf(d), d.Digest, err)
		}
		d = ocispec.Descriptor{MediaType: mt, Digest: d.Digest, Size: int64(len(body))}
		if isIndex(mt) {
			var idx ocispec.Index
			if err := json.Unmarshal(body, &idx); err != nil {
				return fmt.Errorf("index %s: %w: %v", d.Digest, ErrInvalid, err)
			}
			for _, m := range idx.Manifests {
				if !isIndex(m.MediaType) && !isManifest(m.MediaType) {
					return fmt.Errorf("index %s lists %s of media type %q: %w", d.Digest, m.Digest, m.MediaType, ErrUnsupported)
				}
				if err := walk(m, depth+1); err != nil {
					return err
				}
			}
		} else {
			var m ocispec.Manifest
			if err := json.Unmarshal(body, &m); err != nil {
				return fmt.Errorf("manifest %s: %w: %v", d.Digest, ErrInvalid, err)
			}
			if err := t.addBlob(ctx, store, seen, m.Config, false); err != nil {
				return err
			}
			for _, l := range m.Layers {
				if nonDistributable(l.MediaType) {
					continue
				}
				if err := t.addBlob(ctx, store, seen, l, true); err != nil {
					return err
				}
			}
		}
		t.manifests = append(t.manifests, treeManifest{desc: d, body: body})
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tree) addBlob(ctx context.Context, store content.Store, seen map[digest.Digest]bool, d ocispec.Descriptor, layer bool) error {
	if err := checkDigest(d.Digest); err != nil {
		return err
	}
	if seen[d.Digest] {
		return nil
	}
	seen[d.Digest] = true
	info, err := store.Info(ctx, d.Digest)
	switch {
	case errors.Is(err, content.ErrNotFound):
		t.missing = append(t.missing, d)
		return nil
	case err != nil:
		return fmt.Errorf("%s %s: %w", kindOf(d), d.Digest, err)
	case d.Size > 0 && info.Size != d.Size:
		return fmt.Errorf("%s %s is %d bytes in the local store, the manifest says %d: %w", kindOf(d), d.Digest, info.Size, d.Size, ErrInvalid)
	}
	d.Size = info.Size
	t.blobs = append(t.blobs, treeBlob{desc: d, layer: layer})
	return nil
}

// nonDistributable reports whether layers of mediaType stay out of pushes.
func nonDistributable(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip,
		ocispec.MediaTypeImageLayerNonDistributableZstd, mediaTypeDockerForeignLayer:
		return true
	}
	return false
}

// pusher sends the blobs and manifests of one Push.
type pusher struct {
	c     *Client
	store content.Store
	host  string
	repo  string
	o     PushOptions

	mu                       sync.Mutex
	pushed, mounted, skipped int
}

// scopes are the token scopes of the push's requests: one token serves
// them all.
func (p *pusher) scopes() []string {
	return []string{"repository:" + p.repo + ":pull,push"}
}

// blobs sends every blob, o.Concurrency at a time; the first failure
// cancels the rest.
func (p *pusher) blobs(ctx context.Context, blobs []treeBlob) error {
	n := 0
	for _, b := range blobs {
		if b.layer {
			p.o.Progress.Update(progress.ShortID(b.desc.Digest.String()), "Preparing", 0, 0)
		}
	}
	for _, b := range blobs {
		if b.layer {
			if n >= p.o.Concurrency {
				p.o.Progress.Update(progress.ShortID(b.desc.Digest.String()), "Waiting", 0, 0)
			}
			n++
		}
	}
	return forEach(ctx, p.o.Concurrency, blobs, p.blob)
}

// blob sends one blob, retrying transient failures.
func (p *pusher) blob(ctx context.Context, b treeBlob) error {
	sink := progress.Discard
	id := progress.ShortID(b.desc.Digest.String())
	if b.layer {
		sink = p.o.Progress
	}
	var done string
	err := p.retry(ctx, id, func() error {
		var err error
		done, err = p.sendBlob(ctx, b.desc, id, sink)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", kindOf(b.desc), b.desc.Digest, err)
	}
	sink.Update(id, done, 0, 0)
	return nil
}

// retry runs fn until it succeeds, fails for good, or has failed
// maxRetries+1 times; id, when set, is the progress line to tell.
func (p *pusher) retry(ctx context.Context, id string, fn func() error) error {
	delay := retryDelay
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if !pushRetryable(err) {
			return err
		}
		if attempt >= maxRetries {
			return fmt.Errorf("%w (gave up after %d retries)", err, attempt)
		}
		p.c.logf("registry: push to %s/%s: %v; retry %d in %v", p.host, p.repo, err, attempt+1, delay)
		if id != "" {
			p.o.Progress.Update(id, fmt.Sprintf("Retrying in %d second%s", int(delay.Round(time.Second)/time.Second), plural(delay)), 0, 0)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// localError is a failure to read the local store, which sending again
// does not mend.
type localError struct{ err error }

func (e *localError) Error() string { return "read from the local content store: " + e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

func pushRetryable(err error) bool {
	var le *localError
	if errors.As(err, &le) {
		return false
	}
	return retryable(err)
}

func (p *pusher) count(n *int) {
	p.mu.Lock()
	*n++
	p.mu.Unlock()
}
