package runtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/oci"
	"github.com/berth-project/berth/runtime"
)

// Binaries built once for all tests.
var (
	berthBin  string
	helperBin string
	busybox   = "/bin/busybox"
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // every test skips itself with "needs root"
	}
	dir, err := os.MkdirTemp("", "berth-runtime-test")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	berthBin = filepath.Join(dir, "berth")
	helperBin = filepath.Join(dir, "helper")
	build := func(out, pkg string, env ...string) {
		// The flags of scripts/build: a static binary, as shipped.
		cmd := exec.Command("go", "build", "-tags", "osusergo,netgo", "-ldflags", "-extldflags=-static", "-o", out, pkg)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			panic(fmt.Sprintf("build %s: %v\n%s", pkg, err, b))
		}
	}
	build(berthBin, "../cmd/berth")
	build(helperBin, "./testdata/helper", "CGO_ENABLED=0")
	os.Symlink("berth", filepath.Join(dir, "berth-runtime"))
	return m.Run()
}

// env is one test's runtime state root and command runner.
type env struct {
	t    *testing.T
	root string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	gate.Root(t)
	gate.Path(t, busybox, "Debian's busybox-static")
	return &env{t: t, root: filepath.Join(t.TempDir(), "state")}
}

type result struct {
	stdout, stderr string
	code           int
}

// berth runs `berth runtime --root ROOT args...`.
func (e *env) berth(args ...string) result {
	e.t.Helper()
	return e.berthIn(nil, args...)
}

func (e *env) berthIn(stdin *os.File, args ...string) result {
	e.t.Helper()
	return runCmdIn(e.t, stdin, berthBin, append([]string{"runtime", "--root", e.root}, args...)...)
}

// ok runs berth and fails the test unless it exits 0.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.berth(args...)
	if r.code != 0 {
		e.t.Fatalf("berth %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs berth, expecting a non-zero exit and want in its stderr.
func (e *env) fails(want string, args ...string) result {
	e.t.Helper()
	r := e.berth(args...)
	if r.code == 0 {
		e.t.Fatalf("berth %s succeeded, want failure with %q", strings.Join(args, " "), want)
	}
	if !strings.Contains(r.stderr, want) {
		e.t.Fatalf("berth %s: stderr %q does not contain %q", strings.Join(args, " "), r.stderr, want)
	}
	return r
}

func (e *env) state(id string) runtime.State {
	e.t.Helper()
	var st runtime.State
	out := e.ok("state", id)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("parse state %q: %v", out, err)
	}
	return st
}

// cleanup force-deletes id when the test ends, then checks that nothing of it is left.
func (e *env) cleanup(id string) {
	e.t.Cleanup(func() {
		e.berth("delete", "--force", id)
		checkNoLeftovers(e.t, e.root, id)
	})
}

// bundle is a test bundle: a busybox rootfs with the helper at /helper.
type bundle struct {
	dir  string
	spec *specs.Spec
}

func newBundle(t *testing.T, args ...string) *bundle {
	t.Helper()
	return newBundleIn(t, t.TempDir(), args...)
}

// newBundleIn makes the bundle in dir.
func newBundleIn(t *testing.T, dir string, args ...string) *bundle {
	t.Helper()
	s, err := runtime.ExampleBundle(dir, busybox, args)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(helperBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs", "helper"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return &bundle{dir: dir, spec: s}
}

// save writes the bundle's (changed) spec to config.json.
func (b *bundle) save(t *testing.T) {
	t.Helper()
	os.Remove(filepath.Join(b.dir, oci.ConfigFile))
	if err := oci.WriteSpec(b.dir, b.spec); err != nil {
		t.Fatal(err)
	}
}

// Facts mirrors testdata/helper's output.
type Facts struct {
	Pid, PPid            int
	UID, GID, EUID, EGID int
	Groups               []int
	Hostname, Domainname string
	Cwd                  string
	Umask                int
	Env                  []string
	Status               map[string]string
	Rlimits              map[string][2]uint64
	OOMScoreAdj          string
	Namespaces           map[string]string
	Mounts               []mountInfo
	FDs                  map[int]string
	Sysctls              map[string]string
	Files                map[string]struct {
		Exists            bool
		Mode              string
		Major, Minor      uint32
		Link              string
		ReadLen           int
		ReadErr, WriteErr string
	}
	SessionKeyring string
	Stdin          string
}

// mountInfo mirrors the helper's Mount.
type mountInfo struct{ Point, Type, Source, Options, Super, Optional string }

func (f *Facts) mount(point string) (m mountInfo, ok bool) {
	for _, x := range f.Mounts {
		if x.Point == point {
			m, ok = x, true // the last one wins: it is the one on top
		}
	}
	return m, ok
}

// facts runs the helper's facts command in a container of b and decodes it.
func (e *env) facts(b *bundle, id string, extra ...string) *Facts {
	e.t.Helper()
	b.spec.Process.Args = append([]string{"/helper", "facts"}, extra...)
	b.save(e.t)
	e.cleanup(id)
	out := e.ok("run", "--bundle", b.dir, id)
	var f Facts
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		e.t.Fatalf("decode facts %q: %v", out, err)
	}
	return &f
}

// checkNoLeftovers fails if anything of container id is left: its state, a
// cgroup directory, or a process still running `berth init`.
func checkNoLeftovers(t *testing.T, root, id string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, id)); err == nil {
		t.Errorf("state directory of %s left behind", id)
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + id)
	for _, d := range dirs {
		t.Errorf("cgroup %s left behind", d)
	}
	for _, p := range berthInits(id) {
		t.Errorf("berth init process %s left behind", p)
	}
}

