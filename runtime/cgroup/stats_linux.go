package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// userHZ is the unit of cpuacct.stat (USER_HZ, 100 on every Linux ABI).
const userHZ = 100

// statReader reads cgroup counter files for Stats. A missing file reads as
// zero (its controller is absent or the kernel predates it); the first
// other failure is kept in err and later reads do nothing.
type statReader struct{ err error }

// read returns the file's content, "" when it is missing.
func (r *statReader) read(dir, name string) string {
	if r.err != nil || dir == "" {
		return ""
	}
	s, err := readFile(dir, name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.err = fmt.Errorf("stats: %w", err)
		}
		return ""
	}
	return s
}

func (r *statReader) fail(dir, name string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("stats: parse %s: %w", filepath.Join(dir, name), err)
	}
}

// uint reads a file holding one number; "max" reads as math.MaxUint64.
func (r *statReader) uint(dir, name string) uint64 {
	s := r.read(dir, name)
	if s == "" {
		return 0
	}
	v, err := parseCounter(s)
	if err != nil {
		r.fail(dir, name, err)
	}
	return v
}

// int reads a file holding one signed number.
func (r *statReader) int(dir, name string) int64 {
	s := r.read(dir, name)
	if s == "" {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.fail(dir, name, err)
	}
	return v
}

// keyed reads a flat keyed file ("key value" lines: memory.stat, cpu.stat,
// memory.events, memory.oom_control); nil when it is missing.
func (r *statReader) keyed(dir, name string) map[string]uint64 {
	s := r.read(dir, name)
	if s == "" {
		return nil
	}
	m, err := parseKeyed(s)
	if err != nil {
		r.fail(dir, name, err)
	}
	return m
}

// list reads a file of space-separated numbers (cpuacct.usage_percpu).
func (r *statReader) list(dir, name string) []uint64 {
	s := r.read(dir, name)
	if s == "" {
		return nil
	}
	var out []uint64
	for _, f := range strings.Fields(s) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			r.fail(dir, name, err)
			return nil
		}
		out = append(out, v)
	}
	return out
}

// cpuList reads a cpuset list file ("0-3,8").
func (r *statReader) cpuList(dir, name string) []uint16 {
	s := r.read(dir, name)
	if s == "" {
		return nil
	}
	v, err := parseCPUList(s)
	if err != nil {
		r.fail(dir, name, err)
	}
	return v
}

// parseCounter parses one unsigned counter or limit; "max" is unlimited.
// Negative values (v1 limits written as -1 read back as large positive
// numbers, but be lenient) read as 0.
func parseCounter(s string) (uint64, error) {
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if _, ierr := strconv.ParseInt(s, 10, 64); ierr == nil {
			return 0, nil
		}
		return 0, err
	}
	return v, nil
}

func parseKeyed(s string) (map[string]uint64, error) {
	m := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %q is not \"key value\"", line)
		}
		v, err := parseCounter(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		m[f[0]] = v
	}
	return m, nil
}

// parseCPUList expands the kernel's list format: "0-3,8,10-11".
func parseCPUList(s string) ([]uint16, error) {
	var out []uint16
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return nil, err
			}
		}
		if b < a {
			return nil, fmt.Errorf("range %q runs backwards", part)
		}
		for i := a; i <= b; i++ {
			out = append(out, uint16(i))
		}
	}
	return out, nil
}

// parseBlkio parses a v1 blkio file: "MAJ:MIN Op value" lines, or
// "MAJ:MIN value" for counters without operations; the "Total" line is
// skipped.
func parseBlkio(s string) ([]BlkioEntry, error) {
	var out []BlkioEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "Total" {
			continue
		}
		if len(f) != 2 && len(f) != 3 {
			return nil, fmt.Errorf("line %q: want \"MAJ:MIN [op] value\"", line)
		}
		e, err := devEntry(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		if len(f) == 3 {
			e.Op = f[1]
		}
		if e.Value, err = strconv.ParseUint(f[len(f)-1], 10, 64); err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// devEntry parses "MAJ:MIN" into an entry.
func devEntry(s string) (BlkioEntry, error) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return BlkioEntry{}, fmt.Errorf("device %q is not MAJ:MIN", s)
	}
	var e BlkioEntry
	var err error
	if e.Major, err = strconv.ParseUint(maj, 10, 64); err != nil {
		return BlkioEntry{}, fmt.Errorf("device %q: %w", s, err)
	}
	if e.Minor, err = strconv.ParseUint(min, 10, 64); err != nil {
		return BlkioEntry{}, fmt.Errorf("device %q: %w", s, err)
	}
	return e, nil
}

