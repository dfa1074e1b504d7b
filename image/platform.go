package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/berth-project/berth/internal/lazyre"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	// ErrInvalidPlatform is wrapped by ParsePlatform's errors.
	ErrInvalidPlatform = errors.New("invalid platform")
	// ErrNoMatchingManifest is matched (errors.Is) by SelectManifest's error
	// when no entry of an index runs on the wanted platform.
	ErrNoMatchingManifest = errors.New("no matching manifest")
)

// HostPlatform is the platform this process runs on, normalized. On arm the
// variant comes from the "CPU architecture" line of /proc/cpuinfo (v7 when
// it cannot be read); arm64 is v8, which normalizes to no variant; amd64
// has no variant (microarchitecture levels are not probed).
func HostPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	switch p.Architecture {
	case "arm", "arm64":
		p.Variant = cpuVariant()
	}
	return NormalizePlatform(p)
}

var cpuVariant = sync.OnceValue(func() string {
	def := "v7"
	if runtime.GOARCH == "arm64" {
		def = "v8"
	}
	if runtime.GOOS != "linux" {
		return def
	}
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return def
	}
	return variantFromCPUInfo(data, def)
})

// variantFromCPUInfo reads the first "CPU architecture" of a /proc/cpuinfo.
func variantFromCPUInfo(data []byte, def string) string {
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		key, value, ok := strings.Cut(s.Text(), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(key), "CPU architecture") {
			continue
		}
		value = strings.TrimSpace(value)
		switch {
		case value == "AArch64" || value == "8":
			return "v8"
		case strings.HasPrefix(value, "7"):
			return "v7"
		case strings.HasPrefix(value, "6"):
			return "v6"
		case strings.HasPrefix(value, "5"):
			return "v5"
		}
		return def
	}
	return def
}

// platformPart is what may appear between the slashes of a platform.
var platformPart = lazyre.New(`^[A-Za-z0-9_.-]+$`)

var knownOS = map[string]bool{
	"aix": true, "android": true, "darwin": true, "dragonfly": true, "freebsd": true,
	"hurd": true, "illumos": true, "ios": true, "js": true, "linux": true, "netbsd": true,
	"openbsd": true, "plan9": true, "solaris": true, "wasip1": true, "windows": true, "zos": true,
}

var knownArch = map[string]bool{
	"386": true, "amd64": true, "amd64p32": true, "arm": true, "armbe": true, "arm64": true,
	"arm64be": true, "loong64": true, "mips": true, "mipsle": true, "mips64": true,
	"mips64le": true, "mips64p32": true, "mips64p32le": true, "ppc": true, "ppc64": true,
	"ppc64le": true, "riscv": true, "riscv64": true, "s390": true, "s390x": true,
	"sparc": true, "sparc64": true, "wasm": true,
}

// ParsePlatform parses "os/arch[/variant]" ("linux/arm64/v8", "linux/arm/v7")
// or a lone architecture ("amd64", on linux) or operating system ("linux",
// on this host's architecture), and normalizes it (see NormalizePlatform).
func ParsePlatform(s string) (ocispec.Platform, error) {
	bad := func(why string) (ocispec.Platform, error) {
		return ocispec.Platform{}, fmt.Errorf("parse platform %q: %s: %w", s, why, ErrInvalidPlatform)
	}
	parts := strings.Split(s, "/")
	for _, part := range parts {
		if !platformPart.MatchString(part) {
			return bad("invalid path component")
		}
	}
	var p ocispec.Platform
	switch len(parts) {
	case 1:
		word := strings.ToLower(parts[0])
		if word == "macos" || knownOS[word] {
			p = HostPlatform()
			p.OS = word
			break
		}
		p = NormalizePlatform(ocispec.Platform{OS: "linux", Architecture: word})
		if !knownArch[p.Architecture] {
			return bad("unknown operating system or architecture")
		}
	case 2:
		p = ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	case 3:
		p = ocispec.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
	default:
		return bad("too many components")
	}
	return NormalizePlatform(p), nil
}

