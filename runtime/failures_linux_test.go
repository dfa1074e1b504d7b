package runtime_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/oci"
)

// TestCreateErrors: bad input fails create with a clear error and leaves
// nothing behind.
func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		change func(b *bundle)
		want   []string
	}{
		{"invalid json", func(b *bundle) {
			os.WriteFile(filepath.Join(b.dir, oci.ConfigFile), []byte(`{"ociVersion": "1.0.2", `), 0o644)
		}, []string{"parse config.json"}},
		{"no config.json", func(b *bundle) {
			os.Remove(filepath.Join(b.dir, oci.ConfigFile))
		}, []string{"JSON specification file config.json not found"}},
		{"missing rootfs", func(b *bundle) {
			b.spec.Root.Path = "no-such-rootfs"
			b.save(t)
		}, []string{"rootfs (" + "BUNDLE/no-such-rootfs) does not exist"}},
		{"empty args", func(b *bundle) {
			b.spec.Process.Args = nil
			b.save(t)
		}, []string{"args must not be empty"}},
		{"relative cwd", func(b *bundle) {
			b.spec.Process.Cwd = "tmp"
			b.save(t)
		}, []string{`cwd "tmp"`, "absolute path"}},
		{"unknown namespace type", func(b *bundle) {
			b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			b.save(t)
		}, []string{`"bogus"`, "unknown namespace type"}},
		{"sysctl not namespaced", func(b *bundle) {
			b.spec.Linux.Sysctl = map[string]string{"kernel.panic": "1"}
			b.save(t)
		}, []string{`sysctl "kernel.panic" is not in a separate kernel namespace`}},
		{"net sysctl without net namespace", func(b *bundle) {
			dropNamespace(b, specs.NetworkNamespace)
			b.spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
			b.save(t)
		}, []string{`sysctl "net.ipv4.ip_forward" is not allowed as it conflicts with the host's net namespace`}},
		{"hostname without uts namespace", func(b *bundle) {
			dropNamespace(b, specs.UTSNamespace)
			b.save(t)
		}, []string{"unable to set hostname", "without a private UTS namespace"}},
		{"executable not found", func(b *bundle) {
			b.spec.Process.Args = []string{"no-such-program"}
			b.save(t)
		}, []string{`"no-such-program"`, "executable file not found in $PATH"}},
		{"executable not executable", func(b *bundle) {
			b.spec.Process.Args = []string{"/etc/passwd"}
			b.save(t)
		}, []string{"/etc/passwd", "permission denied"}},
		{"bind source missing", func(b *bundle) {
			b.spec.Mounts = append(b.spec.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/no/such/source", Options: []string{"rbind"}})
			b.save(t)
		}, []string{"/no/such/source", "/data", "no such file or directory"}},
		{"unknown rlimit", func(b *bundle) {
			b.spec.Process.Rlimits = append(b.spec.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1})
			b.save(t)
		}, []string{"RLIMIT_BOGUS"}},
		{"no mount namespace", func(b *bundle) {
			dropNamespace(b, specs.MountNamespace)
			b.save(t)
		}, []string{"mount namespace is required"}},
		{"user namespace without mappings", func(b *bundle) {
			b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			b.save(t)
		}, []string{"user namespace enabled, but no uid or gid mappings found"}},
		// A missing cwd is made (as runc does); one under a file cannot be.
		{"cwd under a file", func(b *bundle) {
			b.spec.Process.Cwd = "/helper/sub"
			b.save(t)
		}, []string{"create cwd /helper/sub"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t, "/helper", "sleep")
			tc.change(b)
			id := "t-bad-" + strings.ReplaceAll(tc.name, " ", "-")
			r := e.berth("create", "--bundle", b.dir, id)
			if r.code == 0 {
				e.berth("delete", "--force", id)
				t.Fatalf("create succeeded, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "BUNDLE", b.dir)
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
			checkNoLeftovers(t, e.root, id)
			if out := e.ok("list", "-q"); strings.TrimSpace(out) != "" {
				t.Errorf("list after a failed create: %q", out)
			}
		})
	}
}

