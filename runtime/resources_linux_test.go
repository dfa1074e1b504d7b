package runtime_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/runtime"
)

// wireStats is the part of `events --stats` output these tests read, spelled
// with the JSON names runc's tools expect rather than through
// cgroup.Stats, so a renamed field shows up here.
type wireStats struct {
	CPU struct {
		Usage struct {
			Total uint64 `json:"total"`
		} `json:"usage"`
		Throttling struct {
			Periods          uint64 `json:"periods"`
			ThrottledPeriods uint64 `json:"throttledPeriods"`
			ThrottledTime    uint64 `json:"throttledTime"`
		} `json:"throttling"`
	} `json:"cpu"`
	Memory struct {
		Usage struct {
			Limit uint64 `json:"limit"`
		} `json:"usage"`
		Swap struct {
			Limit uint64 `json:"limit"`
		} `json:"swap"`
		OOMKills uint64 `json:"oom_kills"`
	} `json:"memory"`
	Pids struct {
		Current uint64 `json:"current"`
		Limit   uint64 `json:"limit"`
	} `json:"pids"`
}

// event is one line `events` prints.
type wireEvent struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

// cgStats runs `events --stats ID` and decodes its one event.
func cgStats(e *env, id string) wireStats {
	e.t.Helper()
	out := e.ok("events", "--stats", id)
	var ev wireEvent
	if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.Type != "stats" || ev.ID != id {
		e.t.Fatalf("events --stats %s printed %q (decode: %v), want one stats event of %s", id, out, err, id)
	}
	var s wireStats
	if err := json.Unmarshal(ev.Data, &s); err != nil {
		e.t.Fatalf("decode stats data %s: %v", ev.Data, err)
	}
	return s
}

// eventually polls cond every 20ms until it holds or d has passed; then the
// test fails with what cond last reported seeing.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen: %s", what, d, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startDetachedIO runs `berth runtime ARGS` (run -d or create) with stdout
// and stderr going to files that the container's process inherits, and
// returns their paths.
func startDetachedIO(e *env, args ...string) (stdout, stderr string) {
	e.t.Helper()
	dir := e.t.TempDir()
	stdout, stderr = filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	out, err := os.Create(stdout)
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(stderr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer errf.Close()
	cmd := exec.Command(berthBin, append([]string{"runtime", "--root", e.root}, args...)...)
	cmd.Stdout, cmd.Stderr = out, errf
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(stderr)
		e.t.Fatalf("berth %s: %v\nstderr: %s", strings.Join(args, " "), err, b)
	}
	return stdout, stderr
}

// startEventsWatch starts `events ARGS ID` in the background, printing to a
// file whose path it returns; stop kills it (also done at cleanup).
func startEventsWatch(e *env, id string, args ...string) (out string, stop func()) {
	e.t.Helper()
	out = filepath.Join(e.t.TempDir(), "events")
	f, err := os.Create(out)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(berthBin, append(append([]string{"runtime", "--root", e.root, "events"}, args...), id)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	e.t.Cleanup(stop)
	return out, stop
}

// eventTypes decodes the events file, counting the events of each type; a
// line that is not an event of id is counted under "bad: LINE".
func eventTypes(path, id string) map[string]int {
	n := map[string]int{}
	f, err := os.Open(path)
	if err != nil {
		return n
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var ev wireEvent
		if err := json.Unmarshal(s.Bytes(), &ev); err != nil || ev.ID != id {
			n["bad: "+s.Text()]++
			continue
		}
		n[ev.Type]++
	}
	return n
}

// cgroupFile reads a v1 controller's file of the container's cgroup (the
// default cgroupsPath is "/"+id).
func cgroupFile(t *testing.T, ctrl, id, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, id, name))
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func needV1(t *testing.T, ctrls ...string) {
	t.Helper()
	for _, c := range ctrls {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, "cgroup.procs")); err != nil {
			t.Skipf("needs the cgroup v1 %s hierarchy at /sys/fs/cgroup/%s", c, c)
		}
	}
}

