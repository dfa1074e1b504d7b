package cgroup

import (
	"crypto/rand"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Fake lists, per fake mount directory, its subsystems and the interface
// files a cgroup there has.
var v1Fake = map[string]struct {
	subsystems []string
	files      []string
}{
	"cpu,cpuacct": {[]string{"cpu", "cpuacct"}, []string{"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle"}},
	"cpuset":      {[]string{"cpuset"}, []string{"cpuset.cpus", "cpuset.mems"}},
	"memory": {[]string{"memory"}, []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
		"memory.swappiness", "memory.oom_control", "memory.usage_in_bytes", "memory.kmem.tcp.limit_in_bytes"}},
	"pids":     {[]string{"pids"}, []string{"pids.max"}},
	"blkio":    {[]string{"blkio"}, []string{"blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.read_bps_device", "blkio.throttle.write_iops_device"}},
	"freezer":  {[]string{"freezer"}, []string{"freezer.state"}},
	"devices":  {[]string{"devices"}, []string{"devices.allow", "devices.deny"}},
	"hugetlb":  {[]string{"hugetlb"}, []string{"hugetlb.2MB.limit_in_bytes"}},
	"net_cls":  {[]string{"net_cls"}, []string{"net_cls.classid"}},
	"systemd":  {[]string{"name=systemd"}, nil},
	"unified":  {[]string{""}, []string{"cgroup.freeze", "cgroup.events"}},
	"net_prio": {[]string{"net_prio"}, []string{"net_prio.ifpriomap"}},
}

// fakeV1 builds a fake hybrid tree with the given cgroups in every
// hierarchy, and returns the mounts for NewV1. The roots' cpusets hold
// "0-3" and "0"; the cgroups' are empty, as the kernel leaves them.
func fakeV1(t *testing.T, cgroups ...string) (root string, mounts map[string]string) {
	t.Helper()
	root = t.TempDir()
	mounts = map[string]string{}
	for name, h := range v1Fake {
		for _, d := range append([]string{""}, cgroups...) {
			fakeFiles(t, filepath.Join(root, name, d), append([]string{"cgroup.procs"}, h.files...))
		}
		for _, s := range h.subsystems {
			mounts[s] = filepath.Join(root, name)
		}
	}
	writeTestFile(t, filepath.Join(root, "cpuset/cpuset.cpus"), "0-3\n")
	writeTestFile(t, filepath.Join(root, "cpuset/cpuset.mems"), "0\n")
	return root, mounts
}

func TestV1Paths(t *testing.T) {
	root, mounts := fakeV1(t)
	m, err := NewV1(mounts, "/berth/c1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for name, h := range v1Fake {
		for _, s := range h.subsystems {
			want[s] = filepath.Join(root, name, "berth/c1")
		}
	}
	if got := m.Paths(); !maps.Equal(got, want) {
		t.Errorf("Paths() = %v\nwant %v", got, want)
	}
	if got := len(m.(*v1Manager).hier); got != len(v1Fake)-1 {
		t.Errorf("%d hierarchies, want %d (all but the unified one)", got, len(v1Fake)-1)
	}
	l, err := Load(m.Paths())
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Paths(); !maps.Equal(got, want) {
		t.Errorf("Load(Paths()).Paths() = %v", got)
	}
}

