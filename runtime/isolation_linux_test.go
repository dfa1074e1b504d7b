package runtime_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestIsolation runs the helper as the container's PID 1 with the default
// spec plus extra settings and checks each of them from the inside.
func TestIsolation(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	s := b.spec
	s.Hostname = "isolated"
	s.Domainname = "example.test"
	s.Process.Cwd = "/tmp"
	s.Process.Env = append(s.Process.Env, "BERTH_TEST=1")
	umask := uint32(0o027)
	s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{20, 30}, Umask: &umask}
	caps := []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"}
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: caps, Permitted: caps, Effective: caps, Inheritable: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"},
	}
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 800}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 0}}
	oom := 500
	s.Process.OOMScoreAdj = &oom
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "data"), []byte("from the host"), 0o644)
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: hostDir, Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1m", "mode=1777"}},
	)

	f := e.facts(b, "t-iso", "/dev/null", "/dev/zero", "/dev/fuse", "/dev/fd", "/dev/stdin", "/dev/ptmx",
		"/proc/kcore", "/proc/keys", "/proc/acpi", "/proc/sys/kernel/hostname", "/data/data", "/data", "/", "/scratch",
		"/proc/sysrq-trigger", "sysctl:net.ipv4.ip_forward", "sysctl:kernel.shmmax")

	t.Run("pid 1", func(t *testing.T) {
		if f.Pid != 1 || f.PPid != 0 {
			t.Errorf("pid %d ppid %d, want 1 0", f.Pid, f.PPid)
		}
	})
	t.Run("namespaces", func(t *testing.T) {
		for _, ns := range []string{"mnt", "pid", "net", "ipc", "uts", "cgroup"} {
			host, _ := os.Readlink("/proc/self/ns/" + ns)
			if f.Namespaces[ns] == "" || f.Namespaces[ns] == host {
				t.Errorf("%s namespace %q, host %q: not a new one", ns, f.Namespaces[ns], host)
			}
		}
		if host, _ := os.Readlink("/proc/self/ns/user"); f.Namespaces["user"] != host {
			t.Errorf("user namespace changed without asking: %q vs %q", f.Namespaces["user"], host)
		}
	})
	t.Run("uts", func(t *testing.T) {
		if f.Hostname != "isolated" || f.Domainname != "example.test" {
			t.Errorf("hostname %q domainname %q", f.Hostname, f.Domainname)
		}
	})
	t.Run("user", func(t *testing.T) {
		checkIDs(t, f, 1000, 1000, 20, 30)
		if f.Umask != 0o027 {
			t.Errorf("umask %o", f.Umask)
		}
	})
	t.Run("process", func(t *testing.T) {
		if f.Cwd != "/tmp" {
			t.Errorf("cwd %q", f.Cwd)
		}
		if !slices.Contains(f.Env, "BERTH_TEST=1") || !slices.Contains(f.Env, "HOME=/") {
			t.Errorf("env %v: want BERTH_TEST=1 and HOME=/ (uid 1000 has no passwd entry)", f.Env)
		}
		// The helper's Go runtime raises its own soft NOFILE limit: check the hard one here.
		if f.Rlimits["NOFILE"][1] != 800 || f.Rlimits["CORE"] != [2]uint64{0, 0} {
			t.Errorf("rlimits %v", f.Rlimits)
		}
		if f.OOMScoreAdj != "500" {
			t.Errorf("oom_score_adj %q", f.OOMScoreAdj)
		}
		if f.Status["NoNewPrivs"] != "1" {
			t.Errorf("NoNewPrivs %q", f.Status["NoNewPrivs"])
		}
		// Only stdio reaches the program; the rest are the helper's own (Go's
		// poller, its cgroup CPU limit files, the directory it lists).
		for fd, what := range f.FDs {
			own := what == "" || strings.HasPrefix(what, "anon_inode:") || strings.HasPrefix(what, "/proc/") ||
				strings.HasPrefix(what, "/sys/fs/cgroup/")
			if fd > 2 && !own {
				t.Errorf("fd %d -> %s leaked into the container", fd, what)
			}
		}
		if f.SessionKeyring != "" && !strings.HasSuffix(f.SessionKeyring, ";t-iso") {
			t.Errorf("session keyring %q, want the container's own", f.SessionKeyring)
		}
	})
	t.Run("capabilities", func(t *testing.T) {
		// CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10. A non-root
		// user keeps across execve only its ambient set (CAP_KILL).
		want := map[string]string{
			"CapBnd": "0000000000000421", "CapPrm": "0000000000000020", "CapEff": "0000000000000020",
			"CapInh": "0000000000000020", "CapAmb": "0000000000000020",
		}
		for k, v := range want {
			if f.Status[k] != v {
				t.Errorf("%s = %s, want %s", k, f.Status[k], v)
			}
		}
	})
	t.Run("mounts", func(t *testing.T) {
		for point, typ := range map[string]string{
			"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue",
			"/sys": "sysfs", "/scratch": "tmpfs", "/sys/fs/cgroup": "tmpfs",
		} {
			m, ok := f.mount(point)
			if !ok || m.Type != typ {
				t.Errorf("%s: mount %+v, want type %s", point, m, typ)
			}
		}
		if m, _ := f.mount("/scratch"); !strings.Contains(m.Options, "nosuid") || !strings.Contains(m.Super, "size=1024k") {
			t.Errorf("/scratch options %q super %q", m.Options, m.Super)
		}
		if m, _ := f.mount("/sys"); !strings.HasPrefix(m.Options, "ro") {
			t.Errorf("/sys not read-only: %q", m.Options)
		}
		// The host's mounts are gone (pivot_root and the old root unmounted).
		for _, m := range f.Mounts {
			if strings.HasPrefix(m.Point, "/tmp/") || strings.HasPrefix(m.Point, "/work") {
				t.Errorf("host mount visible in the container: %+v", m)
			}
		}
	})
	t.Run("files", func(t *testing.T) {
		file := f.Files
		if d := file["/dev/null"]; d.Mode != "crw-rw-rw-" || d.Major != 1 || d.Minor != 3 {
			t.Errorf("/dev/null %+v", d)
		}
		if d := file["/dev/zero"]; d.Major != 1 || d.Minor != 5 {
			t.Errorf("/dev/zero %+v", d)
		}
		if d := file["/dev/fuse"]; d.Major != 10 || d.Minor != 229 || !strings.HasPrefix(d.Mode, "c") {
			t.Errorf("/dev/fuse (spec device) %+v", d)
		}
		if d := file["/dev/fd"]; d.Link != "/proc/self/fd" {
			t.Errorf("/dev/fd %+v", d)
		}
		if d := file["/dev/stdin"]; d.Link != "/proc/self/fd/0" {
			t.Errorf("/dev/stdin %+v", d)
		}
		if d := file["/dev/ptmx"]; d.Link != "pts/ptmx" {
			t.Errorf("/dev/ptmx %+v", d)
		}
		// Masked: /proc/kcore and /proc/keys read as empty, /proc/acpi is an empty dir.
		for _, p := range []string{"/proc/kcore", "/proc/keys"} {
			if d := file[p]; d.Exists && d.ReadLen != 0 {
				t.Errorf("%s not masked: read %d bytes", p, d.ReadLen)
			}
		}
		if d := file["/proc/acpi"]; d.Exists && (d.ReadLen != 0 || d.WriteErr == "") {
			t.Errorf("/proc/acpi not masked: %+v", d)
		}
		// Read-only paths and root.
		if d := file["/proc/sys/kernel/hostname"]; d.WriteErr == "" {
			t.Errorf("/proc/sys is writable")
		}
		if d := file["/"]; d.WriteErr == "" {
			t.Errorf("read-only root is writable")
		}
		if d := file["/data/data"]; d.ReadLen != len("from the host") || d.WriteErr == "" {
			t.Errorf("ro bind mount: %+v", d)
		}
		if d := file["/scratch"]; d.WriteErr != "" {
			t.Errorf("tmpfs not writable: %s", d.WriteErr)
		}
	})
	t.Run("sysctl", func(t *testing.T) {
		if f.Sysctls["net.ipv4.ip_forward"] != "1" || f.Sysctls["kernel.shmmax"] != "123456789" {
			t.Errorf("sysctls %v", f.Sysctls)
		}
		host, _ := os.ReadFile("/proc/sys/kernel/shmmax")
		if strings.TrimSpace(string(host)) == "123456789" {
			t.Errorf("sysctl leaked to the host")
		}
	})
}

