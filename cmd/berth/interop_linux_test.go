package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
	"github.com/berth-project/berth/layer"
	"github.com/berth-project/berth/snapshot"
)

// The interop tests pass images between berth and the tools people use
// beside it (skopeo, podman, umoci, docker 20.10) in both directions, and
// check what arrives byte for byte where the formats promise that: image
// IDs (config digests), manifest digests, layer digests and diff IDs, and
// what a container made from the image sees.

// interopScript is what the interop image runs to show its layers were
// applied in order, whiteouts and the opaque directory included; it prints
// interopWant.
const (
	interopScript = "cat /etc/motd; ls /old; test -e /gone || echo gone is gone"
	interopWant   = "hello from interop\nc\ngone is gone\n"
)

// interopName is what the interop image is called in berth.
const interopName = "interop/busybox:1"

// interopLayout writes the interop image as an OCI layout: the busybox
// layer (gzip), a layer of the given compression with files, an
// uncompressed one with a whiteout and an opaque directory, and then
// extra. It returns the layout's directory.
func interopLayout(t *testing.T, compression string, extra ...imagetest.Layer) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	imagetest.BusyboxLayout(t, dir, imagetest.LayoutOptions{
		RefName: interopName,
		ExtraLayers: append([]imagetest.Layer{
			{Compression: compression, Entries: []imagetest.Entry{
				imagetest.File("etc/motd", "hello from interop\n"),
				imagetest.File("old/a", "a"), imagetest.File("old/b", "b"),
				imagetest.File("gone", "x"),
			}},
			{Compression: "none", Entries: []imagetest.Entry{
				imagetest.Whiteout("gone"), imagetest.Opaque("old"), imagetest.File("old/c", "c"),
			}},
		}, extra...),
	})
	return dir
}

// interopEmptyLayers are two layers with no entries, as two RUN steps that
// change nothing leave in a docker-built image: one diff ID twice.
var interopEmptyLayers = []imagetest.Layer{{Compression: "gzip"}, {Compression: "gzip"}}

// interopImage is one image of an OCI layout, read by the test itself.
type interopImage struct {
	dir       string
	desc      ocispec.Descriptor // the manifest, as index.json lists it
	manifest  ocispec.Manifest
	configRaw []byte
	config    ocispec.Image
}

// id is the image ID: its config's digest.
func (l interopImage) id() digest.Digest { return l.manifest.Config.Digest }

func (l interopImage) layerDigests() []string {
	var out []string
	for _, d := range l.manifest.Layers {
		out = append(out, d.Digest.String())
	}
	return out
}

func (l interopImage) diffIDs() []string {
	var out []string
	for _, d := range l.config.RootFS.DiffIDs {
		out = append(out, d.String())
	}
	return out
}

func (l interopImage) blob(t *testing.T, d digest.Digest) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.dir, "blobs", d.Algorithm().String(), d.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Algorithm().FromBytes(b); got != d {
		t.Fatalf("layout %s: blob %s holds %s", l.dir, d, got)
	}
	return b
}

// readInteropImage reads the image index.json lists under the tag ref (or
// the only one, when ref is empty) from the layout dir, verifying every
// blob it reads.
func readInteropImage(t *testing.T, dir, ref string) interopImage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("%s/index.json: %v", dir, err)
	}
	l := interopImage{dir: dir}
	var found []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if ref == "" || d.Annotations[ocispec.AnnotationRefName] == ref {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s/index.json has %d manifests named %q: %s", dir, len(found), ref, b)
	}
	l.desc = found[0]
	if err := json.Unmarshal(l.blob(t, l.desc.Digest), &l.manifest); err != nil {
		t.Fatal(err)
	}
	l.configRaw = l.blob(t, l.manifest.Config.Digest)
	if err := json.Unmarshal(l.configRaw, &l.config); err != nil {
		t.Fatal(err)
	}
	return l
}

// checkLayers decompresses every layer of the image and checks it
// against the config's diff ID: the layout holds the image's content,
// whatever compression the tool that wrote it chose.
func (l interopImage) checkLayers(t *testing.T) {
	t.Helper()
	if len(l.manifest.Layers) != len(l.config.RootFS.DiffIDs) {
		t.Fatalf("%s: %d layers, %d diff IDs", l.dir, len(l.manifest.Layers), len(l.config.RootFS.DiffIDs))
	}
	for i, d := range l.manifest.Layers {
		rc, _, err := layer.Decompress(bytes.NewReader(l.blob(t, d.Digest)))
		if err != nil {
			t.Fatalf("%s: layer %s: %v", l.dir, d.Digest, err)
		}
		h := digest.Canonical.Digester()
		if _, err := io.Copy(h.Hash(), rc); err != nil {
			t.Fatalf("%s: layer %s: %v", l.dir, d.Digest, err)
		}
		rc.Close()
		if h.Digest() != l.config.RootFS.DiffIDs[i] {
			t.Errorf("%s: layer %d (%s) uncompresses to %s, its diff ID is %s", l.dir, i, d.Digest, h.Digest(), l.config.RootFS.DiffIDs[i])
		}
	}
}

// interopInspect is `berth image inspect NAME`.
func (c *cli) interopInspect(name string) engine.ImageInspect {
	c.t.Helper()
	var out []engine.ImageInspect
	if err := json.Unmarshal([]byte(c.ok("image", "inspect", name)), &out); err != nil || len(out) != 1 {
		c.t.Fatalf("image inspect %s: %v, %d images", name, err, len(out))
	}
	return out[0]
}

// loadInterop loads the layout into berth and checks that berth sees the
// image the layout holds.
func (c *cli) loadInterop(lay interopImage) {
	c.t.Helper()
	if out := c.ok("load", "-i", lay.dir); out != "Loaded image: "+interopName+"\n" {
		c.t.Fatalf("load said %q", out)
	}
	ins := c.interopInspect(interopName)
	if ins.ID != lay.id().String() || ins.Descriptor.Digest != lay.desc.Digest {
		c.t.Fatalf("berth has image %s (manifest %s), the layout %s (manifest %s)", ins.ID, ins.Descriptor.Digest, lay.id(), lay.desc.Digest)
	}
}

