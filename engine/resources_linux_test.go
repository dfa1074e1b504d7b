package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// noNet is a host config without networking (other tests share the host).
func noNet() container.HostConfig { return container.HostConfig{NetworkMode: "none"} }

// cgroupFile reads file of the cgroup of pid in controller's hierarchy
// (v1), or in the unified one.
func cgroupFile(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if slices.Contains(strings.Split(parts[1], ","), controller) {
			dir = filepath.Join("/sys/fs/cgroup", controller, parts[2])
			break
		}
		if parts[0] == "0" && readHost().cgroupV2 {
			dir = filepath.Join("/sys/fs/cgroup", parts[2])
		}
	}
	if dir == "" {
		t.Fatalf("no %s cgroup for pid %d", controller, pid)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func startCtr(t *testing.T, e *Engine, hc container.HostConfig, cmd ...string) (string, int) {
	t.Helper()
	id := create(t, e, "", container.Config{}, hc, cmd...)
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { e.ContainerRemove(context.Background(), id, RemoveOptions{Force: true}) })
	return id, inspect(t, e, id).State.Pid
}

func oneStats(t *testing.T, e *Engine, id string) container.StatsResponse {
	t.Helper()
	rc, err := e.ContainerStats(ctx(t), id, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResourceCreateErrors(t *testing.T) {
	e := newTestEngine(t, false)
	before := leftovers(t, e)
	file := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(file, nil, 0o600)
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	for _, tc := range []struct {
		name string
		r    container.Resources
		msg  string
	}{
		{"memory 1k", container.Resources{Memory: 1024}, "Minimum memory limit allowed is 6MB"},
		{"unknown ulimit", container.Resources{Ulimits: []*container.Ulimit{{Name: "bogus", Soft: 1, Hard: 1}}}, "invalid ulimit type: bogus"},
		{"soft above hard", container.Resources{Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 20, Hard: 10}}},
			"ulimit soft limit must be less than or equal to hard limit: 20 > 10"},
		{"char device", container.Resources{BlkioDeviceReadBps: []*blkiodev.ThrottleDevice{{Path: "/dev/null", Rate: 1 << 20}}}, "/dev/null is not a block device"},
		{"plain file", container.Resources{BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{{Path: file, Rate: 10}}}, file + " is not a block device"},
		{"missing device", container.Resources{BlkioDeviceWriteBps: []*blkiodev.ThrottleDevice{{Path: "/dev/nosuchdisk", Rate: 10}}}, "no such device: /dev/nosuchdisk"},
		{"blkio weight", container.Resources{BlkioWeight: 5}, "Range of blkio weight is from 10 to 1000"},
		{"swappiness", container.Resources{MemorySwappiness: ptr(int64(101))}, "Invalid value: 101, valid memory swappiness range is 0-100"},
		{"too many cpus", container.Resources{NanoCPUs: 1000e9}, ""},
		{"cpuset", container.Resources{CpusetCpus: "0-999"}, ""},
		{"swap without memory", container.Resources{MemorySwap: 64 << 20}, "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{"reservation above limit", container.Resources{Memory: 16 << 20, MemoryReservation: 32 << 20},
			"Minimum memory limit can not be less than memory reservation limit, see usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := container.Config{Image: "busybox", Cmd: []string{"true"}}
			hc := noNet()
			hc.Resources = tc.r
			_, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &hc}})
			if err == nil || KindOf(err) != KindInvalid || tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("create: %v (kind %v), want %q", err, KindOf(err), tc.msg)
			}
			if after := leftovers(t, e); !slices.Equal(after, before) {
				t.Errorf("left behind: %v, had %v", after, before)
			}
		})
	}
	t.Run("ulimit above the daemon's", func(t *testing.T) {
		if hasCapSysResource() || lim.Max == unix.RLIM_INFINITY {
			t.Skip("the daemon can raise its hard limits (CAP_SYS_RESOURCE)")
		}
		cfg := container.Config{Image: "busybox", Cmd: []string{"true"}}
		hc := noNet()
		hc.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 10, Hard: int64(lim.Max) + 1}}
		_, err := e.ContainerCreate(ctx(t), "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &hc}})
		if err == nil || !strings.Contains(err.Error(), "needs CAP_SYS_RESOURCE") {
			t.Errorf("create: %v", err)
		}
	})
}

