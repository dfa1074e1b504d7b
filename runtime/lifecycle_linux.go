package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/runtime/cgroup"
)

// Start lets the init process of a created container exec the user's program,
// then runs the poststart hooks.
func (c *Container) Start() error {
	switch c.Status() {
	case Created:
	case Stopped:
		return errors.New("cannot start a container that has stopped")
	case Creating:
		return errors.New("cannot start a container that is still being created")
	case Paused:
		return errors.New("cannot start a container in the paused state")
	default:
		return errors.New("cannot start an already running container")
	}
	if err := c.releaseFifo(); err != nil {
		return err
	}
	if h, err := c.hooks(); err != nil {
		return err
	} else if len(h.Poststart) > 0 {
		if err := runHooks("poststart", h.Poststart, c.hookState(Running)); err != nil {
			c.signalAll(unix.SIGKILL)
			return err
		}
	}
	return nil
}

// releaseFifo opens the exec fifo for reading, which lets the init process's
// blocked open for writing return; init then writes one byte and execs. The
// fifo is opened non-blocking and polled together with a pidfd of init, so a
// dead init is an error instead of a hang.
func (c *Container) releaseFifo() error {
	// The pidfd first: opening the fifo lets init go ahead, and a quick
	// program may be done and reaped (by a subreaper such as containerd's
	// shim) before a pidfd opened afterwards could name it.
	pidfd, err := unix.PidfdOpen(c.s.Pid, 0)
	if err != nil {
		return fmt.Errorf("container init process %d: %w", c.s.Pid, err)
	}
	defer unix.Close(pidfd)
	path := filepath.Join(c.dir, fifoName)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for exec fifo: %w", err)
		}
		if fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0 {
			var b [1]byte
			n, err := unix.Read(fd, b[:])
			if err == unix.EAGAIN {
				continue
			}
			if n != 1 {
				return errors.New("container init closed the exec fifo without starting")
			}
			break
		}
		if fds[1].Revents != 0 {
			return errors.New("cannot start a container that has stopped")
		}
	}
	return os.Remove(path)
}

// Signal parses a signal given as a name (KILL, SIGKILL) or a number.
func Signal(s string) (unix.Signal, error) {
	if s == "" {
		return unix.SIGTERM, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroup.
func (c *Container) Kill(sig unix.Signal, all bool) error {
	st := c.Status()
	if all {
		if st == Creating {
			return ErrNotRunning
		}
		return c.signalAll(sig)
	}
	if st == Stopped || st == Creating {
		return ErrNotRunning
	}
	if err := unix.Kill(c.s.Pid, sig); err != nil {
		return fmt.Errorf("kill container init %d: %w", c.s.Pid, err)
	}
	// A frozen process acts on SIGKILL only once thawed.
	if sig == unix.SIGKILL && st == Paused {
		if cg, err := c.cgroup(); err == nil && cg != nil {
			return cg.Freeze(false)
		}
	}
	return nil
}

func (c *Container) cgroup() (cgroup.Manager, error) {
	if len(c.s.CgroupPaths) == 0 {
		return nil, nil
	}
	return cgroup.Load(c.s.CgroupPaths)
}

// signalAll sends sig to every process of the container's cgroup (and its init).
func (c *Container) signalAll(sig unix.Signal) error {
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	var pids []int
	if cg != nil {
		if pids, err = cg.Pids(); err != nil {
			return err
		}
	}
	if c.initAlive() {
		pids = append(pids, c.s.Pid)
	}
	// A frozen cgroup would keep SIGKILL from being acted on.
	if sig == unix.SIGKILL && cg != nil && c.frozen() {
		defer cg.Freeze(false)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return fmt.Errorf("signal %d: %w", pid, err)
		}
	}
	return nil
}

// frozen reports whether the container's freezer cgroup is frozen.
func (c *Container) frozen() bool {
	if p, ok := c.s.CgroupPaths["freezer"]; ok {
		b, err := readSmall(filepath.Join(p, "freezer.state"), 64)
		return err == nil && strings.TrimSpace(string(b)) == "FROZEN"
	}
	if p, ok := c.s.CgroupPaths[""]; ok {
		b, err := readSmall(filepath.Join(p, "cgroup.freeze"), 64)
		return err == nil && strings.TrimSpace(string(b)) == "1"
	}
	return false
}

// Pids lists the host pids of the container's processes.
func (c *Container) Pids() ([]int, error) {
	cg, err := c.cgroup()
	if err != nil || cg == nil {
		return nil, err
	}
	return cg.Pids()
}

// Delete removes a stopped (or, with force, any) container: its processes, its
// cgroup and its state, then runs the poststop hooks.
func (c *Container) Delete(force bool) error {
	st := c.Status()
	switch st {
	case Creating:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.s.ID, st)
		}
		return os.RemoveAll(c.dir)
	case Running, Paused:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.s.ID, st)
		}
	}
	if st != Stopped {
		if err := c.signalAll(unix.SIGKILL); err != nil {
			return err
		}
		if err := c.waitInitGone(10 * time.Second); err != nil {
			return err
		}
	}
	tracePhase("delete", "killed")
	if cg, err := c.cgroup(); err == nil && cg != nil {
		// Without a pid namespace, children of init may outlive it.
		if pids, _ := cg.Pids(); len(pids) > 0 {
			c.signalAll(unix.SIGKILL)
		}
		if err := destroyCgroup(cg); err != nil {
			return err
		}
	}
	tracePhase("delete", "cgroup-removed")
	var hookErr error
	if h, err := c.hooks(); err != nil {
		hookErr = err
	} else if len(h.Poststop) > 0 {
		hookErr = runHooks("poststop", h.Poststop, c.hookState(Stopped))
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove state of %s: %w", c.s.ID, err)
	}
	return hookErr
}

