package cgroup

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFiles writes name -> content below dir, creating directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, p, content)
	}
}

func TestV1Stats(t *testing.T) {
	root, mounts := fakeV1(t, "c1")
	writeFiles(t, root, map[string]string{
		"cpu,cpuacct/c1/cpuacct.usage":              "3000000000\n",
		"cpu,cpuacct/c1/cpuacct.usage_percpu":       "1000000000 2000000000 \n",
		"cpu,cpuacct/c1/cpuacct.usage_percpu_sys":   "100 200\n",
		"cpu,cpuacct/c1/cpuacct.usage_percpu_user":  "900 1800\n",
		"cpu,cpuacct/c1/cpuacct.stat":               "user 250\nsystem 50\n",
		"cpu,cpuacct/c1/cpu.stat":                   "nr_periods 10\nnr_throttled 3\nthrottled_time 4500\n",
		"cpuset/c1/cpuset.cpus":                     "0-2,5\n",
		"cpuset/c1/cpuset.mems":                     "0\n",
		"cpuset/c1/cpuset.sched_load_balance":       "1\n",
		"cpuset/c1/cpuset.sched_relax_domain_level": "-1\n",
		"memory/c1/memory.usage_in_bytes":           "8192\n",
		"memory/c1/memory.max_usage_in_bytes":       "16384\n",
		"memory/c1/memory.limit_in_bytes":           "9223372036854771712\n",
		"memory/c1/memory.failcnt":                  "2\n",
		"memory/c1/memory.memsw.usage_in_bytes":     "9000\n",
		"memory/c1/memory.memsw.limit_in_bytes":     "65536\n",
		"memory/c1/memory.kmem.usage_in_bytes":      "512\n",
		"memory/c1/memory.kmem.tcp.usage_in_bytes":  "64\n",
		"memory/c1/memory.stat":                     "cache 100\nrss 200\ntotal_cache 300\ntotal_rss 400\n",
		"memory/c1/memory.oom_control":              "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n",
		"pids/c1/pids.current":                      "3\n",
		"pids/c1/pids.max":                          "max\n",
		// CFQ files present but empty, as without the CFQ scheduler:
		// the throttle layer's counters are used.
		"blkio/c1/blkio.io_service_bytes_recursive":          "Total 0\n",
		"blkio/c1/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n",
		"blkio/c1/blkio.throttle.io_serviced":                "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
		"hugetlb/c1/hugetlb.2MB.usage_in_bytes":              "2097152\n",
		"hugetlb/c1/hugetlb.2MB.max_usage_in_bytes":          "4194304\n",
		"hugetlb/c1/hugetlb.2MB.failcnt":                     "1\n",
		"hugetlb/c1/hugetlb.2MB.limit_in_bytes":              "8388608\n",
		"hugetlb/c1/hugetlb.2MB.rsvd.limit_in_bytes":         "8388608\n",
	})
	m, _ := NewV1(mounts, "c1")
	got, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{
		CPU: CPUStats{
			Usage: CPUUsage{
				Total: 3e9, Percpu: []uint64{1e9, 2e9}, PercpuKernel: []uint64{100, 200}, PercpuUser: []uint64{900, 1800},
				User: 2.5e9, Kernel: 0.5e9,
			},
			Throttling: Throttling{Periods: 10, ThrottledPeriods: 3, ThrottledTime: 4500},
		},
		CPUSet: CPUSetStats{CPUs: []uint16{0, 1, 2, 5}, Mems: []uint16{0}, SchedLoadBalance: 1, SchedRelaxDomainLevel: -1},
		Memory: MemoryStats{
			Cache:     300,
			Usage:     MemoryEntry{Usage: 8192, Max: 16384, Limit: 9223372036854771712, Failcnt: 2},
			Swap:      MemoryEntry{Usage: 9000, Limit: 65536},
			Kernel:    MemoryEntry{Usage: 512},
			KernelTCP: MemoryEntry{Usage: 64},
			Raw:       map[string]uint64{"cache": 100, "rss": 200, "total_cache": 300, "total_rss": 400},
			OOMKills:  4,
		},
		Pids: PidsStats{Current: 3},
		Blkio: BlkioStats{
			IoServiceBytesRecursive: []BlkioEntry{
				{8, 0, "Read", 4096}, {8, 0, "Write", 8192}, {8, 0, "Sync", 0}, {8, 0, "Async", 12288}, {8, 0, "Total", 12288},
			},
			IoServicedRecursive: []BlkioEntry{{8, 0, "Read", 1}, {8, 0, "Write", 2}},
		},
		Hugetlb: map[string]HugetlbStats{"2MB": {Usage: 2 << 20, Max: 4 << 20, Failcnt: 1, Limit: 8 << 20}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stats() =\n%+v\nwant\n%+v", got, want)
	}

	t.Run("cfq", func(t *testing.T) {
		writeFiles(t, root, map[string]string{
			"blkio/c1/blkio.io_service_bytes_recursive": "8:16 Read 10\n8:16 Write 20\nTotal 30\n",
			"blkio/c1/blkio.sectors_recursive":          "8:16 6\n",
		})
		got, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		b := got.Blkio
		if !reflect.DeepEqual(b.IoServiceBytesRecursive, []BlkioEntry{{8, 16, "Read", 10}, {8, 16, "Write", 20}}) ||
			!reflect.DeepEqual(b.SectorsRecursive, []BlkioEntry{{8, 16, "", 6}}) || b.IoServicedRecursive != nil {
			t.Errorf("blkio = %+v", b)
		}
	})
	t.Run("bad content", func(t *testing.T) {
		writeFiles(t, root, map[string]string{"pids/c1/pids.current": "three\n"})
		defer writeFiles(t, root, map[string]string{"pids/c1/pids.current": "3\n"})
		if _, err := m.Stats(); err == nil || !strings.Contains(err.Error(), "pids.current") {
			t.Errorf("Stats() err = %v, want one naming pids.current", err)
		}
	})
	t.Run("gone", func(t *testing.T) {
		if err := m.Destroy(); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Stats(); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stats() after Destroy: err = %v, want fs.ErrNotExist", err)
		}
	})
}

