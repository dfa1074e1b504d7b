package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/engine/logfile"
	"github.com/berth-project/berth/engine/monitor"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/runtime"
)

// defaultStopTimeout is docker's grace period before SIGKILL, in seconds.
const defaultStopTimeout = 10

// startCause says who starts a container: the user, or its restart
// policy (which a daemon also applies at its own start).
type startCause int

const (
	startUser startCause = iota
	startPolicy
)

// current loads the record ref names. A daemonless engine first checks
// that a container recorded as running still has its monitor, and records
// the exit of one that does not (no daemon watched it end).
func (e *Engine) current(ref string) (*ctrRecord, error) {
	r, err := e.load(ref)
	if err != nil || e.opts.Daemon || !r.State.live() || monitor.Alive(r.MonitorDir) {
		return r, err
	}
	e.reapGone(r, false)
	return e.load(r.ID)
}

// ContainerStart starts a created or stopped container under a new
// monitor. Starting a running container is docker's 304.
func (e *Engine) ContainerStart(ctx context.Context, ref string) error {
	r, err := e.current(ref)
	if err != nil {
		return err
	}
	return e.start(ctx, r, startUser)
}

func (e *Engine) start(ctx context.Context, r *ctrRecord, cause startCause) error {
	r, unlock, err := e.lockLoad(ctx, r)
	if err != nil {
		return err
	}
	defer unlock()
	switch st := r.State.Status; {
	case cause == startPolicy && (st != container.StateRestarting || r.ManuallyStopped):
		return nil // stopped (or started) meanwhile
	case st == container.StatePaused:
		return Conflict("cannot start a paused container, try unpause instead")
	case st == container.StateRunning || (st == container.StateRestarting && cause == startUser):
		return Errorf(KindNotModified, "container %s is already running", r.ID)
	case st == container.StateRemoving || st == container.StateDead:
		return Conflict("container is marked for removal and cannot be started")
	}

	pid, err := e.launch(ctx, r)
	if err != nil {
		return e.startFailed(r, err)
	}
	now := time.Now().UTC()
	r, _, err = e.mutate(r.ID, func(x *ctrRecord) error {
		x.State = ctrState{Status: container.StateRunning, Pid: pid, StartedAt: now, FinishedAt: x.State.FinishedAt}
		if cause != startPolicy {
			x.RestartCount = 0
		}
		x.ManuallyStopped = false
		return nil
	})
	if err != nil {
		// The record went away under our lock: nobody would own it.
		if c, lerr := e.Runtime.Load(r.ID); lerr == nil {
			c.Delete(true)
		}
		return fmt.Errorf("start container %s: %w", r.ID, err)
	}
	e.emit(events.ContainerEventType, events.ActionStart, r.ID, r.attrs())
	e.ensureWatch(r)
	return nil
}

// launch mounts the container's filesystem, writes its spec again (so that
// updates made while it was stopped apply) and starts its monitor, handing
// it the attachments that wait for this start. It leaves nothing mounted
// when it fails.
func (e *Engine) launch(ctx context.Context, r *ctrRecord) (pid int, err error) {
	rootfs := r.rootfsDir()
	ms, err := e.Images.Snapshots.Mounts(ctx, r.ID)
	if err != nil {
		return 0, fmt.Errorf("start container %s: its filesystem: %w", r.ID, err)
	}
	// A mount left by a crash would be stacked on, not replaced.
	if err := mount.Unmount(rootfs); err != nil {
		return 0, err
	}
	if err := mount.All(ms, rootfs); err != nil {
		return 0, fmt.Errorf("start container %s: mount its filesystem: %w", r.ID, err)
	}
	defer func() {
		if err != nil {
			mount.Unmount(rootfs)
		}
	}()
	if r, err = e.netUp(ctx, r); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			e.netDown(r.ID)
		}
	}()
	if err := e.mountsUp(ctx, r); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			e.mountsDown(r)
		}
	}()
	if err := e.secretsUp(ctx, r); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			e.secretsDown(r)
		}
	}()
	if err := e.writeSpec(r); err != nil {
		return 0, err
	}
	logs, err := resolveLogConfig(r.HostConfig.LogConfig, e.opts.LogConfig)
	if err != nil {
		return 0, err
	}
	cfg := monitor.Config{
		ID: r.ID, Bundle: r.Dir, RuntimeRoot: e.Runtime.Root, Dir: r.MonitorDir,
		Terminal: r.Config.Tty, Stdin: r.Config.OpenStdin, StdinOnce: r.Config.StdinOnce,
		Health: healthCheckOf(r.Config),
	}
	if cfg.Health != nil {
		cfg.Sealed = e.sealedSelf()
	}
	if p := dnsConfigPath(r); p != "" && r.Net.NetNS != "" {
		cfg.NetNS, cfg.DNSConfig = r.Net.NetNS, p
	}
	if r.LogPath != "" {
		cfg.Log = logfile.WriterConfig{Path: r.LogPath, MaxSize: logs.MaxSize, MaxFiles: logs.MaxFiles}
	}
	return e.runMonitor(ctx, cfg, e.pendingAttaches(r.ID))
}

