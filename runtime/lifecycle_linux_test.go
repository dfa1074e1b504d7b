package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/runtime"
)

func TestRunExitCode(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "true")
	e.cleanup("t-true")
	e.ok("run", "--bundle", b.dir, "t-true")

	b.spec.Process.Args = []string{"/helper", "exit", "7"}
	b.save(t)
	e.cleanup("t-exit")
	if r := e.berth("run", "--bundle", b.dir, "t-exit"); r.code != 7 {
		t.Fatalf("run exit 7: got code %d, stderr %s", r.code, r.stderr)
	}
	// Killed by a signal: 128+n, as a shell reports it. (Without a pid
	// namespace, or the kernel would protect the shell as that namespace's init.)
	b.spec.Process.Args = []string{"sh", "-c", "kill -9 $$"}
	dropNamespace(b, "pid")
	b.save(t)
	e.cleanup("t-sig")
	if r := e.berth("run", "--bundle", b.dir, "t-sig"); r.code != 137 {
		t.Fatalf("run killed: got code %d, stderr %s", r.code, r.stderr)
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "/helper", "sleep")
	const id = "t-life"
	e.cleanup(id)
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.ok("create", "--bundle", b.dir, "--pid-file", pidFile, id)

	st := e.state(id)
	if st.Status != runtime.Created || st.Pid <= 0 || st.ID != id || st.Bundle != b.dir {
		t.Fatalf("after create: %+v", st)
	}
	if pb, err := os.ReadFile(pidFile); err != nil || string(pb) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file %q (%v), want %d", pb, err, st.Pid)
	}
	// The init waits on the exec fifo: it is still berth, not the helper.
	if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/cmdline"); !strings.HasPrefix(string(cmd), "berth\x00init") {
		t.Fatalf("created container's process is %q, want berth init", cmd)
	}
	e.fails("container with given ID already exists", "create", "--bundle", b.dir, id)

	e.ok("start", id)
	waitFor(t, func() bool {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/cmdline")
		return strings.HasPrefix(string(cmd), "/helper\x00sleep")
	})
	if st := e.state(id); st.Status != runtime.Running {
		t.Fatalf("after start: %+v", st)
	}
	e.fails("cannot start an already running container", "start", id)
	e.fails("cannot delete container t-life that is not stopped: running", "delete", id)

	// list, as a table and as JSON.
	out := e.ok("list")
	if !strings.HasPrefix(out, "ID") || !strings.Contains(out, id) || !strings.Contains(out, "running") {
		t.Fatalf("list:\n%s", out)
	}
	var states []runtime.State
	if err := json.Unmarshal([]byte(e.ok("list", "--format", "json")), &states); err != nil || len(states) != 1 || states[0].Pid != st.Pid {
		t.Fatalf("list json: %+v %v", states, err)
	}
	if q := e.ok("list", "-q"); strings.TrimSpace(q) != id {
		t.Fatalf("list -q: %q", q)
	}

	e.ok("kill", id, "TERM")
	waitFor(t, func() bool { return e.state(id).Status == runtime.Stopped })
	st = e.state(id)
	if st.Pid != 0 {
		t.Fatalf("stopped container has pid %d", st.Pid)
	}
	e.fails("container not running", "kill", id, "KILL")
	e.fails("cannot start a container that has stopped", "start", id)
	e.ok("delete", id)
	e.fails("container does not exist", "state", id)
	checkNoLeftovers(t, e.root, id)
}

func TestKillSignals(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "sh", "-c", "trap 'echo got USR1 > /dev/shm/sig' USR1; while true; do sleep 0.05; done")
	const id = "t-kill"
	e.cleanup(id)
	e.ok("run", "-d", "--bundle", b.dir, id)
	e.fails("unknown signal", "kill", id, "NOSUCH")
	e.ok("kill", id, "SIGUSR1")
	pid := e.state(id).Pid
	waitFor(t, func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/root/dev/shm/sig")
		return strings.Contains(string(b), "got USR1")
	})
	e.ok("kill", id, "9")
	waitFor(t, func() bool { return e.state(id).Status == runtime.Stopped })
	e.ok("delete", id)
}

