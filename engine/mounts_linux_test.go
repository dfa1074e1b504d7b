package engine

import (
	"archive/tar"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/imagetest"
)

// volImage adds the image "voltest" to e: busybox with VOLUME /data
// (content with owners, modes, a symlink and a hard link), VOLUME /vlink
// (a symlink to /etc, which holds only the image's marker) and a file
// /afile.
func volImage(t *testing.T, e *Engine) {
	t.Helper()
	layout := t.TempDir()
	top := imagetest.BusyboxLayout(t, layout, imagetest.LayoutOptions{
		Config: &ocispec.ImageConfig{
			Env:     []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd:     []string{"sh"},
			Volumes: map[string]struct{}{"/data": {}, "/vlink": {}},
		},
		ExtraLayers: []imagetest.Layer{{Entries: []imagetest.Entry{
			{Path: "data", Type: tar.TypeDir, Mode: 0o750, UID: 1000, GID: 1001},
			imagetest.File("data/hello", "from the image\n"),
			{Path: "data/sub", Type: tar.TypeDir, Mode: 0o700, UID: 1234, GID: 5678},
			{Path: "data/sub/secret", Type: tar.TypeReg, Mode: 0o4755, Data: []byte("x"), UID: 1234, GID: 5678},
			imagetest.Symlink("data/passwd", "/etc/passwd"),
			imagetest.Hardlink("data/hello2", "data/hello"),
			imagetest.Dir("etc"),
			imagetest.File("etc/image-marker", "image\n"),
			imagetest.Symlink("vlink", "/etc"),
			imagetest.File("afile", "a file\n"),
		}}},
	})
	addLayout(t, e.Images, layout, top, "docker.io/library/voltest:latest")
}

// output runs cmd in a new busybox container and returns its exit code
// and output (stdout then stderr).
func output(t *testing.T, e *Engine, cfg container.Config, hc container.HostConfig, cmd ...string) (string, int, string) {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = "busybox"
	}
	hc.NetworkMode = "none"
	resp, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &container.Config{
		Image: cfg.Image, Cmd: cmd, User: cfg.User,
	}, HostConfig: &hc}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	code := startWait(t, e, resp.ID)
	return resp.ID, code, logsOf(t, e, resp.ID)
}

func storeVolumes(t *testing.T, e *Engine) []string {
	t.Helper()
	vs, err := e.Volumes.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func rm(t *testing.T, e *Engine, id string, volumes bool) {
	t.Helper()
	if err := e.ContainerRemove(ctx(t), id, RemoveOptions{RemoveVolumes: volumes}); err != nil {
		t.Fatal(err)
	}
}

func TestNamedVolumeOutlivesContainer(t *testing.T) {
	e := newTestEngine(t, false)
	id, code, out := output(t, e, container.Config{}, container.HostConfig{Binds: []string{"keep:/data"}},
		"sh", "-c", "echo kept > /data/f && mkdir /data/d")
	if code != 0 {
		t.Fatalf("write: %d %s", code, out)
	}
	ins := inspect(t, e, id)
	v, err := e.Volumes.Get("keep")
	if err != nil {
		t.Fatal(err)
	}
	want := []container.MountPoint{{Type: mount.TypeVolume, Name: "keep", Source: v.Mountpoint, Destination: "/data", Driver: "local", Mode: "z", RW: true}}
	if !slices.Equal(ins.Mounts, want) {
		t.Errorf("inspect Mounts %+v, want %+v", ins.Mounts, want)
	}
	list, err := e.ContainerList(ctx(t), ListOptions{All: true, Filters: Filters{"volume": {"keep"}}})
	if err != nil || len(list) != 1 || len(list[0].Mounts) != 1 || list[0].Mounts[0].Name != "keep" {
		t.Errorf("ps --filter volume=keep: %+v %v", list, err)
	}
	rm(t, e, id, true) // a named volume stays, even with -v
	id, code, out = output(t, e, container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "keep", Target: "/x"}}},
		"cat", "/x/f")
	if code != 0 || out != "kept\n" {
		t.Errorf("read in a new container: %d %q", code, out)
	}
	if got := inspect(t, e, id).Mounts[0]; got.Mode != "" || got.Name != "keep" {
		t.Errorf("--mount volume: %+v", got)
	}
	rm(t, e, id, false)
	if names := storeVolumes(t, e); !slices.Equal(names, []string{"keep"}) {
		t.Errorf("volumes %v", names)
	}
}

