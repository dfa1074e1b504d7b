package engine

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/engine/monitor"
)

var (
	// errAttachEnded ends an attachment whose container went away.
	errAttachEnded = errors.New("the container was removed")
	// errDetached is what a write gets after the detach keys.
	errDetached = errors.New("read escape sequence")
)

// defaultDetachKeys are docker's: ctrl-p, ctrl-q.
const defaultDetachKeys = "ctrl-p,ctrl-q"

// ContainerAttach connects to the container's streams. A running
// container's monitor serves them; a created or stopped one gets an
// attachment that waits for its next start, which hands it to the monitor
// before the container runs (docker's create, attach, start: nothing of
// the output is lost). With o.Logs the log is replayed first.
func (e *Engine) ContainerAttach(ctx context.Context, ref string, o AttachOptions) (Stream, error) {
	r, err := e.current(ref)
	if err != nil {
		return nil, err
	}
	keys := o.DetachKeys
	if keys == "" {
		keys = defaultDetachKeys
	}
	detach, err := parseDetachKeys(keys)
	if err != nil {
		return nil, err
	}
	switch r.State.Status {
	case container.StatePaused:
		return nil, Conflict("You cannot attach to a paused container, unpause it first")
	case container.StateRestarting:
		return nil, Conflict("You cannot attach to a restarting container, wait until it is running")
	case container.StateRemoving, container.StateDead:
		return nil, Conflict("You cannot attach to a container that is being removed")
	}
	var logs io.ReadCloser
	if o.Logs && r.LogPath != "" {
		if logs, err = e.replayLogs(r, o.Stdout, o.Stderr); err != nil {
			return nil, err
		}
	}
	if !o.Stream {
		if logs == nil {
			logs = io.NopCloser(strings.NewReader(""))
		}
		return &logsOnly{ReadCloser: logs}, nil
	}
	opts := monitor.AttachOptions{Stdin: o.Stdin && r.Config.OpenStdin, Stdout: o.Stdout, Stderr: o.Stderr}
	s, err := e.attach(ctx, r, opts)
	if err != nil {
		if logs != nil {
			logs.Close()
		}
		return nil, err
	}
	if logs != nil {
		s = &logsFirst{Stream: s, logs: logs}
	}
	if opts.Stdin && len(detach) > 0 {
		s = &detachable{Stream: s, keys: detach}
	}
	e.emit(events.ContainerEventType, events.ActionAttach, r.ID, r.attrs())
	return s, nil
}

// attach connects to the running container, or registers an attachment
// for its next start: under the container's lock, so a start in progress
// either sees it or is over.
func (e *Engine) attach(ctx context.Context, r *ctrRecord, opts monitor.AttachOptions) (Stream, error) {
	r, unlock, err := e.lockLoad(ctx, r)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if r.State.live() {
		c, err := monitor.Attach(r.MonitorDir, opts)
		if err != nil {
			return nil, Conflict("You cannot attach to a stopped container, start it first")
		}
		return c, nil
	}
	if r.State.running() {
		return nil, Conflict("You cannot attach to a restarting container, wait until it is running")
	}
	a := &pendingAttach{e: e, id: r.ID, opts: opts, ready: make(chan struct{}), closed: make(chan struct{})}
	e.core.mu.Lock()
	e.liveOf(r.ID).attaches[a] = struct{}{}
	e.core.mu.Unlock()
	return a, nil
}

// pendingAttaches are the attachments waiting for id to start.
func (e *Engine) pendingAttaches(id string) []*pendingAttach {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	var out []*pendingAttach
	for a := range e.liveOf(id).attaches {
		out = append(out, a)
	}
	return out
}

// failAttaches ends the attachments waiting for id.
func (e *Engine) failAttaches(id string, err error) {
	for _, a := range e.pendingAttaches(id) {
		a.fail(err)
	}
}

// runMonitor starts the monitor of cfg; with attachments waiting, it asks
// the monitor to wait for the first before it starts the container, and
// connects them while monitor.Start runs.
func (e *Engine) runMonitor(ctx context.Context, cfg monitor.Config, pending []*pendingAttach) (int, error) {
	if len(pending) == 0 {
		return monitor.Start(ctx, e.opts.Self, cfg)
	}
	// With WaitAttach, Start returns once the container is created and
	// the monitor listens; the container starts at the first attach, so
	// the attachments connect without polling and miss no output.
	cfg.WaitAttach = true
	pid, err := monitor.Start(ctx, e.opts.Self, cfg)
	if err != nil {
		return 0, err
	}
	for _, a := range pending {
		c, aerr := monitor.Attach(cfg.Dir, a.opts)
		if aerr != nil {
			a.fail(aerr) // it ran and ended already
			continue
		}
		a.connect(c)
	}
	return pid, nil
}

// pendingAttach is an attachment to a container that does not run yet:
// reads and writes wait for the start that connects it.
type pendingAttach struct {
	e    *Engine
	id   string
	opts monitor.AttachOptions

	mu         sync.Mutex
	conn       monitor.Conn
	err        error
	ready      chan struct{} // closed once conn or err is set
	closed     chan struct{} // closed by Close
	isClosed   bool
	closeWrite bool // CloseWrite came before the connection
}

