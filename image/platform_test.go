package image

import (
	"errors"
	"runtime"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func plat(os, arch, variant string) ocispec.Platform {
	return ocispec.Platform{OS: os, Architecture: arch, Variant: variant}
}

func TestParsePlatform(t *testing.T) {
	host := HostPlatform()
	tests := []struct {
		in   string
		want ocispec.Platform
		str  string
	}{
		{"linux/amd64", plat("linux", "amd64", ""), "linux/amd64"},
		{"linux/x86_64", plat("linux", "amd64", ""), "linux/amd64"},
		{"linux/amd64/v1", plat("linux", "amd64", ""), "linux/amd64"},
		{"linux/amd64/v3", plat("linux", "amd64", "v3"), "linux/amd64/v3"},
		{"amd64", plat("linux", "amd64", ""), "linux/amd64"},
		{"x86_64", plat("linux", "amd64", ""), "linux/amd64"},
		{"i386", plat("linux", "386", ""), "linux/386"},
		{"linux/i686", plat("linux", "386", ""), "linux/386"},
		{"linux/arm64", plat("linux", "arm64", ""), "linux/arm64"},
		{"linux/arm64/v8", plat("linux", "arm64", ""), "linux/arm64"},
		{"linux/aarch64", plat("linux", "arm64", ""), "linux/arm64"},
		{"aarch64", plat("linux", "arm64", ""), "linux/arm64"},
		{"linux/arm64/v9", plat("linux", "arm64", "v9"), "linux/arm64/v9"},
		{"linux/arm", plat("linux", "arm", "v7"), "linux/arm/v7"},
		{"linux/arm/v7", plat("linux", "arm", "v7"), "linux/arm/v7"},
		{"linux/arm/6", plat("linux", "arm", "v6"), "linux/arm/v6"},
		{"linux/armhf", plat("linux", "arm", "v7"), "linux/arm/v7"},
		{"armhf", plat("linux", "arm", "v7"), "linux/arm/v7"},
		{"linux/armel", plat("linux", "arm", "v6"), "linux/arm/v6"},
		{"Linux/AMD64", plat("linux", "amd64", ""), "linux/amd64"},
		{"linux/s390x", plat("linux", "s390x", ""), "linux/s390x"},
		{"linux/riscv64", plat("linux", "riscv64", ""), "linux/riscv64"},
		{"windows/amd64", plat("windows", "amd64", ""), "windows/amd64"},
		{"macos/arm64", plat("darwin", "arm64", ""), "darwin/arm64"},
		{"linux/ppc64le/power9", plat("linux", "ppc64le", "power9"), "linux/ppc64le/power9"},
		{"linux", plat("linux", host.Architecture, host.Variant), FormatPlatform(plat("linux", host.Architecture, host.Variant))},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePlatform(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.OS != tt.want.OS || p.Architecture != tt.want.Architecture || p.Variant != tt.want.Variant {
				t.Errorf("got %+v, want %+v", p, tt.want)
			}
			if got := FormatPlatform(p); got != tt.str {
				t.Errorf("FormatPlatform = %q, want %q", got, tt.str)
			}
		})
	}
	if got := FormatPlatform(ocispec.Platform{}); got != "unknown" {
		t.Errorf("FormatPlatform(empty) = %q, want unknown", got)
	}
	for _, in := range []string{"", "/", "linux/", "/amd64", "linux//v7", "linux/amd64/v3/x", "lnux", "linux/amd 64", "linux\x00/amd64"} {
		if p, err := ParsePlatform(in); !errors.Is(err, ErrInvalidPlatform) {
			t.Errorf("ParsePlatform(%q) = %+v, %v; want ErrInvalidPlatform", in, p, err)
		}
	}
}

func TestHostPlatform(t *testing.T) {
	p := HostPlatform()
	if p.OS != runtime.GOOS {
		t.Errorf("os %q, want %q", p.OS, runtime.GOOS)
	}
	if n := NormalizePlatform(p); n.Architecture != p.Architecture || n.Variant != p.Variant {
		t.Errorf("HostPlatform %+v is not normalized", p)
	}
	switch runtime.GOARCH {
	case "amd64", "arm64":
		if p.Architecture != runtime.GOARCH || p.Variant != "" {
			t.Errorf("HostPlatform = %+v", p)
		}
	case "arm":
		if p.Variant == "" {
			t.Errorf("HostPlatform = %+v, want an arm variant", p)
		}
	}
	if !MatchPlatform(p, p) {
		t.Errorf("the host platform does not match itself")
	}
}

