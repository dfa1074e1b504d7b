package engine

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestAdaptResources(t *testing.T) {
	full := resourceHost{swapLimit: true, blkioWeight: true, cpuRealtime: true, swappiness: true, oomKill: true, ncpu: 2, cpus: "0-1", mems: "0"}
	t.Run("defaults", func(t *testing.T) {
		hc := &container.HostConfig{Resources: container.Resources{Memory: 32 << 20, PidsLimit: ptr(int64(-1))}}
		w, err := adaptResources(hc, full)
		if err != nil || len(w) != 0 {
			t.Fatalf("adapt: %v %v", w, err)
		}
		if hc.ShmSize != 64<<20 || hc.MemorySwap != 64<<20 || hc.PidsLimit != nil {
			t.Errorf("adapted %d %d %v", hc.ShmSize, hc.MemorySwap, hc.PidsLimit)
		}
	})
	t.Run("host without swap accounting or blkio weight", func(t *testing.T) {
		hc := &container.HostConfig{Resources: container.Resources{
			Memory: 32 << 20, MemorySwap: 64 << 20, BlkioWeight: 300, OomKillDisable: ptr(true),
			BlkioWeightDevice: []*blkiodev.WeightDevice{{Path: "/dev/vda", Weight: 100}},
		}}
		w, err := adaptResources(hc, resourceHost{ncpu: 2})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
			"Your kernel does not support OomKillDisable. OomKillDisable discarded.",
			"Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
			"Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.",
		}
		if !slices.Equal(w, want) {
			t.Errorf("warnings %q", w)
		}
		if hc.MemorySwap != -1 || hc.BlkioWeight != 0 || hc.BlkioWeightDevice != nil || hc.OomKillDisable != nil {
			t.Errorf("adapted %+v", hc.Resources)
		}
	})
	t.Run("oom killer off without a limit", func(t *testing.T) {
		w, err := adaptResources(&container.HostConfig{Resources: container.Resources{OomKillDisable: ptr(true)}}, full)
		if err != nil || len(w) != 1 {
			t.Errorf("adapt: %q %v", w, err)
		}
	})
	for _, tc := range []struct {
		name string
		hc   container.HostConfig
		msg  string
	}{
		{"shm", container.HostConfig{ShmSize: -1}, "SHM size can not be less than 0"},
		{"oom score", container.HostConfig{OomScoreAdj: -1001}, "Invalid value -1001, range for oom score adj is [-1000, 1000]"},
		{"cpus", container.HostConfig{Resources: container.Resources{NanoCPUs: 3e9}}, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"},
		{"cpuset", container.HostConfig{Resources: container.Resources{CpusetCpus: "0,3"}}, "Requested CPUs are not available - requested 0,3, available: 0-1"},
		{"cpuset syntax", container.HostConfig{Resources: container.Resources{CpusetMems: "x"}}, "Invalid value x for cpuset mems"},
		{"period", container.HostConfig{Resources: container.Resources{CPUPeriod: 100}}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{"quota", container.HostConfig{Resources: container.Resources{CPUQuota: 10}}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{"rt", container.HostConfig{Resources: container.Resources{CPURealtimePeriod: 1000, CPURealtimeRuntime: 2000}}, "cpu-rt-runtime cannot be higher than cpu-rt-period"},
		{"reservation", container.HostConfig{Resources: container.Resources{MemoryReservation: 1 << 20}}, "Minimum memory reservation allowed is 6MB"},
		{"ulimit unlimited soft", container.HostConfig{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "core", Soft: -1, Hard: 10}}}},
			"ulimit soft limit must be less than or equal to hard limit: -1 (unlimited) > 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := tc.hc
			_, err := adaptResources(&hc, full)
			if err == nil || err.Error() != tc.msg || KindOf(err) != KindInvalid {
				t.Errorf("adapt: %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestCheckUpdate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cur, u container.Resources
		msg    string
	}{
		{"cpus over a quota", container.Resources{CPUQuota: 50000}, container.Resources{NanoCPUs: 1e9},
			"Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"},
		{"period over cpus", container.Resources{NanoCPUs: 1e9}, container.Resources{CPUPeriod: 50000},
			"Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"},
		{"memory above memoryswap", container.Resources{Memory: 32 << 20, MemorySwap: 64 << 20}, container.Resources{Memory: 128 << 20},
			"Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"},
		{"memory with memoryswap", container.Resources{Memory: 32 << 20, MemorySwap: 64 << 20}, container.Resources{Memory: 128 << 20, MemorySwap: 256 << 20}, ""},
		{"memory under unlimited swap", container.Resources{Memory: 32 << 20, MemorySwap: -1}, container.Resources{Memory: 128 << 20}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkUpdate(tc.cur, tc.u)
			if (tc.msg == "") != (err == nil) || err != nil && err.Error() != tc.msg {
				t.Errorf("checkUpdate: %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestSpecShm(t *testing.T) {
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/dev/shm", Type: "tmpfs", Options: []string{"nosuid", "size=65536k"}},
		{Destination: "/tmp", Type: "tmpfs", Options: []string{"size=1k"}},
	}}
	specShm(s, 128<<20)
	if got := s.Mounts[0].Options; !slices.Equal(got, []string{"nosuid", "size=134217728"}) {
		t.Errorf("shm options %q", got)
	}
	if got := s.Mounts[1].Options; !slices.Equal(got, []string{"size=1k"}) {
		t.Errorf("other tmpfs touched: %q", got)
	}
}
