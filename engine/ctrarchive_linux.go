package engine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/layer"
)

// ContainerExport streams a tar of the container's filesystem: its image's
// layers and its own changes, merged. The filesystem stays mounted until
// the stream is read to its end or closed.
func (e *Engine) ContainerExport(ctx context.Context, ref string) (io.ReadCloser, error) {
	v, err := e.view(ctx, ref)
	if err != nil {
		return nil, err
	}
	root, release, err := e.rootfs(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pr, pw := io.Pipe()
	go func() {
		err := layer.WriteTar(ctx, pw, root)
		release()
		if err != nil {
			err = fmt.Errorf("export container %s: %w", v.ID, err)
		}
		pw.CloseWithError(err)
	}()
	e.emit(events.ContainerEventType, events.ActionExport, v.ID, map[string]string{"name": v.Name, "image": v.Image})
	return &streamReader{PipeReader: pr, cancel: cancel}, nil
}

// ctrPath is a path of a container's filesystem, found as dockerd finds
// it: every symlink on the way to its directory followed inside the
// container's root, the last element followed only when the path ends
// with "/" or "/.".
type ctrPath struct {
	asked  string // what the caller asked for
	abs    string // absolute, trailing "/" or "/." kept
	rootfd int
	parent int    // O_PATH descriptor of its directory (rootfd for "/")
	name   string // its name in parent; "" for the root itself
	st     unix.Stat_t
}

func (p *ctrPath) close() {
	if p.parent != p.rootfd {
		unix.Close(p.parent)
	}
	unix.Close(p.rootfd)
}

// base is the name dockerd gives the path: its last element ("/" for the
// root, "." for a path ending in "/.").
func (p *ctrPath) base() string { return path.Base(p.abs) }

// absPath makes a container path absolute, keeping a trailing "/" or "/."
// (dockerd's PreserveTrailingDotOrSeparator).
func absPath(p string) string {
	abs := path.Join("/", p)
	switch {
	case abs == "/":
	case strings.HasSuffix(p, "/."):
		abs += "/."
	case strings.HasSuffix(p, "/"):
		abs += "/"
	}
	return abs
}

// findPath looks up p in the container root mounted at root. A path that
// is not there is docker's 404 "Could not find the file P in container
// REF".
func findPath(root, ref, p string) (*ctrPath, error) {
	if p == "" {
		return nil, Invalid("Could not find the file  in container %s", ref)
	}
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root of container %s: %w", ref, err)
	}
	cp := &ctrPath{asked: p, abs: absPath(p), rootfd: rootfd, parent: rootfd}
	notFound := func(err error) (*ctrPath, error) {
		cp.close()
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return nil, NotFound("Could not find the file %s in container %s", p, ref)
		}
		return nil, fmt.Errorf("find %s in container %s: %w", p, ref, err)
	}
	rel := path.Clean(cp.abs)
	if strings.HasSuffix(cp.abs, "/") || strings.HasSuffix(cp.abs, "/.") {
		if rel, err = scopeResolve(rootfd, rel); err != nil {
			return notFound(err)
		}
	}
	if rel != "/" {
		if cp.parent, err = openInRoot(rootfd, path.Dir(rel), unix.O_PATH|unix.O_DIRECTORY); err != nil {
			cp.parent = rootfd
			return notFound(err)
		}
		cp.name = path.Base(rel)
		err = unix.Fstatat(cp.parent, cp.name, &cp.st, unix.AT_SYMLINK_NOFOLLOW)
	} else {
		err = unix.Fstat(rootfd, &cp.st)
	}
	if err != nil {
		return notFound(err)
	}
	return cp, nil
}

// openInRoot opens rel with every symlink and ".." resolved as if the
// descriptor root were "/" (openat2 RESOLVE_IN_ROOT): nothing outside it
// can be reached.
func openInRoot(root int, rel string, flags int) (int, error) {
	rel = strings.TrimPrefix(rel, "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(root, rel, how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 64 {
			continue
		}
		return fd, err
	}
}

// scopeResolve resolves every symlink of p (the last element too) inside
// the root, as dockerd's FollowSymlinkInScope: an absolute target starts
// again at the root, ".." stops there, and a missing element ends the
// lookup, the rest kept as written. It returns a clean absolute path.
func scopeResolve(root int, p string) (string, error) {
	var done []string
	todo := strings.Split(p, "/")
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		dir, err := openInRoot(root, strings.Join(done, "/"), unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			done = append(done, c)
			continue
		}
		if err != nil {
			return "", err
		}
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(dir, c, buf)
		unix.Close(dir)
		if err != nil {
			// Not a symlink, or not there: taken as it is.
			done = append(done, c)
			continue
		}
		if links++; links > 255 {
			return "", unix.ELOOP
		}
		target := string(buf[:n])
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return "/" + strings.Join(done, "/"), nil
}

