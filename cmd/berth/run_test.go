package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-project/berth/engine"
)

const fullID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func intp(i int) *int       { return &i }
func int64p(i int64) *int64 { return &i }
func boolp(b bool) *bool    { return &b }

// TestCreateFlags checks flags -> the create request, through `create`
// (which prints the ID and touches nothing else).
func TestCreateFlags(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("# comment\n\n  FROM_FILE=1\nFROM_HOST\nNOT_SET_ANYWHERE\n"), 0o644)
	labelFile := filepath.Join(dir, "labels")
	os.WriteFile(labelFile, []byte("a=from-file\nbare\n"), 0o644)
	t.Setenv("FROM_HOST", "host value")
	t.Setenv("PASSED", "passed value")

	tests := []struct {
		name string
		args []string
		cfg  func(c *container.Config)
		hc   func(h *container.HostConfig)
	}{
		{"defaults", []string{"busybox"}, nil, nil},
		{"command", []string{"busybox", "sh", "-c", "echo hi"}, func(c *container.Config) {
			c.Cmd = []string{"sh", "-c", "echo hi"}
		}, nil},
		{"env", []string{"--env-file", envFile, "-e", "A=1", "-e", "PASSED", "-e", "UNSET_HERE", "busybox"}, func(c *container.Config) {
			c.Env = []string{"FROM_FILE=1", "FROM_HOST=host value", "A=1", "PASSED=passed value", "UNSET_HERE"}
		}, nil},
		{"labels", []string{"--label-file", labelFile, "-l", "b=2", "--label", "a=flag", "busybox"}, func(c *container.Config) {
			c.Labels = map[string]string{"a": "flag", "bare": "", "b": "2"}
		}, nil},
		{"entrypoint reset", []string{"--entrypoint", "", "busybox"}, func(c *container.Config) {
			c.Entrypoint = []string{""}
		}, nil},
		{"process", []string{"-w", "/tmp", "-u", "1000:1000", "-h", "box", "--entrypoint", "/bin/sh", "--stop-signal", "SIGUSR1", "--stop-timeout", "3", "busybox"}, func(c *container.Config) {
			c.WorkingDir, c.User, c.Hostname, c.Entrypoint = "/tmp", "1000:1000", "box", []string{"/bin/sh"}
			c.StopSignal, c.StopTimeout = "SIGUSR1", intp(3)
		}, nil},
		{"interactive tty", []string{"-i", "-t", "busybox"}, func(c *container.Config) {
			c.OpenStdin, c.Tty, c.AttachStdin, c.StdinOnce = true, true, true, true
		}, nil},
		{"attach stderr only", []string{"-a", "STDERR", "busybox"}, func(c *container.Config) {
			c.AttachStdout = false
		}, nil},
		{"host config", []string{"--rm", "--init", "--read-only", "--log-driver", "json-file", "--log-opt", "max-size=1m", "busybox"}, nil, func(h *container.HostConfig) {
			h.AutoRemove, h.Init, h.ReadonlyRootfs = true, boolp(true), true
			h.LogConfig = container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m"}}
		}},
		{"restart", []string{"--restart", "on-failure:3", "busybox"}, nil, func(h *container.HostConfig) {
			h.RestartPolicy = container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}
		}},
		{"resources", []string{"-m", "512m", "--cpus", "1.5", "-c", "512", "--pids-limit", "64", "busybox"}, nil, func(h *container.HostConfig) {
			h.Memory, h.NanoCPUs, h.CPUShares, h.PidsLimit = 512<<20, 1500000000, 512, int64p(64)
		}},
		{"interspersed", []string{"busybox", "ls", "-l", "--name", "x"}, func(c *container.Config) {
			c.Cmd = []string{"ls", "-l", "--name", "x"}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{createID: fullID}
			r := berth(t, f, "", append([]string{"create"}, tt.args...)...)
			if r.code != 0 || r.stdout != fullID+"\n" {
				t.Fatalf("create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			wantCfg := &container.Config{Image: "busybox", AttachStdout: true, AttachStderr: true}
			if tt.cfg != nil {
				tt.cfg(wantCfg)
			}
			wantHC := &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "no"}}
			if tt.hc != nil {
				tt.hc(wantHC)
			}
			got := f.createReqs[0]
			if !reflect.DeepEqual(got.Config, wantCfg) {
				t.Errorf("config\n got %+v\nwant %+v", got.Config, wantCfg)
			}
			if !reflect.DeepEqual(got.HostConfig, wantHC) {
				t.Errorf("host config\n got %+v\nwant %+v", got.HostConfig, wantHC)
			}
		})
	}
}