func resources(b *bundle) *specs.LinuxResources {
	if b.spec.Linux.Resources == nil {
		b.spec.Linux.Resources = &specs.LinuxResources{}
	}
	return b.spec.Linux.Resources
}

func ptr[T any](v T) *T { return &v }

func TestMemoryLimitOOM(t *testing.T) {
	e := newEnv(t)
	needV1(t, "memory")
	const id = "t-oom"
	const limit = 32 << 20
	// The sh init outlives the helper the OOM killer takes, and says how
	// the helper ended.
	b := newBundle(t, "sh", "-c", `sleep 0.3; /helper alloc 200 && echo survived; echo "alloc exit $?"; sleep 100`)
	r := resources(b)
	r.Memory = &specs.LinuxMemory{Limit: ptr[int64](limit)}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	withSwap := err == nil
	if withSwap {
		r.Memory.Swap = ptr[int64](limit) // no swap to escape to
	} else {
		t.Log("no memory.memsw.limit_in_bytes: swap limit not tested")
	}
	b.save(t)
	e.cleanup(id)

	// The watcher starts on the created container and has printed a stats
	// event (so its OOM registration is in place) before the init runs.
	stdout, _ := startDetachedIO(e, "create", "--bundle", b.dir, id)
	events, stopEvents := startEventsWatch(e, id, "--interval", "100ms")
	eventually(t, 10*time.Second, "first stats event", func() (bool, string) {
		n := eventTypes(events, id)
		return n["stats"] > 0, fmt.Sprint(n)
	})
	e.ok("start", id)

	eventually(t, 15*time.Second, `{"type":"oom"} event`, func() (bool, string) {
		n := eventTypes(events, id)
		return n["oom"] > 0, fmt.Sprint(n)
	})
	eventually(t, 15*time.Second, "sh reporting how the helper ended", func() (bool, string) {
		b, _ := os.ReadFile(stdout)
		return strings.Contains(string(b), "alloc exit"), fmt.Sprintf("stdout %q", b)
	})
	if out, _ := os.ReadFile(stdout); strings.Contains(string(out), "survived") || !strings.Contains(string(out), "alloc exit 137") {
		t.Errorf("container stdout %q, want the helper SIGKILLed (alloc exit 137) and no \"survived\"", out)
	}
	for typ, k := range eventTypes(events, id) {
		if typ != "stats" && typ != "oom" {
			t.Errorf("events printed %d unexpected line(s) %q", k, typ)
		}
	}

	s := cgStats(e, id)
	t.Logf("after the OOM kill: memory.oom_kills %d, limits %d/%d", s.Memory.OOMKills, s.Memory.Usage.Limit, s.Memory.Swap.Limit)
	if s.Memory.OOMKills < 1 {
		t.Errorf("stats memory.oom_kills = %d, want >= 1", s.Memory.OOMKills)
	}
	if s.Memory.Usage.Limit != limit {
		t.Errorf("stats memory.usage.limit = %d, want %d", s.Memory.Usage.Limit, limit)
	}
	if withSwap && s.Memory.Swap.Limit != limit {
		t.Errorf("stats memory.swap.limit = %d, want %d", s.Memory.Swap.Limit, limit)
	}
	if st := e.state(id); st.Status != runtime.Running {
		t.Errorf("after the OOM kill the container is %s (pid %d), want its sh init still running", st.Status, st.Pid)
	}
	stopEvents()
}