func (r *statReader) blkio(dir, name string) []BlkioEntry {
	s := r.read(dir, name)
	if s == "" {
		return nil
	}
	v, err := parseBlkio(s)
	if err != nil {
		r.fail(dir, name, err)
	}
	return v
}

// parseIOStat parses v2 io.stat ("MAJ:MIN rbytes=1 wbytes=2 rios=3 ...")
// into service-bytes and serviced (operation count) entries, per device in
// file order: Read, Write and, when the kernel reports it, Discard.
func parseIOStat(s string) (bytes, ios []BlkioEntry, err error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dev, err := devEntry(f[0])
		if err != nil {
			return nil, nil, fmt.Errorf("line %q: %w", line, err)
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, nil, fmt.Errorf("line %q: %q is not key=value", line, kv)
			}
			var list *[]BlkioEntry
			var op string
			switch k {
			case "rbytes":
				list, op = &bytes, "Read"
			case "wbytes":
				list, op = &bytes, "Write"
			case "dbytes":
				list, op = &bytes, "Discard"
			case "rios":
				list, op = &ios, "Read"
			case "wios":
				list, op = &ios, "Write"
			case "dios":
				list, op = &ios, "Discard"
			default:
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("line %q: %w", line, err)
			}
			e := dev
			e.Op, e.Value = op, n
			*list = append(*list, e)
		}
	}
	return bytes, ios, nil
}

// hugepageSizes lists the page sizes for which dir has files named
// prefix+size+suffix ("hugetlb." "2MB" ".max"), sorted.
func hugepageSizes(dir, suffix string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var sizes []string
	for _, e := range ents {
		size, ok := strings.CutPrefix(e.Name(), "hugetlb.")
		if !ok {
			continue
		}
		if size, ok = strings.CutSuffix(size, suffix); ok && !strings.Contains(size, ".") {
			sizes = append(sizes, size)
		}
	}
	slices.Sort(sizes)
	return sizes, nil
}

// statDirs fails with an error wrapping fs.ErrNotExist when one of the
// cgroup directories is gone.
func statDirs(dirs ...string) error {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if _, err := os.Stat(d); err != nil {
			return fmt.Errorf("stats: cgroup %s: %w", d, err)
		}
	}
	return nil
}