// TestV1ApplyCpuset checks that Apply fills empty cpusets from the nearest
// ancestor that has them before it writes the pid.
func TestV1ApplyCpuset(t *testing.T) {
	tests := []struct {
		name     string
		preset   map[string]string // cpuset file below the mount -> content
		wantCpus string
	}{
		{"inherit from root", nil, "0-3"},
		{"inherit from parent", map[string]string{"berth/cpuset.cpus": "1", "berth/cpuset.mems": "0"}, "1"},
		{"keep own", map[string]string{"berth/c1/cpuset.cpus": "2", "berth/c1/cpuset.mems": "0"}, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, mounts := fakeV1(t, "berth", "berth/c1")
			for f, v := range tt.preset {
				writeTestFile(t, filepath.Join(root, "cpuset", f), v)
			}
			m, _ := NewV1(mounts, "/berth/c1")
			if err := m.Apply(77); err != nil {
				t.Fatal(err)
			}
			for _, d := range m.Paths() {
				if got := readTestFile(t, filepath.Join(d, "cgroup.procs")); got != "77" {
					t.Errorf("%s/cgroup.procs = %q, want 77", d, got)
				}
			}
			c1 := filepath.Join(root, "cpuset/berth/c1")
			if got := strings.TrimSpace(readTestFile(t, filepath.Join(c1, "cpuset.cpus"))); got != tt.wantCpus {
				t.Errorf("cpuset.cpus = %q, want %q", got, tt.wantCpus)
			}
			if got := strings.TrimSpace(readTestFile(t, filepath.Join(c1, "cpuset.mems"))); got != "0" {
				t.Errorf("cpuset.mems = %q, want 0", got)
			}
			if got := strings.TrimSpace(readTestFile(t, filepath.Join(root, "cpuset/berth/cpuset.cpus"))); got == "" && tt.preset == nil {
				t.Error("the parent's cpuset.cpus was left empty")
			}
		})
	}
}

func TestV1Set(t *testing.T) {
	tests := []struct {
		name string
		res  *specs.LinuxResources
		want map[string]string // fake mount dir/file -> content
		err  string
	}{
		{name: "nil", res: nil},
		{
			name: "memory",
			res: &specs.LinuxResources{Memory: &specs.LinuxMemory{
				Limit: ptr[int64](64 << 20), Swap: ptr[int64](128 << 20), Reservation: ptr[int64](32 << 20),
				Swappiness: ptr[uint64](0), DisableOOMKiller: ptr(true),
			}},
			want: map[string]string{
				"memory/memory.limit_in_bytes": "67108864", "memory/memory.memsw.limit_in_bytes": "134217728",
				"memory/memory.soft_limit_in_bytes": "33554432", "memory/memory.swappiness": "0",
				"memory/memory.oom_control": "1",
			},
		},
		{
			name: "unlimited memory",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-1)}},
			want: map[string]string{"memory/memory.limit_in_bytes": "-1", "memory/memory.memsw.limit_in_bytes": "-1"},
		},
		{
			name: "swap below memory",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](200), Swap: ptr[int64](100)}},
			err:  "below the memory limit",
		},
		{
			name: "cpu",
			res: &specs.LinuxResources{CPU: &specs.LinuxCPU{
				Shares: ptr[uint64](512), Quota: ptr[int64](25000), Period: ptr[uint64](100000),
				RealtimePeriod: ptr[uint64](1000000), RealtimeRuntime: ptr[int64](950000), Cpus: "1-2", Mems: "0",
			}},
			want: map[string]string{
				"cpu,cpuacct/cpu.shares": "512", "cpu,cpuacct/cpu.cfs_quota_us": "25000",
				"cpu,cpuacct/cpu.cfs_period_us": "100000", "cpu,cpuacct/cpu.rt_period_us": "1000000",
				"cpu,cpuacct/cpu.rt_runtime_us": "950000", "cpuset/cpuset.cpus": "1-2", "cpuset/cpuset.mems": "0",
			},
		},
		{
			name: "pids",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](0)}},
			want: map[string]string{"pids/pids.max": "max"},
		},
		{
			name: "blkio falls back to bfq",
			res: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
				Weight: ptr[uint16](300),
				WeightDevice: []specs.LinuxWeightDevice{
					{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Weight: ptr[uint16](200)},
				},
				ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
					{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 4096},
				},
				ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{
					{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 10},
				},
			}},
			want: map[string]string{
				"blkio/blkio.bfq.weight": "300", "blkio/blkio.bfq.weight_device": "8:16 200",
				"blkio/blkio.throttle.read_bps_device": "8:0 4096", "blkio/blkio.throttle.write_iops_device": "8:0 10",
			},
		},
		{
			name: "devices, last rule wins in the fake",
			res: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rwm"},
				{Allow: true, Type: "c", Major: ptr[int64](136), Access: "rw"},
			}},
			want: map[string]string{"devices/devices.deny": "a *:* rwm", "devices/devices.allow": "c 136:* rw"},
		},
		{
			name: "bad device type",
			res:  &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "x"}}},
			err:  "invalid type",
		},
		{
			name: "hugetlb and network",
			res: &specs.LinuxResources{
				HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}},
				Network: &specs.LinuxNetwork{ClassID: ptr[uint32](0x100001), Priorities: []specs.LinuxInterfacePriority{
					{Name: "eth0", Priority: 5},
				}},
			},
			want: map[string]string{
				"hugetlb/hugetlb.2MB.limit_in_bytes": "2097152", "net_cls/net_cls.classid": "1048577",
				"net_prio/net_prio.ifpriomap": "eth0 5",
			},
		},
		{
			name: "rdma without a hierarchy",
			res:  &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: ptr[uint32](1)}}},
			err:  "rdma cgroup hierarchy is not mounted",
		},
		{
			name: "unified needs v2",
			res:  &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}},
			err:  "need cgroup v2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, mounts := fakeV1(t, "c1")
			m, _ := NewV1(mounts, "c1")
			err := m.Set(tt.res)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Set: err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			for name, h := range v1Fake {
				for _, f := range h.files {
					key := name + "/" + f
					if got := readTestFile(t, filepath.Join(root, name, "c1", f)); got != tt.want[key] {
						t.Errorf("%s = %q, want %q", key, got, tt.want[key])
					}
				}
			}
		})
	}
}

