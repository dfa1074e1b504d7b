package runtime_test

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestDeviceOwnRule: a spec device with a cgroup rule of its own (docker's
// --device HOST:CTR:r) is made, and gets that rule's access only, not rwm.
func TestDeviceOwnRule(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	major, minor := int64(1), int64(11)
	b.spec.Linux.Devices = append(b.spec.Linux.Devices, specs.LinuxDevice{Path: "/dev/k", Type: "c", Major: 1, Minor: 11})
	b.spec.Linux.Resources.Devices = append(b.spec.Linux.Resources.Devices,
		specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "r"})
	b.spec.Process.Args = []string{"sh", "-c", "test -c /dev/k && echo node; (echo berth-runtime-test > /dev/k) 2>/dev/null && echo wrote || echo denied"}
	b.save(t)
	e.cleanup("t-devrule")
	out := e.ok("run", "--bundle", b.dir, "t-devrule")
	if !strings.Contains(out, "node") || !strings.Contains(out, "denied") {
		t.Errorf("device with an r rule: %q, want the node and the write denied", out)
	}
}

// TestAppArmorProfileWithoutAppArmor: a profile on a host without
// AppArmor is an error of create, not silently dropped.
func TestAppArmorProfileWithoutAppArmor(t *testing.T) {
	if b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err == nil && strings.HasPrefix(string(b), "Y") {
		t.Skip("AppArmor is enabled on this host: the engine test covers the profile being applied")
	}
	e := newEnv(t)
	b := newBundle(t, "true")
	b.spec.Process.ApparmorProfile = "berth-test"
	b.save(t)
	e.cleanup("t-apparmor")
	e.fails(`apparmor profile "berth-test" is set, but AppArmor is not enabled on this host`, "run", "--bundle", b.dir, "t-apparmor")
}