func TestOOMKilled(t *testing.T) {
	e := newTestEngine(t, false)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	msgs, errc := e.Events(c, EventsOptions{Filters: Filters{"type": {"container"}}})
	hc := noNet()
	hc.Memory = 32 << 20
	id, code := run(t, e, container.Config{}, hc, "sh", "-c", "x=a; while :; do x=$x$x; done")
	if code != 137 {
		t.Errorf("exit code %d, want 137", code)
	}
	if st := inspect(t, e, id).State; !st.OOMKilled {
		t.Errorf("state %+v: not OOMKilled", st)
	}
	var got []string
	for len(got) == 0 || got[len(got)-1] != "die" {
		select {
		case m := <-msgs:
			if m.Actor.ID == id {
				got = append(got, string(m.Action))
			}
		case err := <-errc:
			t.Fatal(err)
		case <-c.Done():
			t.Fatalf("events so far %v", got)
		}
	}
	if want := []string{"create", "start", "oom", "die"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestPidsLimitStopsForkBomb(t *testing.T) {
	e := newTestEngine(t, false)
	hc := noNet()
	hc.PidsLimit = ptr(int64(20))
	id, pid := startCtr(t, e, hc, "sh", "-c",
		// The inner shell forks sleeps until a fork fails, which ends it;
		// the outer one needs no fork after that.
		"sh -c 'while :; do sleep 1000 & done'; echo spawned; exec sleep 1000")
	logPath := inspect(t, e, id).LogPath
	waitFor(t, "the loop to end", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "spawned")
	})
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "can't fork") {
		t.Errorf("log has no fork failure: %s", b)
	}
	if st := inspect(t, e, id).State; !st.Running {
		t.Errorf("container died: %+v", st)
	}
	file, ctl := "pids.current", "pids"
	n, err := strconv.Atoi(cgroupFile(t, pid, ctl, file))
	if err != nil || n > 20 || n < 2 {
		t.Errorf("pids.current %d (%v), want 2..20", n, err)
	}
	if s := oneStats(t, e, id); s.PidsStats.Current == 0 || s.PidsStats.Current > 20 || s.PidsStats.Limit != 20 {
		t.Errorf("pids stats %+v", s.PidsStats)
	}
}

func TestCPUThrottled(t *testing.T) {
	e := newTestEngine(t, false)
	hc := noNet()
	hc.NanoCPUs = 5e8
	id, pid := startCtr(t, e, hc, "sh", "-c", "while :; do :; done")
	if q := cgroupQuota(t, pid); q != "50000 100000" {
		t.Errorf("cpu quota/period %q", q)
	}
	waitFor(t, "throttling", func() bool {
		return oneStats(t, e, id).CPUStats.ThrottlingData.ThrottledPeriods > 0
	})
	s := oneStats(t, e, id)
	if s.CPUStats.CPUUsage.TotalUsage <= s.PreCPUStats.CPUUsage.TotalUsage || s.CPUStats.SystemUsage <= s.PreCPUStats.SystemUsage {
		t.Errorf("cpu did not advance: %+v, pre %+v", s.CPUStats, s.PreCPUStats)
	}
}

// cgroupQuota reads "quota period" of pid's cgroup.
func cgroupQuota(t *testing.T, pid int) string {
	if readHost().cgroupV2 {
		return cgroupFile(t, pid, "cpu", "cpu.max")
	}
	return cgroupFile(t, pid, "cpu", "cpu.cfs_quota_us") + " " + cgroupFile(t, pid, "cpu", "cpu.cfs_period_us")
}