func TestKillAllAndPs(t *testing.T) {
	e := newEnv(t)
	// No pid namespace: the children outlive init unless kill --all reaches them.
	b := newBundle(t, "sh", "-c", "sleep 1000 & sleep 1000 & exec sleep 1000")
	dropNamespace(b, "pid")
	b.save(t)
	const id = "t-killall"
	e.cleanup(id)
	e.ok("run", "-d", "--bundle", b.dir, id)
	var pids []int
	waitFor(t, func() bool {
		json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids)
		return len(pids) == 3
	})
	table := e.ok("ps", id)
	if !strings.Contains(table, "PID") || strings.Count(table, "sleep 1000") != 3 {
		t.Fatalf("ps table:\n%s", table)
	}
	e.ok("kill", "--all", id, "KILL")
	waitFor(t, func() bool {
		for _, p := range pids {
			if syscall.Kill(p, 0) == nil {
				if st, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); !strings.Contains(string(st), ") Z ") {
					return false
				}
			}
		}
		return true
	})
	e.ok("delete", id)
}

func TestDeleteForce(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "/helper", "sleep")
	const id = "t-force"
	e.cleanup(id)
	e.ok("run", "--detach", "--bundle", b.dir, id)
	pid := e.state(id).Pid
	e.ok("delete", "--force", id)
	if syscall.Kill(pid, 0) == nil {
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(st), ") Z ") {
			t.Fatalf("process %d still alive after delete --force", pid)
		}
	}
	checkNoLeftovers(t, e.root, id)

	// A created container can be deleted without --force, as with runc.
	e.ok("create", "--bundle", b.dir, id)
	e.ok("delete", id)
	checkNoLeftovers(t, e.root, id)
}

func TestRuntimeArgv0(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "true")
	// Installed as berth-runtime, the binary is the runtime itself, as shims expect.
	link := filepath.Join(filepath.Dir(berthBin), "berth-runtime")
	r := runCmd(t, link, "--root", e.root, "run", "--bundle", b.dir, "t-argv0")
	if r.code != 0 {
		t.Fatalf("berth-runtime run: %d %s", r.code, r.stderr)
	}
	checkNoLeftovers(t, e.root, "t-argv0")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunKeep(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "/helper", "exit", "3")
	const id = "t-keep"
	e.cleanup(id)
	if r := e.berth("run", "--keep", "--bundle", b.dir, id); r.code != 3 {
		t.Fatalf("run --keep: exit %d, %s", r.code, r.stderr)
	}
	// Kept, stopped, with its cgroup until delete.
	if st := e.state(id); st.Status != runtime.Stopped {
		t.Fatalf("after run --keep: %+v", st)
	}
	e.ok("delete", id)
	checkNoLeftovers(t, e.root, id)
}

// TestFeatures: `features` prints the OCI features document that engines read.
func TestFeatures(t *testing.T) {
	e := newEnv(t)
	var f struct {
		OCIVersionMax string   `json:"ociVersionMax"`
		MountOptions  []string `json:"mountOptions"`
		Linux         struct {
			Namespaces   []string `json:"namespaces"`
			Capabilities []string `json:"capabilities"`
			Seccomp      struct {
				Enabled bool     `json:"enabled"`
				Actions []string `json:"actions"`
			} `json:"seccomp"`
		} `json:"linux"`
	}
	if err := json.Unmarshal([]byte(e.ok("features")), &f); err != nil {
		t.Fatal(err)
	}
	if f.OCIVersionMax != specs.Version || !slices.Contains(f.MountOptions, "rbind") ||
		!slices.Contains(f.Linux.Namespaces, "time") || !slices.Contains(f.Linux.Capabilities, "CAP_SYS_ADMIN") ||
		!f.Linux.Seccomp.Enabled || !slices.Contains(f.Linux.Seccomp.Actions, "SCMP_ACT_NOTIFY") {
		t.Errorf("features: %+v", f)
	}
}