// stat is the path's container.PathStat: Go's FileMode bits, and for a
// symlink the path it leads to inside the container.
func (p *ctrPath) stat() container.PathStat {
	ps := container.PathStat{
		Name:  p.base(),
		Size:  p.st.Size,
		Mode:  fileMode(p.st.Mode),
		Mtime: time.Unix(p.st.Mtim.Unix()),
	}
	if ps.Mode&fs.ModeSymlink != 0 {
		if t, err := scopeResolve(p.rootfd, path.Clean(p.abs)); err == nil {
			ps.LinkTarget = t
		}
	}
	return ps
}

// fileMode converts a stat mode to Go's FileMode, as os.Lstat does.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// ContainerStatPath describes a path of the container's filesystem
// (HEAD /containers/ID/archive).
func (e *Engine) ContainerStatPath(ctx context.Context, ref, p string) (container.PathStat, error) {
	v, err := e.view(ctx, ref)
	if err != nil {
		return container.PathStat{}, err
	}
	root, release, err := e.rootfs(ctx, v.ID)
	if err != nil {
		return container.PathStat{}, err
	}
	defer release()
	cp, err := findPath(root, ref, p)
	if err != nil {
		return container.PathStat{}, err
	}
	defer cp.close()
	return cp.stat(), nil
}

// CopyFromContainer streams a tar of a path of the container's filesystem,
// its entries named from the path's base name as dockerd names them (a
// directory's content under it; a symlink as itself unless the path ends
// with "/").
func (e *Engine) CopyFromContainer(ctx context.Context, ref, p string) (io.ReadCloser, container.PathStat, error) {
	v, err := e.view(ctx, ref)
	if err != nil {
		return nil, container.PathStat{}, err
	}
	root, release, err := e.rootfs(ctx, v.ID)
	if err != nil {
		return nil, container.PathStat{}, err
	}
	cp, err := findPath(root, ref, p)
	if err != nil {
		release()
		return nil, container.PathStat{}, err
	}
	st := cp.stat()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pr, pw := io.Pipe()
	go func() {
		err := writePathTar(ctx, pw, cp)
		cp.close()
		release()
		if err != nil {
			err = fmt.Errorf("copy %s from container %s: %w", p, v.ID, err)
		}
		pw.CloseWithError(err)
	}()
	e.emit(events.ContainerEventType, events.ActionArchivePath, v.ID, map[string]string{"name": v.Name, "image": v.Image, "path": p})
	return &streamReader{PipeReader: pr, cancel: cancel}, st, nil
}