// TestCreateBadInput: what cannot make a request fails before any call,
// with docker's words and exit code.
func TestCreateBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no image", []string{"create"}, 1, "berth: 'berth create' requires at least 1 argument"},
		{"unknown flag", []string{"create", "--nope", "busybox"}, 125, "unknown flag: --nope\n\nUsage:  berth create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth create --help' for more information"},
		{"bad attach", []string{"create", "-a", "stdnothing", "busybox"}, 125, `invalid argument "stdnothing" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`},
		{"bad memory", []string{"create", "-m", "lots", "busybox"}, 125, `invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'`},
		{"bad cpus", []string{"create", "--cpus", "0.0000000001", "busybox"}, 125, "value is too precise"},
		{"bad pull", []string{"create", "--pull", "sometimes", "busybox"}, 125, "berth: invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\"\n\nRun 'berth create --help' for more information"},
		{"rm and restart", []string{"create", "--rm", "--restart", "always", "busybox"}, 125, "berth: conflicting options: cannot specify both --restart and --rm"},
		{"bad restart count", []string{"create", "--restart", "on-failure:x", "busybox"}, 125, "maximum retry count must be an integer"},
		{"bad log opt", []string{"create", "--log-opt", "max-size", "busybox"}, 125, "invalid key/value pair format in logging opts: max-size"},
		{"missing env file", []string{"create", "--env-file", "/nonexistent/env", "busybox"}, 125, "/nonexistent/env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{createID: fullID}
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
			if len(f.calls) != 0 {
				t.Errorf("calls made: %v", f.calls)
			}
		})
	}
}

// TestRunPullsMissingImage is docker's flow: create fails with not found,
// berth says so, pulls (progress on stderr) and creates again, then
// attaches, waits, starts and exits with the container's status.
func TestRunPullsMissingImage(t *testing.T) {
	f := &fakeAPI{
		createID:   fullID,
		createErrs: []error{engine.NotFound("No such image: busybox:latest"), nil},
		pullBody: jsonLines(
			jsonstream.Message{ID: "latest", Status: "Pulling from library/busybox"},
			jsonstream.Message{ID: "abcdef012345", Status: "Pulling fs layer"},
			jsonstream.Message{ID: "abcdef012345", Status: "Downloading", Progress: &jsonstream.Progress{Current: 10, Total: 100}},
			jsonstream.Message{ID: "abcdef012345", Status: "Downloading", Progress: &jsonstream.Progress{Current: 50, Total: 100}},
			jsonstream.Message{ID: "abcdef012345", Status: "Pull complete"},
			jsonstream.Message{Status: "Digest: sha256:1234"},
			jsonstream.Message{Status: "Status: Downloaded newer image for busybox:latest"},
		),
		attachOut:  nil,
		waitStatus: 3,
	}
	f.attachOut = framed(t, 1, "out\n", 2, "err\n", 1, "more\n")
	r := berth(t, f, "", "run", "--name", "web", "busybox", "sh", "-c", "exit 3")
	if r.code != 3 {
		t.Errorf("exit %d, want the container's 3; stderr %q", r.code, r.stderr)
	}
	if r.stdout != "out\nmore\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	wantErr := "Unable to find image 'busybox:latest' locally\n" +
		"latest: Pulling from library/busybox\n" +
		"abcdef012345: Pulling fs layer\n" +
		"abcdef012345: Downloading\n" +
		"abcdef012345: Pull complete\n" +
		"Digest: sha256:1234\n" +
		"Status: Downloaded newer image for busybox:latest\n" +
		"err\n"
	if r.stderr != wantErr {
		t.Errorf("stderr\n%q\nwant\n%q", r.stderr, wantErr)
	}
	wantCalls := []string{
		"ContainerCreate busybox", "ImagePull docker.io/library/busybox:latest", "ContainerCreate busybox",
		"ContainerAttach " + fullID, "ContainerWait " + fullID, "ContainerStart " + fullID,
	}
	if !reflect.DeepEqual(f.calls, wantCalls) {
		t.Errorf("calls\n got %q\nwant %q", f.calls, wantCalls)
	}
	if f.createName != "web" {
		t.Errorf("name %q", f.createName)
	}
	if got := f.attachOpts[0]; got != (engine.AttachOptions{Stream: true, Stdout: true, Stderr: true}) {
		t.Errorf("attach %+v", got)
	}
	if f.waitConds[0] != container.WaitConditionNextExit {
		t.Errorf("wait condition %q", f.waitConds[0])
	}
}

