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

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/runtime"
)

// startSleeper runs a detached container of b running `/helper sleep` and
// returns the host pid of its init.
func (e *env) startSleeper(b *bundle, id string) int {
	e.t.Helper()
	b.spec.Process.Args = []string{"/helper", "sleep"}
	b.save(e.t)
	e.cleanup(id)
	e.ok("run", "-d", "--bundle", b.dir, id)
	st := e.state(id)
	if st.Status != runtime.Running || st.Pid <= 0 {
		e.t.Fatalf("container %s after run -d: %+v", id, st)
	}
	return st.Pid
}

// execFacts runs `exec [flags] ID /helper facts` and decodes the output.
func (e *env) execFacts(id string, flags ...string) *Facts {
	e.t.Helper()
	args := append(append([]string{"exec"}, flags...), id, "/helper", "facts")
	out := e.ok(args...)
	var f Facts
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		e.t.Fatalf("decode facts %q: %v", out, err)
	}
	return &f
}

func nsLink(t *testing.T, pid int, ns string) string {
	t.Helper()
	l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func capBit(t *testing.T, hex string, bit uint) bool {
	t.Helper()
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		t.Fatalf("parse capability mask %q: %v", hex, err)
	}
	return v&(1<<bit) != 0
}

// TestExecNamespacesAndCgroup checks that an exec'd process joins every
// namespace and the cgroup of the container's init.
func TestExecNamespacesAndCgroup(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	const id = "t-exec-ns"
	initPid := e.startSleeper(b, id)

	f := e.execFacts(id)
	for _, ns := range []string{"pid", "mnt", "net", "ipc", "uts", "cgroup"} {
		want := nsLink(t, initPid, ns)
		if f.Namespaces[ns] != want {
			t.Errorf("exec'd process %s namespace %q, container init's %q", ns, f.Namespaces[ns], want)
		}
		if host := nsLink(t, os.Getpid(), ns); want == host {
			t.Errorf("container %s namespace is the host's", ns)
		}
	}
	if f.Pid <= 1 {
		t.Errorf("exec'd process has pid %d in the container, want > 1", f.Pid)
	}
	if f.Hostname != b.spec.Hostname {
		t.Errorf("hostname %q, want %q", f.Hostname, b.spec.Hostname)
	}

	// A detached exec: its pid file names a live process in the container's
	// pid namespace and cgroup, and ps lists it.
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	e.ok("exec", "--detach", "--pid-file", pidFile, id, "/helper", "sleep")
	pb, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(pb))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file %q: %v", pb, err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("exec'd pid %d not alive: %v", pid, err)
	}
	waitFor(t, func() bool {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return strings.HasPrefix(string(cmd), "/helper\x00sleep")
	})
	if got, want := nsLink(t, pid, "pid"), nsLink(t, initPid, "pid"); got != want {
		t.Errorf("detached exec pid namespace %q, want %q", got, want)
	}
	initCg, _ := os.ReadFile("/proc/" + strconv.Itoa(initPid) + "/cgroup")
	execCg, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if string(initCg) != string(execCg) || !strings.Contains(string(execCg), "/"+id) {
		t.Errorf("exec'd process cgroups:\n%s\ncontainer init's:\n%s", execCg, initCg)
	}
	var pids []int
	if err := json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, pid) || !slices.Contains(pids, initPid) {
		t.Errorf("ps lists %v, want the init %d and the exec'd %d", pids, initPid, pid)
	}
}

