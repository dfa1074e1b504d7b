package image

import (
	"errors"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

const (
	hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dgst  = "sha256:" + hex64
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		in                  string
		domain, path, tag   string
		digest              digest.Digest
		str, familiar, host string
	}{
		{in: "nginx", domain: "docker.io", path: "library/nginx", tag: "latest",
			str: "docker.io/library/nginx:latest", familiar: "nginx:latest", host: "registry-1.docker.io"},
		{in: "nginx:1.17-alpine", domain: "docker.io", path: "library/nginx", tag: "1.17-alpine",
			str: "docker.io/library/nginx:1.17-alpine", familiar: "nginx:1.17-alpine", host: "registry-1.docker.io"},
		{in: "library/nginx", domain: "docker.io", path: "library/nginx", tag: "latest",
			str: "docker.io/library/nginx:latest", familiar: "nginx:latest", host: "registry-1.docker.io"},
		{in: "docker.io/library/nginx", domain: "docker.io", path: "library/nginx", tag: "latest",
			str: "docker.io/library/nginx:latest", familiar: "nginx:latest", host: "registry-1.docker.io"},
		{in: "docker.io/nginx", domain: "docker.io", path: "library/nginx", tag: "latest",
			str: "docker.io/library/nginx:latest", familiar: "nginx:latest", host: "registry-1.docker.io"},
		{in: "index.docker.io/nginx", domain: "docker.io", path: "library/nginx", tag: "latest",
			str: "docker.io/library/nginx:latest", familiar: "nginx:latest", host: "registry-1.docker.io"},
		{in: "index.docker.io/team/app:v2", domain: "docker.io", path: "team/app", tag: "v2",
			str: "docker.io/team/app:v2", familiar: "team/app:v2", host: "registry-1.docker.io"},
		{in: "team/app", domain: "docker.io", path: "team/app", tag: "latest",
			str: "docker.io/team/app:latest", familiar: "team/app:latest", host: "registry-1.docker.io"},
		{in: "library/distros/ubuntu", domain: "docker.io", path: "library/distros/ubuntu", tag: "latest",
			str: "docker.io/library/distros/ubuntu:latest", familiar: "library/distros/ubuntu:latest", host: "registry-1.docker.io"},
		{in: "localhost/foo", domain: "localhost", path: "foo", tag: "latest",
			str: "localhost/foo:latest", familiar: "localhost/foo:latest", host: "localhost"},
		{in: "localhost", domain: "docker.io", path: "library/localhost", tag: "latest",
			str: "docker.io/library/localhost:latest", familiar: "localhost:latest", host: "registry-1.docker.io"},
		{in: "localhost:5000/foo:bar", domain: "localhost:5000", path: "foo", tag: "bar",
			str: "localhost:5000/foo:bar", familiar: "localhost:5000/foo:bar", host: "localhost:5000"},
		{in: "127.0.0.1:5000/team/app@" + dgst, domain: "127.0.0.1:5000", path: "team/app", digest: dgst,
			str: "127.0.0.1:5000/team/app@" + dgst, familiar: "127.0.0.1:5000/team/app@" + dgst, host: "127.0.0.1:5000"},
		{in: "host:5000/team/app:v1@" + dgst, domain: "host:5000", path: "team/app", tag: "v1", digest: dgst,
			str: "host:5000/team/app:v1@" + dgst, familiar: "host:5000/team/app:v1@" + dgst, host: "host:5000"},
		{in: "nginx@" + dgst, domain: "docker.io", path: "library/nginx", digest: dgst,
			str: "docker.io/library/nginx@" + dgst, familiar: "nginx@" + dgst, host: "registry-1.docker.io"},
		{in: "[::1]:5000/foo", domain: "[::1]:5000", path: "foo", tag: "latest",
			str: "[::1]:5000/foo:latest", familiar: "[::1]:5000/foo:latest", host: "[::1]:5000"},
		{in: "[2001:db8::1]/foo/bar:1", domain: "[2001:db8::1]", path: "foo/bar", tag: "1",
			str: "[2001:db8::1]/foo/bar:1", familiar: "[2001:db8::1]/foo/bar:1", host: "[2001:db8::1]"},
		{in: "Registry.Example.COM/a/b", domain: "Registry.Example.COM", path: "a/b", tag: "latest",
			str: "Registry.Example.COM/a/b:latest", familiar: "Registry.Example.COM/a/b:latest", host: "Registry.Example.COM"},
		// An uppercase first component cannot be a path, so it is a host.
		{in: "Myhost/app", domain: "Myhost", path: "app", tag: "latest",
			str: "Myhost/app:latest", familiar: "Myhost/app:latest", host: "Myhost"},
		{in: "a.b-c.example/x__y/z-1.q_r---s:TAG_1.x-Y", domain: "a.b-c.example", path: "x__y/z-1.q_r---s", tag: "TAG_1.x-Y",
			str: "a.b-c.example/x__y/z-1.q_r---s:TAG_1.x-Y", familiar: "a.b-c.example/x__y/z-1.q_r---s:TAG_1.x-Y", host: "a.b-c.example"},
		{in: "foo:" + strings.Repeat("t", 128), domain: "docker.io", path: "library/foo", tag: strings.Repeat("t", 128),
			str: "docker.io/library/foo:" + strings.Repeat("t", 128), familiar: "foo:" + strings.Repeat("t", 128), host: "registry-1.docker.io"},
		{in: "x/" + strings.Repeat("a", 253), domain: "docker.io", path: "x/" + strings.Repeat("a", 253), tag: "latest",
			str: "docker.io/x/" + strings.Repeat("a", 253) + ":latest", familiar: "x/" + strings.Repeat("a", 253) + ":latest", host: "registry-1.docker.io"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseReference(tt.in)
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tt.in, err)
			}
			want := Reference{Domain: tt.domain, Path: tt.path, Tag: tt.tag, Digest: tt.digest}
			if r != want {
				t.Errorf("got %+v, want %+v", r, want)
			}
			if got := r.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := r.Familiar(); got != tt.familiar {
				t.Errorf("Familiar() = %q, want %q", got, tt.familiar)
			}
			if got := r.RegistryHost(); got != tt.host {
				t.Errorf("RegistryHost() = %q, want %q", got, tt.host)
			}
			if got, want := r.Name(), tt.domain+"/"+tt.path; got != want {
				t.Errorf("Name() = %q, want %q", got, want)
			}
			// The full form and the familiar form read back the same.
			for _, s := range []string{r.String(), r.Familiar()} {
				back, err := ParseReference(s)
				if err != nil || back != r {
					t.Errorf("ParseReference(%q) = %+v, %v; want %+v", s, back, err, r)
				}
			}
		})
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	tests := []struct {
		in, msg string
	}{
		{"", "repository name must have at least one component"},
		{"UPPER", "invalid reference format: repository name (library/UPPER) must be lowercase"},
		{"library/Nginx", "invalid reference format: repository name (library/Nginx) must be lowercase"},
		{"docker.io/Team/app:v1", "invalid reference format: repository name (Team/app) must be lowercase"},
		{"nginx:", "invalid reference format"},
		{"nginx@", "invalid reference format"},
		{"a//b", "invalid reference format"},
		{"a/", "invalid reference format"},
		{"/a", "invalid reference format"},
		{":tag", "invalid reference format"},
		{"@sha256:abcdef", "invalid reference format"},
		{"nginx@sha256:short", "invalid reference format"},
		{".foo", "invalid reference format"},
		{"foo.", "invalid reference format"},
		{"foo..bar", "invalid reference format"},
		{"foo-/bar", "invalid reference format"},
		{"foo___bar", "invalid reference format"},
		{"foo bar", "invalid reference format"},
		{"nginx:-tag", "invalid reference format"},
		{"nginx:" + strings.Repeat("t", 129), "invalid reference format"},
		{"nginx:a:b", "invalid reference format"},
		{"-host.com/foo", "invalid reference format"},
		{"host-.com/foo", "invalid reference format"},
		{"host.com:port/foo", "invalid reference format"},
		{"[::1/foo", "invalid reference format"},
		{"[fe80::1%eth0]:5000/foo", "invalid reference format"},
		{hex64, "invalid repository name (" + hex64 + "), cannot specify 64-byte hexadecimal strings"},
		{"x/" + strings.Repeat("a", 254), "repository name must not be more than 255 characters"},
		{"nginx@sha256:" + strings.Repeat("a", 63), "invalid checksum digest length"},
		{"nginx@sha256:" + strings.ToUpper(hex64), "invalid checksum digest format"},
		{"nginx@md5:" + hex64, "unsupported digest algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseReference(tt.in)
			if err == nil {
				t.Fatalf("ParseReference(%q) = %+v, want error %q", tt.in, r, tt.msg)
			}
			if err.Error() != tt.msg {
				t.Errorf("error %q, want %q", err, tt.msg)
			}
			if !errors.Is(err, ErrInvalidReference) {
				t.Errorf("error %q does not wrap ErrInvalidReference", err)
			}
		})
	}
	_, err := ParseReference("nginx@sha256:" + strings.Repeat("a", 63))
	if !errors.Is(err, digest.ErrDigestInvalidLength) {
		t.Errorf("digest error %v does not wrap go-digest's", err)
	}
}

