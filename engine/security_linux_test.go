package engine

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// runOut runs sh -c script in a busybox container with hc (no network)
// and returns its exit code and its output (stdout, then stderr).
func runOut(t *testing.T, e *Engine, hc container.HostConfig, script string) (int, string) {
	t.Helper()
	if hc.NetworkMode == "" {
		hc.NetworkMode = "none"
	}
	id, code := run(t, e, container.Config{}, hc, "sh", "-c", script)
	rc, err := e.ContainerLogs(ctx(t), id, LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := demux(t, b)
	out := stdout + stderr
	if err := e.ContainerRemove(ctx(t), id, RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	return code, out
}

// denyMkdir is a docker-format profile: the default allows, mkdir and
// mkdirat fail with EPERM (on x86_64 and arm64 alike, by archMap).
const denyMkdir = `{"defaultAction":"SCMP_ACT_ALLOW",
 "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]},
            {"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]}],
 "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
             {"names":["chmod"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"includes":{"caps":["CAP_SYS_ADMIN"]}}]}`

func TestSecurityOptions(t *testing.T) {
	e := newTestEngine(t, false)
	for _, tc := range []struct {
		name   string
		hc     container.HostConfig
		script string
		code   int
		out    string // a line the output has
	}{
		{"default mkdir", container.HostConfig{}, "mkdir /x && echo made", 0, "made"},
		{"seccomp profile denies mkdir", container.HostConfig{SecurityOpt: []string{"seccomp=" + denyMkdir}},
			"mkdir /x", 1, "mkdir: can't create directory '/x': Operation not permitted"},
		// The chmod rule applies only with CAP_SYS_ADMIN (includes.caps).
		{"seccomp include by cap (without)", container.HostConfig{SecurityOpt: []string{"seccomp=" + denyMkdir}},
			"chmod 700 /tmp && echo chmod", 0, "chmod"},
		{"seccomp include by cap (with)", container.HostConfig{SecurityOpt: []string{"seccomp=" + denyMkdir}, CapAdd: []string{"SYS_ADMIN"}},
			"chmod 700 /tmp", 1, "chmod: /tmp: Operation not permitted"},
		{"seccomp unconfined", container.HostConfig{SecurityOpt: []string{"seccomp=unconfined"}},
			"grep Seccomp: /proc/self/status", 0, "Seccomp:\t0"},
		{"no-new-privileges", container.HostConfig{SecurityOpt: []string{"no-new-privileges"}},
			"grep NoNewPrivs /proc/self/status", 0, "NoNewPrivs:\t1"},
		{"no-new-privileges=false", container.HostConfig{SecurityOpt: []string{"no-new-privileges=false"}},
			"grep NoNewPrivs /proc/self/status", 0, "NoNewPrivs:\t0"},
		{"chown by default", container.HostConfig{}, "chown 1:1 /tmp && echo chowned", 0, "chowned"},
		{"cap-drop CHOWN", container.HostConfig{CapDrop: []string{"NET_RAW", "chown"}},
			"chown 1:1 /tmp", 1, "chown: /tmp: Operation not permitted"},
		{"mount needs SYS_ADMIN", container.HostConfig{}, "mkdir -p /m && mount -t tmpfs t /m", 1, "mount: permission denied"},
		{"cap-add SYS_ADMIN mounts", container.HostConfig{CapAdd: []string{"SYS_ADMIN"}},
			"mkdir -p /m && mount -t tmpfs t /m && grep ' /m tmpfs' /proc/mounts", 0, "t /m tmpfs"},
		{"privileged caps", container.HostConfig{Privileged: true},
			"grep CapEff /proc/self/status", 0, "CapEff:\t" + hostCapEff(t)},
		{"privileged /sys rw", container.HostConfig{Privileged: true},
			"grep ' /sys sysfs' /proc/mounts", 0, "sysfs /sys sysfs rw,"},
		{"privileged devices", container.HostConfig{Privileged: true},
			"ls /dev/" + aHostDevice(t), 0, "/dev/" + aHostDevice(t)},
		{"device", container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rwm"}}}},
			"echo x > /dev/mynull && echo wrote", 0, "wrote"},
		{"device read-only by cgroup", container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/kmsg", PathInContainer: "/dev/k", CgroupPermissions: "r"}}}},
			"ls -l /dev/k; echo x > /dev/k", 1, "can't create /dev/k: Operation not permitted"},
		{"device writable by cgroup", container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/kmsg", PathInContainer: "/dev/k", CgroupPermissions: "rw"}}}},
			"echo berth-security-test > /dev/k && echo wrote", 0, "wrote"},
		{"sysctl", container.HostConfig{Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1000"}},
			"cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni", 0, "1\n1000"},
		{"group-add", container.HostConfig{GroupAdd: []string{"berth", "1234"}}, "id -G", 0, "1000 1234"},
		{"cgroupns host", container.HostConfig{CgroupnsMode: "host"}, "readlink /proc/self/ns/cgroup", 0, hostNS(t, "cgroup")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runOut(t, e, tc.hc, tc.script)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tc.code, tc.out)
			}
		})
	}
}

