package runtime

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// mfdExec is MFD_EXEC: needed where vm.memfd_noexec makes memfds
// non-executable by default (Linux 6.3+); older kernels reject it.
const mfdExec = 0x10

// sealedExe returns a copy of the berth binary that nothing can write
// through, for starting `berth init`. A process inside a container that
// gets hold of init's /proc/PID/exe (init runs in the container's pid
// namespace until it execs the user's program) could otherwise reopen the
// host's berth binary for writing once it is no longer busy, and replace it
// with its own code, which the host then runs as root (CVE-2019-5736).
//
// The copy is a memfd sealed against writes, growing and shrinking. It
// costs a few milliseconds (an in-kernel copy of the binary), which is why
// only init processes that others in the container can see get one. runc
// 1.2 mounts a private read-only overlayfs of the binary's directory
// instead; the kernel refuses an overlay of one directory stacked twice
// (ELOOP), and a second lower directory would have to be a file berth
// leaves on the host, so berth stays with the memfd.
func sealedExe() (*os.File, error) {
	return SealedCopy("/proc/self/exe")
}

// SealedCopy is a sealed copy of the berth binary at path, as sealedExe
// makes: for a process that execs into containers again and again (a
// monitor running health checks) to give its runtime as Runtime.Sealed,
// made once rather than at each exec.
func SealedCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open the berth binary: %w", err)
	}
	defer src.Close()
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate("berth", flags|mfdExec)
	if err == unix.EINVAL {
		fd, err = unix.MemfdCreate("berth", flags)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:berth")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy the berth binary to a memfd: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, fullSeals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal the berth binary's memfd: %w", err)
	}
	return f, nil
}

// fullSeals are the seals of a copy made by SealedCopy.
const fullSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// IsSealed reports whether fd is a memfd sealed as SealedCopy seals it:
// nothing can write to it, ever.
func IsSealed(fd uintptr) bool {
	seals, err := unix.FcntlInt(fd, unix.F_GET_SEALS, 0)
	return err == nil && seals&fullSeals == fullSeals
}
