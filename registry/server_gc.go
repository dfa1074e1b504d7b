package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/content"
)

// GCOptions choose what GarbageCollect removes.
type GCOptions struct {
	// DryRun reports what would go and changes nothing.
	DryRun bool
	// DeleteUntagged also removes manifests no tag reaches (see
	// GarbageCollect).
	DeleteUntagged bool
	// Logf, when set, is told about every removal.
	Logf func(format string, args ...any)
}

// GCResult is what GarbageCollect removed (or, in a dry run, would).
type GCResult struct {
	// Blobs are the blobs (layers, configs, manifests) removed from the
	// store; Bytes their size.
	Blobs []digest.Digest
	Bytes int64
	// Manifests are the untagged manifests removed (DeleteUntagged).
	Manifests []digest.Digest
}

// GarbageCollect removes from the registry storage under root the blobs
// nothing refers to. It needs the storage to itself: while a server runs
// on it, it returns ErrStorageLocked.
//
// Mark: in each repository, every manifest is kept, and with it the blobs
// it refers to: an image manifest's config and layers, an index's
// manifests. A subject does not keep anything alive: it points from an
// artifact (a signature, an SBOM) to what it describes, and an image is
// no less deletable for having signatures. With DeleteUntagged, only the
// manifests a tag reaches are kept: tagged ones, the manifests of kept
// indexes, and the referrers of kept manifests (their signatures follow
// them), recursively; the others are removed.
//
// Sweep: links of a repository to blobs none of its kept manifests refer
// to are removed (a blob uploaded for a manifest that was never pushed
// goes too), and a blob that no repository still refers to is deleted
// from the store. Uploads in progress are not touched.
func GarbageCollect(ctx context.Context, root string, opts GCOptions) (GCResult, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if _, err := os.Stat(filepath.Join(root, dbName)); err != nil {
		return GCResult{}, fmt.Errorf("garbage collect %s: %w", root, err)
	}
	store, db, err := openStorage(root)
	if err != nil {
		return GCResult{}, err
	}
	defer db.Close()

	var res GCResult
	marked := map[digest.Digest]bool{} // blobs some repository keeps
	type repoSweep struct {
		name      string
		manifests map[digest.Digest]manifestRecord // to remove
		links     []digest.Digest                  // to unlink
	}
	var sweeps []repoSweep
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEachBucket(func(k []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			rb := openRepo(tx, string(k))
			sw := repoSweep{name: rb.name, manifests: map[digest.Digest]manifestRecord{}}
			keep, refs, err := markRepo(ctx, store, rb, opts.DeleteUntagged)
			if err != nil {
				return err
			}
			rb.manifests.ForEach(func(k, v []byte) error {
				d := digest.Digest(k)
				if !keep[d] {
					var rec manifestRecord
					json.Unmarshal(v, &rec)
					sw.manifests[d] = rec
					res.Manifests = append(res.Manifests, d)
					logf("%s: untagged manifest %s", rb.name, d)
				}
				return nil
			})
			rb.blobs.ForEach(func(k, _ []byte) error {
				if d := digest.Digest(k); !refs[d] {
					sw.links = append(sw.links, d)
				}
				return nil
			})
			for d := range refs {
				marked[d] = true
			}
			if len(sw.manifests) > 0 || len(sw.links) > 0 {
				sweeps = append(sweeps, sw)
			}
			return nil
		})
	})
	if err != nil {
		return GCResult{}, fmt.Errorf("garbage collect %s: %w", root, err)
	}
	err = store.Walk(ctx, func(info content.Info) error {
		if !marked[info.Digest] {
			res.Blobs = append(res.Blobs, info.Digest)
			res.Bytes += info.Size
			logf("blob %s (%d bytes)", info.Digest, info.Size)
		}
		return nil
	})
	if err != nil {
		return GCResult{}, fmt.Errorf("garbage collect %s: %w", root, err)
	}
	slices.Sort(res.Blobs)
	slices.Sort(res.Manifests)
	res.Manifests = slices.Compact(res.Manifests)
	if opts.DryRun {
		return res, nil
	}
	// Metadata first: a crash before the blobs go leaves only garbage
	// that the next run finds again.
	err = db.Update(func(tx *bolt.Tx) error {
		for _, sw := range sweeps {
			rb := openRepo(tx, sw.name)
			for d, rec := range sw.manifests {
				if err := rb.removeManifest(d, rec); err != nil {
					return err
				}
			}
			for _, d := range sw.links {
				if err := rb.blobs.Delete([]byte(d)); err != nil {
					return err
				}
			}
			if err := pruneRepo(tx, sw.name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return GCResult{}, fmt.Errorf("garbage collect %s: %w", root, err)
	}
	for _, d := range res.Blobs {
		if err := store.Delete(ctx, d); err != nil && !errors.Is(err, content.ErrNotFound) {
			return res, fmt.Errorf("garbage collect %s: %w", root, err)
		}
	}
	return res, nil
}

// markRepo returns the manifests of a repository that stay (all of them,
// or those a tag reaches) and every digest they refer to, themselves
// included.
func markRepo(ctx context.Context, store content.Store, rb *repoBuckets, untagged bool) (keep, refs map[digest.Digest]bool, err error) {
	keep = map[digest.Digest]bool{}
	refs = map[digest.Digest]bool{}
	var queue []digest.Digest
	if untagged {
		rb.tags.ForEach(func(k, v []byte) error {
			var t tagRecord
			if json.Unmarshal(v, &t) == nil {
				queue = append(queue, t.Digest)
			}
			return nil
		})
	} else {
		rb.manifests.ForEach(func(k, _ []byte) error {
			queue = append(queue, digest.Digest(k))
			return nil
		})
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if keep[d] {
			continue
		}
		rec, ok, err := rb.manifest(d)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue // an index's missing manifest
		}
		keep[d] = true
		refs[d] = true
		// Deleting on what a manifest says needs every kept manifest
		// read: one that cannot be stops the collection.
		b, err := content.ReadBlob(ctx, store, ocispec.Descriptor{Digest: d, Size: rec.Size})
		if err != nil {
			return nil, nil, fmt.Errorf("read manifest %s of %s: %w", d, rb.name, err)
		}
		var doc manifestDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, nil, fmt.Errorf("read manifest %s of %s: %w", d, rb.name, err)
		}
		if doc.Config != nil {
			refs[doc.Config.Digest] = true
		}
		for _, l := range doc.Layers {
			refs[l.Digest] = true
		}
		for _, m := range doc.Manifests {
			refs[m.Digest] = true
			queue = append(queue, m.Digest)
		}
		if untagged {
			queue = append(queue, rb.referrersOf(d)...)
		}
	}
	return keep, refs, nil
}
