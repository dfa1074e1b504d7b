package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/runtime"
)

// drainGrace is how long the output of an exited exec is still copied
// while something the process left behind keeps its stdout open.
const drainGrace = 2 * time.Second

// ExecStart runs an exec instance. Attached, it returns the exec's stream:
// reads give its output (stdcopy-framed, raw with a Tty), writes go to
// its stdin, CloseWrite ends its stdin; the output ends once the process
// exited and its exit code is recorded. With req.Detach the process runs
// without stdio and ExecStart returns a nil Stream once it started.
func (e *Engine) ExecStart(ctx context.Context, id string, req container.ExecStartRequest) (Stream, error) {
	x, err := e.lookupExec(ctx, id)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	switch {
	case x.exitCode != nil:
		x.mu.Unlock()
		return nil, Conflict("Error: Exec command %s has already run", id)
	case x.started:
		x.mu.Unlock()
		return nil, Conflict("Error: Exec command %s is already running", id)
	}
	x.started = true
	x.mu.Unlock()

	v, err := e.view(ctx, x.ctrID)
	if err == nil {
		err = runnable(v)
	}
	if err != nil {
		x.mu.Lock()
		x.started = false
		x.mu.Unlock()
		return nil, err
	}
	s, err := e.execRun(v, x, req)
	if err != nil {
		// The instance has run, unsuccessfully: dockerd's exit codes for
		// a command that is not there and for one that cannot run.
		code := 126
		if strings.Contains(err.Error(), "executable file not found") || strings.Contains(err.Error(), "no such file or directory") {
			code = 127
		}
		x.mu.Lock()
		x.exitCode = &code
		x.mu.Unlock()
		close(x.done)
		return nil, err
	}
	return s, nil
}

// execRun starts the process of x in container v.
func (e *Engine) execRun(v ctrView, x *execInst, req container.ExecStartRequest) (Stream, error) {
	// The exec's init is berth itself (`berth init`), which this process
	// need not be (a test binary, a program embedding the engine).
	rt := *e.Runtime
	if e.opts.Self != "" {
		rt.Exe = e.opts.Self
	}
	rc, err := rt.Load(v.ID)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", v.ID, err)
	}
	size := x.cfg.ConsoleSize
	if req.ConsoleSize != nil {
		size = req.ConsoleSize
	}
	p, err := execProcess(v, rc, x.cfg, size)
	if err != nil {
		return nil, err
	}
	attach := !req.Detach
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", v.ID, err)
	}
	defer devNull.Close()
	var (
		theirs   []*os.File // the child's ends, closed here once it has them
		ours     []*os.File // ours, closed on failure
		stdio    = [3]*os.File{devNull, devNull, devNull}
		stdinW   *os.File
		outR     [2]*os.File
		consoleL *net.UnixListener
		opts     runtime.ExecOpts
	)
	fail := func(err error) (Stream, error) {
		for _, f := range append(theirs, ours...) {
			f.Close()
		}
		if consoleL != nil {
			consoleL.Close()
		}
		return nil, err
	}
	if p.Terminal {
		addr := &net.UnixAddr{Net: "unix", Name: "@berth-exec-console-" + x.id}
		if consoleL, err = net.ListenUnix("unix", addr); err != nil {
			return fail(fmt.Errorf("exec in container %s: console socket: %w", v.ID, err))
		}
		opts.ConsoleSocket = addr.Name
	} else if attach {
		if x.cfg.AttachStdin {
			r, w, err := os.Pipe()
			if err != nil {
				return fail(err)
			}
			theirs, ours = append(theirs, r), append(ours, w)
			stdio[0], stdinW = r, w
		}
		for i, want := range []bool{x.cfg.AttachStdout, x.cfg.AttachStderr} {
			if !want {
				continue
			}
			r, w, err := os.Pipe()
			if err != nil {
				return fail(err)
			}
			theirs, ours = append(theirs, w), append(ours, r)
			stdio[i+1], outR[i] = w, r
		}
	}
	opts.Stdio = stdio
	proc, err := rc.Exec(p, opts)
	if err != nil {
		return fail(Errorf(KindUnknown, "OCI runtime exec failed: %s: unknown", err.Error()))
	}
	for _, f := range theirs {
		f.Close()
	}
	theirs = nil
	var console *os.File
	if consoleL != nil {
		console, err = acceptConsole(consoleL)
		consoleL.Close()
		consoleL = nil
		if err != nil {
			unix.Kill(proc.Pid, unix.SIGKILL)
			proc.Wait()
			return fail(fmt.Errorf("exec in container %s: %w", v.ID, err))
		}
	}
	x.mu.Lock()
	x.pid, x.running, x.console = proc.Pid, true, console
	x.mu.Unlock()
	e.emit(events.ContainerEventType, events.Action(string(events.ActionExecStart)+": "+strings.Join(x.cfg.Cmd, " ")), v.ID,
		map[string]string{"name": v.Name, "image": v.Image, "execID": x.id})

	exited := make(chan struct{})
	go func() {
		code, err := proc.Wait()
		if err != nil {
			code = -1
		}
		close(exited)
		// The terminal goes once its output is read to the end.
		e.execExited(x, v, code)
	}()

	pr, pw := io.Pipe()
	st := &execStream{out: pr, tty: p.Terminal}
	var copiers sync.WaitGroup
	switch {
	case console != nil:
		st.stdin = console
		if attach && x.cfg.AttachStdin {
			keys := []byte{16, 17} // ctrl-p,ctrl-q, dockerd's default for a terminal
			if x.cfg.DetachKeys != "" {
				keys, _ = parseDetachKeys(x.cfg.DetachKeys)
			}
			st.keys = keys
			st.detached = func() {
				e.emit(events.ContainerEventType, events.ActionExecDetach, v.ID,
					map[string]string{"name": v.Name, "image": v.Image, "execID": x.id})
			}
		}
		copiers.Add(1)
		var w io.Writer = pw
		if !attach || !x.cfg.AttachStdout {
			w = io.Discard
		}
		go func() {
			defer copiers.Done()
			copyOut(w, console)
		}()
	default:
		if stdinW != nil {
			st.stdin = stdinW
		}
		for i, r := range outR {
			if r == nil {
				continue
			}
			copiers.Add(1)
			w := &frameWriter{w: pw, typ: []stdcopy.StdType{stdcopy.Stdout, stdcopy.Stderr}[i]}
			go func() {
				defer copiers.Done()
				copyOut(w, r)
			}()
		}
	}
	go func() {
		<-exited
		<-x.done
		copied := make(chan struct{})
		go func() { copiers.Wait(); close(copied) }()
		select {
		case <-copied:
		case <-time.After(drainGrace):
			// Something the process started holds its output open:
			// the stream ends with the process, as dockerd's does.
			for _, r := range outR {
				if r != nil {
					r.Close()
				}
			}
			if console != nil {
				console.Close()
			}
			<-copied
		}
		if console != nil {
			x.mu.Lock()
			x.console = nil
			x.mu.Unlock()
			console.Close()
		}
		pw.Close()
	}()
	if !attach {
		if stdinW != nil {
			stdinW.Close()
		}
		pr.Close()
		return nil, nil
	}
	return st, nil
}