func TestBindMounts(t *testing.T) {
	e := newTestEngine(t, false)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "in"), []byte("host\n"), 0o644)
	id, code, out := output(t, e, container.Config{}, container.HostConfig{Binds: []string{host + ":/h:ro"}},
		"sh", "-c", "cat /h/in; echo x > /h/new")
	if code == 0 || !strings.Contains(out, "host\n") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("ro bind: %d %q", code, out)
	}
	want := []container.MountPoint{{Type: mount.TypeBind, Source: host, Destination: "/h", Mode: "ro", RW: false, Propagation: "rprivate"}}
	if got := inspect(t, e, id).Mounts; !slices.Equal(got, want) {
		t.Errorf("inspect %+v, want %+v", got, want)
	}
	rm(t, e, id, false)
	// -v makes a missing host directory; --mount does not.
	missing := filepath.Join(host, "made", "here")
	_, code, out = output(t, e, container.Config{}, container.HostConfig{Binds: []string{missing + ":/m"}}, "sh", "-c", "echo w > /m/f")
	if b, err := os.ReadFile(filepath.Join(missing, "f")); code != 0 || err != nil || string(b) != "w\n" {
		t.Errorf("-v on a missing dir: %d %q %v", code, out, err)
	}
	nope := filepath.Join(host, "nope")
	_, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &container.Config{Image: "busybox"},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: nope, Target: "/m"}}}}})
	if want := `invalid mount config for type "bind": bind source path does not exist: ` + nope; err == nil || err.Error() != want || KindOf(err) != KindInvalid {
		t.Errorf("--mount of a missing source: %v, want %q", err, want)
	}
	// A file bound over a file, read-write.
	file := filepath.Join(host, "in")
	_, code, out = output(t, e, container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: file, Target: "/etc/in.conf"}}},
		"sh", "-c", "cat /etc/in.conf && echo more >> /etc/in.conf")
	if b, _ := os.ReadFile(file); code != 0 || out != "host\n" || string(b) != "host\nmore\n" {
		t.Errorf("file bind: %d %q, file now %q", code, out, b)
	}
}

func TestReadOnlyRootfsWithTmpfsAndVolume(t *testing.T) {
	e := newTestEngine(t, false)
	hc := container.HostConfig{
		ReadonlyRootfs: true,
		Binds:          []string{"rw:/data"},
		Tmpfs:          map[string]string{"/scratch": "size=1m,mode=1777"},
		Mounts:         []mount.Mount{{Type: mount.TypeTmpfs, Target: "/t2", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 2 << 20, Mode: 0o700}}},
	}
	id, code, out := output(t, e, container.Config{}, hc, "sh", "-c",
		"echo a > /data/a && echo b > /scratch/b && echo c > /t2/c && stat -c %a /scratch /t2 && grep -E ' /(scratch|t2) ' /proc/mounts; echo d > /rootfile")
	if code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("write to the read-only rootfs: %d %q", code, out)
	}
	for _, w := range []string{"1777\n700\n", "tmpfs /scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k", "tmpfs /t2 tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k,mode=700"} {
		if !strings.Contains(out, w) {
			t.Errorf("output %q lacks %q", out, w)
		}
	}
	// docker's inspect lists --mount tmpfs, not --tmpfs.
	ms := inspect(t, e, id).Mounts
	if len(ms) != 2 || ms[0].Destination != "/data" || ms[1] != (container.MountPoint{Type: mount.TypeTmpfs, Destination: "/t2", RW: true}) {
		t.Errorf("inspect %+v", ms)
	}
}