func memLimitFile() string {
	if readHost().cgroupV2 {
		return "memory.max"
	}
	return "memory.limit_in_bytes"
}

func TestUpdateAppliesToCgroup(t *testing.T) {
	e := newTestEngine(t, false)
	hc := noNet()
	hc.Memory = 32 << 20
	id, pid := startCtr(t, e, hc, "sleep", "1000")
	if got := cgroupFile(t, pid, "memory", memLimitFile()); got != strconv.Itoa(32<<20) {
		t.Errorf("memory limit at start %s", got)
	}
	// Above the memory+swap limit docker set (twice the memory): docker's
	// error unless the swap limit moves too.
	if _, err := e.ContainerUpdate(ctx(t), id, container.UpdateConfig{Resources: container.Resources{Memory: 128 << 20}}); readHost().swapLimit &&
		(err == nil || err.Error() != "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time") {
		t.Errorf("update above memoryswap: %v", err)
	}
	u := container.UpdateConfig{Resources: container.Resources{Memory: 48 << 20, PidsLimit: ptr(int64(30)), CPUShares: 512}}
	if _, err := e.ContainerUpdate(ctx(t), id, u); err != nil {
		t.Fatal(err)
	}
	if got := cgroupFile(t, pid, "memory", memLimitFile()); got != strconv.Itoa(48<<20) {
		t.Errorf("memory limit after update %s", got)
	}
	if got := cgroupFile(t, pid, "pids", "pids.max"); got != "30" {
		t.Errorf("pids.max after update %s", got)
	}
	if !readHost().cgroupV2 {
		if got := cgroupFile(t, pid, "cpu", "cpu.shares"); got != "512" {
			t.Errorf("cpu.shares after update %s", got)
		}
	}
	if s := oneStats(t, e, id); s.MemoryStats.Limit != 48<<20 {
		t.Errorf("stats memory limit %d", s.MemoryStats.Limit)
	}
	if _, err := e.ContainerUpdate(ctx(t), id, container.UpdateConfig{Resources: container.Resources{Memory: 1 << 20}}); err == nil || err.Error() != "Minimum memory limit allowed is 6MB" {
		t.Errorf("update to 1MB: %v", err)
	}
	if _, err := e.ContainerUpdate(ctx(t), id, container.UpdateConfig{Resources: container.Resources{NanoCPUs: 1e9, CPUQuota: 5000}}); err == nil {
		t.Error("update with cpus and a quota: no error")
	}

	// Stopped: recorded, and in force at the next start.
	if err := e.ContainerStop(ctx(t), id, StopOptions{Timeout: ptr(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ContainerUpdate(ctx(t), id, container.UpdateConfig{Resources: container.Resources{Memory: 40 << 20, NanoCPUs: 25e7}}); err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	pid = inspect(t, e, id).State.Pid
	if got := cgroupFile(t, pid, "memory", memLimitFile()); got != strconv.Itoa(40<<20) {
		t.Errorf("memory limit after a stopped update %s", got)
	}
	if q := cgroupQuota(t, pid); q != "25000 100000" {
		t.Errorf("cpu quota after a stopped update %q", q)
	}
}

func TestUpdateMemoryBelowUsage(t *testing.T) {
	if readHost().cgroupV2 {
		t.Skip("cgroup v1's EBUSY")
	}
	e := newTestEngine(t, false)
	hc := noNet()
	hc.Memory = 64 << 20
	hc.MemorySwap = -1
	// A tmpfs file in the container's /dev/shm is charged to it and cannot
	// be reclaimed without swap.
	id, _ := startCtr(t, e, hc, "sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=30 && echo filled && sleep 1000")
	logPath := inspect(t, e, id).LogPath
	waitFor(t, "the fill", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "filled")
	})
	_, err := e.ContainerUpdate(ctx(t), id, container.UpdateConfig{Resources: container.Resources{Memory: 8 << 20}})
	if err == nil || !strings.Contains(err.Error(), "unable to set memory limit to 8388608 (current usage: ") {
		t.Errorf("update below usage: %v", err)
	}
	if got := inspect(t, e, id).HostConfig.Memory; got != 64<<20 {
		t.Errorf("memory recorded after a failed update %d", got)
	}
}

func TestStatsPlausible(t *testing.T) {
	e := newTestEngine(t, false)
	hc := noNet()
	hc.Memory = 64 << 20
	// Kernels since 5.x count a v1 cgroup's block I/O only where a
	// throttle rule is set: a high one on the data root's disk.
	disk := diskOf(t, e.opts.Root)
	hc.BlkioDeviceWriteBps = []*blkiodev.ThrottleDevice{{Path: disk, Rate: 1 << 40}}
	id, pid := startCtr(t, e, hc, "sh", "-c", "dd if=/dev/zero of=/data bs=1M count=8 oflag=direct conv=fsync 2>/dev/null; sync; echo written; while :; do :; done")
	logPath := inspect(t, e, id).LogPath
	waitFor(t, "the write", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "written")
	})
	s := oneStats(t, e, id)
	if s.CPUStats.CPUUsage.TotalUsage <= s.PreCPUStats.CPUUsage.TotalUsage || s.CPUStats.OnlineCPUs == 0 {
		t.Errorf("cpu %+v pre %+v", s.CPUStats, s.PreCPUStats)
	}
	if m := s.MemoryStats; m.Usage == 0 || m.Usage > m.Limit || m.Limit != 64<<20 {
		t.Errorf("memory %+v", m)
	}
	if s.PidsStats.Current < 1 {
		t.Errorf("pids %+v", s.PidsStats)
	}
	var written uint64
	for _, x := range s.BlkioStats.IoServiceBytesRecursive {
		if strings.EqualFold(x.Op, "write") {
			written += x.Value
		}
	}
	if written == 0 {
		t.Errorf("no block writes in %+v", s.BlkioStats.IoServiceBytesRecursive)
	}
	if !readHost().cgroupV2 {
		var st unix.Stat_t
		unix.Stat(disk, &st)
		want := fmt.Sprintf("%d:%d %d", unix.Major(st.Rdev), unix.Minor(st.Rdev), uint64(1<<40))
		if got := cgroupFile(t, pid, "blkio", "blkio.throttle.write_bps_device"); got != want {
			t.Errorf("write_bps_device %q, want %q", got, want)
		}
	}
	if len(s.Networks) != 0 {
		t.Errorf("networks of a --network none container: %v", s.Networks)
	}
}

