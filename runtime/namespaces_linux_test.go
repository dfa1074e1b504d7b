package runtime_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/gate"
)

// openToAll makes dir and its parents up to the test's temporary root
// searchable by everyone: a container root mapped to an unprivileged host
// uid has to reach its rootfs before pivot_root.
func openToAll(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUserNamespace(t *testing.T) {
	gate.Namespace(t, "user")
	e := newEnv(t)
	b := newBundle(t)
	openToAll(t, b.dir)
	b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	b.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	b.spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}

	f := e.facts(b, "t-userns", "/dev/null", "/bin/busybox")
	if f.UID != 0 || f.GID != 0 || f.EUID != 0 {
		t.Errorf("ids inside %d/%d/%d, want root", f.UID, f.EUID, f.GID)
	}
	if host := nsLink(t, os.Getpid(), "user"); f.Namespaces["user"] == "" || f.Namespaces["user"] == host {
		t.Errorf("user namespace %q, host's %q", f.Namespaces["user"], host)
	}
	// mknod is denied in a user namespace: /dev/null is the host's, bound.
	if d := f.Files["/dev/null"]; d.Mode != "crw-rw-rw-" || d.Major != 1 || d.Minor != 3 || d.WriteErr != "" {
		t.Errorf("/dev/null %+v", d)
	}
	// Host root is not mapped: the rootfs reads, but is not writable as root.
	if d := f.Files["/bin/busybox"]; !d.Exists || d.ReadErr != "" || d.WriteErr == "" {
		t.Errorf("/bin/busybox (owned by unmapped host root) %+v", d)
	}

	b.spec.Process.Args = []string{"sh", "-c", "cat /proc/self/uid_map; cat /proc/self/gid_map; id -u; echo x > /dev/null && echo null ok"}
	b.save(t)
	e.cleanup("t-userns-map")
	out := e.ok("run", "--bundle", b.dir, "t-userns-map")
	got := strings.Join(strings.Fields(out), " ")
	if want := "0 100000 65536 0 100000 65536 0 null ok"; got != want {
		t.Errorf("uid_map, gid_map, id -u: %q, want %q", got, want)
	}

	// exec joins the user namespace too; its ids are the container's.
	const id = "t-userns-exec"
	pid := e.startSleeper(b, id)
	if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); !strings.Contains(string(st), "Uid:\t100000\t") {
		t.Errorf("container init is not host uid 100000:\n%s", st)
	}
	ef := e.execFacts(id, "--user", "1000:1000")
	if ef.Namespaces["user"] != nsLink(t, pid, "user") || ef.UID != 1000 || ef.GID != 1000 {
		t.Errorf("exec'd process: user namespace %q (container's %q), uid %d gid %d", ef.Namespaces["user"], nsLink(t, pid, "user"), ef.UID, ef.GID)
	}
}

func TestJoinNamespacesByPath(t *testing.T) {
	e := newEnv(t)
	a := newBundle(t)
	a.spec.Hostname = "alpha"
	pidA := e.startSleeper(a, "t-join-a")

	b := newBundle(t)
	b.spec.Hostname = "" // keep A's
	for i, ns := range b.spec.Linux.Namespaces {
		switch ns.Type {
		case specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace:
			b.spec.Linux.Namespaces[i].Path = "/proc/" + strconv.Itoa(pidA) + "/ns/" + nsNameOf(ns.Type)
		}
	}
	f := e.facts(b, "t-join-b")
	for _, ns := range []string{"net", "ipc", "uts"} {
		if want := nsLink(t, pidA, ns); f.Namespaces[ns] != want {
			t.Errorf("%s namespace %q, want A's %q", ns, f.Namespaces[ns], want)
		}
	}
	// The others are B's own.
	for _, ns := range []string{"pid", "mnt"} {
		if f.Namespaces[ns] == nsLink(t, pidA, ns) {
			t.Errorf("%s namespace shared with A without asking", ns)
		}
	}
	if f.Hostname != "alpha" {
		t.Errorf("hostname %q, want A's", f.Hostname)
	}
}

func nsNameOf(t specs.LinuxNamespaceType) string {
	switch t {
	case specs.NetworkNamespace:
		return "net"
	case specs.MountNamespace:
		return "mnt"
	}
	return string(t)
}

