// Package cgroup places one container's processes in cgroups and limits them:
// it creates the container's cgroup directories, moves pids in, writes the
// OCI resource limits, lists, freezes and thaws the processes, and removes the
// directories again, on cgroup v1 (including hybrid hosts) and cgroup v2.
//
// Everything is plain file I/O on the cgroup filesystems found in
// /proc/self/mountinfo; nothing is cached between calls and no tool is run.
//
// On v1 (and hybrid) hosts a container gets a directory in every mounted v1
// hierarchy, named ones such as name=systemd included, plus one in the
// unified cgroup2 hierarchy on hybrid hosts. Paths reports them keyed by
// subsystem ("cpu", "cpuacct", "memory", "name=systemd", ...) and "" for the
// unified one; on pure v2 hosts there is only "".
//
// Device rules on v1 go to devices.allow and devices.deny in order; on v2
// Set compiles them into an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE, raw
// bpf(2) calls, no library) and attaches it to the cgroup, replacing the
// previous one only after the new one is in place.
//
// Stats reads the counters into a struct whose JSON is runc's `events
// --stats` output; managers also implement OOMNotifier (OOM kill count and
// a channel of OOM events).
//
// Not handled: realtime CPU limits on v2 (an error), and the v1-only memory
// knobs (swappiness, OOM killer, kernel TCP memory) which are ignored on v2,
// as is LinuxResources.Network.
package cgroup
