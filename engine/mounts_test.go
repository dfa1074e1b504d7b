package engine

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseBind(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want container.MountPoint
		anon bool
		opts []string
		err  string
	}{
		{raw: "/src:/dst", want: container.MountPoint{Type: mount.TypeBind, Source: "/src", Destination: "/dst", RW: true, Propagation: "rprivate"}},
		{raw: "/src/:/dst/:ro,rshared", want: container.MountPoint{Type: mount.TypeBind, Source: "/src", Destination: "/dst", Mode: "ro,rshared", Propagation: "rshared"}},
		{raw: "vol:/dst", want: container.MountPoint{Type: mount.TypeVolume, Name: "vol", Destination: "/dst", Mode: "z", RW: true}},
		{raw: "vol:/dst:ro,nocopy", want: container.MountPoint{Type: mount.TypeVolume, Name: "vol", Destination: "/dst", Mode: "ro,nocopy"}, opts: []string{optNoCopy}},
		{raw: "/anon", want: container.MountPoint{Type: mount.TypeVolume, Destination: "/anon", RW: true}, anon: true},
		{raw: "/a:ro", err: "invalid volume specification: '/a:ro'"},
		{raw: ":/a", err: "invalid volume specification: ':/a'"},
		{raw: "a:b:c:d", err: "invalid volume specification: 'a:b:c:d'"},
		{raw: "/a:/b:ro,rw", err: "invalid mode: ro,rw"},
		{raw: "/a:/b:bogus", err: "invalid mode: bogus"},
		{raw: "vol:/b:shared", err: `invalid volume specification: 'vol:/b:shared': invalid mount config for type "volume": field BindOptions must not be specified`},
		{raw: "vol:rel", err: `invalid volume specification: 'vol:rel': invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute`},
		{raw: "/a:/", err: `invalid volume specification: '/a:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`},
	} {
		p, err := parseBind(tt.raw, "")
		if tt.err != "" {
			if err == nil || err.Error() != tt.err || KindOf(err) != KindInvalid {
				t.Errorf("%q: %v, want %q", tt.raw, err, tt.err)
			}
			continue
		}
		if err != nil || p.MountPoint != tt.want || p.Anonymous != tt.anon || !slices.Equal(p.Options, tt.opts) {
			t.Errorf("%q: %+v %v, want %+v", tt.raw, p.ctrMount, err, tt.want)
		}
	}
}

func TestParseMountSpecAndTmpfs(t *testing.T) {
	for _, tt := range []struct {
		m   mount.Mount
		err string
	}{
		{mount.Mount{Type: mount.TypeVolume}, `invalid mount config for type "volume": field Target must not be empty`},
		{mount.Mount{Type: mount.TypeBind, Target: "/x"}, `invalid mount config for type "bind": field Source must not be empty`},
		{mount.Mount{Type: mount.TypeBind, Source: "rel", Target: "/x"}, `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{mount.Mount{Type: mount.TypeBind, Source: "/", Target: "/x", BindOptions: &mount.BindOptions{Propagation: "sideways"}}, `invalid mount config for type "bind": invalid propagation mode: sideways`},
		{mount.Mount{Type: mount.TypeBind, Source: "/", Target: "/x", VolumeOptions: &mount.VolumeOptions{}}, `invalid mount config for type "bind": field VolumeOptions must not be specified`},
		{mount.Mount{Type: mount.TypeVolume, Target: "/x", VolumeOptions: &mount.VolumeOptions{Subpath: "a"}}, `invalid mount config for type "volume": must not set Subpath when using anonymous volumes`},
		{mount.Mount{Type: mount.TypeVolume, Source: "v", Target: "/x", VolumeOptions: &mount.VolumeOptions{Subpath: "/etc"}}, `invalid mount config for type "volume": subpath must be a relative path within the volume`},
		{mount.Mount{Type: mount.TypeTmpfs, Target: "/x", TmpfsOptions: &mount.TmpfsOptions{Options: [][]string{{"suid"}}}}, `invalid mount config for type "tmpfs": invalid option: suid`},
		{mount.Mount{Type: "npipe", Target: "/x"}, `invalid mount config for type "npipe": mount type unknown`},
	} {
		if _, err := parseMountSpec(tt.m); err == nil || err.Error() != tt.err {
			t.Errorf("%+v: %v, want %q", tt.m, err, tt.err)
		}
	}
	for _, tt := range []struct {
		o    mount.TmpfsOptions
		want string
	}{
		{mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1777}, "mode=1777,size=64m"},
		{mount.TmpfsOptions{SizeBytes: 3 << 30}, "size=3g"},
		{mount.TmpfsOptions{SizeBytes: 1536}, "size=1536"},
		{mount.TmpfsOptions{SizeBytes: 4096}, "size=4k"},
	} {
		if got, err := tmpfsData(&tt.o); err != nil || got != tt.want {
			t.Errorf("tmpfsData(%+v) = %q %v, want %q", tt.o, got, err, tt.want)
		}
	}
	if _, err := parseHostTmpfs("/x", "size=1m,bogus"); err == nil {
		t.Error("--tmpfs /x:size=1m,bogus accepted")
	}
}

// TestSpecMountsOrder: user mounts replace the defaults at their place and
// come parents first; binds get docker's options.
func TestSpecMountsOrder(t *testing.T) {
	e := &Engine{}
	r := &ctrRecord{ID: "c", Mounts: []ctrMount{
		{MountPoint: container.MountPoint{Type: mount.TypeBind, Source: "/h/a", Destination: "/a/b/c", RW: false, Propagation: "rslave"}},
		{MountPoint: container.MountPoint{Type: mount.TypeTmpfs, Destination: "/dev/shm", RW: true}, Tmpfs: &mount.TmpfsOptions{SizeBytes: 1 << 20}},
		{MountPoint: container.MountPoint{Type: mount.TypeBind, Source: "/h", Destination: "/a", RW: true}, Options: []string{optNonRecursive}},
		{MountPoint: container.MountPoint{Type: mount.TypeTmpfs, Destination: "/run", RW: false}, HostTmpfs: true, TmpfsData: "exec,size=1m"},
	}}
	s := &specs.Spec{Linux: &specs.Linux{}, Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc"}, {Destination: "/dev", Type: "tmpfs"}, {Destination: "/dev/shm", Type: "tmpfs"},
		{Destination: "/etc/hosts", Type: "bind"},
	}}
	if err := e.specMounts(r, s); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range s.Mounts {
		got = append(got, m.Destination)
	}
	if want := []string{"/proc", "/dev", "/a", "/run", "/etc/hosts", "/dev/shm", "/a/b/c"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	byDst := map[string]specs.Mount{}
	for _, m := range s.Mounts {
		byDst[m.Destination] = m
	}
	for dst, want := range map[string][]string{
		"/a/b/c":   {"rbind", "ro", "rro", "rslave"},
		"/a":       {"bind", "rprivate"},
		"/dev/shm": {"noexec", "nosuid", "nodev", "size=1m"},
		"/run":     {"noexec", "nosuid", "nodev", "exec", "size=1m", "ro"},
	} {
		if !slices.Equal(byDst[dst].Options, want) {
			t.Errorf("%s: options %v, want %v", dst, byDst[dst].Options, want)
		}
	}
	if s.Linux.RootfsPropagation != "rslave" {
		t.Errorf("rootfs propagation %q", s.Linux.RootfsPropagation)
	}
}