func TestImageVolumePopulated(t *testing.T) {
	e := newTestEngine(t, false)
	volImage(t, e)
	id, code, out := output(t, e, container.Config{Image: "voltest"}, container.HostConfig{}, "sh", "-c",
		"cat /data/hello; stat -c '%u:%g %a %n' /data /data/sub /data/sub/secret; readlink /data/passwd; stat -c %h /data/hello; cat /vlink/image-marker")
	if code != 0 {
		t.Fatalf("run: %d %q", code, out)
	}
	want := "from the image\n1000:1001 750 /data\n1234:5678 700 /data/sub\n1234:5678 4755 /data/sub/secret\n/etc/passwd\n2\nimage\n"
	if out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	ms := inspect(t, e, id).Mounts
	if len(ms) != 2 {
		t.Fatalf("mounts %+v", ms)
	}
	var anon []string
	for _, m := range ms {
		if m.Type != mount.TypeVolume || len(m.Name) != 64 || m.Mode != "" || !m.RW || m.Driver != "local" {
			t.Errorf("anonymous volume %+v", m)
		}
		anon = append(anon, m.Name)
		// /vlink -> /etc: the image's /etc was copied, not the host's.
		if m.Destination == "/vlink" {
			if _, err := os.Stat(filepath.Join(m.Source, "image-marker")); err != nil {
				t.Errorf("the image's /etc was not copied into %s: %v", m.Source, err)
			}
			if _, err := os.Stat("/etc/os-release"); err == nil {
				if _, err := os.Stat(filepath.Join(m.Source, "os-release")); err == nil {
					t.Errorf("the host's /etc was copied into %s", m.Source)
				}
			}
		}
		if m.Destination == "/data" {
			if l, err := os.Readlink(filepath.Join(m.Source, "passwd")); err != nil || l != "/etc/passwd" {
				t.Errorf("symlink in the volume: %q %v", l, err)
			}
		}
	}
	slices.Sort(anon)
	rm(t, e, id, false)
	if got := storeVolumes(t, e); !slices.Equal(got, anon) {
		t.Errorf("after rm: volumes %v, want %v", got, anon)
	}
	// -v on a path of the image's: that volume instead; nocopy leaves it empty.
	id, code, out = output(t, e, container.Config{Image: "voltest"}, container.HostConfig{Binds: []string{"empty:/data:nocopy"}}, "ls", "-A", "/data")
	if code != 0 || out != "" {
		t.Errorf("nocopy: %d %q", code, out)
	}
	rm(t, e, id, true)
	// rm -v drops the anonymous volumes.
	id, code, _ = output(t, e, container.Config{Image: "voltest"}, container.HostConfig{}, "true")
	if code != 0 {
		t.Fatal(code)
	}
	before := storeVolumes(t, e)
	rm(t, e, id, true)
	if got := storeVolumes(t, e); len(got) != len(before)-2 {
		t.Errorf("after rm -v: %v (had %v)", got, before)
	}
	// A volume of the image in use elsewhere (--volumes-from) stays.
	a, code, _ := output(t, e, container.Config{Image: "voltest"}, container.HostConfig{}, "sh", "-c", "echo A > /data/a")
	b, code2, out := output(t, e, container.Config{}, container.HostConfig{VolumesFrom: []string{a + ":ro"}}, "sh", "-c", "cat /data/a; echo no > /data/b")
	if code != 0 || code2 == 0 || !strings.HasPrefix(out, "A\n") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("volumes-from ro: %d %d %q", code, code2, out)
	}
	before = storeVolumes(t, e)
	rm(t, e, a, true)
	if got := storeVolumes(t, e); !slices.Equal(got, before) {
		t.Errorf("rm -v removed a volume another container uses: %v, had %v", got, before)
	}
	rm(t, e, b, true)
	if got := storeVolumes(t, e); !slices.Equal(got, slices.Sorted(slices.Values(append(anon, "empty")))) {
		t.Errorf("volumes left: %v", got)
	}
}

func TestBadMountsLeaveNothing(t *testing.T) {
	e := newTestEngine(t, false)
	volImage(t, e)
	host := t.TempDir()
	before := leftovers(t, e)
	for _, tc := range []struct {
		name string
		cfg  container.Config
		hc   container.HostConfig
		msg  string
	}{
		{"relative", container.Config{}, container.HostConfig{Binds: []string{"v1:data"}},
			`invalid volume specification: 'v1:data': invalid mount config for type "volume": invalid mount path: 'data' mount path must be absolute`},
		{"root", container.Config{}, container.HostConfig{Binds: []string{host + ":/"}},
			`invalid volume specification: '` + host + `:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`},
		{"bad mode", container.Config{}, container.HostConfig{Binds: []string{host + ":/x:rx"}}, "invalid mode: rx"},
		{"duplicate", container.Config{}, container.HostConfig{Binds: []string{"v1:/x", host + ":/x/"}}, "Duplicate mount point: /x"},
		{"duplicate mount", container.Config{}, container.HostConfig{Binds: []string{"v1:/x"}, Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Target: "/x"}}}, "Duplicate mount point: /x"},
		{"unknown type", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: "disk", Target: "/x"}}}, `invalid mount config for type "disk": mount type unknown`},
		{"tmpfs source", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Source: "x", Target: "/x"}}},
			`invalid mount config for type "tmpfs": field Source must not be specified`},
		{"bad volume name", container.Config{}, container.HostConfig{Binds: []string{"v1:/a", "b@d:/x"}}, ""},
		{"bad driver", container.Config{}, container.HostConfig{Binds: []string{"v1:/a", "v2:/x"}, VolumeDriver: "flocker"}, ""},
		{"volume over a file", container.Config{Image: "voltest"}, container.HostConfig{Binds: []string{"v1:/a", "v2:/afile"}},
			"cannot mount volume over existing file, file exists /afile"},
		{"fails after the mounts", container.Config{Image: "voltest", User: "nobody-here"}, container.HostConfig{Binds: []string{"v1:/a"}}, ""},
		{"no such container", container.Config{}, container.HostConfig{VolumesFrom: []string{"ghost"}}, "No such container: ghost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Image == "" {
				cfg.Image = "busybox"
			}
			_, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &tc.hc}})
			if err == nil || tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("create: %v, want %q", err, tc.msg)
			}
			if k := KindOf(err); k != KindInvalid && k != KindNotFound {
				t.Errorf("kind %v of %v", k, err)
			}
			if after := leftovers(t, e); !slices.Equal(after, before) {
				t.Errorf("left behind: %v, had %v", after, before)
			}
			if vs := storeVolumes(t, e); len(vs) > 0 {
				t.Errorf("volumes left: %v", vs)
			}
		})
	}
}

