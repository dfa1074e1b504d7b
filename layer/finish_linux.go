package layer

import (
	"archive/tar"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Most of the time Apply spends is in system calls, and most of those are
// for small regular files: write the content, chown, chmod, xattrs, times,
// close. The tar must be read in order, and every path must be created in
// order (later entries may replace, link to or remove earlier ones), but
// once a file is created and open, what is left touches only its own
// descriptor and can run beside the next entries. So the applier creates
// each small file and reads its content into a buffer, and finishers write
// and close it. Nothing a finisher does names a path. Replacing or removing
// the file before a finisher is done with it leaves the finisher working
// on an unlinked inode, which is what the replacement means anyway; a
// hardlink to it links the inode, which gets its content all the same.

// smallFileSize is the largest file handed to finishers; larger ones are
// streamed by the applier itself.
const smallFileSize = 1 << 20

type finishJob struct {
	fd   int
	buf  []byte // the whole content
	name string // the entry, for errors
	hdr  *tar.Header
}

type finishers struct {
	jobs chan finishJob
	free chan []byte // bounds the buffers (and descriptors) in flight
	wg   sync.WaitGroup

	mu  sync.Mutex
	err error
}

func newFinishers(a *applier) *finishers {
	n := min(max(runtime.GOMAXPROCS(0), 2), 4)
	f := &finishers{jobs: make(chan finishJob, 4*n), free: make(chan []byte, 4*n)}
	for i := 0; i < cap(f.free); i++ {
		f.free <- nil
	}
	f.wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer f.wg.Done()
			for j := range f.jobs {
				err := a.finish(j.fd, j.buf, j.hdr)
				if cerr := unix.Close(j.fd); err == nil && cerr != nil {
					err = fmt.Errorf("close: %w", cerr)
				}
				if err != nil {
					f.mu.Lock()
					if f.err == nil {
						f.err = fmt.Errorf("entry %q: %w", j.name, err)
					}
					f.mu.Unlock()
				}
				f.free <- j.buf[:0]
			}
		}()
	}
	return f
}

// buffer returns a buffer of size bytes, waiting for one to come free.
func (f *finishers) buffer(size int) []byte {
	b := <-f.free
	if cap(b) < size {
		b = make([]byte, size, max(size, 64<<10))
	}
	return b[:size]
}

// release gives back a buffer no job took.
func (f *finishers) release(b []byte) { f.free <- b[:0] }

// failed returns the first error of a finisher, if any.
func (f *finishers) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// wait lets the finishers finish the jobs given and returns their first
// error.
func (f *finishers) wait() error {
	close(f.jobs)
	f.wg.Wait()
	return f.failed()
}

// finish writes the content and metadata of a new regular file open as fd:
// the content first, then the owner, then the mode (chown clears setuid
// and setgid), then xattrs (chown clears security.capability), then the
// times (writing would change them).
func (a *applier) finish(fd int, content []byte, hdr *tar.Header) error {
	if err := writeAll(fd, content); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := a.ownModeXattrs(fd, hdr); err != nil {
		return err
	}
	ts := times(hdr)
	if err := futimens(fd, &ts); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// ownModeXattrs gives an opened file or directory the owner, mode and
// xattrs of its tar entry, in that order: chown clears setuid bits, so
// the mode comes after it.
func (a *applier) ownModeXattrs(fd int, hdr *tar.Header) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return a.xattrs(hdr, true, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) })
}
