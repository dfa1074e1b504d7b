package cgroup

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Manager is a container's cgroup in the unified (cgroup2) hierarchy.
type v2Manager struct {
	root    string // the hierarchy root Apply enables controllers from; "" after Load
	dir     string
	plain   bool          // a tree of plain files (NewV2): see removeTree
	timeout time.Duration // for Freeze; 0 means freezeTimeout
}

var _ Manager = (*v2Manager)(nil)

// NewV2 returns a cgroup v2 manager for path under root, the directory where
// a cgroup2 filesystem is (or, in tests, pretends to be) mounted. path is
// taken relative to root whether or not it starts with "/". Over a tree of
// plain files, Destroy also removes the regular files it finds.
func NewV2(root, path string) (Manager, error) {
	p, err := checkPath(path)
	if err != nil {
		return nil, err
	}
	root = filepath.Clean(root)
	return &v2Manager{root: root, dir: filepath.Join(root, p), plain: true}, nil
}

func (m *v2Manager) Paths() map[string]string { return map[string]string{"": m.dir} }

// Apply creates the directories from the root down, enabling in each parent
// the controllers it has so that the container's directory gets their
// files, and writes pid to cgroup.procs.
func (m *v2Manager) Apply(pid int) error {
	if err := m.create(); err != nil {
		return err
	}
	return writeFile(m.dir, "cgroup.procs", strconv.Itoa(pid))
}

func (m *v2Manager) create() error {
	if m.root == "" || !strings.HasPrefix(m.dir, m.root+"/") {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
		return nil
	}
	cur := m.root
	for _, e := range strings.Split(strings.TrimPrefix(m.dir, m.root+"/"), "/") {
		enableControllers(cur)
		cur = filepath.Join(cur, e)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup: %w", err)
		}
	}
	return nil
}

// enableControllers enables in dir's cgroup.subtree_control every controller
// dir has. Failures are left for Set to report as missing files: a cgroup
// holding processes (other than the root) cannot enable domain controllers,
// and that is fine as long as nobody asks for their limits.
func enableControllers(dir string) {
	s, err := readFile(dir, "cgroup.controllers")
	if err != nil || s == "" {
		return
	}
	ctrls := strings.Fields(s)
	if writeFile(dir, "cgroup.subtree_control", "+"+strings.Join(ctrls, " +")) == nil {
		return
	}
	for _, c := range ctrls {
		writeFile(dir, "cgroup.subtree_control", "+"+c)
	}
}

func (m *v2Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	for _, set := range []func(string, *specs.LinuxResources) error{
		setCPUV2, setMemoryV2, setPidsV2, setIOV2, setHugetlbV2, setRdmaV2, setDevicesV2, setUnifiedV2,
	} {
		if err := set(m.dir, r); err != nil {
			return err
		}
	}
	return nil
}