func (a *pendingAttach) forget() {
	a.e.core.mu.Lock()
	defer a.e.core.mu.Unlock()
	if l := a.e.core.live[a.id]; l != nil {
		delete(l.attaches, a)
	}
}

func (a *pendingAttach) connect(c monitor.Conn) {
	a.forget()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.isClosed || a.err != nil {
		c.Close()
		return
	}
	a.conn = c
	if a.closeWrite {
		c.CloseWrite()
	}
	close(a.ready)
}

func (a *pendingAttach) fail(err error) {
	a.forget()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil || a.err != nil {
		return
	}
	a.err = err
	close(a.ready)
}

// wait returns the connection once there is one.
func (a *pendingAttach) wait() (monitor.Conn, error) {
	select {
	case <-a.ready:
	case <-a.closed:
		return nil, io.ErrClosedPipe
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return nil, a.err
	}
	return a.conn, nil
}

func (a *pendingAttach) Read(p []byte) (int, error) {
	c, err := a.wait()
	if err != nil {
		return 0, io.EOF
	}
	return c.Read(p)
}

func (a *pendingAttach) Write(p []byte) (int, error) {
	c, err := a.wait()
	if err != nil {
		return 0, err
	}
	return c.Write(p)
}

func (a *pendingAttach) CloseWrite() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		return a.conn.CloseWrite()
	}
	a.closeWrite = true
	return nil
}

func (a *pendingAttach) Close() error {
	a.forget()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.isClosed {
		return nil
	}
	a.isClosed = true
	close(a.closed)
	if a.conn != nil {
		return a.conn.Close()
	}
	return nil
}

// logsFirst reads the replayed log before the live stream.
type logsFirst struct {
	Stream
	logs io.ReadCloser
	done bool
}

func (l *logsFirst) Read(p []byte) (int, error) {
	if !l.done {
		n, err := l.logs.Read(p)
		if err == io.EOF {
			l.done = true
			l.logs.Close()
			if n > 0 {
				return n, nil
			}
			return l.Stream.Read(p)
		}
		return n, err
	}
	return l.Stream.Read(p)
}

func (l *logsFirst) Close() error {
	l.logs.Close()
	return l.Stream.Close()
}

// logsOnly is an attachment without the live stream (stream=0).
type logsOnly struct{ io.ReadCloser }

func (logsOnly) Write(p []byte) (int, error) { return len(p), nil }
func (logsOnly) CloseWrite() error           { return nil }

// detachable ends the attachment when the detach keys come on stdin,
// without touching the container; bytes that may begin the sequence are
// held back until it is clear they do not.
type detachable struct {
	Stream
	keys    []byte
	matched int
}

func (d *detachable) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+d.matched)
	for _, b := range p {
		if b == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				if len(out) > 0 {
					d.Stream.Write(out)
				}
				d.Stream.Close()
				return 0, errDetached
			}
			continue
		}
		out = append(out, d.keys[:d.matched]...)
		d.matched = 0
		if b == d.keys[0] {
			d.matched = 1
			continue
		}
		out = append(out, b)
	}
	if len(out) > 0 {
		if _, err := d.Stream.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// parseDetachKeys reads docker's detach keys: comma-separated "ctrl-X"
// (X a letter or one of @[\]^_) or single characters.
func parseDetachKeys(s string) ([]byte, error) {
	var out []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case len(k) == 6 && strings.HasPrefix(strings.ToLower(k), "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c >= 'A' && c <= 'Z':
				out = append(out, c-'A'+1)
			case strings.IndexByte("@[\\]^_", c) >= 0:
				out = append(out, c-'@')
			default:
				return nil, Invalid("Invalid detach keys (%s) provided", s)
			}
		default:
			return nil, Invalid("Invalid detach keys (%s) provided", s)
		}
	}
	return out, nil
}

// ContainerResize sets the size of the container's terminal.
func (e *Engine) ContainerResize(ctx context.Context, ref string, height, width uint) error {
	r, err := e.current(ref)
	if err != nil {
		return err
	}
	if !r.State.live() {
		return Conflict("Container %s is not running", r.ID)
	}
	if !r.Config.Tty {
		return nil // no terminal to resize, as docker ignores it
	}
	if err := monitor.Resize(r.MonitorDir, height, width); err != nil {
		return Conflict("cannot resize container %s: %v", r.ID, err)
	}
	e.emit(events.ContainerEventType, events.ActionResize, r.ID,
		r.attrs("height", strconv.FormatUint(uint64(height), 10), "width", strconv.FormatUint(uint64(width), 10)))
	return nil
}

// CloseWrite passes on the bytes held back, then closes stdin.
func (d *detachable) CloseWrite() error {
	if d.matched > 0 {
		d.Stream.Write(d.keys[:d.matched])
		d.matched = 0
	}
	return d.Stream.CloseWrite()
}
