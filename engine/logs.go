package engine

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/berth-project/berth/engine/logfile"
)

// ContainerLogs streams the container's json-file log in docker's wire
// format (stdcopy frames, raw for a TTY). Following ends when the
// container stops (a restart by its policy does not end it).
func (e *Engine) ContainerLogs(ctx context.Context, ref string, o LogsOptions) (io.ReadCloser, error) {
	r, err := e.current(ref)
	if err != nil {
		return nil, err
	}
	if !o.ShowStdout && !o.ShowStderr {
		return nil, Invalid("You must choose at least one stream")
	}
	if r.LogPath == "" {
		return nil, Errorf(KindNotImplemented, "configured logging driver does not support reading")
	}
	now := time.Now()
	since, err := logfile.ParseTime(o.Since, now)
	if err != nil {
		return nil, Invalid("%v", err)
	}
	until, err := logfile.ParseTime(o.Until, now)
	if err != nil {
		return nil, Invalid("%v", err)
	}
	ro := logfile.ReadOptions{
		Stdout: o.ShowStdout, Stderr: o.ShowStderr, Since: since, Until: until,
		Tail: logfile.ParseTail(o.Tail), Timestamps: o.Timestamps, Details: o.Details,
		Raw: r.Config.Tty, Follow: o.Follow && r.State.running(),
	}
	closed := make(chan struct{})
	if ro.Follow {
		stop := make(chan struct{})
		ro.Stop = stop
		e.core.wg.Add(1)
		go func() {
			defer e.core.wg.Done()
			e.untilStopped(ctx, r.ID, closed)
			close(stop)
		}()
	}
	rc, err := logfile.Read(ctx, r.LogPath, ro)
	if err != nil {
		close(closed)
		return nil, err
	}
	return &logStream{ReadCloser: rc, closed: closed}, nil
}

// untilStopped returns once container id no longer runs (or is gone),
// ctx ends, closed is closed or the engine closes.
func (e *Engine) untilStopped(ctx context.Context, id string, closed <-chan struct{}) {
	for {
		w := e.addWaiter(id, false)
		r, err := e.current(id)
		if err != nil || !r.State.running() {
			e.dropWaiter(id, w)
			return
		}
		e.ensureWatch(r)
		select {
		case <-w.ch:
		case <-ctx.Done():
		case <-closed:
		case <-e.core.ctx.Done():
		}
		e.dropWaiter(id, w)
		if ctx.Err() != nil || e.core.ctx.Err() != nil {
			return
		}
		select {
		case <-closed:
			return
		default:
		}
	}
}

// logStream tells the follower goroutine when the reader is closed.
type logStream struct {
	io.ReadCloser
	closed chan struct{}
	once   sync.Once
}

func (l *logStream) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.ReadCloser.Close()
}

// replayLogs reads the whole log of r (the streams asked for), in the
// attach wire format.
func (e *Engine) replayLogs(r *ctrRecord, stdout, stderr bool) (io.ReadCloser, error) {
	return logfile.Read(context.Background(), r.LogPath, logfile.ReadOptions{
		Stdout: stdout, Stderr: stderr, Tail: -1, Raw: r.Config.Tty,
	})
}
