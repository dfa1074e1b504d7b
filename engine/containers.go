package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/layer"
	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/oci"
	"github.com/berth-project/berth/runtime"
	"github.com/berth-project/berth/snapshot"
)

// ErrNoSuchContainer is returned for a container name or ID nothing has.
var ErrNoSuchContainer = errors.New("no such container")

// Container is the record of a container made by Run: its image, its
// snapshot (keyed by its ID) and, once it stopped, its exit code.
type Container struct {
	ID       string    `json:"id"`
	Image    string    `json:"image"`
	ImageID  string    `json:"imageId"`
	Command  []string  `json:"command"`
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"`
	ExitCode int       `json:"exitCode"`
}

func (e *Engine) containersDir() string { return filepath.Join(e.Images.Root, "containers") }

// RunOptions are what `berth run` takes besides the image.
type RunOptions struct {
	Remove bool
	Spec   image.SpecOptions
	// Stdio of the container; this process's when nil.
	Stdio [3]*os.File
	// Progress receives pull progress when the image must be pulled.
	Pull func(name string) (PullOptions, func())
}

// Run makes a container from an image (pulling it first if missing),
// runs it in the foreground and returns its exit code. Without Remove the
// stopped container's filesystem is kept for `export` and `rm`.
func (e *Engine) Run(ctx context.Context, name string, o RunOptions) (code int, err error) {
	img, err := e.Images.Get(ctx, name)
	if errors.Is(err, image.ErrNotFound) && o.Pull != nil {
		// Not an image here: it must be a reference to pull, and one
		// that is malformed is refused before anything says it is
		// being looked for, as docker does.
		if _, perr := image.ParseReference(name); perr != nil {
			return -1, perr
		}
		po, done := o.Pull(name)
		_, perr := e.Images.Pull(ctx, name, po)
		done()
		if perr != nil {
			return -1, perr
		}
		img, err = e.Images.Get(ctx, name)
	}
	if err != nil {
		return -1, err
	}
	id := newID()
	bundle := filepath.Join(e.containersDir(), id)
	rootfs := filepath.Join(bundle, "rootfs")
	cleanup := func() {
		mount.Unmount(rootfs)
		e.Images.Snapshots.Remove(context.WithoutCancel(ctx), id)
		os.RemoveAll(bundle)
	}
	if err := e.ensureUnpacked(ctx, img); err != nil {
		return -1, err
	}
	if err := os.MkdirAll(rootfs, 0o700); err != nil {
		return -1, fmt.Errorf("create container %s: %w", id, err)
	}
	ms, err := e.Images.Snapshots.Prepare(ctx, id, img.ChainID().String())
	if err != nil {
		os.RemoveAll(bundle)
		return -1, fmt.Errorf("create container %s: %w", id, err)
	}
	ran := false
	defer func() {
		// A container that ran is kept (without --rm) even if what
		// follows its run fails: its filesystem is the user's.
		if (err != nil && !ran) || o.Remove {
			cleanup()
		}
	}()
	if err := mount.All(ms, rootfs); err != nil {
		return -1, fmt.Errorf("create container %s: %w", id, err)
	}
	so := o.Spec
	if so.Hostname == "" {
		so.Hostname = id[:12]
	}
	spec, err := image.Spec(img.Config(), rootfs, so)
	if err != nil {
		return -1, err
	}
	spec.Root.Path = "rootfs"
	if err := oci.WriteSpec(bundle, spec); err != nil {
		return -1, err
	}
	c := Container{ID: id, Image: image.Familiar(img.Name), ImageID: img.ID().String(), Command: spec.Process.Args, Created: time.Now().UTC()}
	if err := e.saveContainer(c); err != nil {
		return -1, err
	}
	code, err = e.Runtime.Run(id, bundle, runtime.CreateOpts{Stdio: o.Stdio}, true)
	if err != nil {
		return code, err
	}
	ran = true
	if uerr := mount.Unmount(rootfs); uerr != nil {
		return code, uerr
	}
	c.Finished, c.ExitCode = time.Now().UTC(), code
	if !o.Remove {
		if err := e.saveContainer(c); err != nil {
			return code, err
		}
	}
	return code, nil
}

// ensureUnpacked unpacks an image whose layers are in the content store
// but whose snapshots are gone (a load, or a snapshot store reset).
func (e *Engine) ensureUnpacked(ctx context.Context, img *image.Image) error {
	if _, err := e.Images.Snapshots.Stat(ctx, img.ChainID().String()); err == nil {
		return nil
	}
	unlock, err := e.Images.Records.Lock(ctx, false)
	if err != nil {
		return err
	}
	defer unlock()
	_, _, err = image.Unpack(ctx, e.Images.Content, e.Images.Snapshots, img.Layers(), image.UnpackOptions{})
	return err
}

func newID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (e *Engine) saveContainer(c Container) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return image.WriteFileAtomic(filepath.Join(e.containersDir(), c.ID, "container.json"), b, 0o600)
}

// Containers lists the kept containers, newest first.
func (e *Engine) Containers(ctx context.Context) ([]Container, error) {
	ents, err := os.ReadDir(e.containersDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Container
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(e.containersDir(), ent.Name(), "container.json"))
		if err != nil {
			continue
		}
		var c Container
		if json.Unmarshal(b, &c) == nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Container finds a kept container by ID or unambiguous ID prefix.
func (e *Engine) Container(ctx context.Context, id string) (Container, error) {
	all, err := e.Containers(ctx)
	if err != nil {
		return Container{}, err
	}
	var found []Container
	for _, c := range all {
		if strings.HasPrefix(c.ID, id) && id != "" {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return Container{}, fmt.Errorf("%w: %s", ErrNoSuchContainer, id)
	case 1:
		return found[0], nil
	}
	return Container{}, fmt.Errorf("multiple containers match %q", id)
}

// RemoveContainer deletes a stopped container and its filesystem.
func (e *Engine) RemoveContainer(ctx context.Context, id string) error {
	c, err := e.Container(ctx, id)
	if err != nil {
		return err
	}
	if st, err := e.Runtime.Load(c.ID); err == nil && st.Status() != runtime.Stopped {
		return fmt.Errorf("cannot remove container %s: it is %s", c.ID[:12], st.Status())
	}
	bundle := filepath.Join(e.containersDir(), c.ID)
	if err := mount.Unmount(filepath.Join(bundle, "rootfs")); err != nil {
		return err
	}
	if err := e.Images.Snapshots.Remove(ctx, c.ID); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
		return err
	}
	return os.RemoveAll(bundle)
}

// Export writes a tar of a container's filesystem (its image's layers and
// its own changes, merged) to w.
func (e *Engine) Export(ctx context.Context, id string, w io.Writer) error {
	c, err := e.Container(ctx, id)
	if err != nil {
		return err
	}
	ms, err := e.Images.Snapshots.Mounts(ctx, c.ID)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "berth-export-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := mount.All(ms, dir); err != nil {
		return err
	}
	defer mount.Unmount(dir)
	return layer.WriteTar(ctx, w, dir)
}
