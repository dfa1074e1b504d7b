package main

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
)

// volumeImage pushes busybox with VOLUME /data (holding /data/hello) to a
// fresh registry and returns its reference.
func volumeImage(t *testing.T) string {
	t.Helper()
	reg := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{})
	ref := reg.Host + "/lecture/voltest:1"
	pushImage(t, reg, ref, imagetest.LayoutOptions{
		Config: &ocispec.ImageConfig{
			Env:     []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd:     []string{"sh"},
			Volumes: map[string]struct{}{"/data": {}},
		},
		ExtraLayers: []imagetest.Layer{{Entries: []imagetest.Entry{
			{Path: "data", Type: tar.TypeDir, Mode: 0o755, UID: 1000, GID: 1000},
			{Path: "data/hello", Type: tar.TypeReg, Mode: 0o640, UID: 1000, GID: 1000, Data: []byte("from the image\n")},
		}}},
	})
	return ref
}

// volumesOnDisk lists the volumes under c's data root.
func volumesOnDisk(t *testing.T, c *cli) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(c.root, "volumes"))
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestDockerCLIMounts: docker run -v / --mount / --tmpfs against berth's
// daemon, and berth's own CLI on the same daemon.
func TestDockerCLIMounts(t *testing.T) {
	gate.Command(t, "docker")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := volumeImage(t)
	d.dockerOK("pull", "-q", img)

	// A named volume: filled from the image on first use, kept by rm.
	d.dockerOK("run", "--rm", "--network", "none", "-v", "web-data:/data", img, "sh", "-c", "echo more >> /data/hello")
	if out := d.dockerOK("run", "--rm", "--network", "none", "--mount", "source=web-data,target=/srv", img, "cat", "/srv/hello"); out != "from the image\nmore\n" {
		t.Errorf("named volume across containers: %q", out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "-v", "web-data:/d:ro", img, "stat", "-c", "%u:%g %a", "/d/hello"); out != "1000:1000 640\n" {
		t.Errorf("owner and mode copied: %q", out)
	}
	if r := d.docker(nil, "run", "--rm", "--network", "none", "-v", "web-data:/d:ro", img, "touch", "/d/x"); r.code == 0 || !strings.Contains(r.stderr+r.stdout, "Read-only file system") {
		t.Errorf(":ro volume written: %+v", r)
	}

	// Binds: ro, and --read-only with a tmpfs.
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "conf"), []byte("conf\n"), 0o644)
	if r := d.docker(nil, "run", "--rm", "--network", "none", "--mount", "type=bind,src="+host+",dst=/etc/app,readonly", img, "sh", "-c", "cat /etc/app/conf; touch /etc/app/x"); r.code == 0 || r.stdout != "conf\n" || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("ro bind: %+v", r)
	}
	if out := d.dockerOK("run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/scratch:size=1m", "-v", host+":/h", img, "sh", "-c", "echo a > /scratch/a && cat /scratch/a && echo w > /h/w && (touch /nope 2>&1 || true)"); out != "a\ntouch: /nope: Read-only file system\n" {
		t.Errorf("--read-only with tmpfs and a bind: %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(host, "w")); err != nil || string(b) != "w\n" {
		t.Errorf("write through the bind: %q %v", b, err)
	}

	// The image's VOLUME: an anonymous volume, gone with rm -v, kept by rm.
	before := volumesOnDisk(t, c)
	d.dockerOK("create", "--name", "anon", "--network", "none", img, "true")
	var mounts []container.MountPoint
	if err := json.Unmarshal([]byte(d.dockerOK("inspect", "-f", "{{json .Mounts}}", "anon")), &mounts); err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0].Type != "volume" || len(mounts[0].Name) != 64 || mounts[0].Destination != "/data" || !mounts[0].RW {
		t.Fatalf("inspect Mounts %+v", mounts)
	}
	anon := mounts[0].Name
	if b, err := os.ReadFile(filepath.Join(mounts[0].Source, "hello")); err != nil || string(b) != "from the image\n" {
		t.Errorf("anonymous volume not filled: %q %v", b, err)
	}
	if out := d.dockerOK("ps", "-a", "--filter", "volume="+anon, "--format", "{{.Names}} {{.Mounts}}"); !strings.HasPrefix(out, "anon "+anon[:12]) || strings.Count(out, "\n") != 1 {
		t.Errorf("ps volume filter: %q", out)
	}
	d.dockerOK("rm", "anon")
	if got := volumesOnDisk(t, c); !slices.Contains(got, anon) {
		t.Errorf("rm removed the anonymous volume: %v", got)
	}
	d.dockerOK("create", "--name", "anon2", "--network", "none", img, "true")
	d.dockerOK("rm", "-v", "anon2")
	if got := volumesOnDisk(t, c); len(got) != len(before)+1 {
		t.Errorf("rm -v left a volume: %v, had %v", got, before)
	}
	d.dockerOK("run", "--rm", "--network", "none", img, "true")
	if got := volumesOnDisk(t, c); len(got) != len(before)+1 {
		t.Errorf("run --rm left a volume: %v, had %v", got, before)
	}

	// Bad specs: docker's errors, nothing left.
	ctrs := d.dockerOK("ps", "-aq")
	vols := volumesOnDisk(t, c)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mount", "type=bind,src=/no/such/dir,dst=/x"}, `invalid mount config for type "bind": bind source path does not exist: /no/such/dir`},
		{[]string{"-v", "fresh:/x", "-v", host + ":/x"}, "Duplicate mount point: /x"},
		{[]string{"-v", "fresh:/x", "--mount", "type=tmpfs,dst=/y,tmpfs-size=1m", "--tmpfs", "/y"}, "Duplicate mount point: /y"},
		{[]string{"-v", "fresh:/x", "-v", "fresh2:/bin/busybox"}, "cannot mount volume over existing file, file exists /bin/busybox"},
		{[]string{"-v", "bad name:/x"}, `"bad name" includes invalid characters for a local volume name`},
	} {
		r := d.docker(nil, append(append([]string{"run", "--network", "none"}, tc.args...), img, "true")...)
		if r.code != 125 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("docker run %q: exit %d, stderr %q; want 125 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	c.fails("bind source path does not exist: /no/such/dir", "run", "--network", "none", "--mount", "type=bind,src=/no/such/dir,dst=/x", img, "true")
	if got := d.dockerOK("ps", "-aq"); got != ctrs {
		t.Errorf("containers left: %q, had %q", got, ctrs)
	}
	if got := volumesOnDisk(t, c); !slices.Equal(got, vols) {
		t.Errorf("volumes left: %v, had %v", got, vols)
	}
}
