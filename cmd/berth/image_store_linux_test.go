package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
	"github.com/berth-project/berth/internal/progress"
)

// The tests of this file check the image store end to end: what rmi and
// prune free and keep, concurrent pulls, multi-platform images,
// registries behind auth and TLS, and what inspect and history report.

// assertBlobs checks that content/blobs holds exactly want (each blob
// verified against its name).
func (c *cli) assertBlobs(what string, want ...[]digest.Digest) {
	c.t.Helper()
	wantSet := map[digest.Digest]bool{}
	for _, ds := range want {
		for _, d := range ds {
			wantSet[d] = true
		}
	}
	got := c.blobs()
	for d := range got {
		if !wantSet[d] {
			c.t.Errorf("%s: content/blobs holds %s, which should be gone", what, d)
		}
	}
	for d := range wantSet {
		if _, ok := got[d]; !ok {
			c.t.Errorf("%s: content/blobs lacks %s", what, d)
		}
	}
}

// assertSnapshots checks that the snapshots are exactly the committed
// chains of want, with one directory each.
func (c *cli) assertSnapshots(what string, want ...[]string) {
	c.t.Helper()
	wantSet := map[string]bool{}
	for _, cs := range want {
		for _, ch := range cs {
			wantSet[ch] = true
		}
	}
	snaps := c.snapshots()
	for name, s := range snaps {
		if !wantSet[name] {
			c.t.Errorf("%s: snapshot %s (%s) should be gone", what, name, s.Kind)
		}
	}
	for ch := range wantSet {
		s, ok := snaps[ch]
		if !ok {
			c.t.Errorf("%s: snapshot %s is missing", what, ch)
		} else if s.Kind != "committed" {
			c.t.Errorf("%s: snapshot %s is %s, not committed", what, ch, s.Kind)
		}
	}
	dirs, err := os.ReadDir(filepath.Join(c.snapshotDir(), "snapshots"))
	if err != nil {
		c.t.Fatal(err)
	}
	if len(dirs) != len(snaps) {
		c.t.Errorf("%s: %d snapshot directories for %d snapshots", what, len(dirs), len(snaps))
	}
}

// assertEmpty checks that the store holds no blob, snapshot, ingest or
// mount: what is left once every image is removed.
func (c *cli) assertEmpty(what string) {
	c.t.Helper()
	c.assertBlobs(what)
	c.assertSnapshots(what)
	if in := c.ingests(); len(in) > 0 {
		c.t.Errorf("%s: ingests left: %v", what, in)
	}
	if ms := mountsUnder(c.t, c.root); len(ms) > 0 {
		c.t.Errorf("%s: mounts left: %v", what, ms)
	}
}

// dockerConfig writes config.json in the DOCKER_CONFIG directory berth
// runs with, holding credentials for host.
func (c *cli) dockerConfig(host, user, pass string) {
	c.t.Helper()
	var dir string
	for _, e := range c.env {
		if v, ok := strings.CutPrefix(e, "DOCKER_CONFIG="); ok {
			dir = v
		}
	}
	if dir == "" {
		c.t.Fatal("berth runs without DOCKER_CONFIG")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))},
	}})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		c.t.Fatal(err)
	}
}

func shortHex(d digest.Digest) string { return d.Encoded()[:12] }

