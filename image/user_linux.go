package image

import (
	"os"

	"golang.org/x/sys/unix"
)

// readFileInRoot reads name (a path as seen inside the container) below
// rootfs with openat2(RESOLVE_IN_ROOT): absolute symlinks and ".." resolve
// against rootfs, never the host's /. The file must be regular (a FIFO
// would block, a device could be anything) and at most limit bytes.
func readFileInRoot(rootfs, name string, limit int64) ([]byte, error) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NOCTTY | unix.O_NONBLOCK | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return readRegular(f, name, limit)
}