// FormatPlatform writes p as "os/arch[/variant]"; an absent os is "unknown".
func FormatPlatform(p ocispec.Platform) string {
	if p.OS == "" {
		return "unknown"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// NormalizePlatform lowercases p and maps the aliases tools write to the
// names images use, as containerd does: x86_64 is amd64 (v1 is no variant),
// i386 is 386, aarch64 is arm64 (v8 is no variant), armhf is arm/v7, armel
// is arm/v6, and plain arm is arm/v7.
func NormalizePlatform(p ocispec.Platform) ocispec.Platform {
	p.OS = strings.ToLower(p.OS)
	if p.OS == "macos" {
		p.OS = "darwin"
	}
	arch, variant := strings.ToLower(p.Architecture), strings.ToLower(p.Variant)
	switch arch {
	case "i386", "i486", "i586", "i686", "x86", "386":
		arch, variant = "386", ""
	case "x86_64", "x86-64", "amd64":
		arch = "amd64"
		if variant == "v1" {
			variant = ""
		}
	case "aarch64", "arm64":
		arch = "arm64"
		switch variant {
		case "8", "v8", "v8.0":
			variant = ""
		case "9", "9.0", "v9.0":
			variant = "v9"
		}
	case "armhf":
		arch, variant = "arm", "v7"
	case "armel":
		arch, variant = "arm", "v6"
	case "arm":
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
	}
	p.Architecture, p.Variant = arch, variant
	return p
}

// PlatformMatcher decides which platforms can stand in for a wanted one,
// and which of two is the better choice.
type PlatformMatcher interface {
	Match(ocispec.Platform) bool
	Less(a, b ocispec.Platform) bool
}

// OnlyPlatform matches what runs where want runs, best first: want exactly,
// then, for arm/vN, the older arm variants down to v5 (a v8 CPU in 32-bit
// mode runs v7, v6, v5 code); for amd64/vN, the lower microarchitecture
// levels down to plain amd64; for arm64/vN (N > 8), plain arm64. An arm64
// host does not fall back to 32-bit arm, nor amd64 to 386: ask for those
// explicitly. os.version and os.features are ignored (linux has none).
func OnlyPlatform(want ocispec.Platform) PlatformMatcher {
	want = NormalizePlatform(want)
	m := onlyPlatform{want}
	level, err := strconv.Atoi(strings.TrimPrefix(want.Variant, "v"))
	if err != nil || !strings.HasPrefix(want.Variant, "v") {
		return m
	}
	add := func(variant string) {
		q := want
		q.Variant = variant
		m = append(m, q)
	}
	switch want.Architecture {
	case "arm":
		for n := level - 1; n >= 5; n-- {
			add("v" + strconv.Itoa(n))
		}
	case "amd64":
		for n := level - 1; n >= 2; n-- {
			add("v" + strconv.Itoa(n))
		}
		if level > 1 {
			add("") // v1 is written without a variant
		}
	case "arm64":
		if level > 8 {
			add("") // v8 is written without a variant
		}
	}
	return m
}

// onlyPlatform lists the acceptable platforms, normalized, best first.
type onlyPlatform []ocispec.Platform

func (m onlyPlatform) rank(p ocispec.Platform) int {
	p = NormalizePlatform(p)
	for i, q := range m {
		if p.OS == q.OS && p.Architecture == q.Architecture && p.Variant == q.Variant {
			return i
		}
	}
	return len(m)
}

func (m onlyPlatform) Match(p ocispec.Platform) bool { return m.rank(p) < len(m) }

func (m onlyPlatform) Less(a, b ocispec.Platform) bool { return m.rank(a) < m.rank(b) }

// MatchPlatform reports whether an image built for have runs where want runs.
func MatchPlatform(want, have ocispec.Platform) bool { return OnlyPlatform(want).Match(have) }

// Annotations Docker's buildx puts on the attestation manifests (SBOM,
// provenance) it adds to an index, with platform unknown/unknown.
const (
	AnnotationDockerReferenceType = "vnd.docker.reference.type"
	DockerAttestationManifest     = "attestation-manifest"
)

// runnable reports whether d names an image for some real platform: not an
// attestation, and a platform with a known os and architecture.
func runnable(d ocispec.Descriptor) bool {
	if d.Annotations[AnnotationDockerReferenceType] == DockerAttestationManifest {
		return false
	}
	p := d.Platform
	return p != nil && p.OS != "" && p.Architecture != "" && p.OS != "unknown" && p.Architecture != "unknown"
}

// SelectManifest picks the entry of an index (manifest list) to run on
// want: the best match as OnlyPlatform ranks them, the first listed among
// equals. Attestation manifests and entries whose platform is unknown are
// skipped. Entries without a platform are considered only when no entry
// names one (an index that does not describe platforms); the caller should
// then check the platform in the image config. When nothing fits, the
// error reads as Docker's and matches ErrNoMatchingManifest.
func SelectManifest(index ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	m := OnlyPlatform(want)
	best, described := -1, false
	for i, d := range index.Manifests {
		if !runnable(d) {
			continue
		}
		described = true
		if m.Match(*d.Platform) && (best < 0 || m.Less(*d.Platform, *index.Manifests[best].Platform)) {
			best = i
		}
	}
	if best >= 0 {
		return index.Manifests[best], nil
	}
	if !described {
		for _, d := range index.Manifests {
			if d.Platform == nil && d.Annotations[AnnotationDockerReferenceType] != DockerAttestationManifest {
				return d, nil
			}
		}
	}
	return ocispec.Descriptor{}, &noMatchError{FormatPlatform(NormalizePlatform(want))}
}

type noMatchError struct{ want string }

func (e *noMatchError) Error() string {
	return "no matching manifest for " + e.want + " in the manifest list entries"
}

func (e *noMatchError) Is(target error) bool { return target == ErrNoMatchingManifest }
