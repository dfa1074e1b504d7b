package cgroup

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

// v2Files are the interface files a fake cgroup2 directory gets, as the
// kernel would create them on mkdir with these controllers enabled.
var v2Files = []string{
	"cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "cgroup.freeze", "cgroup.events",
	"cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems",
	"memory.max", "memory.low", "memory.high", "memory.swap.max", "memory.current",
	"pids.max", "io.weight", "io.max", "hugetlb.2MB.max", "rdma.max",
}

const fakeControllers = "cpuset cpu io memory hugetlb pids rdma"

// fakeFiles creates dir (and parents) holding empty files named files.
func fakeFiles(t *testing.T, dir string, files []string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeV2 builds a fake cgroup2 tree: a root and the given cgroups below it,
// each with v2Files, every cgroup.controllers listing fakeControllers.
func fakeV2(t *testing.T, cgroups ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range append([]string{""}, cgroups...) {
		fakeFiles(t, filepath.Join(root, d), v2Files)
		writeTestFile(t, filepath.Join(root, d, "cgroup.controllers"), fakeControllers+"\n")
	}
	return root
}

func TestV2Set(t *testing.T) {
	tests := []struct {
		name  string
		res   *specs.LinuxResources
		extra []string          // more files in the container directory
		want  map[string]string // files expected to change; all others stay empty
		err   string            // substring of the expected error
	}{
		{name: "nil", res: nil},
		{name: "empty", res: &specs.LinuxResources{}},
		{
			name: "memory limit, reservation and swap",
			res: &specs.LinuxResources{Memory: &specs.LinuxMemory{
				Limit: ptr[int64](512 << 20), Reservation: ptr[int64](256 << 20), Swap: ptr[int64](768 << 20),
			}},
			want: map[string]string{"memory.max": "536870912", "memory.low": "268435456", "memory.swap.max": "268435456"},
		},
		{
			name: "memory limit equals memory+swap: no swap",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](100)}},
			want: map[string]string{"memory.max": "100", "memory.swap.max": "0"},
		},
		{
			name: "unlimited memory means unlimited swap",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-1)}},
			want: map[string]string{"memory.max": "max", "memory.swap.max": "max"},
		},
		{
			name: "unlimited swap",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 30), Swap: ptr[int64](-1)}},
			want: map[string]string{"memory.max": "1073741824", "memory.swap.max": "max"},
		},
		{
			name: "v1-only memory knobs are ignored",
			res: &specs.LinuxResources{Memory: &specs.LinuxMemory{
				Swappiness: ptr[uint64](10), DisableOOMKiller: ptr(true), KernelTCP: ptr[int64](1 << 20),
			}},
		},
		{
			name: "swap below memory",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](200), Swap: ptr[int64](100)}},
			err:  "below the memory limit",
		},
		{
			name: "swap without memory limit",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr[int64](100)}},
			err:  "needs a memory limit",
		},
		{
			name: "cpu shares, quota and period",
			res: &specs.LinuxResources{CPU: &specs.LinuxCPU{
				Shares: ptr[uint64](1024), Quota: ptr[int64](50000), Period: ptr[uint64](100000),
			}},
			want: map[string]string{"cpu.weight": "39", "cpu.max": "50000 100000"},
		},
		{
			name: "cpu shares bounds",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](262144)}},
			want: map[string]string{"cpu.weight": "10000"},
		},
		{
			name: "cpu shares minimum",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](2)}},
			want: map[string]string{"cpu.weight": "1"},
		},
		{
			name: "cpu period only",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr[uint64](100000)}},
			want: map[string]string{"cpu.max": "max 100000"},
		},
		{
			name: "cpu unlimited quota",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](-1), Period: ptr[uint64](250000)}},
			want: map[string]string{"cpu.max": "max 250000"},
		},
		{
			name: "cpu quota only",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](20000)}},
			want: map[string]string{"cpu.max": "20000"},
		},
		{
			name: "cpu burst, idle and cpuset",
			res: &specs.LinuxResources{CPU: &specs.LinuxCPU{
				Burst: ptr[uint64](1000), Idle: ptr[int64](1), Cpus: "0-1", Mems: "0",
			}},
			want: map[string]string{"cpu.max.burst": "1000", "cpu.idle": "1", "cpuset.cpus": "0-1", "cpuset.mems": "0"},
		},
		{
			name: "cpu realtime is v1 only",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](1000)}},
			err:  "realtime",
		},
		{
			name: "pids limit",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](64)}},
			want: map[string]string{"pids.max": "64"},
		},
		{
			name: "pids unlimited",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](-1)}},
			want: map[string]string{"pids.max": "max"},
		},
		{
			name: "pids zero is unlimited",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](0)}},
			want: map[string]string{"pids.max": "max"},
		},
		{
			name: "pids without limit",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{}},
		},
		{
			name: "blkio weight to io.weight",
			res:  &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](500)}},
			want: map[string]string{"io.weight": "4950"},
		},
		{
			name:  "blkio weight to io.bfq.weight",
			res:   &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](500)}},
			extra: []string{"io.bfq.weight"},
			want:  map[string]string{"io.bfq.weight": "500"},
		},
		{
			name: "blkio throttle",
			res: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
				{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1048576},
			}}},
			want: map[string]string{"io.max": "8:0 rbps=1048576"},
		},
		{
			name: "hugetlb",
			res:  &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 21}}},
			want: map[string]string{"hugetlb.2MB.max": "8388608"},
		},
		{
			name: "hugetlb size the kernel lacks",
			res:  &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 1 << 30}}},
			err:  `write "1073741824" to `,
		},
		{
			name: "rdma",
			res: &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{
				"mlx5_0": {HcaHandles: ptr[uint32](3), HcaObjects: ptr[uint32](1000)},
			}},
			want: map[string]string{"rdma.max": "mlx5_0 hca_handle=3 hca_object=1000"},
		},
		{
			name: "unified overrides the mapped value",
			res: &specs.LinuxResources{
				Memory:  &specs.LinuxMemory{Limit: ptr[int64](1 << 20)},
				Unified: map[string]string{"memory.max": "2097152", "memory.high": "1048576"},
			},
			want: map[string]string{"memory.max": "2097152", "memory.high": "1048576"},
		},
		{
			name: "unified key with a slash",
			res:  &specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}},
			err:  "not a file name",
		},
		{
			name: "network is ignored",
			res:  &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr[uint32](1)}},
		},
		{
			// Devices need a real cgroup2 directory to attach a program to;
			// TestV2DevicesKernel covers them.
			name: "devices on a plain directory",
			res:  &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			err:  "set devices",
		},
		{
			name: "bad device access",
			res:  &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwx"}}},
			err:  "invalid access",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeV2(t, "berth/c1")
			dir := filepath.Join(root, "berth/c1")
			fakeFiles(t, dir, tt.extra)
			m, err := NewV2(root, "/berth/c1")
			if err != nil {
				t.Fatal(err)
			}
			err = m.Set(tt.res)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Set: err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			for _, f := range append(slices.Clone(v2Files), tt.extra...) {
				want := tt.want[f]
				if f == "cgroup.controllers" {
					want = fakeControllers + "\n"
				}
				if got := readTestFile(t, filepath.Join(dir, f)); got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
		})
	}
}

