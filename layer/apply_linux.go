package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// ApplyOption changes how Apply unpacks a layer.
type ApplyOption func(*applyOptions)

type applyOptions struct {
	overlay bool
	plain   bool
}

// WithoutWhiteouts makes Apply extract a plain archive, not a layer: a
// ".wh.NAME" entry is a file like any other (an ADD of a tar, a build
// context), as docker's untar does. Paths stay inside root all the same.
func WithoutWhiteouts() ApplyOption {
	return func(o *applyOptions) { o.plain = true }
}

// WithOverlayWhiteouts makes Apply treat root as an overlayfs upper
// directory, to be mounted over the lower layers: a whiteout ".wh.NAME"
// becomes a 0/0 character device NAME, and ".wh..wh..opq" sets
// trusted.overlay.opaque="y" on its directory. Nothing is deleted, since
// the lower layers are not in root. A directory of the layer that a
// whiteout of the same layer names (before or after it) is made opaque
// instead, which hides what the whiteout means to hide and keeps the
// layer's own entries, as in the default mode. Setting trusted.* xattrs
// needs CAP_SYS_ADMIN.
func WithOverlayWhiteouts() ApplyOption {
	return func(o *applyOptions) { o.overlay = true }
}

// copyBufferSize is the buffer Apply streams file contents through, and
// readBufferSize the one it reads the tar stream into.
const (
	copyBufferSize = 1 << 20
	readBufferSize = 256 << 10
)

// Apply unpacks the uncompressed layer tar r onto the directory root and
// returns the number of bytes of file content it wrote.
//
// It reads r to its end, trailing zero blocks and padding included, so a
// caller that hashes r gets the layer's diff ID.
//
// Entries are made as the tar says: regular files, directories, symlinks,
// hardlinks, character and block devices and fifos, with their owner
// (numeric uid and gid), mode (setuid, setgid and sticky bits included, set
// after the owner since chown clears them), modification and access times
// (a directory's at the end, once nothing more is written into it) and
// xattrs from SCHILY.xattr PAX records. An entry replaces what is at its
// path, except that a directory over a directory keeps the one there and
// only updates its metadata; missing parents are made (0755, owned by the
// caller). An entry for the root itself is ignored.
//
// Xattrs: overlayfs's own (trusted.overlay.*, user.overlay.*) are never
// set from a tar, nor security.selinux (a label of the host that built the
// layer, under its policy; labelling is the runtime's business, and a
// foreign label may be refused). One the filesystem does not support
// (ENOTSUP) is skipped,
// and so is a user.* xattr on a symlink or device (the kernel allows those
// on files and directories only), except security.capability: losing a
// file capability silently would change what the program may do, so that
// fails the apply, as does any other error.
//
// Whiteouts follow the OCI layer spec: they remove only what lower layers
// had, never entries of the same layer, wherever in the tar the whiteout
// comes. See WithOverlayWhiteouts for the other mode.
//
// No entry can reach outside root: see the package documentation. Errors
// name the entry.
//
// Files are not synced. Small files are created in order by the goroutine
// reading the tar and finished (written, chowned, closed) by a few others,
// all done before Apply returns.
func Apply(ctx context.Context, root string, r io.Reader, opts ...ApplyOption) (size int64, err error) {
	a := &applier{ctx: ctx, cacheFd: -1, seen: make(map[string]struct{}), whited: make(map[string]struct{})}
	for _, o := range opts {
		o(&a.opts)
	}
	if a.root, err = openRoot(root); err != nil {
		return 0, fmt.Errorf("layer: apply to %s: %w", root, err)
	}
	defer a.close()
	a.buf = make([]byte, copyBufferSize)
	a.fin = newFinishers(a)
	err = a.run(r)
	if ferr := a.fin.wait(); err == nil {
		err = ferr
	}
	if err == nil {
		err = a.setDirTimes()
	}
	if err != nil {
		return a.size, fmt.Errorf("layer: apply to %s: %w", root, err)
	}
	return a.size, nil
}

type applier struct {
	ctx  context.Context
	opts applyOptions
	root int
	buf  []byte
	size int64
	fin  *finishers

	// The parent directory of the last entry, kept open for the next one.
	// stale is set when something that a path may resolve through (a
	// directory or a symlink) was removed: the descriptor is then still
	// good for the entry at hand but not looked up again.
	cacheDir string
	cacheFd  int
	stale    bool

	// seen holds the path of every entry of this layer and every ancestor
	// of one: whiteouts leave them alone.
	seen map[string]struct{}
	// whited holds, in overlay mode, the paths this layer made whiteout
	// devices for: a directory this layer then puts there must be opaque,
	// or the lower one it whited out would show through it again.
	whited map[string]struct{}
	// dirs are the times to set on directories once all entries are in.
	dirs []dirTimes
}