func TestTimeNamespace(t *testing.T) {
	gate.Namespace(t, "time")
	hostUp, _ := os.ReadFile("/proc/uptime")
	if h, _ := strconv.ParseFloat(strings.Fields(string(hostUp))[0], 64); h >= 86400*300 {
		t.Skipf("host uptime %vs is too close to the offset to tell them apart", h)
	}
	e := newEnv(t)
	b := newBundle(t, "cat", "/proc/uptime")
	b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
	b.spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
		"boottime":  {Secs: 86400 * 365},
		"monotonic": {Secs: 86400},
	}
	b.save(t)
	e.cleanup("t-timens")
	out := e.ok("run", "--bundle", b.dir, "t-timens")
	fields := strings.Fields(out)
	if len(fields) != 2 {
		t.Fatalf("/proc/uptime: %q", out)
	}
	up, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || up < 86400*365 {
		t.Errorf("uptime in the container %q (%v), want more than a year", fields[0], err)
	}

	// An exec'd process joins the time namespace.
	const id = "t-timens-exec"
	pid := e.startSleeper(b, id)
	out = e.ok("exec", id, "cat", "/proc/uptime")
	if up, err := strconv.ParseFloat(strings.TrimSpace(strings.SplitN(out, " ", 2)[0]), 64); err != nil || up < 86400*365 {
		t.Errorf("uptime of an exec'd process %q, want more than a year", out)
	}
	if l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/time"); l == nsLink(t, os.Getpid(), "time") {
		t.Errorf("container init in the host's time namespace")
	}
}

func TestCgroupNamespace(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "cat", "/proc/self/cgroup")
	b.save(t)
	e.cleanup("t-cgns")
	out := strings.TrimSpace(e.ok("run", "--bundle", b.dir, "t-cgns"))
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("in a cgroup namespace /proc/self/cgroup shows %q, want the root", l)
		}
	}

	// Without one, the container sees its cgroup's path on the host.
	dropNamespace(b, specs.CgroupNamespace)
	b.save(t)
	const id = "t-no-cgns"
	e.cleanup(id)
	out = e.ok("run", "--bundle", b.dir, id)
	if !strings.Contains(out, ":/"+id+"\n") {
		t.Errorf("without a cgroup namespace /proc/self/cgroup is\n%s\nwant paths ending in /%s", out, id)
	}
}

func TestHostNetworkNamespace(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	dropNamespace(b, specs.NetworkNamespace)
	f := e.facts(b, "t-hostnet")
	if host := nsLink(t, os.Getpid(), "net"); f.Namespaces["net"] != host {
		t.Errorf("net namespace %q, want the host's %q", f.Namespaces["net"], host)
	}
	if host := nsLink(t, os.Getpid(), "uts"); f.Namespaces["uts"] == host {
		t.Errorf("uts namespace is the host's")
	}
}

func TestBadNamespacePath(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "true")
	for i, ns := range b.spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			b.spec.Linux.Namespaces[i].Path = "/nonexistent/ns"
		}
	}
	b.save(t)
	const id = "t-bad-nspath"
	e.fails("/nonexistent/ns", "create", "--bundle", b.dir, id)
	checkNoLeftovers(t, e.root, id)

	// A file that exists but is no namespace.
	for i, ns := range b.spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			b.spec.Linux.Namespaces[i].Path = filepath.Join(b.dir, "config.json")
		}
	}
	b.save(t)
	e.fails("not a namespace file", "create", "--bundle", b.dir, id)
	checkNoLeftovers(t, e.root, id)

	// A namespace of another type: setns refuses it in the C stage.
	uts := "/proc/" + strconv.Itoa(os.Getpid()) + "/ns/uts"
	for i, ns := range b.spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			b.spec.Linux.Namespaces[i].Path = uts
		}
	}
	b.save(t)
	r := e.fails(uts, "create", "--bundle", b.dir, id)
	if !strings.Contains(r.stderr, "net") || !strings.Contains(strings.ToLower(r.stderr), "invalid argument") {
		t.Errorf("error %q does not say which namespace failed and why", r.stderr)
	}
	checkNoLeftovers(t, e.root, id)
}
