package build

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// openInRoot opens p (a path in the container's terms) under root with
// RESOLVE_IN_ROOT: "..", absolute symlinks and the like stay inside.
func openInRoot(rootFd int, p string, flags uint64) (int, error) {
	rel := strings.TrimLeft(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(rootFd, rel, &unix.OpenHow{
			Flags:   flags | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// isDirIn reports whether dir exists under root as a directory (symlinks
// resolved inside root); a non-directory there is an error, as docker's
// WORKDIR says.
func isDirIn(root, dir string) (bool, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(rfd)
	fd, err := openInRoot(rfd, dir, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false, fmt.Errorf("Cannot mkdir: %s is not a directory", dir)
	}
	return true, nil
}

// mkdirIn creates dir and its missing parents under root (0755, owned by
// root), resolving each component inside root.
func mkdirIn(root, dir string) error {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(rfd)
	parts := strings.Split(strings.Trim(path.Clean("/"+dir), "/"), "/")
	cur := "/"
	for _, name := range parts {
		if name == "" {
			continue
		}
		next := path.Join(cur, name)
		fd, err := openInRoot(rfd, next, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			unix.Close(fd)
			cur = next
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("Cannot mkdir: %s: %w", next, err)
		}
		pfd, err := openInRoot(rfd, cur, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("mkdir %s: %w", next, err)
		}
		err = unix.Mkdirat(pfd, name, 0o755)
		if err == nil {
			err = unix.Fchownat(pfd, name, 0, 0, unix.AT_SYMLINK_NOFOLLOW)
		}
		unix.Close(pfd)
		if err != nil {
			return fmt.Errorf("mkdir %s: %w", next, err)
		}
		cur = next
	}
	return nil
}

// statInRoot reports whether p under root is a directory.
func statIsDir(root, p string) bool {
	ok, _ := isDirIn(root, p)
	return ok
}