type dirTimes struct {
	rel string
	ts  [2]unix.Timespec
}

func (a *applier) close() {
	if a.cacheFd >= 0 {
		unix.Close(a.cacheFd)
	}
	unix.Close(a.root)
}

func (a *applier) run(r io.Reader) error {
	// Buffered: tar headers come in 512-byte blocks, and small files'
	// contents are small; one large read serves many of them.
	r = bufio.NewReaderSize(r, readBufferSize)
	tr := tar.NewReader(r)
	for {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := a.entry(tr, hdr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if err := a.fin.failed(); err != nil {
			return err
		}
	}
	// The tar reader stops after the two zero blocks; the rest (padding to
	// the record size) is part of the layer too.
	for {
		_, err := r.Read(a.buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar padding: %w", err)
		}
	}
	return nil
}

func (a *applier) entry(tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel := cleanName(hdr.Name)
	if rel == "" {
		return nil
	}
	dir, base := splitRel(rel)
	if strings.HasPrefix(base, WhiteoutPrefix) && !a.opts.plain {
		return a.whiteout(dir, base, hdr)
	}
	if !a.opts.plain && (strings.HasPrefix(dir, WhiteoutPrefix) || strings.Contains(dir, "/"+WhiteoutPrefix)) {
		return fmt.Errorf("a whiteout name used as a directory")
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || int64(hdr.Uid) > 1<<32-2 || int64(hdr.Gid) > 1<<32-2 {
		return fmt.Errorf("invalid owner %d:%d", hdr.Uid, hdr.Gid)
	}
	if hdr.Typeflag == tar.TypeDir {
		return a.dir(dir, base, rel, hdr)
	}
	pfd, err := a.parent(dir, true)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeGNUSparse:
		err = a.file(pfd, base, hdr, tr)
	case tar.TypeSymlink:
		err = a.replace(pfd, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) })
		if err != nil {
			err = fmt.Errorf("symlink: %w", err)
		} else {
			err = a.meta(pfd, base, hdr, false)
		}
	case tar.TypeLink:
		err = a.hardlink(pfd, base, rel, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode = unix.S_IFCHR
		case tar.TypeBlock:
			mode = unix.S_IFBLK
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		err = a.replace(pfd, base, func() error { return unix.Mknodat(pfd, base, mode|0o600, dev) })
		if err != nil {
			err = fmt.Errorf("mknod: %w", err)
		} else {
			err = a.meta(pfd, base, hdr, true)
		}
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	if err != nil {
		return err
	}
	a.markSeen(rel)
	return nil
}

// parent returns a descriptor of the directory dir, resolved inside the
// root, making what is missing of it when create is set. The descriptor
// belongs to the cache: callers do not close it.
func (a *applier) parent(dir string, create bool) (int, error) {
	if a.cacheFd >= 0 && !a.stale && a.cacheDir == dir {
		return a.cacheFd, nil
	}
	fd, err := openDirInRoot(a.root, dir)
	if err == unix.ENOENT && create {
		if err = a.mkdirAll(dir); err != nil {
			return -1, err
		}
		fd, err = openDirInRoot(a.root, dir)
	}
	if err != nil {
		return -1, fmt.Errorf("open directory /%s in root: %w", dir, err)
	}
	a.setCache(dir, fd)
	return fd, nil
}

func (a *applier) setCache(dir string, fd int) {
	if a.cacheFd >= 0 {
		unix.Close(a.cacheFd)
	}
	a.cacheDir, a.cacheFd, a.stale = dir, fd, false
}

// mkdirAll makes the missing directories of dir, 0755 and owned by the
// applier. A component that exists but does not resolve to a directory (a
// file, a dangling symlink) is left for the caller's open to report.
func (a *applier) mkdirAll(dir string) error {
	if dir == "" {
		return nil
	}
	pdir, base := splitRel(dir)
	pfd, err := openDirInRoot(a.root, pdir)
	if err == unix.ENOENT {
		if err = a.mkdirAll(pdir); err != nil {
			return err
		}
		pfd, err = openDirInRoot(a.root, pdir)
	}
	if err != nil {
		return fmt.Errorf("open directory /%s in root: %w", pdir, err)
	}
	defer unix.Close(pfd)
	switch err := unix.Mkdirat(pfd, base, 0o755); err {
	case nil:
		a.markSeen(dir)
		if err := chmodAt(pfd, base, 0o755); err != nil {
			return fmt.Errorf("chmod parent /%s: %w", dir, err)
		}
		return nil
	case unix.EEXIST:
		return nil
	default:
		return fmt.Errorf("make parent /%s: %w", dir, err)
	}
}

// replace runs mk, which makes name in pfd and fails with EEXIST if
// something is there; if so, it removes that (a directory with all in it)
// and runs mk once more.
func (a *applier) replace(pfd int, name string, mk func() error) error {
	err := mk()
	if err != unix.EEXIST {
		return err
	}
	if err := a.remove(pfd, name); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	return mk()
}

// remove removes name from pfd, a directory with everything in it.
func (a *applier) remove(pfd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		a.stale = true
		return removeAllAt(pfd, name)
	case unix.S_IFLNK:
		a.stale = true
	}
	if err := unix.Unlinkat(pfd, name, 0); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// markSeen records rel and its ancestors as this layer's.
func (a *applier) markSeen(rel string) {
	for rel != "" {
		if _, ok := a.seen[rel]; ok {
			return // and so are its ancestors
		}
		a.seen[rel] = struct{}{}
		rel, _ = splitRel(rel)
	}
}

func (a *applier) file(pfd int, name string, hdr *tar.Header, r io.Reader) error {
	var fd int
	err := a.replace(pfd, name, func() (err error) {
		fd, err = unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	if hdr.Size <= smallFileSize {
		buf := a.fin.buffer(int(hdr.Size))
		if _, err := io.ReadFull(r, buf); err != nil {
			a.fin.release(buf)
			unix.Close(fd)
			return fmt.Errorf("read content: %w", noEOF(err))
		}
		a.size += hdr.Size
		a.fin.jobs <- finishJob{fd: fd, buf: buf, name: hdr.Name, hdr: hdr}
		return nil
	}
	err = a.stream(fd, r)
	if err == nil {
		err = a.finish(fd, nil, hdr)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return err
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// stream copies a large file's content from r to fd.
func (a *applier) stream(fd int, r io.Reader) error {
	for {
		n, rerr := r.Read(a.buf)
		if n > 0 {
			if err := writeAll(fd, a.buf[:n]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			a.size += int64(n)
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read content: %w", rerr)
		}
		if err := a.ctx.Err(); err != nil {
			return err
		}
	}
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

// meta sets owner, mode (unless a symlink), xattrs and times of name in
// pfd, never following a symlink there.
func (a *applier) meta(pfd int, name string, hdr *tar.Header, chmod bool) error {
	if err := unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if chmod {
		if err := chmodAt(pfd, name, uint32(hdr.Mode&0o7777)); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if err := a.xattrs(hdr, false, func(k string, v []byte) error { return lsetxattrAt(pfd, name, k, v) }); err != nil {
		return err
	}
	ts := times(hdr)
	if err := unix.UtimesNanoAt(pfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// xattrs sets the header's xattrs with set, skipping as Apply documents.
// fileOrDir says whether the entry may carry user.* xattrs.
func (a *applier) xattrs(hdr *tar.Header, fileOrDir bool, set func(string, []byte) error) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattr)
		if !ok || !layerXattr(name) {
			continue
		}
		err := set(name, []byte(v))
		switch {
		case err == nil:
		case name == "security.capability":
			return fmt.Errorf("set xattr %s: %w", name, err)
		case errors.Is(err, unix.ENOTSUP):
		case !fileOrDir && err == unix.EPERM && strings.HasPrefix(name, "user."):
		default:
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

func times(hdr *tar.Header) [2]unix.Timespec {
	m := timespec(hdr.ModTime.Unix(), hdr.ModTime.Nanosecond())
	at := m
	if !hdr.AccessTime.IsZero() {
		at = timespec(hdr.AccessTime.Unix(), hdr.AccessTime.Nanosecond())
	}
	return [2]unix.Timespec{at, m}
}

func (a *applier) dir(dir, name, rel string, hdr *tar.Header) error {
	pfd, err := a.parent(dir, true)
	if err != nil {
		return err
	}
	err = unix.Mkdirat(pfd, name, 0o700)
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err = unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err = a.remove(pfd, name); err == nil {
				err = unix.Mkdirat(pfd, name, 0o700)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	// The new directory is the likely parent of the next entries.
	a.setCache(rel, fd)
	if err := a.ownModeXattrs(fd, hdr); err != nil {
		return err
	}
	if _, ok := a.whited[rel]; ok {
		if err := setOpaque(fd); err != nil {
			return err
		}
	}
	a.dirs = append(a.dirs, dirTimes{rel, times(hdr)})
	a.markSeen(rel)
	return nil
}

// setDirTimes sets the directories' times, once nothing more changes in
// them. A directory an entry later replaced or removed is skipped.
func (a *applier) setDirTimes() error {
	sort.SliceStable(a.dirs, func(i, j int) bool { return a.dirs[i].rel < a.dirs[j].rel })
	for _, d := range a.dirs {
		dir, name := splitRel(d.rel)
		pfd, err := a.parent(dir, false)
		if err == nil {
			var st unix.Stat_t
			if err = unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				err = unix.UtimesNanoAt(pfd, name, d.ts[:], unix.AT_SYMLINK_NOFOLLOW)
			}
		}
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("set times of directory %q: %w", d.rel, err)
		}
	}
	return nil
}

func (a *applier) hardlink(pfd int, name, rel string, hdr *tar.Header) error {
	target := cleanName(hdr.Linkname)
	if target == "" {
		return fmt.Errorf("hardlink to the root directory")
	}
	if target == rel {
		return nil // a link to itself: nothing to do
	}
	tdir, tname := splitRel(target)
	tfd, err := openDirInRoot(a.root, tdir)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	// linkat without AT_SYMLINK_FOLLOW links a symlink itself, never what
	// it points to.
	err = a.replace(pfd, name, func() error { return unix.Linkat(tfd, tname, pfd, name, 0) })
	if err != nil {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
	}
	return nil
}

func (a *applier) whiteout(dir, base string, hdr *tar.Header) error {
	if base == WhiteoutOpaque {
		return a.opaque(dir)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // other AUFS metadata: never unpacked
	}
	name := strings.TrimPrefix(base, WhiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid whiteout")
	}
	rel := joinRel(dir, name)
	_, ours := a.seen[rel]
	if a.opts.overlay {
		pfd, err := a.parent(dir, true)
		if err != nil {
			return err
		}
		if ours {
			// Only the lower layers' part goes: if this layer's entry is a
			// directory, that is what opaque means.
			fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err == unix.ENOTDIR || err == unix.ELOOP || err == unix.ENOENT {
				return nil
			}
			if err != nil {
				return fmt.Errorf("open directory: %w", err)
			}
			defer unix.Close(fd)
			return setOpaque(fd)
		}
		err = a.replace(pfd, name, func() error { return unix.Mknodat(pfd, name, unix.S_IFCHR, 0) })
		if err != nil {
			return fmt.Errorf("whiteout device: %w", err)
		}
		if err := unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown whiteout: %w", err)
		}
		a.whited[rel] = struct{}{}
		return nil
	}
	pfd, err := a.parent(dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing below to remove
	}
	if err != nil {
		return err
	}
	if ours {
		// This layer wrote below it: only the lower layers' part goes.
		return a.removeUnseenIn(pfd, name, rel)
	}
	if err := a.remove(pfd, name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

func (a *applier) opaque(dir string) error {
	if a.opts.overlay {
		pfd, err := a.parent(dir, true)
		if err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open directory: %w", err)
		}
		defer unix.Close(fd)
		return setOpaque(fd)
	}
	pfd, err := a.parent(dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	return a.removeUnseen(pfd, dir)
}

// setOpaque marks the directory open as fd opaque for overlayfs.
func setOpaque(fd int) error {
	if err := unix.Fsetxattr(fd, overlayOpaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("set %s: %w", overlayOpaqueXattr, err)
	}
	return nil
}

// removeUnseenIn is removeUnseen for name in pfd, if it is a directory.
func (a *applier) removeUnseenIn(pfd int, name, rel string) error {
	fd, err := unix.Openat(pfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOTDIR || err == unix.ELOOP || err == unix.ENOENT {
		return nil // not a directory: the layer's own entry, kept
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return a.removeUnseen(fd, rel)
}

// removeUnseen removes from the directory dirfd (at rel) everything that
// is not this layer's, descending into what is.
func (a *applier) removeUnseen(dirfd int, rel string) error {
	names, err := readDirNames(dirfd)
	if err != nil {
		return fmt.Errorf("read directory /%s: %w", rel, err)
	}
	sort.Strings(names)
	for _, n := range names {
		p := joinRel(rel, n)
		if _, ok := a.seen[p]; ok {
			if err := a.removeUnseenIn(dirfd, n, p); err != nil {
				return err
			}
			continue
		}
		if err := a.remove(dirfd, n); err != nil {
			return fmt.Errorf("remove /%s: %w", p, err)
		}
	}
	return nil
}