func TestCLIErrors(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "true")
	e.fails("invalid container ID format", "create", "--bundle", b.dir, "bad/id")
	e.fails("invalid container ID format", "create", "--bundle", b.dir, "..")
	e.fails("invalid container ID format", "state", "bad/id")
	e.fails("systemd cgroup flag passed", "--systemd-cgroup", "create", "--bundle", b.dir, "t-systemd")
	checkNoLeftovers(t, e.root, "t-systemd")
	e.fails("invalid log-format", "--log-format", "yaml", "list")

	// With --log and --log-format json a failure is also a JSON line in the log.
	b.spec.Root.Path = "gone"
	b.save(t)
	log := filepath.Join(t.TempDir(), "berth.log")
	e.fails("does not exist", "--log", log, "--log-format", "json", "create", "--bundle", b.dir, "t-log")
	checkNoLeftovers(t, e.root, "t-log")
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for s := bufio.NewScanner(strings.NewReader(string(data))); s.Scan(); {
		var l map[string]any
		if err := json.Unmarshal(s.Bytes(), &l); err != nil {
			t.Errorf("log line %q is not JSON: %v", s.Text(), err)
			continue
		}
		if l["level"] == "error" && strings.Contains(l["msg"].(string), "rootfs ("+b.dir+"/gone) does not exist") {
			found = true
		}
	}
	if !found {
		t.Errorf("no error line in the log:\n%s", data)
	}
}

func TestSpecCommand(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	e.ok("spec", "--bundle", dir)
	s, err := oci.LoadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root == nil || s.Root.Path != "rootfs" || s.Process == nil || len(s.Process.Args) == 0 || !s.Process.Terminal {
		t.Errorf("spec: %+v", s)
	}
	if _, ok := specNamespace(s, specs.UserNamespace); ok {
		t.Errorf("default spec has a user namespace")
	}
	e.fails("File config.json exists. Remove it first", "spec", "--bundle", dir)

	dir = t.TempDir()
	e.ok("spec", "--rootless", "-b", dir)
	if s, err = oci.LoadSpec(dir); err != nil {
		t.Fatal(err)
	}
	if _, ok := specNamespace(s, specs.UserNamespace); !ok || len(s.Linux.UIDMappings) != 1 || len(s.Linux.GIDMappings) != 1 ||
		s.Linux.UIDMappings[0].ContainerID != 0 || s.Linux.UIDMappings[0].HostID != uint32(os.Geteuid()) {
		t.Errorf("rootless spec: namespaces %v uid maps %v gid maps %v", s.Linux.Namespaces, s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
}

func specNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == typ {
			return ns, true
		}
	}
	return specs.LinuxNamespace{}, false
}

// runFacts runs `berth runtime run FLAGS --bundle B ID` with the helper's
// facts as the process and decodes them.
func (e *env) runFacts(b *bundle, id string, flags []string, paths ...string) *Facts {
	e.t.Helper()
	b.spec.Process.Args = append([]string{"/helper", "facts"}, paths...)
	b.save(e.t)
	e.cleanup(id)
	out := e.ok(append(append([]string{"run"}, flags...), "--bundle", b.dir, id)...)
	var f Facts
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		e.t.Fatalf("decode facts %q: %v", out, err)
	}
	return &f
}

