package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/layer"
	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/snapshot"
)

// newLayer is a layer a commit made: its blob (in the content store), its
// diff ID and uncompressed size, and, when the commit filled a snapshot
// of its own, that active snapshot's key (committed as the layer's chain).
type newLayer struct {
	desc    ocispec.Descriptor
	diffID  digest.Digest
	size    int64
	snapKey string
}

// storeLayer writes the uncompressed layer tar that write produces into the
// content store, gzip-compressed, computing its diff ID on the way.
func (e *Engine) storeLayer(ctx context.Context, write func(w io.Writer) error) (*newLayer, error) {
	pr, pw := io.Pipe()
	diffID := digest.Canonical.Digester()
	var n int64
	go func() {
		zw, err := layer.Compress(pw, layer.Gzip)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		cw := &countWriter{w: io.MultiWriter(zw, diffID.Hash()), n: &n}
		err = write(cw)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	ref := "layer-" + newID()[:20]
	w, err := e.Images.Content.Writer(ctx, ref, ocispec.Descriptor{})
	if err != nil {
		pr.CloseWithError(err)
		return nil, err
	}
	defer w.Close()
	size, err := io.CopyBuffer(w, pr, make([]byte, 1<<20))
	if err != nil {
		w.Close()
		e.Images.Content.Abort(context.WithoutCancel(ctx), ref)
		return nil, err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: w.Digest(), Size: size}
	if err := w.Commit(ctx, size, desc.Digest); err != nil && !errors.Is(err, content.ErrAlreadyExists) {
		return nil, err
	}
	return &newLayer{desc: desc, diffID: diffID.Digest(), size: n}, nil
}

type countWriter struct {
	w io.Writer
	n *int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// diffMounts writes the changes of the active snapshot key (mounted as
// ms) against its parent: the overlay upper directory as it is, or, with
// the copy driver, the tree compared with a view of the parent.
func (e *Engine) diffMounts(ctx context.Context, w io.Writer, key string, ms []mount.Mount) error {
	if len(ms) != 1 {
		return fmt.Errorf("diff of %s: %d mounts, want 1", key, len(ms))
	}
	m := ms[0]
	if m.Type == "overlay" {
		upper, lowers := overlayDirs(m)
		if upper == "" {
			return fmt.Errorf("diff of %s: overlay mount without upperdir", key)
		}
		return layer.WriteOverlayDiff(ctx, w, upper, lowers...)
	}
	lower, release, err := e.parentView(ctx, key)
	if err != nil {
		return err
	}
	defer release()
	return layer.WriteDiff(ctx, w, lower, m.Source)
}

// parentView is a directory with the filesystem of the active snapshot
// key's parent (an empty one when it has none), until release.
func (e *Engine) parentView(ctx context.Context, key string) (string, func(), error) {
	info, err := e.Images.Snapshots.Stat(ctx, key)
	if err != nil {
		return "", nil, err
	}
	if info.Parent == "" {
		dir, err := os.MkdirTemp(e.buildDir(), "empty-")
		if err != nil {
			return "", nil, err
		}
		return dir, func() { os.Remove(dir) }, nil
	}
	vkey := "diff-" + key + "-" + newID()[:12]
	vm, err := e.Images.Snapshots.View(ctx, vkey, info.Parent)
	if err != nil {
		return "", nil, err
	}
	return vm[0].Source, func() { e.Images.Snapshots.Remove(context.WithoutCancel(ctx), vkey) }, nil
}

// fillLayer prepares a writable snapshot on parent, lets fill change it
// through a private mount and stores the changes as a layer; the snapshot
// is kept (newLayer.snapKey) for commitLayerSnapshot.
func (e *Engine) fillLayer(ctx context.Context, parent string, fill func(ctx context.Context, root string) error) (_ *newLayer, err error) {
	key := "build-fill-" + newID()[:20]
	ms, err := e.Images.Snapshots.Prepare(ctx, key, parent)
	if err != nil {
		return nil, fmt.Errorf("build: prepare a snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			e.Images.Snapshots.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	dir, err := os.MkdirTemp(e.buildDir(), "fill-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(dir)
	if err := mount.All(ms, dir); err != nil {
		return nil, fmt.Errorf("build: mount a snapshot: %w", err)
	}
	ferr := fill(ctx, dir)
	if uerr := mount.Unmount(dir); uerr != nil && ferr == nil {
		ferr = uerr
	}
	if ferr != nil {
		return nil, ferr
	}
	nl, err := e.storeLayer(ctx, func(w io.Writer) error { return e.diffMounts(ctx, w, key, ms) })
	if err != nil {
		return nil, fmt.Errorf("build: store layer: %w", err)
	}
	nl.snapKey = key
	return nl, nil
}

// containerLayer stores a container's filesystem changes as a layer. The
// mountpoints the engine makes for a running container (/etc/hosts,
// resolv.conf, hostname; /proc, /sys, /dev when the image lacks them) are
// not part of it, as docker keeps them in an init layer: with dropInit, a
// stopped container's are removed from its snapshot first (a build step's
// container, removed next); otherwise they stay.
func (e *Engine) containerLayer(ctx context.Context, id string, dropInit bool) (*newLayer, error) {
	v, err := e.view(ctx, id)
	if err != nil {
		return nil, err
	}
	ms, err := e.Images.Snapshots.Mounts(ctx, v.ID)
	if err != nil {
		return nil, fmt.Errorf("commit container %s: %w", v.ID, err)
	}
	stopped := v.Status == container.StateExited || v.Status == container.StateCreated || v.Status == container.StateDead
	if dropInit && stopped && len(ms) == 1 {
		e.dropInitPaths(ctx, v.ID, ms[0])
	}
	nl, err := e.storeLayer(ctx, func(w io.Writer) error { return e.diffMounts(ctx, w, v.ID, ms) })
	if err != nil {
		return nil, fmt.Errorf("commit container %s: %w", v.ID, err)
	}
	return nl, nil
}

var initFiles = []string{"etc/hosts", "etc/resolv.conf", "etc/hostname"}
var initDirs = []string{"dev/pts", "dev/shm", "dev", "proc", "sys", "etc"}

func (e *Engine) dropInitPaths(ctx context.Context, key string, m mount.Mount) {
	if m.Type == "overlay" {
		upper, lowers := overlayDirs(m)
		if upper == "" {
			return
		}
		inLower := func(p string) bool {
			for _, l := range lowers {
				if _, err := os.Lstat(filepath.Join(l, p)); err == nil {
					return true
				}
			}
			return false
		}
		for _, f := range initFiles {
			if st, err := os.Lstat(filepath.Join(upper, f)); err == nil && st.Mode().IsRegular() && st.Size() == 0 && !inLower(f) {
				os.Remove(filepath.Join(upper, f))
			}
		}
		for _, d := range initDirs {
			p := filepath.Join(upper, d)
			if !isOpaque(p) {
				unix.Rmdir(p) // only when empty
			}
		}
		return
	}
	lower, release, err := e.parentView(ctx, key)
	if err != nil {
		return
	}
	defer release()
	for _, f := range initFiles {
		if st, err := os.Lstat(filepath.Join(m.Source, f)); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
			if _, err := os.Lstat(filepath.Join(lower, f)); err != nil {
				os.Remove(filepath.Join(m.Source, f))
			}
		}
	}
	for _, d := range initDirs {
		if st, err := os.Lstat(filepath.Join(lower, d)); err == nil {
			t := st.ModTime()
			os.Chtimes(filepath.Join(m.Source, d), time.Time{}, t)
		} else {
			unix.Rmdir(filepath.Join(m.Source, d))
		}
	}
}

func isOpaque(dir string) bool {
	b := make([]byte, 2)
	n, err := unix.Lgetxattr(dir, "trusted.overlay.opaque", b)
	return err == nil && n == 1 && b[0] == 'y'
}

// commitLayerSnapshot makes the committed snapshot chain (parent plus
// nl): the filled snapshot committed as it is, or the layer unpacked
// from its blob.
func (e *Engine) commitLayerSnapshot(ctx context.Context, parent, chain string, nl *newLayer, layers []image.Layer) error {
	sn := e.Images.Snapshots
	if nl.snapKey != "" {
		err := sn.Commit(ctx, chain, nl.snapKey, snapshot.WithLabels(map[string]string{image.SizeLabel: strconv.FormatInt(nl.size, 10)}))
		if errors.Is(err, snapshot.ErrAlreadyExists) {
			sn.Remove(context.WithoutCancel(ctx), nl.snapKey)
			return nil
		}
		if err != nil {
			sn.Remove(context.WithoutCancel(ctx), nl.snapKey)
		}
		return err
	}
	if _, err := sn.Stat(ctx, chain); err == nil {
		return nil
	}
	_, _, err := image.Unpack(ctx, e.Images.Content, sn, layers, image.UnpackOptions{})
	return err
}

// cleanBuildLeftovers undoes what a build cut short by a crash left: the
// mounts and directories under build/ (contexts, views, fills) and the
// snapshots of unfinished steps. Only a daemon does it, at start, when no
// build can be running on its data root.
func (e *Engine) cleanBuildLeftovers(ctx context.Context) {
	for _, dir := range []string{e.BuildTempDir(), filepath.Join(e.opts.Root, "build", "mnt")} {
		ents, _ := os.ReadDir(dir)
		for _, ent := range ents {
			p := filepath.Join(dir, ent.Name())
			unix.Unmount(p, unix.MNT_DETACH)
			os.RemoveAll(p)
		}
	}
	var stale []string
	e.Images.Snapshots.Walk(ctx, func(i snapshot.Info) error {
		for _, prefix := range []string{"build-fill-", "build-view-", "diff-build-fill-"} {
			if i.Kind != snapshot.KindCommitted && strings.HasPrefix(i.Name, prefix) {
				stale = append(stale, i.Name)
			}
		}
		return nil
	})
	for _, name := range stale {
		e.Images.Snapshots.Remove(ctx, name)
	}
}
