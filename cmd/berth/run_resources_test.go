package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
)

// TestResourceFlagsParse: every resource flag of create lands in the
// host config as docker's CLI puts it there.
func TestResourceFlagsParse(t *testing.T) {
	f := &fakeAPI{createID: fullID}
	r := berth(t, f, "", "create",
		"-m", "64m", "--memory-reservation", "32m", "--memory-swap", "-1", "--memory-swappiness", "0",
		"--cpus", "0.5", "-c", "512", "--cpu-rt-period", "1000000", "--cpu-rt-runtime", "950000",
		"--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--pids-limit", "20",
		"--blkio-weight", "300", "--blkio-weight-device", "/dev/sda:200",
		"--device-read-bps", "/dev/sda:1mb", "--device-write-bps", "/dev/sda:2kb",
		"--device-read-iops", "/dev/sda:100", "--device-write-iops", "/dev/sdb:200",
		"--ulimit", "nofile=1024:2048", "--ulimit", "nproc=10", "--ulimit", "nofile=512:1024",
		"--oom-kill-disable", "--oom-score-adj", "-500", "--shm-size", "128m", "busybox")
	if r.code != 0 {
		t.Fatalf("create: exit %d, stderr %q", r.code, r.stderr)
	}
	got := f.createReqs[0].HostConfig
	want := container.Resources{
		Memory: 64 << 20, MemoryReservation: 32 << 20, MemorySwap: -1, MemorySwappiness: int64p(0),
		NanoCPUs: 5e8, CPUShares: 512, CPURealtimePeriod: 1000000, CPURealtimeRuntime: 950000,
		CpusetCpus: "0-1", CpusetMems: "0", PidsLimit: int64p(20),
		BlkioWeight:          300,
		BlkioWeightDevice:    []*blkiodev.WeightDevice{{Path: "/dev/sda", Weight: 200}},
		BlkioDeviceReadBps:   []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 1 << 20}},
		BlkioDeviceWriteBps:  []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 2 << 10}},
		BlkioDeviceReadIOps:  []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 100}},
		BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{{Path: "/dev/sdb", Rate: 200}},
		Ulimits:              []*container.Ulimit{{Name: "nofile", Soft: 512, Hard: 1024}, {Name: "nproc", Soft: 10, Hard: 10}},
		OomKillDisable:       boolp(true),
	}
	if !reflect.DeepEqual(got.Resources, want) {
		t.Errorf("resources\n got %+v\nwant %+v", got.Resources, want)
	}
	if got.OomScoreAdj != -500 || got.ShmSize != 128<<20 {
		t.Errorf("oom score adj %d, shm size %d", got.OomScoreAdj, got.ShmSize)
	}
}

func TestResourceFlagsBadInput(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--ulimit nofile", "invalid ulimit argument: nofile"},
		{"--ulimit bogus=1", "invalid ulimit type: bogus"},
		{"--ulimit nofile=2:1", "ulimit soft limit must be less than or equal to hard limit: 2 > 1"},
		{"--ulimit nofile=1:2:3", "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"},
		{"--memory-swap lots", `invalid argument "lots" for "--memory-swap" flag`},
		{"--device-read-bps /dev/sda", "bad format: /dev/sda"},
		{"--device-read-bps sda:1", "bad format for device path: sda:1"},
		{"--device-write-bps /dev/sda:-1", "invalid rate for device: /dev/sda:-1. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"},
		{"--device-read-iops /dev/sda:1k", "invalid rate for device: /dev/sda:1k. The correct format is <device-path>:<number>. Number must be a positive integer"},
		{"--blkio-weight-device /dev/sda:2000", "invalid weight for device: /dev/sda:2000"},
		{"--blkio-weight 70000", `invalid argument "70000" for "--blkio-weight" flag`},
		{"--oom-score-adj 1001", "invalid value 1001, range for oom score adj is [-1000, 1000]"},
		{"--shm-size big", `invalid argument "big" for "--shm-size" flag`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			f := &fakeAPI{createID: fullID}
			r := berth(t, f, "", append(append([]string{"create"}, strings.Fields(tc.args)...), "busybox")...)
			if r.code != 125 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 125 and %q", r.code, r.stderr, tc.want)
			}
			if len(f.calls) != 0 {
				t.Errorf("calls made: %v", f.calls)
			}
		})
	}
}

func TestUpdateFlags(t *testing.T) {
	f := &fakeAPI{}
	r := berth(t, f, "", "update", "-m", "96m", "--memory-reservation", "48m", "--memory-swap", "192m",
		"--cpu-period", "50000", "--cpu-quota", "25000", "-c", "100", "--cpuset-cpus", "1", "--cpuset-mems", "0",
		"--blkio-weight", "500", "--pids-limit", "-1", "--cpu-rt-runtime", "1000", "ctr")
	if r.code != 0 {
		t.Fatalf("update: exit %d, stderr %q", r.code, r.stderr)
	}
	want := container.Resources{
		Memory: 96 << 20, MemoryReservation: 48 << 20, MemorySwap: 192 << 20, CPUPeriod: 50000, CPUQuota: 25000,
		CPUShares: 100, CpusetCpus: "1", CpusetMems: "0", BlkioWeight: 500, PidsLimit: int64p(-1), CPURealtimeRuntime: 1000,
	}
	if len(f.updates) != 1 || !reflect.DeepEqual(f.updates[0].Resources, want) {
		t.Errorf("updates %+v", f.updates)
	}
}