func TestVariantFromCPUInfo(t *testing.T) {
	tests := []struct{ cpuinfo, def, want string }{
		{"processor\t: 0\nBogoMIPS\t: 50.00\nCPU architecture: 8\n", "v8", "v8"},
		{"processor\t: 0\nCPU architecture: AArch64\n", "v8", "v8"},
		{"model name\t: ARMv7 Processor rev 4 (v7l)\nCPU architecture: 7\nCPU architecture: 8\n", "v7", "v7"},
		{"CPU architecture: 6TEJ\n", "v7", "v6"},
		{"CPU architecture: 5TE\n", "v7", "v5"},
		{"CPU architecture: ?\n", "v7", "v7"},
		{"processor: 0\n", "v7", "v7"},
	}
	for _, tt := range tests {
		if got := variantFromCPUInfo([]byte(tt.cpuinfo), tt.def); got != tt.want {
			t.Errorf("variantFromCPUInfo(%q) = %q, want %q", tt.cpuinfo, got, tt.want)
		}
	}
}

func TestMatchPlatform(t *testing.T) {
	tests := []struct {
		want, have ocispec.Platform
		match      bool
	}{
		{plat("linux", "amd64", ""), plat("linux", "amd64", ""), true},
		{plat("linux", "amd64", ""), plat("Linux", "x86_64", ""), true},
		{plat("linux", "amd64", ""), plat("linux", "amd64", "v1"), true},
		{plat("linux", "amd64", ""), plat("linux", "amd64", "v2"), false},
		{plat("linux", "amd64", ""), plat("linux", "386", ""), false},
		{plat("linux", "amd64", ""), plat("windows", "amd64", ""), false},
		{plat("linux", "amd64", ""), plat("linux", "arm64", ""), false},
		{plat("linux", "amd64", "v3"), plat("linux", "amd64", "v2"), true},
		{plat("linux", "amd64", "v3"), plat("linux", "amd64", ""), true},
		{plat("linux", "amd64", "v2"), plat("linux", "amd64", "v3"), false},
		{plat("linux", "arm64", ""), plat("linux", "arm64", "v8"), true},
		{plat("linux", "arm64", "v8"), plat("linux", "aarch64", ""), true},
		{plat("linux", "arm64", ""), plat("linux", "arm", "v7"), false},
		{plat("linux", "arm64", ""), plat("linux", "arm", "v8"), false},
		{plat("linux", "arm64", ""), plat("linux", "arm64", "v9"), false},
		{plat("linux", "arm64", "v9"), plat("linux", "arm64", "v8"), true},
		{plat("linux", "arm", "v8"), plat("linux", "arm", "v7"), true},
		{plat("linux", "arm", "v8"), plat("linux", "arm", "v5"), true},
		{plat("linux", "arm", "v7"), plat("linux", "arm", ""), true},
		{plat("linux", "arm", "v7"), plat("linux", "arm", "v6"), true},
		{plat("linux", "arm", "v7"), plat("linux", "arm", "v8"), false},
		{plat("linux", "arm", "v6"), plat("linux", "arm", "v7"), false},
		{plat("linux", "arm", "v6"), plat("linux", "arm64", ""), false},
		{plat("linux", "amd64", ""), ocispec.Platform{OS: "linux", Architecture: "amd64", OSVersion: "x", OSFeatures: []string{"y"}}, true},
	}
	for _, tt := range tests {
		if got := MatchPlatform(tt.want, tt.have); got != tt.match {
			t.Errorf("MatchPlatform(%s, %s) = %v", FormatPlatform(tt.want), FormatPlatform(tt.have), got)
		}
	}
	m := OnlyPlatform(plat("linux", "arm", "v8"))
	if !m.Less(plat("linux", "arm", "v7"), plat("linux", "arm", "v6")) || m.Less(plat("linux", "arm", "v5"), plat("linux", "arm", "v8")) {
		t.Errorf("arm/v8 does not prefer newer variants")
	}
	if !m.Less(plat("linux", "arm", "v5"), plat("linux", "amd64", "")) {
		t.Errorf("a match does not rank before a mismatch")
	}
}

// desc names a manifest by a digest made from its label, for readable tests.
func desc(label string, p *ocispec.Platform, annotations map[string]string) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:   ocispec.MediaTypeImageManifest,
		Digest:      digest.FromString(label),
		Size:        int64(len(label)),
		Platform:    p,
		Annotations: annotations,
	}
}

func pp(os, arch, variant string) *ocispec.Platform {
	p := plat(os, arch, variant)
	return &p
}

