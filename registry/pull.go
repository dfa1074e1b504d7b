package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/internal/progress"
)

// PullOptions tune Pull.
type PullOptions struct {
	// SelectManifest picks the image of an index (a multi-platform
	// image). Required when the reference names an index.
	SelectManifest func(ocispec.Index) (ocispec.Descriptor, error)
	// Concurrency is how many layers download at once (default 3, as docker).
	Concurrency int
	// LayerDone, when set, is called (from any goroutine) as soon as layer
	// i of the manifest is in the store, whether downloaded or already
	// there, so the caller can unpack layer 0 while others download.
	LayerDone func(i int, desc ocispec.Descriptor)
	// OnManifest, when set, is called once the index, manifest and config
	// are verified and stored, before any layer downloads, with what is
	// known so far: the caller learns the layers' diff IDs in time to
	// unpack while they download.
	OnManifest func(*PullResult)
	// Progress receives per-layer status, with ids of 12 hex digits.
	Progress progress.Sink
}

// PullResult is what Pull stored.
type PullResult struct {
	Index        *ocispec.Descriptor // nil when the reference named a manifest
	Manifest     ocispec.Descriptor
	ManifestBody ocispec.Manifest
	Config       ocispec.Descriptor
	ConfigBody   ocispec.Image
	Layers       []ocispec.Descriptor
}

// Pull retries of a broken layer download, and the first wait between
// them (doubling up to maxRetryDelay).
const maxRetries = 5

var (
	retryDelay    = time.Second
	maxRetryDelay = 10 * time.Second
)

// Pull fetches the image that reference (tag or digest) names in repo on
// host into store: the index (if any), the manifest that
// o.SelectManifest picks from it, the config and the layers that store
// does not have yet, several at once. Every blob is verified: content
// commits nothing whose size or digest is wrong. An interrupted layer
// download resumes where it stopped, within this pull (up to 5 retries)
// and in a later one (from what the store kept of it).
//
// The index, manifest and config are stored before the layers, so a pull
// that fails may leave them behind, with the partial layers that a later
// pull resumes; the caller records an image only when Pull succeeds.
func Pull(ctx context.Context, c *Client, store content.Store, host, repo, reference string, o PullOptions) (*PullResult, error) {
	name := familiarName(host, repo) + refSuffix(reference)
	top, body, err := c.Resolve(ctx, host, repo, reference)
	if err != nil {
		return nil, err
	}
	res := &PullResult{}
	var indexBody []byte
	mdesc, mbody := top, body
	if isIndex(top.MediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return nil, fmt.Errorf("pull %s: index: %w: %v", name, ErrInvalid, err)
		}
		if o.SelectManifest == nil {
			return nil, fmt.Errorf("pull %s: it is a multi-platform index and no platform selector was given", name)
		}
		sel, err := o.SelectManifest(idx)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", name, err)
		}
		if !isManifest(sel.MediaType) {
			return nil, fmt.Errorf("pull %s: the index entry %s is %q, not an image manifest: %w", name, sel.Digest, sel.MediaType, ErrUnsupported)
		}
		if err := checkDigest(sel.Digest); err != nil {
			return nil, fmt.Errorf("pull %s: index entry: %w", name, err)
		}
		mdesc, mbody, err = c.Resolve(ctx, host, repo, sel.Digest.String())
		if err != nil {
			return nil, err
		}
		if sel.Size > 0 && mdesc.Size != sel.Size {
			return nil, fmt.Errorf("pull %s: manifest %s is %d bytes, the index says %d: %w", name, sel.Digest, mdesc.Size, sel.Size, ErrInvalid)
		}
		if mdesc.MediaType != sel.MediaType {
			return nil, fmt.Errorf("pull %s: manifest %s is %s, the index says %s: %w", name, sel.Digest, mdesc.MediaType, sel.MediaType, ErrInvalid)
		}
		mdesc.Platform, mdesc.Annotations = sel.Platform, sel.Annotations
		t := top
		res.Index, indexBody = &t, body
	} else if !isManifest(top.MediaType) {
		return nil, fmt.Errorf("pull %s: %q is not an image: %w", name, top.MediaType, ErrUnsupported)
	}
	res.Manifest = mdesc
	if err := json.Unmarshal(mbody, &res.ManifestBody); err != nil {
		return nil, fmt.Errorf("pull %s: manifest: %w: %v", name, ErrInvalid, err)
	}
	m := &res.ManifestBody
	if err := checkManifest(m); err != nil {
		return nil, fmt.Errorf("pull %s: manifest %s: %w", name, mdesc.Digest, err)
	}
	res.Config, res.Layers = m.Config, m.Layers

	cbody, err := c.fetchSmallBlob(ctx, host, repo, m.Config)
	if err != nil {
		return nil, fmt.Errorf("pull %s: config: %w", name, err)
	}
	if err := json.Unmarshal(cbody, &res.ConfigBody); err != nil {
		return nil, fmt.Errorf("pull %s: config %s: %w: %v", name, m.Config.Digest, ErrInvalid, err)
	}
	if n := len(res.ConfigBody.RootFS.DiffIDs); n != len(m.Layers) {
		return nil, fmt.Errorf("pull %s: the manifest has %d layers, the config %d diff_ids: %w", name, len(m.Layers), n, ErrInvalid)
	}

	if res.Index != nil {
		if err := content.WriteBlob(ctx, store, bytes.NewReader(indexBody), *res.Index); err != nil {
			return nil, fmt.Errorf("pull %s: store index: %w", name, err)
		}
	}
	if err := content.WriteBlob(ctx, store, bytes.NewReader(mbody), ocispec.Descriptor{MediaType: mdesc.MediaType, Digest: mdesc.Digest, Size: mdesc.Size}); err != nil {
		return nil, fmt.Errorf("pull %s: store manifest: %w", name, err)
	}
	if err := content.WriteBlob(ctx, store, bytes.NewReader(cbody), m.Config); err != nil {
		return nil, fmt.Errorf("pull %s: store config: %w", name, err)
	}

	if o.OnManifest != nil {
		known := *res
		o.OnManifest(&known)
	}
	p := &puller{c: c, store: store, host: host, repo: repo, o: o}
	if p.o.Progress == nil {
		p.o.Progress = progress.Discard
	}
	if p.o.Concurrency <= 0 {
		p.o.Concurrency = 3
	}
	if err := p.layers(ctx, m.Layers); err != nil {
		return nil, fmt.Errorf("pull %s: %w", name, err)
	}
	return res, nil
}