// TestRmiSharedLayers pulls two images that share the busybox layer and
// removes them one by one: the first rmi frees only what was the first
// image's own, the second frees everything.
func TestRmiSharedLayers(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	refA, refB := reg.Host+"/team/a:1", reg.Host+"/team/b:1"
	a := pushImage(t, reg, refA, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("which", "a\n")}}}})
	b := pushImage(t, reg, refB, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("which", "b\n")}}}})
	if a.manifest.Layers[0].Digest != b.manifest.Layers[0].Digest {
		t.Fatal("the fixtures do not share the busybox layer")
	}
	c.ok("pull", refA)
	out := c.ok("pull", refB)
	if !strings.Contains(out, "Already exists") {
		t.Errorf("the second pull did not reuse the shared layer:\n%s", out)
	}
	c.assertBlobs("both pulled", a.blobs(), b.blobs())
	c.assertSnapshots("both pulled", a.chains(), b.chains())

	// docker's lines: the names untagged (the tag, and the digest name a
	// pull records), then the image and its layers deleted.
	out = c.ok("rmi", refA)
	if !strings.HasPrefix(out, "Untagged: "+refA+"\n") || !strings.Contains(out, "\nDeleted: "+a.manifest.Config.Digest.String()+"\n") {
		t.Errorf("rmi said %q, want the untag of %s and the deletion of %s", out, refA, a.manifest.Config.Digest)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "Untagged: ") && !strings.HasPrefix(line, "Deleted: ") {
			t.Errorf("rmi said %q: not docker's", line)
		}
	}
	c.assertBlobs("after rmi of a", b.blobs())
	c.assertSnapshots("after rmi of a", b.chains())
	if got := c.ok("run", "--rm", refB, "cat", "/which"); got != "b\n" {
		t.Errorf("b says %q after rmi of a", got)
	}
	if ls := c.ok("images"); strings.Contains(ls, "team/a") || !strings.Contains(ls, "team/b") {
		t.Errorf("images after rmi of a:\n%s", ls)
	}

	c.ok("rmi", refB)
	c.assertEmpty("after rmi of both")
	if ls := c.ok("images", "-q"); ls != "" {
		t.Errorf("images -q lists %q", ls)
	}
}

// TestRmiTagsAndConflicts: removing one of two names only untags; removing
// by ID an image that has two names needs -f, which removes both.
func TestRmiTagsAndConflicts(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	ref := reg.Host + "/team/tagged:1"
	l := pushImage(t, reg, ref, imagetest.LayoutOptions{})
	id := l.manifest.Config.Digest
	c.ok("pull", ref)

	other := reg.Host + "/team/tagged:other"
	c.ok("tag", ref, other)
	out := c.ok("rmi", other)
	if out != "Untagged: "+other+"\n" {
		t.Errorf("rmi of the second name said %q, want only the untag", out)
	}
	c.assertBlobs("after untag", l.blobs())
	c.assertSnapshots("after untag", l.chains())
	c.ok("run", "--rm", ref, "true")

	c.ok("tag", ref, "berth/elsewhere:2") // a docker.io name: local only
	for _, byID := range []string{shortHex(id), id.String()} {
		r := c.fails("must be forced", "rmi", byID)
		if !strings.Contains(r.stderr, "conflict: unable to delete "+shortHex(id)+" (must be forced) - image is referenced in multiple repositories") {
			t.Errorf("rmi %s: want docker's conflict message, got:\n%s", byID, r.stderr)
		}
	}
	if ls := c.ok("images"); !strings.Contains(ls, "team/tagged") || !strings.Contains(ls, "berth/elsewhere") {
		t.Errorf("a refused rmi removed names:\n%s", ls)
	}
	c.assertBlobs("after refused rmi", l.blobs())

	out = c.ok("rmi", "-f", shortHex(id))
	for _, want := range []string{"Untagged: " + ref, "Untagged: berth/elsewhere:2", "Deleted: " + id.String()} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("rmi -f said:\n%s\nwant a line %q", out, want)
		}
	}
	c.assertEmpty("after rmi -f")
	// docker capitalizes "No such image"; berth's sentinel does not.
	if r := c.run(nil, "rmi", ref); r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "no such image: "+ref) {
		t.Errorf("rmi of a removed image: exit %d, %q", r.code, r.stderr)
	}
}