func setCPUV2(dir string, r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	if val(c.RealtimeRuntime) != 0 || val(c.RealtimePeriod) != 0 {
		return errors.New("set cpu: realtime runtime and period need cgroup v1")
	}
	if s := val(c.Shares); s != 0 {
		if err := writeFile(dir, "cpu.weight", strconv.FormatUint(sharesToWeight(s), 10)); err != nil {
			return err
		}
	}
	if q, p := val(c.Quota), val(c.Period); q != 0 || p != 0 {
		if err := writeFile(dir, "cpu.max", cpuMax(q, p)); err != nil {
			return err
		}
	}
	if c.Burst != nil {
		if err := writeFile(dir, "cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	return setCpuset(dir, c)
}

// setCpuset writes cpuset.cpus and cpuset.mems (same files on v1 and v2).
func setCpuset(dir string, c *specs.LinuxCPU) error {
	if c.Cpus != "" {
		if err := writeFile(dir, "cpuset.cpus", c.Cpus); err != nil {
			return err
		}
	}
	if c.Mems != "" {
		if err := writeFile(dir, "cpuset.mems", c.Mems); err != nil {
			return err
		}
	}
	return nil
}

// cpuMax formats cpu.max: "quota period", "max period", or the quota alone
// when no period is given (the kernel keeps the current period).
func cpuMax(quota int64, period uint64) string {
	s := "max"
	if quota > 0 {
		s = strconv.FormatInt(quota, 10)
	}
	if period != 0 {
		s += " " + strconv.FormatUint(period, 10)
	}
	return s
}

func setMemoryV2(dir string, r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	limit, swap := val(mem.Limit), val(mem.Swap)
	if err := checkUsage(dir, "memory.current", mem); err != nil {
		return err
	}
	swapMax, err := swapToV2(swap, limit)
	if err != nil {
		return fmt.Errorf("set memory: %w", err)
	}
	s := limitString(swapMax)
	if swapMax == 0 && swap > 0 {
		s = "0" // memory+swap equal to memory: no swap
	}
	// memory.swap.max first, as runc: it never constrains memory.max.
	if s != "" {
		if err := writeFile(dir, "memory.swap.max", s); err != nil {
			// Without swap accounting there is nothing to lift or forbid.
			if !errors.Is(err, os.ErrNotExist) || (s != "max" && s != "0") {
				return err
			}
		}
	}
	if s := limitString(limit); s != "" {
		if err := writeFile(dir, "memory.max", s); err != nil {
			return err
		}
	}
	if s := limitString(val(mem.Reservation)); s != "" {
		if err := writeFile(dir, "memory.low", s); err != nil {
			return err
		}
	}
	return nil
}

// checkUsage implements LinuxMemory.CheckBeforeUpdate: refuse a limit below
// what the cgroup already uses.
func checkUsage(dir, usageFile string, mem *specs.LinuxMemory) error {
	limit := val(mem.Limit)
	if !val(mem.CheckBeforeUpdate) || limit <= 0 {
		return nil
	}
	used, err := readInt(dir, usageFile)
	if err != nil {
		return fmt.Errorf("set memory: %w", err)
	}
	if used >= limit {
		peakFile := "memory.peak"
		if usageFile == "memory.usage_in_bytes" {
			peakFile = "memory.max_usage_in_bytes"
		}
		peak, _ := readInt(dir, peakFile)
		return fmt.Errorf("unable to set memory limit to %d (current usage: %d, peak usage: %d)", limit, used, peak)
	}
	return nil
}

// swapToV2 turns the OCI memory+swap limit into memory.swap.max (swap
// alone), as runc: unlimited memory without a swap value means unlimited
// swap too; 0 leaves it unset; -1 is unlimited.
func swapToV2(swap, limit int64) (int64, error) {
	if limit == -1 && swap == 0 {
		return -1, nil
	}
	if swap == -1 || swap == 0 {
		return swap, nil
	}
	if limit == 0 || limit == -1 {
		return 0, errors.New("a swap limit needs a memory limit")
	}
	if limit < 0 {
		return 0, fmt.Errorf("invalid memory limit %d", limit)
	}
	if swap < limit {
		return 0, fmt.Errorf("memory+swap limit %d is below the memory limit %d", swap, limit)
	}
	return swap - limit, nil
}

// limitString formats a v2 limit: "" for 0 (unset), "max" for negative.
func limitString(v int64) string {
	switch {
	case v == 0:
		return ""
	case v < 0:
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func setPidsV2(dir string, r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	return writeFile(dir, "pids.max", pidsMax(*r.Pids.Limit))
}

// pidsMax formats pids.max: "max" for no limit (<= 0).
func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

// setIOV2 maps blkio weights to io.bfq.weight when the BFQ scheduler offers
// it (same 1-1000 scale) and to io.weight (1-10000) otherwise; throttles go
// to io.max.
func setIOV2(dir string, r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	if val(b.LeafWeight) != 0 {
		return errors.New("set io: leaf weights need cgroup v1")
	}
	bfq := exists(dir, "io.bfq.weight")
	weight := func(w uint16) string {
		if bfq {
			return strconv.FormatUint(uint64(w), 10)
		}
		return strconv.FormatUint(blkioToIOWeight(w), 10)
	}
	file := "io.weight"
	if bfq {
		file = "io.bfq.weight"
	}
	if w := val(b.Weight); w != 0 {
		if err := writeFile(dir, file, weight(w)); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if w := val(d.Weight); w != 0 {
			if err := writeFile(dir, file, fmt.Sprintf("%d:%d %s", d.Major, d.Minor, weight(w))); err != nil {
				return err
			}
		}
	}
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			rate := "max"
			if d.Rate != 0 {
				rate = strconv.FormatUint(d.Rate, 10)
			}
			if err := writeFile(dir, "io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func setHugetlbV2(dir string, r *specs.LinuxResources) error {
	for _, h := range r.HugepageLimits {
		if err := checkPagesize(h.Pagesize); err != nil {
			return err
		}
		v := strconv.FormatUint(h.Limit, 10)
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".max", v); err != nil {
			return err
		}
		if rsvd := "hugetlb." + h.Pagesize + ".rsvd.max"; exists(dir, rsvd) {
			if err := writeFile(dir, rsvd, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkPagesize(s string) error {
	if s == "" || strings.ContainsAny(s, "/.") {
		return fmt.Errorf("invalid hugepage size %q", s)
	}
	return nil
}

// setRdmaV2 writes rdma.max; the file has the same format on v1.
func setRdmaV2(dir string, r *specs.LinuxResources) error {
	for _, dev := range slices.Sorted(maps.Keys(r.Rdma)) {
		if v := rdmaMax(dev, r.Rdma[dev]); v != "" {
			if err := writeFile(dir, "rdma.max", v); err != nil {
				return err
			}
		}
	}
	return nil
}

func rdmaMax(dev string, l specs.LinuxRdma) string {
	var parts []string
	if l.HcaHandles != nil {
		parts = append(parts, "hca_handle="+strconv.FormatUint(uint64(*l.HcaHandles), 10))
	}
	if l.HcaObjects != nil {
		parts = append(parts, "hca_object="+strconv.FormatUint(uint64(*l.HcaObjects), 10))
	}
	if parts == nil {
		return ""
	}
	return dev + " " + strings.Join(parts, " ")
}

// setUnifiedV2 writes the raw file/value pairs of LinuxResources.Unified
// last, so they override the mapped values.
func setUnifiedV2(dir string, r *specs.LinuxResources) error {
	for _, k := range slices.Sorted(maps.Keys(r.Unified)) {
		if k == "" || k == "." || k == ".." || strings.Contains(k, "/") {
			return fmt.Errorf("set unified %q: not a file name", k)
		}
		// One write per line: files such as io.max take one rule a write.
		for _, line := range strings.Split(r.Unified[k], "\n") {
			if line == "" {
				continue
			}
			if err := writeFile(dir, k, line); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *v2Manager) Pids() ([]int, error) { return readPids(m.dir) }

func (m *v2Manager) Freeze(frozen bool) error {
	return freezeUnified(m.dir, frozen, cmp.Or(m.timeout, freezeTimeout))
}

func (m *v2Manager) Destroy() error { return removeTree(m.dir, m.plain) }