// TestV1StatsMissingControllers checks that absent files and hierarchies
// read as zero.
func TestV1StatsMissingControllers(t *testing.T) {
	root := t.TempDir()
	fakeFiles(t, filepath.Join(root, "memory/c1"), []string{"memory.usage_in_bytes"})
	writeTestFile(t, filepath.Join(root, "memory/c1/memory.usage_in_bytes"), "42\n")
	m, err := NewV1(map[string]string{"memory": filepath.Join(root, "memory")}, "c1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{Memory: MemoryStats{Usage: MemoryEntry{Usage: 42}}, Hugetlb: map[string]HugetlbStats{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stats() = %+v\nwant %+v", got, want)
	}
}

func TestV2Stats(t *testing.T) {
	root := fakeV2(t, "c1")
	dir := filepath.Join(root, "c1")
	writeFiles(t, dir, map[string]string{
		"cpu.stat":              "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\nnr_periods 7\nnr_throttled 2\nthrottled_usec 50\nnr_bursts 0\nburst_usec 0\n",
		"cpuset.cpus.effective": "0-1\n",
		"cpuset.mems.effective": "0\n",
		"memory.current":        "4096\n",
		"memory.peak":           "8192\n",
		"memory.max":            "max\n",
		"memory.swap.current":   "1024\n",
		"memory.swap.max":       "2048\n",
		"memory.stat":           "anon 1000\nfile 2000\nkernel 300\n",
		"memory.events":         "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n",
		"pids.current":          "2\n",
		"pids.max":              "100\n",
		"io.stat":               "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0\n",
		"hugetlb.2MB.current":   "2097152\n",
		"hugetlb.2MB.max":       "max\n",
		"hugetlb.2MB.events":    "max 3\n",
		"hugetlb.2MB.rsvd.max":  "max\n",
	})
	m, _ := NewV2(root, "c1")
	got, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{
		CPU: CPUStats{
			Usage:      CPUUsage{Total: 3e6, User: 2e6, Kernel: 1e6},
			Throttling: Throttling{Periods: 7, ThrottledPeriods: 2, ThrottledTime: 50000},
		},
		CPUSet: CPUSetStats{CPUs: []uint16{0, 1}, Mems: []uint16{0}},
		Memory: MemoryStats{
			Cache:     2000,
			Usage:     MemoryEntry{Usage: 4096, Max: 8192, Limit: math.MaxUint64, Failcnt: 5},
			Swap:      MemoryEntry{Usage: 5120, Limit: math.MaxUint64},
			Raw:       map[string]uint64{"anon": 1000, "file": 2000, "kernel": 300},
			OOMEvents: 2,
			OOMKills:  1,
		},
		Pids: PidsStats{Current: 2, Limit: 100},
		Blkio: BlkioStats{
			IoServiceBytesRecursive: []BlkioEntry{
				{8, 0, "Read", 4096}, {8, 0, "Write", 8192}, {8, 0, "Discard", 0}, {253, 1, "Read", 1}, {253, 1, "Write", 0},
			},
			IoServicedRecursive: []BlkioEntry{
				{8, 0, "Read", 1}, {8, 0, "Write", 2}, {8, 0, "Discard", 0}, {253, 1, "Read", 1}, {253, 1, "Write", 0},
			},
		},
		Hugetlb: map[string]HugetlbStats{"2MB": {Usage: 2 << 20, Failcnt: 3, Limit: math.MaxUint64}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stats() =\n%+v\nwant\n%+v", got, want)
	}
	t.Run("gone", func(t *testing.T) {
		m, _ := NewV2(root, "c2")
		if _, err := m.Stats(); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stats() err = %v, want fs.ErrNotExist", err)
		}
	})
}

