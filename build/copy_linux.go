package build

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/layer"
)

// This file is the writing side of COPY and ADD: sources into the step's
// root, with docker's destination rules, every path of the root resolved
// inside it.

// copyTo does Copy's work.
func copyTo(ctx context.Context, root string, req CopyRequest) error {
	srcfd, err := openRoot(req.SrcRoot)
	if err != nil {
		return req.failed("source root: %w", err)
	}
	defer unix.Close(srcfd)
	dstfd, err := openRoot(root)
	if err != nil {
		return fmt.Errorf("%s: root: %w", req.cmdName(), err)
	}
	defer unix.Close(dstfd)
	srcs, err := resolveSources(ctx, srcfd, req)
	if err != nil {
		return err
	}
	dest := req.Dest
	destIsDir := strings.HasSuffix(dest, "/")
	if !path.IsAbs(dest) {
		dest = path.Join("/", req.Workdir, dest)
	}
	destRel, _ := cleanRel(dest)
	c := &copier{ctx: ctx, req: req, dstRoot: dstfd, links: map[[2]uint64]int{}}
	defer c.close()
	if req.Chown != nil {
		c.owner = *req.Chown
	}
	for _, s := range srcs {
		if err := c.copySource(srcfd, dstfd, s, destRel, destIsDir); err != nil {
			return err
		}
	}
	return nil
}

// copier copies one instruction's sources.
type copier struct {
	ctx   context.Context
	req   CopyRequest
	owner Owner
	// dstRoot is the destination root, to resolve paths inside it.
	dstRoot int
	// links maps a source file's (device, inode) to an O_PATH descriptor
	// of its first copy, to keep hardlinks.
	links map[[2]uint64]int
}

func (c *copier) copySource(srcfd, dstfd int, s copySource, destRel string, destIsDir bool) error {
	req := c.req
	switch {
	case s.url != "":
		return c.download(dstfd, s, destRel, destIsDir)
	case s.isDir():
		// A directory's contents go into dest, made (0755) if missing.
		dfd, err := c.mkdirAll(dstfd, destRel)
		if err != nil {
			return err
		}
		defer unix.Close(dfd)
		sfd, err := openIn(srcfd, s.rel, unix.O_RDONLY|unix.O_DIRECTORY, true)
		if err != nil {
			return req.failed("%s: %w", s.written, err)
		}
		defer unix.Close(sfd)
		return c.copyDir(sfd, dfd, destRel)
	case req.Add && s.st.Mode&unix.S_IFMT == unix.S_IFREG:
		done, err := c.extract(srcfd, dstfd, s, destRel)
		if done || err != nil {
			return err
		}
	}
	target := destRel
	if destIsDir || c.isDir(dstfd, destRel) {
		target = path.Join(destRel, s.name)
	}
	pfd, err := c.mkdirAll(dstfd, parentOf(target))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	sdir, err := openIn(srcfd, parentOf(s.rel), unix.O_RDONLY|unix.O_DIRECTORY, true)
	if err != nil {
		return req.failed("%s: %w", s.written, err)
	}
	defer unix.Close(sdir)
	return c.copyEntry(sdir, path.Base(s.rel), pfd, path.Base(target), target)
}

