// Package lazyre compiles a regular expression the first time it is used,
// not at package init: every berth process (the CLI, each container's
// monitor and init) runs every package's init, and most never match a
// reference or a tag.
package lazyre

import (
	"regexp"
	"sync"
)

// RE is a regular expression compiled on first use.
type RE struct {
	compile func() *regexp.Regexp
}

// New returns pattern, to be compiled (and checked, panicking as
// regexp.MustCompile does) on first use.
func New(pattern string) *RE {
	return &RE{compile: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })}
}

// MatchString reports whether s matches.
func (r *RE) MatchString(s string) bool { return r.compile().MatchString(s) }

// FindStringSubmatch is regexp's FindStringSubmatch.
func (r *RE) FindStringSubmatch(s string) []string { return r.compile().FindStringSubmatch(s) }
