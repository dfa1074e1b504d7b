package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/runtime"
)

// outputGrace is how long the output of an exited probe is still read
// while something it started keeps the pipe open.
const outputGrace = time.Second

// healthRunner runs the container's health check for one run: a probe
// every interval, in the container, the way an exec is run; the state is
// rewritten to health.json after each, and watchers hear of every change
// of status.
type healthRunner struct {
	dir     string
	hc      HealthCheck // with defaults
	ctr     *runtime.Container
	started time.Time

	mu   sync.Mutex
	h    container.Health
	subs map[*net.UnixConn]struct{}
	done bool // the run has ended: no more changes
}

// startHealth sets the health of the run that just started to starting
// (the log of the last run kept) and starts probing in the background;
// stop ends the probing (a probe in flight is killed) and returns once it
// has. Without a health check both are no-ops.
func (m *monitor) startHealth(ctr *runtime.Container, started time.Time) (stop func()) {
	if m.cfg.Health == nil || len(m.cfg.Health.Cmd) == 0 {
		return func() {}
	}
	// The spec is read (and kept by ctr) here, before the probing
	// goroutine shares ctr with this one.
	ctr.Spec()
	r := &healthRunner{dir: m.dir, hc: m.cfg.Health.withDefaults(), ctr: ctr, started: started, subs: map[*net.UnixConn]struct{}{}}
	prev, _ := ReadHealth(m.dir)
	r.h = restartHealth(prev)
	r.write()
	m.mu.Lock()
	m.health = r
	m.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		r.run(ctx)
	}()
	return func() {
		cancel()
		<-finished
	}
}

// run probes until ctx ends. A paused container is not probed.
func (r *healthRunner) run(ctx context.Context) {
	timer := time.NewTimer(probeDelay(r.hc, time.Since(r.started), container.Starting))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if r.ctr.Status() == runtime.Running {
			res, ok := r.probe(ctx)
			if !ok {
				return
			}
			r.record(res)
		}
		r.mu.Lock()
		status := r.h.Status
		r.mu.Unlock()
		timer.Reset(probeDelay(r.hc, time.Since(r.started), status))
	}
}

// probe runs the check once in the container, with the container's
// process settings (user, working directory, environment, capabilities):
// its exit code and the first 4096 bytes of its output, or -1 and
// docker's words when it ran past the timeout (it is killed then) or could
// not be run. ok is false when ctx ended meanwhile.
func (r *healthRunner) probe(ctx context.Context) (res container.HealthcheckResult, ok bool) {
	res.Start = time.Now()
	failed := func(err error) (container.HealthcheckResult, bool) {
		res.ExitCode, res.Output, res.End = -1, err.Error(), time.Now()
		return res, true
	}
	spec := r.ctr.Spec()
	if spec == nil || spec.Process == nil {
		return failed(errors.New("health check: the container has no process spec"))
	}
	p := *spec.Process
	p.Args, p.Terminal, p.ConsoleSize = r.hc.Cmd, false, nil
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return failed(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		null.Close()
		return failed(err)
	}
	proc, err := r.ctr.Exec(&p, runtime.ExecOpts{Stdio: [3]*os.File{null, pw, pw}})
	null.Close()
	pw.Close()
	if err != nil {
		pr.Close()
		return failed(fmt.Errorf("OCI runtime exec failed: %v: unknown", err))
	}
	var out limitedBuffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(&out, pr)
	}()
	exited := make(chan int, 1)
	go func() {
		code, err := proc.Wait()
		if err != nil {
			code = -1
		}
		exited <- code
	}()
	// The rest of the output, once the probe is gone.
	drain := func() {
		select {
		case <-copied:
		case <-time.After(outputGrace):
		}
		pr.Close() // interrupts the copy
		<-copied
	}
	timer := time.NewTimer(r.hc.Timeout)
	defer timer.Stop()
	select {
	case code := <-exited:
		drain()
		res.ExitCode, res.Output = code, out.String()
	case <-timer.C:
		// The probe may have ended as the timer fired: then its pid is
		// reaped and may belong to someone else; never signal it.
		select {
		case code := <-exited:
			drain()
			res.ExitCode, res.Output = code, out.String()
		default:
			unix.Kill(proc.Pid, unix.SIGKILL)
			<-exited
			drain()
			res.ExitCode, res.Output = -1, timedOut(r.hc.Timeout, out.String())
		}
	case <-ctx.Done():
		unix.Kill(proc.Pid, unix.SIGKILL)
		<-exited
		pr.Close()
		<-copied
		return res, false
	}
	res.End = time.Now()
	return res, true
}

// record applies a probe's result, writes the new state and tells the
// watchers when the status changed.
func (r *healthRunner) record(res container.HealthcheckResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.h.Status
	r.h = nextHealth(r.h, r.hc, r.started, res)
	r.write()
	if r.h.Status == old {
		return
	}
	for c := range r.subs {
		if answer(c, reply{Health: string(r.h.Status)}) != nil {
			delete(r.subs, c)
			c.Close()
		}
	}
}

// write replaces health.json with the current state (callers hold mu, or
// own r alone). A failure only costs readers the latest result.
func (r *healthRunner) write() {
	data, err := json.Marshal(r.h)
	if err == nil {
		atomicfile.Write(filepath.Join(r.dir, healthFile), data, 0o644)
	}
}

// watch serves a "health" request: the current status now, then a line
// at each change, until the run ends or the client goes away.
func (r *healthRunner) watch(conn *net.UnixConn) {
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		answer(conn, reply{Health: string(r.h.Status)})
		conn.Close()
		return
	}
	if answer(conn, reply{Health: string(r.h.Status)}) != nil {
		r.mu.Unlock()
		conn.Close()
		return
	}
	r.subs[conn] = struct{}{}
	r.mu.Unlock()
	var b [64]byte
	for {
		if _, err := conn.Read(b[:]); err != nil {
			break
		}
	}
	r.mu.Lock()
	_, mine := r.subs[conn]
	delete(r.subs, conn)
	r.mu.Unlock()
	if mine {
		conn.Close()
	}
}

// end closes the watchers: the run is over.
func (r *healthRunner) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	for c := range r.subs {
		c.Close()
	}
	r.subs = map[*net.UnixConn]struct{}{}
}

// WatchHealth follows the health status of the container whose monitor is
// in dir: fn gets the current status, then each new one, until the run
// ends (nil), ctx ends (its error) or the monitor cannot be reached.
func WatchHealth(ctx context.Context, dir string, fn func(container.HealthStatus)) error {
	conn, err := dial(dir, request{Op: "health"})
	if err != nil {
		return fmt.Errorf("watch health of container in %s: %w", dir, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		line, err := readLine(conn)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("watch health of container in %s: %w", dir, err)
		}
		var rep reply
		if err := json.Unmarshal(line, &rep); err != nil {
			return fmt.Errorf("watch health of container in %s: bad reply %q: %w", dir, line, err)
		}
		if rep.Error != "" {
			return fmt.Errorf("watch health of container in %s: %s", dir, rep.Error)
		}
		fn(container.HealthStatus(rep.Health))
	}
}