// TestRmiContainer: an image a kept container was made from cannot be
// removed until the container is.
func TestRmiContainer(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	ref := reg.Host + "/team/used:1"
	l := pushImage(t, reg, ref, imagetest.LayoutOptions{})
	c.ok("pull", ref)
	c.ok("run", ref, "sh", "-c", "echo kept > /state")
	ids := strings.Fields(c.ok("ps", "-a", "-q"))
	if len(ids) != 1 {
		t.Fatalf("ps -a -q lists %q", ids)
	}
	r := c.fails("is using its referenced image", "rmi", ref)
	if !strings.Contains(r.stderr, "conflict: unable to remove repository reference \""+ref+"\" (must force) - container "+ids[0]) {
		t.Errorf("want docker's conflict message naming container %s, got:\n%s", ids[0], r.stderr)
	}
	// By ID docker says which container uses the image.
	c.fails("conflict: unable to delete "+shortHex(l.manifest.Config.Digest)+" (must be forced) - image is being used by stopped container "+ids[0],
		"rmi", shortHex(l.manifest.Config.Digest))
	if ls := c.ok("images"); !strings.Contains(ls, "team/used") {
		t.Errorf("a refused rmi removed the name:\n%s", ls)
	}
	c.assertBlobs("while the container exists", l.blobs())
	if got := c.ok("run", "--rm", ref, "cat", "/etc/group"); got != imagetest.Group {
		t.Errorf("the image runs to say %q", got)
	}

	c.ok("rm", ids[0])
	out := c.ok("rmi", ref)
	if !strings.Contains(out, "Deleted: "+l.manifest.Config.Digest.String()) {
		t.Errorf("rmi said:\n%s", out)
	}
	c.assertEmpty("after rm and rmi")
}

// TestPruneLeftovers: a pull that fails half way leaves blobs and
// snapshots no name reaches; image prune removes exactly those, says how
// much it freed, and leaves the named image whole.
func TestPruneLeftovers(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	good := reg.Host + "/team/good:1"
	g := pushImage(t, reg, good, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("etc/motd", "still here\n")}}}})
	badRef := reg.Host + "/team/bad:1"
	bad := pushImage(t, reg, badRef, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Compression: "none", Entries: []imagetest.Entry{imagetest.File("left", "behind\n")}},
		{Entries: []imagetest.Entry{imagetest.File("corrupt", "soon\n")}},
	}})
	broken := bad.manifest.Layers[2]
	garbage := make([]byte, broken.Size)
	if err := os.WriteFile(registryBlobFile(t, broken.Digest), garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("pull", good)
	c.fails("digest mismatch", "pull", badRef)

	// What the failed pull left: at least its manifest and config.
	var leftovers []digest.Digest
	var size int64
	keep := map[digest.Digest]bool{}
	for _, d := range g.blobs() {
		keep[d] = true
	}
	for d, n := range c.blobs() {
		if !keep[d] {
			leftovers = append(leftovers, d)
			size += n
		}
	}
	for _, d := range []digest.Digest{bad.manDesc.Digest, bad.manifest.Config.Digest} {
		if !slices.Contains(leftovers, d) {
			t.Errorf("the failed pull did not leave %s; the test needs a leftover", d)
		}
	}
	t.Logf("%d leftover blobs of %d bytes; snapshots: %d", len(leftovers), size, len(c.snapshots()))

	out := c.ok("image", "prune", "-f")
	var deleted []digest.Digest
	for _, m := range regexp.MustCompile(`(?m)^deleted: (sha256:[0-9a-f]{64})$`).FindAllStringSubmatch(out, -1) {
		deleted = append(deleted, digest.Digest(m[1]))
	}
	slices.Sort(deleted)
	slices.Sort(leftovers)
	if !slices.Equal(deleted, leftovers) {
		t.Errorf("prune deleted %v, want the leftovers %v", deleted, leftovers)
	}
	if want := "Total reclaimed space: " + progress.HumanSize(size) + "\n"; !strings.HasSuffix(out, want) {
		t.Errorf("prune said:\n%s\nwant it to end with %q", out, want)
	}
	c.assertBlobs("after prune", g.blobs())
	c.assertSnapshots("after prune", g.chains())
	if got := c.ok("run", "--rm", good, "cat", "/etc/motd"); got != "still here\n" {
		t.Errorf("the named image says %q after prune", got)
	}
	// Without -f docker (and berth) asks first; the test has no one to answer.
	if out := c.ok("image", "prune", "-f"); out != "Total reclaimed space: 0B\n" {
		t.Errorf("a second prune said %q", out)
	}
}