// hostCapEff is this (root) process's CapEff: a privileged container's.
func hostCapEff(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:\t"); ok {
			return v
		}
	}
	t.Fatal("no CapEff")
	return ""
}

func hostNS(t *testing.T, ns string) string {
	l, err := os.Readlink("/proc/self/ns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// aHostDevice is a device node of the host's /dev that no container has
// by default.
func aHostDevice(t *testing.T) string {
	for _, d := range []string{"kmsg", "mem", "loop-control", "tty0", "vcs"} {
		if fi, err := os.Stat("/dev/" + d); err == nil && fi.Mode()&os.ModeDevice != 0 {
			return d
		}
	}
	t.Skip("no device node to look for in /dev")
	return ""
}

func TestSecurityBadInput(t *testing.T) {
	e := newTestEngine(t, false)
	before := leftovers(t, e)
	for _, tc := range []struct {
		name string
		hc   container.HostConfig
		msg  string
	}{
		{"unknown capability", container.HostConfig{CapAdd: []string{"FLY"}}, `unknown capability: "CAP_FLY"`},
		{"bad seccomp json", container.HostConfig{SecurityOpt: []string{`seccomp={"defaultAction":`}},
			"Decoding seccomp profile failed: unexpected end of JSON input"},
		{"bad seccomp action", container.HostConfig{SecurityOpt: []string{`seccomp={"defaultAction":"SCMP_ACT_MAYBE","syscalls":[]}`}}, "seccomp profile: "},
		{"bad security opt", container.HostConfig{SecurityOpt: []string{"nonsense"}}, `invalid --security-opt 1: "nonsense"`},
		{"bad no-new-privileges", container.HostConfig{SecurityOpt: []string{"no-new-privileges=maybe"}}, `invalid --security-opt 2: "no-new-privileges=maybe"`},
		{"not a device", container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/etc/passwd", PathInContainer: "/dev/p", CgroupPermissions: "rwm"}}}},
			`error gathering device information while adding custom device "/etc/passwd": not a device node`},
		{"no such device", container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/nosuch", PathInContainer: "/dev/p", CgroupPermissions: "rwm"}}}},
			`error gathering device information while adding custom device "/dev/nosuch": stat /dev/nosuch: no such file or directory`},
		{"bad device cgroup rule", container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{"c 1:x rwm"}}}, "invalid device cgroup rule format: 'c 1:x rwm'"},
		{"non-namespaced sysctl", container.HostConfig{Sysctls: map[string]string{"kernel.panic": "1"}}, "sysctl 'kernel.panic=1' is not allowed"},
		{"net sysctl with host network", container.HostConfig{NetworkMode: "host", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}},
			"--sysctl net.ipv4.ip_forward is not allowed in host network namespace"},
		{"hostname sysctl with host uts", container.HostConfig{UTSMode: "host", Sysctls: map[string]string{"kernel.hostname": "x"}},
			"--sysctl kernel.hostname is not allowed in host UTS namespace"},
		{"bad userns", container.HostConfig{UsernsMode: "private"}, `invalid USER mode: "private": use host or leave it empty`},
		{"unknown group", container.HostConfig{GroupAdd: []string{"nosuchgroup"}}, "Unable to find group nosuchgroup: no matching entries in group file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := container.Config{Image: "busybox", Cmd: []string{"true"}}
			hc := tc.hc
			if hc.NetworkMode == "" {
				hc.NetworkMode = "none"
			}
			_, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &hc}})
			if err == nil || KindOf(err) != KindInvalid || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("create: %v (kind %v), want %q (invalid)", err, KindOf(err), tc.msg)
			}
			if after := leftovers(t, e); !slices.Equal(after, before) {
				t.Errorf("left behind: %v, had %v", after, before)
			}
		})
	}
}

func TestAppArmorProfile(t *testing.T) {
	if !hostAppArmor() {
		// Docker ignores apparmor= where AppArmor is off; so does berth.
		e := newTestEngine(t, false)
		code, out := runOut(t, e, container.HostConfig{SecurityOpt: []string{"apparmor=unconfined"}}, "echo ran")
		if code != 0 || !strings.Contains(out, "ran") {
			t.Fatalf("apparmor=X on a host without AppArmor: exit %d, %s", code, out)
		}
		t.Skip("AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled): only checked that apparmor= is ignored")
	}
	e := newTestEngine(t, false)
	code, out := runOut(t, e, container.HostConfig{SecurityOpt: []string{"apparmor=unconfined"}}, "cat /proc/self/attr/current")
	if code != 0 || !strings.Contains(out, "unconfined") {
		t.Fatalf("exit %d, %s", code, out)
	}
}

