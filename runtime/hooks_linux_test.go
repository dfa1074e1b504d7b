package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/runtime"
)

// recordingHook is a hook running path (busybox or a shell) that saves what
// it sees in dir, a path as seen by the hook:
// <kind>.host (hostname), <kind>.ns (its uts and mnt namespaces) and, last,
// <kind>.json (the state on its stdin).
func recordingHook(path, dir, kind string) specs.Hook {
	p := filepath.Join(dir, kind)
	script := "hostname > " + p + ".host; (readlink /proc/self/ns/uts; readlink /proc/self/ns/mnt) > " + p + ".ns; " +
		"cat > " + p + ".tmp; mv " + p + ".tmp " + p + ".json"
	args := []string{"sh", "-c", script}
	if filepath.Base(path) == "busybox" {
		args = append([]string{"busybox"}, args...)
	}
	return specs.Hook{Path: path, Args: args}
}

type hookRecord struct {
	state    specs.State
	hostname string
	uts, mnt string
}

func readHookRecord(t *testing.T, dir, kind string) hookRecord {
	t.Helper()
	p := filepath.Join(dir, kind)
	var r hookRecord
	waitFor(t, func() bool { _, err := os.Stat(p + ".json"); return err == nil })
	data, err := os.ReadFile(p + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r.state); err != nil {
		t.Fatalf("%s hook: state %q: %v", kind, data, err)
	}
	host, _ := os.ReadFile(p + ".host")
	r.hostname = strings.TrimSpace(string(host))
	ns, _ := os.ReadFile(p + ".ns")
	if l := strings.Fields(string(ns)); len(l) == 2 {
		r.uts, r.mnt = l[0], l[1]
	}
	return r
}

func TestHooks(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "/helper", "sleep")
	out := t.TempDir() // where the host-side hooks write
	in := t.TempDir()  // the same for the hook that runs in the container, at /hooks
	b.spec.Hostname = "hooked"
	b.spec.Mounts = append(b.spec.Mounts, specs.Mount{Destination: "/hooks", Type: "bind", Source: in, Options: []string{"rbind", "rw"}})
	b.spec.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{recordingHook(busybox, out, "prestart")},
		CreateRuntime:   []specs.Hook{recordingHook(busybox, out, "createRuntime")},
		CreateContainer: []specs.Hook{recordingHook(busybox, out, "createContainer")},
		// Resolved and run inside the container, after pivot_root.
		StartContainer: []specs.Hook{recordingHook("/bin/sh", "/hooks", "startContainer")},
		Poststart:      []specs.Hook{recordingHook(busybox, out, "poststart")},
		Poststop:       []specs.Hook{recordingHook(busybox, out, "poststop")},
	}
	b.save(t)
	const id = "t-hooks"
	e.cleanup(id)
	hostName, _ := os.Hostname()
	hostUTS, hostMnt := nsLink(t, os.Getpid(), "uts"), nsLink(t, os.Getpid(), "mnt")

	e.ok("create", "--bundle", b.dir, id)
	pid := e.state(id).Pid
	ctrUTS, ctrMnt := nsLink(t, pid, "uts"), nsLink(t, pid, "mnt")
	check := func(kind string, r hookRecord, status specs.ContainerState, wantPid int) {
		t.Helper()
		if r.state.Status != status || r.state.ID != id || r.state.Pid != wantPid || r.state.Bundle != b.dir || r.state.Version == "" {
			t.Errorf("%s hook got state %+v, want status %s id %s pid %d bundle %s", kind, r.state, status, id, wantPid, b.dir)
		}
	}
	inHost := func(kind string, r hookRecord) {
		t.Helper()
		if r.hostname != hostName || r.uts != hostUTS || r.mnt != hostMnt {
			t.Errorf("%s hook ran in hostname %q uts %s mnt %s, want the host's (%q %s %s)", kind, r.hostname, r.uts, r.mnt, hostName, hostUTS, hostMnt)
		}
	}
	inContainer := func(kind string, r hookRecord) {
		t.Helper()
		if r.uts != ctrUTS || r.mnt != ctrMnt {
			t.Errorf("%s hook ran in uts %s mnt %s, want the container's (%s %s)", kind, r.uts, r.mnt, ctrUTS, ctrMnt)
		}
	}

	r := readHookRecord(t, out, "prestart")
	check("prestart", r, "creating", pid)
	inHost("prestart", r)
	r = readHookRecord(t, out, "createRuntime")
	check("createRuntime", r, "creating", pid)
	inHost("createRuntime", r)
	// Before pivot_root, in the container's namespaces (the hostname is set
	// later, as with runc).
	r = readHookRecord(t, out, "createContainer")
	check("createContainer", r, "creating", pid)
	inContainer("createContainer", r)
	for _, k := range []string{"startContainer", "poststart", "poststop"} {
		if _, err := os.Stat(filepath.Join(out, k+".json")); err == nil {
			t.Errorf("%s hook ran at create", k)
		}
	}
	if _, err := os.Stat(filepath.Join(in, "startContainer.json")); err == nil {
		t.Errorf("startContainer hook ran at create")
	}

	e.ok("start", id)
	r = readHookRecord(t, in, "startContainer")
	check("startContainer", r, "created", pid)
	inContainer("startContainer", r)
	if r.hostname != "hooked" {
		t.Errorf("startContainer hook saw hostname %q, want the container's", r.hostname)
	}
	r = readHookRecord(t, out, "poststart")
	check("poststart", r, "running", pid)
	inHost("poststart", r)
	if _, err := os.Stat(filepath.Join(out, "poststop.json")); err == nil {
		t.Errorf("poststop hook ran before delete")
	}

	e.ok("kill", id, "KILL")
	waitFor(t, func() bool { return e.state(id).Status == runtime.Stopped })
	e.ok("delete", id)
	r = readHookRecord(t, out, "poststop")
	if r.state.Status != "stopped" || r.state.ID != id || r.state.Bundle != b.dir {
		t.Errorf("poststop hook got state %+v", r.state)
	}
	inHost("poststop", r)
}