// parentOf is path.Dir for root-relative paths ("" for the root).
func parentOf(rel string) string {
	d := path.Dir(rel)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

// isDir reports whether rel is a directory in the root, a last symlink
// followed inside it (docker's test for "copy into").
func (c *copier) isDir(rootfd int, rel string) bool {
	fd, err := openIn(rootfd, rel, unix.O_PATH|unix.O_DIRECTORY, false)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// mkdirAll opens the directory rel of the root, making it and its
// missing parents (0755, owned by the copy's owner) as needed. Symlinks
// on the way are followed inside the root.
func (c *copier) mkdirAll(rootfd int, rel string) (int, error) {
	fd, err := openIn(rootfd, rel, unix.O_RDONLY|unix.O_DIRECTORY, false)
	if err == nil || !errors.Is(err, unix.ENOENT) || rel == "" {
		if err != nil {
			return -1, c.req.failed("destination /%s: %w", rel, err)
		}
		return fd, nil
	}
	pfd, err := c.mkdirAll(rootfd, parentOf(rel))
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	name := path.Base(rel)
	if err := unix.Mkdirat(pfd, name, 0o755); err != nil {
		return -1, c.req.failed("create directory /%s: %w", rel, err)
	}
	if err := unix.Fchownat(pfd, name, c.owner.UID, c.owner.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return -1, c.req.failed("chown /%s: %w", rel, err)
	}
	if err := unix.Fchmodat(pfd, name, 0o755, 0); err != nil {
		return -1, c.req.failed("chmod /%s: %w", rel, err)
	}
	fd, err = unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, c.req.failed("open /%s: %w", rel, err)
	}
	return fd, nil
}

// copyDir copies the entries of the open directory sfd into dfd; rel is
// dfd's path in the destination root.
func (c *copier) copyDir(sfd, dfd int, rel string) error {
	dup, err := unix.Dup(sfd)
	if err != nil {
		return err
	}
	names, err := readDirNames(dup, rel)
	if err != nil {
		return c.req.failed("read directory: %w", err)
	}
	for _, n := range names {
		if err := c.copyEntry(sfd, n, dfd, n, path.Join(rel, n)); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry copies sname in directory sdir to dname in directory ddir
// (rel: its path in the destination root): a file, directory (with
// everything under it), symlink, device or fifo, owned by the copy's
// owner, with its mode (or --chmod) and times. What is at dname is
// replaced, except a directory by a directory, which is merged into.
func (c *copier) copyEntry(sdir int, sname string, ddir int, dname, rel string) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(sdir, sname, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return c.req.failed("stat %s: %w", sname, err)
	}
	fail := func(op string, err error) error { return c.req.failed("%s /%s: %w", op, rel, err) }
	typ := st.Mode & unix.S_IFMT
	if typ == unix.S_IFSOCK {
		return nil // sockets are not copied (tar has no entry for them)
	}
	var old unix.Stat_t
	exists := unix.Fstatat(ddir, dname, &old, unix.AT_SYMLINK_NOFOLLOW) == nil
	if exists && typ == unix.S_IFDIR && old.Mode&unix.S_IFMT == unix.S_IFLNK {
		// A directory onto a symlink to a directory (an image's /lib ->
		// usr/lib) merges into the directory, resolved inside the root;
		// the symlink and its target's metadata stay.
		if dfd, err := openIn(c.dstRoot, rel, unix.O_RDONLY|unix.O_DIRECTORY, false); err == nil {
			defer unix.Close(dfd)
			sfd, err := unix.Openat(sdir, sname, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return c.req.failed("open %s: %w", sname, err)
			}
			defer unix.Close(sfd)
			return c.copyDir(sfd, dfd, rel)
		}
	}
	if exists && !(typ == unix.S_IFDIR && old.Mode&unix.S_IFMT == unix.S_IFDIR) {
		if err := removeAt(ddir, dname, old.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
			return fail("replace", err)
		}
		exists = false
	}
	switch typ {
	case unix.S_IFDIR:
		if !exists {
			if err := unix.Mkdirat(ddir, dname, 0o700); err != nil {
				return fail("create directory", err)
			}
		}
		sfd, err := unix.Openat(sdir, sname, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return c.req.failed("open %s: %w", sname, err)
		}
		defer unix.Close(sfd)
		dfd, err := unix.Openat(ddir, dname, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail("open", err)
		}
		defer unix.Close(dfd)
		if err := c.copyDir(sfd, dfd, rel); err != nil {
			return err
		}
		if err := c.meta(dfd, sfd, &st); err != nil {
			return fail("set metadata of", err)
		}
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if st.Nlink > 1 {
			if first, ok := c.links[key]; ok {
				if err := c.link(first, ddir, dname); err == nil {
					return nil
				}
			}
		}
		if err := c.copyFile(sdir, sname, ddir, dname, &st); err != nil {
			return fail("copy file to", err)
		}
		if st.Nlink > 1 {
			c.remember(key, ddir, dname)
		}
	case unix.S_IFLNK:
		target, err := readlinkAt(sdir, sname)
		if err != nil {
			return c.req.failed("readlink %s: %w", sname, err)
		}
		if err := unix.Symlinkat(target, ddir, dname); err != nil {
			return fail("symlink", err)
		}
		if err := unix.Fchownat(ddir, dname, c.owner.UID, c.owner.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail("chown", err)
		}
		ts := statTimes(&st)
		if err := unix.UtimesNanoAt(ddir, dname, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail("set times of", err)
		}
	default: // devices and fifos
		if err := unix.Mknodat(ddir, dname, st.Mode, int(st.Rdev)); err != nil {
			return fail("mknod", err)
		}
		if err := unix.Fchownat(ddir, dname, c.owner.UID, c.owner.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail("chown", err)
		}
		if err := unix.Fchmodat(ddir, dname, c.mode(&st), 0); err != nil {
			return fail("chmod", err)
		}
		ts := statTimes(&st)
		if err := unix.UtimesNanoAt(ddir, dname, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail("set times of", err)
		}
	}
	return nil
}

// maxLinkFds bounds the descriptors kept to recreate hardlinks; past
// it, more files with several links are copied instead.
const maxLinkFds = 1024

// link makes dname in ddir a hardlink of the file this copy made first
// for the same source inode (fd: an O_PATH descriptor of it).
func (c *copier) link(fd int, ddir int, dname string) error {
	return unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), ddir, dname, unix.AT_SYMLINK_FOLLOW)
}