// TestStatsJSON pins the JSON names runc's `events --stats` uses.
func TestStatsJSON(t *testing.T) {
	st := Stats{
		CPU:     CPUStats{Usage: CPUUsage{Total: 1, Percpu: []uint64{1}}, Throttling: Throttling{Periods: 1, ThrottledPeriods: 1, ThrottledTime: 1}},
		Memory:  MemoryStats{Cache: 1, Usage: MemoryEntry{Usage: 1}, KernelTCP: MemoryEntry{Usage: 1}, Raw: map[string]uint64{"x": 1}, OOMKills: 1},
		Pids:    PidsStats{Current: 1, Limit: 2},
		Blkio:   BlkioStats{IoServiceBytesRecursive: []BlkioEntry{{8, 0, "Read", 1}}, IoQueuedRecursive: []BlkioEntry{{8, 0, "Read", 1}}},
		Hugetlb: map[string]HugetlbStats{"2MB": {Usage: 1}},
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"cpu":{"usage":{"total":1,"percpu":[1],"kernel":0,"user":0},"throttling":{"periods":1,"throttledPeriods":1,"throttledTime":1}}`,
		`"memory":{"cache":1,"usage":{"limit":0,"usage":1,"failcnt":0}`, `"kernelTCP":{"limit":0,"usage":1,"failcnt":0}`,
		`"raw":{"x":1}`, `"oom_kills":1`, `"pids":{"current":1,"limit":2}`,
		`"blkio":{"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":1}],"ioQueueRecursive":`,
		`"hugetlb":{"2MB":{"usage":1,"failcnt":0}}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s\n%s", want, b)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in   string
		want []uint16
		err  bool
	}{
		{"", nil, false},
		{"0", []uint16{0}, false},
		{"0-3,8,10-11\n", []uint16{0, 1, 2, 3, 8, 10, 11}, false},
		{"3-1", nil, true},
		{"a", nil, true},
	}
	for _, tt := range tests {
		got, err := parseCPUList(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestOOMKillCount(t *testing.T) {
	tests := []struct {
		name    string
		v2      bool
		content string // memory.oom_control (v1) or memory.events (v2); "-" for no file
		want    uint64
		err     string
	}{
		{name: "v1", content: "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", want: 3},
		{name: "v1 old kernel", content: "oom_kill_disable 0\nunder_oom 0\n", want: 0},
		{name: "v1 garbage", content: "oom_kill x\n", err: "memory.oom_control"},
		{name: "v2", v2: true, content: "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\n", want: 2},
		{name: "v2 no memory controller", v2: true, content: "-", err: "memory.events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Manager
			var file string
			if tt.v2 {
				root := fakeV2(t, "c1")
				m, _ = NewV2(root, "c1")
				file = filepath.Join(root, "c1/memory.events")
			} else {
				root, mounts := fakeV1(t, "c1")
				m, _ = NewV1(mounts, "c1")
				file = filepath.Join(root, "memory/c1/memory.oom_control")
			}
			if tt.content != "-" {
				writeTestFile(t, file, tt.content)
			}
			got, err := m.(OOMNotifier).OOMKillCount()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("OOMKillCount() err = %v, want one naming %s", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("OOMKillCount() = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