func TestHookFailures(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "/helper", "sleep")
	const id = "t-hook-fail"

	t.Run("exit status", func(t *testing.T) {
		b.spec.Hooks = &specs.Hooks{Prestart: []specs.Hook{
			{Path: busybox, Args: []string{"busybox", "true"}},
			{Path: busybox, Args: []string{"busybox", "sh", "-c", "echo hook says no >&2; exit 1"}},
		}}
		b.save(t)
		r := e.fails("prestart hook #1", "create", "--bundle", b.dir, id)
		if !strings.Contains(r.stderr, busybox) || !strings.Contains(r.stderr, "exit status 1") || !strings.Contains(r.stderr, "hook says no") {
			t.Errorf("error does not name the hook, its status and output: %s", r.stderr)
		}
		checkNoLeftovers(t, e.root, id)
	})
	t.Run("timeout", func(t *testing.T) {
		timeout := 1
		b.spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{
			{Path: busybox, Args: []string{"busybox", "sh", "-c", "sleep 5; true"}, Timeout: &timeout},
		}}
		b.save(t)
		start := time.Now()
		r := e.fails("timeout", "create", "--bundle", b.dir, id)
		if !strings.Contains(r.stderr, "createRuntime hook #0") {
			t.Errorf("error does not name the hook: %s", r.stderr)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("hook with a 1s timeout took %v to fail", d)
		}
		checkNoLeftovers(t, e.root, id)
	})
	t.Run("in the container", func(t *testing.T) {
		// A failing createContainer hook fails create; its error comes from init.
		b.spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{
			{Path: busybox, Args: []string{"busybox", "sh", "-c", "exit 3"}},
		}}
		b.save(t)
		r := e.fails("createContainer hook #0", "create", "--bundle", b.dir, id)
		if !strings.Contains(r.stderr, "exit status 3") {
			t.Errorf("error %s", r.stderr)
		}
		checkNoLeftovers(t, e.root, id)
	})
}
