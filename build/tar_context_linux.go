package build

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/engine"
)

// This file is the client's side of a build context: the tar that
// `berth build DIR` sends, made as docker's CLI makes it.

// tarContext does TarContext's work.
func tarContext(dir, dockerfile string) (io.ReadCloser, string, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", fmt.Errorf("build context %s: %w", dir, err)
	}
	if fi, err := os.Stat(absDir); err != nil {
		return nil, "", engine.Errorf(engine.KindInvalid, "unable to prepare context: path %q not found", dir)
	} else if !fi.IsDir() {
		return nil, "", engine.Errorf(engine.KindInvalid, "unable to prepare context: context must be a directory: %s", dir)
	}
	dfPath, err := locateDockerfile(absDir, dockerfile)
	if err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(absDir, dfPath)
	if err != nil {
		return nil, "", fmt.Errorf("build context: %w", err)
	}
	rel = filepath.ToSlash(rel)
	inside := rel != ".." && !strings.HasPrefix(rel, "../")

	ignContent, ignInfo, err := readIgnoreFile(absDir)
	if err != nil {
		return nil, "", err
	}
	var extra []string
	var outside *outsideDockerfile
	if inside {
		// The Dockerfile and .dockerignore always go: the daemon reads
		// them, then drops them from the context if they are excluded.
		probe, err := newIgnorer(ignContent)
		if err != nil {
			return nil, "", engine.Errorf(engine.KindInvalid, "%w", err)
		}
		if probe.excludes(ignoreFile) {
			extra = append(extra, "!"+ignoreFile)
		}
		if probe.excludes(rel) {
			extra = append(extra, "!"+rel)
		}
	} else {
		// A Dockerfile from elsewhere goes under a random name that the
		// sent .dockerignore excludes, so COPY cannot see it.
		df, err := os.ReadFile(dfPath)
		if err != nil {
			return nil, "", engine.Errorf(engine.KindInvalid, "read Dockerfile %s: %w", dfPath, err)
		}
		var rnd [10]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, "", err
		}
		rel = ".dockerfile." + hex.EncodeToString(rnd[:])
		ign := append(bytes.Clone(ignContent), []byte("\n"+rel+"\n")...)
		outside = &outsideDockerfile{name: rel, content: df, ignore: ign, ignoreInfo: ignInfo}
	}
	ig, err := newIgnorer(ignContent, extra...)
	if err != nil {
		return nil, "", engine.Errorf(engine.KindInvalid, "%w", err)
	}
	var entries []contextEntry
	err = ig.walk(absDir, func(e contextEntry) error {
		if e.excluded || (outside != nil && e.rel == ignoreFile) {
			return nil
		}
		if e.info.Mode().IsRegular() {
			f, err := os.Open(filepath.Join(absDir, filepath.FromSlash(e.rel)))
			if err != nil {
				if errors.Is(err, fs.ErrPermission) {
					return fmt.Errorf("no permission to read from '%s'", filepath.Join(absDir, e.rel))
				}
				return err
			}
			f.Close()
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, "", engine.Errorf(engine.KindInvalid, "error checking context: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeContextTar(pw, absDir, entries, outside))
	}()
	return pr, rel, nil
}

// outsideDockerfile is a Dockerfile from outside the context dir, added
// under a random name, and the .dockerignore rewritten to exclude it.
type outsideDockerfile struct {
	name       string
	content    []byte
	ignore     []byte
	ignoreInfo fs.FileInfo // nil when the context has none
}

// locateDockerfile finds the Dockerfile as docker's CLI does: "" is
// DIR/Dockerfile (or DIR/dockerfile); a relative path is taken from the
// current directory, else from DIR.
func locateDockerfile(absDir, dockerfile string) (string, error) {
	var candidates []string
	switch {
	case dockerfile == "":
		candidates = []string{filepath.Join(absDir, defaultDockerfile), filepath.Join(absDir, "dockerfile")}
	case filepath.IsAbs(dockerfile):
		candidates = []string{dockerfile}
	default:
		if p, err := filepath.Abs(dockerfile); err == nil {
			candidates = append(candidates, p)
		}
		candidates = append(candidates, filepath.Join(absDir, dockerfile))
	}
	for _, p := range candidates {
		// Symlinks are resolved: what counts is where the file is.
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(real); err == nil && !fi.IsDir() {
			if realDir, err := filepath.EvalSymlinks(absDir); err == nil {
				if r, err := filepath.Rel(realDir, real); err == nil && r != ".." && !strings.HasPrefix(r, "../") {
					return filepath.Join(absDir, r), nil
				}
			}
			return real, nil
		}
	}
	name := dockerfile
	if name == "" {
		name = filepath.Join(absDir, defaultDockerfile)
	}
	return "", engine.Errorf(engine.KindInvalid, "Cannot locate specified Dockerfile: %s", name)
}

// readIgnoreFile reads DIR/.dockerignore; a missing one is empty.
func readIgnoreFile(absDir string) ([]byte, fs.FileInfo, error) {
	p := filepath.Join(absDir, ignoreFile)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, engine.Errorf(engine.KindInvalid, "error checking context: 'can't stat '%s''", p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, engine.Errorf(engine.KindInvalid, "read %s: %w", p, err)
	}
	return b, fi, nil
}

// writeContextTar writes the entries of absDir, then an outside
// Dockerfile and its .dockerignore, as a PAX tar.
func writeContextTar(w io.Writer, absDir string, entries []contextEntry, outside *outsideDockerfile) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	for _, e := range entries {
		if err := writeContextEntry(tw, absDir, e, links); err != nil {
			return err
		}
	}
	if outside != nil {
		now := time.Now()
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: outside.name, Mode: 0o600, Size: int64(len(outside.content)), ModTime: now, Format: tar.FormatPAX}
		if err := writeBytes(tw, hdr, outside.content); err != nil {
			return err
		}
		hdr = &tar.Header{Typeflag: tar.TypeReg, Name: ignoreFile, Mode: 0o600, Size: int64(len(outside.ignore)), ModTime: now, Format: tar.FormatPAX}
		if fi := outside.ignoreInfo; fi != nil {
			hdr.Mode, hdr.ModTime = int64(fi.Mode().Perm()), fi.ModTime()
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			}
		}
		if err := writeBytes(tw, hdr, outside.ignore); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeBytes(tw *tar.Writer, hdr *tar.Header, b []byte) error {
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("context tar: %s: %w", hdr.Name, err)
	}
	_, err := tw.Write(b)
	return err
}

