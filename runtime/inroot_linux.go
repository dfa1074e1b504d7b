package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount targets are opened, not named: a path string resolved once and
// handed to mount(2) is resolved again by the kernel, and a symlink swapped
// in between (by a process of another container sharing a volume, say)
// carries the mount out of the rootfs (CVE-2021-30465). Every lookup here
// goes through openat2 with RESOLVE_IN_ROOT from a descriptor of the rootfs,
// so symlinks resolve as if the rootfs were /, and the mount is made on the
// descriptor's /proc/self/fd path.

// openInRoot opens path (as seen inside the container) below the rootfs
// descriptor root, as an O_PATH descriptor.
func openInRoot(root int, path string, resolve uint64) (int, error) {
	return unix.Openat2(root, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | resolve,
	})
}

// procPath names an open descriptor for mount(2).
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// maxSymlinks bounds how many dangling symlinks mkdirInRoot follows.
const maxSymlinks = 40

// makeMountpoint creates what is missing of path below root: directories,
// and for the last component a directory (dir) or an empty file. A dangling
// symlink on the way is followed by hand, inside the root, and its target
// created, as runc does.
func makeMountpoint(root int, path string, dir bool) error {
	rest := splitPath(path)
	done := "" // the part that exists, as written (the kernel resolves it)
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		if name == "." {
			rest = rest[1:]
			continue
		}
		next := done + "/" + name
		if fd, err := openInRoot(root, next, 0); err == nil {
			unix.Close(fd)
			done, rest = next, rest[1:]
			continue
		} else if err != unix.ENOENT {
			return fmt.Errorf("open %s in rootfs: %w", next, err)
		}
		if name == ".." {
			return fmt.Errorf("open %s in rootfs: %w", next, unix.ENOENT)
		}
		parent, err := openInRoot(root, done+"/", 0)
		if err != nil {
			return fmt.Errorf("open %s/ in rootfs: %w", done, err)
		}
		if len(rest) == 1 && !dir {
			var f int
			if f, err = unix.Openat(parent, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644); err == nil {
				unix.Close(f)
			}
		} else {
			err = unix.Mkdirat(parent, name, 0o755)
		}
		if err == unix.EEXIST {
			// There, yet not found: a symlink leading nowhere (yet).
			buf := make([]byte, unix.PathMax)
			n, lerr := unix.Readlinkat(parent, name, buf)
			unix.Close(parent)
			if lerr != nil {
				return fmt.Errorf("create %s in rootfs: %w", next, err)
			}
			if links++; links > maxSymlinks {
				return fmt.Errorf("create %s in rootfs: %w", next, unix.ELOOP)
			}
			target := string(buf[:n])
			if strings.HasPrefix(target, "/") {
				done = ""
			}
			rest = append(splitPath(target), rest[1:]...)
			continue
		}
		unix.Close(parent)
		if err != nil {
			return fmt.Errorf("create %s in rootfs: %w", next, err)
		}
		done, rest = next, rest[1:]
	}
	return nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
