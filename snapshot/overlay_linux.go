package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/mount"
	"golang.org/x/sys/unix"
)

// NewOverlay opens (making it if needed) an overlayfs snapshotter rooted at
// root. Each snapshot's tree holds only what it changes, in overlayfs's
// format (whiteouts are 0/0 character devices, opaque directories carry
// trusted.overlay.opaque=y). It first mounts a small overlay under root to
// see that overlayfs works there with that format, and wraps ErrNotSupported
// if not, so that the caller can fall back to NewCopy.
func NewOverlay(root string) (Snapshotter, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open overlay snapshotter in %s: %w", root, err)
	}
	// The paths go into overlay's option string, which ',' and ':' split.
	if strings.ContainsAny(root, ",:\\") {
		return nil, fmt.Errorf("open overlay snapshotter in %s: the path has ',', ':' or '\\': %w", root, ErrInvalid)
	}
	if err := probeOverlay(root); err != nil {
		return nil, err
	}
	return open(root, overlayDriver{})
}

type overlayDriver struct{}

func (overlayDriver) name() string { return "overlay" }

func (overlayDriver) populate(ctx context.Context, dir string, kind Kind, parents []string) error {
	fsDir := filepath.Join(dir, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return err
	}
	if kind == KindActive && len(parents) > 0 {
		if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
			return err
		}
		// The root of the overlay is the upper dir's: give it the
		// parent's owner and mode, as if it had been copied up.
		var st unix.Stat_t
		if err := unix.Stat(parents[0], &st); err != nil {
			return &os.PathError{Op: "stat", Path: parents[0], Err: err}
		}
		if err := os.Lchown(fsDir, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if err := unix.Chmod(fsDir, st.Mode&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: fsDir, Err: err}
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func (overlayDriver) mounts(dir string, kind Kind, parents []string) []mount.Mount {
	fsDir := filepath.Join(dir, "fs")
	switch {
	case kind == KindActive && len(parents) == 0:
		return []mount.Mount{{Type: "bind", Source: fsDir, Options: []string{"rbind", "rw"}}}
	case kind == KindActive:
		return []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{
			"index=off",
			"workdir=" + filepath.Join(dir, "work"),
			"upperdir=" + fsDir,
			"lowerdir=" + strings.Join(parents, ":"),
		}}}
	case len(parents) == 0:
		return []mount.Mount{{Type: "bind", Source: fsDir, Options: []string{"rbind", "ro"}}}
	case len(parents) == 1:
		return []mount.Mount{{Type: "bind", Source: parents[0], Options: []string{"rbind", "ro"}}}
	default:
		return []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{
			"ro",
			"index=off",
			"lowerdir=" + strings.Join(parents, ":"),
		}}}
	}
}

// probeOverlay mounts a two-layer overlay in root/tmp, deletes a file and
// replaces a directory through it, and checks that the upper dir then holds
// a whiteout and an opaque directory: the format image unpack writes.
func probeOverlay(root string) error {
	err := probe(root)
	var ns notSupported
	if errors.As(err, &ns) {
		return fmt.Errorf("open overlay snapshotter in %s: overlayfs does not work there: %w: %w", root, ErrNotSupported, ns.error)
	}
	if err != nil {
		return fmt.Errorf("open overlay snapshotter in %s: probe: %w", root, err)
	}
	return nil
}

// notSupported marks the errors of probe that say overlayfs does not work,
// as opposed to those of setting the probe up.
type notSupported struct{ error }

func probe(root string) (err error) {
	tmp := filepath.Join(root, tmpDir)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	// The lock keeps another process's Cleanup away from the probe.
	st := store{root: root}
	unlock, err := st.lock()
	if err != nil {
		return err
	}
	defer unlock()
	d, err := os.MkdirTemp(tmp, "probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(d)
	l1, l2, upper, work, merged := filepath.Join(d, "l1"), filepath.Join(d, "l2"), filepath.Join(d, "u"), filepath.Join(d, "w"), filepath.Join(d, "m")
	for _, p := range []string{l1, l2, upper, work, merged, filepath.Join(l1, "d")} {
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
	}
	for _, p := range []string{filepath.Join(l1, "f"), filepath.Join(l1, "d", "f")} {
		if err := os.WriteFile(p, []byte("probe"), 0o644); err != nil {
			return err
		}
	}
	m := mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"index=off", "workdir=" + work, "upperdir=" + upper, "lowerdir=" + l2 + ":" + l1}}
	if err := m.Mount(merged); err != nil {
		return notSupported{err}
	}
	defer func() {
		if uerr := mount.Unmount(merged); uerr != nil && err == nil {
			err = uerr
		}
	}()
	if err := os.Remove(filepath.Join(merged, "f")); err != nil {
		return notSupported{err}
	}
	if err := os.RemoveAll(filepath.Join(merged, "d")); err != nil {
		return notSupported{err}
	}
	if err := os.Mkdir(filepath.Join(merged, "d"), 0o755); err != nil {
		return notSupported{err}
	}
	var wst unix.Stat_t
	if err := unix.Lstat(filepath.Join(upper, "f"), &wst); err != nil {
		return notSupported{fmt.Errorf("no whiteout in the upper dir: %w", err)}
	}
	if wst.Mode&unix.S_IFMT != unix.S_IFCHR || wst.Rdev != 0 {
		return notSupported{errors.New("a deletion left no 0/0 character device in the upper dir")}
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(upper, "d"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		return notSupported{fmt.Errorf("a replaced directory is not marked trusted.overlay.opaque=y in the upper dir (%q, %v)", buf[:max(n, 0)], err)}
	}
	return nil
}