func TestV1FreezePidsDestroy(t *testing.T) {
	root, mounts := fakeV1(t, "berth/c1", "berth/c1/sub")
	m, _ := NewV1(mounts, "/berth/c1")
	writeTestFile(t, filepath.Join(root, "pids/berth/c1/cgroup.procs"), "5\n6\n")
	writeTestFile(t, filepath.Join(root, "pids/berth/c1/sub/cgroup.procs"), "7\n")
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Sort(pids); !slices.Equal(pids, []int{5, 6, 7}) {
		t.Errorf("Pids() = %v, want [5 6 7]", pids)
	}
	state := filepath.Join(root, "freezer/berth/c1/freezer.state")
	for _, tt := range []struct {
		frozen bool
		want   string
	}{{true, "FROZEN"}, {false, "THAWED"}} {
		if err := m.Freeze(tt.frozen); err != nil {
			t.Fatalf("Freeze(%v): %v", tt.frozen, err)
		}
		if got := readTestFile(t, state); got != tt.want {
			t.Errorf("freezer.state = %q, want %q", got, tt.want)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Paths() {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there", d)
		}
		if _, err := os.Stat(filepath.Dir(d)); err != nil {
			t.Errorf("parent %s removed", filepath.Dir(d))
		}
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

// TestKernel runs the whole life of a cgroup on this host's kernel with a
// real process in it.
func TestKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	mode := Mode()
	if mode == "" {
		t.Skip("no cgroup filesystem mounted")
	}
	l, err := readLayout()
	if err != nil {
		t.Fatal(err)
	}
	if mode != ModeV2 {
		have := map[string]bool{}
		for _, h := range l.v1 {
			for _, s := range h.subsystems {
				have[s] = true
			}
		}
		for _, s := range []string{"cpu", "cpuset", "memory", "pids", "freezer"} {
			if !have[s] {
				t.Skipf("cgroup v1 hierarchy %s is not mounted", s)
			}
		}
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep")
	}

	parent := "/berth-test-" + strings.ToLower(rand.Text()[:10])
	cgPath := parent + "/c1"
	m, err := New(cgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, d := range m.Paths() {
			if err := rmdir(filepath.Dir(d)); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})

	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("needs sh")
	}

	// sh waits for a line, then execs sleep: sleep's memory and CPU time
	// are then charged to the cgroup (v1 does not move charges along with
	// a task).
	cmd := exec.Command(sh, "-c", "read x; exec "+sleep+" 30")
	start, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { // runs before the Destroy above
		if cmd.ProcessState == nil {
			m.Freeze(false) // a frozen v1 task does not act on SIGKILL
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	start.Write([]byte("go\n"))
	if ok, _ := waitFor(5*time.Second, func() (bool, error) {
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return string(comm) == "sleep\n", err
	}); !ok {
		t.Fatal("sh did not exec sleep")
	}
	t.Run("proc cgroup", func(t *testing.T) {
		own, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		defer own.Close()
		got, err := parseProcCgroup(own)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		if mode != ModeV2 {
			for _, h := range l.v1 {
				for _, s := range h.subsystems {
					want[s] = filepath.Join(h.root, cgPath)
				}
			}
		}
		if l.v2 != nil {
			want[""] = filepath.Join(l.v2.root, cgPath)
		}
		for s, w := range want {
			if got[s] != w {
				t.Errorf("/proc/%d/cgroup: %q is in %q, want %q", pid, s, got[s], w)
			}
		}
	})

	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](16)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000), Cpus: "0"},
	}
	var memFile string
	var want map[string]string // subsystem/file -> content
	if mode == ModeV2 {
		memFile = "/memory.max"
		want = map[string]string{"/memory.max": "67108864", "/pids.max": "16", "/cpu.max": "50000 100000", "/cpu.weight": "20", "/cpuset.cpus": "0"}
	} else {
		memFile = "memory/memory.limit_in_bytes"
		want = map[string]string{
			"memory/memory.limit_in_bytes": "67108864", "pids/pids.max": "16", "cpu/cpu.shares": "512",
			"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000", "cpuset/cpuset.cpus": "0",
		}
	}
	readBack := func(t *testing.T, want map[string]string) {
		t.Helper()
		paths := m.Paths()
		for key, w := range want {
			s, f, _ := strings.Cut(key, "/")
			got, err := readFile(paths[s], f)
			if err != nil {
				t.Error(err)
			} else if got != w {
				t.Errorf("%s = %q, want %q", key, got, w)
			}
		}
	}
	t.Run("set", func(t *testing.T) {
		if err := m.Set(res); err != nil {
			t.Fatal(err)
		}
		readBack(t, want)
	})
	if _, ok := m.Paths()["memory"]; ok && mode != ModeV2 && exists(m.Paths()["memory"], memswFile) {
		// Raising and lowering memory+swap needs the writes in the right order.
		steps := []struct{ limit, swap int64 }{{64 << 20, 128 << 20}, {256 << 20, 512 << 20}, {32 << 20, 32 << 20}}
		for _, s := range steps {
			t.Run("swap "+strconv.FormatInt(s.swap>>20, 10)+"M", func(t *testing.T) {
				if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &s.limit, Swap: &s.swap}}); err != nil {
					t.Fatal(err)
				}
				readBack(t, map[string]string{
					memFile: strconv.FormatInt(s.limit, 10), "memory/" + memswFile: strconv.FormatInt(s.swap, 10),
				})
			})
		}
	}
	t.Run("pids", func(t *testing.T) {
		pids, err := m.Pids()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(pids, pid) {
			t.Errorf("Pids() = %v, want %d in it", pids, pid)
		}
	})
	t.Run("freeze", func(t *testing.T) {
		if err := m.Freeze(true); err != nil {
			t.Fatal(err)
		}
		if mode == ModeV2 {
			readBack(t, map[string]string{"/cgroup.freeze": "1"})
		} else {
			readBack(t, map[string]string{"freezer/freezer.state": "FROZEN"})
		}
		if err := m.Freeze(false); err != nil {
			t.Fatal(err)
		}
		if mode == ModeV2 {
			readBack(t, map[string]string{"/cgroup.freeze": "0"})
		} else {
			readBack(t, map[string]string{"freezer/freezer.state": "THAWED"})
		}
	})

	t.Run("stats", func(t *testing.T) {
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pids %+v, memory usage %+v, cpu %+v", st.Pids, st.Memory.Usage, st.CPU.Usage)
		if st.Pids.Current != 1 || st.Pids.Limit != 16 {
			t.Errorf("Stats().Pids = %+v, want 1 task and limit 16", st.Pids)
		}
		if u := st.Memory.Usage; u.Usage == 0 || u.Limit == 0 || u.Limit > 64<<20 {
			t.Errorf("Stats().Memory.Usage = %+v, want some usage and the limit Set wrote", u)
		}
		if st.CPU.Usage.Total == 0 && mode != ModeV2 {
			// sleep has run a little: exec, load, nanosleep.
			t.Errorf("Stats().CPU.Usage.Total = 0")
		}
		if len(st.CPUSet.CPUs) != 1 || st.CPUSet.CPUs[0] != 0 {
			if mode != ModeV2 {
				t.Errorf("Stats().CPUSet.CPUs = %v, want [0]", st.CPUSet.CPUs)
			}
		}
		if n, err := m.(OOMNotifier).OOMKillCount(); err != nil || n != 0 {
			t.Errorf("OOMKillCount() = %d, %v; want 0", n, err)
		}
	})

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("sleep ended with %v, want SIGKILL", cmd.ProcessState)
	}
	loaded, err := Load(m.Paths())
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Destroy(); err != nil {
		t.Fatal(err)
	}
	for s, d := range m.Paths() {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q: %s still there (%v)", s, d, err)
		}
	}
	if err := loaded.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, err := loaded.Stats(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stats() after Destroy: err = %v, want ErrNotExist", err)
	}
}