// diskOf finds the /dev node of the whole disk that holds dir.
func diskOf(t *testing.T, dir string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		t.Skipf("%s is not on a block device: %v", dir, err)
	}
	if _, err := os.Stat(filepath.Join(real, "partition")); err == nil {
		real = filepath.Dir(real)
	}
	dev := "/dev/" + filepath.Base(real)
	if _, err := os.Stat(dev); err != nil {
		t.Skipf("no device node for %s: %v", dir, err)
	}
	return dev
}

func TestShmSizeAndUlimits(t *testing.T) {
	e := newTestEngine(t, false)
	hc := noNet()
	hc.ShmSize = 128 << 20
	hc.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 512, Hard: 1024}}
	id := create(t, e, "", container.Config{}, hc, "sh", "-c", "grep ' /dev/shm ' /proc/mounts; ulimit -n; ulimit -Hn")
	if got := inspect(t, e, id).HostConfig.ShmSize; got != 128<<20 {
		t.Errorf("ShmSize %d", got)
	}
	res, errc := e.ContainerWait(ctx(t), id, container.WaitConditionNextExit)
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	wantExit(t, res, errc, 0, "shm")
	b, _ := os.ReadFile(inspect(t, e, id).LogPath)
	if out := string(b); !strings.Contains(out, "size=131072k") || !strings.Contains(out, `"512\n"`) || !strings.Contains(out, `"1024\n"`) {
		t.Errorf("output %s", out)
	}
	// The default is docker's 64m.
	id2 := create(t, e, "", container.Config{}, noNet(), "true")
	if got := inspect(t, e, id2).HostConfig.ShmSize; got != 64<<20 {
		t.Errorf("default ShmSize %d", got)
	}
}

