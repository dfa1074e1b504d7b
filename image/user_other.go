//go:build !linux

package image

import (
	"fmt"
	"os"
	"strings"
)

// readFileInRoot reads name (a path as seen inside the container) below
// rootfs. Without openat2 it goes through os.Root, which refuses symlinks
// that leave rootfs, absolute ones included (stricter than Linux, where
// they resolve inside rootfs).
func readFileInRoot(rootfs, name string, limit int64) ([]byte, error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	rel := strings.TrimLeft(name, "/")
	// Checked before opening, so that a FIFO cannot block the open.
	if st, err := root.Stat(rel); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", name, st.Mode().Type())
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readRegular(f, name, limit)
}