// remember keeps the copy dname of ddir as the first of its source inode.
func (c *copier) remember(key [2]uint64, ddir int, dname string) {
	if len(c.links) >= maxLinkFds {
		return
	}
	fd, err := unix.Openat(ddir, dname, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		c.links[key] = fd
	}
}

// close releases the hardlink descriptors.
func (c *copier) close() {
	for _, fd := range c.links {
		unix.Close(fd)
	}
}

// copyFile copies the regular file sname of sdir to a new dname in ddir.
func (c *copier) copyFile(sdir int, sname string, ddir int, dname string, st *unix.Stat_t) error {
	sfd, err := unix.Openat(sdir, sname, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	src := os.NewFile(uintptr(sfd), sname)
	defer src.Close()
	dfd, err := unix.Openat(ddir, dname, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(dfd), dname)
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil { // copy_file_range where it can
		return err
	}
	return c.meta(dfd, sfd, st)
}

// meta sets what a copied file or directory ends with: the owner, the
// mode (set after chown, which clears setuid bits), the source's xattrs
// (file capabilities), then the times.
func (c *copier) meta(dfd, sfd int, st *unix.Stat_t) error {
	if err := unix.Fchown(dfd, c.owner.UID, c.owner.GID); err != nil {
		return err
	}
	if err := unix.Fchmod(dfd, c.mode(st)); err != nil {
		return err
	}
	if err := copyXattrs(sfd, dfd); err != nil {
		return err
	}
	ts := statTimes(st)
	return unix.UtimesNanoAt(dfd, "", ts[:], unix.AT_EMPTY_PATH)
}

// mode is the permission bits a copy gets: --chmod's, else the source's.
func (c *copier) mode(st *unix.Stat_t) uint32 {
	if c.req.Chmod != nil {
		return fileModeBits(*c.req.Chmod)
	}
	return st.Mode & 0o7777
}

// fileModeBits converts an os.FileMode's permission and special bits to
// the kernel's.
func fileModeBits(m os.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		b |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		b |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		b |= unix.S_ISVTX
	}
	return b
}

// statTimes is a stat's access and modification times.
func statTimes(st *unix.Stat_t) [2]unix.Timespec {
	return [2]unix.Timespec{st.Atim, st.Mtim}
}

// readlinkAt reads the symlink name in dir.
func readlinkAt(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// removeAt removes name from dir, everything under it when it is a
// directory.
func removeAt(dir int, name string, isDir bool) error {
	if !isDir {
		return unix.Unlinkat(dir, name, 0)
	}
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	dup, err := unix.Dup(fd)
	if err != nil {
		unix.Close(fd)
		return err
	}
	names, err := readDirNames(dup, name)
	if err != nil {
		unix.Close(fd)
		return err
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			unix.Close(fd)
			return err
		}
		if err := removeAt(fd, n, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
			unix.Close(fd)
			return err
		}
	}
	unix.Close(fd)
	return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
}

