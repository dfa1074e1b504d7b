package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/gate"
)

// denyMkdirProfile is a docker-format seccomp profile that makes mkdir
// fail with EPERM and allows the rest.
const denyMkdirProfile = `{
  "defaultAction": "SCMP_ACT_ALLOW",
  "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
              {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
}`

// TestRunSecurityFlags: the security flags of berth run, end to end
// (in-process engine), and bad ones refused with nothing created.
func TestRunSecurityFlags(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	profile := filepath.Join(t.TempDir(), "deny-mkdir.json")
	if err := os.WriteFile(profile, []byte(denyMkdirProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []string {
		return append(append([]string{"run", "--rm", "--network", "none"}, args[:len(args)-1]...), img, "sh", "-c", args[len(args)-1])
	}
	if out := c.ok(run("mkdir /x && echo made")...); out != "made\n" {
		t.Errorf("mkdir without a profile: %q", out)
	}
	r := c.run(nil, run("--security-opt", "seccomp="+profile, "mkdir /x")...)
	if r.code != 1 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("mkdir under the profile: exit %d, %q", r.code, r.stderr)
	}
	if out := c.ok(run("--device", "/dev/null:/dev/mynull", "echo x > /dev/mynull && echo wrote")...); out != "wrote\n" {
		t.Errorf("--device: %q", out)
	}
	if out := c.ok(run("--sysctl", "net.ipv4.ip_forward=1", "cat /proc/sys/net/ipv4/ip_forward")...); out != "1\n" {
		t.Errorf("--sysctl: %q", out)
	}
	if out := c.ok(run("--cap-drop", "CHOWN", "chown 1 /tmp 2>&1; grep CapEff /proc/self/status")...); !strings.Contains(out, "Operation not permitted") {
		t.Errorf("--cap-drop CHOWN: %q", out)
	}
	if out := c.ok(run("--security-opt", "systempaths=unconfined", "grep -c ' /proc/sys ' /proc/self/mountinfo || true")...); out != "0\n" {
		t.Errorf("systempaths=unconfined: /proc/sys still read-only: %q", out)
	}
	if out := c.ok(run("grep -c ' /proc/sys ' /proc/self/mountinfo")...); out != "1\n" {
		t.Errorf("default: /proc/sys not read-only: %q", out)
	}
	if out := c.ok(run("--privileged", "grep CapEff /proc/self/status")...); !strings.Contains(out, hostCapEff(t)) {
		t.Errorf("--privileged: %q, want CapEff %s", out, hostCapEff(t))
	}
	if out := c.ok(run("--cgroupns", "host", "--ipc", "host", "--uts", "host", "--pid", "host", "--group-add", "1234", "id -G; hostname")...); !strings.Contains(out, "1234") {
		t.Errorf("namespace flags: %q", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_SOMETIMES"}]}`), 0o644)
	for _, tc := range []struct {
		want string
		args []string
	}{
		{`unknown capability: "CAP_FLY"`, []string{"--cap-add", "FLY"}},
		{"opening seccomp profile (/nonexistent.json) failed", []string{"--security-opt", "seccomp=/nonexistent.json"}},
		{"seccomp profile: ", []string{"--security-opt", "seccomp=" + bad}},
		{`Invalid --security-opt: "bogus"`, []string{"--security-opt", "bogus"}},
		{`error gathering device information while adding custom device "/etc/passwd": not a device node`, []string{"--device", "/etc/passwd"}},
		{"bad mode specified: rx", []string{"--device", "/dev/null:/dev/n:rx"}},
		{"invalid device cgroup format 'c 1 rwm'", []string{"--device-cgroup-rule", "c 1 rwm"}},
		{"sysctl 'kernel.panic=1' is not allowed", []string{"--sysctl", "kernel.panic=1"}},
		{"--sysctl net.ipv4.ip_forward is not allowed in host network namespace", []string{"--network", "host", "--sysctl", "net.ipv4.ip_forward=1"}},
		{"--userns: invalid USER mode", []string{"--userns", "private"}},
		{"--cgroupns: invalid CGROUP mode", []string{"--cgroupns", "shared"}},
	} {
		args := append(append([]string{"run", "--network", "none"}, tc.args...), img, "true")
		if tc.args[0] == "--network" {
			args = append(append([]string{"run"}, tc.args...), img, "true")
		}
		c.fails(tc.want, args...)
	}
	if out := c.ok("ps", "-aq"); out != "" {
		t.Errorf("bad runs left containers: %q", out)
	}
}

// TestDockerCLISecurity: the docker CLI's security flags against berth's
// daemon, docker's CLI sending the seccomp profile's content.
func TestDockerCLISecurity(t *testing.T) {
	gate.Command(t, "docker")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	d.dockerOK("pull", img)
	out := d.dockerOK("run", "--rm", "--network", "none", "--cap-drop", "CHOWN", "--cap-drop", "NET_RAW",
		"--security-opt", "no-new-privileges", img, "sh", "-c", "grep NoNewPrivs /proc/self/status; chown 1 /tmp 2>&1 || echo denied")
	if !strings.Contains(out, "NoNewPrivs:\t1") || !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "denied") {
		t.Errorf("docker run --cap-drop --security-opt no-new-privileges:\n%s", out)
	}
	profile := filepath.Join(t.TempDir(), "deny-mkdir.json")
	os.WriteFile(profile, []byte(denyMkdirProfile), 0o644)
	r := d.docker(nil, "run", "--rm", "--network", "none", "--security-opt", "seccomp="+profile, img, "mkdir", "/x")
	if r.code != 1 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("docker run with a seccomp profile: exit %d, %q", r.code, r.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"defaultAction": 7}`), 0o644)
	r = d.docker(nil, "run", "--rm", "--network", "none", "--security-opt", "seccomp="+bad, img, "true")
	if r.code == 0 || !strings.Contains(r.stderr, "Decoding seccomp profile failed") {
		t.Errorf("docker run with a bad seccomp profile: exit %d, %q", r.code, r.stderr)
	}
	r = d.docker(nil, "run", "--rm", "--network", "none", "--device", "/etc/passwd", img, "true")
	if r.code == 0 || !strings.Contains(r.stderr, "not a device node") {
		t.Errorf("docker run --device /etc/passwd: exit %d, %q", r.code, r.stderr)
	}
	if out := d.dockerOK("ps", "-aq"); out != "" {
		t.Errorf("containers left: %q", out)
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

// TestDaemonUsernsRemapOption: --userns-remap reaches the engine, which refuses a user without
// subordinate ids at start, saying so.
func TestDaemonUsernsRemapOption(t *testing.T) {
	c := newCLI(t)
	dir, err := os.MkdirTemp("/run", "bt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	base := []string{"daemon", "-H", "unix://" + filepath.Join(dir, "s.sock"), "--exec-root", filepath.Join(dir, "x"), "--data-root", c.root}
	for _, extra := range [][]string{{"--userns-remap", "berth-no-such-user"}} {
		r := c.run(nil, append(base, extra...)...)
		if r.code == 0 || !strings.Contains(r.stderr, `userns-remap "berth-no-such-user"`) {
			t.Errorf("daemon %v: exit %d, %q", extra, r.code, r.stderr)
		}
	}
}
