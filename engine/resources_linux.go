package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostResources reads, once, what the host's cgroups support.
var hostResources = sync.OnceValue(func() resourceHost {
	h := resourceHost{swapLimit: readHost().swapLimit, ncpu: goruntime.NumCPU()}
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	if readHost().cgroupV2 {
		h.blkioWeight = readHost().cgroupControllers["io"]
		h.cpus = read("/sys/fs/cgroup/cpuset.cpus.effective")
		h.mems = read("/sys/fs/cgroup/cpuset.mems.effective")
	} else {
		h.blkioWeight = exists("/sys/fs/cgroup/blkio/blkio.weight") || exists("/sys/fs/cgroup/blkio/blkio.bfq.weight")
		h.cpuRealtime = exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us")
		h.swappiness = exists("/sys/fs/cgroup/memory/memory.swappiness")
		h.oomKill = readHost().oomKillDisable
		h.cpus = read("/sys/fs/cgroup/cpuset/cpuset.cpus")
		h.mems = read("/sys/fs/cgroup/cpuset/cpuset.mems")
	}
	if h.cpus == "" {
		h.cpus = read("/sys/devices/system/cpu/online")
	}
	return h
})

// specResources sets the spec's resources, rlimits and /dev/shm size from
// the container's host config: cgroup limits with the block devices
// resolved to their numbers, ulimits the daemon can grant.
func specResources(hc *container.HostConfig, s *specs.Spec) error {
	r := hc.Resources
	if err := checkResources(r, hostResources()); err != nil {
		return err
	}
	if err := checkRlimits(r.Ulimits); err != nil {
		return err
	}
	res := linuxResources(r)
	if err := blkioDevices(r, res); err != nil {
		return err
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if s.Linux.Resources != nil {
		res.Devices = s.Linux.Resources.Devices
	}
	s.Linux.Resources = res
	s.Process.Rlimits = rlimits(r.Ulimits)
	specShm(s, hc.ShmSize)
	return nil
}

// blkioDevices fills the weight and throttle devices of out from r, each
// path resolved to the major:minor of the block device it names.
func blkioDevices(r container.Resources, out *specs.LinuxResources) error {
	if len(r.BlkioWeightDevice)+len(r.BlkioDeviceReadBps)+len(r.BlkioDeviceWriteBps)+
		len(r.BlkioDeviceReadIOps)+len(r.BlkioDeviceWriteIOps) == 0 {
		return nil
	}
	if out.BlockIO == nil {
		out.BlockIO = &specs.LinuxBlockIO{}
	}
	b := out.BlockIO
	for _, d := range r.BlkioWeightDevice {
		maj, min, err := blockDevice(d.Path)
		if err != nil {
			return err
		}
		wd := specs.LinuxWeightDevice{Weight: ptr(d.Weight)}
		wd.Major, wd.Minor = maj, min
		b.WeightDevice = append(b.WeightDevice, wd)
	}
	for _, t := range []struct {
		in  []*blkiodev.ThrottleDevice
		out *[]specs.LinuxThrottleDevice
	}{
		{r.BlkioDeviceReadBps, &b.ThrottleReadBpsDevice},
		{r.BlkioDeviceWriteBps, &b.ThrottleWriteBpsDevice},
		{r.BlkioDeviceReadIOps, &b.ThrottleReadIOPSDevice},
		{r.BlkioDeviceWriteIOps, &b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.in {
			maj, min, err := blockDevice(d.Path)
			if err != nil {
				return err
			}
			td := specs.LinuxThrottleDevice{Rate: d.Rate}
			td.Major, td.Minor = maj, min
			*t.out = append(*t.out, td)
		}
	}
	return nil
}

// blockDevice returns the major and minor numbers of the block device at
// path (on the host).
func blockDevice(path string) (int64, int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return 0, 0, Invalid("no such device: %s", path)
		}
		return 0, 0, Invalid("stat %s: %v", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, Invalid("%s is not a block device", path)
	}
	maj, min := unix.Major(st.Rdev), unix.Minor(st.Rdev)
	if exists(fmt.Sprintf("/sys/dev/block/%d:%d/partition", maj, min)) {
		// The kernel takes block I/O limits on whole disks only.
		return 0, 0, Invalid("%s is a partition: block I/O limits take the whole disk it is on", path)
	}
	return int64(maj), int64(min), nil
}

// checkRlimits refuses a ulimit whose hard limit is above the daemon's
// own when the daemon cannot raise it (it lacks CAP_SYS_RESOURCE): the
// container's start would fail on it.
func checkRlimits(us []*container.Ulimit) error {
	if len(us) == 0 || hasCapSysResource() {
		return nil
	}
	for _, u := range us {
		if u == nil {
			continue
		}
		res, ok := rlimitByName[u.Name]
		if !ok {
			continue
		}
		var cur unix.Rlimit
		if unix.Getrlimit(res, &cur) != nil {
			continue
		}
		want := uint64(u.Hard)
		if want > cur.Max {
			return Invalid("ulimit %s: hard limit %s is above the daemon's hard limit %s, and raising it needs CAP_SYS_RESOURCE, which the daemon does not have",
				u.Name, limitText(u.Hard), rlimText(cur.Max))
		}
	}
	return nil
}

func rlimText(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

var rlimitByName = map[string]int{
	"core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA, "fsize": unix.RLIMIT_FSIZE,
	"locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK, "msgqueue": unix.RLIMIT_MSGQUEUE,
	"nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS,
	"rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING,
	"stack": unix.RLIMIT_STACK,
}

// hasCapSysResource reports whether this process has CAP_SYS_RESOURCE in
// its effective set.
func hasCapSysResource() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true // unknown: let the runtime try
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("CapEff:")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64)
			return err != nil || n&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return true
}
