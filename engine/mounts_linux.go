package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	bmount "github.com/berth-project/berth/mount"
)

// Everything here that reads the image or a volume goes through
// descriptors: the starting directory is opened with openat2
// RESOLVE_IN_ROOT from the root's descriptor (so a symlink resolves as if
// that root were /, and ".." stops there), and each entry below is then
// named by one component with calls that do not follow a symlink in it.

// openInside opens rel below the directory root (a host path we trust)
// with RESOLVE_IN_ROOT; flags are added to O_CLOEXEC.
func openInside(root, rel string, flags int) (int, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(rfd)
	how := &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(rfd, rel, how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 64 {
			continue
		}
		return fd, err
	}
}

// checkNotFile refuses a volume over a file of the image, as docker does.
func checkNotFile(rootfs, dst string) error {
	fd, err := openInside(rootfs, dst, unix.O_PATH)
	if err != nil {
		return nil // not there (or not reachable): the runtime makes it
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Invalid("cannot mount volume over existing file, file exists %s", dst)
	}
	return nil
}

// populate copies what the image has at m's destination into m's volume
// when the volume is empty, as docker does for a volume's first use:
// modes, owners, times, symlinks (as links) and hard links kept. A plain
// volume is filled at create; one with a filesystem of its own (driver
// options) is filled by mountsUp, while mounted, as its data lives there.
func (e *Engine) populate(r *ctrRecord, m *ctrMount) error {
	v, err := e.volumes().Get(m.Name)
	if err != nil {
		return volumeErr(m.Name, err)
	}
	if v.NeedsMount() {
		return nil
	}
	return e.populateInto(r, m, v.Mountpoint)
}

// populateInto fills dir, m's volume's data (mounted), from r's rootfs.
func (e *Engine) populateInto(r *ctrRecord, m *ctrMount, dir string) error {
	src, err := openInside(r.rootfsDir(), m.Destination, unix.O_RDONLY|unix.O_DIRECTORY)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return nil // nothing in the image there
	}
	if err != nil {
		return fmt.Errorf("copy the image's %s into volume %s: %w", m.Destination, m.Name, err)
	}
	defer unix.Close(src)
	dst, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("copy the image's %s into volume %s: %w", m.Destination, m.Name, err)
	}
	defer unix.Close(dst)
	if empty, err := dirEmpty(dst); err != nil || !empty {
		return err
	}
	c := treeCopier{dstRoot: dst, links: map[[2]uint64]string{}}
	if err := c.copyDir(src, dst, ""); err != nil {
		return fmt.Errorf("copy the image's %s into volume %s: %w", m.Destination, m.Name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	if err := unix.Fchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("copy the image's %s into volume %s: %w", m.Destination, m.Name, err)
	}
	return unix.Fchmod(dst, st.Mode&0o7777)
}

// dirEmpty reports whether the directory open at fd has no entries.
func dirEmpty(fd int) (bool, error) {
	names, err := readNames(fd)
	return len(names) == 0, err
}

type treeCopier struct {
	dstRoot int
	// links maps a source file with several links (dev, ino) to the path
	// of its first copy, relative to dstRoot.
	links map[[2]uint64]string
}

// copyDir copies the entries of the directory src into dst; rel is dst's
// path relative to the root of the copy.
func (c *treeCopier) copyDir(src, dst int, rel string) error {
	names, err := readNames(src)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := c.copyEntry(src, dst, name, path.Join(rel, name)); err != nil {
			return fmt.Errorf("%s: %w", path.Join(rel, name), err)
		}
	}
	return nil
}

func (c *treeCopier) copyEntry(src, dst int, name, rel string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	mode := st.Mode & 0o7777
	typ := st.Mode & unix.S_IFMT
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := c.links[key]; ok {
			return c.link(first, dst, name)
		}
		c.links[key] = rel
	}
	switch typ {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, 0o700); err != nil {
			return err
		}
		s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(s)
		d, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(d)
		if err := c.copyDir(s, d, rel); err != nil {
			return err
		}
		if err := unix.Fchown(d, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if err := unix.Fchmod(d, mode); err != nil {
			return err
		}
		return futimes(d, &st)
	case unix.S_IFREG:
		s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		sf := os.NewFile(uintptr(s), name)
		defer sf.Close()
		d, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		df := os.NewFile(uintptr(d), name)
		defer df.Close()
		if _, err := io.Copy(df, sf); err != nil {
			return err
		}
		if err := unix.Fchown(d, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if err := unix.Fchmod(d, mode); err != nil { // after chown, which clears setuid
			return err
		}
		return futimes(d, &st)
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(src, name, buf)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(string(buf[:n]), dst, name); err != nil {
			return err
		}
		if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		return unix.UtimesNanoAt(dst, name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if err := unix.Mknodat(dst, name, typ|mode, int(st.Rdev)); err != nil {
			return err
		}
		if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		// Not a symlink (those return earlier): flags 0, since
		// AT_SYMLINK_NOFOLLOW needs fchmodat2 (Linux 6.6).
		if err := unix.Fchmodat(dst, name, mode, 0); err != nil {
			return err
		}
		return unix.UtimesNanoAt(dst, name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil // sockets are not copied
}

// link makes name in dst a hard link to first (relative to the root of the
// copy), whose directory is opened inside that root.
func (c *treeCopier) link(first string, dst int, name string) error {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	dir := path.Dir(first)
	pfd, err := unix.Openat2(c.dstRoot, dir, how)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return unix.Linkat(pfd, path.Base(first), dst, name, 0)
}

func futimes(fd int, st *unix.Stat_t) error {
	return unix.UtimesNanoAt(fd, "", []unix.Timespec{st.Atim, st.Mtim}, unix.AT_EMPTY_PATH)
}

// bindSubpath binds sub (resolved inside the volume's directory dir, so a
// symlink a container planted there cannot lead out) at target.
func bindSubpath(dir, sub, target string) error {
	fd, err := openInside(dir, sub, unix.O_PATH)
	if err == unix.ENOENT {
		return Invalid("cannot access path %s: subpath %q does not exist in the volume", filepath.Join(dir, sub), sub)
	}
	if err != nil {
		return fmt.Errorf("open subpath %q: %w", sub, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	unbindSubpath(target)
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(target, 0o700)
	} else {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			f.Close()
		}
	}
	if err != nil {
		return err
	}
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(fd), target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		os.Remove(target)
		return fmt.Errorf("bind subpath %q: %w", sub, err)
	}
	// Not shared with the host's peers: nothing else needs to see it.
	unix.Mount("", target, "", unix.MS_PRIVATE|unix.MS_REC, "")
	return nil
}

// unbindSubpath undoes bindSubpath; a target not there is no error.
func unbindSubpath(target string) {
	if err := bmount.Unmount(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return // still mounted: never remove it
	}
	os.Remove(target)
}
