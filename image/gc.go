package image

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/snapshot"
)

// Lock is the store-wide lock between writers and the collector: a pull,
// load or unpack holds it shared while it writes blobs and snapshots that
// no record names yet; Collect holds it exclusive, so it never takes
// what a writer is about to name.
func (r *Records) Lock(ctx context.Context, exclusive bool) (func(), error) {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	return flock(filepath.Join(r.root, "gc.lock"), how)
}

// Collected counts what Collect removed.
type Collected struct {
	Blobs     int
	Bytes     int64
	Snapshots int
	Digests   []digest.Digest // the removed blobs
}

// Collect removes every blob and committed snapshot that no record
// reaches, and the leftovers of interrupted unpacks. Snapshots of
// containers (active snapshots not made by an unpack) and their ancestors
// are kept, and so is what the records in extra reach (images a running
// build holds that no stored record may name any more).
func Collect(ctx context.Context, recs *Records, cs content.Store, sn snapshot.Snapshotter, extra ...Record) (Collected, error) {
	var out Collected
	unlock, err := recs.Lock(ctx, true)
	if err != nil {
		return out, err
	}
	defer unlock()
	all, err := recs.List(ctx)
	if err != nil {
		return out, err
	}
	all = append(all, extra...)
	blobs := map[digest.Digest]bool{}
	snaps := map[string]bool{}
	for _, rec := range all {
		if err := markRecord(ctx, cs, rec, blobs, snaps); err != nil {
			return out, err
		}
	}
	// Snapshots: keep containers' and their ancestors.
	infos := map[string]snapshot.Info{}
	if err := sn.Walk(ctx, func(i snapshot.Info) error { infos[i.Name] = i; return nil }); err != nil {
		return out, err
	}
	for name, i := range infos {
		if i.Kind == snapshot.KindCommitted || strings.HasPrefix(name, "extract-") {
			continue
		}
		for p := name; p != ""; p = infos[p].Parent {
			snaps[p] = true
		}
	}
	// Remove leaves first: a snapshot with children cannot go before them.
	for {
		removed := 0
		for name := range infos {
			if snaps[name] {
				continue
			}
			if err := sn.Remove(ctx, name); err != nil {
				if errors.Is(err, snapshot.ErrConflict) {
					continue
				}
				return out, err
			}
			delete(infos, name)
			out.Snapshots++
			removed++
		}
		if removed == 0 {
			break
		}
	}
	var doomed []content.Info
	if err := cs.Walk(ctx, func(i content.Info) error {
		if !blobs[i.Digest] {
			doomed = append(doomed, i)
		}
		return nil
	}); err != nil {
		return out, err
	}
	for _, i := range doomed {
		if err := cs.Delete(ctx, i.Digest); err != nil && !errors.Is(err, content.ErrNotFound) {
			return out, err
		}
		out.Blobs++
		out.Bytes += i.Size
		out.Digests = append(out.Digests, i.Digest)
	}
	return out, nil
}

// markRecord marks the blobs and snapshots of one record. Children of an
// index that were never fetched (other platforms) are simply absent.
func markRecord(ctx context.Context, cs content.Store, rec Record, blobs map[digest.Digest]bool, snaps map[string]bool) error {
	blobs[rec.Target.Digest] = true
	if IsIndex(rec.Target.MediaType) {
		b, err := content.ReadBlob(ctx, cs, rec.Target)
		if err == nil {
			var idx ocispec.Index
			if json.Unmarshal(b, &idx) == nil {
				for _, m := range idx.Manifests {
					if _, err := cs.Info(ctx, m.Digest); err == nil {
						markManifest(ctx, cs, m, blobs, snaps)
					}
				}
			}
		}
	}
	markManifest(ctx, cs, rec.Manifest, blobs, snaps)
	return nil
}

func markManifest(ctx context.Context, cs content.Store, desc ocispec.Descriptor, blobs map[digest.Digest]bool, snaps map[string]bool) {
	blobs[desc.Digest] = true
	// A manifest that does not check out still keeps what it names.
	m, cfg, err := ReadManifest(ctx, cs, desc)
	blobs[m.Config.Digest] = true
	for _, l := range m.Layers {
		blobs[l.Digest] = true
	}
	if err != nil {
		return
	}
	layers := LayersOf(m, cfg)
	for i := range layers {
		snaps[ChainID(layers[:i+1]).String()] = true
	}
}