// Stats reads the counters of every controller the container's
// hierarchies have. cpu and cpuacct may be mounted apart or together.
func (m *v1Manager) Stats() (*Stats, error) {
	cpu, acct, cpuset := m.path("cpu"), m.path("cpuacct"), m.path("cpuset")
	mem, pids, blkio, huge := m.path("memory"), m.path("pids"), m.path("blkio"), m.path("hugetlb")
	if err := statDirs(cpu, acct, cpuset, mem, pids, blkio, huge); err != nil {
		return nil, err
	}
	var r statReader
	st := &Stats{Hugetlb: map[string]HugetlbStats{}}

	u := &st.CPU.Usage
	u.Total = r.uint(acct, "cpuacct.usage")
	u.Percpu = r.list(acct, "cpuacct.usage_percpu")
	u.PercpuKernel = r.list(acct, "cpuacct.usage_percpu_sys")
	u.PercpuUser = r.list(acct, "cpuacct.usage_percpu_user")
	if t := r.keyed(acct, "cpuacct.stat"); t != nil {
		u.User = t["user"] * (1e9 / userHZ)
		u.Kernel = t["system"] * (1e9 / userHZ)
	}
	if t := r.keyed(cpu, "cpu.stat"); t != nil {
		st.CPU.Throttling = Throttling{Periods: t["nr_periods"], ThrottledPeriods: t["nr_throttled"], ThrottledTime: t["throttled_time"]}
	}

	cs := &st.CPUSet
	cs.CPUs = r.cpuList(cpuset, "cpuset.cpus")
	cs.Mems = r.cpuList(cpuset, "cpuset.mems")
	for _, f := range []struct {
		name string
		v    *uint64
	}{
		{"cpuset.cpu_exclusive", &cs.CPUExclusive}, {"cpuset.mem_hardwall", &cs.MemHardwall},
		{"cpuset.mem_exclusive", &cs.MemExclusive}, {"cpuset.memory_migrate", &cs.MemoryMigrate},
		{"cpuset.memory_spread_page", &cs.MemorySpreadPage}, {"cpuset.memory_spread_slab", &cs.MemorySpreadSlab},
		{"cpuset.memory_pressure", &cs.MemoryPressure}, {"cpuset.sched_load_balance", &cs.SchedLoadBalance},
	} {
		*f.v = r.uint(cpuset, f.name)
	}
	cs.SchedRelaxDomainLevel = r.int(cpuset, "cpuset.sched_relax_domain_level")

	ms := &st.Memory
	entry := func(prefix string) MemoryEntry {
		return MemoryEntry{
			Usage:   r.uint(mem, prefix+".usage_in_bytes"),
			Max:     r.uint(mem, prefix+".max_usage_in_bytes"),
			Limit:   r.uint(mem, prefix+".limit_in_bytes"),
			Failcnt: r.uint(mem, prefix+".failcnt"),
		}
	}
	ms.Usage = entry("memory")
	ms.Swap = entry("memory.memsw")
	ms.Kernel = entry("memory.kmem")
	ms.KernelTCP = entry("memory.kmem.tcp")
	ms.Raw = r.keyed(mem, "memory.stat")
	if c, ok := ms.Raw["total_cache"]; ok {
		ms.Cache = c
	} else {
		ms.Cache = ms.Raw["cache"]
	}
	ms.OOMKills = r.keyed(mem, "memory.oom_control")["oom_kill"]

	st.Pids = PidsStats{Current: r.uint(pids, "pids.current"), Limit: pidsLimit(r.uint(pids, "pids.max"))}

	st.Blkio = m.blkioStats(&r, blkio)

	switch {
	case huge != "":
		sizes, err := hugepageSizes(huge, ".limit_in_bytes")
		if err != nil && r.err == nil {
			r.err = fmt.Errorf("stats: %w", err)
		}
		for _, s := range sizes {
			p := "hugetlb." + s
			st.Hugetlb[s] = HugetlbStats{
				Usage:   r.uint(huge, p+".usage_in_bytes"),
				Max:     r.uint(huge, p+".max_usage_in_bytes"),
				Failcnt: r.uint(huge, p+".failcnt"),
				Limit:   r.uint(huge, p+".limit_in_bytes"),
			}
		}
	case m.unified != "":
		// Hybrid hosts may leave hugetlb to the unified hierarchy.
		hugetlbV2(&r, m.unified, st.Hugetlb)
	}
	if r.err != nil {
		return nil, r.err
	}
	return st, nil
}

// pidsLimit maps pids.max to PidsStats.Limit: 0 for "max".
func pidsLimit(v uint64) uint64 {
	if v == math.MaxUint64 {
		return 0
	}
	return v
}

// blkioStats reads the CFQ counters when the kernel keeps them (they stay
// empty without the CFQ scheduler), else the BFQ ones, else the throttle
// layer's, which count all I/O whatever the scheduler.
func (m *v1Manager) blkioStats(r *statReader, dir string) BlkioStats {
	var b BlkioStats
	if dir == "" {
		return b
	}
	if v := r.blkio(dir, "blkio.io_service_bytes_recursive"); len(v) > 0 {
		b.IoServiceBytesRecursive = v
		b.IoServicedRecursive = r.blkio(dir, "blkio.io_serviced_recursive")
		b.IoQueuedRecursive = r.blkio(dir, "blkio.io_queued_recursive")
		b.IoServiceTimeRecursive = r.blkio(dir, "blkio.io_service_time_recursive")
		b.IoWaitTimeRecursive = r.blkio(dir, "blkio.io_wait_time_recursive")
		b.IoMergedRecursive = r.blkio(dir, "blkio.io_merged_recursive")
		b.IoTimeRecursive = r.blkio(dir, "blkio.time_recursive")
		b.SectorsRecursive = r.blkio(dir, "blkio.sectors_recursive")
		return b
	}
	if v := r.blkio(dir, "blkio.bfq.io_service_bytes_recursive"); len(v) > 0 {
		b.IoServiceBytesRecursive = v
		b.IoServicedRecursive = r.blkio(dir, "blkio.bfq.io_serviced_recursive")
		return b
	}
	pick := func(names ...string) []BlkioEntry {
		for _, n := range names {
			if exists(dir, n) {
				return r.blkio(dir, n)
			}
		}
		return nil
	}
	b.IoServiceBytesRecursive = pick("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes")
	b.IoServicedRecursive = pick("blkio.throttle.io_serviced_recursive", "blkio.throttle.io_serviced")
	return b
}

