package cgroup

// Stats is a snapshot of a cgroup's counters. Its JSON form is the one
// `runc events --stats` prints (runc's types.Stats), so tools reading runc's
// output read ours; fields runc does not have are marked below. Counters
// whose controller is absent stay zero.
type Stats struct {
	CPU     CPUStats                `json:"cpu"`
	CPUSet  CPUSetStats             `json:"cpuset"`
	Memory  MemoryStats             `json:"memory"`
	Pids    PidsStats               `json:"pids"`
	Blkio   BlkioStats              `json:"blkio"`
	Hugetlb map[string]HugetlbStats `json:"hugetlb"` // keyed by page size: "2MB", "1GB"
}

// CPUStats is CPU time used and time throttled.
type CPUStats struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
}

// CPUUsage is CPU time in nanoseconds since the cgroup was created. The
// per-CPU lists are v1 only.
type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

// Throttling counts CFS bandwidth periods; ThrottledTime is in nanoseconds.
type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// CPUSetStats is the cpuset configuration in force: on v2 the effective
// CPUs and memory nodes, on v1 the configured ones and the flags.
type CPUSetStats struct {
	CPUs                  []uint16 `json:"cpus,omitempty"`
	CPUExclusive          uint64   `json:"cpu_exclusive"`
	Mems                  []uint16 `json:"mems,omitempty"`
	MemHardwall           uint64   `json:"mem_hardwall"`
	MemExclusive          uint64   `json:"mem_exclusive"`
	MemoryMigrate         uint64   `json:"memory_migrate"`
	MemorySpreadPage      uint64   `json:"memory_spread_page"`
	MemorySpreadSlab      uint64   `json:"memory_spread_slab"`
	MemoryPressure        uint64   `json:"memory_pressure"`
	SchedLoadBalance      uint64   `json:"sched_load_balance"`
	SchedRelaxDomainLevel int64    `json:"sched_relax_domain_level"`
}

// MemoryStats is memory use in bytes. As in runc, Swap is memory plus swap
// on both versions (v1's memsw; on v2 the sum of memory.* and
// memory.swap.*), and Kernel and KernelTCP are v1 only.
type MemoryStats struct {
	Cache     uint64            `json:"cache,omitempty"` // page cache: v1 total_cache, v2 file
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"` // memory.stat as the kernel lists it
	// OOMEvents counts the times the cgroup hit its limit and the OOM
	// killer ran or would have (v2 memory.events "oom", v1
	// memory.oom_control "under_oom" is a state, not a count, so 0 there).
	// Not in runc.
	OOMEvents uint64 `json:"oom_events,omitempty"`
	// OOMKills counts processes of the cgroup the OOM killer killed (v2
	// memory.events "oom_kill", v1 memory.oom_control "oom_kill"). Not in
	// runc.
	OOMKills uint64 `json:"oom_kills,omitempty"`
}

// MemoryEntry is one memory counter: current usage, the most ever used, the
// limit (math.MaxUint64 or the kernel's page-rounded maximum when
// unlimited) and how often the limit was hit.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// PidsStats is the number of tasks and the limit (0: unlimited).
type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// BlkioStats lists block I/O counters per device and operation. On v2 only
// the first two lists are filled, from io.stat.
type BlkioStats struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
}

// BlkioEntry is one counter of one device; Op is "Read", "Write", "Sync",
// "Async", "Discard" or "" for counters without operations.
type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

// HugetlbStats is the use of one huge page size in bytes. Max (the most
// ever used) is v1 only; Limit is not in runc.
type HugetlbStats struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
	Limit   uint64 `json:"limit,omitempty"`
}