// TestRunPullPolicies: --pull never does not pull, always pulls first,
// -q keeps the pull quiet; a pull that fails stops run with 125.
func TestRunPullPolicies(t *testing.T) {
	missing := engine.NotFound("No such image: busybox:latest")
	tests := []struct {
		name       string
		args       []string
		createErrs []error
		pullErr    error
		code       int
		calls      []string
		stderr     string
	}{
		{"never", []string{"run", "--pull", "never", "busybox"}, []error{missing}, nil, 125,
			[]string{"ContainerCreate busybox"},
			"berth: Error response from daemon: No such image: busybox:latest\n\nRun 'berth run --help' for more information\n"},
		{"always", []string{"run", "-d", "--pull", "always", "busybox:1.36"}, nil, nil, 0,
			[]string{"ImagePull docker.io/library/busybox:1.36", "ContainerCreate busybox:1.36", "ContainerWait " + fullID, "ContainerStart " + fullID},
			"Digest: sha256:1\n"},
		{"quiet", []string{"run", "-d", "-q", "busybox"}, []error{missing, nil}, nil, 0,
			[]string{"ContainerCreate busybox", "ImagePull docker.io/library/busybox:latest", "ContainerCreate busybox", "ContainerWait " + fullID, "ContainerStart " + fullID},
			""},
		{"pull fails", []string{"run", "registry.example:5000/team/app"}, []error{engine.NotFound("No such image: registry.example:5000/team/app:latest")},
			engine.Errorf(engine.KindNotFound, "pull access denied for registry.example:5000/team/app, repository does not exist or may require 'docker login'"), 125,
			[]string{"ContainerCreate registry.example:5000/team/app", "ImagePull registry.example:5000/team/app:latest"},
			"Unable to find image 'registry.example:5000/team/app:latest' locally\nberth: Error response from daemon: pull access denied for registry.example:5000/team/app, repository does not exist or may require 'docker login'\n\nRun 'berth run --help' for more information\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{createID: fullID, createErrs: tt.createErrs, pullBody: jsonLines(jsonstream.Message{Status: "Digest: sha256:1"})}
			if tt.pullErr != nil {
				f.errs = map[string]error{"ImagePull " + strings.TrimPrefix(tt.calls[1], "ImagePull "): tt.pullErr}
			}
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || r.stderr != tt.stderr {
				t.Errorf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, tt.code, tt.stderr)
			}
			if !reflect.DeepEqual(f.calls, tt.calls) {
				t.Errorf("calls\n got %q\nwant %q", f.calls, tt.calls)
			}
		})
	}
}

// TestRunDetachAndStartErrors: -d prints the full ID and attaches
// nothing; a start failure gives docker's codes (127 command not found,
// 126 not executable, 125 otherwise); --rm waits for removal.
func TestRunDetachAndStartErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		startErr error
		code     int
		stdout   string
		stderr   string
		cond     container.WaitCondition
	}{
		{"detached", []string{"run", "-d", "busybox", "sleep", "9"}, nil, 0, fullID + "\n", "", container.WaitConditionNextExit},
		{"detached rm", []string{"run", "-d", "--rm", "busybox"}, nil, 0, fullID + "\n", "", container.WaitConditionRemoved},
		{"not found", []string{"run", "busybox", "nosuch"}, engine.Errorf(engine.KindUnknown, `failed to create task for container: exec: "nosuch": executable file not found in $PATH`), 127, "",
			"berth: Error response from daemon: failed to create task for container: exec: \"nosuch\": executable file not found in $PATH\n", container.WaitConditionNextExit},
		{"not executable", []string{"run", "busybox", "/etc/passwd"}, engine.Errorf(engine.KindUnknown, "exec /etc/passwd: permission denied"), 126, "",
			"berth: Error response from daemon: exec /etc/passwd: permission denied\n", container.WaitConditionNextExit},
		{"other", []string{"run", "--rm", "busybox"}, engine.Conflict("cannot start a paused container"), 125, "",
			"berth: Error response from daemon: cannot start a paused container\n", container.WaitConditionRemoved},
		{"attach with detach", []string{"run", "-d", "-a", "stdout", "busybox"}, nil, 1, "",
			"conflicting options: cannot specify both --attach and --detach\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{createID: fullID, startErr: tt.startErr}
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
			if tt.cond != "" && (len(f.waitConds) != 1 || f.waitConds[0] != tt.cond) {
				t.Errorf("wait conditions %q, want %q", f.waitConds, tt.cond)
			}
			if strings.Contains(strings.Join(f.calls, ","), "ContainerAttach") && strings.Contains(strings.Join(tt.args, " "), "-d") {
				t.Errorf("-d attached: %v", f.calls)
			}
		})
	}
}

// TestRunInteractive: -i attaches stdin, which goes to the stream; -t
// with a stdin that is no terminal is refused as docker refuses it.
func TestRunInteractive(t *testing.T) {
	f := &fakeAPI{createID: fullID, attachOut: framed(t, 1, "got it\n")}
	r := berth(t, f, "hello\n", "run", "-i", "busybox", "cat")
	if r.code != 0 || r.stdout != "got it\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := f.attachOpts[0]; !got.Stdin || !got.Stdout || !got.Stderr {
		t.Errorf("attach options %+v", got)
	}
	r = berth(t, &fakeAPI{createID: fullID}, "", "run", "-it", "busybox", "sh")
	if r.code != 1 || r.stderr != "the input device is not a TTY\n" {
		t.Errorf("-it without a terminal: exit %d, stderr %q", r.code, r.stderr)
	}
}