func refSuffix(reference string) string {
	if _, err := digest.Parse(reference); err == nil {
		return "@" + reference
	}
	return ":" + reference
}

// checkManifest checks what Pull relies on before it downloads anything.
func checkManifest(m *ocispec.Manifest) error {
	if m.SchemaVersion != 2 {
		return fmt.Errorf("schemaVersion %d: %w", m.SchemaVersion, ErrUnsupported)
	}
	if !isConfig(m.Config.MediaType) {
		return fmt.Errorf("config media type %q is not a container image config (an artifact?): %w", m.Config.MediaType, ErrUnsupported)
	}
	if err := checkDigest(m.Config.Digest); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if m.Config.Size <= 0 || m.Config.Size > content.MaxInline {
		return fmt.Errorf("config size %d is out of range: %w", m.Config.Size, ErrInvalid)
	}
	for i, l := range m.Layers {
		if !isLayer(l.MediaType) {
			return fmt.Errorf("layer %d: unsupported layer media type %q: %w", i, l.MediaType, ErrUnsupported)
		}
		if err := checkDigest(l.Digest); err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		if l.Size <= 0 {
			return fmt.Errorf("layer %d (%s): size %d: %w", i, l.Digest, l.Size, ErrInvalid)
		}
	}
	return nil
}

// fetchSmallBlob reads a whole blob of at most content.MaxInline bytes and
// checks its size and digest.
func (c *Client) fetchSmallBlob(ctx context.Context, host, repo string, desc ocispec.Descriptor) ([]byte, error) {
	rc, err := c.FetchBlob(ctx, host, repo, desc, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, content.MaxInline+1))
	if err != nil {
		return nil, fmt.Errorf("fetch blob %s: %w", desc.Digest, err)
	}
	if int64(len(b)) != desc.Size {
		return nil, fmt.Errorf("blob %s is %d bytes, the manifest says %d: %w", desc.Digest, len(b), desc.Size, ErrInvalid)
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: digest mismatch: it hashes to %s: %w", desc.Digest, got, ErrInvalid)
	}
	return b, nil
}

// puller downloads the layers of one Pull.
type puller struct {
	c     *Client
	store content.Store
	host  string
	repo  string
	o     PullOptions
}

// layers brings every layer into the store, o.Concurrency at a time; the
// first failure cancels the rest.
func (p *puller) layers(ctx context.Context, layers []ocispec.Descriptor) error {
	// A digest listed twice downloads once; all its indexes are done then.
	var order []digest.Digest
	at := map[digest.Digest][]int{}
	for i, l := range layers {
		if _, ok := at[l.Digest]; !ok {
			order = append(order, l.Digest)
		}
		at[l.Digest] = append(at[l.Digest], i)
	}
	done := func(d digest.Digest) {
		if p.o.LayerDone == nil {
			return
		}
		for _, i := range at[d] {
			p.o.LayerDone(i, layers[i])
		}
	}

	var todo []ocispec.Descriptor
	for _, d := range order {
		desc := layers[at[d][0]]
		id := progress.ShortID(d.String())
		if _, err := p.store.Info(ctx, d); err == nil {
			p.o.Progress.Update(id, "Already exists", 0, 0)
			done(d)
			continue
		}
		p.o.Progress.Update(id, "Pulling fs layer", 0, 0)
		todo = append(todo, desc)
	}
	for i, desc := range todo {
		if i >= p.o.Concurrency {
			p.o.Progress.Update(progress.ShortID(desc.Digest.String()), "Waiting", 0, 0)
		}
	}

	return forEach(ctx, p.o.Concurrency, todo, func(ctx context.Context, desc ocispec.Descriptor) error {
		if err := p.layer(ctx, desc); err != nil {
			return err
		}
		done(desc.Digest)
		return nil
	})
}

