package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copyTree copies the directory src to dst, which must not exist, keeping
// everything a container image can hold: file types (directories, regular
// files, symlinks, device nodes, fifos, sockets), permission bits with
// setuid, setgid and sticky, owners, access and modification times,
// extended attributes (file capabilities and ACLs among them), hardlinks as
// hardlinks, and holes in sparse files. Regular files are reflinked where
// the filesystem can, and copied in the kernel (copy_file_range) or through
// a buffer where it cannot. Symlinks are never followed.
func copyTree(ctx context.Context, dst, src string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: src, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("copy %s: not a directory: %w", src, ErrInvalid)
	}
	c := &copier{ctx: ctx, links: map[devIno]string{}}
	return c.copy(dst, src, &st)
}

type devIno struct{ dev, ino uint64 }

type copier struct {
	ctx   context.Context
	links map[devIno]string // the copy of each multiply linked source inode
	// What the filesystem was found not to do, so as not to ask for every file.
	noClone, noCopyRange bool
	buf                  []byte
}

func (c *copier) copy(dst, src string, st *unix.Stat_t) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	typ := st.Mode & unix.S_IFMT
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		k := devIno{st.Dev, st.Ino}
		if first, ok := c.links[k]; ok {
			if err := unix.Link(first, dst); err != nil {
				return &os.LinkError{Op: "link", Old: first, New: dst, Err: err}
			}
			return nil
		}
		defer func() { c.links[k] = dst }()
	}
	switch typ {
	case unix.S_IFDIR:
		if err := unix.Mkdir(dst, 0o700); err != nil {
			return &os.PathError{Op: "mkdir", Path: dst, Err: err}
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			s, d := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
			var cst unix.Stat_t
			if err := unix.Lstat(s, &cst); err != nil {
				return &os.PathError{Op: "lstat", Path: s, Err: err}
			}
			if err := c.copy(d, s, &cst); err != nil {
				return err
			}
		}
	case unix.S_IFREG:
		if err := c.copyFile(dst, src, st.Size); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := unix.Symlink(target, dst); err != nil {
			return &os.LinkError{Op: "symlink", Old: target, New: dst, Err: err}
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return &os.PathError{Op: "mknod", Path: dst, Err: err}
		}
	default:
		return fmt.Errorf("copy %s: unknown file type %#o: %w", src, typ, ErrInvalid)
	}
	return c.attrs(dst, src, st)
}

// attrs gives dst the owner, mode, xattrs and times of src, in that order:
// chown clears setuid bits and file capabilities, and anything written
// after the times would change them.
func (c *copier) attrs(dst, src string, st *unix.Stat_t) error {
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return &os.PathError{Op: "lchown", Path: dst, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK { // a symlink's mode means nothing, and chmod follows it
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
	}
	if err := copyXattrs(dst, src); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: dst, Err: err}
	}
	return nil
}

func (c *copier) copyFile(dst, src string, size int64) (err error) {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if size == 0 {
		return nil
	}
	if !c.noClone {
		err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd()))
		if err == nil {
			return nil
		}
		if unsupported(err) {
			c.noClone = true
		}
	}
	if err := c.copyData(out, in, size); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// unsupported tells the errors by which the kernel or filesystem says it
// does not do reflinks or copy_file_range here.
func unsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EXDEV) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)
}

// copyData copies the data of in to out and leaves the holes of in as holes.
func (c *copier) copyData(out, in *os.File, size int64) error {
	fd := int(in.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // a hole up to the end
		}
		hole := size
		if err != nil { // no SEEK_DATA here: all data
			data = off
		} else if h, err := unix.Seek(fd, data, unix.SEEK_HOLE); err == nil {
			hole = min(h, size)
		}
		if err := c.copyRange(out, in, data, hole-data); err != nil {
			return err
		}
		off = hole
	}
	return out.Truncate(size)
}

// copyRange copies n bytes at off of in to the same offset of out.
func (c *copier) copyRange(out, in *os.File, off, n int64) error {
	for !c.noCopyRange && n > 0 {
		roff, woff := off, off
		k, err := unix.CopyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, int(min(n, 1<<30)), 0)
		if err != nil {
			if !unsupported(err) {
				return err
			}
			c.noCopyRange = true
			break
		}
		if k == 0 {
			return io.ErrUnexpectedEOF
		}
		off += int64(k)
		n -= int64(k)
	}
	if n == 0 {
		return nil
	}
	if c.buf == nil {
		c.buf = make([]byte, 1<<20)
	}
	w, err := io.CopyBuffer(io.NewOffsetWriter(out, off), io.NewSectionReader(in, off, n), c.buf)
	if err == nil && w != n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func copyXattrs(dst, src string) error {
	names, err := listXattrs(src)
	if err != nil {
		return err
	}
	for _, name := range names {
		val, err := getXattr(src, name)
		if err != nil {
			return err
		}
		if err := unix.Lsetxattr(dst, name, val, 0); err != nil {
			return &os.PathError{Op: "lsetxattr " + name, Path: dst, Err: err}
		}
	}
	return nil
}

func listXattrs(path string) ([]string, error) {
	for {
		n, err := unix.Llistxattr(path, nil)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, &os.PathError{Op: "llistxattr", Path: path, Err: err}
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, &os.PathError{Op: "llistxattr", Path: path, Err: err}
		}
		var names []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

func getXattr(path, name string) ([]byte, error) {
	for {
		n, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, &os.PathError{Op: "lgetxattr " + name, Path: path, Err: err}
		}
		buf := make([]byte, n)
		n, err = unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "lgetxattr " + name, Path: path, Err: err}
		}
		return buf[:n], nil
	}
}