func TestMountSymlinkEscapes(t *testing.T) {
	e := newTestEngine(t, false)
	outside := fmt.Sprintf("/tmp/berth-escape-%x", rand.Uint64())
	t.Cleanup(func() { os.RemoveAll(outside) })
	// A container plants links in a volume.
	id, code, out := output(t, e, container.Config{}, container.HostConfig{Binds: []string{"evil:/data"}}, "sh", "-c",
		"ln -s /etc /data/abs && ln -s ../../../../../../.."+outside+" /data/rel && ln -s / /data/root && mkdir /data/real && echo r > /data/real/f")
	if code != 0 {
		t.Fatalf("plant: %d %q", code, out)
	}
	rm(t, e, id, false)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "host-marker"), []byte("h\n"), 0o644)
	// Mounts through the links land inside the container.
	_, code, out = output(t, e, container.Config{}, container.HostConfig{
		Binds: []string{"evil:/data", host + ":/data/abs:ro", host + ":/data/rel:ro"},
	}, "sh", "-c", "ls /etc; ls /"+strings.TrimPrefix(outside, "/"))
	if code != 0 || !strings.Contains(out, "host-marker") {
		t.Errorf("mount through planted links: %d %q", code, out)
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Errorf("a mount through a volume's link made %s on the host", outside)
	}
	if _, err := os.Stat("/etc/host-marker"); err == nil {
		t.Errorf("the host's /etc got the bind")
	}
	// A subpath resolves inside the volume: the links lead nowhere there.
	for _, sub := range []string{"abs", "rel"} {
		resp, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"ls", "/s"}},
			HostConfig: &container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "evil", Target: "/s", VolumeOptions: &mount.VolumeOptions{Subpath: sub}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.ContainerStart(ctx(t), resp.ID); err == nil || !strings.Contains(err.Error(), "does not exist in the volume") {
			t.Errorf("subpath %s: start %v", sub, err)
		}
		rm(t, e, resp.ID, false)
	}
	// "root" -> / is the volume's own root, as RESOLVE_IN_ROOT makes it.
	_, code, out = output(t, e, container.Config{}, container.HostConfig{Mounts: []mount.Mount{
		{Type: mount.TypeVolume, Source: "evil", Target: "/s", VolumeOptions: &mount.VolumeOptions{Subpath: "root/real"}},
	}}, "cat", "/s/f")
	if code != 0 || out != "r\n" {
		t.Errorf("subpath root/real: %d %q", code, out)
	}
	_, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &container.Config{Image: "busybox"},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "evil", Target: "/s", VolumeOptions: &mount.VolumeOptions{Subpath: "../x"}}}}}})
	if err == nil || !strings.Contains(err.Error(), "subpath must be a relative path within the volume") {
		t.Errorf("subpath ../x: %v", err)
	}
	if ms := mountsUnder(t, e.opts.ExecRoot); len(ms) > 0 {
		t.Errorf("subpath mounts left: %v", ms)
	}
}

func TestMountsEROFS(t *testing.T) {
	// The plain check of :ro on a volume: EROFS.
	e := newTestEngine(t, false)
	_, code, out := output(t, e, container.Config{}, container.HostConfig{Binds: []string{"rov:/r:ro"}}, "touch", "/r/x")
	if code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("write to a :ro volume: %d %q", code, out)
	}
}

func TestDriverOptionVolumeFilledWhileMounted(t *testing.T) {
	e := newTestEngine(t, false)
	volImage(t, e)
	m := mount.Mount{Type: mount.TypeVolume, Source: "tv", Target: "/data", VolumeOptions: &mount.VolumeOptions{
		DriverConfig: &mount.Driver{Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}},
	}}
	id, code, out := output(t, e, container.Config{Image: "voltest"}, container.HostConfig{Mounts: []mount.Mount{m}},
		"sh", "-c", "cat /data/hello && stat -c '%u:%g %a' /data && grep -c ' /data tmpfs ' /proc/mounts")
	if code != 0 || out != "from the image\n1000:1001 750\n1\n" {
		t.Errorf("tmpfs volume: %d %q", code, out)
	}
	v, err := e.Volumes.Get("tv")
	if err != nil {
		t.Fatal(err)
	}
	if ms := mountsUnder(t, v.Mountpoint); len(ms) > 0 {
		t.Errorf("the volume stays mounted after the container exited: %v", ms)
	}
	rm(t, e, id, false)
}