func TestSelectManifest(t *testing.T) {
	attest := func(of string) map[string]string {
		return map[string]string{
			AnnotationDockerReferenceType: DockerAttestationManifest,
			"vnd.docker.reference.digest": digest.FromString(of).String(),
		}
	}
	// What docker buildx pushes for --platform linux/amd64,linux/arm64,linux/arm/v7,linux/arm/v6
	// with provenance: one attestation manifest per image, platform unknown/unknown.
	buildx := ocispec.Index{Manifests: []ocispec.Descriptor{
		desc("amd64", pp("linux", "amd64", ""), nil),
		desc("arm64", pp("linux", "arm64", ""), nil),
		desc("armv7", pp("linux", "arm", "v7"), nil),
		desc("armv6", pp("linux", "arm", "v6"), nil),
		desc("att-amd64", pp("unknown", "unknown", ""), attest("amd64")),
		desc("att-arm64", pp("unknown", "unknown", ""), attest("arm64")),
		desc("att-armv7", pp("unknown", "unknown", ""), attest("armv7")),
		desc("att-armv6", pp("unknown", "unknown", ""), attest("armv6")),
	}}
	// Docker Hub style: arm64 marked v8, amd64 levels, attestations first.
	hub := ocispec.Index{Manifests: []ocispec.Descriptor{
		desc("att-first", pp("unknown", "unknown", ""), attest("amd64")),
		desc("arm64v8", pp("linux", "arm64", "v8"), nil),
		desc("amd64", pp("linux", "amd64", ""), nil),
		desc("amd64v3", pp("linux", "amd64", "v3"), nil),
		desc("amd64v2", pp("linux", "amd64", "v2"), nil),
		desc("armv5", pp("linux", "arm", "v5"), nil),
		desc("386", pp("linux", "386", ""), nil),
		desc("win", &ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1"}, nil),
	}}
	noPlatforms := ocispec.Index{Manifests: []ocispec.Descriptor{
		desc("att", nil, attest("x")),
		desc("only", nil, nil),
	}}
	attestationsOnly := ocispec.Index{Manifests: []ocispec.Descriptor{
		desc("att", pp("unknown", "unknown", ""), attest("x")),
	}}
	mixed := ocispec.Index{Manifests: []ocispec.Descriptor{
		desc("generic", nil, nil),
		desc("arm64", pp("linux", "arm64", ""), nil),
	}}
	tests := []struct {
		name  string
		index ocispec.Index
		want  ocispec.Platform
		pick  string // label of the expected descriptor; "" for the error
		err   string
	}{
		{"buildx amd64", buildx, plat("linux", "amd64", ""), "amd64", ""},
		{"buildx arm64", buildx, plat("linux", "arm64", "v8"), "arm64", ""},
		{"buildx arm/v7", buildx, plat("linux", "arm", "v7"), "armv7", ""},
		{"buildx arm/v8 takes v7", buildx, plat("linux", "arm", "v8"), "armv7", ""},
		{"buildx arm/v6", buildx, plat("linux", "arm", "v6"), "armv6", ""},
		{"buildx arm/v5", buildx, plat("linux", "arm", "v5"), "", "no matching manifest for linux/arm/v5 in the manifest list entries"},
		{"buildx s390x", buildx, plat("linux", "s390x", ""), "", "no matching manifest for linux/s390x in the manifest list entries"},
		{"buildx unknown", buildx, plat("unknown", "unknown", ""), "", "no matching manifest for unknown/unknown in the manifest list entries"},
		{"hub arm64", hub, plat("linux", "arm64", ""), "arm64v8", ""},
		{"hub amd64", hub, plat("linux", "amd64", ""), "amd64", ""},
		{"hub amd64/v3", hub, plat("linux", "amd64", "v3"), "amd64v3", ""},
		{"hub amd64/v2", hub, plat("linux", "amd64", "v2"), "amd64v2", ""},
		{"hub amd64/v4", hub, plat("linux", "amd64", "v4"), "amd64v3", ""},
		{"hub arm/v7 takes v5", hub, plat("linux", "arm", "v7"), "armv5", ""},
		{"hub 386", hub, plat("linux", "386", ""), "386", ""},
		{"hub windows", hub, plat("windows", "amd64", ""), "win", ""},
		{"no platforms", noPlatforms, plat("linux", "amd64", ""), "only", ""},
		{"attestations only", attestationsOnly, plat("linux", "amd64", ""), "", "no matching manifest for linux/amd64 in the manifest list entries"},
		{"generic entry next to platforms", mixed, plat("linux", "amd64", ""), "", "no matching manifest for linux/amd64 in the manifest list entries"},
		{"empty index", ocispec.Index{}, plat("linux", "arm", ""), "", "no matching manifest for linux/arm/v7 in the manifest list entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := SelectManifest(tt.index, tt.want)
			if tt.pick == "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, ErrNoMatchingManifest) {
					t.Fatalf("SelectManifest = %v, %v; want error %q", d.Digest, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Digest != digest.FromString(tt.pick) {
				for _, m := range tt.index.Manifests {
					if m.Digest == d.Digest && m.Platform != nil {
						t.Fatalf("picked %s, want %q", FormatPlatform(*m.Platform), tt.pick)
					}
				}
				t.Fatalf("picked %s, want %q", d.Digest, tt.pick)
			}
		})
	}
}