// frameWriter writes each Write as one frame of docker's multiplexed
// stream (the format stdcopy.StdCopy reads): an 8-byte header (stream
// type, three zero bytes, big-endian payload length) and the payload, in
// a single Write so that frames of two streams never interleave.
type frameWriter struct {
	w   io.Writer
	typ stdcopy.StdType
}

func (f *frameWriter) Write(p []byte) (int, error) {
	buf := make([]byte, 8+len(p))
	buf[0] = byte(f.typ)
	binary.BigEndian.PutUint32(buf[4:8], uint32(len(p)))
	copy(buf[8:], p)
	if _, err := f.w.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// copyOut copies src to w until src ends; when w fails (the reader went
// away) the rest is read and dropped, so the process never blocks on a
// full pipe. src is closed at the end.
func copyOut(w io.Writer, src *os.File) {
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				w = io.Discard
			}
		}
		if err != nil {
			return
		}
	}
}

// execProcess builds the runtime process of an exec as dockerd does: the
// container's capabilities, rlimits and security settings (all
// capabilities when privileged), the exec's user (else the container's),
// working directory (else the container's, else /), and the environment
// PATH and HOSTNAME, TERM for a Tty, the container's, then the exec's;
// HOME from the user's passwd entry unless set.
func execProcess(v ctrView, rc *runtime.Container, cfg container.ExecCreateRequest, size *[2]uint) (*specs.Process, error) {
	p := &specs.Process{Args: cfg.Cmd, Terminal: cfg.Tty}
	if spec := rc.Spec(); spec != nil && spec.Process != nil {
		b := spec.Process
		if b.Capabilities != nil {
			caps := *b.Capabilities
			p.Capabilities = &caps
		}
		p.Rlimits = b.Rlimits
		p.NoNewPrivileges = b.NoNewPrivileges
		p.ApparmorProfile = b.ApparmorProfile
		p.SelinuxLabel = b.SelinuxLabel
	}
	if cfg.Privileged {
		all := runtime.CapabilityNames()
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	var ccfg container.Config
	if v.Config != nil {
		ccfg = *v.Config
	}
	user := cfg.User
	if user == "" {
		user = ccfg.User
	}
	u, err := image.LookupUser("/proc/"+strconv.Itoa(v.Pid)+"/root", user)
	if err != nil {
		return nil, Errorf(KindUnknown, "OCI runtime exec failed: exec failed: unable to start container process: %s: unknown", err.Error())
	}
	p.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}
	p.Cwd = "/"
	switch {
	case cfg.WorkingDir != "":
		if !path.IsAbs(cfg.WorkingDir) {
			return nil, Invalid("the working directory '%s' is invalid, it needs to be an absolute path", cfg.WorkingDir)
		}
		p.Cwd = path.Clean(cfg.WorkingDir)
	case ccfg.WorkingDir != "":
		p.Cwd = path.Join("/", ccfg.WorkingDir)
	}
	env := []string{"PATH=" + image.DefaultPath, "HOSTNAME=" + ccfg.Hostname}
	if cfg.Tty {
		env = append(env, "TERM=xterm")
	}
	env = mergeEnv(env, ccfg.Env)
	env = mergeEnv(env, cfg.Env)
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+u.Home)
	}
	p.Env = env
	if cfg.Tty && size != nil && size[0] > 0 && size[1] > 0 {
		p.ConsoleSize = &specs.Box{Height: size[0], Width: size[1]}
	}
	return p, nil
}

