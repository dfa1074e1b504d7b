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
	"golang.org/x/sys/unix"
)

// hierarchy is the container's directory in one v1 hierarchy.
type hierarchy struct {
	subsystems []string // e.g. [cpu cpuacct] when co-mounted, or [name=systemd]
	mount      string   // mountpoint; "" after Load
	dir        string
}

// v1Membership maps each v1 controller (or name=...) of pid's
// /proc/PID/cgroup to its cgroup path there; nil when unreadable.
func v1Membership(pid int) map[string]string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		_, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok || ctrls == "" {
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			out[c] = path
		}
	}
	return out
}

// inCgroup reports whether membership (v1Membership) puts the process in
// h's directory for every subsystem of h. Only known with h's mount
// (not after Load).
func (h hierarchy) inCgroup(membership map[string]string) bool {
	if h.mount == "" || len(membership) == 0 || len(h.subsystems) == 0 {
		return false
	}
	rel, err := filepath.Rel(h.mount, h.dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	want := "/" + rel
	if rel == "." {
		want = "/"
	}
	for _, s := range h.subsystems {
		if p, ok := membership[s]; !ok || p != want {
			return false
		}
	}
	return true
}

// v1Manager is a container's cgroup on a v1 or hybrid host: one directory
// per v1 hierarchy plus, on hybrid hosts, one in the unified hierarchy.
type v1Manager struct {
	hier    []hierarchy
	unified string        // directory in the cgroup2 hierarchy, or ""
	plain   bool          // a tree of plain files (NewV1): see removeTree
	timeout time.Duration // for Freeze; 0 means freezeTimeout
}

var _ Manager = (*v1Manager)(nil)

// NewV1 returns a cgroup v1 manager over the given mounts: each key is a
// subsystem or hierarchy name ("memory", "name=systemd", ...) and its value
// the directory where that hierarchy is mounted; co-mounted subsystems share
// a value ("cpu" and "cpuacct" both at ".../cpu,cpuacct"). The key "" adds
// the unified cgroup2 hierarchy of a hybrid host. path is taken relative to
// each mount whether or not it starts with "/". Meant for trees of plain
// files in tests, for which Destroy also removes regular files.
func NewV1(mounts map[string]string, path string) (Manager, error) {
	p, err := checkPath(path)
	if err != nil {
		return nil, err
	}
	m := &v1Manager{plain: true}
	byMount := map[string][]string{}
	for s, mnt := range mounts {
		if s == "" {
			m.unified = filepath.Join(mnt, p)
			continue
		}
		byMount[filepath.Clean(mnt)] = append(byMount[filepath.Clean(mnt)], s)
	}
	for _, mnt := range slices.Sorted(maps.Keys(byMount)) {
		subs := byMount[mnt]
		slices.Sort(subs)
		m.hier = append(m.hier, hierarchy{subsystems: subs, mount: mnt, dir: filepath.Join(mnt, p)})
	}
	if len(m.hier) == 0 {
		return nil, errors.New("new cgroup v1 manager: no v1 mounts given")
	}
	return m, nil
}

func (m *v1Manager) Paths() map[string]string {
	paths := make(map[string]string, len(m.hier)+2)
	for _, h := range m.hier {
		for _, s := range h.subsystems {
			paths[s] = h.dir
		}
	}
	if m.unified != "" {
		paths[""] = m.unified
	}
	return paths
}

// path returns the container's directory in the hierarchy of subsystem s,
// or "".
func (m *v1Manager) path(s string) string {
	for _, h := range m.hier {
		if slices.Contains(h.subsystems, s) {
			return h.dir
		}
	}
	return ""
}

// need is path for a subsystem a requested limit cannot do without.
func (m *v1Manager) need(s string) (string, error) {
	if d := m.path(s); d != "" {
		return d, nil
	}
	return "", fmt.Errorf("set %s limits: the %s cgroup hierarchy is not mounted", s, s)
}

// Apply creates the directory in each hierarchy and writes pid to its
// cgroup.procs. In cpuset hierarchies, empty cpuset.cpus/mems are first
// filled from the nearest ancestor that has them: the kernel refuses tasks
// in a cpuset without CPUs or memory nodes.
func (m *v1Manager) Apply(pid int) error {
	procs := strconv.Itoa(pid)
	in := v1Membership(pid)
	for _, h := range m.hier {
		if h.inCgroup(in) {
			// Already there (a child forked after its parent moved):
			// writing it again would be a no-op move that still costs the
			// kernel a grace period (cgroup_threadgroup_rwsem).
			continue
		}
		if err := os.MkdirAll(h.dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
		if slices.Contains(h.subsystems, "cpuset") {
			if _, _, err := fillCpuset(h.dir, h.mount); err != nil {
				return err
			}
		}
		if err := writeFile(h.dir, "cgroup.procs", procs); err != nil {
			return err
		}
	}
	if m.unified != "" {
		if err := os.MkdirAll(m.unified, 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
		if err := writeFile(m.unified, "cgroup.procs", procs); err != nil {
			return err
		}
	}
	return nil
}

// fillCpuset makes sure cpuset dir has cpus and mems, copying them down from
// its ancestors (up to top, the mountpoint, when known), and returns them.
func fillCpuset(dir, top string) (cpus, mems string, err error) {
	if cpus, err = readFile(dir, "cpuset.cpus"); err != nil {
		return "", "", fmt.Errorf("inherit cpuset: %w", err)
	}
	if mems, err = readFile(dir, "cpuset.mems"); err != nil {
		return "", "", fmt.Errorf("inherit cpuset: %w", err)
	}
	if cpus != "" && mems != "" {
		return cpus, mems, nil
	}
	parent := filepath.Dir(dir)
	if dir == top || parent == dir || (top != "" && parent != top && !strings.HasPrefix(parent, top+"/")) {
		return "", "", fmt.Errorf("inherit cpuset: %s has no cpus or mems", dir)
	}
	pcpus, pmems, err := fillCpuset(parent, top)
	if err != nil {
		return "", "", err
	}
	if cpus == "" {
		if err := writeFile(dir, "cpuset.cpus", pcpus); err != nil {
			return "", "", err
		}
		cpus = pcpus
	}
	if mems == "" {
		if err := writeFile(dir, "cpuset.mems", pmems); err != nil {
			return "", "", err
		}
		mems = pmems
	}
	return cpus, mems, nil
}

func (m *v1Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if len(r.Unified) > 0 {
		return errors.New("set unified resources: they need cgroup v2")
	}
	for _, set := range []func(*specs.LinuxResources) error{
		m.setCPU, m.setMemory, m.setPids, m.setBlkio, m.setHugetlb, m.setNetwork, m.setRdma, m.setDevices,
	} {
		if err := set(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) setCPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	shares, quota, period := val(c.Shares), val(c.Quota), val(c.Period)
	rtRuntime, rtPeriod := val(c.RealtimeRuntime), val(c.RealtimePeriod)
	if shares != 0 || quota != 0 || period != 0 || rtRuntime != 0 || rtPeriod != 0 || c.Burst != nil || c.Idle != nil {
		dir, err := m.need("cpu")
		if err != nil {
			return err
		}
		if shares != 0 {
			if err := writeFile(dir, "cpu.shares", strconv.FormatUint(shares, 10)); err != nil {
				return err
			}
		}
		if period != 0 {
			p := strconv.FormatUint(period, 10)
			if err := writeFile(dir, "cpu.cfs_period_us", p); err != nil {
				// The old quota may not fit the new period: quota first.
				if quota == 0 || !errors.Is(err, unix.EINVAL) {
					return err
				}
				if err := writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
					return err
				}
				if err := writeFile(dir, "cpu.cfs_period_us", p); err != nil {
					return err
				}
			}
		}
		if quota != 0 {
			if err := writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
				return err
			}
		}
		if c.Burst != nil {
			if err := writeFile(dir, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
				return err
			}
		}
		if rtPeriod != 0 {
			if err := writeFile(dir, "cpu.rt_period_us", strconv.FormatUint(rtPeriod, 10)); err != nil {
				return err
			}
		}
		if rtRuntime != 0 {
			if err := writeFile(dir, "cpu.rt_runtime_us", strconv.FormatInt(rtRuntime, 10)); err != nil {
				return err
			}
		}
		if c.Idle != nil {
			if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
				return err
			}
		}
	}
	if c.Cpus == "" && c.Mems == "" {
		return nil
	}
	dir, err := m.need("cpuset")
	if err != nil {
		return err
	}
	return setCpuset(dir, c)
}

const memswFile = "memory.memsw.limit_in_bytes"

func (m *v1Manager) setMemory(r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	limit, swap, reservation := val(mem.Limit), val(mem.Swap), val(mem.Reservation)
	if limit == 0 && swap == 0 && reservation == 0 && mem.KernelTCP == nil &&
		mem.Swappiness == nil && mem.DisableOOMKiller == nil && mem.UseHierarchy == nil {
		return nil
	}
	dir, err := m.need("memory")
	if err != nil {
		return err
	}
	if err := checkUsage(dir, "memory.usage_in_bytes", mem); err != nil {
		return err
	}
	if limit > 0 && swap > 0 && swap < limit {
		return fmt.Errorf("set memory: memory+swap limit %d is below the memory limit %d", swap, limit)
	}
	hasSwap := exists(dir, memswFile)
	if limit == -1 && swap == 0 && hasSwap {
		swap = -1 // unlimited memory means unlimited memory+swap too
	}
	writeLimit := func() error {
		if limit == 0 {
			return nil
		}
		err := writeFile(dir, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
		if errors.Is(err, unix.EBUSY) {
			// The kernel could not reclaim enough to get under it.
			usage, _ := readInt(dir, "memory.usage_in_bytes")
			peak, _ := readInt(dir, "memory.max_usage_in_bytes")
			return fmt.Errorf("unable to set memory limit to %d (current usage: %d, peak usage: %d)", limit, usage, peak)
		}
		return err
	}
	writeSwap := func() error {
		if swap == 0 || (swap == -1 && !hasSwap) {
			return nil
		}
		return writeFile(dir, memswFile, strconv.FormatInt(swap, 10))
	}
	// The kernel keeps memory.limit <= memsw.limit at every step, so raise
	// memsw first and lower it last.
	first, second := writeLimit, writeSwap
	if limit != 0 && swap != 0 && hasSwap {
		if cur, err := readInt(dir, memswFile); err == nil && (swap == -1 || swap > cur) {
			first, second = writeSwap, writeLimit
		}
	}
	if err := first(); err != nil {
		return err
	}
	if err := second(); err != nil {
		return err
	}
	for _, w := range []struct {
		file string
		set  bool
		v    string
	}{
		{"memory.soft_limit_in_bytes", reservation != 0, strconv.FormatInt(reservation, 10)},
		{"memory.kmem.tcp.limit_in_bytes", mem.KernelTCP != nil, strconv.FormatInt(val(mem.KernelTCP), 10)},
		{"memory.swappiness", mem.Swappiness != nil, strconv.FormatUint(val(mem.Swappiness), 10)},
		{"memory.oom_control", mem.DisableOOMKiller != nil, boolString(val(mem.DisableOOMKiller))},
		{"memory.use_hierarchy", mem.UseHierarchy != nil, boolString(val(mem.UseHierarchy))},
	} {
		if w.set {
			if err := writeFile(dir, w.file, w.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (m *v1Manager) setPids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	dir, err := m.need("pids")
	if err != nil {
		return err
	}
	return writeFile(dir, "pids.max", pidsMax(*r.Pids.Limit))
}

// setBlkio writes blkio weights (to the CFQ files, or the BFQ ones when the
// CFQ ones are absent, as on kernels since 5.0) and throttles.
func (m *v1Manager) setBlkio(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil || (val(b.Weight) == 0 && val(b.LeafWeight) == 0 && len(b.WeightDevice) == 0 &&
		len(b.ThrottleReadBpsDevice) == 0 && len(b.ThrottleWriteBpsDevice) == 0 &&
		len(b.ThrottleReadIOPSDevice) == 0 && len(b.ThrottleWriteIOPSDevice) == 0) {
		return nil
	}
	dir, err := m.need("blkio")
	if err != nil {
		return err
	}
	weightFile, weightDevFile := "blkio.weight", "blkio.weight_device"
	if !exists(dir, weightFile) && exists(dir, "blkio.bfq.weight") {
		weightFile, weightDevFile = "blkio.bfq.weight", "blkio.bfq.weight_device"
	}
	if w := val(b.Weight); w != 0 {
		if err := writeFile(dir, weightFile, strconv.FormatUint(uint64(w), 10)); err != nil {
			return err
		}
	}
	if w := val(b.LeafWeight); w != 0 {
		if err := writeFile(dir, "blkio.leaf_weight", strconv.FormatUint(uint64(w), 10)); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if w := val(d.Weight); w != 0 {
			if err := writeFile(dir, weightDevFile, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, w)); err != nil {
				return err
			}
		}
		if w := val(d.LeafWeight); w != 0 {
			if err := writeFile(dir, "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, w)); err != nil {
				return err
			}
		}
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			if err := writeFile(dir, t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setHugetlb writes hugetlb limits in the v1 hugetlb hierarchy or, on a
// hybrid host that leaves hugetlb to cgroup2 and has it enabled for the
// container's unified directory, there.
func (m *v1Manager) setHugetlb(r *specs.LinuxResources) error {
	if len(r.HugepageLimits) == 0 {
		return nil
	}
	dir := m.path("hugetlb")
	if dir == "" && m.unified != "" && hasHugetlbV2(m.unified) {
		return setHugetlbV2(m.unified, r)
	}
	dir, err := m.need("hugetlb")
	if err != nil {
		return err
	}
	for _, h := range r.HugepageLimits {
		if err := checkPagesize(h.Pagesize); err != nil {
			return err
		}
		v := strconv.FormatUint(h.Limit, 10)
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".limit_in_bytes", v); err != nil {
			return err
		}
		if rsvd := "hugetlb." + h.Pagesize + ".rsvd.limit_in_bytes"; exists(dir, rsvd) {
			if err := writeFile(dir, rsvd, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasHugetlbV2 reports whether the cgroup2 directory has hugetlb files.
func hasHugetlbV2(dir string) bool {
	sizes, err := hugepageSizes(dir, ".max")
	return err == nil && len(sizes) > 0
}

// setNetwork writes net_cls.classid and net_prio.ifpriomap. Each is skipped
// when its hierarchy is not mounted (many kernels build net_cls and
// net_prio without anyone mounting them), as v2 skips both: they tag and
// prioritize traffic, they do not isolate.
func (m *v1Manager) setNetwork(r *specs.LinuxResources) error {
	n := r.Network
	if n == nil {
		return nil
	}
	if dir := m.path("net_cls"); n.ClassID != nil && dir != "" {
		if err := writeFile(dir, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return err
		}
	}
	dir := m.path("net_prio")
	if dir == "" {
		return nil
	}
	for _, p := range n.Priorities {
		if p.Name == "" || strings.ContainsAny(p.Name, " \n") {
			return fmt.Errorf("set net_prio: invalid interface name %q", p.Name)
		}
		if err := writeFile(dir, "net_prio.ifpriomap", p.Name+" "+strconv.FormatUint(uint64(p.Priority), 10)); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) setRdma(r *specs.LinuxResources) error {
	if len(r.Rdma) == 0 {
		return nil
	}
	dir, err := m.need("rdma")
	if err != nil {
		return err
	}
	return setRdmaV2(dir, r)
}

// setDevices writes the device rules to devices.allow and devices.deny:
// first "a" to the file of the default (deny unless the rules reset it to
// allow; the kernel then drops every earlier exception), then the rules
// after the last reset in order, as runc does. The outcome matches the v2
// program except that v1 decides an access by one rule, not bit by bit.
// Rules are applied one at a time, so a running container updated this way
// briefly loses its devices.
func (m *v1Manager) setDevices(r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	writes, err := v1DeviceWrites(r.Devices)
	if err != nil {
		return err
	}
	dir, err := m.need("devices")
	if err != nil {
		return err
	}
	for _, w := range writes {
		if err := writeFile(dir, w.file, w.rule); err != nil {
			return err
		}
	}
	return nil
}

// deviceWrite is one write to devices.allow or devices.deny.
type deviceWrite struct{ file, rule string }

// v1DeviceWrites turns OCI rules into the writes setDevices makes.
func v1DeviceWrites(rules []specs.LinuxDeviceCgroup) ([]deviceWrite, error) {
	def, list, err := deviceRules(rules)
	if err != nil {
		return nil, err
	}
	file := func(allow bool) string {
		if allow {
			return "devices.allow"
		}
		return "devices.deny"
	}
	writes := []deviceWrite{{file(def), "a *:* rwm"}}
	for _, d := range list {
		writes = append(writes, deviceWrite{file(d.allow), d.v1Rule()})
	}
	return writes, nil
}

// v1Rule formats the rule for devices.allow or devices.deny: "c 1:3 rwm".
func (r devRule) v1Rule() string {
	s := r.String()
	_, s, _ = strings.Cut(s, " ") // drop allow/deny
	return s
}

// Pids reads the pids hierarchy, else the freezer one, else any.
func (m *v1Manager) Pids() ([]int, error) {
	dir := cmp.Or(m.path("pids"), m.path("freezer"))
	if dir == "" {
		if len(m.hier) == 0 {
			return readPids(m.unified)
		}
		dir = m.hier[0].dir
	}
	return readPids(dir)
}

// Freeze uses the v1 freezer, or cgroup.freeze in the unified hierarchy of
// a hybrid host that lacks it.
func (m *v1Manager) Freeze(frozen bool) error {
	timeout := cmp.Or(m.timeout, freezeTimeout)
	if dir := m.path("freezer"); dir != "" {
		return freezeV1(dir, frozen, timeout)
	}
	if m.unified != "" {
		return freezeUnified(m.unified, frozen, timeout)
	}
	return errors.New("freeze: the freezer cgroup hierarchy is not mounted")
}

// Destroy removes the directory in every hierarchy, going on past failures
// and returning them all.
func (m *v1Manager) Destroy() error {
	var errs []error
	for _, h := range m.hier {
		errs = append(errs, removeTree(h.dir, m.plain))
	}
	if m.unified != "" {
		errs = append(errs, removeTree(m.unified, m.plain))
	}
	return errors.Join(errs...)
}