// startFailed records a start that failed as docker does: the error, and
// exit code 127 (command not found), 126 (not executable) or 128; the
// container stays created (or exited). An AutoRemove container goes.
func (e *Engine) startFailed(r *ctrRecord, err error) error {
	msg := err.Error()
	code, kind := 128, KindUnknown
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "executable file not found") || strings.Contains(low, "no such file or directory"):
		code, kind = 127, KindInvalid
	case strings.Contains(low, "permission denied"):
		code, kind = 126, KindInvalid
	case strings.Contains(low, "not a directory"):
		code, kind = 127, KindInvalid
	}
	if k := KindOf(err); k != KindUnknown {
		kind = k
	}
	now := time.Now().UTC()
	e.mutate(r.ID, func(x *ctrRecord) error {
		x.State.ExitCode, x.State.Error, x.State.Pid = code, msg, 0
		if x.State.Status == container.StateRestarting {
			x.State.Status, x.State.FinishedAt = container.StateExited, now
		}
		return nil
	})
	e.notifyExit(r.ID, exitNote{Code: code, Err: msg})
	if r.HostConfig.AutoRemove {
		// After the caller's lock is released.
		e.core.wg.Add(1)
		go func() {
			defer e.core.wg.Done()
			e.autoRemove(r)
		}()
	}
	return &Error{Kind: kind, Msg: msg, Err: err}
}

// ensureWatch makes sure a goroutine of this process follows the current
// run of r and records its end.
func (e *Engine) ensureWatch(r *ctrRecord) {
	if !r.State.live() {
		return
	}
	e.core.mu.Lock()
	l := e.liveOf(r.ID)
	if l.watchedRun.Equal(r.State.StartedAt) || e.core.ctx.Err() != nil {
		e.core.mu.Unlock()
		return
	}
	l.watchedRun = r.State.StartedAt
	e.core.wg.Add(1)
	e.core.mu.Unlock()
	go func() {
		defer e.core.wg.Done()
		ex, err := e.waitMonitor(r.MonitorDir)
		if err != nil {
			return // the engine closes
		}
		e.exited(r, ex, false)
	}()
	e.watchHealth(r)
}