// mergeEnv adds "KEY=value" entries of over to env or replaces those of
// the same key; a bare "KEY" removes it.
func mergeEnv(env, over []string) []string {
	out := append([]string(nil), env...)
	for _, kv := range over {
		k, _, hasValue := strings.Cut(kv, "=")
		i := envIndex(out, k)
		switch {
		case !hasValue && i >= 0:
			out = append(out[:i], out[i+1:]...)
		case !hasValue:
		case i >= 0:
			out[i] = kv
		default:
			out = append(out, kv)
		}
	}
	return out
}

func envIndex(env []string, key string) int {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return i
		}
	}
	return -1
}

func hasEnv(env []string, key string) bool { return envIndex(env, key) >= 0 }

// acceptConsole takes the pty master the exec's init sent on the console
// socket.
func acceptConsole(l *net.UnixListener) (*os.File, error) {
	l.SetDeadline(time.Now().Add(30 * time.Second))
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive pty master: no descriptor sent (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive pty master: %v", err)
	}
	unix.CloseOnExec(fds[0])
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// resizeConsole sets a pty's window size.
func resizeConsole(f *os.File, height, width uint) error {
	ws := &unix.Winsize{Row: uint16(height), Col: uint16(width)}
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("resize exec terminal: %w", err)
	}
	return nil
}

// execStream is an attached exec: reads give its output, writes its stdin.
type execStream struct {
	out   *io.PipeReader
	stdin *os.File // a pipe, or the pty master with a Tty
	tty   bool

	mu       sync.Mutex
	closed   bool
	keys     []byte // the detach sequence, with a Tty and stdin
	matched  int
	detached func()
}

var _ Stream = (*execStream)(nil)

func (s *execStream) Read(p []byte) (int, error) { return s.out.Read(p) }

// Write sends p to the exec's stdin; with a Tty it watches for the detach
// keys, which end the stream (the process goes on).
func (s *execStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, io.ErrClosedPipe
	}
	if s.stdin == nil {
		return len(p), nil // no stdin: dropped, as dockerd does
	}
	if len(s.keys) == 0 {
		return writeStdin(s.stdin, p, len(p))
	}
	var pass []byte
	for _, b := range p {
		if b == s.keys[s.matched] {
			s.matched++
			if s.matched == len(s.keys) {
				if _, err := writeStdin(s.stdin, pass, 0); err != nil {
					return 0, err
				}
				s.matched = 0
				s.closeLocked()
				if s.detached != nil {
					s.detached()
				}
				return len(p), nil
			}
			continue
		}
		pass = append(pass, s.keys[:s.matched]...)
		s.matched = 0
		if b == s.keys[0] {
			s.matched = 1
			continue
		}
		pass = append(pass, b)
	}
	return writeStdin(s.stdin, pass, len(p))
}

func writeStdin(f *os.File, b []byte, n int) (int, error) {
	if len(b) > 0 {
		if _, err := f.Write(b); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// CloseWrite ends the exec's stdin: the pipe closes, or with a Tty the
// terminal gets an end-of-file (^D).
func (s *execStream) CloseWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stdin == nil || s.closed {
		return nil
	}
	if s.tty {
		_, err := s.stdin.Write([]byte{4})
		return err
	}
	err := s.stdin.Close()
	s.stdin = nil
	if errors.Is(err, os.ErrClosed) {
		err = nil
	}
	return err
}

// Close ends the attachment; the process goes on, its output dropped.
func (s *execStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return nil
}

func (s *execStream) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	if s.stdin != nil && !s.tty {
		s.stdin.Close()
	}
	s.out.Close()
}
