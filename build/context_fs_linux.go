package build

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// This file is path resolution inside a root: every path a build takes
// from a Dockerfile, a context or an image is opened with
// openat2(RESOLVE_IN_ROOT) from a descriptor of its root, so "..",
// absolute symlinks and relative ones all stay inside it.

// openRoot opens dir as a root to resolve paths in.
func openRoot(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fd, nil
}

// openIn opens rel inside the root rootfd. Symlinks (the last component
// too, unless flags has O_NOFOLLOW) resolve as if rootfd were "/";
// noSymlinks refuses any symlink on the way instead.
func openIn(rootfd int, rel string, flags int, noSymlinks bool) (int, error) {
	rel = strings.TrimLeft(rel, "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	if noSymlinks {
		how.Resolve |= unix.RESOLVE_NO_SYMLINKS
	}
	for {
		fd, err := unix.Openat2(rootfd, rel, &how)
		switch err {
		case nil:
			return fd, nil
		case unix.EINTR, unix.EAGAIN:
			continue
		}
		return -1, &os.PathError{Op: "open", Path: rel, Err: err}
	}
}

// fdPath is the path of an open descriptor: where RESOLVE_IN_ROOT took
// us, as the kernel names it.
func fdPath(fd int) (string, error) {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("resolve descriptor: %w", err)
	}
	return p, nil
}

// relIn returns the path of fd relative to the root rootfd ("" for the
// root itself): the real path, with no symlink left in it.
func relIn(rootfd, fd int) (string, error) {
	rp, err := fdPath(rootfd)
	if err != nil {
		return "", err
	}
	p, err := fdPath(fd)
	if err != nil {
		return "", err
	}
	if p == rp {
		return "", nil
	}
	if rp == "/" {
		return strings.TrimPrefix(p, "/"), nil
	}
	if !strings.HasPrefix(p, rp+"/") {
		return "", fmt.Errorf("resolved path %s is not under %s", p, rp)
	}
	return p[len(rp)+1:], nil
}

// readFileIn reads the regular file rel inside the root dir, at most max
// bytes.
func readFileIn(dir, rel string, max int64) ([]byte, error) {
	rootfd, err := openRoot(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	fd, err := openIn(rootfd, rel, unix.O_RDONLY, false)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &os.PathError{Op: "read", Path: rel, Err: errors.New("not a regular file")}
	}
	if fi.Size() > max {
		return nil, &os.PathError{Op: "read", Path: rel, Err: fmt.Errorf("larger than %d bytes", max)}
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// cleanRel cleans p into a path relative to a root: a leading "/" or
// "./" means the root. It reports whether p climbs out of the root with
// "..".
func cleanRel(p string) (rel string, escapes bool) {
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return c, true
	}
	c = strings.TrimLeft(path.Clean("/"+c), "/")
	return c, false
}
