package build

import (
	"context"
	"errors"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/engine"
)

// This file finds what a COPY or ADD copies: its sources resolved inside
// SrcRoot, wildcards expanded, with docker's errors.

// copySource is one source of a COPY or ADD after expansion.
type copySource struct {
	// url is an ADD source fetched over http(s); the rest is unset.
	url string
	// written is the source as the Dockerfile gave it (or the path a
	// wildcard matched), for errors.
	written string
	// rel is the source's real path in SrcRoot, every symlink on the way
	// (the last one too) resolved inside it: "" is SrcRoot itself.
	rel string
	// st is the source's stat (after following a last symlink).
	st unix.Stat_t
	// name is the base name a file source gets inside a destination
	// directory: that of the path as written, not of a symlink's target.
	name string
}

func (s copySource) isDir() bool { return s.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// cmdName is the instruction's name for errors.
func (req CopyRequest) cmdName() string {
	if req.Cmd == "" {
		return "COPY"
	}
	return req.Cmd
}

// failed is docker's "COPY failed: ..." error, engine.KindInvalid.
func (req CopyRequest) failed(format string, args ...any) error {
	return engine.Errorf(engine.KindInvalid, req.cmdName()+" failed: "+format, args...)
}

// isURL reports whether an ADD source is fetched over http(s).
func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// containsWildcards reports whether a source has filepath.Match
// wildcards (a backslash escapes the next character).
func containsWildcards(name string) bool {
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// resolveSources expands and resolves req.Sources inside the root
// rootfd (req.SrcRoot), in order. It checks docker's rules: no source
// outside the context, every named source exists, at least one source,
// and several sources only into a directory ("dest/").
func resolveSources(ctx context.Context, rootfd int, req CopyRequest) ([]copySource, error) {
	var out []copySource
	for _, orig := range req.Sources {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if isURL(orig) {
			if !req.Add {
				return nil, req.failed("source can't be a URL for %s", req.cmdName())
			}
			out = append(out, copySource{url: orig, written: orig})
			continue
		}
		p := strings.TrimPrefix(orig, "/")
		p = strings.TrimPrefix(p, "./")
		rel, escapes := cleanRel(p)
		if escapes {
			if req.FromContext {
				return nil, req.failed("forbidden path outside the build context: %s ()", orig)
			}
			rel, _ = cleanRel("/" + p)
		}
		if !containsWildcards(rel) {
			s, err := resolveSource(rootfd, req, orig, rel)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			continue
		}
		matches, err := expandWildcards(rootfd, rel)
		if err != nil {
			return nil, req.failed("%s: %w", orig, err)
		}
		for _, m := range matches {
			s, err := resolveSource(rootfd, req, m, m)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, req.failed("no source files were specified")
	}
	if len(out) > 1 && !strings.HasSuffix(req.Dest, "/") {
		return nil, engine.Errorf(engine.KindInvalid, "When using %s with more than one source file, the destination must be a directory and end with a /", req.cmdName())
	}
	return out, nil
}

// resolveSource resolves one source path (rel, cleaned) inside rootfd.
func resolveSource(rootfd int, req CopyRequest, written, rel string) (copySource, error) {
	fd, err := openIn(rootfd, rel, unix.O_PATH, false)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			notFound := &os.PathError{Op: "stat", Path: rel, Err: os.ErrNotExist}
			if req.FromContext {
				return copySource{}, req.failed("file not found in build context or excluded by .dockerignore: %w", notFound)
			}
			return copySource{}, req.failed("%w", notFound)
		}
		return copySource{}, req.failed("%s: %w", written, err)
	}
	defer unix.Close(fd)
	s := copySource{written: written, name: path.Base(rel)}
	if rel == "" {
		s.name = ""
	}
	if err := unix.Fstat(fd, &s.st); err != nil {
		return copySource{}, req.failed("stat %s: %w", rel, err)
	}
	if s.rel, err = relIn(rootfd, fd); err != nil {
		return copySource{}, req.failed("%s: %w", written, err)
	}
	return s, nil
}

// expandWildcards returns the paths under rootfd that the slash-separated
// pattern matches, element by element with path.Match (a "*" never
// crosses a "/"), in lexical order, as docker's walk finds them.
func expandWildcards(rootfd int, pattern string) ([]string, error) {
	cur := []string{""}
	for _, elem := range strings.Split(pattern, "/") {
		var next []string
		for _, prefix := range cur {
			if !containsWildcards(elem) {
				next = append(next, path.Join(prefix, elem))
				continue
			}
			names, err := readDirNamesIn(rootfd, prefix)
			if err != nil {
				continue // not a directory, or gone: no match under it
			}
			for _, n := range names {
				ok, err := path.Match(elem, n)
				if err != nil {
					return nil, err
				}
				if ok {
					next = append(next, path.Join(prefix, n))
				}
			}
		}
		cur = next
	}
	var out []string
	for _, m := range cur {
		var st unix.Stat_t
		fd, err := openIn(rootfd, m, unix.O_PATH|unix.O_NOFOLLOW, false)
		if err != nil {
			continue
		}
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// readDirNamesIn lists the directory rel inside rootfd, sorted.
func readDirNamesIn(rootfd int, rel string) ([]string, error) {
	fd, err := openIn(rootfd, rel, unix.O_RDONLY|unix.O_DIRECTORY, false)
	if err != nil {
		return nil, err
	}
	return readDirNames(fd, rel)
}

// readDirNames lists the open directory fd (and closes fd), sorted.
func readDirNames(fd int, name string) ([]string, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}
