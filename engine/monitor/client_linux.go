package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/runtime"
)

// envMonitor marks a berth process started by Start as a monitor.
const envMonitor = "_BERTH_MONITOR"

// maxSockPath is the longest path a unix socket can have.
const maxSockPath = 107

// Start spawns self (the berth binary) as the container's monitor: a
// process of its own session, with /dev/null for stdio, that outlives the
// caller. The monitor creates and starts the container through the runtime
// (the container's init is its child). Start returns the init's pid once
// the container runs (with c.WaitAttach: once it is created, see Config),
// or the runtime's error once the monitor has cleaned up and exited: no
// runtime state, no monitor, no sockets (the directory itself stays).
func Start(ctx context.Context, self string, c Config) (pid int, err error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("start container %s: %w", c.ID, err)
	}
	// The monitor works from "/".
	for _, p := range []*string{&self, &c.Bundle, &c.RuntimeRoot, &c.Dir, &c.Log.Path, &c.NetNS, &c.DNSConfig} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return 0, fmt.Errorf("start monitor of %s: %w", c.ID, err)
			}
		}
	}
	if Alive(c.Dir) {
		return 0, fmt.Errorf("start monitor of %s: a monitor already runs in %s", c.ID, c.Dir)
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return 0, fmt.Errorf("start monitor of %s: %w", c.ID, err)
	}
	// What a previous run of the container left.
	for _, f := range []string{exitFile, ctlSock, consoleSock, pidFile} {
		os.Remove(filepath.Join(c.Dir, f))
	}
	data, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	if err := atomicfile.Write(filepath.Join(c.Dir, configFile), data, 0o600); err != nil {
		return 0, fmt.Errorf("start monitor of %s: %w", c.ID, err)
	}
	defer func() {
		if err != nil {
			os.Remove(filepath.Join(c.Dir, configFile))
		}
	}()

	rep, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("start monitor of %s: %w", c.ID, err)
	}
	defer rep.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return 0, fmt.Errorf("start monitor of %s: %w", c.ID, err)
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	files := []*os.File{null, null, null, w}
	if c.Sealed != nil {
		files = append(files, c.Sealed) // fd 4 (sealedFD)
	}
	proc, err := os.StartProcess(self, []string{"berth", "monitor", c.Dir}, &os.ProcAttr{
		Dir:   "/",
		Env:   []string{envMonitor + "=1", "PATH=" + path, "GOMAXPROCS=1", "GOGC=25"},
		Files: files,
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	null.Close()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("start monitor of %s: %w", c.ID, err)
	}
	exited := reapLater(proc)

	type result struct {
		r   startReport
		err error
	}
	got := make(chan result, 1)
	go func() {
		var r startReport
		line, err := readLine(rep)
		if err == nil {
			err = json.Unmarshal(line, &r)
		}
		got <- result{r, err}
	}()
	select {
	case res := <-got:
		switch {
		case res.err == nil && res.r.Error == "" && res.r.Pid > 0:
			return res.r.Pid, nil
		case res.err == nil && res.r.Error != "":
			// The monitor cleans up and exits: wait for it, so that nothing
			// of it is left when we return.
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				proc.Kill()
				<-exited
			}
			return 0, errors.New(res.r.Error)
		default:
			proc.Kill()
			<-exited
			abandon(c)
			return 0, fmt.Errorf("start container %s: the monitor exited without a word (%v)", c.ID, res.err)
		}
	case <-ctx.Done():
		// The monitor aborts once the runtime's create has returned, and
		// removes the container. One that had just started it takes it
		// down with it; one that does not answer is killed.
		proc.Signal(abortSignal)
		select {
		case res := <-got:
			if res.err == nil && res.r.Error == "" && res.r.Pid > 0 {
				kill(c)
			}
			select {
			case <-exited:
			case <-time.After(time.Minute):
				proc.Kill()
				<-exited
			}
		case <-time.After(time.Minute):
			proc.Kill()
			<-exited
		}
		abandon(c)
		os.Remove(filepath.Join(c.Dir, exitFile))
		return 0, fmt.Errorf("start container %s: %w", c.ID, ctx.Err())
	}
}

// kill kills every process of the container.
func kill(c Config) {
	if rt, err := runtime.New(c.RuntimeRoot); err == nil {
		if ctr, err := rt.Load(c.ID); err == nil {
			ctr.Kill(unix.SIGKILL, true)
		}
	}
}

// reapLater reaps the monitor whenever it exits, while this process lives,
// and closes the returned channel then. It waits on a pidfd through Go's
// poller, so that a daemon with many monitors does not have a thread
// blocked for each.
func reapLater(proc *os.Process) <-chan struct{} {
	exited := make(chan struct{})
	pidfd, err := unix.PidfdOpen(proc.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		go func() {
			proc.Wait()
			close(exited)
		}()
		return exited
	}
	f := os.NewFile(uintptr(pidfd), "pidfd")
	go func() {
		defer close(exited)
		defer proc.Release()
		defer f.Close()
		rc, err := f.SyscallConn()
		if err != nil {
			proc.Wait()
			return
		}
		rc.Read(func(fd uintptr) bool {
			var info unix.Siginfo
			err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG, nil)
			return err != unix.EINTR && (err != nil || info.Signo != 0)
		})
	}()
	return exited
}