func TestV2Apply(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"absolute", "/berth/c1"},
		{"relative", "berth/c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeV2(t, "berth", "berth/c1")
			m, err := NewV2(root, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, "berth/c1")
			if got := m.Paths(); !maps.Equal(got, map[string]string{"": dir}) {
				t.Errorf("Paths() = %v", got)
			}
			if err := m.Apply(4242); err != nil {
				t.Fatal(err)
			}
			if got := readTestFile(t, filepath.Join(dir, "cgroup.procs")); got != "4242" {
				t.Errorf("cgroup.procs = %q, want 4242", got)
			}
			enable := "+cpuset +cpu +io +memory +hugetlb +pids +rdma"
			for _, d := range []string{root, filepath.Join(root, "berth")} {
				if got := readTestFile(t, filepath.Join(d, "cgroup.subtree_control")); got != enable {
					t.Errorf("%s/cgroup.subtree_control = %q, want %q", d, got, enable)
				}
			}
			if got := readTestFile(t, filepath.Join(dir, "cgroup.subtree_control")); got != "" {
				t.Errorf("the container's own subtree_control was written: %q", got)
			}
		})
	}
}

// TestV2ApplyCreates checks that Apply makes the missing directories and
// names the file when the pid cannot go in (here: a plain directory has no
// cgroup.procs; the kernel would have made one).
func TestV2ApplyCreates(t *testing.T) {
	root := fakeV2(t)
	m, err := NewV2(root, "/berth/c1")
	if err != nil {
		t.Fatal(err)
	}
	err = m.Apply(1)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "berth/c1/cgroup.procs")) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Apply: err = %v, want ENOENT naming cgroup.procs", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "berth/c1")); err != nil || !fi.IsDir() {
		t.Errorf("container directory not created: %v", err)
	}
}