// TestRootUser checks root inside with the default spec: the capabilities
// it asks for, HOME from /etc/passwd, and no_new_privs.
func TestRootUser(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	f := e.facts(b, "t-root")
	if f.UID != 0 || !slices.Contains(f.Env, "HOME=/root") {
		t.Errorf("uid %d env %v", f.UID, f.Env)
	}
	// CAP_KILL(5), CAP_NET_BIND_SERVICE(10), CAP_AUDIT_WRITE(29)
	if f.Status["CapEff"] != "0000000020000420" || f.Status["CapBnd"] != "0000000020000420" {
		t.Errorf("caps %v", f.Status)
	}
	if f.Rlimits["NOFILE"] != [2]uint64{1024, 1024} {
		t.Errorf("NOFILE %v", f.Rlimits["NOFILE"])
	}
	// The soft limit as a C program sees it (the Go helper raises its own).
	b.spec.Process.Args = []string{"sh", "-c", "ulimit -n; ulimit -Hn"}
	b.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 800}}
	b.save(t)
	e.cleanup("t-rlimit")
	if out := e.ok("run", "--bundle", b.dir, "t-rlimit"); out != "512\n800\n" {
		t.Errorf("ulimit -n / -Hn: %q", out)
	}
}

// TestRootfsPropagation checks that rootfsPropagation reaches the container's
// root: by default it is a slave of the host's mounts (as runc makes it),
// rprivate cuts it off, rshared makes it a peer.
func TestRootfsPropagation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ prop, want, notWant string }{
		{"", "master:", "shared:"},
		{"rprivate", "", "master:"},
		{"rshared", "shared:", ""},
	} {
		t.Run("propagation "+tc.prop, func(t *testing.T) {
			// The host here may have no shared mounts at all (no systemd):
			// put the bundle on a shared tmpfs of its own.
			dir := t.TempDir()
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=755"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
			if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
				t.Fatal(err)
			}
			b := newBundleIn(t, dir)
			b.spec.Linux.RootfsPropagation = tc.prop
			f := e.facts(b, "t-prop"+tc.prop)
			root, ok := f.mount("/")
			if !ok {
				t.Fatal("no / mount")
			}
			if tc.want != "" && !strings.Contains(root.Optional, tc.want) {
				t.Errorf("rootfsPropagation %q: / has %q, want %s", tc.prop, root.Optional, tc.want)
			}
			if tc.notWant != "" && strings.Contains(root.Optional, tc.notWant) {
				t.Errorf("rootfsPropagation %q: / has %q, must not have %s", tc.prop, root.Optional, tc.notWant)
			}
		})
	}
}
