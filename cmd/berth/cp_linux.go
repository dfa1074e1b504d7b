package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/layer"
)

// extractLocal unpacks a container's tar (entries under root, a directory
// when isDir) at the local path dst, as docker's cp does: into dst when it
// is a directory (only root's contents when contents), else as dst itself,
// replacing a file there. Entries are resolved inside the target directory
// (layer.Apply), and owned by the caller unless keepOwner. It returns the
// bytes of file content copied.
func extractLocal(ctx context.Context, r io.Reader, root string, isDir, contents bool, dst string, keepOwner bool) (int64, error) {
	var into, name string
	fi, err := os.Stat(dst)
	switch {
	case err == nil && fi.IsDir():
		into, name = dst, root
		if contents {
			name = ""
		}
	case err == nil:
		if isDir {
			return 0, fmt.Errorf("cannot copy a directory to the file %s", dst)
		}
		into, name = filepath.Dir(dst), filepath.Base(dst)
	case errors.Is(err, fs.ErrNotExist):
		if strings.HasSuffix(dst, "/") && !isDir {
			return 0, fmt.Errorf("destination directory %s does not exist", dst)
		}
		clean := filepath.Clean(dst)
		into, name = filepath.Dir(clean), filepath.Base(clean)
		if _, err := os.Stat(into); err != nil {
			return 0, err
		}
	default:
		return 0, err
	}
	uid, gid := os.Getuid(), os.Getgid()
	var n int64
	tr := rewriteTar(r, func(h *tar.Header) bool {
		h.Name = rebaseEntry(h.Name, root, name)
		if h.Typeflag == tar.TypeLink {
			h.Linkname = rebaseEntry(h.Linkname, root, name)
		}
		if !keepOwner {
			h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
		}
		if h.Typeflag == tar.TypeReg {
			n += h.Size
		}
		return true
	})
	if _, err := layer.Apply(ctx, into, tr); err != nil {
		return n, fmt.Errorf("copy to %s: %w", dst, err)
	}
	return n, nil
}
