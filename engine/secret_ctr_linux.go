package engine

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mountSecretsTmpfs mounts a tmpfs of size bytes at dir (made 0700 when
// missing): only root may enter it, nothing on it runs or is a device.
func mountSecretsTmpfs(dir string, size int) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, fmt.Sprintf("mode=0700,size=%d", size)); err != nil {
		os.Remove(dir)
		return fmt.Errorf("mount the secrets tmpfs on %s: %w", dir, err)
	}
	return nil
}