func TestNoPivot(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	if err := os.WriteFile(filepath.Join(b.dir, "rootfs", "marker"), []byte("rootfs"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := e.runFacts(b, "t-nopivot", []string{"--no-pivot"}, "/marker", "/helper", "/")
	if d := f.Files["/marker"]; d.ReadLen != len("rootfs") {
		t.Errorf("/marker %+v: the rootfs is not /", d)
	}
	if d := f.Files["/"]; d.WriteErr == "" {
		t.Errorf("read-only root is writable")
	}
	if _, ok := f.mount("/"); !ok {
		t.Errorf("no mount at /: %+v", f.Mounts)
	}
	if m, ok := f.mount("/proc"); !ok || m.Type != "proc" {
		t.Errorf("/proc: %+v", m)
	}
	for _, m := range f.Mounts {
		if strings.HasPrefix(m.Point, "/work") || strings.HasPrefix(m.Point, b.dir) {
			t.Errorf("host mount visible in the container: %+v", m)
		}
	}
}

// runWithFiles runs berth with extra open files as fds 3, 4, ...
func (e *env) runWithFiles(extra []*os.File, args ...string) result {
	e.t.Helper()
	dir := e.t.TempDir()
	out, _ := os.Create(filepath.Join(dir, "stdout"))
	defer out.Close()
	errf, _ := os.Create(filepath.Join(dir, "stderr"))
	defer errf.Close()
	cmd := exec.Command(berthBin, append([]string{"runtime", "--root", e.root}, args...)...)
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = out, errf, extra
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	o, _ := os.ReadFile(out.Name())
	se, _ := os.ReadFile(errf.Name())
	return result{string(o), string(se), code}
}

func TestPreserveFDs(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "/helper", "cat-fd", "3")
	file := filepath.Join(t.TempDir(), "passed")
	if err := os.WriteFile(file, []byte("passed on as fd 3"), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	e.cleanup("t-preserve")
	r := e.runWithFiles([]*os.File{open()}, "run", "--preserve-fds", "1", "--bundle", b.dir, "t-preserve")
	if r.code != 0 || r.stdout != "passed on as fd 3" {
		t.Errorf("--preserve-fds 1: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	// Without it fd 3 is closed. (Checked with the shell: the helper's Go
	// runtime opens files of its own from fd 3 up.)
	b.spec.Process.Args = []string{"sh", "-c", "cat <&3"}
	b.save(t)
	e.cleanup("t-no-preserve")
	r = e.runWithFiles([]*os.File{open()}, "run", "--bundle", b.dir, "t-no-preserve")
	if r.code == 0 || strings.Contains(r.stdout, "passed on") {
		t.Errorf("without --preserve-fds fd 3 reached the container: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	// The same for exec.
	b.spec.Process.Args = []string{"/helper", "sleep"}
	b.save(t)
	e.cleanup("t-preserve-exec")
	e.ok("run", "-d", "--bundle", b.dir, "t-preserve-exec")
	r = e.runWithFiles([]*os.File{open()}, "exec", "--preserve-fds", "1", "t-preserve-exec", "/helper", "cat-fd", "3")
	if r.code != 0 || r.stdout != "passed on as fd 3" {
		t.Errorf("exec --preserve-fds 1: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = e.runWithFiles([]*os.File{open()}, "exec", "t-preserve-exec", "sh", "-c", "cat <&3")
	if r.code == 0 || strings.Contains(r.stdout, "passed on") {
		t.Errorf("exec without --preserve-fds: fd 3 reached the process: %q", r.stdout)
	}
}

func TestNoNewKeyring(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	f := e.runFacts(b, "t-keyring", nil)
	if f.SessionKeyring == "" {
		t.Skip("no session keyring in the container (keyrings not available)")
	}
	if !strings.HasSuffix(f.SessionKeyring, ";t-keyring") {
		t.Errorf("session keyring %q, want the container's own", f.SessionKeyring)
	}
	f = e.runFacts(b, "t-nokeyring", []string{"--no-new-keyring"})
	if strings.HasSuffix(f.SessionKeyring, ";t-nokeyring") {
		t.Errorf("--no-new-keyring: session keyring %q is a new one", f.SessionKeyring)
	}
}

func TestMountOrder(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "file"), []byte("bound"), 0o644)
	b.spec.Mounts = append(b.spec.Mounts,
		specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
		specs.Mount{Destination: "/mnt/sub", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
		// A file onto a path that does not exist yet, through a "..".
		specs.Mount{Destination: "/etc/../etc/resolv.conf", Type: "bind", Source: filepath.Join(src, "file"), Options: []string{"bind", "ro"}},
	)
	f := e.facts(b, "t-mount-order", "/mnt/sub/file", "/mnt", "/etc/resolv.conf")
	if d := f.Files["/etc/resolv.conf"]; d.ReadLen != len("bound") || !strings.HasPrefix(d.Mode, "-") {
		t.Errorf("file bind mount /etc/resolv.conf %+v", d)
	}
	if m, ok := f.mount("/mnt"); !ok || m.Type != "tmpfs" {
		t.Errorf("/mnt: %+v", m)
	}
	if _, ok := f.mount("/mnt/sub"); !ok {
		t.Errorf("no mount at /mnt/sub")
	}
	if d := f.Files["/mnt/sub/file"]; d.ReadLen != len("bound") || d.WriteErr == "" {
		t.Errorf("/mnt/sub/file %+v", d)
	}
	if d := f.Files["/mnt"]; d.WriteErr != "" {
		t.Errorf("/mnt tmpfs not writable: %s", d.WriteErr)
	}
}

// TestMountSymlinkEscape: a mount destination that is a symlink pointing out
// of the rootfs is resolved inside it.
func TestMountSymlinkEscape(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	outside, err := os.MkdirTemp("", "outside-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(outside) })
	if err := os.Symlink(outside, filepath.Join(b.dir, "rootfs", "evil")); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "secret"), []byte("mounted"), 0o644)
	b.spec.Mounts = append(b.spec.Mounts, specs.Mount{Destination: "/evil", Type: "bind", Source: src, Options: []string{"rbind"}})
	hostMounts, _ := os.ReadFile("/proc/self/mountinfo")

	f := e.facts(b, "t-escape", "/evil/secret", outside+"/secret")
	// Inside, the link leads to the mount, made at <rootfs><outside>.
	if d := f.Files["/evil/secret"]; d.ReadLen != len("mounted") {
		t.Errorf("/evil/secret %+v", d)
	}
	if _, ok := f.mount(outside); !ok {
		t.Errorf("no mount at %s in the container", outside)
	}
	if fi, err := os.Stat(filepath.Join(b.dir, "rootfs", outside)); err != nil || !fi.IsDir() {
		t.Errorf("mountpoint not made inside the rootfs: %v", err)
	}
	// The host's directory got nothing.
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("host directory %s changed: %v", outside, ents)
	}
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(hostMounts), " "+outside+" ") && strings.Contains(string(after), " "+outside+" ") {
		t.Errorf("%s is a mount point on the host", outside)
	}
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	rootfs := filepath.Join(b.dir, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "secrets"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "secrets", "key"), []byte("top secret"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc", "shadow"), []byte("root:x:::"), 0o644)
	b.spec.Root.Readonly = false
	b.spec.Linux.MaskedPaths = append(b.spec.Linux.MaskedPaths, "/etc/shadow", "/secrets", "/no/such/masked")
	b.spec.Linux.ReadonlyPaths = append(b.spec.Linux.ReadonlyPaths, "/no/such/readonly", "/etc")
	f := e.facts(b, "t-masked", "/etc/shadow", "/secrets", "/secrets/key", "/etc", "/tmp")
	if d := f.Files["/etc/shadow"]; d.ReadLen != 0 || !strings.HasPrefix(d.Mode, "c") || d.Major != 1 || d.Minor != 3 {
		t.Errorf("masked file /etc/shadow %+v, want /dev/null over it", d)
	}
	if d := f.Files["/secrets"]; d.ReadLen != 0 || d.WriteErr == "" {
		t.Errorf("masked dir /secrets %+v, want an empty read-only dir", d)
	}
	if d := f.Files["/secrets/key"]; d.Exists {
		t.Errorf("/secrets/key visible through the mask")
	}
	if d := f.Files["/etc"]; d.WriteErr == "" {
		t.Errorf("read-only path /etc is writable")
	}
	if d := f.Files["/tmp"]; d.WriteErr != "" {
		t.Errorf("/tmp not writable with a writable root: %s", d.WriteErr)
	}
	for _, p := range []string{"/no/such/masked", "/no/such/readonly"} {
		if slices.ContainsFunc(f.Mounts, func(m mountInfo) bool { return m.Point == p }) {
			t.Errorf("missing path %s was created and mounted", p)
		}
	}
}