// TestPruneDuringPull runs image prune while a pull is half way: prune
// must not take the blobs and snapshots the pull has stored but not yet
// named, so the pulled image is whole and runs.
func TestPruneDuringPull(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	keptRef := reg.Host + "/team/kept:1"
	kept := pushImage(t, reg, keptRef, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("kept", "yes\n")}}}})
	c.ok("pull", keptRef)
	l := pushImage(t, reg, reg.Host+"/team/slow:1", imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("slow", "yes\n")}}}, BigLayers: []int64{4 << 20}})
	big := l.manifest.Layers[len(l.manifest.Layers)-1]
	p := newBlobProxy(t, reg.Host, big.Digest)
	p.set(false, 30*time.Millisecond)
	ref := p.host + "/team/slow:1"

	cmd := exec.Command(berthBin, "pull", ref)
	cmd.Env = c.env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.started:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the pull never started on the big layer")
	}
	pruned := c.ok("image", "prune", "-f")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the pull beside prune: %v\n%s", err, out.String())
	}
	if pruned != "Total reclaimed space: 0B\n" {
		t.Errorf("prune during a pull said:\n%s", pruned)
	}
	c.assertBlobs("after pull and prune", kept.blobs(), l.blobs())
	c.assertSnapshots("after pull and prune", kept.chains(), l.chains())
	if got := c.ok("run", "--rm", ref, "cat", "/slow"); got != "yes\n" {
		t.Errorf("the pulled image says %q", got)
	}
}

// TestConcurrentPulls starts two berth pulls of one image at once on one
// data root: both succeed, and the store holds one copy of each blob and
// one snapshot per layer.
func TestConcurrentPulls(t *testing.T) {
	gate.Root(t) // before the registry and push that only root's rounds use
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	ref := reg.Host + "/team/twice:1"
	l := pushImage(t, reg, ref, imagetest.LayoutOptions{BigLayers: []int64{12 << 20, 6 << 20}})
	// Each round on a fresh data root: the two pulls race differently.
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) { concurrentPulls(t, ref, l) })
	}
}