func runCmd(t *testing.T, bin string, args ...string) result {
	t.Helper()
	return runCmdIn(t, nil, bin, args...)
}

// runCmdIn runs bin with output to files, not pipes: a detached container
// inherits them, and a pipe would keep the command "running" until the
// container exits.
func runCmdIn(t *testing.T, stdin *os.File, bin string, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, errf
	if stdin != nil {
		cmd.Stdin = stdin
	}
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	return result{string(o), string(e), code}
}

// dropNamespace removes a namespace type from the bundle's spec.
func dropNamespace(b *bundle, typ specs.LinuxNamespaceType) {
	ns := b.spec.Linux.Namespaces[:0]
	for _, n := range b.spec.Linux.Namespaces {
		if n.Type != typ {
			ns = append(ns, n)
		}
	}
	b.spec.Linux.Namespaces = ns
}

// berthInits returns the /proc/<pid> directories of `berth init` processes
// that are container id's or still in this test process's cgroups: other
// berth users on the machine may have theirs running.
func berthInits(id string) []string {
	self, _ := os.ReadFile("/proc/self/cgroup")
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, []byte("berth\x00init\x00")) {
			continue
		}
		// Only this package's binary: other packages' tests, running at
		// the same time, have inits of their own in this cgroup.
		if exe, err := os.Readlink(filepath.Join(filepath.Dir(p), "exe")); err == nil && exe != berthBin {
			continue
		}
		cg, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cgroup"))
		if bytes.Equal(cg, self) || bytes.Contains(cg, []byte(":/"+id+"\n")) {
			out = append(out, filepath.Dir(p))
		}
	}
	return out
}

// checkIDs checks the real and effective uid and gid a process reports, and
// its supplementary groups in any order.
func checkIDs(t *testing.T, f *Facts, uid, gid int, groups ...int) {
	t.Helper()
	if f.UID != uid || f.EUID != uid || f.GID != gid || f.EGID != gid {
		t.Errorf("ids %d/%d %d/%d, want uid %d gid %d", f.UID, f.EUID, f.GID, f.EGID, uid, gid)
	}
	g := slices.Clone(f.Groups)
	slices.Sort(g)
	if !slices.Equal(g, groups) {
		t.Errorf("groups %v, want %v", f.Groups, groups)
	}
}
