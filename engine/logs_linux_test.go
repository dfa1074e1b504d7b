package engine

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestContainerLogs(t *testing.T) {
	e := newTestEngine(t, false)
	id, code := run(t, e, container.Config{}, container.HostConfig{}, "sh", "-c", "echo one; echo two >&2; echo three")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, tc := range []struct {
		name           string
		o              LogsOptions
		stdout, stderr string
	}{
		{"both", LogsOptions{ShowStdout: true, ShowStderr: true}, "one\nthree\n", "two\n"},
		{"stdout", LogsOptions{ShowStdout: true}, "one\nthree\n", ""},
		{"stderr", LogsOptions{ShowStderr: true}, "", "two\n"},
		{"tail all", LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "all"}, "one\nthree\n", "two\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := e.ContainerLogs(ctx(t), id, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			stdout, stderr := demux(t, readAll(t, rc))
			if stdout != tc.stdout || stderr != tc.stderr {
				t.Errorf("stdout %q stderr %q, want %q %q", stdout, stderr, tc.stdout, tc.stderr)
			}
		})
	}
	t.Run("tail", func(t *testing.T) {
		// One stream only: the order of lines across two pipes is the
		// order the monitor drained them in.
		id, _ := run(t, e, container.Config{}, container.HostConfig{}, "sh", "-c", "echo a; echo b; echo c")
		rc, err := e.ContainerLogs(ctx(t), id, LogsOptions{ShowStdout: true, Tail: "2"})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if stdout, _ := demux(t, readAll(t, rc)); stdout != "b\nc\n" {
			t.Errorf("tail 2: %q", stdout)
		}
	})
	if _, err := e.ContainerLogs(ctx(t), id, LogsOptions{}); KindOf(err) != KindInvalid {
		t.Errorf("logs without a stream: %v", err)
	}
	t.Run("attach replays the log", func(t *testing.T) {
		s, err := e.ContainerAttach(ctx(t), id, AttachOptions{Logs: true, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if stdout, stderr := demux(t, readAll(t, s)); stdout != "one\nthree\n" || stderr != "two\n" {
			t.Errorf("replayed %q %q", stdout, stderr)
		}
	})
	t.Run("none driver", func(t *testing.T) {
		id := create(t, e, "", container.Config{}, container.HostConfig{LogConfig: container.LogConfig{Type: "none"}}, "true")
		_, err := e.ContainerLogs(ctx(t), id, LogsOptions{ShowStdout: true})
		if KindOf(err) != KindNotImplemented || err.Error() != "configured logging driver does not support reading" {
			t.Errorf("logs of a none container: %v", err)
		}
	})
}

// TestContainerLogsFollow: following ends when the container stops,
// with everything it wrote.
func TestContainerLogsFollow(t *testing.T) {
	e := newTestEngine(t, false)
	id := create(t, e, "", container.Config{}, container.HostConfig{}, "sh", "-c", "echo a; sleep 0.3; echo b")
	if err := e.ContainerStart(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	rc, err := e.ContainerLogs(ctx(t), id, LogsOptions{ShowStdout: true, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if stdout, _ := demux(t, readAll(t, rc)); !strings.HasSuffix(stdout, "a\nb\n") {
		t.Errorf("followed %q", stdout)
	}
}