// waitMonitor waits for the exit the monitor in dir reports; a lost
// monitor is exit 255.
func (e *Engine) waitMonitor(dir string) (monitor.Exit, error) {
	ctx := e.core.ctx
	for {
		ex, err := monitor.Wait(ctx, dir)
		switch {
		case ctx.Err() != nil:
			return monitor.Exit{}, ctx.Err()
		case err == nil:
			return ex, nil
		case errors.Is(err, monitor.ErrLost):
			return lostExit(), nil
		}
		// A failed connection to a live monitor: try again.
		if !monitor.Alive(dir) {
			if ex, ok, _ := monitor.ReadExit(dir); ok {
				return ex, nil
			}
			return lostExit(), nil
		}
		select {
		case <-ctx.Done():
			return monitor.Exit{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func lostExit() monitor.Exit {
	return monitor.Exit{Code: 255, Error: "monitor lost", FinishedAt: time.Now().UTC()}
}

// reapGone records the end of a container whose monitor is gone: the exit
// it left in exit.json, else 255 "monitor lost" (and the container, if its
// processes outlived the monitor, is killed: nobody would drain its output).
func (e *Engine) reapGone(r *ctrRecord, atEngineStart bool) {
	ex, ok, err := monitor.ReadExit(r.MonitorDir)
	if !ok || err != nil {
		ex = lostExit()
	}
	e.exited(r, ex, atEngineStart)
}

// exited records the end of the run of r: the exit, the rootfs unmounted,
// the die event, the waiters told; then the restart policy (daemon only)
// or AutoRemove. Only the first of the processes and goroutines that saw
// the exit records it; the others just tell their waiters.
func (e *Engine) exited(r *ctrRecord, ex monitor.Exit, atEngineStart bool) {
	unlock, err := e.lockCtr(e.core.ctx, r)
	if err != nil {
		return // removed, or the engine closes
	}
	run := r.State.StartedAt
	restart := false
	now := time.Now().UTC()
	r, applied, err := e.mutate(r.ID, func(x *ctrRecord) error {
		if !x.State.live() || !x.State.StartedAt.Equal(run) {
			return errUnchanged
		}
		fin := ex.FinishedAt
		if fin.IsZero() {
			fin = now
		}
		x.State = ctrState{
			Status: container.StateExited, ExitCode: ex.Code, Error: ex.Error, OOMKilled: ex.OOMKilled,
			StartedAt: x.State.StartedAt, FinishedAt: fin.UTC(),
		}
		if e.opts.Daemon && shouldRestart(exitFacts{
			Policy: x.HostConfig.RestartPolicy, ExitCode: ex.Code, ManuallyStopped: x.ManuallyStopped,
			RestartCount: x.RestartCount, AtEngineStart: atEngineStart,
		}) {
			x.State.Status = container.StateRestarting
			x.RestartCount++
			restart = true
		}
		return nil
	})
	if err == nil && applied {
		// The network goes while the filesystem is unmounted: both wait
		// on the kernel (an unmount's and a veth's grace periods).
		netDone := make(chan struct{})
		go func() {
			defer close(netDone)
			e.netDown(r.ID)
		}()
		mount.Unmount(r.rootfsDir())
		<-netDone
		e.mountsDown(r)
		e.secretsDown(r)
		// The monitor deletes the runtime's state; a lost one could not.
		if c, err := e.Runtime.Load(r.ID); err == nil {
			c.Delete(true)
		}
	}
	unlock()
	if err != nil {
		return
	}
	if applied {
		if ex.OOMKilled {
			e.emit(events.ContainerEventType, events.ActionOOM, r.ID, r.attrs())
		}
		e.emit(events.ContainerEventType, events.ActionDie, r.ID, r.attrs("exitCode", strconv.Itoa(ex.Code)))
	}
	e.notifyExit(r.ID, exitNote{Code: ex.Code, Err: ex.Error})
	switch {
	case !applied:
	case restart:
		delay := time.Duration(0)
		if !atEngineStart {
			delay = e.nextBackoff(r.ID, r.State.FinishedAt.Sub(r.State.StartedAt))
		}
		e.scheduleRestart(r, delay)
	case r.HostConfig.AutoRemove:
		e.autoRemove(r)
	}
}

// nextBackoff moves the restart backoff of id on and returns it.
func (e *Engine) nextBackoff(id string, ran time.Duration) time.Duration {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	l := e.liveOf(id)
	l.backoff = restartDelay(l.backoff, ran)
	return l.backoff
}

// scheduleRestart starts r again after delay, unless the restart is
// cancelled (stop, kill, remove) or the engine closes first.
func (e *Engine) scheduleRestart(r *ctrRecord, delay time.Duration) {
	e.core.mu.Lock()
	if e.core.ctx.Err() != nil {
		e.core.mu.Unlock()
		return
	}
	l := e.liveOf(r.ID)
	if l.cancelRestart != nil {
		l.cancelRestart()
	}
	ctx, cancel := context.WithCancel(e.core.ctx)
	l.cancelRestart = cancel
	e.core.wg.Add(1)
	e.core.mu.Unlock()
	go func() {
		defer e.core.wg.Done()
		defer cancel()
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		// The start itself is not cut short by a cancel: stop and remove
		// find the container running, or still restarting, after it.
		e.start(e.core.ctx, r, startPolicy)
	}()
}

// cancelRestart cancels a pending restart of id.
func (e *Engine) cancelRestart(id string) {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	if l := e.core.live[id]; l != nil && l.cancelRestart != nil {
		l.cancelRestart()
		l.cancelRestart = nil
	}
}

// autoRemove removes a container whose run ended (--rm).
func (e *Engine) autoRemove(r *ctrRecord) {
	if err := e.remove(e.core.ctx, r, false, true); err != nil && KindOf(err) != KindNotFound {
		e.mutate(r.ID, func(x *ctrRecord) error {
			if x.State.running() {
				return errUnchanged
			}
			x.State.Error = "auto-remove: " + err.Error()
			return nil
		})
	}
}

// stopSignal is the signal that stops r: the one asked for, else its
// StopSignal, else SIGTERM.
func stopSignal(r *ctrRecord, asked string) (syscall.Signal, error) {
	s := asked
	if s == "" && r.Config != nil {
		s = r.Config.StopSignal
	}
	if s == "" {
		return syscall.SIGTERM, nil
	}
	sig, err := image.ParseSignal(s)
	if err != nil {
		return 0, Invalid("Invalid signal: %s", s)
	}
	return sig, nil
}

// stopTimeout is the grace period for r: asked, else its StopTimeout,
// else 10 s; negative is forever.
func stopTimeout(r *ctrRecord, asked *int) time.Duration {
	t := defaultStopTimeout
	switch {
	case asked != nil:
		t = *asked
	case r.Config != nil && r.Config.StopTimeout != nil:
		t = *r.Config.StopTimeout
	}
	if t < 0 {
		return -1
	}
	return time.Duration(t) * time.Second
}

// ContainerStop sends the stop signal, waits for the grace period, then
// SIGKILL, and returns once the exit is recorded. A stopped container is
// docker's 304.
func (e *Engine) ContainerStop(ctx context.Context, ref string, o StopOptions) error {
	r, err := e.current(ref)
	if err != nil {
		return err
	}
	sig, err := stopSignal(r, o.Signal)
	if err != nil {
		return err
	}
	return e.stop(ctx, r, sig, stopTimeout(r, o.Timeout), true)
}

func (e *Engine) stop(ctx context.Context, r *ctrRecord, sig syscall.Signal, timeout time.Duration, stopEvent bool) error {
	if r.State.Status == container.StateRestarting {
		stopped, err := e.stopRestarting(ctx, r)
		if err != nil || stopped {
			if stopped && stopEvent {
				e.emit(events.ContainerEventType, events.ActionStop, r.ID, r.attrs())
			}
			return err
		}
		if r, err = e.load(r.ID); err != nil {
			return err
		}
	}
	if !r.State.live() {
		return Errorf(KindNotModified, "container %s is already stopped", r.ID)
	}
	w := e.addWaiter(r.ID, false)
	defer e.dropWaiter(r.ID, w)
	r, changed, err := e.mutate(r.ID, func(x *ctrRecord) error {
		if !x.State.live() {
			return errUnchanged
		}
		x.ManuallyStopped = true
		return nil
	})
	if err != nil {
		return err
	}
	if !changed {
		return nil // it ended meanwhile
	}
	e.ensureWatch(r)
	if err := e.signal(r, sig, true); err != nil {
		return err
	}
	if timeout >= 0 {
		select {
		case <-w.ch:
			return e.stopped(r, stopEvent)
		case <-time.After(timeout):
		case <-ctx.Done():
			return ctx.Err()
		case <-e.core.ctx.Done():
			return errEngineClosed
		}
		if err := e.signal(r, syscall.SIGKILL, true); err != nil {
			return err
		}
	}
	select {
	case <-w.ch:
		return e.stopped(r, stopEvent)
	case <-ctx.Done():
		return ctx.Err()
	case <-e.core.ctx.Done():
		return errEngineClosed
	}
}

func (e *Engine) stopped(r *ctrRecord, stopEvent bool) error {
	if stopEvent {
		e.emit(events.ContainerEventType, events.ActionStop, r.ID, r.attrs())
	}
	return nil
}

// stopRestarting ends a container that waits to restart: it stays
// exited. stopped is false when it had started meanwhile.
func (e *Engine) stopRestarting(ctx context.Context, r *ctrRecord) (stopped bool, err error) {
	e.cancelRestart(r.ID)
	unlock, err := e.lockCtr(ctx, r)
	if err != nil {
		return false, err
	}
	defer unlock()
	_, stopped, err = e.mutate(r.ID, func(x *ctrRecord) error {
		if x.State.Status != container.StateRestarting {
			return errUnchanged
		}
		x.State.Status = container.StateExited
		x.ManuallyStopped = true
		return nil
	})
	return stopped, err
}

// signal sends sig to the container's init, with a kill event; a paused
// container is thawed for it when thaw is set (the signal would wait
// otherwise). A container that just ended is no error.
func (e *Engine) signal(r *ctrRecord, sig syscall.Signal, thaw bool) error {
	c, err := e.Runtime.Load(r.ID)
	if errors.Is(err, runtime.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("signal container %s: %w", r.ID, err)
	}
	if err := c.Kill(sig, false); err != nil {
		if errors.Is(err, runtime.ErrNotRunning) {
			return nil
		}
		return fmt.Errorf("signal container %s: %w", r.ID, err)
	}
	e.emit(events.ContainerEventType, events.ActionKill, r.ID, r.attrs("signal", strconv.Itoa(int(sig))))
	if thaw && c.Status() == runtime.Paused {
		if err := c.Resume(); err == nil {
			e.mutate(r.ID, func(x *ctrRecord) error {
				if x.State.Status != container.StatePaused || !x.State.StartedAt.Equal(r.State.StartedAt) {
					return errUnchanged
				}
				x.State.Status = container.StateRunning
				return nil
			})
		}
	}
	return nil
}

// ContainerKill sends a signal (SIGKILL by default) to the container's
// init. Killing with SIGKILL or the stop signal counts as a stop by the
// user: the restart policy leaves the container alone.
func (e *Engine) ContainerKill(ctx context.Context, ref, signal string) error {
	r, err := e.current(ref)
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if signal != "" {
		s, err := runtime.Signal(signal)
		if err != nil {
			return Invalid("Invalid signal: %s", signal)
		}
		sig = s
	}
	if r.State.Status == container.StateRestarting {
		stopped, err := e.stopRestarting(ctx, r)
		if err != nil || stopped {
			return err
		}
		if r, err = e.load(r.ID); err != nil {
			return err
		}
	}
	if !r.State.live() {
		return Conflict("Cannot kill container: %s: container %s is not running", ref, r.ID)
	}
	stopSig, _ := stopSignal(r, "")
	manual := sig == syscall.SIGKILL || sig == stopSig
	if manual {
		e.mutate(r.ID, func(x *ctrRecord) error {
			if !x.State.live() {
				return errUnchanged
			}
			x.ManuallyStopped = true
			return nil
		})
	}
	if !e.opts.Daemon {
		e.ensureWatch(r)
	}
	return e.signal(r, sig, manual)
}

// ContainerPause freezes the container's processes.
func (e *Engine) ContainerPause(ctx context.Context, ref string) error {
	return e.pause(ref, true)
}

// ContainerUnpause thaws them.
func (e *Engine) ContainerUnpause(ctx context.Context, ref string) error {
	return e.pause(ref, false)
}

func (e *Engine) pause(ref string, freeze bool) error {
	r, err := e.current(ref)
	if err != nil {
		return err
	}
	switch {
	case !r.State.live():
		return Conflict("Container %s is not running", r.ID)
	case freeze && r.State.Status == container.StatePaused:
		return Conflict("Container %s is already paused", r.ID)
	case !freeze && r.State.Status != container.StatePaused:
		return Conflict("Container %s is not paused", r.ID)
	}
	c, err := e.Runtime.Load(r.ID)
	if err != nil {
		return Conflict("Container %s is not running", r.ID)
	}
	status, action := container.StatePaused, events.ActionPause
	if freeze {
		err = c.Pause()
	} else {
		err = c.Resume()
		status, action = container.StateRunning, events.ActionUnPause
	}
	if errors.Is(err, runtime.ErrNotRunning) {
		return Conflict("Container %s is not running", r.ID)
	}
	if err != nil {
		return fmt.Errorf("%s container %s: %w", action, r.ID, err)
	}
	if _, _, err := e.mutate(r.ID, func(x *ctrRecord) error {
		if !x.State.live() || !x.State.StartedAt.Equal(r.State.StartedAt) {
			return errUnchanged
		}
		x.State.Status = status
		return nil
	}); err != nil {
		return err
	}
	e.emit(events.ContainerEventType, action, r.ID, r.attrs())
	return nil
}

// ContainerRestart stops the container (if it runs) and starts it.
func (e *Engine) ContainerRestart(ctx context.Context, ref string, o StopOptions) error {
	r, err := e.current(ref)
	if err != nil {
		return err
	}
	if r.State.running() {
		sig, err := stopSignal(r, o.Signal)
		if err != nil {
			return err
		}
		if err := e.stop(ctx, r, sig, stopTimeout(r, o.Timeout), true); err != nil && KindOf(err) != KindNotModified {
			return err
		}
	}
	if err := e.start(ctx, r, startUser); err != nil && KindOf(err) != KindNotModified {
		return err
	}
	if r, err = e.load(r.ID); err == nil {
		e.emit(events.ContainerEventType, events.ActionRestart, r.ID, r.attrs())
	}
	return nil
}

// ContainerWait waits for cond: not-running (now, if it does not run),
// next-exit, or removed. The registration is done when it returns.
func (e *Engine) ContainerWait(ctx context.Context, ref string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	resC := make(chan container.WaitResponse, 1)
	errC := make(chan error, 1)
	if cond == "" {
		cond = container.WaitConditionNotRunning
	}
	switch cond {
	case container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		errC <- Invalid("invalid condition: %q", cond)
		return resC, errC
	}
	r, err := e.current(ref)
	if err != nil {
		errC <- err
		return resC, errC
	}
	since := time.Now()
	removed := cond == container.WaitConditionRemoved
	w := e.addWaiter(r.ID, removed)
	respond := func(n exitNote) {
		resp := container.WaitResponse{StatusCode: int64(n.Code)}
		if n.Err != "" {
			resp.Error = &container.WaitExitError{Message: n.Err}
		}
		resC <- resp
	}
	// Read again now that the waiter is in: an exit recorded before it
	// is in the record, one after it reaches the waiter.
	r2, err := e.load(r.ID)
	switch {
	case err != nil && KindOf(err) == KindNotFound:
		e.dropWaiter(r.ID, w)
		if removed {
			respond(exitNote{Code: r.State.ExitCode})
		} else {
			errC <- err
		}
		return resC, errC
	case err != nil:
		e.dropWaiter(r.ID, w)
		errC <- err
		return resC, errC
	case cond == container.WaitConditionNotRunning && !r2.State.running():
		e.dropWaiter(r.ID, w)
		respond(exitNote{Code: r2.State.ExitCode, Err: r2.State.Error})
		return resC, errC
	}
	if !removed {
		e.ensureWatch(r2)
	}
	last := r2
	go func() {
		var poll <-chan time.Time
		if !e.opts.Daemon {
			// Other processes change the records: look now and then.
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			poll = t.C
		}
		for {
			select {
			case n := <-w.ch:
				respond(n)
				return
			case <-ctx.Done():
				e.dropWaiter(r.ID, w)
				errC <- ctx.Err()
				return
			case <-e.core.ctx.Done():
				errC <- errEngineClosed
				return
			case <-poll:
				if n, ok := e.pollWait(last, removed, since); ok {
					e.dropWaiter(r.ID, w)
					respond(n)
					return
				}
			}
		}
	}()
	return resC, errC
}

// pollWait is a daemonless engine's look at what other processes did to
// a container someone waits on; last is the record as last seen (its exit
// code is the answer when the container is found removed).
func (e *Engine) pollWait(last *ctrRecord, removed bool, since time.Time) (exitNote, bool) {
	r, err := e.current(last.ID)
	if err != nil {
		if KindOf(err) != KindNotFound || e.removingHere(last.ID) {
			return exitNote{}, false // this process removes it: its note follows
		}
		return exitNote{Code: last.State.ExitCode, Err: last.State.Error}, true
	}
	*last = *r
	if removed {
		return exitNote{}, false
	}
	if r.State.live() {
		e.ensureWatch(r)
		return exitNote{}, false
	}
	if r.State.FinishedAt.After(since) {
		return exitNote{Code: r.State.ExitCode, Err: r.State.Error}, true
	}
	return exitNote{}, false
}

// removingHere reports whether this process is removing id.
func (e *Engine) removingHere(id string) bool {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	l := e.core.live[id]
	return l != nil && l.removing
}

// ContainerRemove removes a stopped container (a running one with Force,
// killing it first): its snapshot, bundle, log, monitor directory and
// records.
func (e *Engine) ContainerRemove(ctx context.Context, ref string, o RemoveOptions) error {
	if o.RemoveLinks {
		return Invalid("links are not supported by berth")
	}
	r, err := e.current(ref)
	if err != nil {
		return err
	}
	return e.remove(ctx, r, o.Force, o.RemoveVolumes)
}

// remove removes container r (killing it first when force); with
// volumes also its anonymous volumes, once the record is gone.
func (e *Engine) remove(ctx context.Context, r *ctrRecord, force, volumes bool) error {
	if err := e.removable(r, force); err != nil {
		return err
	}
	if r.State.running() {
		if err := e.stop(ctx, r, syscall.SIGKILL, -1, false); err != nil && KindOf(err) != KindNotModified {
			return err
		}
	}
	r, unlock, err := e.lockLoad(ctx, r)
	if err != nil {
		return err
	}
	defer unlock()
	if err := e.removable(r, false); err != nil {
		return err // started again meanwhile
	}
	if _, _, err := e.mutate(r.ID, func(x *ctrRecord) error {
		x.State.Status = container.StateRemoving
		return nil
	}); err != nil {
		return err
	}
	e.failAttaches(r.ID, errAttachEnded)
	e.core.mu.Lock()
	e.liveOf(r.ID).removing = true
	e.core.mu.Unlock()
	e.netDown(r.ID)
	e.mountsDown(r)
	e.secretsDown(r)
	err = e.dropFiles(ctx, r)
	if c, lerr := e.Runtime.Load(r.ID); lerr == nil {
		if derr := c.Delete(true); derr != nil && err == nil {
			err = derr
		}
	}
	if err == nil {
		err = e.core.store.update(func(tx *bolt.Tx) error { return deleteRecord(tx, r) })
	}
	if err != nil {
		e.core.mu.Lock()
		e.liveOf(r.ID).removing = false
		e.core.mu.Unlock()
		e.mutate(r.ID, func(x *ctrRecord) error {
			x.State.Status, x.State.Error = container.StateDead, err.Error()
			return nil
		})
		return fmt.Errorf("remove container %s: %w", r.ID, err)
	}
	e.emit(events.ContainerEventType, events.ActionDestroy, r.ID, r.attrs())
	if volumes {
		e.removeAnonVolumes(ctx, r)
	}
	e.notifyRemoved(r.ID, exitNote{Code: r.State.ExitCode})
	return nil
}

// removable is docker's refusal to remove a running container.
func (e *Engine) removable(r *ctrRecord, force bool) error {
	if !r.State.running() || force {
		return nil
	}
	const how = "stop the container before removing or force remove"
	switch r.State.Status {
	case container.StatePaused:
		return Conflict("cannot remove container \"/%s\": container is paused and must be unpaused first", r.Name)
	case container.StateRestarting:
		return Conflict("cannot remove container \"/%s\": container is restarting: %s", r.Name, how)
	}
	return Conflict("cannot remove container \"/%s\": container is running: %s", r.Name, how)
}
