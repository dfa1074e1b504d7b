package cgroup

import (
	"os"
	"testing"
)

// Apply skips a hierarchy only when /proc/PID/cgroup already puts the
// process in the container's directory for all its subsystems.
func TestHierarchyInCgroup(t *testing.T) {
	in := map[string]string{"cpu": "/ctr", "cpuacct": "/ctr", "memory": "/other", "name=systemd": "/ctr"}
	for _, c := range []struct {
		name string
		h    hierarchy
		want bool
	}{
		{"co-mounted, both there", hierarchy{subsystems: []string{"cpu", "cpuacct"}, mount: "/sys/fs/cgroup/cpu,cpuacct", dir: "/sys/fs/cgroup/cpu,cpuacct/ctr"}, true},
		{"elsewhere", hierarchy{subsystems: []string{"memory"}, mount: "/sys/fs/cgroup/memory", dir: "/sys/fs/cgroup/memory/ctr"}, false},
		{"named", hierarchy{subsystems: []string{"name=systemd"}, mount: "/sys/fs/cgroup/systemd", dir: "/sys/fs/cgroup/systemd/ctr"}, true},
		{"not in /proc", hierarchy{subsystems: []string{"pids"}, mount: "/sys/fs/cgroup/pids", dir: "/sys/fs/cgroup/pids/ctr"}, false},
		{"mount unknown (Load)", hierarchy{subsystems: []string{"cpu"}, dir: "/sys/fs/cgroup/cpu/ctr"}, false},
		{"outside the mount", hierarchy{subsystems: []string{"cpu"}, mount: "/sys/fs/cgroup/cpu", dir: "/elsewhere/ctr"}, false},
	} {
		if got := c.h.inCgroup(in); got != c.want {
			t.Errorf("%s: inCgroup = %v, want %v", c.name, got, c.want)
		}
	}
	if m := v1Membership(os.Getpid()); len(m) == 0 {
		t.Skip("no /proc/self/cgroup lines for v1 controllers")
	}
}