// TestUsernsRemap runs a container under --userns-remap: root inside is
// the subordinate range's first id outside, the image's files are root's
// inside, and root can write.
func TestUsernsRemap(t *testing.T) {
	dir := t.TempDir()
	old := subIDFiles
	subIDFiles = [2]string{filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")}
	t.Cleanup(func() { subIDFiles = old })
	for _, f := range subIDFiles {
		if err := os.WriteFile(f, []byte("# test\nberth-test:231072:65536\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := testOptions(t, false)
	o.UsernsRemap = "berth-test"
	// The container's root (a nobody of the host) walks to its rootfs.
	for d := o.Root; d != "/"; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
				t.Fatal(err)
			}
		}
	}
	e := openTest(t, o, true)

	id := create(t, e, "", container.Config{}, container.HostConfig{NetworkMode: "none"}, "sh", "-c",
		"id -u; stat -c %u:%g /bin/busybox /etc/passwd; echo hi > /root/f && cat /root/f; mkdir /newdir && stat -c %u /newdir; echo end; sleep 1000")
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	pid := inspect(t, e, id).State.Pid
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t231072\t231072\t231072\t231072\n") {
		t.Errorf("container's process on the host:\n%s\nwant Uid 231072", status)
	}
	var out string
	waitFor(t, "the container's output", func() bool {
		rc, err := e.ContainerLogs(ctx(t), id, LogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		stdout, stderr := demux(t, b)
		out = stdout + stderr
		return strings.Contains(out, "end\n") || !inspect(t, e, id).State.Running
	})
	if want := "0\n0:0\n0:0\nhi\n0\nend\n"; out != want {
		t.Errorf("inside: %q, want %q", out, want)
	}
	// exec joins the user namespace: root inside, owner of the image's files.
	if stdout, stderr, code := execRun(t, e, id, container.ExecCreateRequest{Cmd: []string{"sh", "-c", "id -u; stat -c %u /root/f; touch /etc/x && echo touched"}}, ""); code != 0 || stdout != "0\n0\ntouched\n" {
		t.Errorf("exec in a remapped container: exit %d, %q %q", code, stdout, stderr)
	}
	ins := inspect(t, e, id)
	if ins.HostConfig.UsernsMode != "" {
		t.Errorf("UsernsMode %q", ins.HostConfig.UsernsMode)
	}

	if info, err := e.Info(ctx(t)); err != nil || !slices.Contains(info.SecurityOptions, "name=userns") {
		t.Errorf("info's security options %v (%v), want name=userns", info.SecurityOptions, err)
	}
	// --userns=host: the host's ids.
	code, out := runOut(t, e, container.HostConfig{UsernsMode: "host"}, "readlink /proc/self/ns/user")
	if code != 0 || strings.TrimSpace(out) != hostNS(t, "user") {
		t.Errorf("--userns=host: exit %d, %q, want %s", code, out, hostNS(t, "user"))
	}
	// Privileged needs --userns=host under remapping.
	cfg := container.Config{Image: "busybox", Cmd: []string{"true"}}
	_, err = e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &container.HostConfig{Privileged: true}}})
	if err == nil || !strings.Contains(err.Error(), "privileged mode is incompatible with user namespaces") {
		t.Errorf("privileged under remap: %v", err)
	}
}

func TestUsernsRemapOptions(t *testing.T) {
	dir := t.TempDir()
	old := subIDFiles
	subIDFiles = [2]string{filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")}
	t.Cleanup(func() { subIDFiles = old })
	os.WriteFile(subIDFiles[0], []byte("dockremap:100000:65536\nalice:200000:1000\nalice:300000:1000\n"), 0o644)
	os.WriteFile(subIDFiles[1], []byte("dockremap:100000:65536\nstaff:400000:5000\n"), 0o644)
	m, err := parseUsernsRemap("default")
	if err != nil || len(m.UID) != 1 || m.UID[0].HostID != 100000 || m.GID[0].Size != 65536 {
		t.Errorf("default: %+v %v", m, err)
	}
	m, err = parseUsernsRemap("alice:staff")
	if err != nil || len(m.UID) != 2 || m.UID[1].ContainerID != 1000 || m.UID[1].HostID != 300000 || m.GID[0].HostID != 400000 {
		t.Errorf("alice:staff: %+v %v", m, err)
	}
	if m, err := parseUsernsRemap(""); m != nil || err != nil {
		t.Errorf("empty: %v %v", m, err)
	}
	if _, err := parseUsernsRemap("bob"); err == nil || !strings.Contains(err.Error(), `no subordinate id range for "bob"`) {
		t.Errorf("bob: %v", err)
	}
}
