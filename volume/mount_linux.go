package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// lock takes the store's flock: exclusive for changes, shared for reads.
// flock locks belong to the open file, so two Stores in one process, or
// two processes, exclude each other alike.
func (s *Store) lock(exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, lockName), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock volumes: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock volumes: %w", err)
	}
	return func() { f.Close() }, nil
}

// isMountpoint reports whether path is the root of a mount.
func isMountpoint(path string) (bool, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st); err != nil {
		return false, fmt.Errorf("statx %s: %w", path, err)
	}
	if st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, fmt.Errorf("statx %s: the kernel does not report mount roots", path)
	}
	return st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// mountVolume mounts the filesystem the driver options describe on
// target: option device of option type with mount options o (a bind
// mount with o=bind).
func mountVolume(opts map[string]string, target string) error {
	typ, device := opts["type"], opts["device"]
	if device == "" {
		return errors.New("missing device in volume options")
	}
	mo, err := parseMountOptions(typ, opts["o"])
	if err != nil {
		return err
	}
	if mo.flags&unix.MS_BIND != 0 {
		if err := unix.Mount(device, target, "", mo.flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return fmt.Errorf("failed to mount local volume: bind %s on %s: %w", device, target, err)
		}
		// A bind mount takes its other flags only on a remount.
		if rest := mo.flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|rest, ""); err != nil {
				unmountAll(target)
				return fmt.Errorf("failed to mount local volume: remount %s with o=%s: %w", target, opts["o"], err)
			}
		}
	} else if err := unix.Mount(device, target, typ, mo.flags, mo.data); err != nil {
		return fmt.Errorf("failed to mount local volume: mount %s (type %s, o=%s) on %s: %w", device, typ, opts["o"], target, err)
	}
	if mo.propagation != 0 {
		if err := unix.Mount("", target, "", mo.propagation, ""); err != nil {
			unmountAll(target)
			return fmt.Errorf("failed to mount local volume: propagation of %s: %w", target, err)
		}
	}
	return nil
}

// unmountAll unmounts everything stacked on path (detaching what is
// busy); a path that is no mountpoint, or missing, is no error.
func unmountAll(path string) error {
	for {
		err := unix.Unmount(path, unix.UMOUNT_NOFOLLOW)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			// Not a mountpoint (any more): check, since EINVAL is also
			// what a locked mount answers.
			m, serr := isMountpoint(path)
			if errors.Is(serr, unix.ENOENT) || (serr == nil && !m) {
				return nil
			}
			if serr != nil {
				return serr
			}
			return fmt.Errorf("unmount %s: %w", path, err)
		case errors.Is(err, unix.EBUSY):
			if err := unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
				return fmt.Errorf("unmount %s: %w", path, err)
			}
		case errors.Is(err, unix.EINTR):
		default:
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
}

// dirSize is the apparent size of the files under dir, each inode
// counted once (docker's directory size).
func dirSize(dir string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var size int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != dir {
				return nil // removed meanwhile
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			k := inode{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		size += fi.Size()
		return nil
	})
	if err != nil {
		return -1, fmt.Errorf("usage of %s: %w", dir, err)
	}
	return size, nil
}
