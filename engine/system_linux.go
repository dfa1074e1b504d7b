package engine

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"
)

// hostFacts are what info and version say about the machine; they do not
// change while the engine runs.
type hostFacts struct {
	kernel, machine   string
	osName, osVersion string
	memTotal          int64
	cgroupV2          bool
	cgroupControllers map[string]bool
	swapLimit, cfs    bool
	oomKillDisable    bool
	seccomp           bool
	cgroupNamespace   bool
	ipv4Forwarding    bool
}

var hostOnce = sync.OnceValue(func() *hostFacts {
	h := &hostFacts{}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.kernel = unix.ByteSliceToString(u.Release[:])
		h.machine = unix.ByteSliceToString(u.Machine[:])
	}
	h.osName, h.osVersion = osRelease("/etc/os-release")
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		h.memTotal = int64(si.Totalram) * int64(si.Unit)
	}
	var st unix.Statfs_t
	h.cgroupV2 = unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	h.cgroupControllers = map[string]bool{}
	if h.cgroupV2 {
		if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
			for _, c := range strings.Fields(string(b)) {
				h.cgroupControllers[c] = true
			}
		}
		h.swapLimit = exists("/sys/fs/cgroup/init.scope/memory.swap.max") || exists("/sys/fs/cgroup/system.slice/memory.swap.max")
		h.cfs = h.cgroupControllers["cpu"]
	} else {
		for _, c := range []string{"memory", "cpu", "cpuset", "pids", "blkio", "freezer", "devices"} {
			h.cgroupControllers[c] = exists(filepath.Join("/sys/fs/cgroup", c))
		}
		h.swapLimit = exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
		h.cfs = exists("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
		h.oomKillDisable = exists("/sys/fs/cgroup/memory/memory.oom_control")
	}
	h.cgroupNamespace = exists("/proc/self/ns/cgroup")
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		h.seccomp = bytes.Contains(b, []byte("\nSeccomp:"))
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		h.ipv4Forwarding = strings.TrimSpace(string(b)) == "1"
	}
	return h
})

func readHost() *hostFacts { return hostOnce() }

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// osRelease reads PRETTY_NAME and VERSION_ID from an os-release file.
func osRelease(path string) (name, version string) {
	f, err := os.Open(path)
	if err != nil {
		return "Linux", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		switch k {
		case "PRETTY_NAME":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	if name == "" {
		name = "Linux"
	}
	return name, version
}

// countFDs counts this process's open file descriptors.
func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// filesystemNames names the filesystems docker's DriverStatus names, by
// statfs magic.
var filesystemNames = map[int64]string{
	unix.EXT4_SUPER_MAGIC:      "extfs",
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	0x2fc12fc1:                 "zfs",
	unix.F2FS_SUPER_MAGIC:      "f2fs",
	unix.NFS_SUPER_MAGIC:       "nfs",
}

// backingFilesystem names the filesystem that holds path.
func backingFilesystem(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "<unknown>"
	}
	if n, ok := filesystemNames[int64(st.Type)]; ok {
		return n
	}
	return "0x" + strconv.FormatInt(int64(st.Type), 16)
}

// fillHostInfo sets what info says about the kernel's features.
func fillHostInfo(info *system.Info, root string) {
	h := readHost()
	info.DriverStatus = [][2]string{
		{"Backing Filesystem", backingFilesystem(root)},
		{"Supports d_type", "true"},
	}
	if info.Driver == "overlay" {
		info.DriverStatus = append(info.DriverStatus, [2]string{"Native Overlay Diff", "true"})
	}
	info.CgroupVersion = "1"
	if h.cgroupV2 {
		info.CgroupVersion = "2"
	}
	c := h.cgroupControllers
	info.MemoryLimit = c["memory"]
	info.SwapLimit = h.swapLimit
	info.CPUCfsPeriod = h.cfs
	info.CPUCfsQuota = h.cfs
	info.CPUShares = c["cpu"]
	info.CPUSet = c["cpuset"]
	info.PidsLimit = c["pids"]
	info.OomKillDisable = h.oomKillDisable
	info.IPv4Forwarding = h.ipv4Forwarding
	if h.seccomp {
		info.SecurityOptions = append(info.SecurityOptions, "name=seccomp,profile=builtin")
	}
	if h.cgroupNamespace { // every container gets its own (oci.DefaultSpec)
		info.SecurityOptions = append(info.SecurityOptions, "name=cgroupns")
	}
}
