package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/engine"
)

// This file is the build context and the file side of COPY and ADD.

// Context is a build context extracted to a private directory.
type Context struct {
	// Dir is the context's root; everything COPY sees is under it.
	Dir string
	// dockerfile is the Dockerfile's path relative to Dir.
	dockerfile string
	// df is the Dockerfile's content, read before .dockerignore was
	// applied (it may exclude the Dockerfile).
	df []byte
	// mounted: Dir is a tmpfs of its own (context_tmpfs_linux.go).
	mounted bool
}

// maxDockerfileSize bounds a Dockerfile read into memory.
const maxDockerfileSize = 16 << 20

// OpenContext reads a build context as POST /build carries it: a tar
// (plain, gzip, bzip2, xz or zstd) or, when the body is not a tar, a bare
// Dockerfile (`berth build - < Dockerfile`, an empty context). It
// extracts it under a new directory in tmpDir (no entry may land outside
// it), then removes what .dockerignore excludes, as docker's daemon does;
// the Dockerfile named by dockerfile (a path in the context, "Dockerfile"
// when empty) and .dockerignore stay readable through Dockerfile() even
// when excluded. A context or Dockerfile that is missing or bad is
// engine.KindInvalid with docker's words ("Cannot locate specified
// Dockerfile: Dockerfile"). On error nothing is left in tmpDir.
//
// xz-compressed contexts are refused (no xz decoder is linked in).
func OpenContext(ctx context.Context, r io.Reader, tmpDir, dockerfile string) (c *Context, err error) {
	name := dockerfile
	if name == "" {
		name = defaultDockerfile
	}
	rel, escapes := cleanRel(filepath.ToSlash(name))
	if escapes || rel == "" {
		return nil, engine.Errorf(engine.KindInvalid, "the Dockerfile (%s) must be within the build context", name)
	}
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("build context: create %s: %w", tmpDir, err)
	}
	dir, err := os.MkdirTemp(tmpDir, "context-")
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	body, size, err := spool(ctx, r, tmpDir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer body.Close()
	c = &Context{Dir: dir}
	made := c // the named result is nil on error returns
	defer func() {
		if err != nil {
			made.release()
		}
	}()
	if c.dockerfile, c.mounted, err = extractSpooled(ctx, body, size, dir, rel); err != nil {
		return nil, err
	}
	rel = c.dockerfile
	ign, err := readFileIn(dir, ignoreFile, maxDockerfileSize)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, engine.Errorf(engine.KindInvalid, "build context: read %s: %w", ignoreFile, err)
	}
	c.df, err = readFileIn(dir, rel, maxDockerfileSize)
	if errors.Is(err, fs.ErrNotExist) && rel == defaultDockerfile {
		// docker takes "dockerfile" when "Dockerfile" is absent.
		if df, lerr := readFileIn(dir, "dockerfile", maxDockerfileSize); lerr == nil {
			c.dockerfile, c.df, err = "dockerfile", df, nil
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ELOOP) {
			return nil, engine.Errorf(engine.KindInvalid, "Cannot locate specified Dockerfile: %s", name)
		}
		return nil, engine.Errorf(engine.KindInvalid, "build context: read Dockerfile %s: %w", name, err)
	}
	ig, err := newIgnorer(ign)
	if err != nil {
		return nil, engine.Errorf(engine.KindInvalid, "build context: %w", err)
	}
	if err := ig.removeExcluded(dir); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return c, nil
}

// defaultDockerfile is the Dockerfile's name when none is given.
const defaultDockerfile = "Dockerfile"

// Dockerfile returns the Dockerfile's bytes.
func (c *Context) Dockerfile() ([]byte, error) {
	if c.df == nil {
		return nil, engine.Errorf(engine.KindInvalid, "Cannot locate specified Dockerfile: %s", c.dockerfile)
	}
	return c.df, nil
}

// DockerfileName is the Dockerfile's path in the context (after the
// "dockerfile" fallback).
func (c *Context) DockerfileName() string { return c.dockerfile }

// Close removes the extracted context.
func (c *Context) Close() error { return c.release() }

// Owner is a resolved --chown: numeric ids.
type Owner struct{ UID, GID int }

// CopyRequest is one COPY or ADD after variable substitution.
type CopyRequest struct {
	// SrcRoot is where sources are found: the context's Dir, or a
	// stage's or image's mounted filesystem (COPY --from). Sources are
	// resolved inside it: "..", absolute paths and symlinks cannot leave it.
	SrcRoot string
	// FromContext: SrcRoot is the context (a source that escapes it is an
	// error: "forbidden path outside the build context"); else it is an
	// image's filesystem, where an absolute source is taken from its root.
	FromContext bool
	// Sources as written (wildcards per filepath.Match; ADD may give
	// http(s) URLs).
	Sources []string
	// Dest as written; relative to Workdir when not absolute. A
	// trailing "/" (or several sources) makes it a directory.
	Dest    string
	Workdir string
	// Chown, when set, owns every file copied and every directory COPY
	// creates; else everything is root:root (0:0), as docker does.
	Chown *Owner
	// Chmod, when set, is the mode of every file and directory copied.
	Chmod *os.FileMode
	// Add: ADD's extras (a local tar archive is extracted into Dest; a
	// URL is downloaded, with mode 0600 and the Last-Modified time).
	Add bool
	// Cmd is the instruction's name for errors ("COPY", "ADD").
	Cmd string
}

// Checksum is the content hash of what a COPY or ADD would copy: the
// paths (relative to their source), types, modes, link targets and file
// contents of every matched source, in a stable order. It is the cache
// key's file part; a source that matches nothing is an error
// ("COPY failed: no source files were specified" / docker's "file not
// found in build context or excluded by .dockerignore: stat x: file does
// not exist"). URLs are fetched to hash them.
func Checksum(ctx context.Context, req CopyRequest) (digest.Digest, error) {
	return checksum(ctx, req)
}

// Copy copies the sources into root (a writable filesystem mounted by the
// engine) with docker's rules: a directory's contents (not the directory)
// are copied; a file onto a path ending in "/" or an existing directory
// lands inside it; missing parents are created (0755, owned by Chown when
// set, else root); paths in root are resolved inside it (a symlink in the
// image cannot make the copy land outside root).
func Copy(ctx context.Context, root string, req CopyRequest) error {
	return copyTo(ctx, root, req)
}

// TarContext makes the context tar a client sends: dir's files minus what
// its .dockerignore excludes (the Dockerfile and .dockerignore are always
// sent), as docker's CLI does. dockerfile is the Dockerfile's path; when
// it is outside dir it is added to the tar under a random name, which is
// returned as the name to send.
func TarContext(dir, dockerfile string) (rc io.ReadCloser, dockerfileName string, err error) {
	return tarContext(dir, dockerfile)
}
