package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount mounts m on target. An overlay whose option string would pass the
// kernel's one-page limit for mount(2) data is mounted through the
// fs_context API instead, one lower layer per parameter.
func (m *Mount) Mount(target string) error {
	o := ParseOptions(m.Options)
	typ := m.Type
	if m.IsBind() {
		typ = ""
	}
	data := o.Data
	if typ == "overlay" && len(data) >= os.Getpagesize()-512 {
		return m.mountOverlayFS(target, o)
	}
	flags := o.Flags
	first := flags
	if m.IsBind() {
		first &= unix.MS_BIND | unix.MS_REC
	}
	if err := unix.Mount(m.Source, target, typ, first, data); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", m.Source, m.Type, target, err)
	}
	if m.IsBind() && flags&(unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC) != 0 {
		// A bind mount takes its flags only on a remount.
		if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT|unix.MS_BIND, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	for _, p := range o.Propagation {
		if err := unix.Mount("", target, "", p, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("set propagation of %s: %w", target, err)
		}
	}
	return nil
}

// mountOverlayFS mounts an overlay through fsopen/fsconfig/fsmount,
// which take each lower layer as its own "lowerdir+" parameter (Linux 6.8+)
// and so have no limit on the number of layers but the kernel's own.
func (m *Mount) mountOverlayFS(target string, o Options) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("mount overlay on %s: fsopen: %w", target, err)
	}
	defer unix.Close(fsfd)
	for _, opt := range strings.Split(o.Data, ",") {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "lowerdir":
			for _, l := range strings.Split(v, ":") {
				if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
					return fmt.Errorf("mount overlay on %s: lowerdir+ %s: %w", target, l, err)
				}
			}
		default:
			if v == "" && !strings.Contains(opt, "=") {
				err = unix.FsconfigSetFlag(fsfd, k)
			} else {
				err = unix.FsconfigSetString(fsfd, k, v)
			}
			if err != nil {
				return fmt.Errorf("mount overlay on %s: option %s: %w", target, k, err)
			}
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("mount overlay on %s: create: %w", target, err)
	}
	var attr int
	if o.Flags&unix.MS_RDONLY != 0 {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fmt.Errorf("mount overlay on %s: fsmount: %w", target, err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount overlay on %s: move_mount: %w", target, err)
	}
	return nil
}

// All mounts ms on target in order, undoing the ones already made if one
// fails.
func All(ms []Mount, target string) error {
	for i := range ms {
		if err := ms[i].Mount(target); err != nil {
			for j := 0; j < i; j++ {
				unix.Unmount(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// Unmount unmounts everything stacked on target. A target that is not a
// mount point (or does not exist) is not an error.
func Unmount(target string) error {
	for {
		err := unix.Unmount(target, 0)
		if err == unix.EBUSY {
			err = unix.Unmount(target, unix.MNT_DETACH)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		default:
			return fmt.Errorf("unmount %s: %w", filepath.Clean(target), err)
		}
	}
}