// copyXattrs copies the xattrs of sfd to dfd, but for overlayfs's own and
// SELinux labels (the runtime's business); one the destination does not
// support is skipped.
func copyXattrs(sfd, dfd int) error {
	size, err := unix.Flistxattr(sfd, nil)
	if err != nil || size == 0 {
		return nil // no xattrs, or none supported here
	}
	buf := make([]byte, size)
	size, err = unix.Flistxattr(sfd, buf)
	if err != nil {
		return nil
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") || name == "security.selinux" {
			continue
		}
		vsize, err := unix.Fgetxattr(sfd, name, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsize)
		vsize, err = unix.Fgetxattr(sfd, name, val)
		if err != nil {
			continue
		}
		if err := unix.Fsetxattr(dfd, name, val[:vsize], 0); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

// extract does ADD's archive rule: a local file that is a tar (plain,
// gzip, bzip2 or zstd; sniffed, whatever its name) is unpacked into
// dest, taken as a directory; entries keep the tar's owners, modes and
// times, and resolve inside dest. It reports false when the file is not
// an archive, to be copied as a file.
func (c *copier) extract(srcfd, dstfd int, s copySource, destRel string) (bool, error) {
	fd, err := openIn(srcfd, s.rel, unix.O_RDONLY|unix.O_NOFOLLOW, true)
	if err != nil {
		return false, c.req.failed("%s: %w", s.written, err)
	}
	f := os.NewFile(uintptr(fd), s.written)
	defer f.Close()
	if !isArchive(f) {
		return false, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, c.req.failed("%s: %w", s.written, err)
	}
	dfd, err := c.mkdirAll(dstfd, destRel)
	if err != nil {
		return false, err
	}
	defer unix.Close(dfd)
	r, err := tarStream(f)
	if err != nil {
		return false, c.req.failed("%s: %w", s.written, err)
	}
	defer r.Close()
	if _, err := layer.Apply(c.ctx, fmt.Sprintf("/proc/self/fd/%d", dfd), r, layer.WithoutWhiteouts()); err != nil {
		return false, c.req.failed("extract %s: %w", s.written, err)
	}
	return true, nil
}

// tarStream returns the tar inside a possibly compressed archive.
func tarStream(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(512)
	return decompressed(br, sniffArchive(head))
}

// isArchive reports whether f holds a tar, compressed or not, that has
// at least one entry: docker's test for ADD's extraction.
func isArchive(f *os.File) bool {
	r, err := tarStream(f)
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = tar.NewReader(r).Next()
	return err == nil
}

// epoch is the time a download without Last-Modified gets, as docker
// gives it.
var epoch = time.Unix(0, 0)

// download fetches an ADD URL into dest: inside it when dest is a
// directory, else as dest. The file is 0600 (or --chmod), owned by the
// copy's owner, with the Last-Modified time (else the epoch).
func (c *copier) download(dstfd int, s copySource, destRel string, destIsDir bool) error {
	rf, err := fetch(c.ctx, c.req, s.url)
	if err != nil {
		return err
	}
	defer rf.body.Close()
	name, err := rf.targetName(c.req, s.url, destIsDir)
	if err != nil {
		return err
	}
	target := destRel
	if destIsDir || c.isDir(dstfd, destRel) {
		target = path.Join(destRel, name)
	}
	pfd, err := c.mkdirAll(dstfd, parentOf(target))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	base := path.Base(target)
	fail := func(op string, err error) error { return c.req.failed("%s /%s: %w", op, target, err) }
	var old unix.Stat_t
	if unix.Fstatat(pfd, base, &old, unix.AT_SYMLINK_NOFOLLOW) == nil {
		if err := removeAt(pfd, base, old.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
			return fail("replace", err)
		}
	}
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fail("create", err)
	}
	f := os.NewFile(uintptr(fd), target)
	defer f.Close()
	if _, err := io.Copy(f, rf.body); err != nil {
		return c.req.failed("download %s: %w", s.url, err)
	}
	if err := unix.Fchown(fd, c.owner.UID, c.owner.GID); err != nil {
		return fail("chown", err)
	}
	mode := uint32(0o600)
	if c.req.Chmod != nil {
		mode = fileModeBits(*c.req.Chmod)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fail("chmod", err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(rf.mtime.UnixNano()), unix.NsecToTimespec(rf.mtime.UnixNano())}
	if err := unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH); err != nil {
		return fail("set times of", err)
	}
	return nil
}
