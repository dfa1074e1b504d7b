package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/image"
)

// A build holds images that only its cache records name (each step's
// result, until the last is tagged). A prune may remove those records
// while the build runs; what the build holds must still not be
// collected. So a build runs under a lease: every image the engine hands
// it is pinned until the lease ends, and the collector keeps what pinned
// images reach, as it keeps what records reach. Pins live in this
// process: a prune run by another berth process on the same data root
// does not see them.

// pinSet counts the pins of each image.
type pinSet struct {
	mu   sync.Mutex
	pins map[digest.Digest]*pin
}

type pin struct {
	rec image.Record
	n   int
}

func (p *pinSet) add(rec image.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pins == nil {
		p.pins = map[digest.Digest]*pin{}
	}
	id := rec.ID()
	if pp := p.pins[id]; pp != nil {
		pp.n++
		return
	}
	p.pins[id] = &pin{rec: rec, n: 1}
}

func (p *pinSet) drop(id digest.Digest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pp := p.pins[id]; pp != nil {
		if pp.n--; pp.n <= 0 {
			delete(p.pins, id)
		}
	}
}

func (p *pinSet) records() []image.Record {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]image.Record, 0, len(p.pins))
	for _, pp := range p.pins {
		out = append(out, pp.rec)
	}
	return out
}

func (p *pinSet) has(id digest.Digest) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pins[id] != nil
}

// collect is image.Collect keeping what pinned images reach too.
func (s *Images) collect(ctx context.Context) (image.Collected, error) {
	return image.Collect(ctx, s.Records, s.Content, s.Snapshots, s.pins.records()...)
}

// buildLease is the images one build holds.
type buildLease struct {
	mu  sync.Mutex
	ids []digest.Digest
}

type leaseKey struct{}

// BuildLease starts a build's lease: the images the build primitives
// return under the context it gives are pinned until release.
func (e *Engine) BuildLease(ctx context.Context) (context.Context, func()) {
	l := &buildLease{}
	return context.WithValue(ctx, leaseKey{}, l), func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, id := range l.ids {
			e.Images.pins.drop(id)
		}
		l.ids = nil
	}
}

// pinFor pins img for the lease of ctx, if there is one. The caller holds
// the records' shared lock, so no collector runs between finding the
// image and pinning it.
func (e *Engine) pinFor(ctx context.Context, img BuildImage) {
	l, _ := ctx.Value(leaseKey{}).(*buildLease)
	if l == nil || img.ID == "" || e.Images.pins == nil {
		return
	}
	e.Images.pins.add(img.Record)
	l.mu.Lock()
	l.ids = append(l.ids, img.ID)
	l.mu.Unlock()
}

// sharedLock takes the records' shared lock for what follows.
func (e *Engine) sharedLock(ctx context.Context) (func(), error) {
	unlock, err := e.Images.Records.Lock(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("lock the image store: %w", err)
	}
	return unlock, nil
}