func TestV1DeviceWrites(t *testing.T) {
	tests := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  []deviceWrite
	}{
		{
			"deny all first",
			[]specs.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, 3, "rw"), dev(false, "c", 1, 3, "w")},
			[]deviceWrite{{"devices.deny", "a *:* rwm"}, {"devices.allow", "c 1:3 rw"}, {"devices.deny", "c 1:3 w"}},
		},
		{
			// Without a leading "deny all" the default is still deny, as on v2.
			"implicit deny all",
			[]specs.LinuxDeviceCgroup{dev(true, "b", 8, -1, "m")},
			[]deviceWrite{{"devices.deny", "a *:* rwm"}, {"devices.allow", "b 8:* m"}},
		},
		{
			"allow all drops what came before",
			[]specs.LinuxDeviceCgroup{dev(false, "c", 1, 5, ""), dev(true, "", -1, -1, ""), dev(false, "c", 1, 9, "rwm")},
			[]deviceWrite{{"devices.allow", "a *:* rwm"}, {"devices.deny", "c 1:9 rwm"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v1DeviceWrites(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("v1DeviceWrites() = %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestV1HybridHugetlb checks that a hybrid host without a v1 hugetlb
// hierarchy gets hugetlb limits and stats through the unified directory.
func TestV1HybridHugetlb(t *testing.T) {
	root := t.TempDir()
	fakeFiles(t, filepath.Join(root, "memory/c1"), []string{"memory.limit_in_bytes"})
	fakeFiles(t, filepath.Join(root, "unified/c1"), []string{"hugetlb.2MB.max", "hugetlb.2MB.current", "hugetlb.2MB.events"})
	writeTestFile(t, filepath.Join(root, "unified/c1/hugetlb.2MB.current"), "4194304\n")
	m, err := NewV1(map[string]string{"memory": filepath.Join(root, "memory"), "": filepath.Join(root, "unified")}, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}}}); err != nil {
		t.Fatal(err)
	}
	if got := readTestFile(t, filepath.Join(root, "unified/c1/hugetlb.2MB.max")); got != "8388608" {
		t.Errorf("hugetlb.2MB.max = %q, want 8388608", got)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if want := (HugetlbStats{Usage: 4 << 20, Limit: 8 << 20}); st.Hugetlb["2MB"] != want {
		t.Errorf("Stats().Hugetlb = %+v, want 2MB: %+v", st.Hugetlb, want)
	}
	// Network limits without net_cls and net_prio hierarchies are skipped.
	if err := m.Set(&specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr[uint32](1),
		Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 1}}}}); err != nil {
		t.Errorf("Set(network) without the hierarchies: %v", err)
	}
}
