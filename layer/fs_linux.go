package layer

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The helpers below work on descriptors: a directory is reached once, with
// openat2(RESOLVE_IN_ROOT) from the root's descriptor, and everything in it
// is then named by a single component relative to it, with calls that do not
// follow a symlink in that component.

// openRoot opens dir as the descriptor every lookup of an apply starts from.
func openRoot(dir string) (int, error) {
	return unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// openDirInRoot opens rel (relative to root, "" for root itself) as an
// O_PATH directory descriptor. Symlinks on the way, relative or absolute,
// resolve as if root were "/", and ".." stops at root; magic links (/proc)
// are refused.
func openDirInRoot(root int, rel string) (int, error) {
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(root, rel, how)
		// EAGAIN: a rename raced the lookup (the kernel's seqlock check).
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 64 {
			continue
		}
		return fd, err
	}
}

// procPath names an open descriptor through /proc, for the few calls that
// have no descriptor-relative form.
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// lsetxattrAt sets an xattr on name in directory dirfd without following a
// symlink there: lsetxattr does not follow the last component, and the
// directory is reached through its descriptor's magic link.
func lsetxattrAt(dirfd int, name, attr string, value []byte) error {
	return unix.Lsetxattr(procPath(dirfd)+"/"+name, attr, value, 0)
}

// chmodAt changes the mode of name in dirfd, which must not be a symlink,
// without following one: fchmodat2(AT_SYMLINK_NOFOLLOW) where the kernel has
// it (6.6 and later), else through an O_PATH descriptor's /proc path.
func chmodAt(dirfd int, name string, mode uint32) error {
	err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP && err != unix.ENOSYS {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil // Linux has no symlink modes
	}
	return unix.Chmod(procPath(fd), mode)
}

// futimens sets the access and modification times of an open file:
// utimensat(fd, NULL, ts, 0), which x/sys does not expose.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// removeAllAt removes name from dirfd, a directory with everything below
// it. It never follows a symlink: each level is opened with O_NOFOLLOW from
// the one above. A name that is not there is not an error.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	switch err {
	case nil, unix.ENOENT:
		return nil
	case unix.EISDIR:
	case unix.EPERM: // some filesystems say EPERM for a directory
		var st unix.Stat_t
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return err
		}
	default:
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	for {
		names, rerr := d.Readdirnames(1024)
		for _, n := range names {
			if err := removeAllAt(fd, n); err != nil {
				return err
			}
		}
		if rerr != nil || len(names) == 0 {
			break
		}
	}
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if err == unix.ENOTEMPTY {
		// Readdir while removing may skip names on some filesystems: once more.
		if _, serr := d.Seek(0, 0); serr == nil {
			names, _ := d.Readdirnames(-1)
			for _, n := range names {
				if err := removeAllAt(fd, n); err != nil {
					return err
				}
			}
			err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		}
	}
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// readDirNames lists the directory open as fd (which stays open).
func readDirNames(fd int) ([]string, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(dup), ".")
	defer d.Close()
	return d.Readdirnames(-1)
}

// timespecs turns a header's times into utimensat's pair.
func timespec(sec int64, nsec int) unix.Timespec {
	return unix.Timespec{Sec: sec, Nsec: int64(nsec)}
}

// readXattrs returns the xattrs of p (not following a symlink); none where
// the filesystem has no xattrs.
func readXattrs(p string) (map[string]string, error) {
	var buf [4096]byte
	b := buf[:]
	n, err := unix.Llistxattr(p, b)
	if err == unix.ERANGE {
		if n, err = unix.Llistxattr(p, nil); err == nil {
			b = make([]byte, n)
			n, err = unix.Llistxattr(p, b)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	if n == 0 {
		return nil, nil
	}
	x := make(map[string]string)
	for _, name := range strings.Split(strings.TrimSuffix(string(b[:n]), "\x00"), "\x00") {
		v, err := getXattr(p, name)
		if err == unix.ENODATA {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("get xattr %s of %s: %w", name, p, err)
		}
		x[name] = string(v)
	}
	return x, nil
}

func getXattr(p, name string) ([]byte, error) {
	b := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, b)
		if err == unix.ERANGE {
			if n, err = unix.Lgetxattr(p, name, nil); err != nil {
				return nil, err
			}
			b = make([]byte, n)
			continue
		}
		if err != nil {
			return nil, err
		}
		return b[:n], nil
	}
}