func TestExecProcessSettings(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	b.spec.Process.NoNewPrivileges = false // so that --no-new-privs makes a difference
	const id = "t-exec-opts"
	e.startSleeper(b, id)

	t.Run("exit code", func(t *testing.T) {
		if r := e.berth("exec", id, "/helper", "exit", "5"); r.code != 5 {
			t.Fatalf("exec exit 5: code %d, stderr %s", r.code, r.stderr)
		}
		e.ok("exec", id, "/helper", "exit", "0")
	})
	t.Run("defaults", func(t *testing.T) {
		f := e.execFacts(id)
		if f.UID != 0 || f.Cwd != "/" || f.Status["NoNewPrivs"] != "0" || capBit(t, f.Status["CapBnd"], 21) {
			t.Errorf("uid %d cwd %q status %v", f.UID, f.Cwd, f.Status)
		}
	})
	t.Run("env cwd user groups", func(t *testing.T) {
		f := e.execFacts(id, "-e", "FOO=bar", "--env", "BAZ=qux", "-e", "TERM=dumb", "--cwd", "/tmp", "--user", "1000:1000", "--additional-gids", "20", "-g", "30")
		if !slices.Contains(f.Env, "FOO=bar") || !slices.Contains(f.Env, "BAZ=qux") || !slices.Contains(f.Env, b.spec.Process.Env[0]) {
			t.Errorf("env %v", f.Env)
		}
		// -e overrides the container's value (TERM=xterm), as with runc: the
		// last value of a name is the one the process gets.
		if !slices.Contains(f.Env, "TERM=dumb") || slices.Contains(f.Env, "TERM=xterm") {
			t.Errorf("env %v: want TERM=dumb only", f.Env)
		}
		if f.Cwd != "/tmp" {
			t.Errorf("cwd %q", f.Cwd)
		}
		checkIDs(t, f, 1000, 1000, 20, 30)
	})
	t.Run("cap", func(t *testing.T) {
		f := e.execFacts(id, "--cap", "CAP_SYS_ADMIN")
		if !capBit(t, f.Status["CapBnd"], 21) || !capBit(t, f.Status["CapEff"], 21) {
			t.Errorf("CAP_SYS_ADMIN (21) missing: CapBnd %s CapEff %s", f.Status["CapBnd"], f.Status["CapEff"])
		}
		if !capBit(t, f.Status["CapBnd"], 5) {
			t.Errorf("the spec's CAP_KILL was lost: CapBnd %s", f.Status["CapBnd"])
		}
		// As runc since CVE-2022-29162: --cap does not make the capability
		// inheritable (nor, without inheritable ones in the spec, ambient).
		if f.Status["CapInh"] != "0000000000000000" || f.Status["CapAmb"] != "0000000000000000" {
			t.Errorf("--cap made capabilities inheritable: CapInh %s CapAmb %s", f.Status["CapInh"], f.Status["CapAmb"])
		}
		// A non-root user does not keep it across execve.
		f = e.execFacts(id, "--cap", "CAP_SYS_ADMIN", "--user", "1000")
		if capBit(t, f.Status["CapEff"], 21) || capBit(t, f.Status["CapPrm"], 21) {
			t.Errorf("uid 1000 got CAP_SYS_ADMIN: CapPrm %s CapEff %s", f.Status["CapPrm"], f.Status["CapEff"])
		}
	})
	t.Run("no new privs", func(t *testing.T) {
		if f := e.execFacts(id, "--no-new-privs"); f.Status["NoNewPrivs"] != "1" {
			t.Errorf("NoNewPrivs %q", f.Status["NoNewPrivs"])
		}
	})
	t.Run("process file", func(t *testing.T) {
		p := specs.Process{
			Args: []string{"/helper", "facts"},
			Env:  []string{"PATH=/bin", "FROM=file"},
			Cwd:  "/etc",
			User: specs.User{UID: 2000, GID: 3000},
		}
		data, _ := json.Marshal(p)
		file := filepath.Join(t.TempDir(), "process.json")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := e.ok("exec", "--process", file, id)
		var f Facts
		if err := json.Unmarshal([]byte(out), &f); err != nil {
			t.Fatalf("decode facts %q: %v", out, err)
		}
		if f.UID != 2000 || f.GID != 3000 || f.Cwd != "/etc" || !slices.Contains(f.Env, "FROM=file") {
			t.Errorf("uid %d gid %d cwd %q env %v", f.UID, f.GID, f.Cwd, f.Env)
		}
	})
	t.Run("tty", func(t *testing.T) {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer devnull.Close()
		// No console socket: berth makes the pty itself and copies its output.
		r := e.berthIn(devnull, "exec", "-t", id, "tty")
		out := strings.TrimSpace(strings.ReplaceAll(r.stdout, "\r", ""))
		if r.code != 0 || !strings.HasPrefix(out, "/dev/pts/") {
			t.Fatalf("exec -t tty: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		if _, err := strconv.Atoi(strings.TrimPrefix(out, "/dev/pts/")); err != nil {
			t.Fatalf("exec -t tty: %q", out)
		}
		// Without -t the helper's stdin is the one berth was given.
		r = e.berthIn(devnull, "exec", id, "sh", "-c", "tty")
		if r.code == 0 || !strings.Contains(r.stdout, "not a tty") {
			t.Errorf("exec tty without -t: code %d stdout %q", r.code, r.stdout)
		}
	})
}

func TestExecErrors(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	const id = "t-exec-err"
	e.startSleeper(b, id)

	r := e.fails("executable file not found in $PATH", "exec", id, "nosuchprogram")
	if !strings.Contains(r.stderr, "nosuchprogram") {
		t.Errorf("error does not name the program: %s", r.stderr)
	}
	e.fails("container does not exist", "exec", "t-no-such-container", "true")
	// The failed exec left the container as it was.
	e.ok("exec", id, "true")

	e.ok("kill", id, "KILL")
	waitFor(t, func() bool { return e.state(id).Status == runtime.Stopped })
	e.fails("cannot exec in a stopped container", "exec", id, "true")
}
