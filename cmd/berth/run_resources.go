package main

import (
	"fmt"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// resourceFlags are the resource flags of run and create: memory, CPU,
// pids, block I/O, ulimits, OOM and /dev/shm, parsed as docker's CLI does.
type resourceFlags struct {
	memory, memoryReservation, shmSize bytesValue
	memorySwap                         swapValue
	swappiness                         int64
	cpus                               cpusValue
	cpuShares, cpuPeriod, cpuQuota     int64
	cpuRtPeriod, cpuRtRuntime          int64
	cpusetCpus, cpusetMems             string
	pidsLimit                          int64
	blkioWeight                        uint16
	weightDevices                      weightDeviceList
	readBps, writeBps                  throttleList
	readIOps, writeIOps                throttleList
	ulimits                            ulimitList
	oomKillDisable                     bool
	oomScoreAdj                        int
}

func (o *resourceFlags) add(f *pflag.FlagSet) {
	o.readBps.bps, o.writeBps.bps = true, true
	f.VarP(&o.memory, "memory", "m", "Memory limit")
	f.Var(&o.memoryReservation, "memory-reservation", "Memory soft limit")
	f.Var(&o.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	f.Int64Var(&o.swappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	f.Var(&o.cpus, "cpus", "Number of CPUs")
	f.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&o.cpuRtPeriod, "cpu-rt-period", 0, "Limit CPU real-time period in microseconds")
	f.Int64Var(&o.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit CPU real-time runtime in microseconds")
	f.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.Uint16Var(&o.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	f.Var(&o.weightDevices, "blkio-weight-device", "Block IO weight (relative device weight)")
	f.Var(&o.readBps, "device-read-bps", "Limit read rate (bytes per second) from a device")
	f.Var(&o.writeBps, "device-write-bps", "Limit write rate (bytes per second) to a device")
	f.Var(&o.readIOps, "device-read-iops", "Limit read rate (IO per second) from a device")
	f.Var(&o.writeIOps, "device-write-iops", "Limit write rate (IO per second) to a device")
	f.Var(&o.ulimits, "ulimit", "Ulimit options")
	f.BoolVar(&o.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	f.IntVar(&o.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	f.Var(&o.shmSize, "shm-size", "Size of /dev/shm")
}

func (o *resourceFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error {
	hc := req.HostConfig
	if o.oomScoreAdj < -1000 || o.oomScoreAdj > 1000 {
		return fmt.Errorf("invalid value %d, range for oom score adj is [-1000, 1000]", o.oomScoreAdj)
	}
	r := &hc.Resources
	r.Memory = o.memory.n
	r.MemoryReservation = o.memoryReservation.n
	r.MemorySwap = o.memorySwap.n
	if o.swappiness != -1 {
		v := o.swappiness
		r.MemorySwappiness = &v
	}
	r.NanoCPUs = o.cpus.nano
	r.CPUShares, r.CPUPeriod, r.CPUQuota = o.cpuShares, o.cpuPeriod, o.cpuQuota
	r.CPURealtimePeriod, r.CPURealtimeRuntime = o.cpuRtPeriod, o.cpuRtRuntime
	r.CpusetCpus, r.CpusetMems = o.cpusetCpus, o.cpusetMems
	if flags.Changed("pids-limit") {
		v := o.pidsLimit
		r.PidsLimit = &v
	}
	r.BlkioWeight = o.blkioWeight
	r.BlkioWeightDevice = o.weightDevices.devs
	r.BlkioDeviceReadBps, r.BlkioDeviceWriteBps = o.readBps.devs, o.writeBps.devs
	r.BlkioDeviceReadIOps, r.BlkioDeviceWriteIOps = o.readIOps.devs, o.writeIOps.devs
	r.Ulimits = o.ulimits.list
	if flags.Changed("oom-kill-disable") {
		v := o.oomKillDisable
		r.OomKillDisable = &v
	}
	hc.OomScoreAdj = o.oomScoreAdj
	hc.ShmSize = o.shmSize.n
	return nil
}

// swapValue is --memory-swap: a size, or -1 for unlimited swap.
type swapValue struct{ n int64 }

func (s *swapValue) String() string { return strconv.FormatInt(s.n, 10) }
func (s *swapValue) Type() string   { return "bytes" }
func (s *swapValue) Set(v string) error {
	if v == "-1" {
		s.n = -1
		return nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil {
		return err
	}
	s.n = n
	return nil
}

// weightDeviceList is --blkio-weight-device: PATH:WEIGHT, repeated.
type weightDeviceList struct{ devs []*blkiodev.WeightDevice }

func (l *weightDeviceList) String() string { return fmt.Sprint(len(l.devs)) }
func (l *weightDeviceList) Type() string   { return "list" }
func (l *weightDeviceList) Set(v string) error {
	d, err := parseWeightDevice(v)
	if err != nil {
		return err
	}
	l.devs = append(l.devs, d)
	return nil
}

// parseWeightDevice reads PATH:WEIGHT as docker's CLI does.
func parseWeightDevice(val string) (*blkiodev.WeightDevice, error) {
	k, v, ok := strings.Cut(val, ":")
	if !ok || k == "" {
		return nil, fmt.Errorf("bad format: %s", val)
	}
	if !strings.HasPrefix(k, "/dev/") {
		return nil, fmt.Errorf("bad format for device path: %s", val)
	}
	w, err := strconv.ParseUint(v, 10, 16)
	if err != nil || (w > 0 && (w < 10 || w > 1000)) {
		return nil, fmt.Errorf("invalid weight for device: %s", val)
	}
	return &blkiodev.WeightDevice{Path: k, Weight: uint16(w)}, nil
}

// throttleList is --device-{read,write}-{bps,iops}: PATH:RATE, repeated;
// a bps rate takes a unit (kb, mb, gb).
type throttleList struct {
	bps  bool
	devs []*blkiodev.ThrottleDevice
}

func (l *throttleList) String() string { return fmt.Sprint(len(l.devs)) }
func (l *throttleList) Type() string   { return "list" }
func (l *throttleList) Set(v string) error {
	d, err := parseThrottleDevice(v, l.bps)
	if err != nil {
		return err
	}
	l.devs = append(l.devs, d)
	return nil
}

// parseThrottleDevice reads PATH:RATE as docker's CLI does.
func parseThrottleDevice(val string, bps bool) (*blkiodev.ThrottleDevice, error) {
	k, v, ok := strings.Cut(val, ":")
	if !ok || k == "" {
		return nil, fmt.Errorf("bad format: %s", val)
	}
	if !strings.HasPrefix(k, "/dev/") {
		return nil, fmt.Errorf("bad format for device path: %s", val)
	}
	if bps {
		rate, err := units.RAMInBytes(v)
		if err != nil || rate < 0 {
			return nil, fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb", val)
		}
		return &blkiodev.ThrottleDevice{Path: k, Rate: uint64(rate)}, nil
	}
	rate, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>. Number must be a positive integer", val)
	}
	return &blkiodev.ThrottleDevice{Path: k, Rate: rate}, nil
}

// ulimitList is --ulimit: NAME=SOFT[:HARD], repeated; a later one of the
// same name replaces the earlier.
type ulimitList struct{ list []*container.Ulimit }

func (l *ulimitList) String() string {
	var s []string
	for _, u := range l.list {
		s = append(s, u.String())
	}
	return "[" + strings.Join(s, " ") + "]"
}
func (l *ulimitList) Type() string { return "ulimit" }
func (l *ulimitList) Set(v string) error {
	u, err := units.ParseUlimit(v)
	if err != nil {
		return err
	}
	for i, x := range l.list {
		if x.Name == u.Name {
			l.list[i] = u
			return nil
		}
	}
	l.list = append(l.list, u)
	return nil
}