// hugetlbV2 fills out from the hugetlb.<size>.{current,max,events} files of
// a cgroup2 directory.
func hugetlbV2(r *statReader, dir string, out map[string]HugetlbStats) {
	sizes, err := hugepageSizes(dir, ".current")
	if err != nil {
		if r.err == nil && !errors.Is(err, fs.ErrNotExist) {
			r.err = fmt.Errorf("stats: %w", err)
		}
		return
	}
	for _, s := range sizes {
		p := "hugetlb." + s
		out[s] = HugetlbStats{
			Usage:   r.uint(dir, p+".current"),
			Failcnt: r.keyed(dir, p+".events")["max"],
			Limit:   r.uint(dir, p+".max"),
		}
	}
}

// Stats reads the cgroup2 interface files. cpu.stat's usage lines are
// there without the cpu controller; the rest needs its controller enabled
// and is zero otherwise.
func (m *v2Manager) Stats() (*Stats, error) {
	if err := statDirs(m.dir); err != nil {
		return nil, err
	}
	return statsV2(m.dir)
}

func statsV2(dir string) (*Stats, error) {
	var r statReader
	st := &Stats{Hugetlb: map[string]HugetlbStats{}}

	if t := r.keyed(dir, "cpu.stat"); t != nil {
		st.CPU.Usage.Total = t["usage_usec"] * 1000
		st.CPU.Usage.User = t["user_usec"] * 1000
		st.CPU.Usage.Kernel = t["system_usec"] * 1000
		st.CPU.Throttling = Throttling{
			Periods: t["nr_periods"], ThrottledPeriods: t["nr_throttled"], ThrottledTime: t["throttled_usec"] * 1000,
		}
	}
	st.CPUSet.CPUs = r.cpuList(dir, "cpuset.cpus.effective")
	st.CPUSet.Mems = r.cpuList(dir, "cpuset.mems.effective")

	ms := &st.Memory
	ms.Raw = r.keyed(dir, "memory.stat")
	ms.Cache = ms.Raw["file"]
	events := r.keyed(dir, "memory.events")
	ms.Usage = MemoryEntry{
		Usage:   r.uint(dir, "memory.current"),
		Max:     r.uint(dir, "memory.peak"),
		Limit:   r.uint(dir, "memory.max"),
		Failcnt: events["max"],
	}
	if exists(dir, "memory.swap.current") {
		swap := r.uint(dir, "memory.swap.current")
		ms.Swap = MemoryEntry{Usage: ms.Usage.Usage + swap, Limit: addLimits(ms.Usage.Limit, r.uint(dir, "memory.swap.max"))}
		if peak := r.uint(dir, "memory.swap.peak"); peak != 0 {
			ms.Swap.Max = ms.Usage.Max + peak // an upper bound: the peaks need not coincide
		}
		ms.Swap.Failcnt = r.keyed(dir, "memory.swap.events")["max"]
	}
	ms.OOMEvents, ms.OOMKills = events["oom"], events["oom_kill"]

	st.Pids = PidsStats{Current: r.uint(dir, "pids.current"), Limit: pidsLimit(r.uint(dir, "pids.max"))}

	if s := r.read(dir, "io.stat"); s != "" {
		b, ios, err := parseIOStat(s)
		if err != nil {
			r.fail(dir, "io.stat", err)
		}
		st.Blkio = BlkioStats{IoServiceBytesRecursive: b, IoServicedRecursive: ios}
	}
	hugetlbV2(&r, dir, st.Hugetlb)
	if r.err != nil {
		return nil, r.err
	}
	return st, nil
}

// addLimits adds two limits where MaxUint64 means unlimited.
func addLimits(a, b uint64) uint64 {
	if a == math.MaxUint64 || b == math.MaxUint64 || a+b < a {
		return math.MaxUint64
	}
	return a + b
}
