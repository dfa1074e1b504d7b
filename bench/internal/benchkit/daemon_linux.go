package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Daemon is an engine daemon a benchmark started.
type Daemon struct {
	Name   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
	logf   func(string, ...any)
}

// StartDaemon runs argv with its output to logPath and waits up to 60 s
// until it answers GET /_ping on the unix socket sock, or until stop
// reports the benchmark interrupted. The daemon gets a process group of
// its own, so that ^C reaches only the benchmark, which still needs the
// daemon to remove its containers; should the benchmark die, the daemon
// gets SIGTERM.
func StartDaemon(name string, argv []string, logPath, sock string, stop func() bool, logf func(string, ...any)) (*Daemon, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &Daemon{Name: name, cmd: cmd, exited: make(chan struct{}), log: logPath, logf: logf}
	go func() { cmd.Wait(); close(d.exited) }()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && !stop() {
		select {
		case <-d.exited:
			return nil, fmt.Errorf("%s exited (%v): %s", strings.Join(argv, " "), cmd.ProcessState, d.Tail())
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := client.Get("http://daemon/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
	}
	d.Stop()
	return nil, fmt.Errorf("%s did not answer on %s within 60s: %s", strings.Join(argv, " "), sock, d.Tail())
}

// Tail is the end of the daemon's log.
func (d *Daemon) Tail() string {
	b, _ := os.ReadFile(d.log)
	return LastBytes(bytes.TrimSpace(b), 1500)
}

// Pid is the daemon's process ID.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Stop ends the daemon: SIGTERM, then SIGKILL after 30 s. A nil Daemon
// is a no-op.
func (d *Daemon) Stop() {
	if d == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.logf("%s did not stop on SIGTERM within 30s: killing it", d.Name)
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// LastBytes is the last n bytes of b, marked with "..." when cut.
func LastBytes(b []byte, n int) string {
	if len(b) > n {
		return "..." + string(b[len(b)-n:])
	}
	return string(b)
}