func TestReferenceWith(t *testing.T) {
	r, err := ParseReference("team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := r.WithDigest(dgst)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r2.String(), "docker.io/team/app:v1@"+dgst; got != want {
		t.Errorf("WithDigest: %q, want %q", got, want)
	}
	r3, err := r2.WithTag("v2")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r3.Familiar(), "team/app:v2@"+dgst; got != want {
		t.Errorf("WithTag: %q, want %q", got, want)
	}
	if r.Digest != "" {
		t.Errorf("WithDigest changed its receiver")
	}
	for _, tag := range []string{"", ".x", "a b", strings.Repeat("t", 129)} {
		if _, err := r.WithTag(tag); !errors.Is(err, ErrInvalidReference) || err.Error() != "invalid tag format" {
			t.Errorf("WithTag(%q) = %v, want invalid tag format", tag, err)
		}
	}
	for _, d := range []digest.Digest{"", "sha256", "sha256:abc", hex64} {
		if _, err := r.WithDigest(d); !errors.Is(err, ErrInvalidReference) || err.Error() != "invalid digest format" {
			t.Errorf("WithDigest(%q) = %v, want invalid digest format", d, err)
		}
	}
	if _, err := r.WithDigest(digest.Digest("sha256:" + hex64[:40])); !errors.Is(err, digest.ErrDigestInvalidLength) {
		t.Errorf("WithDigest(short sha256) = %v, want a length error", err)
	}
}

func TestFamiliarName(t *testing.T) {
	if got := (Reference{Path: "x/y", Tag: "1"}).String(); got != "x/y:1" {
		t.Errorf("String() without a domain = %q", got)
	}
	tests := map[string]string{
		"nginx":                    "nginx",
		"docker.io/team/app":       "team/app",
		"library/a/b":              "library/a/b",
		"localhost:5000/library/x": "localhost:5000/library/x",
		"quay.io/library/x":        "quay.io/library/x",
	}
	for in, want := range tests {
		r, err := ParseReference(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.FamiliarName(); got != want {
			t.Errorf("FamiliarName(%q) = %q, want %q", in, got, want)
		}
	}
}