// destroyCgroup removes the cgroup, waiting a little for killed processes to leave it.
func destroyCgroup(cg cgroup.Manager) error {
	var err error
	for i := 0; i < 100; i++ {
		if err = cg.Destroy(); err == nil {
			return nil
		}
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup: %w", err)
}

// waitInitGone waits until the init process has exited.
func (c *Container) waitInitGone(timeout time.Duration) error {
	pidfd, err := unix.PidfdOpen(c.s.Pid, 0)
	if err != nil {
		return nil // already gone
	}
	defer unix.Close(pidfd)
	if !c.initAlive() {
		return nil
	}
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("container init %d did not exit", c.s.Pid)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if n > 0 || err != nil {
			return nil
		}
	}
}

// ErrNotPaused is runc's error for resuming a container that is not paused.
var ErrNotPaused = errors.New("container not paused")

// Pause freezes every process of a running (or created) container.
func (c *Container) Pause() error {
	switch c.Status() {
	case Running, Created:
	default:
		return ErrNotRunning
	}
	cg, err := c.needCgroup("pause")
	if err != nil {
		return err
	}
	if err := cg.Freeze(true); err != nil {
		return fmt.Errorf("pause %s: %w", c.s.ID, err)
	}
	return nil
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if c.Status() != Paused {
		return ErrNotPaused
	}
	cg, err := c.needCgroup("resume")
	if err != nil {
		return err
	}
	if err := cg.Freeze(false); err != nil {
		return fmt.Errorf("resume %s: %w", c.s.ID, err)
	}
	return nil
}

func (c *Container) needCgroup(op string) (cgroup.Manager, error) {
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	if cg == nil {
		return nil, fmt.Errorf("%s %s: the container has no cgroup", op, c.s.ID)
	}
	return cg, nil
}

// Update changes the resource limits of a container that has not stopped.
// Fields left unset (nil or zero) in r keep their current values. Nothing
// is recorded: the cgroup itself holds the limits in force (Stats reads
// them), and nothing of berth's needs them again.
func (c *Container) Update(r *specs.LinuxResources) error {
	switch c.Status() {
	case Stopped, Creating:
		return ErrNotRunning
	}
	cg, err := c.needCgroup("update")
	if err != nil {
		return err
	}
	if err := cg.Set(r); err != nil {
		return fmt.Errorf("update %s: %w", c.s.ID, err)
	}
	return nil
}

// Stats returns the counters of the container's cgroup.
func (c *Container) Stats() (*cgroup.Stats, error) {
	switch c.Status() {
	case Stopped, Creating:
		return nil, ErrNotRunning
	}
	cg, err := c.needCgroup("stats")
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}

// OOMEvents returns a channel that receives a value whenever the container
// runs out of memory; it is closed when ctx ends or the cgroup goes away.
func (c *Container) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	cg, err := c.needCgroup("events")
	if err != nil {
		return nil, err
	}
	n, ok := cg.(cgroup.OOMNotifier)
	if !ok {
		return nil, fmt.Errorf("events %s: OOM notification is not available", c.s.ID)
	}
	return n.OOMEvents(ctx)
}

// OOMKillCount returns how many of the container's processes the OOM
// killer has killed, read from its cgroup (0 where the cgroup cannot say).
func (c *Container) OOMKillCount() (uint64, error) {
	cg, err := c.needCgroup("oom kill count")
	if err != nil {
		return 0, err
	}
	n, ok := cg.(cgroup.OOMNotifier)
	if !ok {
		return 0, nil
	}
	return n.OOMKillCount()
}