// writeContextEntry writes one file, directory, symlink, hardlink,
// device or fifo, with the owner, mode and mtime on disk.
func writeContextEntry(tw *tar.Writer, absDir string, e contextEntry, links map[[2]uint64]string) error {
	p := filepath.Join(absDir, filepath.FromSlash(e.rel))
	fi := e.info
	hdr := &tar.Header{Name: e.rel, ModTime: fi.ModTime(), Format: tar.FormatPAX}
	hdr.Mode = int64(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st != nil {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	}
	m := fi.Mode()
	switch {
	case m.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, e.rel+"/"
	case m.IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		if st != nil && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = e.rel
			}
		}
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("error checking context: 'can't stat '%s'': %w", p, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case m&fs.ModeNamedPipe != 0:
		hdr.Typeflag = tar.TypeFifo
	case m&fs.ModeDevice != 0 && st != nil:
		hdr.Typeflag = tar.TypeBlock
		if m&fs.ModeCharDevice != 0 {
			hdr.Typeflag = tar.TypeChar
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	default:
		return nil // sockets and the like are not sent
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("context tar: %s: %w", e.rel, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("error checking context: 'can't access '%s'': %w", p, err)
	}
	defer f.Close()
	n, err := io.CopyN(tw, f, hdr.Size)
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("context tar: %s shrank while being sent (%d of %d bytes)", p, n, hdr.Size)
		}
		return fmt.Errorf("context tar: %s: %w", p, err)
	}
	return nil
}