// writePathTar writes the tar of cp to w.
func writePathTar(ctx context.Context, w io.Writer, cp *ctrPath) error {
	t := &ctrTar{ctx: ctx, tw: tar.NewWriter(w), links: map[[2]uint64]string{}, buf: make([]byte, 128<<10)}
	base := cp.base()
	name := func(rel string) string {
		if rel == "" {
			return base
		}
		return strings.TrimSuffix(base, "/") + "/" + rel
	}
	var dirfd int
	var err error
	if cp.name == "" {
		err = t.entry(cp.rootfd, "", &cp.st, name(""))
		if err == nil {
			dirfd, err = unix.Openat(cp.rootfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		}
	} else {
		err = t.entry(cp.parent, cp.name, &cp.st, name(""))
		if err == nil && cp.st.Mode&unix.S_IFMT == unix.S_IFDIR {
			dirfd, err = unix.Openat(cp.parent, cp.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		return err
	}
	if cp.st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = walkAt(dirfd, "", func(rel string, st *unix.Stat_t, parent int, n string) (bool, error) {
			return true, t.entry(parent, n, st, name(rel))
		})
		unix.Close(dirfd)
		if err != nil {
			return err
		}
	}
	return t.tw.Close()
}

// ctrTar writes entries of a container's filesystem, each opened by one
// name from its directory's descriptor without following a symlink.
type ctrTar struct {
	ctx   context.Context
	tw    *tar.Writer
	links map[[2]uint64]string // files linked more than once: the first name written
	buf   []byte
}

// entry writes the entry name of directory parent ("" with parent the
// entry itself, a directory) as tarName.
func (t *ctrTar) entry(parent int, name string, st *unix.Stat_t, tarName string) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	hdr := &tar.Header{
		Name:    tarName,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()),
		Format:  tar.FormatPAX,
	}
	var file *os.File
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := t.links[key]; ok && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			break
		}
		if st.Nlink > 1 {
			t.links[key] = tarName
		}
		fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", tarName, err)
		}
		file = os.NewFile(uintptr(fd), tarName)
		defer file.Close()
		var fst unix.Stat_t
		if err := unix.Fstat(fd, &fst); err != nil || fst.Ino != st.Ino || fst.Mode&unix.S_IFMT != unix.S_IFREG {
			return fmt.Errorf("open %s: replaced while it was read", tarName)
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, fst.Size
		caps := make([]byte, 64)
		if n, err := unix.Fgetxattr(fd, "security.capability", caps); err == nil && n > 0 {
			hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(caps[:n])}
		}
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(parent, name, buf)
		if err != nil {
			return fmt.Errorf("read link %s: %w", tarName, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, string(buf[:n])
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // a socket cannot be in a tar
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if file != nil {
		n, err := io.CopyBuffer(t.tw, io.LimitReader(file, hdr.Size), t.buf)
		if err != nil {
			return fmt.Errorf("read %s: %w", tarName, err)
		}
		if n < hdr.Size {
			return fmt.Errorf("read %s: it shrank while it was read", tarName)
		}
	}
	return nil
}

// CopyToContainer extracts a tar into the directory p of the container's
// filesystem (docker cp into a container). Every entry lands inside that
// directory whatever its name or the symlinks it meets; with CopyUIDGID
// the files belong to the container's user, else to the owners the tar
// names; unless AllowOverwriteDirWithFile, an entry may not replace a
// directory with a non-directory or the reverse.
func (e *Engine) CopyToContainer(ctx context.Context, ref, p string, src io.Reader, o CopyToOptions) error {
	v, err := e.view(ctx, ref)
	if err != nil {
		return err
	}
	if v.HostConfig != nil && v.HostConfig.ReadonlyRootfs {
		return Invalid("container rootfs is marked read-only")
	}
	root, release, err := e.rootfs(ctx, v.ID)
	if err != nil {
		return err
	}
	defer release()
	user := ""
	if v.Config != nil {
		user = v.Config.User
	}
	if err := extractTo(ctx, root, ref, p, src, o, user); err != nil {
		return err
	}
	e.emit(events.ContainerEventType, events.ActionExtractToDir, v.ID, map[string]string{"name": v.Name, "image": v.Image, "path": p})
	return nil
}

// extractTo extracts the tar src into the directory p of the container
// filesystem at root (see CopyToContainer); user is the container's, for
// CopyUIDGID.
func extractTo(ctx context.Context, root, ref, p string, src io.Reader, o CopyToOptions, user string) error {
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root of container %s: %w", ref, err)
	}
	defer unix.Close(rootfd)
	if p == "" {
		return Invalid("Could not find the file  in container %s", ref)
	}
	dest, err := scopeResolve(rootfd, path.Join("/", p))
	if err != nil {
		return NotFound("Could not find the file %s in container %s", p, ref)
	}
	dirfd, err := openInRoot(rootfd, dest, unix.O_PATH)
	if err != nil {
		return NotFound("Could not find the file %s in container %s", p, ref)
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	if err := unix.Fstat(dirfd, &st); err != nil {
		return fmt.Errorf("copy to %s in container %s: %w", p, ref, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Invalid("extraction point is not a directory")
	}
	owner := [2]int{-1, -1}
	if o.CopyUIDGID {
		u, err := image.LookupUser(root, user)
		if err != nil {
			return Invalid("%s", err.Error())
		}
		owner = [2]int{int(u.UID), int(u.GID)}
	}
	pr, pw := io.Pipe()
	filtered := make(chan error, 1)
	go func() {
		err := filterCopyTar(src, pw, dirfd, dest, owner, !o.AllowOverwriteDirWithFile)
		pw.CloseWithError(err)
		filtered <- err
	}()
	_, aerr := layer.Apply(ctx, "/proc/self/fd/"+strconv.Itoa(dirfd), pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if ferr := <-filtered; ferr != nil && !errors.Is(ferr, io.ErrClosedPipe) {
		return ferr
	}
	if aerr != nil {
		// Apply names the directory by its descriptor: drop that.
		if u := errors.Unwrap(aerr); u != nil {
			aerr = u
		}
		return fmt.Errorf("copy to %s in container %s: %w", p, ref, aerr)
	}
	return nil
}

// filterCopyTar passes the tar from src to w, refusing what docker cp
// refuses, and setting the owner when asked (owner[0] >= 0).
func filterCopyTar(src io.Reader, w io.Writer, dirfd int, dest string, owner [2]int, noOverwriteDirNonDir bool) error {
	tr := tar.NewReader(src)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Invalid("read the archive to copy: %v", err)
		}
		rel := path.Clean("/" + hdr.Name)
		if strings.HasPrefix(path.Base(rel), ".wh.") {
			return Invalid("cannot copy %q: names starting with .wh. are reserved for layer whiteouts", hdr.Name)
		}
		if noOverwriteDirNonDir && rel != "/" {
			var st unix.Stat_t
			if pfd, err := openInRoot(dirfd, path.Dir(rel), unix.O_PATH|unix.O_DIRECTORY); err == nil {
				err = unix.Fstatat(pfd, path.Base(rel), &st, unix.AT_SYMLINK_NOFOLLOW)
				unix.Close(pfd)
				if err == nil {
					isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
					full := path.Join(dest, rel)
					switch {
					case isDir && hdr.Typeflag != tar.TypeDir:
						return Invalid("cannot overwrite directory %q with non-directory %q", full, dest)
					case !isDir && hdr.Typeflag == tar.TypeDir:
						return Invalid("cannot overwrite non-directory %q with directory %q", full, dest)
					}
				}
			}
		}
		if owner[0] >= 0 {
			hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = owner[0], owner[1], "", ""
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	// The rest of the stream (padding) is read so that the sender is not
	// left blocked.
	io.Copy(io.Discard, src)
	return nil
}