func concurrentPulls(t *testing.T, ref string, l storeLayout) {
	c := newCLI(t)

	type outcome struct {
		out []byte
		err error
		d   time.Duration
	}
	res := make([]outcome, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range res {
		wg.Go(func() {
			cmd := exec.Command(berthBin, "pull", ref)
			cmd.Env = c.env
			<-start
			t0 := time.Now()
			res[i].out, res[i].err = cmd.CombinedOutput()
			res[i].d = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	for i, r := range res {
		if r.err != nil {
			t.Errorf("pull %d: %v\n%s", i, r.err, r.out)
		} else {
			t.Logf("pull %d took %v", i, r.d.Round(time.Millisecond))
		}
	}
	c.assertBlobs("after two pulls", l.blobs())
	c.assertSnapshots("after two pulls", l.chains())
	if in := c.ingests(); len(in) > 0 {
		t.Errorf("ingests left: %v", in)
	}
	if ms := mountsUnder(t, c.root); len(ms) > 0 {
		t.Errorf("mounts left: %v", ms)
	}
	if ids := strings.Fields(c.ok("images", "-q")); len(ids) != 1 {
		t.Errorf("images -q lists %q", ids)
	}
	if got := c.ok("run", "--rm", ref, "sh", "-c", "ls /big/0 | wc -l"); strings.TrimSpace(got) != "2" {
		t.Errorf("the big layer has %q files", got)
	}
}

// inspect returns `image inspect` of one image.
func (c *cli) inspect(name string) engine.ImageInspect {
	c.t.Helper()
	var out []engine.ImageInspect
	if err := json.Unmarshal([]byte(c.ok("image", "inspect", name)), &out); err != nil {
		c.t.Fatal(err)
	}
	if len(out) != 1 {
		c.t.Fatalf("inspect %s gave %d images", name, len(out))
	}
	return out[0]
}

// TestPlatformIndex pulls a three-platform image: by default the host's,
// which runs; with --platform a stand-in of another architecture, which
// inspect describes as such; a platform the index lacks fails in docker's
// words; rmi frees all of it.
func TestPlatformIndex(t *testing.T) {
	if hostArch(t) != "amd64" && hostArch(t) != "arm64" {
		t.Skipf("the fixture's index has linux/amd64, linux/arm64 and linux/arm/v7; this host is %s", hostArch(t))
	}
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	ref := reg.Host + "/team/multi:1"
	dir := filepath.Join(t.TempDir(), "layout")
	imagetest.BusyboxLayout(t, dir, imagetest.LayoutOptions{Platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}})
	reg.PushLayout(t, dir, ref)
	host := readStoreLayout(t, dir)
	var idx ocispec.Index
	layoutJSON(t, dir, layoutBlobPath(host.top.Digest), &idx)

	c.ok("pull", ref)
	if got := c.ok("run", "--rm", ref, "cat", "/etc/group"); got != imagetest.Group {
		t.Errorf("the host's image says %q", got)
	}
	ins := c.inspect(ref)
	if ins.Architecture != hostArch(t) || ins.Os != "linux" || ins.ID != host.manifest.Config.Digest.String() {
		t.Errorf("inspect: %s/%s id %s, want linux/%s id %s", ins.Os, ins.Architecture, ins.ID, hostArch(t), host.manifest.Config.Digest)
	}
	if want := []string{reg.Host + "/team/multi@" + host.top.Digest.String()}; !slices.Equal(ins.RepoDigests, want) {
		t.Errorf("RepoDigests %q, want the index's digest %q", ins.RepoDigests, want)
	}
	c.assertBlobs("host platform pulled", host.blobs())
	c.assertSnapshots("host platform pulled", host.chains())

	for _, p := range []struct{ platform, arch, variant string }{
		{"linux/arm64", "arm64", ""}, {"linux/arm/v7", "arm", "v7"},
	} {
		if p.arch == hostArch(t) {
			continue
		}
		out := c.ok("pull", "--platform", p.platform, ref)
		if !strings.Contains(out, "Digest: "+host.top.Digest.String()) {
			t.Errorf("pull --platform %s said:\n%s", p.platform, out)
		}
		ins := c.inspect(ref)
		if ins.Architecture != p.arch || ins.Variant != p.variant {
			t.Errorf("after pull --platform %s, inspect says %s/%s", p.platform, ins.Architecture, ins.Variant)
		}
		// As docker's, the Descriptor is the name's target, the index; the
		// platform manifest unpacked is the one whose config inspect shows.
		if ins.Descriptor.Digest != host.top.Digest {
			t.Errorf("pull --platform %s: descriptor %s, want the index %s", p.platform, ins.Descriptor.Digest, host.top.Digest)
		}
	}
	r := c.fails("no matching manifest for linux/s390x in the manifest list entries", "pull", "--platform", "linux/s390x", ref)
	t.Logf("berth said: %s", r.stderr)

	c.ok("rmi", ref)
	c.assertEmpty("after rmi")
}

// TestAuthToken pulls from a registry with docker's token auth: without
// credentials in docker's words, with them from DOCKER_CONFIG.
func TestAuthToken(t *testing.T) {
	testAuth(t, imagetest.RegistryOptions{Auth: "token"})
}

// TestAuthBasic is TestAuthToken for a registry with htpasswd basic auth.
func TestAuthBasic(t *testing.T) {
	testAuth(t, imagetest.RegistryOptions{Auth: "htpasswd"})
}

// TestAuthTLS pulls from registries over TLS with a private CA, which
// --certs-dir finds; without it the pull fails.
func TestAuthTLS(t *testing.T) {
	t.Run("anonymous", func(t *testing.T) { testAuth(t, imagetest.RegistryOptions{TLS: true}) })
	t.Run("htpasswd", func(t *testing.T) { testAuth(t, imagetest.RegistryOptions{TLS: true, Auth: "htpasswd"}) })
}

func testAuth(t *testing.T, o imagetest.RegistryOptions) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, o)
	ref := reg.Host + "/team/private:1"
	l := pushImage(t, reg, ref, imagetest.LayoutOptions{})
	var global []string
	if o.TLS {
		r := c.run(nil, "pull", ref)
		t.Logf("without --certs-dir: exit %d: %s", r.code, r.stderr)
		if r.code == 0 {
			t.Fatalf("pull from a TLS registry with an unknown CA succeeded")
		}
		c.assertNothingVisible(ref, l.chains(), nil)
		global = []string{"--certs-dir", reg.CertsDir}
	}
	berth := func(args ...string) []string { return append(slices.Clone(global), args...) }

	if o.Auth != "" {
		r := c.fails("pull access denied for "+reg.Host+"/team/private, repository does not exist or may require 'docker login'", berth("pull", ref)...)
		t.Logf("without credentials: %s", r.stderr)
		c.assertNothingVisible(ref, l.chains(), nil)
		if n := len(c.blobs()); n != 0 {
			t.Errorf("%d blobs stored by a denied pull", n)
		}

		c.dockerConfig(reg.Host, reg.Username, "not-the-password")
		r = c.run(nil, berth("pull", ref)...)
		t.Logf("with a wrong password: exit %d: %s", r.code, r.stderr)
		if r.code == 0 {
			t.Fatalf("pull with a wrong password succeeded")
		}
		if !strings.Contains(r.stderr, "denied") && !strings.Contains(r.stderr, "unauthorized") {
			t.Errorf("the error for a wrong password says neither denied nor unauthorized:\n%s", r.stderr)
		}
		if strings.Contains(r.stderr, "not-the-password") || strings.Contains(r.stderr, base64.StdEncoding.EncodeToString([]byte(reg.Username+":not-the-password"))) {
			t.Errorf("the error shows the password:\n%s", r.stderr)
		}
		c.dockerConfig(reg.Host, reg.Username, reg.Password)
	}
	out := c.ok(berth("pull", ref)...)
	if !strings.Contains(out, "Downloaded newer image for "+ref) {
		t.Errorf("pull said:\n%s", out)
	}
	if got := c.ok(berth("run", "--rm", ref, "cat", "/etc/group")...); got != imagetest.Group {
		t.Errorf("run said %q", got)
	}
	if o.Auth == "token" && reg.TokenRequests() == 0 {
		t.Errorf("the token server issued no token")
	}
	c.assertBlobs("pulled", l.blobs())
}

// TestInspectHistory checks image inspect's JSON and image history's
// lines against the image's own config.
func TestInspectHistory(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	ref := reg.Host + "/team/described:1"
	cfg := ocispec.ImageConfig{
		Env:        []string{"PATH=/bin", "GREETING=hello"},
		Entrypoint: []string{"/bin/sh", "-c"},
		Cmd:        []string{"echo $GREETING"},
		WorkingDir: "/tmp",
		Labels:     map[string]string{"org.example.team": "berth"},
	}
	l := pushImage(t, reg, ref, imagetest.LayoutOptions{Config: &cfg, ExtraLayers: []imagetest.Layer{
		{Entries: []imagetest.Entry{imagetest.File("one", "1")}},
		{Compression: "zstd", Entries: []imagetest.Entry{imagetest.File("two", "2")}},
	}})
	c.ok("pull", ref)
	c.ok("tag", ref, reg.Host+"/team/described:latest")

	ins := c.inspect(ref)
	if ins.ID != l.manifest.Config.Digest.String() {
		t.Errorf("Id %s, want the config digest %s", ins.ID, l.manifest.Config.Digest)
	}
	if want := []string{ref, reg.Host + "/team/described:latest"}; !slices.Equal(sorted(ins.RepoTags), sorted(want)) {
		t.Errorf("RepoTags %q, want %q", ins.RepoTags, want)
	}
	if want := []string{reg.Host + "/team/described@" + l.manDesc.Digest.String()}; !slices.Equal(ins.RepoDigests, want) {
		t.Errorf("RepoDigests %q, want %q", ins.RepoDigests, want)
	}
	var diffIDs []string
	for _, d := range l.config.RootFS.DiffIDs {
		diffIDs = append(diffIDs, d.String())
	}
	if ins.RootFS.Type != "layers" || !slices.Equal(ins.RootFS.Layers, diffIDs) {
		t.Errorf("RootFS %+v, want layers %q", ins.RootFS, diffIDs)
	}
	if ins.Os != "linux" || ins.Architecture != hostArch(t) {
		t.Errorf("platform %s/%s", ins.Os, ins.Architecture)
	}
	if ins.Created != imagetest.Epoch.Format(time.RFC3339Nano) {
		t.Errorf("Created %q, want %q", ins.Created, imagetest.Epoch.Format(time.RFC3339Nano))
	}
	if !slices.Equal(ins.Config.Entrypoint, cfg.Entrypoint) || !slices.Equal(ins.Config.Cmd, cfg.Cmd) ||
		!slices.Equal(ins.Config.Env, cfg.Env) || ins.Config.WorkingDir != cfg.WorkingDir ||
		ins.Config.Labels["org.example.team"] != "berth" {
		t.Errorf("Config %+v, want %+v", ins.Config, cfg)
	}
	if ins.Size <= 0 || ins.Descriptor.Digest != l.manDesc.Digest || ins.GraphDriver.Data["snapshot"] != l.chains()[2] {
		t.Errorf("Size %d, Descriptor %s, GraphDriver %v", ins.Size, ins.Descriptor.Digest, ins.GraphDriver)
	}
	if got := c.ok("run", "--rm", ref); got != "hello\n" {
		t.Errorf("the image's entrypoint and cmd say %q", got)
	}
	// By ID, inspect gives the same image.
	if byID := c.inspect(shortHex(l.manifest.Config.Digest)); byID.ID != ins.ID {
		t.Errorf("inspect by ID gave %s", byID.ID)
	}

	out := c.ok("image", "history", "--no-trunc", ref)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1+len(l.config.History) {
		t.Fatalf("history has %d lines for %d entries:\n%s", len(lines), len(l.config.History), out)
	}
	if !strings.HasPrefix(lines[0], "IMAGE") || !strings.Contains(lines[0], "CREATED BY") {
		t.Errorf("history header %q", lines[0])
	}
	for i, line := range lines[1:] {
		h := l.config.History[len(l.config.History)-1-i] // newest first
		wantID := "<missing>"
		if i == 0 {
			wantID = l.manifest.Config.Digest.String() // --no-trunc: docker's full ID
		}
		size := progress.HumanSize(l.manifest.Layers[len(l.manifest.Layers)-1-i].Size)
		if !strings.HasPrefix(line, wantID+" ") || !strings.Contains(line, h.CreatedBy) ||
			!strings.Contains(line, " "+size+" ") || !strings.HasSuffix(strings.TrimSpace(line), h.Comment) {
			t.Errorf("history line %d %q, want id %s, %q, size %s, comment %q", i, line, wantID, h.CreatedBy, size, h.Comment)
		}
	}
	r := c.run(nil, "image", "inspect", "nosuch")
	if r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "no such image: nosuch") {
		t.Errorf("inspect of a missing image: exit %d, %s", r.code, r.stderr)
	}
	t.Logf("inspect nosuch: %s", r.stderr)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
