package runtime_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Escape defences: each test plays the attack and checks that it fails.
// Each of them fails when the defence it names is taken out.

// TestExeOverwrite plays CVE-2019-5736: a process in the container (with
// CAP_SYS_PTRACE, so that nothing but the defence stops it) grabs the
// /proc/PID/exe of a `berth exec` init while it runs in the container, and
// once berth is gone tries to write the runtime's binary through it.
func TestExeOverwrite(t *testing.T) {
	e := newEnv(t)
	// A copy of berth, so that a failing defence can't break the other tests.
	bin := filepath.Join(t.TempDir(), "berth")
	data, err := os.ReadFile(berthBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	run := func(args ...string) result {
		return runCmd(t, bin, append([]string{"runtime", "--root", e.root}, args...)...)
	}

	b := newBundle(t, "/helper", "grab-exe")
	caps := b.spec.Process.Capabilities
	caps.Bounding = append(caps.Bounding, "CAP_SYS_PTRACE")
	caps.Effective = append(caps.Effective, "CAP_SYS_PTRACE")
	caps.Permitted = append(caps.Permitted, "CAP_SYS_PTRACE")
	b.save(t)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	e.cleanup("t-exe")
	cmd := exec.Command(bin, "runtime", "--root", e.root, "run", "-d", "--bundle", b.dir, "t-exe")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Each exec brings a berth init into the container for a few
	// milliseconds; the attacker polls /proc until it catches one.
	var res struct {
		Grabbed, OpenErr, WriteErr string
		Wrote                      bool
	}
	for i := 0; i < 50; i++ {
		if r := run("exec", "t-exe", "true"); r.code != 0 && !strings.Contains(r.stderr, "not running") {
			t.Fatalf("exec: %d %s", r.code, r.stderr)
		}
		if res.Grabbed != "" || pollUntil(300*time.Millisecond, func() bool { return fileHas(out.Name(), "}") }) {
			break
		}
	}
	if !pollUntil(20*time.Second, func() bool { return fileHas(out.Name(), "}") }) {
		t.Fatal("the attacker never reported")
	}
	got, _ := os.ReadFile(out.Name())
	if err := json.Unmarshal(bytes.TrimSpace(got), &res); err != nil {
		t.Fatalf("attacker output %q: %v", got, err)
	}
	if res.Grabbed == "" {
		t.Fatalf("the attacker never caught a berth process in the container: %s", got)
	}
	t.Logf("attacker held %q: open %q, write %q", res.Grabbed, res.OpenErr, res.WriteErr)
	if res.Wrote {
		t.Errorf("the container wrote to the runtime's binary through %s", res.Grabbed)
	}
	now, _ := os.ReadFile(bin)
	if sha256.Sum256(now) != sum {
		t.Errorf("the berth binary on the host changed")
	}
}

// pollUntil polls cond until it holds or d has passed, and says which.
func pollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func fileHas(path, s string) bool {
	b, _ := os.ReadFile(path)
	return strings.Contains(string(b), s)
}

// TestCwdOutsideContainer: a cwd through /proc/self/fd leads out of the
// container when init holds a descriptor of a host directory (CVE-2024-21626).
func TestCwdOutsideContainer(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "/helper", "facts")
	// No descriptor of berth's own may be a way out, whatever it is.
	for fd := 3; fd < 8; fd++ {
		b.spec.Process.Cwd = "/proc/self/fd/" + strconv.Itoa(fd)
		b.save(t)
		id := "t-cwd-" + strconv.Itoa(fd)
		e.cleanup(id)
		if r := e.berth("run", "--bundle", b.dir, id); r.code == 0 {
			t.Errorf("cwd %s: the container ran, in %s", b.spec.Process.Cwd, r.stdout)
		}
	}
	// A host directory passed on as fd 3: it is there, but not a place to start in.
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	b.spec.Process.Cwd = "/proc/self/fd/3"
	b.save(t)
	e.cleanup("t-cwd-host")
	r := e.runWithFiles([]*os.File{dir}, "run", "--preserve-fds", "1", "--bundle", b.dir, "t-cwd-host")
	if r.code == 0 || !strings.Contains(r.stderr, "outside the container") {
		t.Errorf("cwd through a host directory: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	// And the same for exec.
	b.spec.Process.Cwd = "/"
	b.spec.Process.Args = []string{"/helper", "sleep"}
	b.save(t)
	e.cleanup("t-cwd-exec")
	e.ok("run", "-d", "--bundle", b.dir, "t-cwd-exec")
	r = e.runWithFiles([]*os.File{dir}, "exec", "--preserve-fds", "1", "--cwd", "/proc/self/fd/3", "t-cwd-exec", "/helper", "facts")
	if r.code == 0 || !strings.Contains(r.stderr, "outside the container") {
		t.Errorf("exec --cwd through a host directory: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestProcSymlinkRefused: procfs and sysfs go where the config says, never
// through a symlink the image put there (CVE-2023-28642).
func TestProcSymlinkRefused(t *testing.T) {
	e := newEnv(t)
	for _, dir := range []string{"proc", "sys"} {
		t.Run(dir, func(t *testing.T) {
			b := newBundle(t, "true")
			rootfs := filepath.Join(b.dir, "rootfs")
			os.RemoveAll(filepath.Join(rootfs, dir))
			os.MkdirAll(filepath.Join(rootfs, "elsewhere"), 0o755)
			if err := os.Symlink("elsewhere", filepath.Join(rootfs, dir)); err != nil {
				t.Fatal(err)
			}
			id := "t-symlink-" + dir
			e.cleanup(id)
			e.fails("is a symlink", "run", "--bundle", b.dir, id)
		})
	}
}

// TestDevNullChecked: masking binds /dev/null over files; a /dev/null that
// is something else would be bound instead (CVE-2025-31133).
func TestDevNullChecked(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "true")
	zero := os.FileMode(0o666)
	b.spec.Linux.Devices = append(b.spec.Linux.Devices, specs.LinuxDevice{Path: "/dev/null", Type: "c", Major: 1, Minor: 5, FileMode: &zero})
	b.save(t)
	e.cleanup("t-null")
	e.fails("not the null device", "run", "--bundle", b.dir, "t-null")
}

// TestDevConsoleSymlink: the pty is bound over /dev/console itself, not
// wherever a symlink there points (CVE-2025-52565).
func TestDevConsoleSymlink(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "/helper", "facts", "/dev/console", "/target")
	rootfs := filepath.Join(b.dir, "rootfs")
	// No tmpfs on /dev: what the image has there is what init finds.
	var mounts []specs.Mount
	for _, m := range b.spec.Mounts {
		if m.Destination != "/dev" {
			mounts = append(mounts, m)
		}
	}
	b.spec.Mounts = mounts
	os.MkdirAll(filepath.Join(rootfs, "dev", "pts"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "target"), []byte("untouched"), 0o644)
	if err := os.Symlink("/target", filepath.Join(rootfs, "dev", "console")); err != nil {
		t.Fatal(err)
	}
	b.spec.Process.Terminal = true
	b.save(t)
	sock := listenConsole(t)
	e.cleanup("t-console")
	e.ok("create", "--console-socket", sock.path, "--bundle", b.dir, "t-console")
	buf := sock.master(t).collect()
	e.ok("start", "t-console")
	// The facts are nested JSON: wait until the whole document has come
	// through the pty, not only the first closing brace.
	var f Facts
	var decodeErr error
	var outText string
	pollUntil(10*time.Second, func() bool {
		outText = buf.String()
		start := strings.Index(outText, "{")
		if start < 0 {
			decodeErr = errors.New("no facts from the container")
			return false
		}
		decodeErr = json.NewDecoder(strings.NewReader(outText[start:])).Decode(&f)
		return decodeErr == nil
	})
	if decodeErr != nil {
		t.Fatalf("decode %q: %v", outText, decodeErr)
	}
	if d := f.Files["/dev/console"]; !strings.HasPrefix(d.Mode, "c") || d.Major != 136 {
		t.Errorf("/dev/console %+v, want the pty (c 136:N)", d)
	}
	if d := f.Files["/target"]; !strings.HasPrefix(d.Mode, "-") || d.ReadLen != len("untouched") {
		t.Errorf("/target %+v: the pty was bound over the symlink's target", d)
	}
	if _, ok := f.mount("/target"); ok {
		t.Errorf("/target is a mount point")
	}
}

// TestPrivilegeDefences: inheritable and ambient capabilities stay empty
// unless the spec asks (CVE-2022-29162), and no_new_privs keeps a setuid
// binary from raising the effective uid.
func TestPrivilegeDefences(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	rootfs := filepath.Join(b.dir, "rootfs")
	data, _ := os.ReadFile(helperBin)
	suid := filepath.Join(rootfs, "suid-helper")
	if err := os.WriteFile(suid, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(suid, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, 0o4755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	b.spec.Process.User = specs.User{UID: 1000, GID: 1000}
	for _, nnp := range []bool{false, true} {
		b.spec.Process.NoNewPrivileges = nnp
		b.spec.Process.Args = []string{"/suid-helper", "facts"}
		b.save(t)
		id := "t-suid-" + strconv.FormatBool(nnp)
		e.cleanup(id)
		var f Facts
		if err := json.Unmarshal([]byte(e.ok("run", "--bundle", b.dir, id)), &f); err != nil {
			t.Fatal(err)
		}
		if nnp && f.EUID != 1000 {
			t.Errorf("no_new_privs: a setuid-root binary ran with euid %d", f.EUID)
		}
		if !nnp && f.EUID != 0 {
			// Not a defence; shows the test would see the escalation.
			t.Errorf("without no_new_privs the setuid bit gave euid %d, want 0", f.EUID)
		}
		if f.Status["CapInh"] != "0000000000000000" || f.Status["CapAmb"] != "0000000000000000" {
			t.Errorf("nnp=%v: CapInh %s CapAmb %s, want none", nnp, f.Status["CapInh"], f.Status["CapAmb"])
		}
	}
}

// TestDevicesCgroup: the devices cgroup denies what the spec does not allow,
// even to a process that may mknod.
func TestDevicesCgroup(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	rootfs := filepath.Join(b.dir, "rootfs")
	// Nodes the image brings along: only the cgroup stands between them and the host.
	for _, n := range []struct {
		name     string
		maj, min uint32
	}{{"kmsg", 1, 11}, {"fuse", 10, 229}, {"sda", 8, 0}} {
		mode := uint32(unix.S_IFCHR)
		if n.name == "sda" {
			mode = unix.S_IFBLK
		}
		if err := unix.Mknod(filepath.Join(rootfs, n.name), mode|0o666, int(unix.Mkdev(n.maj, n.min))); err != nil {
			t.Fatal(err)
		}
	}
	caps := b.spec.Process.Capabilities
	caps.Bounding = append(caps.Bounding, "CAP_MKNOD")
	caps.Effective = append(caps.Effective, "CAP_MKNOD")
	caps.Permitted = append(caps.Permitted, "CAP_MKNOD")
	script := `for c in "mknod /tmp/sda b 8 0" "mknod /tmp/kmsg c 1 11" "open /kmsg" "open /fuse" "open /sda" "open /dev/null" "mknod /tmp/null c 1 3"; do
		echo "$c: $(/helper try $c)"; done`
	b.spec.Process.Args = []string{"sh", "-c", script}
	b.spec.Root.Readonly = false
	b.save(t)
	e.cleanup("t-devices")
	out := e.ok("run", "--bundle", b.dir, "t-devices")
	want := map[string]string{
		"mknod /tmp/sda b 8 0":   "errno 1",
		"mknod /tmp/kmsg c 1 11": "errno 1",
		"open /kmsg":             "errno 1",
		"open /fuse":             "errno 1",
		"open /sda":              "errno 1",
		"open /dev/null":         "ok",
		"mknod /tmp/null c 1 3":  "ok",
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		c, got, _ := strings.Cut(l, ": ")
		if w, ok := want[c]; ok {
			if got != w {
				t.Errorf("%s: %s, want %s", c, got, w)
			}
			delete(want, c)
		}
	}
	if len(want) > 0 {
		t.Errorf("no result for %v in %q", want, out)
	}
}

// TestSeccomp: a denied system call gets the profile's errno, in the
// container's init and in exec'd processes, with and without no_new_privs;
// allowed ones work.
func TestSeccomp(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	errno := uint(99)
	b.spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &errno},
		},
	}
	script := `echo "mkdir: $(/helper try mkdir /tmp/x)"; echo "uname: $(/helper try uname)"; grep Seccomp: /proc/self/status`
	for _, nnp := range []bool{false, true} {
		b.spec.Process.NoNewPrivileges = nnp
		b.spec.Process.Args = []string{"sh", "-c", script + "; exec /helper sleep"}
		b.save(t)
		id := "t-seccomp-" + strconv.FormatBool(nnp)
		e.cleanup(id)
		out, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(berthBin, "runtime", "--root", e.root, "run", "-d", "--bundle", b.dir, id)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			t.Fatalf("run: %v", err)
		}
		pollUntil(5*time.Second, func() bool { return fileHas(out.Name(), "Seccomp:") })
		out.Close()
		for name, text := range map[string]string{"init": readFile(t, out.Name()), "exec": e.ok("exec", id, "sh", "-c", script)} {
			if !strings.Contains(text, "mkdir: errno 99") || !strings.Contains(text, "uname: ok") {
				t.Errorf("nnp=%v %s: %q, want mkdir denied with errno 99 and uname allowed", nnp, name, text)
			}
			if !strings.Contains(text, "Seccomp:\t2") {
				t.Errorf("nnp=%v %s: no filter mode in %q", nnp, name, text)
			}
		}
	}

	// A profile that names no syscall it knows of, and one with nonsense.
	b.spec.Linux.Seccomp.Syscalls[0].Action = "SCMP_ACT_BOGUS"
	b.spec.Process.Args = []string{"true"}
	b.save(t)
	e.cleanup("t-seccomp-bad")
	e.fails("SCMP_ACT_BOGUS", "run", "--bundle", b.dir, "t-seccomp-bad")
}

// TestSeccompNotify: with SCMP_ACT_NOTIFY the listener fd and the container's
// state reach listenerPath; a notification nobody answers fails the call.
func TestSeccompNotify(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "sh", "-c", `echo "mkdir: $(/helper try mkdir /tmp/x)"`)
	path := filepath.Join(t.TempDir(), "listener.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b.spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     path,
		ListenerMetadata: "from-the-test",
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	}
	b.spec.Process.NoNewPrivileges = true
	b.save(t)
	type got struct {
		state specs.ContainerProcessState
		fds   int
		err   error
	}
	ch := make(chan got, 1)
	go func() {
		var g got
		defer func() { ch <- g }()
		conn, err := ln.AcceptUnix()
		if err != nil {
			g.err = err
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 64<<10), make([]byte, 1024)
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			g.err = err
			return
		}
		g.err = json.Unmarshal(buf[:n], &g.state)
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			fds, _ := unix.ParseUnixRights(&m)
			g.fds += len(fds)
			for _, fd := range fds {
				unix.Close(fd) // nobody answers: the call fails with ENOSYS
			}
		}
	}()
	e.cleanup("t-notify")
	out := e.ok("run", "--bundle", b.dir, "t-notify")
	g := <-ch
	if g.err != nil {
		t.Fatalf("listener: %v", g.err)
	}
	if g.fds != 1 || len(g.state.Fds) != 1 || g.state.Fds[0] != specs.SeccompFdName {
		t.Errorf("listener got %d fds, state fds %v", g.fds, g.state.Fds)
	}
	if g.state.Metadata != "from-the-test" || g.state.State.ID != "t-notify" || g.state.Pid == 0 {
		t.Errorf("listener state %+v", g.state)
	}
	if !strings.Contains(out, "mkdir: errno 38") {
		t.Errorf("unanswered notification: %q, want ENOSYS", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMountDestinationRace: while the container is built, a directory on the
// way to a mount destination keeps being swapped with a symlink that points
// out of the rootfs (CVE-2021-30465). A destination resolved once and named
// again to mount(2) then lands outside the root, and the container comes up
// without its mount; resolved and mounted through one descriptor it is
// always inside.
func TestMountDestinationRace(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	rootfs := filepath.Join(b.dir, "rootfs")
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "vol", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(rootfs, "vol-link")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(outside, "sub"), 0o755)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "marker"), []byte("mounted"), 0o644)
	b.spec.Mounts = append(b.spec.Mounts, specs.Mount{Destination: "/vol/sub", Type: "bind", Source: src, Options: []string{"rbind"}})
	// The mount's root field is its source directory, wherever it ended up
	// in the container (the swaps go on, so the name it is under may be
	// vol-link by the time it is read).
	b.spec.Process.Args = []string{"sh", "-c", "grep -c ' " + src + " ' /proc/self/mountinfo"}
	b.save(t)

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		a, l := filepath.Join(rootfs, "vol"), filepath.Join(rootfs, "vol-link")
		for {
			select {
			case <-stop:
				return
			default:
			}
			unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, l, unix.RENAME_EXCHANGE)
		}
	}()
	lost, failed := 0, 0
	const runs = 40
	for i := 0; i < runs; i++ {
		id := "t-race-" + strconv.Itoa(i)
		e.cleanup(id)
		r := e.berth("run", "--bundle", b.dir, id)
		if r.code != 0 && !strings.Contains(r.stdout, "0") {
			// A run can fail honestly (the swap left nothing where mkdir
			// expected it); what must never happen is a run without its mount.
			failed++
			continue
		}
		if strings.TrimSpace(r.stdout) == "0" {
			lost++
		}
	}
	close(stop)
	<-done
	t.Logf("%d of %d runs failed to start, honestly", failed, runs)
	if failed == runs {
		t.Fatal("no container started: the race was never run")
	}
	if lost > 0 {
		t.Errorf("%d of %d containers came up without their bind mount: it was made outside the rootfs", lost, runs)
	}
	if ents, _ := os.ReadDir(filepath.Join(outside, "sub")); len(ents) != 0 {
		t.Errorf("the host directory %s got the mount's content", outside)
	}
}
