package image

import (
	// go-digest validates only algorithms whose hash is linked in.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"github.com/berth-project/berth/internal/lazyre"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// The grammar of a reference, as Docker and the distribution project define
// it:
//
//	reference        := name [ ":" tag ] [ "@" digest ]
//	name             := [domain "/"] path
//	domain           := host [":" port]
//	host             := domain-name | "[" ipv6 "]"
//	domain-name      := domain-component ("." domain-component)*
//	domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//	port             := [0-9]+
//	path             := path-component ("/" path-component)*
//	path-component   := [a-z0-9]+ (separator [a-z0-9]+)*
//	separator        := "." | "_" | "__" | "-"+
//	tag              := [\w][\w.-]{0,127}
//	digest           := algorithm ":" hex, algorithm := [A-Za-z][A-Za-z0-9]* ([-_+.][A-Za-z][A-Za-z0-9]*)*
//
// Docker then normalizes what users type: a name without a domain lives on
// Docker Hub ("docker.io"), and a one-component Hub name is an official
// image under "library/".
const (
	// DefaultDomain is the domain of names typed without one (Docker Hub).
	DefaultDomain = "docker.io"
	// DefaultTag is the tag of references typed with neither tag nor digest.
	DefaultTag = "latest"
	// DockerHubRegistry is the host that serves DefaultDomain's repositories.
	DockerHubRegistry = "registry-1.docker.io"
	// MaxPathLength bounds a repository path, as the distribution project
	// does (it counts the path, not the domain).
	MaxPathLength = 255

	legacyDomain  = "index.docker.io"
	officialRepos = "library/"
)

const (
	pathComponent = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	tagPattern    = `[\w][\w.-]{0,127}`
	digestPattern = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
)

var (
	domainRE = lazyre.New(`^(?:` +
		`[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*` +
		`|\[[a-fA-F0-9:]+\]` +
		`)(?::[0-9]+)?$`)

	// remainderRE matches what follows the domain: path, tag, digest.
	remainderRE = lazyre.New(`^(` + pathComponent + `(?:/` + pathComponent + `)*)` +
		`(?::(` + tagPattern + `))?` + `(?:@(` + digestPattern + `))?$`)
	tagRE     = lazyre.New(`^` + tagPattern + `$`)
	digestRE  = lazyre.New(`^` + digestPattern + `$`)
	bareHexRE = lazyre.New(`^[a-f0-9]{64}$`)
)

// ErrInvalidReference is wrapped by every error about a malformed reference.
var ErrInvalidReference = errors.New("invalid reference format")

// refError carries Docker's wording while matching ErrInvalidReference (and
// the underlying digest error, if any) with errors.Is.
type refError struct {
	msg   string
	cause error
}

func (e *refError) Error() string { return e.msg }

func (e *refError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrInvalidReference, e.cause}
	}
	return []error{ErrInvalidReference}
}

func invalidRef(format string, args ...any) error {
	return &refError{msg: fmt.Sprintf(format, args...)}
}

// Reference names an image as a registry knows it: the fully qualified,
// normalized form of what a user types ("nginx" is Domain "docker.io",
// Path "library/nginx", Tag "latest").
type Reference struct {
	Domain string        // registry host and optional port: "docker.io", "localhost:5000", "[::1]:5000"
	Path   string        // repository path: "library/nginx", "team/app"
	Tag    string        // "" when the reference has only a digest
	Digest digest.Digest // "" unless pinned
}