// layer downloads one layer into the store, resuming what an earlier
// attempt (in this pull or an interrupted one) left in the ingest.
func (p *puller) layer(ctx context.Context, desc ocispec.Descriptor) error {
	id := progress.ShortID(desc.Digest.String())
	for fresh := false; ; fresh = true {
		w, err := p.store.Writer(ctx, desc.Digest.String(), desc)
		if errors.Is(err, content.ErrAlreadyExists) {
			// Another pull committed it while this one waited.
			p.o.Progress.Update(id, "Download complete", 0, 0)
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		resumed := w.Offset() > 0
		err = p.download(ctx, w, desc, id)
		if err == nil {
			p.o.Progress.Update(id, "Verifying Checksum", 0, 0)
			err = w.Commit(ctx, desc.Size, desc.Digest)
			if errors.Is(err, content.ErrAlreadyExists) {
				err = nil
			}
			if errors.Is(err, content.ErrInvalid) && resumed && !fresh {
				// What an earlier pull left may be what was wrong; the
				// store has discarded it: once more from the start.
				p.c.logf("registry: layer %s: resumed download failed verification (%v); starting over", desc.Digest, err)
				w.Close()
				continue
			}
		}
		w.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		p.o.Progress.Update(id, "Download complete", 0, 0)
		return nil
	}
}

// download writes the rest of desc into w, retrying broken transfers from
// where they stopped.
func (p *puller) download(ctx context.Context, w content.Writer, desc ocispec.Descriptor, id string) error {
	delay := retryDelay
	for attempt := 0; ; attempt++ {
		err := p.transfer(ctx, w, desc, id)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if attempt >= maxRetries && retryable(err) {
			return fmt.Errorf("%w (gave up after %d retries)", err, attempt)
		}
		if !retryable(err) {
			return err
		}
		p.c.logf("registry: layer %s: %v; retry %d at offset %d in %v", desc.Digest, err, attempt+1, w.Offset(), delay)
		p.o.Progress.Update(id, fmt.Sprintf("Retrying in %d second%s", int(delay.Round(time.Second)/time.Second), plural(delay)), 0, 0)
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

func plural(d time.Duration) string {
	if d.Round(time.Second) == time.Second {
		return ""
	}
	return "s"
}

// transfer fetches desc from w.Offset() on into w.
func (p *puller) transfer(ctx context.Context, w content.Writer, desc ocispec.Descriptor, id string) error {
	if w.Offset() > desc.Size {
		if err := w.Truncate(); err != nil {
			return err
		}
	}
	if w.Offset() == desc.Size {
		return nil // all there from before; Commit will tell whether it is right
	}
	rc, err := p.c.FetchBlob(ctx, p.host, p.repo, desc, w.Offset())
	if err != nil {
		return err
	}
	defer rc.Close()
	p.o.Progress.Update(id, "Downloading", w.Offset(), desc.Size)
	buf := make([]byte, 128<<10)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return &storeError{err}
			}
			p.o.Progress.Update(id, "Downloading", w.Offset(), desc.Size)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("download at %d of %d bytes: %w", w.Offset(), desc.Size, rerr)
		}
	}
	if w.Offset() < desc.Size {
		return fmt.Errorf("download: the server sent %d of %d bytes: %w", w.Offset(), desc.Size, io.ErrUnexpectedEOF)
	}
	return nil
}

// storeError is a failure to write to the store, which retrying the
// download does not mend.
type storeError struct{ err error }

func (e *storeError) Error() string { return "write to the content store: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// retryable reports whether a broken download is worth another try:
// network trouble and server errors are; refusals, bad data and a failing
// store are not.
func retryable(err error) bool {
	var se *storeError
	var er *ErrorResponse
	switch {
	case errors.As(err, &se):
		return false
	case errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrDenied):
		return false
	case errors.As(err, &er):
		return er.StatusCode >= 500 || er.StatusCode == 408 || er.StatusCode == 429
	}
	// Anything else is the network's or the server's trouble: a reset,
	// a timeout, a body cut short.
	return true
}
