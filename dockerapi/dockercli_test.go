package dockerapi

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
)

// cliFake is the fake with attach and exec streams that speak docker's
// multiplexed format, as the CLI expects of a container without a TTY.
type cliFake struct{ *fakeAPI }

// frame is one stdcopy frame of stdout.
func frame(s string) string {
	n := len(s)
	return string([]byte{1, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + s
}

// muxEcho echoes stdin as stdout frames; its output ends when stdin does.
type muxEcho struct{ *echo }

func (m muxEcho) Write(p []byte) (int, error) {
	if _, err := io.WriteString(m.pw, frame(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// canned is a stream with fixed output that ignores stdin.
type canned struct{ io.Reader }

func (canned) Write(p []byte) (int, error) { return len(p), nil }
func (canned) Close() error                { return nil }
func (canned) CloseWrite() error           { return nil }

func (f cliFake) ContainerAttach(ctx context.Context, id string, o engine.AttachOptions) (engine.Stream, error) {
	f.record("ContainerAttach", id, o)
	if o.Stdin {
		return muxEcho{newEcho()}, nil
	}
	return canned{strings.NewReader(frame("hi from attach\n"))}, nil
}

func (f cliFake) ExecStart(ctx context.Context, id string, r container.ExecStartRequest) (engine.Stream, error) {
	f.record("ExecStart", id, r)
	if r.Detach {
		return nil, nil
	}
	return canned{strings.NewReader(frame("hi from exec\n"))}, nil
}

// TestDockerCLI has the real docker CLI talk to the handler over a unix
// socket, answering with the fake's data.
func TestDockerCLI(t *testing.T) {
	docker := gate.Command(t, "docker")
	fake := newFake()
	fake.set("Version", system.VersionResponse{
		Platform: system.PlatformInfo{Name: "berth"}, Version: "0.6.0-test", APIVersion: APIVersion, MinAPIVersion: MinAPIVersion,
		Os: "linux", Arch: "amd64", KernelVersion: "6.18", GoVersion: "go1.26",
		Components: []system.ComponentVersion{{Name: "Engine", Version: "0.6.0-test", Details: map[string]string{"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": "linux", "Arch": "amd64"}}},
	})
	fake.set("ContainerList", []container.Summary{
		{ID: "1111111111111111111111111111111111111111111111111111111111111111", Names: []string{"/web"}, Image: "busybox", Command: "sh", State: container.StateRunning, Status: "Up 1 second"},
		{ID: "2222222222222222222222222222222222222222222222222222222222222222", Names: []string{"/old"}, Image: "busybox", Command: "true", State: container.StateExited, Status: "Exited (0) 1 minute ago"},
	})
	fake.set("ContainerInspect", container.InspectResponse{
		ID: "3333333333333333333333333333333333333333333333333333333333333333", Name: "/x", Image: "sha256:aa",
		State:  &container.State{Status: container.StateRunning, Running: true, Pid: 42},
		Config: &container.Config{Image: "busybox"}, HostConfig: &container.HostConfig{},
	})
	id := "1111111111111111111111111111111111111111111111111111111111111111"
	fake.set("ContainerCreate", container.CreateResponse{ID: id})
	fake.set("ContainerLogs", frame("a log line\n"))
	fake.set("ExecCreate", container.ExecCreateResponse{ID: "e1"})
	fake.set("ExecInspect", container.ExecInspectResponse{ID: "e1", ExitCode: intp(0)})
	fake.set("ImagePull", `{"status":"Pulling from library/busybox","id":"latest"}`+"\n"+`{"status":"Status: Downloaded newer image for busybox:latest"}`+"\n")
	sock := unixServer(t, NewHandler(cliFake{fake}))

	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(docker, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + t.TempDir(),
			"DOCKER_CONFIG=" + t.TempDir(),
			"DOCKER_HOST=unix://" + sock,
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("docker %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string // the output (for version and pull: part of it)
		// check inspects the fake afterwards.
		check func(t *testing.T)
	}{
		{name: "version", args: []string{"version"}, want: "0.6.0-test"},
		{name: "version format", args: []string{"version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"}, want: "0.6.0-test 1.50"},
		{name: "ps", args: []string{"ps", "-a", "--format", "{{.Names}}"}, want: "web\nold", check: func(t *testing.T) {
			calls := fake.called("ContainerList")
			if len(calls) == 0 || !calls[len(calls)-1].Args[0].(engine.ListOptions).All {
				t.Errorf("docker ps -a did not ask for all: %+v", calls)
			}
		}},
		{name: "inspect", args: []string{"inspect", "--format", "{{.State.Status}}", "x"}, want: "running", check: func(t *testing.T) {
			calls := fake.called("ContainerInspect")
			if len(calls) == 0 || calls[len(calls)-1].Args[0] != "x" {
				t.Errorf("inspect calls %+v", calls)
			}
		}},
		// docker run: create, attach (hijacked), wait (headers first),
		// start, then the output and the exit code.
		{name: "run", args: []string{"run", "--rm", "busybox", "echo", "hi"}, want: "hi from attach", check: func(t *testing.T) {
			for _, m := range []string{"ContainerCreate", "ContainerAttach", "ContainerWait", "ContainerStart"} {
				if len(fake.called(m)) == 0 {
					t.Errorf("docker run did not call %s", m)
				}
			}
		}},
		// stdin crosses the hijacked connection and its end (the CLI's
		// half-close) ends the container's output.
		{name: "run -i", stdin: "hello through stdin\n", args: []string{"run", "-i", "busybox", "cat"}, want: "hello through stdin"},
		{name: "logs", args: []string{"logs", "x"}, want: "a log line"},
		{name: "exec", args: []string{"exec", "x", "ls"}, want: "hi from exec"},
		{name: "pull", args: []string{"pull", "busybox"}, want: "Downloaded newer image for busybox:latest", check: func(t *testing.T) {
			calls := fake.called("ImagePull")
			if len(calls) == 0 || calls[0].Args[0] != "docker.io/library/busybox:latest" {
				t.Errorf("pull calls %+v", calls)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := run(tc.stdin, tc.args...)
			if tc.name == "version" || tc.name == "pull" {
				if !strings.Contains(out, tc.want) {
					t.Errorf("docker %s does not say %q:\n%s", tc.name, tc.want, out)
				}
			} else if out != tc.want {
				t.Errorf("output %q, want %q", out, tc.want)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}
