package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/layer"
	"github.com/berth-project/berth/snapshot"
)

// UnpackOptions tune Unpack.
type UnpackOptions struct {
	// Ready, when set, is called before layer i is read and returns once
	// its blob is in the content store, so that unpacking can start while
	// later layers still download.
	Ready func(ctx context.Context, i int) error
	// Progress, when set, hears "Extracting" and "Pull complete" per layer
	// (id is the blob digest).
	Progress func(id digest.Digest, status string, current, total int64)
}

// SizeLabel is the snapshot label holding the bytes a layer unpacked to.
const SizeLabel = "berth.size"

// Unpack makes sure a committed snapshot exists for every prefix of
// layers, named by its chain ID, and returns the top one's name and the
// unpacked size of all the layers. Layers
// already unpacked (by this image or another sharing them) are skipped.
// Each layer's uncompressed stream is checked against its diff ID before
// its snapshot is committed; on any error the layer's snapshot is removed
// and nothing half-applied stays visible.
func Unpack(ctx context.Context, cs content.Store, sn snapshot.Snapshotter, layers []Layer, o UnpackOptions) (digest.Digest, int64, error) {
	var parent digest.Digest
	var total int64
	for i, l := range layers {
		// Wait for the layer even when it is already unpacked: the caller
		// may count on every layer having arrived when Unpack returns.
		if o.Ready != nil {
			if err := o.Ready(ctx, i); err != nil {
				return "", 0, err
			}
		}
		chain := ChainID(layers[:i+1])
		if info, err := sn.Stat(ctx, chain.String()); err == nil {
			n, _ := strconv.ParseInt(info.Labels[SizeLabel], 10, 64)
			total += n
			if o.Progress != nil {
				o.Progress(l.Blob.Digest, "Already exists", 0, 0)
			}
			parent = chain
			continue
		}
		n, err := unpackLayer(ctx, cs, sn, l, chain, parent, o)
		if err != nil {
			return "", 0, err
		}
		total += n
		parent = chain
	}
	return parent, total, nil
}

func diffIDs(layers []Layer) []digest.Digest {
	ids := make([]digest.Digest, len(layers))
	for i, l := range layers {
		ids[i] = l.DiffID
	}
	return ids
}

func unpackLayer(ctx context.Context, cs content.Store, sn snapshot.Snapshotter, l Layer, chain, parent digest.Digest, o UnpackOptions) (size int64, err error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	key := fmt.Sprintf("extract-%s-%s", hex.EncodeToString(rnd[:]), chain)
	ms, err := sn.Prepare(ctx, key, parent.String())
	if err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", l.Blob.Digest, err)
	}
	defer func() {
		if err != nil {
			sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	dir, ok := snapshot.UpperDir(ms)
	if !ok {
		return 0, fmt.Errorf("unpack layer %s: snapshotter gave mounts with no directory to write into", l.Blob.Digest)
	}
	var opts []layer.ApplyOption
	if len(ms) == 1 && ms[0].Type == "overlay" {
		opts = append(opts, layer.WithOverlayWhiteouts())
	}
	ra, err := cs.ReaderAt(ctx, l.Blob.Digest)
	if err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", l.Blob.Digest, err)
	}
	defer ra.Close()
	if o.Progress != nil {
		o.Progress(l.Blob.Digest, "Extracting", 0, ra.Size())
	}
	var compressed io.Reader = io.NewSectionReader(ra, 0, ra.Size())
	if o.Progress != nil {
		compressed = &progressReader{r: compressed, id: l.Blob.Digest, total: ra.Size(), fn: o.Progress}
	}
	rc, _, err := layer.Decompress(compressed)
	if err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", l.Blob.Digest, err)
	}
	defer rc.Close()
	d := l.DiffID.Algorithm()
	if !d.Available() {
		return 0, fmt.Errorf("unpack layer %s: diff_id %q: unsupported algorithm", l.Blob.Digest, l.DiffID)
	}
	digester := d.Digester()
	// Decompression and hashing run on their own goroutine, a few
	// megabytes ahead of Apply, so that inflating and writing files use
	// two cores instead of taking turns on one.
	ra2 := newReadAhead(io.TeeReader(rc, digester.Hash()), 1<<20, 8)
	defer ra2.Close()
	size, err = layer.Apply(ctx, dir, ra2, opts...)
	if err == nil {
		// Apply stops at the end of the tar; the digest covers the whole
		// stream, padding included.
		_, err = io.Copy(io.Discard, ra2)
	}
	if err != nil {
		return 0, fmt.Errorf("unpack layer %s: %w", l.Blob.Digest, err)
	}
	if got := digester.Digest(); got != l.DiffID {
		return 0, fmt.Errorf("unpack layer %s: uncompressed content has digest %s, but the image config says diff_id %s", l.Blob.Digest, got, l.DiffID)
	}
	if err := sn.Commit(ctx, chain.String(), key, snapshot.WithLabels(map[string]string{SizeLabel: strconv.FormatInt(size, 10)})); err != nil {
		if errors.Is(err, snapshot.ErrAlreadyExists) {
			// Another unpack of the same layer won the race: its
			// snapshot is as good as ours.
			sn.Remove(context.WithoutCancel(ctx), key)
			return size, nil
		}
		return 0, fmt.Errorf("unpack layer %s: %w", l.Blob.Digest, err)
	}
	if o.Progress != nil {
		o.Progress(l.Blob.Digest, "Pull complete", 0, 0)
	}
	return size, nil
}

type progressReader struct {
	r     io.Reader
	id    digest.Digest
	n     int64
	total int64
	last  int64
	fn    func(digest.Digest, string, int64, int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.last >= 1<<20 || err != nil {
		p.last = p.n
		p.fn(p.id, "Extracting", p.n, p.total)
	}
	return n, err
}

// readAhead reads from r on its own goroutine into a ring of buffers.
type readAhead struct {
	full  chan []byte
	free  chan []byte
	errc  chan error
	done  chan struct{}
	exit  chan struct{} // closed when the reading goroutine has returned
	cur   []byte
	buf   []byte
	err   error
	close func()
}

func newReadAhead(r io.Reader, size, n int) *readAhead {
	ra := &readAhead{full: make(chan []byte, n), free: make(chan []byte, n), errc: make(chan error, 1), done: make(chan struct{}), exit: make(chan struct{})}
	for i := 0; i < n; i++ {
		ra.free <- make([]byte, size)
	}
	var once sync.Once
	ra.close = func() { once.Do(func() { close(ra.done) }) }
	go func() {
		defer close(ra.exit)
		defer close(ra.full)
		for {
			var b []byte
			// done first: select picks at random among ready cases, and
			// a free buffer must not win over a Close.
			select {
			case <-ra.done:
				return
			default:
			}
			select {
			case b = <-ra.free:
			case <-ra.done:
				return
			}
			n, err := io.ReadFull(r, b)
			if n > 0 {
				select {
				case ra.full <- b[:n]:
				case <-ra.done:
					return
				}
			}
			if err != nil {
				if err == io.ErrUnexpectedEOF {
					err = io.EOF
				}
				ra.errc <- err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		if ra.err != nil {
			return 0, ra.err
		}
		b, ok := <-ra.full
		if !ok {
			ra.err = <-ra.errc
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the reading goroutine and waits for it to return, so that
// the caller may close what it reads from (and stop hearing progress from
// it) as soon as Close returns.
func (ra *readAhead) Close() error {
	ra.close()
	<-ra.exit
	return nil
}
