package build

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// This file is .dockerignore: one matcher that both sides use, the
// client that makes the context tar (TarContext) and the daemon that
// opens it (OpenContext), so they agree on every path.

// ignoreFile is the name of the context's ignore file.
const ignoreFile = ".dockerignore"

// ignorer says which context paths .dockerignore excludes, with docker's
// rules: patterns relative to the context root (a leading "/" or "./"
// means nothing), filepath.Match per path element plus "**" for any
// number of elements, a pattern matching a directory excluding all under
// it, and later "!" patterns re-including what earlier ones excluded.
type ignorer struct {
	pm *patternmatcher.PatternMatcher // nil: nothing is excluded
}

// newIgnorer reads the patterns of an ignore file's content; nil or
// empty content excludes nothing. extra patterns are appended (the
// client's "!Dockerfile" exceptions).
func newIgnorer(content []byte, extra ...string) (*ignorer, error) {
	patterns, err := ignorefile.ReadAll(bytes.NewReader(content))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ignoreFile, err)
	}
	patterns = append(patterns, extra...)
	if len(patterns) == 0 {
		return &ignorer{}, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ignoreFile, err)
	}
	return &ignorer{pm: pm}, nil
}

// excludes reports whether rel (slash-separated, relative to the context
// root) is excluded, judging it and its parents.
func (ig *ignorer) excludes(rel string) bool {
	if ig.pm == nil {
		return false
	}
	m, _ := ig.pm.MatchesOrParentMatches(filepath.FromSlash(rel))
	return m
}

// mayReinclude reports whether an excluded directory rel may hold
// something an exception pattern ("!dir/keep") brings back, in which case
// the walk goes into it: docker's test, a prefix match of the exception's
// text on the directory.
func (ig *ignorer) mayReinclude(rel string) bool {
	if !ig.pm.Exclusions() {
		return false
	}
	dirSlash := rel + "/"
	for _, p := range ig.pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(filepath.ToSlash(p.String())+"/", dirSlash) {
			return true
		}
	}
	return false
}

// contextEntry is one path the walk met.
type contextEntry struct {
	rel  string // slash-separated, relative to the walked directory
	info fs.FileInfo
	// excluded: .dockerignore excludes it. An excluded directory is
	// reported once and not entered, unless an exception may bring back
	// something under it (then its children are reported too).
	excluded bool
}

// walk calls fn for every path under dir (not dir itself), parents
// before children, names in lexical order, symlinks not followed. It is
// the one place the exclusion rules are applied to a tree.
func (ig *ignorer) walk(dir string, fn func(e contextEntry) error) error {
	type frame struct {
		rel  string
		info patternmatcher.MatchInfo
	}
	var rec func(f frame) error
	rec = func(f frame) error {
		full := dir
		if f.rel != "" {
			full = filepath.Join(dir, filepath.FromSlash(f.rel))
		}
		d, err := os.Open(full)
		if err != nil {
			return fmt.Errorf("can't open '%s': %w", full, err)
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return fmt.Errorf("can't read directory '%s': %w", full, err)
		}
		sort.Strings(names)
		for _, name := range names {
			rel := name
			if f.rel != "" {
				rel = f.rel + "/" + name
			}
			p := filepath.Join(full, name)
			fi, err := os.Lstat(p)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return fmt.Errorf("can't stat '%s': %w", p, err)
			}
			excluded := false
			var mi patternmatcher.MatchInfo
			if ig.pm != nil {
				excluded, mi, err = ig.pm.MatchesUsingParentResults(filepath.FromSlash(rel), f.info)
				if err != nil {
					return fmt.Errorf("%s: match %s: %w", ignoreFile, rel, err)
				}
			}
			if err := fn(contextEntry{rel: rel, info: fi, excluded: excluded}); err != nil {
				if errors.Is(err, fs.SkipDir) {
					continue
				}
				return err
			}
			if !fi.IsDir() || (excluded && !ig.mayReinclude(rel)) {
				continue
			}
			if err := rec(frame{rel: rel, info: mi}); err != nil {
				return err
			}
		}
		return nil
	}
	return rec(frame{})
}

// removeExcluded deletes from dir (an extracted context) what the
// ignorer excludes, as docker's daemon does, so COPY cannot see it. A
// directory that is excluded but was entered for an exception stays only
// if something under it was kept.
func (ig *ignorer) removeExcluded(dir string) error {
	if ig.pm == nil {
		return nil
	}
	var emptied []string
	err := ig.walk(dir, func(e contextEntry) error {
		if !e.excluded {
			return nil
		}
		p := filepath.Join(dir, filepath.FromSlash(e.rel))
		if e.info.IsDir() && ig.mayReinclude(e.rel) {
			emptied = append(emptied, p)
			return nil
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove excluded %s: %w", e.rel, err)
		}
		if e.info.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(emptied) - 1; i >= 0; i-- {
		os.Remove(emptied[i]) // fails, as wanted, when something was kept
	}
	return nil
}