// abandon removes what a monitor killed half way may have left: the
// container (its processes, cgroup and state) and the monitor's files.
func abandon(c Config) {
	if rt, err := runtime.New(c.RuntimeRoot); err == nil {
		if ctr, err := rt.Load(c.ID); err == nil {
			ctr.Delete(true)
		}
	}
	for _, f := range []string{ctlSock, consoleSock, pidFile} {
		os.Remove(filepath.Join(c.Dir, f))
	}
}

func (c Config) check() error {
	switch {
	case c.ID == "":
		return errors.New("start monitor: no container ID")
	case c.Bundle == "":
		return fmt.Errorf("start monitor of %s: no bundle", c.ID)
	case c.RuntimeRoot == "":
		return fmt.Errorf("start monitor of %s: no runtime root", c.ID)
	case c.Dir == "":
		return fmt.Errorf("start monitor of %s: no directory", c.ID)
	case len(filepath.Join(c.Dir, consoleSock)) > maxSockPath:
		return fmt.Errorf("start monitor of %s: directory %s is too long for a unix socket path", c.ID, c.Dir)
	case c.Log.Path != "" && !filepath.IsAbs(c.Log.Path):
		return fmt.Errorf("start monitor of %s: log path %s is not absolute", c.ID, c.Log.Path)
	case c.DNSConfig != "" && c.NetNS == "":
		return fmt.Errorf("start monitor of %s: a DNS config but no network namespace to serve it in", c.ID)
	}
	return nil
}

// dial connects to the monitor in dir and sends req.
func dial(dir string, req request) (*net.UnixConn, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: filepath.Join(dir, ctlSock), Net: "unix"})
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(req)
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(append(data, '\n')); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// call sends req and reads the monitor's reply, within 10 seconds.
func call(dir string, req request) (reply, *net.UnixConn, error) {
	conn, err := dial(dir, req)
	if err != nil {
		return reply{}, nil, err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := readLine(conn)
	if err != nil {
		conn.Close()
		return reply{}, nil, err
	}
	conn.SetReadDeadline(time.Time{})
	var r reply
	if err := json.Unmarshal(line, &r); err != nil {
		conn.Close()
		return reply{}, nil, fmt.Errorf("bad reply %q from monitor: %w", line, err)
	}
	return r, conn, nil
}

// Wait blocks until the container has exited and returns its exit. With
// no live monitor it reads exit.json, and without that returns ErrLost.
func Wait(ctx context.Context, dir string) (Exit, error) {
	conn, err := dial(dir, request{Op: "wait"})
	if err != nil {
		return recorded(dir)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	line, err := readLine(conn)
	if err != nil {
		if ctx.Err() != nil {
			return Exit{}, ctx.Err()
		}
		// The monitor died while we waited (or was on its way out).
		return recorded(dir)
	}
	var r reply
	if err := json.Unmarshal(line, &r); err != nil || r.Exit == nil {
		return Exit{}, fmt.Errorf("wait for container in %s: bad reply %q (%v)", dir, line, err)
	}
	return *r.Exit, nil
}

// recorded is the exit in dir/exit.json, or ErrLost.
func recorded(dir string) (Exit, error) {
	e, ok, err := ReadExit(dir)
	if err != nil {
		return Exit{}, err
	}
	if !ok {
		return Exit{}, ErrLost
	}
	return e, nil
}

// Alive reports whether a monitor answers in dir.
func Alive(dir string) bool {
	r, conn, err := call(dir, request{Op: "ping"})
	if err != nil {
		return false
	}
	conn.Close()
	return r.Error == ""
}

// Attach connects to the container's live streams. With Config.WaitAttach
// the first Attach is what starts the container. A monitor that is still
// being set up (Start has written its config but the monitor does not
// listen yet) is waited for up to 10 seconds.
func Attach(dir string, o AttachOptions) (Conn, error) {
	req := request{Op: "attach", Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, conn, err := call(dir, req)
		if err == nil {
			if r.Error != "" {
				conn.Close()
				return nil, fmt.Errorf("attach to container in %s: %s", dir, r.Error)
			}
			return conn, nil
		}
		if !starting(dir) || time.Now().After(deadline) {
			return nil, fmt.Errorf("attach to container in %s: %w (%v)", dir, ErrNotRunning, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// starting reports whether Start has set up dir for a monitor that is not
// listening yet: its config is there, no exit recorded, and no pid file
// of a monitor that has died.
func starting(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, configFile)); err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, exitFile)); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	pid, err := strconv.Atoi(string(b))
	return err == nil && pid > 0 && unix.Kill(pid, 0) == nil
}

// Resize sets the size of the container's terminal.
func Resize(dir string, height, width uint) error {
	r, conn, err := call(dir, request{Op: "resize", Height: height, Width: width})
	if err != nil {
		return fmt.Errorf("resize container in %s: %w (%v)", dir, ErrNotRunning, err)
	}
	conn.Close()
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}

var _ Conn = (*net.UnixConn)(nil)
