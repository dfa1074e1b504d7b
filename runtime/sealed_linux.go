package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// sealedExe returns a descriptor of the berth binary that nothing can write
// through, for starting `berth init`. A process inside a container that
// gets hold of init's /proc/PID/exe (it runs in the container's pid
// namespace until it execs the user's program) could otherwise reopen the
// host's berth binary for writing once it is no longer busy, and replace it
// with its own code, which the host runs as root next time (CVE-2019-5736).
//
// The binary is opened through a read-only overlayfs mount of its own
// directory that is never attached anywhere (fsopen/fsmount): opening it for
// writing fails with EROFS, and the mount goes away with the last reference
// (as runc 1.2 does). Where overlayfs can't be used, the binary is copied to
// a sealed memfd, which costs a few milliseconds per container.
func sealedExe() (*os.File, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the berth binary: %w", err)
	}
	if f, err := overlayExe(exe); err == nil {
		return f, nil
	}
	return memfdExe()
}

func overlayExe(exe string) (*os.File, error) {
	if strings.HasSuffix(exe, " (deleted)") {
		return nil, fmt.Errorf("%s was deleted", exe)
	}
	dir, base := filepath.Split(exe)
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	// Two lower layers and no upper one: a read-only overlay.
	if err := unix.FsconfigSetString(fsfd, "lowerdir+", dir); err == nil {
		err = unix.FsconfigSetString(fsfd, "lowerdir+", dir)
		if err != nil {
			return nil, fmt.Errorf("overlay lowerdir: %w", err)
		}
	} else {
		esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`).Replace(dir)
		if err := unix.FsconfigSetString(fsfd, "lowerdir", esc+":"+esc); err != nil {
			return nil, fmt.Errorf("overlay lowerdir: %w", err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmt.Errorf("create overlay: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mfd)
	fd, err := unix.Openat(mfd, base, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s in overlay: %w", base, err)
	}
	return os.NewFile(uintptr(fd), exe), nil
}

// mfdExec is MFD_EXEC: needed where vm.memfd_noexec makes memfds
// non-executable by default (Linux 6.3+); older kernels reject it.
const mfdExec = 0x10

func memfdExe() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
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
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal the berth binary's memfd: %w", err)
	}
	return f, nil
}
