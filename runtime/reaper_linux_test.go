package runtime_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// withReaper makes the bundle run args under the berth binary mounted as
// /sbin/docker-init, as the engine does for `run --init`.
func withReaper(b *bundle, args ...string) {
	b.spec.Mounts = append(b.spec.Mounts, specs.Mount{
		Destination: "/sbin/docker-init", Type: "bind", Source: berthBin, Options: []string{"bind", "ro"},
	})
	b.spec.Process.Args = append([]string{"/sbin/docker-init", "--"}, args...)
}

func TestReaper(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  []string // lines the output must have, whole
	}{
		{"exit code", []string{"sh", "-c", "exit 3"}, 3, nil},
		{"killed child", []string{"sh", "-c", "kill -KILL $$"}, 137, nil},
		{"not found", []string{"no-such-command"}, 127, nil},
		{"no command", nil, 1, nil},
		{
			// The background sleep outlives its subshell: it is reparented
			// to PID 1, the reaper, which must reap it once it exits (a
			// zombie keeps its /proc entry).
			"orphan reaped",
			[]string{"sh", "-c", `p=$(sh -c 'sleep 0.3 >/dev/null & echo $!'); sleep 0.1
				grep PPid: /proc/$p/status; set -- $(tr '\0' ' ' </proc/1/cmdline); echo "pid1 $1 $2 $3"
				sleep 1; if [ -e /proc/$p ]; then echo "orphan $(cut -d' ' -f3 /proc/$p/stat)"; else echo reaped; fi`},
			0,
			[]string{"PPid:\t1", "pid1 /sbin/docker-init -- sh", "reaped"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := newBundle(t)
			withReaper(b, tc.args...)
			if tc.args == nil {
				b.spec.Process.Args = []string{"/sbin/docker-init"}
			}
			b.save(t)
			id := "t-reaper-" + strings.ReplaceAll(tc.name, " ", "-")
			e.cleanup(id)
			r := e.berth("run", "--bundle", b.dir, id)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			lines := strings.Split(r.stdout, "\n")
			for _, want := range tc.out {
				if !slices.Contains(lines, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

// TestReaperForwardsSignals kills the container's init (the reaper) with
// SIGTERM; the child's trap gets it and decides the container's exit code.
func TestReaperForwardsSignals(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	withReaper(b, "sh", "-c", `trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done`)
	b.save(t)
	const id = "t-reaper-signal"
	e.cleanup(id)
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run := exec.Command(berthBin, "runtime", "--root", e.root, "run", "--bundle", b.dir, id)
	run.Stdout, run.Stderr = f, f
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "ready")
	})
	// The child is not PID 1: a signal for it is only delivered when the
	// reaper passes it on.
	e.ok("kill", id, "TERM")
	err = run.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if code != 7 || !strings.Contains(string(got), "got TERM") {
		t.Fatalf("exit %d, output %q; want 7 and the trap's message", code, got)
	}
}