// ParseReference parses a reference the way the Docker CLI does: a missing
// domain means docker.io, a one-component docker.io path gets "library/",
// index.docker.io is docker.io, and the tag defaults to "latest" only when
// there is no digest (name:tag@digest keeps both). The first path component
// is taken as a domain when it contains '.' or ':', is "localhost", or has
// uppercase letters (which a path may not). Errors wrap ErrInvalidReference.
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, invalidRef("repository name must have at least one component")
	}
	if bareHexRE.MatchString(s) {
		return Reference{}, invalidRef("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	domain, rest := splitDomain(s)
	// The repository part ends at the tag or digest; Docker reports an
	// uppercase path before any other problem.
	remote := rest
	if i := strings.IndexAny(rest, ":@"); i >= 0 {
		remote = rest[:i]
	}
	if strings.ToLower(remote) != remote {
		return Reference{}, invalidRef("invalid reference format: repository name (%s) must be lowercase", remote)
	}
	r, err := parseSplit(domain, rest)
	if err != nil {
		return Reference{}, err
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = DefaultTag
	}
	return r, nil
}

// splitDomain separates the registry domain from the rest of s, filling in
// Docker Hub's defaults.
func splitDomain(s string) (domain, rest string) {
	first, after, ok := strings.Cut(s, "/")
	switch {
	case !ok:
		// "nginx", "nginx:1.2": a bare name is always a Hub name, even
		// "localhost" (as Docker treats it).
		domain, rest = DefaultDomain, s
	case first == legacyDomain:
		domain, rest = DefaultDomain, after
	case first == "localhost", strings.ContainsAny(first, ".:"), strings.ToLower(first) != first:
		domain, rest = first, after
	default:
		domain, rest = DefaultDomain, s
	}
	if domain == DefaultDomain && !strings.Contains(rest, "/") {
		rest = officialRepos + rest
	}
	return domain, rest
}

// parseSplit checks domain and rest against the grammar.
func parseSplit(domain, rest string) (Reference, error) {
	m := remainderRE.FindStringSubmatch(rest)
	if m == nil || !domainRE.MatchString(domain) {
		return Reference{}, ErrInvalidReference
	}
	r := Reference{Domain: domain, Path: m[1], Tag: m[2]}
	if len(r.Path) > MaxPathLength {
		return Reference{}, invalidRef("repository name must not be more than %d characters", MaxPathLength)
	}
	if m[3] != "" {
		d, err := digest.Parse(m[3])
		if err != nil {
			return Reference{}, &refError{msg: err.Error(), cause: err}
		}
		r.Digest = d
	}
	return r, nil
}

// Name is the repository with its domain: "docker.io/library/nginx".
func (r Reference) Name() string {
	if r.Domain == "" {
		return r.Path
	}
	return r.Domain + "/" + r.Path
}

// FamiliarName is the repository as Docker shows it: without "docker.io/",
// and without "library/" for official images ("nginx", "team/app",
// "localhost:5000/foo").
func (r Reference) FamiliarName() string {
	if r.Domain != DefaultDomain {
		return r.Name()
	}
	if short, ok := strings.CutPrefix(r.Path, officialRepos); ok && !strings.Contains(short, "/") {
		return short
	}
	return r.Path
}

func (r Reference) suffix() string {
	var b strings.Builder
	if r.Tag != "" {
		b.WriteString(":" + r.Tag)
	}
	if r.Digest != "" {
		b.WriteString("@" + r.Digest.String())
	}
	return b.String()
}

// String is the fully qualified reference: "docker.io/library/nginx:latest".
func (r Reference) String() string { return r.Name() + r.suffix() }

// Familiar is the reference as Docker shows it: "nginx:latest".
func (r Reference) Familiar() string { return r.FamiliarName() + r.suffix() }

// Familiar shortens a name the way docker shows it ("busybox:latest" for
// "docker.io/library/busybox:latest"); what does not parse comes back as is.
func Familiar(name string) string {
	ref, err := ParseReference(name)
	if err != nil {
		return name
	}
	return ref.Familiar()
}

// RegistryHost is the host (and port) to contact for the repository:
// Docker Hub's names live on registry-1.docker.io.
func (r Reference) RegistryHost() string {
	if r.Domain == DefaultDomain {
		return DockerHubRegistry
	}
	return r.Domain
}

// WithTag returns r with its tag replaced; a digest is kept.
func (r Reference) WithTag(tag string) (Reference, error) {
	if !tagRE.MatchString(tag) {
		return Reference{}, invalidRef("invalid tag format")
	}
	r.Tag = tag
	return r, nil
}

// WithDigest returns r pinned to d; a tag is kept.
func (r Reference) WithDigest(d digest.Digest) (Reference, error) {
	if !digestRE.MatchString(d.String()) {
		return Reference{}, invalidRef("invalid digest format")
	}
	if err := d.Validate(); err != nil {
		return Reference{}, &refError{msg: err.Error(), cause: err}
	}
	r.Digest = d
	return r, nil
}
