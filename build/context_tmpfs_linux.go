package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// A context is extracted into a private tmpfs when it is small enough:
// creating thousands of small files on a disk filesystem costs far more
// than the rest of a cached rebuild (on this project's CI VM, 0.8 s
// against 37 ms for 2,000 files). The body is spooled to a file first, so
// its size is known, and so that an extraction that runs out of room
// (a compressed context that expands past the limit) starts again on disk.

// tmpfsLimit is the largest tmpfs a context gets: a quarter of the
// available memory, at most 1 GiB.
func tmpfsLimit() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	avail := int64(si.Freeram+si.Bufferram) * int64(si.Unit) / 4
	return min(avail, 1<<30)
}

// spool copies the body to a temporary file under tmpDir and returns it
// (removed from the directory already) and its size.
func spool(ctx context.Context, r io.Reader, tmpDir string) (*os.File, int64, error) {
	f, err := os.CreateTemp(tmpDir, "body-")
	if err != nil {
		return nil, 0, fmt.Errorf("build context: %w", err)
	}
	os.Remove(f.Name())
	n, err := io.CopyBuffer(f, r, make([]byte, 1<<20))
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, 0, fmt.Errorf("build context: read: %w", err)
	}
	return f, n, nil
}

// extractSpooled extracts the spooled body into dir: on a tmpfs mounted
// there when the body fits in half the limit (mounted reports it), else,
// or when the tmpfs fills up, on dir's own filesystem.
func extractSpooled(ctx context.Context, body *os.File, size int64, dir, dockerfile string) (rel string, mounted bool, err error) {
	if limit := tmpfsLimit(); size > 0 && size*2 <= limit {
		opts := "mode=0700,size=" + strconv.FormatInt(limit, 10)
		if unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts) == nil {
			rel, err = extractContext(ctx, body, dir, dockerfile)
			if err == nil {
				return rel, true, nil
			}
			unix.Unmount(dir, unix.MNT_DETACH)
			if !errors.Is(err, unix.ENOSPC) {
				return "", false, err
			}
			if _, serr := body.Seek(0, io.SeekStart); serr != nil {
				return "", false, fmt.Errorf("build context: %w", serr)
			}
		}
	}
	rel, err = extractContext(ctx, body, dir, dockerfile)
	return rel, false, err
}

// release unmounts the context's tmpfs, if any, and removes it.
func (c *Context) release() error {
	if c.mounted {
		if err := unix.Unmount(c.Dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("build context: unmount %s: %w", c.Dir, err)
		}
		c.mounted = false
	}
	return os.RemoveAll(c.Dir)
}