func TestStatsStream(t *testing.T) {
	e := newTestEngine(t, false)
	hc := noNet()
	hc.Memory = 48 << 20
	id, _ := startCtr(t, e, hc, "sh", "-c", "while :; do :; done")
	rc, err := e.ContainerStats(ctx(t), id, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	var first, second container.StatsResponse
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatal(err)
	}
	if !second.PreRead.Equal(first.Read) || second.PreCPUStats.CPUUsage.TotalUsage != first.CPUStats.CPUUsage.TotalUsage {
		t.Errorf("second sample's pre values are not the first's: %v %v", second.PreRead, first.Read)
	}
	cpuDelta := second.CPUStats.CPUUsage.TotalUsage - first.CPUStats.CPUUsage.TotalUsage
	sysDelta := second.CPUStats.SystemUsage - first.CPUStats.SystemUsage
	if cpuDelta == 0 || sysDelta == 0 || cpuDelta > sysDelta {
		t.Errorf("cpu delta %d of system delta %d", cpuDelta, sysDelta)
	}
	if m := second.MemoryStats; m.Limit != 48<<20 || m.Usage == 0 || m.Usage > m.Limit {
		t.Errorf("memory %+v", m)
	}
	if second.ID != id || second.Name == "" || second.PidsStats.Current < 1 {
		t.Errorf("sample %+v", second)
	}
}

func TestResourcesInCgroup(t *testing.T) {
	e := newTestEngine(t, false)
	hc := noNet()
	hc.Memory = 64 << 20
	hc.MemoryReservation = 32 << 20
	hc.OomKillDisable = ptr(true)
	hc.MemorySwappiness = ptr(int64(10))
	hc.CPUShares = 256
	hc.CpusetCpus = "0"
	hc.OomScoreAdj = 123
	hc.PidsLimit = ptr(int64(50))
	id, pid := startCtr(t, e, hc, "sleep", "1000")
	if got, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/oom_score_adj"); strings.TrimSpace(string(got)) != "123" {
		t.Errorf("oom_score_adj %q", got)
	}
	if got := cgroupFile(t, pid, "pids", "pids.max"); got != "50" {
		t.Errorf("pids.max %q", got)
	}
	if got := cgroupFile(t, pid, "cpuset", "cpuset.cpus"); got != "0" {
		t.Errorf("cpuset.cpus %q", got)
	}
	if readHost().cgroupV2 {
		if got := cgroupFile(t, pid, "memory", "memory.low"); got != strconv.Itoa(32<<20) {
			t.Errorf("memory.low %q", got)
		}
		return
	}
	for file, want := range map[string]string{
		"memory.soft_limit_in_bytes":  strconv.Itoa(32 << 20),
		"memory.memsw.limit_in_bytes": strconv.Itoa(128 << 20), // docker's default: as much swap as memory
		"memory.swappiness":           "10",
	} {
		if got := cgroupFile(t, pid, "memory", file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got := cgroupFile(t, pid, "memory", "memory.oom_control"); !strings.Contains(got, "oom_kill_disable 1") {
		t.Errorf("memory.oom_control %q", got)
	}
	if got := cgroupFile(t, pid, "cpu", "cpu.shares"); got != "256" {
		t.Errorf("cpu.shares %q", got)
	}
	if ins := inspect(t, e, id).HostConfig; ins.MemorySwap != 128<<20 || ins.OomKillDisable == nil || !*ins.OomKillDisable {
		t.Errorf("host config %d %v", ins.MemorySwap, ins.OomKillDisable)
	}
}