func TestPidsLimit(t *testing.T) {
	e := newEnv(t)
	needV1(t, "pids")

	// In the foreground: sh fails to fork, gives up, and the run ends.
	b := newBundle(t, "sh", "-c", "for i in $(seq 30); do sleep 3 & done; wait")
	resources(b).Pids = &specs.LinuxPids{Limit: ptr[int64](10)}
	b.save(t)
	const fg = "t-pids-fg"
	e.cleanup(fg)
	r := e.berth("run", "--bundle", b.dir, fg)
	if r.code == 0 || !strings.Contains(r.stderr, "can't fork") {
		t.Errorf("run with 30 background sleeps under pids.max 10: exit %d, stderr %q; want a failure with \"can't fork\"", r.code, r.stderr)
	}

	// Detached: an inner sh forks until it fails; the init then keeps
	// running without forking.
	b.spec.Process.Args = []string{"sh", "-c", `sh -c 'for i in $(seq 30); do sleep 100 & done'; exec sleep 100`}
	b.save(t)
	const id = "t-pids"
	e.cleanup(id)
	_, stderr := startDetachedIO(e, "run", "-d", "--bundle", b.dir, id)
	eventually(t, 10*time.Second, "inner sh failing to fork", func() (bool, string) {
		b, _ := os.ReadFile(stderr)
		return strings.Contains(string(b), "can't fork"), fmt.Sprintf("stderr %q", b)
	})
	eventually(t, 10*time.Second, "init exec'ing sleep", func() (bool, string) {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(e.state(id).Pid) + "/cmdline")
		return string(cmd) == "sleep\x00100\x00", fmt.Sprintf("init cmdline %q", cmd)
	})
	s := cgStats(e, id)
	t.Logf("pids current %d limit %d", s.Pids.Current, s.Pids.Limit)
	if s.Pids.Limit != 10 || s.Pids.Current > 10 || s.Pids.Current < 2 {
		t.Errorf("stats pids current %d limit %d, want limit 10 and 2..10 tasks", s.Pids.Current, s.Pids.Limit)
	}
	if st := e.state(id); st.Status != runtime.Running {
		t.Errorf("container %s, want running", st.Status)
	}
}