func TestV2Pids(t *testing.T) {
	tests := []struct {
		name  string
		procs map[string]string // cgroup below the container -> cgroup.procs
		want  []int
	}{
		{"empty", map[string]string{"": ""}, nil},
		{"flat", map[string]string{"": "10\n11\n"}, []int{10, 11}},
		{"nested", map[string]string{"": "10\n", "sub": "20\n21\n", "sub/deeper": "30\n"}, []int{10, 20, 21, 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeV2(t, "c1")
			m, _ := NewV2(root, "c1")
			for d, procs := range tt.procs {
				dir := filepath.Join(root, "c1", d)
				fakeFiles(t, dir, v2Files)
				writeTestFile(t, filepath.Join(dir, "cgroup.procs"), procs)
			}
			got, err := m.Pids()
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Pids() = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("missing cgroup", func(t *testing.T) {
		m, _ := NewV2(t.TempDir(), "gone")
		if _, err := m.Pids(); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Pids() err = %v, want ErrNotExist", err)
		}
	})
}

func TestV2Freeze(t *testing.T) {
	tests := []struct {
		name    string
		frozen  bool
		events  string
		want    string // cgroup.freeze afterwards
		wantErr bool
	}{
		{"freeze", true, "populated 1\nfrozen 1\n", "1", false},
		{"thaw", false, "populated 1\nfrozen 0\n", "0", false},
		{"freeze never completes", true, "populated 1\nfrozen 0\n", "0", true},
		{"no frozen field", true, "populated 1\n", "0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeV2(t, "c1")
			dir := filepath.Join(root, "c1")
			writeTestFile(t, filepath.Join(dir, "cgroup.events"), tt.events)
			m, _ := NewV2(root, "c1")
			m.(*v2Manager).timeout = 50 * time.Millisecond
			err := m.Freeze(tt.frozen)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Freeze(%v) err = %v, want error %v", tt.frozen, err, tt.wantErr)
			}
			if got := readTestFile(t, filepath.Join(dir, "cgroup.freeze")); got != tt.want {
				t.Errorf("cgroup.freeze = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestV2Destroy(t *testing.T) {
	root := fakeV2(t, "berth/c1", "berth/c1/sub/deeper", "berth/c2")
	m, _ := NewV2(root, "/berth/c1")
	for i := range 2 { // the second time finds nothing to do
		if err := m.Destroy(); err != nil {
			t.Fatalf("Destroy #%d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "berth/c1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("berth/c1 still there: %v", err)
	}
	for _, keep := range []string{"berth", "berth/c2"} {
		if _, err := os.Stat(filepath.Join(root, keep)); err != nil {
			t.Errorf("Destroy removed %s: %v", keep, err)
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		paths map[string]string
		v2    bool
		err   bool
	}{
		{name: "v2", paths: map[string]string{"": "/sys/fs/cgroup/c1"}, v2: true},
		{name: "v1", paths: map[string]string{
			"cpu": "/cg/cpu,cpuacct/c1", "cpuacct": "/cg/cpu,cpuacct/c1", "memory": "/cg/memory/c1",
		}},
		{name: "hybrid", paths: map[string]string{"memory": "/cg/memory/c1", "": "/cg/unified/c1"}},
		{name: "empty", paths: map[string]string{}, err: true},
		{name: "relative", paths: map[string]string{"": "sys/fs/cgroup/c1"}, err: true},
		{name: "unclean", paths: map[string]string{"memory": "/cg/memory/../../etc"}, err: true},
		{name: "root", paths: map[string]string{"": "/"}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Load(tt.paths)
			if (err != nil) != tt.err {
				t.Fatalf("Load err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if _, isV2 := m.(*v2Manager); isV2 != tt.v2 {
				t.Errorf("got %T", m)
			}
			if got := m.Paths(); !maps.Equal(got, tt.paths) {
				t.Errorf("Paths() = %v, want %v", got, tt.paths)
			}
		})
	}
}

// TestLoadDestroyRefusesPlainDirs makes sure a manager from saved state
// never removes directories outside a cgroup filesystem.
func TestLoadDestroyRefusesPlainDirs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c1")
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := Load(map[string]string{"": dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err == nil || !strings.Contains(err.Error(), "not on a cgroup filesystem") {
		t.Errorf("Destroy err = %v, want refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "empty")); err != nil {
		t.Errorf("Destroy touched %s: %v", dir, err)
	}
}

// TestV2MemoryBelowUsage: an update that asks a check (docker update)
// is refused with runc's words when the limit is under the usage.
func TestV2MemoryBelowUsage(t *testing.T) {
	root := fakeV2(t, "berth/c1")
	dir := filepath.Join(root, "berth/c1")
	writeTestFile(t, filepath.Join(dir, "memory.current"), "33554432\n")
	writeTestFile(t, filepath.Join(dir, "memory.peak"), "40000000\n")
	m, err := NewV2(root, "/berth/c1")
	if err != nil {
		t.Fatal(err)
	}
	err = m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](8 << 20), CheckBeforeUpdate: ptr(true)}})
	if want := "unable to set memory limit to 8388608 (current usage: 33554432, peak usage: 40000000)"; err == nil || err.Error() != want {
		t.Errorf("Set = %v, want %q", err, want)
	}
	if got := readTestFile(t, filepath.Join(dir, "memory.max")); got != "" {
		t.Errorf("memory.max written: %q", got)
	}
	// Above the usage it goes through.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), CheckBeforeUpdate: ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	if got := readTestFile(t, filepath.Join(dir, "memory.max")); got != "67108864" {
		t.Errorf("memory.max %q", got)
	}
}

// TestV2EngineResources: what the engine asks of a docker run with
// docker's resource flags lands in the v2 files.
func TestV2EngineResources(t *testing.T) {
	root := fakeV2(t, "berth/c1")
	dir := filepath.Join(root, "berth/c1")
	m, err := NewV2(root, "/berth/c1")
	if err != nil {
		t.Fatal(err)
	}
	dev := func(maj, min int64) specs.LinuxBlockIODevice { return specs.LinuxBlockIODevice{Major: maj, Minor: min} }
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](32 << 20), Swap: ptr[int64](64 << 20), Reservation: ptr[int64](16 << 20)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000), Cpus: "0", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](-1)},
		BlockIO: &specs.LinuxBlockIO{
			WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(254, 0), Weight: ptr[uint16](1000)}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(254, 0), Rate: 100}},
		},
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory.max": "33554432", "memory.swap.max": "33554432", "memory.low": "16777216",
		"cpu.max": "50000 100000", "cpuset.cpus": "0", "cpuset.mems": "0", "pids.max": "max",
		"io.weight": "254:0 10000", "io.max": "254:0 wiops=100",
	} {
		if got := strings.TrimSpace(readTestFile(t, filepath.Join(dir, file))); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got := readTestFile(t, filepath.Join(dir, "cpu.weight")); got == "" || got == "0" {
		t.Errorf("cpu.weight %q", got)
	}
}
