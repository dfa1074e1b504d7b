package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Prime makes a later Apply faster: it starts, in the background, the RCU
// grace period that the kernel waits for on the first move of a process
// between cgroups after a quiet spell (cgroup_threadgroup_rwsem's slow path
// for writers), by re-attaching this process to the cgroup it is already
// in, which changes nothing. On a busy machine that wait is milliseconds; an
// Apply that starts while the grace period is under way, or soon after it,
// waits only for what is left of it. Errors are ignored: priming is only an
// optimization.
func Prime() {
	go func() {
		own, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return
		}
		// Any hierarchy will do (the lock is global): take the first line,
		// "ID:controllers:/path", and find where that hierarchy is mounted.
		line, _, _ := strings.Cut(string(own), "\n")
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return
		}
		l, err := readLayout()
		if err != nil {
			return
		}
		dir := ""
		if parts[1] == "" && l.v2 != nil {
			dir = filepath.Join(l.v2.mountpoint, strings.TrimPrefix(parts[2], l.v2.root))
		} else {
			for _, m := range l.v1 {
				if strings.Join(m.subsystems, ",") == subsystemsKey(parts[1]) {
					dir = filepath.Join(m.mountpoint, strings.TrimPrefix(parts[2], m.root))
					break
				}
			}
		}
		if dir == "" {
			return
		}
		f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.WriteString(strconv.Itoa(os.Getpid()))
		f.Close()
	}()
}

// subsystemsKey sorts the controllers of a /proc/self/cgroup line the way
// mountEntry.subsystems is sorted.
func subsystemsKey(s string) string {
	return strings.Join(v1Subsystems(s), ",")
}
