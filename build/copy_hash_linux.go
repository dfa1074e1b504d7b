package build

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"runtime"
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// This file is Checksum: the content hash of what a COPY or ADD copies,
// the file part of a step's cache key. It is a cached rebuild's main
// cost, so every file is read once, straight into sha256, by a few
// workers at a time, and a file hashed before in this process (same
// inode, size, mtime and ctime) is not read again.

// checksum does Checksum's work.
func checksum(ctx context.Context, req CopyRequest) (digest.Digest, error) {
	rootfd, err := openRoot(req.SrcRoot)
	if err != nil {
		return "", req.failed("source root: %w", err)
	}
	defer unix.Close(rootfd)
	srcs, err := resolveSources(ctx, rootfd, req)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, s := range srcs {
		if s.url != "" {
			if err := hashURL(ctx, h, req, s.url); err != nil {
				return "", err
			}
			continue
		}
		fmt.Fprintf(h, "source %q\n", s.name)
		entries, err := collect(ctx, rootfd, s)
		if err != nil {
			return "", req.failed("%s: %w", s.written, err)
		}
		scope := ""
		if req.FromContext {
			scope = req.SrcRoot
		}
		if err := hashFiles(ctx, rootfd, entries, scope); err != nil {
			return "", req.failed("%w", err)
		}
		for _, e := range entries {
			fmt.Fprintf(h, "%q %o %d %q %x\n", e.rel, e.st.Mode, e.st.Rdev, e.link, e.sum)
		}
	}
	return digest.NewDigest(digest.SHA256, h), nil
}

// hashEntry is one path under a source.
type hashEntry struct {
	rel     string // relative to the source ("" for the source itself)
	rootRel string // relative to the root, no symlink in it
	st      unix.Stat_t
	link    string   // a symlink's target
	sum     [32]byte // a regular file's content hash
}

// collect lists a source and, for a directory, everything under it
// (parents first, names sorted, symlinks not followed).
func collect(ctx context.Context, rootfd int, s copySource) ([]hashEntry, error) {
	out := []hashEntry{{rel: "", rootRel: s.rel, st: s.st}}
	if !s.isDir() {
		return out, nil
	}
	var walk func(rel, rootRel string) error
	walk = func(rel, rootRel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		fd, err := openIn(rootfd, rootRel, unix.O_RDONLY|unix.O_DIRECTORY, true)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		dup, err := unix.Dup(fd)
		if err != nil {
			return err
		}
		names, err := readDirNames(dup, rootRel)
		if err != nil {
			return err
		}
		for _, n := range names {
			e := hashEntry{rel: path.Join(rel, n), rootRel: path.Join(rootRel, n)}
			if err := unix.Fstatat(fd, n, &e.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return &os.PathError{Op: "stat", Path: e.rootRel, Err: err}
			}
			switch e.st.Mode & unix.S_IFMT {
			case unix.S_IFLNK:
				if e.link, err = readlinkAt(fd, n); err != nil {
					return &os.PathError{Op: "readlink", Path: e.rootRel, Err: err}
				}
			case unix.S_IFSOCK:
				continue
			}
			out = append(out, e)
			if e.st.Mode&unix.S_IFMT == unix.S_IFDIR {
				if err := walk(e.rel, e.rootRel); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("", s.rel); err != nil {
		return nil, err
	}
	return out, nil
}

// fileKey identifies a file's content without reading it.
type fileKey struct {
	scope        string // the context's directory: no hit crosses contexts
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

// hashCache holds the content hashes of context files hashed before.
// The key's ctime changes whenever a file is written, so a hit is the
// same content. Keys are scoped to one context directory (a fresh tmpfs
// reuses device and inode numbers), so the cache serves the several COPY
// steps of one build; it is simply dropped when it grows large.
var hashCache = struct {
	sync.Mutex
	m map[fileKey][32]byte
}{m: map[fileKey][32]byte{}}

const hashCacheMax = 1 << 18

// hashFiles fills in the content hash of every regular file of entries,
// a few files at a time.
func hashFiles(ctx context.Context, rootfd int, entries []hashEntry, scope string) error {
	work := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	workers := runtime.GOMAXPROCS(0)
	if workers > 8 {
		workers = 8
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			h := sha256.New()
			for i := range work {
				if err := hashFile(rootfd, &entries[i], scope, h, buf); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	var err error
	for i := range entries {
		if entries[i].st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		if err = ctx.Err(); err != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err != nil {
		return err
	}
	return firstErr
}

func hashFile(rootfd int, e *hashEntry, scope string, h hash.Hash, buf []byte) error {
	useCache := scope != ""
	key := fileKey{scope: scope, dev: e.st.Dev, ino: e.st.Ino, size: e.st.Size, mtime: e.st.Mtim, ctime: e.st.Ctim}
	if useCache {
		hashCache.Lock()
		sum, ok := hashCache.m[key]
		hashCache.Unlock()
		if ok {
			e.sum = sum
			return nil
		}
	}
	fd, err := openIn(rootfd, e.rootRel, unix.O_RDONLY|unix.O_NOFOLLOW, true)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), e.rootRel)
	defer f.Close()
	h.Reset()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return fmt.Errorf("read %s: %w", e.rootRel, err)
	}
	h.Sum(e.sum[:0])
	if useCache {
		hashCache.Lock()
		if len(hashCache.m) >= hashCacheMax {
			hashCache.m = map[fileKey][32]byte{}
		}
		hashCache.m[key] = e.sum
		hashCache.Unlock()
	}
	return nil
}

// hashURL hashes an ADD URL's download: its name, time and content.
func hashURL(ctx context.Context, h hash.Hash, req CopyRequest, rawURL string) error {
	rf, err := fetch(ctx, req, rawURL)
	if err != nil {
		return err
	}
	defer rf.body.Close()
	fmt.Fprintf(h, "url %q %q %d\n", rawURL, rf.name, rf.mtime.UnixNano())
	c := sha256.New()
	if _, err := io.Copy(c, rf.body); err != nil {
		return req.failed("download %s: %w", rawURL, err)
	}
	fmt.Fprintf(h, "%x\n", c.Sum(nil))
	return nil
}