func TestCPUQuota(t *testing.T) {
	e := newEnv(t)
	needV1(t, "cpu", "cpuacct")
	b := newBundle(t, "sh", "-c", "while :; do :; done")
	resources(b).CPU = &specs.LinuxCPU{Quota: ptr[int64](10000), Period: ptr[uint64](100000)}
	b.save(t)
	const id = "t-cpu"
	e.cleanup(id)
	e.ok("run", "-d", "--bundle", b.dir, id)
	for file, want := range map[string]string{"cpu.cfs_quota_us": "10000", "cpu.cfs_period_us": "100000"} {
		if got := cgroupFile(t, "cpu", id, file); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
	var s wireStats
	// The kernel counts a throttled period when the throttling starts and
	// adds its time when it ends: wait for both.
	eventually(t, 5*time.Second, "throttled periods and time in stats", func() (bool, string) {
		s = cgStats(e, id)
		return s.CPU.Throttling.ThrottledPeriods > 0 && s.CPU.Throttling.ThrottledTime > 0, fmt.Sprintf("%+v", s.CPU)
	})
	t.Logf("cpu %+v", s.CPU)
	if s.CPU.Usage.Total == 0 || s.CPU.Throttling.Periods < s.CPU.Throttling.ThrottledPeriods || s.CPU.Throttling.ThrottledTime == 0 {
		t.Errorf("stats cpu %+v: want usage total > 0, periods >= throttled periods, throttled time > 0", s.CPU)
	}
}

// readCounter reads the number the container's loop writes; ok is false
// when the file is absent or caught between truncate and write.
func readCounter(path string) (int, bool) {
	b, _ := os.ReadFile(path)
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

func TestPauseResume(t *testing.T) {
	e := newEnv(t)
	needV1(t, "freezer")
	out := t.TempDir()
	counter := filepath.Join(out, "n")
	b := newBundle(t, "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /out/n; done")
	b.spec.Mounts = append(b.spec.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: out, Options: []string{"rbind", "rw"}})
	b.save(t)
	const id = "t-pause"
	e.cleanup(id)
	e.ok("run", "-d", "--bundle", b.dir, id)

	advances := func(what string) {
		t.Helper()
		first, ok := 0, false
		eventually(t, 5*time.Second, what, func() (bool, string) {
			n, valid := readCounter(counter)
			if valid && !ok {
				first, ok = n, true
			}
			return ok && valid && n > first, fmt.Sprintf("counter %d (first %d)", n, first)
		})
	}
	advances("counter advancing after start")

	e.ok("pause", id)
	if st := e.state(id); st.Status != runtime.Paused || st.Pid <= 0 {
		t.Fatalf("after pause: status %s pid %d, want paused with its pid", st.Status, st.Pid)
	}
	if f := cgroupFile(t, "freezer", id, "freezer.state"); f != "FROZEN" {
		t.Errorf("after pause freezer.state = %s, want FROZEN", f)
	}
	before, _ := os.ReadFile(counter)
	time.Sleep(300 * time.Millisecond)
	if after, _ := os.ReadFile(counter); string(after) != string(before) {
		t.Errorf("paused container's counter went from %q to %q", before, after)
	}
	e.fails("cannot exec in a paused container", "exec", id, "true")
	e.fails("container not running", "pause", id)

	e.ok("resume", id)
	if st := e.state(id); st.Status != runtime.Running {
		t.Fatalf("after resume: status %s, want running", st.Status)
	}
	advances("counter advancing after resume")
	e.fails("container not paused", "resume", id)

	// delete --force of a paused container leaves nothing.
	e.ok("pause", id)
	e.ok("delete", "--force", id)
	checkNoLeftovers(t, e.root, id)

	b.spec.Process.Args = []string{"/helper", "sleep"}
	b.save(t)

	// A created container can be paused, as with runc, and resumed.
	const cid = "t-pause-created"
	e.cleanup(cid)
	e.ok("create", "--bundle", b.dir, cid)
	e.ok("pause", cid)
	if st := e.state(cid); st.Status != runtime.Paused {
		t.Errorf("created container after pause: status %s, want paused", st.Status)
	}
	if r := e.berth("resume", cid); r.code != 0 {
		t.Errorf("resume of a paused created container: exit %d, stderr %q", r.code, r.stderr)
	}
	e.ok("delete", "--force", cid)
	checkNoLeftovers(t, e.root, cid)

	// kill of a paused container's init takes effect.
	const kid = "t-pause-kill"
	e.cleanup(kid)
	e.ok("run", "-d", "--bundle", b.dir, kid)
	e.ok("pause", kid)
	e.ok("kill", kid, "KILL")
	eventually(t, 3*time.Second, "paused container stopped by kill KILL", func() (bool, string) {
		st := e.state(kid)
		return st.Status == runtime.Stopped, fmt.Sprintf("status %s pid %d", st.Status, st.Pid)
	})
	e.ok("delete", kid)
	checkNoLeftovers(t, e.root, kid)
}

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	needV1(t, "memory", "pids", "cpu")
	b := newBundle(t, "/helper", "sleep")
	r := resources(b)
	r.Memory = &specs.LinuxMemory{Limit: ptr[int64](64 << 20)}
	r.Pids = &specs.LinuxPids{Limit: ptr[int64](100)}
	b.save(t)
	const id = "t-update"
	e.cleanup(id)
	e.ok("run", "-d", "--bundle", b.dir, id)

	files := []struct{ ctrl, name string }{
		{"memory", "memory.limit_in_bytes"}, {"pids", "pids.max"},
		{"cpu", "cpu.cfs_quota_us"}, {"cpu", "cpu.cfs_period_us"},
	}
	snapshot := func() map[string]string {
		m := map[string]string{}
		for _, f := range files {
			m[f.name] = cgroupFile(t, f.ctrl, id, f.name)
		}
		return m
	}
	check := func(step string, want map[string]string) {
		t.Helper()
		got := snapshot()
		for name, w := range want {
			if got[name] != w {
				t.Errorf("after %s: %s = %s, want %s", step, name, got[name], w)
			}
		}
	}
	check("run", map[string]string{"memory.limit_in_bytes": strconv.Itoa(64 << 20), "pids.max": "100"})

	e.ok("update", "--memory", "128m", "--pids-limit", "50", "--cpu-quota", "20000", "--cpu-period", "100000", id)
	check("update with flags", map[string]string{
		"memory.limit_in_bytes": strconv.Itoa(128 << 20), "pids.max": "50",
		"cpu.cfs_quota_us": "20000", "cpu.cfs_period_us": "100000",
	})
	if s := cgStats(e, id); s.Pids.Limit != 50 || s.Memory.Usage.Limit != 128<<20 {
		t.Errorf("stats after update: pids.limit %d memory.usage.limit %d, want 50 and %d", s.Pids.Limit, s.Memory.Usage.Limit, 128<<20)
	}

	in := filepath.Join(t.TempDir(), "resources.json")
	if err := os.WriteFile(in, []byte(`{"pids":{"limit":42}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	stdin, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if res := e.berthIn(stdin, "update", "-r", "-", id); res.code != 0 {
		t.Fatalf("update -r - with %s: exit %d, stderr %s", in, res.code, res.stderr)
	}
	want := map[string]string{
		"memory.limit_in_bytes": strconv.Itoa(128 << 20), "pids.max": "42",
		"cpu.cfs_quota_us": "20000", "cpu.cfs_period_us": "100000",
	}
	check("update -r -", want)

	for _, c := range []struct {
		args []string
		want string // in the error message
	}{
		{[]string{"--memory", "12x"}, "memory"},
		{[]string{"--pids-limit", "abc"}, "pids-limit"},
		{[]string{"-r", "/no/such"}, "/no/such"},
		{[]string{"--memory", "256m", "--pids-limit", "abc"}, "pids-limit"}, // all or nothing
	} {
		e.fails(c.want, append(append([]string{"update"}, c.args...), id)...)
		check("update "+strings.Join(c.args, " "), want)
	}

	e.ok("kill", id, "KILL")
	eventually(t, 5*time.Second, "container stopped", func() (bool, string) {
		st := e.state(id)
		return st.Status == runtime.Stopped, string(st.Status)
	})
	e.fails("container not running", "update", "--memory", "256m", id)
	check("update of the stopped container", want)
	e.ok("delete", id)
	checkNoLeftovers(t, e.root, id)
}

func TestStateAfterInitGone(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "/helper", "sleep")
	const id = "t-init-gone"
	e.cleanup(id)
	e.ok("create", "--bundle", b.dir, id)
	e.ok("start", id)
	pid := e.state(id).Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill init %d: %v", pid, err)
	}
	eventually(t, 5*time.Second, "state stopped after the init was SIGKILLed", func() (bool, string) {
		st := e.state(id)
		return st.Status == runtime.Stopped && st.Pid == 0, fmt.Sprintf("status %s pid %d", st.Status, st.Pid)
	})

	// A live process that is not the init (its start time differs) under
	// the recorded pid: still stopped.
	path := filepath.Join(e.root, id, "state.json")
	setPid := func(p int) {
		t.Helper()
		var s map[string]any
		data, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(data, &s)
		}
		if err == nil {
			s["pid"] = p
			data, err = json.Marshal(s)
		}
		if err == nil {
			err = os.WriteFile(path, data, 0o600)
		}
		if err != nil {
			t.Fatalf("set pid in %s: %v", path, err)
		}
	}
	setPid(os.Getpid())
	// Runs before e.cleanup's delete --force, which must not take the test
	// process for the container's init should the check below fail.
	t.Cleanup(func() {
		if _, err := os.Stat(path); err == nil {
			setPid(pid)
		}
	})
	if st := e.state(id); st.Status != runtime.Stopped || st.Pid != 0 {
		t.Fatalf("with the pid of a live non-init process in state.json: status %s pid %d, want stopped pid 0", st.Status, st.Pid)
	}
	if out := e.ok("list"); !strings.Contains(out, "stopped") {
		t.Errorf("list:\n%s\nwant %s stopped", out, id)
	}
	e.ok("delete", id)
	checkNoLeftovers(t, e.root, id)
}