// interopRunOK runs an outside program and fails the test unless it
// exits 0 within five minutes; it returns stdout.
func interopRunOK(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, errOut, err := interopRunCmd(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func interopRunCmd(env []string, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// interopSkopeo runs skopeo without a signature policy (the images are
// local).
func interopSkopeo(t *testing.T, args ...string) string {
	t.Helper()
	gate.Command(t, "skopeo")
	return interopRunOK(t, nil, "skopeo", append([]string{"--insecure-policy"}, args...)...)
}

// interopSkopeoInfo is what `skopeo inspect` says of an image.
type interopSkopeoInfo struct {
	Digest string
	Layers []string
}

func interopSkopeoInspect(t *testing.T, ref string) (interopSkopeoInfo, digest.Digest) {
	t.Helper()
	var si interopSkopeoInfo
	if err := json.Unmarshal([]byte(interopSkopeo(t, "inspect", ref)), &si); err != nil {
		t.Fatalf("skopeo inspect %s: %v", ref, err)
	}
	config := digest.FromString(interopSkopeo(t, "inspect", "--config", "--raw", ref))
	return si, config
}

func interopSameStrings(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// TestInteropSaveSkopeo saves an image of gzip, zstd and plain layers
// with berth and reads the archive with skopeo both ways it can be read:
// as a docker-archive (layers by diff ID, since docker-archive layers are
// named by their content) and as an oci-archive (the layers as stored,
// with berth's manifest digest). skopeo then copies it into an OCI layout
// of its own, whose layers must uncompress to the image's diff IDs and
// which berth loads and runs in a fresh data root.
func TestInteropSaveSkopeo(t *testing.T) {
	c := newCLI(t)
	lay := readInteropImage(t, interopLayout(t, "zstd"), "")
	c.loadInterop(lay)
	tarPath := filepath.Join(t.TempDir(), "saved.tar")
	c.ok("save", "-o", tarPath, interopName)

	t.Run("docker-archive", func(t *testing.T) {
		si, config := interopSkopeoInspect(t, "docker-archive:"+tarPath)
		if config != lay.id() {
			t.Errorf("skopeo reads config %s, the image's is %s", config, lay.id())
		}
		if !interopSameStrings(si.Layers, lay.diffIDs()) {
			t.Errorf("skopeo lists layers\n%v\nwant the diff IDs\n%v", si.Layers, lay.diffIDs())
		}
	})
	t.Run("oci-archive", func(t *testing.T) {
		si, config := interopSkopeoInspect(t, "oci-archive:"+tarPath)
		if config != lay.id() {
			t.Errorf("skopeo reads config %s, the image's is %s", config, lay.id())
		}
		if si.Digest != lay.desc.Digest.String() {
			t.Errorf("skopeo reads manifest %s, berth's is %s", si.Digest, lay.desc.Digest)
		}
		if !interopSameStrings(si.Layers, lay.layerDigests()) {
			t.Errorf("skopeo lists layers\n%v\nwant the stored ones\n%v", si.Layers, lay.layerDigests())
		}
		// By the tag, as skopeo names images of an OCI layout.
		if si, _ := interopSkopeoInspect(t, "oci-archive:"+tarPath+":1"); si.Digest != lay.desc.Digest.String() {
			t.Errorf("oci-archive:...:1 is manifest %s, want %s", si.Digest, lay.desc.Digest)
		}
	})
	t.Run("copy", func(t *testing.T) {
		for _, src := range []string{"docker-archive:" + tarPath, "oci-archive:" + tarPath} {
			dir := filepath.Join(t.TempDir(), "copied")
			interopSkopeo(t, "copy", src, "oci:"+dir+":copied")
			got := readInteropImage(t, dir, "copied")
			if got.id() != lay.id() {
				t.Errorf("%s: skopeo copied config %s, want %s", src, got.id(), lay.id())
			}
			got.checkLayers(t)
			if !interopSameStrings(got.diffIDs(), lay.diffIDs()) {
				t.Errorf("%s: copy has diff IDs %v, want %v", src, got.diffIDs(), lay.diffIDs())
			}
			c2 := newCLI(t)
			if out := c2.ok("load", "-i", dir); out != "Loaded image: copied:latest\n" {
				t.Fatalf("%s: load of skopeo's copy said %q", src, out)
			}
			if out := c2.ok("run", "--rm", "copied", "sh", "-c", interopScript); out != interopWant {
				t.Errorf("%s: run of skopeo's copy said %q, want %q", src, out, interopWant)
			}
		}
	})
}

// interopPodman runs podman with storage of its own (vfs, which needs no
// kernel support and leaves no mounts behind) and no network.
type interopPodman struct {
	t    *testing.T
	args []string
}

func newInteropPodman(t *testing.T) *interopPodman {
	t.Helper()
	gate.Root(t)
	gate.Command(t, "podman")
	gate.Command(t, "runc")
	dir := t.TempDir()
	p := &interopPodman{t: t, args: []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "none",
		// crun refuses hybrid cgroup hierarchies; runc takes them.
		"--runtime", "runc",
	}}
	t.Cleanup(func() { interopRunCmd(nil, "podman", append(p.args, "rm", "-af")...) })
	return p
}

func (p *interopPodman) run(args ...string) (string, string, error) {
	return interopRunCmd([]string{"TMPDIR=" + p.t.TempDir()}, "podman", append(p.args, args...)...)
}

func (p *interopPodman) ok(args ...string) string {
	p.t.Helper()
	out, errOut, err := p.run(args...)
	if err != nil {
		p.t.Fatalf("podman %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// TestInteropSavePodman loads berth's archive with podman: the image
// must arrive under its name with the same ID, and run there. Then berth
// loads what podman saves, in each format podman writes that berth
// reads, and a multi-image archive of two images sharing layers: same IDs
// and diff IDs, and the images run.
func TestInteropSavePodman(t *testing.T) {
	c := newCLI(t)
	lay := readInteropImage(t, interopLayout(t, "zstd"), "")
	c.loadInterop(lay)
	tarPath := filepath.Join(t.TempDir(), "saved.tar")
	c.ok("save", "-o", tarPath, interopName)

	p := newInteropPodman(t)
	if out := p.ok("load", "-i", tarPath); !strings.Contains(out, "Loaded image: docker.io/"+interopName) {
		t.Fatalf("podman load said %q", out)
	}
	images := p.ok("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
	if want := lay.id().String() + " docker.io/" + interopName + "\n"; images != want {
		t.Fatalf("podman images:\n%s\nwant\n%s", images, want)
	}
	// podman's default limits are above what root may set without
	// CAP_SYS_RESOURCE, which test sandboxes often drop.
	out, errOut, err := p.run("run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		interopName, "sh", "-c", interopScript)
	if err != nil {
		t.Fatalf("podman run: %v\n%s%s", err, out, errOut)
	}
	if out != interopWant {
		t.Fatalf("podman run said %q, want %q", out, interopWant)
	}

	// podman writes no zstd layer into a Docker image: the way back
	// starts from the gzip image, under two names.
	gz := readInteropImage(t, interopLayout(t, "gzip"), "")
	c.loadInterop(gz)
	gzPath := filepath.Join(t.TempDir(), "gzip.tar")
	c.ok("save", "-o", gzPath, interopName)
	p.ok("load", "-i", gzPath)
	p.ok("tag", interopName, "docker.io/interop/busybox:2") // podman would say localhost/
	for _, tc := range []struct {
		name, format string
		args         []string
		loaded       []string // what berth says it loaded
	}{
		{"docker-archive", "docker-archive", []string{interopName}, []string{interopName}},
		{"oci-archive", "oci-archive", []string{interopName}, []string{interopName}},
		{"oci-dir", "oci-dir", []string{interopName}, []string{interopName}},
		{"multi-image", "docker-archive", []string{"-m", interopName, "interop/busybox:2"}, []string{interopName, "interop/busybox:2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &interopPodman{t: t, args: p.args}
			out := filepath.Join(t.TempDir(), "saved")
			p.ok(append([]string{"save", "--format", tc.format, "-o", out}, tc.args...)...)
			c := newCLI(t)
			loaded := strings.Split(strings.TrimSpace(c.ok("load", "-i", out)), "\n")
			var want []string
			for _, n := range tc.loaded {
				want = append(want, "Loaded image: "+n)
			}
			if !interopSameStrings(loaded, want) {
				t.Fatalf("load of podman's %s said %q, want %q", tc.format, loaded, want)
			}
			for _, n := range tc.loaded {
				ins := c.interopInspect(n)
				if ins.ID != gz.id().String() || !interopSameStrings(ins.RootFS.Layers, gz.diffIDs()) {
					t.Errorf("%s: berth loaded %s with layers %v, want %s with %v", n, ins.ID, ins.RootFS.Layers, gz.id(), gz.diffIDs())
				}
				if out := c.ok("run", "--rm", n, "sh", "-c", interopScript); out != interopWant {
					t.Errorf("run of podman's %s said %q, want %q", n, out, interopWant)
				}
			}
		})
	}
}

// interopDockerd is a private docker daemon: its own data root, exec root and
// socket, no bridge and no iptables rules, vfs storage.
type interopDockerd struct {
	t   *testing.T
	env []string
}

// startInteropDockerd starts dockerd (with the containerd it manages)
// and stops it when the test ends. It skips the test when docker is not
// installed or the daemon does not come up.
func startInteropDockerd(t *testing.T) *interopDockerd {
	t.Helper()
	gate.Root(t)
	for _, name := range []string{"dockerd", "docker", "containerd", "runc"} {
		gate.Command(t, name)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "docker.sock")
	// Nothing of the host's: no /etc/docker/daemon.json, and the trust
	// key (only a config-file setting in 20.10) not in /etc/docker either.
	conf := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(conf, []byte(interopMustJSON(t, map[string]string{"deprecated-key-path": filepath.Join(dir, "key.json")})), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("dockerd",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "--host", "unix://"+sock,
		"--config-file", conf,
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--storage-driver=vfs")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Skipf("start dockerd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	d := &interopDockerd{t: t, env: []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(dir, "client")}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, err := interopRunCmd(d.env, "docker", "version")
		if err == nil {
			return d
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logf.Name())
			t.Skipf("dockerd exited: %s", interopLastBytes(string(log), 2000))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Skipf("dockerd did not answer within 30s: %v\n%s", err, interopLastBytes(string(log), 2000))
		}
	}
}

func interopLastBytes(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (d *interopDockerd) ok(args ...string) string {
	d.t.Helper()
	return interopRunOK(d.t, d.env, "docker", args...)
}

// interopReadTarHeaders reads the headers of a tar file by name.
func interopReadTarHeaders(t *testing.T, p string) map[string]*tar.Header {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdrs := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return hdrs
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		hdrs[hdr.Name] = hdr
	}
}

// TestInteropDocker passes an image to docker 20.10 and back: docker
// loads berth's archive (compressed layers under blobs/ and an OCI
// layout beside manifest.json, which docker 20.10 predates) under the
// same ID and runs it; berth loads what `docker save` writes (the legacy
// format: <id>/layer.tar, <hex>.json, repositories) under the same ID and
// runs it.
func TestInteropDocker(t *testing.T) {
	c := newCLI(t)
	// gzip, not zstd: docker 20.10 takes a zstd layer for a plain tar
	// ("ApplyLayer ... unexpected EOF"); newer docker reads zstd.
	// The empty layers make docker write one layer.tar as a symlink.
	lay := readInteropImage(t, interopLayout(t, "gzip", interopEmptyLayers...), "")
	c.loadInterop(lay)
	d := startInteropDockerd(t)
	dir := t.TempDir()
	saved := filepath.Join(dir, "berth.tar")
	c.ok("save", "-o", saved, interopName)

	if out := d.ok("load", "-i", saved); !strings.Contains(out, "Loaded image: "+interopName) {
		t.Fatalf("docker load said %q", out)
	}
	if id := strings.TrimSpace(d.ok("image", "inspect", "--format", "{{.Id}}", interopName)); id != lay.id().String() {
		t.Errorf("docker has image %s, berth saved %s", id, lay.id())
	}
	if layers := strings.TrimSpace(d.ok("image", "inspect", "--format", "{{json .RootFS.Layers}}", interopName)); layers != interopMustJSON(t, lay.diffIDs()) {
		t.Errorf("docker has layers %s, want %s", layers, interopMustJSON(t, lay.diffIDs()))
	}
	if out := d.ok("run", "--rm", "--network", "none", interopName, "sh", "-c", interopScript); out != interopWant {
		t.Errorf("docker run said %q, want %q", out, interopWant)
	}

	const fromDocker = "interop/fromdocker:20.10"
	d.ok("tag", interopName, fromDocker)
	dsaved := filepath.Join(dir, "docker.tar")
	d.ok("save", "-o", dsaved, fromDocker, interopName)
	hdrs := interopReadTarHeaders(t, dsaved)
	if hdrs[lay.id().Encoded()+".json"] == nil || hdrs["repositories"] == nil || hdrs["index.json"] != nil {
		t.Fatalf("docker save wrote no legacy archive: %v", hdrs)
	}
	links := 0
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeSymlink && strings.HasSuffix(h.Name, "/layer.tar") {
			links++
		}
	}
	if links != 1 {
		t.Errorf("docker save wrote %d symlinked layers, want 1 for the empty layer twice", links)
	}
	c2 := newCLI(t)
	loaded := strings.Split(strings.TrimSpace(c2.ok("load", "-i", dsaved)), "\n")
	sort.Strings(loaded)
	if want := []string{"Loaded image: " + interopName, "Loaded image: " + fromDocker}; !interopSameStrings(loaded, want) {
		t.Fatalf("load of docker's archive (one image, two names) said %q, want %q", loaded, want)
	}
	if ins := c2.interopInspect(fromDocker); ins.ID != lay.id().String() || !interopSameStrings(ins.RootFS.Layers, lay.diffIDs()) {
		t.Errorf("berth loaded %s with layers %v from docker, want %s with %v", ins.ID, ins.RootFS.Layers, lay.id(), lay.diffIDs())
	}
	if out := c2.ok("run", "--rm", fromDocker, "sh", "-c", interopScript); out != interopWant {
		t.Errorf("run of docker's image said %q, want %q", out, interopWant)
	}
}

func interopMustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInteropLoadSkopeo loads what skopeo writes from an OCI layout of
// gzip, zstd and plain layers: a docker-archive (uncompressed layers by
// diff ID), an oci-archive and an OCI layout directory. Each must arrive
// under its name with the layout's config, and run.
func TestInteropLoadSkopeo(t *testing.T) {
	for _, tc := range []struct {
		name string
		// compression of the middle layer: skopeo writes no zstd layer
		// into a Docker image.
		compression string
		dest        func(dir string) (ref, input string) // skopeo's destination, berth's -i
		// loaded is the name berth gives the image; "" for none.
		loaded string
		// sameManifest: the format keeps the manifest (and so the
		// compressed layers) byte for byte; a docker-archive has no
		// manifest, skopeo writes a Docker one and its layers uncompressed.
		sameManifest bool
	}{
		{"docker-archive", "gzip", func(dir string) (string, string) {
			p := filepath.Join(dir, "image.tar")
			return "docker-archive:" + p + ":interop/fromskopeo:docker", p
		}, "interop/fromskopeo:docker", false},
		{"oci-archive", "zstd", func(dir string) (string, string) {
			p := filepath.Join(dir, "image.tar")
			return "oci-archive:" + p + ":fromskopeo-oci", p
		}, "fromskopeo-oci:latest", true},
		{"oci-dir", "zstd", func(dir string) (string, string) {
			p := filepath.Join(dir, "layout")
			return "oci:" + p + ":fromskopeo-dir", p
		}, "fromskopeo-dir:latest", true},
		{"oci-archive-unnamed", "zstd", func(dir string) (string, string) {
			p := filepath.Join(dir, "image.tar")
			return "oci-archive:" + p, p
		}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			lay := readInteropImage(t, interopLayout(t, tc.compression), "")
			src := "oci:" + lay.dir + ":" + interopName
			dest, input := tc.dest(t.TempDir())
			args := []string{"copy", src, dest}
			if tc.sameManifest {
				args = []string{"copy", "--preserve-digests", src, dest}
			}
			interopSkopeo(t, args...)
			want, name := "Loaded image: "+tc.loaded+"\n", tc.loaded
			if tc.loaded == "" {
				want, name = "Loaded image ID: "+lay.id().String()+"\n", lay.id().Encoded()[:12]
			}
			if out := c.ok("load", "-i", input); out != want {
				t.Fatalf("load said %q, want %q", out, want)
			}
			if tc.loaded == "" {
				interopCheckUnnamed(t, c, name)
			}
			ins := c.interopInspect(name)
			if ins.ID != lay.id().String() || !interopSameStrings(ins.RootFS.Layers, lay.diffIDs()) {
				t.Errorf("berth loaded %s with layers %v, the layout has %s with %v", ins.ID, ins.RootFS.Layers, lay.id(), lay.diffIDs())
			}
			if tc.sameManifest && ins.Descriptor.Digest != lay.desc.Digest {
				t.Errorf("berth loaded manifest %s, the layout has %s", ins.Descriptor.Digest, lay.desc.Digest)
			}
			if out := c.ok("run", "--rm", name, "sh", "-c", interopScript); out != interopWant {
				t.Errorf("run said %q, want %q", out, interopWant)
			}
		})
	}
}

// interopLegacyArchive writes the image as docker 20.10's `docker save`
// does: each layer uncompressed as <v1 id>/layer.tar beside <v1
// id>/json and VERSION (a diff written before as a symlink to the first
// one), the config as <hex>.json, manifest.json and a repositories file
// naming the top layer.
func interopLegacyArchive(t *testing.T, lay interopImage, repo, tag string) []byte {
	t.Helper()
	files := map[string][]byte{}
	links := map[string]string{}
	written := map[digest.Digest]string{} // diff ID -> its v1 ID
	var layerPaths []string
	parent := ""
	for i, d := range lay.manifest.Layers {
		diffID := lay.config.RootFS.DiffIDs[i]
		// docker's v1 IDs chain the diff IDs; berth must not care.
		id := digest.FromString(parent + " " + diffID.String()).Encoded()
		v1 := map[string]any{"id": id, "created": "2024-01-01T00:00:00Z", "container_config": map[string]any{}}
		if parent != "" {
			v1["parent"] = parent
		}
		files[id+"/VERSION"] = []byte("1.0")
		files[id+"/json"] = []byte(interopMustJSON(t, v1))
		layerPaths = append(layerPaths, id+"/layer.tar")
		parent = id
		if first, ok := written[diffID]; ok {
			// A diff docker already wrote becomes a link to it.
			links[id+"/layer.tar"] = "../" + first + "/layer.tar"
			continue
		}
		written[diffID] = id
		rc, _, err := layer.Decompress(bytes.NewReader(lay.blob(t, d.Digest)))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[id+"/layer.tar"] = raw
	}
	config := lay.id().Encoded() + ".json"
	files[config] = lay.configRaw
	files["manifest.json"] = []byte(interopMustJSON(t, []map[string]any{{
		"Config": config, "RepoTags": []string{repo + ":" + tag}, "Layers": layerPaths,
	}}))
	files["repositories"] = []byte(interopMustJSON(t, map[string]map[string]string{repo: {tag: parent}}))

	var names []string
	for n := range files {
		names = append(names, n)
	}
	for n := range links {
		names = append(names, n)
	}
	sort.Strings(names) // docker tars up a directory it wrote: sorted, directories first
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, n := range names {
		if d, _, ok := strings.Cut(n, "/"); ok && !dirs[d] {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: imagetest.Epoch}); err != nil {
				t.Fatal(err)
			}
		}
		if target, ok := links[n]; ok {
			if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777, ModTime: imagetest.Epoch}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[n])), ModTime: imagetest.Epoch}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestInteropLoadLegacyDockerArchive loads an archive in docker 20.10's
// format, built by hand (TestInteropDocker has a real docker write one
// when dockerd can run): from a file and from stdin. The image has one
// empty diff twice, so the archive has a symlinked layer.tar. The image
// must keep its ID (the config is stored as it came) and run.
func TestInteropLoadLegacyDockerArchive(t *testing.T) {
	lay := readInteropImage(t, interopLayout(t, "zstd", interopEmptyLayers...), "")
	archive := interopLegacyArchive(t, lay, "interop/legacy", "20.10")
	p := filepath.Join(t.TempDir(), "legacy.tar")
	if err := os.WriteFile(p, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, stdin := range []bool{false, true} {
		c := newCLI(t)
		var r result
		if stdin {
			r = c.run(archive, "load")
		} else {
			r = c.run(nil, "load", "-i", p)
		}
		if r.code != 0 || r.stdout != "Loaded image: interop/legacy:20.10\n" {
			t.Fatalf("load (stdin %v): exit %d\nstdout: %s\nstderr: %s", stdin, r.code, r.stdout, r.stderr)
		}
		ins := c.interopInspect("interop/legacy:20.10")
		if ins.ID != lay.id().String() || !interopSameStrings(ins.RootFS.Layers, lay.diffIDs()) {
			t.Errorf("berth loaded %s with layers %v, want %s with %v", ins.ID, ins.RootFS.Layers, lay.id(), lay.diffIDs())
		}
		if out := c.ok("run", "--rm", "interop/legacy:20.10", "sh", "-c", interopScript); out != interopWant {
			t.Errorf("run said %q, want %q", out, interopWant)
		}
	}
}

// TestInteropSaveOCIDir saves images one by one into one OCI layout
// directory (a zstd image under two tags, a gzip image sharing most of
// its layers) and reads it with skopeo and umoci: each tag names berth's
// manifest, every blob verifies, and umoci's unpacked bundle has the
// image's files with the layers applied in order.
func TestInteropSaveOCIDir(t *testing.T) {
	c := newCLI(t)
	// umoci 0.4 reads no zstd layers: it gets the gzip image.
	gz := readInteropImage(t, interopLayout(t, "gzip"), "")
	c.loadInterop(gz)
	c.ok("tag", interopName, "interop/busybox:gzip")
	lay := readInteropImage(t, interopLayout(t, "zstd"), "")
	c.loadInterop(lay)
	c.ok("tag", interopName, "interop/busybox:2")
	dir := filepath.Join(t.TempDir(), "oci")
	c.ok("save", "--format", "oci-dir", "-o", dir, interopName)
	c.ok("save", "--format", "oci-dir", "-o", dir, "interop/busybox:2")
	c.ok("save", "--format", "oci-dir", "-o", dir, "interop/busybox:gzip")
	c.ok("save", "--format", "oci-dir", "-o", dir, interopName) // the tag is replaced, not listed twice
	var idx ocispec.Index
	if err := json.Unmarshal(interopMustRead(t, filepath.Join(dir, "index.json")), &idx); err != nil || len(idx.Manifests) != 3 {
		t.Fatalf("index.json lists %d manifests (%v), want 3", len(idx.Manifests), err)
	}
	for _, tag := range []string{"1", "2", "gzip"} {
		lay := lay
		if tag == "gzip" {
			lay = gz
		}
		got := readInteropImage(t, dir, tag)
		if got.desc.Digest != lay.desc.Digest || got.id() != lay.id() {
			t.Errorf("tag %s: layout has manifest %s (config %s), want %s (%s)", tag, got.desc.Digest, got.id(), lay.desc.Digest, lay.id())
		}
		if want := "docker.io/interop/busybox:" + tag; got.desc.Annotations[image.AnnotationImageName] != want {
			t.Errorf("tag %s: annotations %v, want the full name %s", tag, got.desc.Annotations, want)
		}
		got.checkLayers(t)
		si, config := interopSkopeoInspect(t, "oci:"+dir+":"+tag)
		if si.Digest != lay.desc.Digest.String() || config != lay.id() || !interopSameStrings(si.Layers, lay.layerDigests()) {
			t.Errorf("skopeo inspect oci:DIR:%s: manifest %s, config %s, layers %v; want %s, %s, %v",
				tag, si.Digest, config, si.Layers, lay.desc.Digest, lay.id(), lay.layerDigests())
		}
	}

	t.Run("umoci", func(t *testing.T) {
		gate.Command(t, "umoci")
		bundle := filepath.Join(t.TempDir(), "bundle")
		interopRunOK(t, nil, "umoci", "unpack", "--image", dir+":gzip", bundle)
		rootfs := filepath.Join(bundle, "rootfs")
		if b, err := os.ReadFile(filepath.Join(rootfs, "etc/motd")); err != nil || string(b) != "hello from interop\n" {
			t.Errorf("etc/motd: %q, %v", b, err)
		}
		if ents, err := os.ReadDir(filepath.Join(rootfs, "old")); err != nil || len(ents) != 1 || ents[0].Name() != "c" {
			t.Errorf("old/ after the opaque layer: %v, %v; want only c", ents, err)
		}
		if _, err := os.Lstat(filepath.Join(rootfs, "gone")); !os.IsNotExist(err) {
			t.Errorf("gone is still there after its whiteout: %v", err)
		}
		if !interopSameBytes(t, filepath.Join(rootfs, "bin/busybox"), imagetest.BusyboxPath) {
			t.Errorf("bin/busybox differs from %s", imagetest.BusyboxPath)
		}
		var spec struct {
			Process struct{ Args, Env []string }
		}
		if err := json.Unmarshal(interopMustRead(t, filepath.Join(bundle, "config.json")), &spec); err != nil {
			t.Fatal(err)
		}
		if !interopSameStrings(spec.Process.Args, []string{"sh"}) {
			t.Errorf("umoci's config.json runs %v, the image says sh", spec.Process.Args)
		}
	})
}

func interopMustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func interopSameBytes(t *testing.T, a, b string) bool {
	t.Helper()
	return bytes.Equal(interopMustRead(t, a), interopMustRead(t, b))
}

// interopRootfs is a busybox root filesystem as a tar with "./" names, as
// `tar -C root -c .` writes it.
func interopRootfs(t *testing.T) []byte {
	t.Helper()
	gate.Path(t, imagetest.BusyboxPath, "the rootfs to import")
	bb := interopMustRead(t, imagetest.BusyboxPath)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(h *tar.Header, data []byte) {
		h.ModTime, h.Size = imagetest.Epoch, int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"./", "./bin/", "./etc/", "./proc/", "./sys/", "./dev/"} {
		put(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	put(&tar.Header{Name: "./tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil)
	put(&tar.Header{Name: "./bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range []string{"sh", "cat", "echo", "ls", "test"} {
		put(&tar.Header{Name: "./bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	put(&tar.Header{Name: "./etc/marker", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("imported\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestInteropImport imports a busybox root filesystem tar from a file
// and, gzip-compressed, from stdin, and without a name: each image's one
// layer must be the tar itself (its diff ID the tar's digest), and each
// must run with docker's default PATH, as the image sets none.
func TestInteropImport(t *testing.T) {
	c := newCLI(t)
	rootfs := interopRootfs(t)
	diffID := digest.FromBytes(rootfs).String()
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(p, rootfs, 0o644); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rootfs)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	const script = "cat /etc/marker; echo $PATH"
	want := "imported\n" + image.DefaultPath + "\n"
	for _, tc := range []struct {
		name, ref string
		stdin     []byte
		args      []string
	}{
		{"file", "interop/imported:plain", nil, []string{"import", "-m", "from a file", p, "interop/imported:plain"}},
		{"stdin-gzip", "interop/imported:gzip", gz.Bytes(), []string{"import", "-", "interop/imported:gzip"}},
		{"unnamed", "", nil, []string{"image", "import", p}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.run(tc.stdin, tc.args...)
			if r.code != 0 {
				t.Fatalf("berth %s: exit %d\n%s", strings.Join(tc.args, " "), r.code, r.stderr)
			}
			id := strings.TrimSpace(r.stdout)
			if digest.Digest(id).Validate() != nil {
				t.Fatalf("import printed %q, want the image ID", r.stdout)
			}
			name := tc.ref
			if name == "" {
				name = strings.TrimPrefix(id, "sha256:")[:12]
			}
			ins := c.interopInspect(name)
			if ins.ID != id || !interopSameStrings(ins.RootFS.Layers, []string{diffID}) {
				t.Errorf("%s is %s with layers %v; import said %s, the tar is %s", name, ins.ID, ins.RootFS.Layers, id, diffID)
			}
			if tc.ref == "" {
				interopCheckUnnamed(t, c, name)
			}
			if tc.name == "file" && ins.Comment != "from a file" {
				t.Errorf("comment %q, want the -m message", ins.Comment)
			}
			if out := c.ok("run", "--rm", name, "sh", "-c", script); out != want {
				t.Errorf("run %s said %q, want %q", name, out, want)
			}
		})
	}
}

// interopCheckUnnamed checks that berth shows the image of ID prefix
// short as docker shows an image without a name: <none> in image ls, no
// tags or digests in image inspect.
func interopCheckUnnamed(t *testing.T, c *cli, short string) {
	t.Helper()
	ls := strings.Split(strings.TrimSpace(c.ok("image", "ls")), "\n")
	var line []string
	for _, l := range ls[1:] {
		if f := strings.Fields(l); len(f) > 2 && f[2] == short {
			line = f
		}
	}
	if len(line) == 0 || line[0] != "<none>" || line[1] != "<none>" {
		t.Errorf("image ls shows the unnamed image %s as %q, want <none> <none>:\n%s", short, line, strings.Join(ls, "\n"))
	}
	if ins := c.interopInspect(short); len(ins.RepoTags) != 0 || len(ins.RepoDigests) != 0 {
		t.Errorf("image inspect of the unnamed image %s: RepoTags %q, RepoDigests %q; want none", short, ins.RepoTags, ins.RepoDigests)
	}
}

// interopDrivers are the storage drivers the container tests run under.
var interopDrivers = []string{"overlay", "copy"}

// interopDriver sets the CLI's storage driver through its environment.
func (c *cli) interopDriver(driver string) *cli {
	c.env = append(c.env, "BERTH_STORAGE_DRIVER="+driver)
	return c
}

// interopSnapshots lists the snapshots of the CLI's data root by name
// and kind, and counts the snapshot directories on disk.
func (c *cli) interopSnapshots(driver string) (map[string]snapshot.Kind, int) {
	c.t.Helper()
	root := filepath.Join(c.root, "snapshots", driver)
	var sn snapshot.Snapshotter
	var err error
	if driver == "copy" {
		sn, err = snapshot.NewCopy(root)
	} else {
		sn, err = snapshot.NewOverlay(root)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	defer sn.Close()
	out := map[string]snapshot.Kind{}
	if err := sn.Walk(context.Background(), func(i snapshot.Info) error {
		out[i.Name] = i.Kind
		return nil
	}); err != nil {
		c.t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(root, "snapshots"))
	if err != nil {
		c.t.Fatal(err)
	}
	return out, len(ents)
}

// interopTarEntry is a tar entry: its header and, for a regular file,
// its contents.
type interopTarEntry struct {
	hdr  *tar.Header
	data []byte
}

// interopReadTarFiles reads a tar into a map of cleaned names to
// entries.
func interopReadTarFiles(t *testing.T, b []byte) map[string]interopTarEntry {
	t.Helper()
	out := map[string]interopTarEntry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[path.Clean(strings.TrimPrefix(hdr.Name, "./"))] = interopTarEntry{hdr, data}
	}
}

// TestInteropExport runs a container that changes its filesystem, keeps
// it, exports it (to a file and to stdout) and removes it, under both
// storage drivers: the tar must be the image's files merged with the
// container's changes, deletions included, and rm must leave no
// container, snapshot or snapshot directory behind. The export imported
// back is an image of the same files.
func TestInteropExport(t *testing.T) {
	for _, driver := range interopDrivers {
		t.Run(driver, func(t *testing.T) {
			c := newCLI(t).interopDriver(driver)
			lay := readInteropImage(t, interopLayout(t, "zstd"), "")
			c.loadInterop(lay)
			if got := c.interopInspect(interopName).GraphDriver.Name; got != driver {
				t.Fatalf("image is on the %s driver, want %s", got, driver)
			}
			before, beforeDirs := c.interopSnapshots(driver)

			if out := c.ok("run", interopName, "sh", "-c", "echo changed > /newfile; rm /etc/group; echo done"); out != "done\n" {
				t.Fatalf("run said %q", out)
			}
			ids := strings.Fields(c.ok("ps", "-a", "-q"))
			if len(ids) != 1 || len(ids[0]) != 12 {
				t.Fatalf("ps -a -q: %v, want one short ID", ids)
			}
			id := ids[0]
			if ps := c.ok("ps", "-a"); !strings.Contains(ps, id) || !strings.Contains(ps, "Exited (0)") || !strings.Contains(ps, interopName) {
				t.Errorf("ps -a:\n%s", ps)
			}
			if ps := c.ok("ps", "-q"); ps != "" {
				t.Errorf("ps -q lists the stopped container: %q", ps)
			}
			snaps, _ := c.interopSnapshots(driver)
			var full string
			for name, kind := range snaps {
				if strings.HasPrefix(name, id) && kind == snapshot.KindActive {
					full = name
				}
			}
			if full == "" {
				t.Fatalf("no active snapshot for container %s: %v", id, snaps)
			}

			out := filepath.Join(t.TempDir(), "out.tar")
			c.ok("export", "-o", out, id)
			exported := interopMustRead(t, out)
			if stdout := c.ok("export", id); stdout != string(exported) {
				t.Errorf("export to stdout (%d bytes) differs from export -o (%d bytes)", len(stdout), len(exported))
			}
			files := interopReadTarFiles(t, exported)
			if e, ok := files["newfile"]; !ok || string(e.data) != "changed\n" {
				t.Errorf("newfile: %v %q, want \"changed\\n\"", ok, e.data)
			}
			if e, ok := files["bin/busybox"]; !ok || e.hdr.Typeflag != tar.TypeReg || e.hdr.Mode&0o111 == 0 ||
				!bytes.Equal(e.data, interopMustRead(t, imagetest.BusyboxPath)) {
				t.Errorf("bin/busybox missing or not %s", imagetest.BusyboxPath)
			}
			if e, ok := files["bin/sh"]; !ok || e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "busybox" {
				t.Errorf("bin/sh is not the symlink to busybox: %+v", e.hdr)
			}
			if e, ok := files["etc/motd"]; !ok || string(e.data) != "hello from interop\n" {
				t.Errorf("etc/motd: %q", e.data)
			}
			for _, gone := range []string{"etc/group", "gone", "old/a", "old/b"} {
				if _, ok := files[gone]; ok {
					t.Errorf("%s is in the export, deleted in the image or the container", gone)
				}
			}
			for name := range files {
				if strings.Contains(name, ".wh.") {
					t.Errorf("export has a whiteout: %s", name)
				}
			}
			if _, ok := files["old/c"]; !ok {
				t.Errorf("old/c is missing")
			}

			// What export writes, import takes back: the same files, one layer.
			r := c.run(exported, "import", "-", "interop/exported:1")
			if r.code != 0 {
				t.Fatalf("import of the export: exit %d: %s", r.code, r.stderr)
			}
			if ins := c.interopInspect("interop/exported:1"); !interopSameStrings(ins.RootFS.Layers, []string{digest.FromBytes(exported).String()}) {
				t.Errorf("the export imported as layers %v, want the tar itself %s", ins.RootFS.Layers, digest.FromBytes(exported))
			}
			if got := c.ok("run", "--rm", "interop/exported:1", "sh", "-c", "cat /newfile /etc/motd; ls /old; test -e /etc/group || echo no group"); got != "changed\nhello from interop\nc\nno group\n" {
				t.Errorf("run of the imported export said %q", got)
			}
			c.ok("rmi", "interop/exported:1")

			if got := c.ok("rm", id); got != id+"\n" {
				t.Errorf("rm said %q", got)
			}
			if ps := c.ok("ps", "-a", "-q"); ps != "" {
				t.Errorf("ps -a -q after rm: %q", ps)
			}
			if ents, err := os.ReadDir(filepath.Join(c.root, "containers")); err != nil || len(ents) != 0 {
				t.Errorf("containers dir after rm: %v, %v", ents, err)
			}
			after, afterDirs := c.interopSnapshots(driver)
			if _, ok := after[full]; ok || len(after) != len(before) || afterDirs != beforeDirs {
				t.Errorf("snapshots after rm: %v (%d dirs); before run: %v (%d dirs)", after, afterDirs, before, beforeDirs)
			}
			if ents, _ := os.ReadDir(filepath.Join(filepath.Dir(c.root), "state")); len(ents) != 0 {
				t.Errorf("runtime state left after rm: %v", ents)
			}
			c.fails("Error response from daemon: No such container: "+id, "export", id)
			c.fails("Error response from daemon: No such container: "+id, "rm", id)
			// The image is free again, and with it go its layers.
			c.ok("rmi", interopName)
			if snaps, dirs := c.interopSnapshots(driver); len(snaps) != 0 || dirs != 0 {
				t.Errorf("snapshots left after rmi: %v, %d dirs", snaps, dirs)
			}
		})
	}
}

// TestInteropSaveLoadRoundTrip saves three names of two images sharing
// layers into one archive, removes them, loads the archive back and runs
// each, under both storage drivers: IDs and manifests must come back
// unchanged, and saving must be deterministic (file and stdout alike).
// An image saved by ID comes back unnamed under that ID, and stops being
// unnamed once tagged.
func TestInteropSaveLoadRoundTrip(t *testing.T) {
	for _, driver := range interopDrivers {
		t.Run(driver, func(t *testing.T) {
			c := newCLI(t).interopDriver(driver)
			gz := readInteropImage(t, interopLayout(t, "gzip"), "")
			c.loadInterop(gz)
			c.ok("tag", interopName, "interop/busybox:gzip")
			c.loadInterop(readInteropImage(t, interopLayout(t, "zstd"), ""))
			c.ok("tag", interopName, "interop/busybox:2")
			names := []string{interopName, "interop/busybox:2", "interop/busybox:gzip"}
			before := map[string]engine.ImageInspect{}
			for _, n := range names {
				before[n] = c.interopInspect(n)
			}
			dir := t.TempDir()
			saved := filepath.Join(dir, "all.tar")
			c.ok(append([]string{"save", "-o", saved}, names...)...)
			if stdout := c.ok(append([]string{"save"}, names...)...); stdout != string(interopMustRead(t, saved)) {
				t.Errorf("save to stdout differs from save -o")
			}
			byID := filepath.Join(dir, "by-id.tar")
			short := gz.id().Encoded()[:12]
			c.ok("save", "-o", byID, short)

			c.ok(append([]string{"rmi"}, names...)...)
			if ls := c.ok("image", "ls", "-q"); ls != "" {
				t.Fatalf("images left after rmi: %q", ls)
			}
			if snaps, dirs := c.interopSnapshots(driver); len(snaps) != 0 || dirs != 0 {
				t.Fatalf("snapshots left after rmi: %v, %d dirs", snaps, dirs)
			}
			c.fails("", "image", "inspect", interopName)

			out := strings.Split(strings.TrimSpace(c.ok("load", "-i", saved)), "\n")
			sort.Strings(out)
			want := []string{"Loaded image: " + interopName, "Loaded image: interop/busybox:2", "Loaded image: interop/busybox:gzip"}
			if !interopSameStrings(out, want) {
				t.Errorf("load said %q, want %q", out, want)
			}
			for _, n := range names {
				ins := c.interopInspect(n)
				if ins.ID != before[n].ID || ins.Descriptor.Digest != before[n].Descriptor.Digest || !interopSameStrings(ins.RootFS.Layers, before[n].RootFS.Layers) {
					t.Errorf("%s came back as %s (manifest %s), was %s (manifest %s)", n, ins.ID, ins.Descriptor.Digest, before[n].ID, before[n].Descriptor.Digest)
				}
				if got := c.ok("run", "--rm", n, "sh", "-c", interopScript); got != interopWant {
					t.Errorf("run %s said %q, want %q", n, got, interopWant)
				}
			}

			c.ok(append([]string{"rmi"}, names...)...)
			if got := c.ok("load", "-i", byID); got != "Loaded image ID: "+gz.id().String()+"\n" {
				t.Errorf("load of the image saved by ID said %q", got)
			}
			interopCheckUnnamed(t, c, short)
			if got := c.ok("run", "--rm", short, "sh", "-c", interopScript); got != interopWant {
				t.Errorf("run %s said %q, want %q", short, got, interopWant)
			}
			// Named, it is no longer <none>; its last name removed, it
			// is gone, as in docker.
			c.ok("tag", short, "interop/named:1")
			if ls := c.ok("image", "ls", "-q"); ls != short+"\n" {
				t.Errorf("image ls -q after tagging the unnamed image: %q", ls)
			}
			if ls := c.ok("image", "ls"); strings.Contains(ls, "<none>") {
				t.Errorf("image ls still shows the tagged image as <none>:\n%s", ls)
			}
			if out := c.ok("rmi", "interop/named:1"); !strings.Contains(out, "Deleted: "+gz.id().String()) {
				t.Errorf("rmi of the only name said %q, want the image deleted", out)
			}
			if snaps, dirs := c.interopSnapshots(driver); len(snaps) != 0 || dirs != 0 {
				t.Errorf("snapshots left after rmi: %v, %d dirs", snaps, dirs)
			}
		})
	}
}

// TestInteropCopyDriver runs the core flows, pull+run and load+run, on a
// data root with the copy driver (chosen by BERTH_STORAGE_DRIVER and by
// --storage-driver), checks that the choice is kept and overlay never
// used, and that the overlay driver, asked for later on the same data
// root, unpacks the images again rather than failing.
func TestInteropCopyDriver(t *testing.T) {
	c := newCLI(t).interopDriver("copy")
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	layout := interopLayout(t, "zstd")
	lay := readInteropImage(t, layout, "")
	ref := reg.Host + "/interop/busybox:pulled"
	reg.PushLayout(t, layout, ref)

	c.ok("pull", ref)
	if out := c.ok("run", "--rm", ref, "sh", "-c", interopScript); out != interopWant {
		t.Errorf("run of the pulled image said %q, want %q", out, interopWant)
	}
	c.loadInterop(lay)
	if out := c.ok("run", "--rm", interopName, "sh", "-c", interopScript); out != interopWant {
		t.Errorf("run of the loaded image said %q, want %q", out, interopWant)
	}
	for _, n := range []string{ref, interopName} {
		if ins := c.interopInspect(n); ins.GraphDriver.Name != "copy" || ins.ID != lay.id().String() {
			t.Errorf("%s: driver %s, ID %s; want copy, %s", n, ins.GraphDriver.Name, ins.ID, lay.id())
		}
	}
	if b := interopMustRead(t, filepath.Join(c.root, "driver")); string(b) != "copy\n" {
		t.Errorf("data root remembers driver %q", b)
	}
	if _, err := os.Stat(filepath.Join(c.root, "snapshots", "overlay")); !os.IsNotExist(err) {
		t.Errorf("the copy driver's data root has an overlay snapshot dir: %v", err)
	}
	if snaps, dirs := c.interopSnapshots("copy"); len(snaps) != 3 || dirs != 3 {
		t.Errorf("copy snapshots: %v (%d dirs), want one per layer", snaps, dirs)
	}

	// The flag, on a fresh data root, with nothing in the environment.
	c2 := newCLI(t)
	if out := c2.ok("--storage-driver", "copy", "load", "-i", layout); out != "Loaded image: "+interopName+"\n" {
		t.Fatalf("load said %q", out)
	}
	if out := c2.ok("--storage-driver", "copy", "run", "--rm", interopName, "sh", "-c", interopScript); out != interopWant {
		t.Errorf("run said %q, want %q", out, interopWant)
	}
	if out := c2.ok("run", "--rm", interopName, "cat", "/etc/motd"); out != "hello from interop\n" { // remembered
		t.Errorf("run without the flag said %q", out)
	}
	if d := c2.interopInspect(interopName).GraphDriver.Name; d != "copy" {
		t.Errorf("without the flag the data root uses %s, want the remembered copy", d)
	}

	t.Run("switch-to-overlay", func(t *testing.T) {
		if out := c2.ok("--storage-driver", "overlay", "run", "--rm", interopName, "sh", "-c", interopScript); out != interopWant {
			t.Errorf("run under overlay said %q, want %q", out, interopWant)
		}
		if d := c2.interopInspect(interopName).GraphDriver.Name; d != "overlay" {
			t.Errorf("after choosing overlay the data root uses %s", d)
		}
	})
}

// TestInteropLoadMultiPlatform loads an oci-archive of a two-platform
// image index that skopeo copied whole (--all): berth picks the host's
// manifest by default and the other with --platform, and an archive
// berth saves of it holds the host's manifest, which skopeo reads.
func TestInteropLoadMultiPlatform(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	host := runtime.GOOS + "/" + runtime.GOARCH
	other := "linux/arm/v7"
	if runtime.GOARCH == "arm" {
		other = "linux/amd64"
	}
	top := imagetest.BusyboxLayout(t, dir, imagetest.LayoutOptions{
		RefName:   interopName,
		Platforms: []string{other, host},
		ExtraLayers: []imagetest.Layer{{Compression: "zstd", Entries: []imagetest.Entry{
			imagetest.File("etc/motd", "hello from interop\n"),
		}}},
	})
	var idx ocispec.Index
	if err := json.Unmarshal(interopImage{dir: dir}.blob(t, top.Digest), &idx); err != nil {
		t.Fatal(err)
	}
	manifests := map[string]ocispec.Descriptor{}
	for _, m := range idx.Manifests {
		p := m.Platform.OS + "/" + m.Platform.Architecture
		if m.Platform.Variant != "" {
			p += "/" + m.Platform.Variant
		}
		manifests[p] = m
	}
	archive := filepath.Join(t.TempDir(), "multi.tar")
	interopSkopeo(t, "copy", "--all", "--preserve-digests", "oci:"+dir+":"+interopName, "oci-archive:"+archive+":"+interopName)

	for _, platform := range []string{"", other} {
		want := manifests[host]
		args := []string{"load", "-i", archive}
		if platform != "" {
			want = manifests[platform]
			args = append(args, "--platform", platform)
		}
		c := newCLI(t)
		if out := c.ok(args...); out != "Loaded image: "+interopName+"\n" {
			t.Fatalf("load %v said %q", args, out)
		}
		ins := c.interopInspect(interopName)
		// As docker's, the Descriptor is the name's target (the index);
		// the architecture says which platform was loaded.
		if ins.Descriptor.Digest != top.Digest || ins.Architecture != want.Platform.Architecture || ins.Variant != want.Platform.Variant {
			t.Errorf("load --platform %q: manifest %s for %s/%s, want %s for %s/%s", platform, ins.Descriptor.Digest,
				ins.Architecture, ins.Variant, top.Digest, want.Platform.Architecture, want.Platform.Variant)
		}
		if !strings.Contains(strings.Join(ins.RepoDigests, " "), "@"+top.Digest.String()) {
			t.Errorf("RepoDigests %v do not name the index %s", ins.RepoDigests, top.Digest)
		}
		if platform != "" {
			continue
		}
		if out := c.ok("run", "--rm", interopName, "cat", "/etc/motd"); out != "hello from interop\n" {
			t.Errorf("run said %q", out)
		}
		saved := filepath.Join(t.TempDir(), "saved.tar")
		c.ok("save", "-o", saved, interopName)
		if si, _ := interopSkopeoInspect(t, "oci-archive:"+saved); si.Digest != want.Digest.String() {
			t.Errorf("berth saved manifest %s, want the host's %s", si.Digest, want.Digest)
		}
	}
}
