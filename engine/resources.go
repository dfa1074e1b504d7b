package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultShmSize is the size of a container's /dev/shm when --shm-size is
// not given, docker's 64 MiB.
const defaultShmSize = 64 << 20

// minMemory is the smallest memory limit or reservation docker accepts.
const minMemory = 6 << 20

// resourceHost is what the host supports that decides how a container's
// resources are adapted (docker's sysinfo, the part berth needs).
type resourceHost struct {
	swapLimit   bool   // memory+swap can be limited
	blkioWeight bool   // a block I/O weight can be set
	cpuRealtime bool   // cpu.rt_* exist
	swappiness  bool   // memory swappiness can be set (v1)
	oomKill     bool   // the OOM killer can be disabled (v1)
	ncpu        int    // CPUs online
	cpus, mems  string // the CPUs and memory nodes a cpuset may name ("" unknown)
}

// adaptResources fills docker's defaults into a new container's host config
// and checks it against what the host supports: a missing feature drops
// the setting with docker's warning, a bad value is docker's error.
func adaptResources(hc *container.HostConfig, h resourceHost) ([]string, error) {
	warnings := []string{}
	if hc.ShmSize < 0 {
		return nil, Invalid("SHM size can not be less than 0")
	}
	if hc.ShmSize == 0 {
		hc.ShmSize = defaultShmSize
	}
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return nil, Invalid("Invalid value %d, range for oom score adj is [-1000, 1000]", hc.OomScoreAdj)
	}
	r := &hc.Resources
	if r.Memory == 0 && r.MemorySwap > 0 {
		return nil, Invalid("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if err := checkResources(*r, h); err != nil {
		return nil, err
	}
	if r.MemorySwap != 0 && r.MemorySwap != -1 && !h.swapLimit {
		warnings = append(warnings, "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		r.MemorySwap = -1
	}
	if r.Memory > 0 && r.MemorySwap == 0 && h.swapLimit {
		r.MemorySwap = 2 * r.Memory // docker: as much swap as memory
	}
	if r.OomKillDisable != nil && *r.OomKillDisable && r.Memory == 0 {
		warnings = append(warnings, "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.")
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness != -1 && !h.swappiness {
		warnings = append(warnings, "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.")
		r.MemorySwappiness = nil
	}
	if r.OomKillDisable != nil && *r.OomKillDisable && !h.oomKill {
		warnings = append(warnings, "Your kernel does not support OomKillDisable. OomKillDisable discarded.")
		r.OomKillDisable = nil
	}
	if r.BlkioWeight > 0 && !h.blkioWeight {
		warnings = append(warnings, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		r.BlkioWeight = 0
	}
	if len(r.BlkioWeightDevice) > 0 && !h.blkioWeight {
		warnings = append(warnings, "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.")
		r.BlkioWeightDevice = nil
	}
	if (r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0) && !h.cpuRealtime {
		return nil, Invalid("Your kernel does not support CPU real-time scheduler")
	}
	if r.PidsLimit != nil && *r.PidsLimit <= 0 {
		r.PidsLimit = nil // docker: zero or negative is unlimited
	}
	return warnings, nil
}

// checkResources rejects what docker rejects before any cgroup sees it:
// at create, and at update with the resources as they would become.
func checkResources(r container.Resources, h resourceHost) error {
	if r.Memory != 0 && r.Memory < minMemory {
		return Invalid("Minimum memory limit allowed is 6MB")
	}
	if r.MemoryReservation != 0 && r.MemoryReservation < minMemory {
		return Invalid("Minimum memory reservation allowed is 6MB")
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation {
		return Invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return Invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if s := r.MemorySwappiness; s != nil && *s != -1 && (*s < 0 || *s > 100) {
		return Invalid("Invalid value: %v, valid memory swappiness range is 0-100", *s)
	}
	if r.NanoCPUs != 0 && r.CPUPeriod != 0 {
		return Invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs != 0 && r.CPUQuota != 0 {
		return Invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if n := int64(h.ncpu); n > 0 && (r.NanoCPUs < 0 || r.NanoCPUs > n*1e9) {
		return Invalid("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	if r.NanoCPUs < 0 {
		return Invalid("Range of CPUs is from 0.01 to the number of CPUs available")
	}
	if r.CPUShares < 0 {
		return Invalid("Invalid CPU shares (%d): value must be a positive integer", r.CPUShares)
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return Invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return Invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.CPURealtimePeriod != 0 && r.CPURealtimeRuntime != 0 && r.CPURealtimeRuntime > r.CPURealtimePeriod {
		return Invalid("cpu-rt-runtime cannot be higher than cpu-rt-period")
	}
	if err := checkCpuset(r.CpusetCpus, h.cpus, "cpus", "CPUs"); err != nil {
		return err
	}
	if err := checkCpuset(r.CpusetMems, h.mems, "mems", "memory nodes"); err != nil {
		return err
	}
	if r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return Invalid("Range of blkio weight is from 10 to 1000")
	}
	for _, d := range r.BlkioWeightDevice {
		if d == nil || d.Path == "" {
			return Invalid("invalid blkio weight device: no path")
		}
		if d.Weight > 0 && (d.Weight < 10 || d.Weight > 1000) {
			return Invalid("invalid weight for device: %s:%d", d.Path, d.Weight)
		}
	}
	for _, l := range [][]*blkiodev.ThrottleDevice{
		r.BlkioDeviceReadBps, r.BlkioDeviceWriteBps, r.BlkioDeviceReadIOps, r.BlkioDeviceWriteIOps,
	} {
		for _, d := range l {
			if d == nil || d.Path == "" {
				return Invalid("invalid blkio throttle device: no path")
			}
		}
	}
	return checkUlimits(r.Ulimits)
}

// ulimitNames are the ulimits docker takes (by --ulimit's name).
var ulimitNames = []string{
	"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
	"rss", "rtprio", "rttime", "sigpending", "stack",
}

// checkUlimits checks each ulimit's name and that its soft limit is not
// above its hard one (-1 is unlimited).
func checkUlimits(us []*container.Ulimit) error {
	for _, u := range us {
		if u == nil {
			continue
		}
		if !slices.Contains(ulimitNames, u.Name) {
			return Invalid("invalid ulimit type: %s", u.Name)
		}
		if u.Hard != -1 && (u.Soft == -1 || u.Soft > u.Hard) {
			return Invalid("ulimit soft limit must be less than or equal to hard limit: %s > %s", limitText(u.Soft), limitText(u.Hard))
		}
	}
	return nil
}

func limitText(v int64) string {
	if v == -1 {
		return "-1 (unlimited)"
	}
	return strconv.FormatInt(v, 10)
}

// rlimits converts ulimits to the spec's rlimits (-1 is infinity).
func rlimits(us []*container.Ulimit) []specs.POSIXRlimit {
	var out []specs.POSIXRlimit
	for _, u := range us {
		if u == nil {
			continue
		}
		out = append(out, specs.POSIXRlimit{
			Type: "RLIMIT_" + strings.ToUpper(u.Name), Soft: uint64(u.Soft), Hard: uint64(u.Hard),
		})
	}
	return out
}

// checkCpuset checks a --cpuset-cpus or --cpuset-mems list: its syntax,
// and that it names only what the host has (avail, when known).
func checkCpuset(list, avail, what, plural string) error {
	if list == "" {
		return nil
	}
	want, err := parseCPUList(list)
	if err != nil {
		return Invalid("Invalid value %s for cpuset %s", list, what)
	}
	if avail == "" {
		return nil
	}
	have, err := parseCPUList(avail)
	if err != nil {
		return nil
	}
	for n := range want {
		if !have[n] {
			return Invalid("Requested %s are not available - requested %s, available: %s", plural, list, avail)
		}
	}
	return nil
}

// parseCPUList parses a kernel list ("0-3,5").
func parseCPUList(s string) (map[int]bool, error) {
	out := map[int]bool{}
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad list %q", s)
			}
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// checkUpdate applies docker's rules of an update u to resources cur:
// CPU options that conflict with those set, and a memory limit above the
// memory+swap limit set without a new one.
func checkUpdate(cur, u container.Resources) error {
	switch {
	case u.NanoCPUs != 0 && u.CPUPeriod != 0:
		return Invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	case u.NanoCPUs != 0 && u.CPUQuota != 0:
		return Invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	case u.NanoCPUs > 0 && cur.CPUPeriod > 0:
		return Invalid("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case u.NanoCPUs > 0 && cur.CPUQuota > 0:
		return Invalid("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	case u.CPUPeriod > 0 && cur.NanoCPUs > 0:
		return Invalid("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case u.CPUQuota > 0 && cur.NanoCPUs > 0:
		return Invalid("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	}
	if u.Memory != 0 && u.MemorySwap == 0 && cur.MemorySwap > 0 && u.Memory > cur.MemorySwap {
		return Invalid("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
	}
	if u.MemorySwap > 0 && u.Memory == 0 && cur.Memory == 0 {
		return Invalid("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	return nil
}

// specShm sets the size of the spec's /dev/shm mount to size bytes.
func specShm(s *specs.Spec, size int64) {
	if size <= 0 {
		return
	}
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if m.Destination != "/dev/shm" || m.Type != "tmpfs" {
			continue
		}
		m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "size=") })
		m.Options = append(m.Options, "size="+strconv.FormatInt(size, 10))
	}
}
