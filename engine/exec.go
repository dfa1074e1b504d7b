package engine

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// execState holds the exec instances. They live in memory only (dockerd
// forgets them on restart too) and are dropped execKeep after their
// process exited, or once their container is gone.
type execState struct {
	mu sync.Mutex
	m  map[string]*execInst
}

// execKeep is how long an exec instance stays inspectable after its
// process exited.
const execKeep = 5 * time.Minute

// execInst is one exec instance.
type execInst struct {
	id    string
	ctrID string
	cfg   container.ExecCreateRequest

	mu       sync.Mutex
	started  bool
	running  bool
	exitCode *int
	pid      int
	console  *os.File      // pty master of a Tty exec, while it runs
	done     chan struct{} // closed when the process exited and its exit is recorded
}

func (s *execState) add(x *execInst) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*execInst{}
	}
	s.m[x.id] = x
}

func (s *execState) get(id string) *execInst {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// idle lists the instances whose process is not running.
func (s *execState) idle() []*execInst {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*execInst
	for _, x := range s.m {
		x.mu.Lock()
		if !x.running {
			out = append(out, x)
		}
		x.mu.Unlock()
	}
	return out
}

func (s *execState) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// lookupExec finds an exec instance; one whose container is gone is
// dropped on the way.
func (e *Engine) lookupExec(ctx context.Context, id string) (*execInst, error) {
	x := e.execs.get(id)
	if x == nil {
		return nil, NotFound("No such exec instance: %s", id)
	}
	if _, err := e.view(ctx, x.ctrID); err != nil && KindOf(err) == KindNotFound {
		e.dropExec(x)
		return nil, NotFound("No such exec instance: %s", id)
	}
	return x, nil
}

func (e *Engine) dropExec(x *execInst) {
	e.execs.remove(x.id)
	e.execRemoved(x.ctrID, x.id)
}

// runnable checks that the container can run an exec, with dockerd's
// messages.
func runnable(v ctrView) error {
	switch v.Status {
	case container.StateRunning:
		return nil
	case container.StatePaused:
		return Conflict("container %s is paused, unpause the container before exec", v.ID)
	case container.StateRestarting:
		return Conflict("Container %s is restarting, wait until the container is running", v.ID)
	}
	return Conflict("container %s is not running", v.ID)
}

// ExecCreate makes an exec instance in a running container; ExecStart runs it.
func (e *Engine) ExecCreate(ctx context.Context, ref string, req container.ExecCreateRequest) (container.ExecCreateResponse, error) {
	v, err := e.view(ctx, ref)
	if err != nil {
		return container.ExecCreateResponse{}, err
	}
	if err := runnable(v); err != nil {
		return container.ExecCreateResponse{}, err
	}
	if len(req.Cmd) == 0 {
		return container.ExecCreateResponse{}, Invalid("No exec command specified")
	}
	if req.DetachKeys != "" {
		if _, err := parseDetachKeys(req.DetachKeys); err != nil {
			return container.ExecCreateResponse{}, err
		}
	}
	// Instances of containers removed since are dropped now (those that
	// ran go execKeep after their exit anyway).
	for _, old := range e.execs.idle() {
		if _, err := e.view(ctx, old.ctrID); KindOf(err) == KindNotFound {
			e.dropExec(old)
		}
	}
	x := &execInst{id: newID(), ctrID: v.ID, cfg: req, done: make(chan struct{})}
	x.cfg.Cmd = append([]string(nil), req.Cmd...)
	x.cfg.Env = append([]string(nil), req.Env...)
	e.execs.add(x)
	e.execAdded(v.ID, x.id)
	e.emit(events.ContainerEventType, events.Action(string(events.ActionExecCreate)+": "+strings.Join(req.Cmd, " ")), v.ID,
		map[string]string{"name": v.Name, "image": v.Image, "execID": x.id})
	return container.ExecCreateResponse{ID: x.id}, nil
}

// ExecInspect describes an exec instance.
func (e *Engine) ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error) {
	x, err := e.lookupExec(ctx, id)
	if err != nil {
		return container.ExecInspectResponse{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	priv := x.cfg.Privileged
	out := container.ExecInspectResponse{
		ID:      x.id,
		Running: x.running,
		ProcessConfig: &container.ExecProcessConfig{
			Tty:        x.cfg.Tty,
			Entrypoint: x.cfg.Cmd[0],
			Arguments:  append([]string{}, x.cfg.Cmd[1:]...),
			Privileged: &priv,
			User:       x.cfg.User,
		},
		OpenStdin:   x.cfg.AttachStdin,
		OpenStdout:  x.cfg.AttachStdout,
		OpenStderr:  x.cfg.AttachStderr,
		ContainerID: x.ctrID,
		DetachKeys:  []byte(x.cfg.DetachKeys),
		Pid:         x.pid,
	}
	if x.exitCode != nil {
		c := *x.exitCode
		out.ExitCode = &c
	}
	return out, nil
}

// ExecResize sets the size of a Tty exec's terminal.
func (e *Engine) ExecResize(ctx context.Context, id string, height, width uint) error {
	x, err := e.lookupExec(ctx, id)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.running {
		return Conflict("Exec %s is not running", id)
	}
	if x.console == nil {
		return nil // no terminal: nothing to size, as with dockerd
	}
	return resizeConsole(x.console, height, width)
}

// exited records the exit of the exec's process and schedules the
// instance's removal.
func (e *Engine) execExited(x *execInst, v ctrView, code int) {
	x.mu.Lock()
	x.running = false
	x.exitCode = &code
	x.mu.Unlock()
	close(x.done)
	e.emit(events.ContainerEventType, events.ActionExecDie, x.ctrID, map[string]string{
		"name": v.Name, "image": v.Image, "execID": x.id, "exitCode": strconv.Itoa(code),
	})
	time.AfterFunc(execKeep, func() {
		if e.execs.get(x.id) == x {
			e.dropExec(x)
		}
	})
}
