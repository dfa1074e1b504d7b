package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"

	"github.com/containerd/console"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/runtime/nsenter"
)

// ExecOpts are the options of Exec.
type ExecOpts struct {
	ConsoleSocket string // unix socket to send the pty master to, when p.Terminal
	PidFile       string
	PreserveFDs   int
	Stdio         [3]*os.File
	// Foreground: allocate the pty here (when p.Terminal) and proxy it in Process.Forward.
	Foreground bool
	// IgnorePaused allows exec in a paused container (the process starts frozen).
	IgnorePaused bool
}

// Process is a process berth started in a container: the init of a
// foreground `run`, or an exec'd process. It is a child of this process.
type Process struct {
	Pid     int
	console *os.File // pty master of a foreground terminal
}

// Exec starts p in the running container c.
func (c *Container) Exec(p *specs.Process, o ExecOpts) (proc *Process, err error) {
	switch st := c.Status(); st {
	case Stopped:
		return nil, errors.New("cannot exec in a stopped container")
	case Paused:
		if !o.IgnorePaused {
			return nil, errors.New("cannot exec in a paused container")
		}
	case Creating:
		return nil, ErrNotRunning
	}
	spec, err := c.loadSpec()
	if err != nil {
		return nil, err
	}
	if err := validateProcess(p); err != nil {
		return nil, err
	}
	if p.Terminal && o.ConsoleSocket == "" && !o.Foreground {
		return nil, errors.New("cannot allocate tty if runc will detach without setting console socket")
	}
	if p.Terminal && o.ConsoleSocket == "" && p.ConsoleSize == nil {
		// Our pty gets the size of our terminal before the process runs:
		// resizing it in Forward would race with the process reading it.
		if ws, ok := stdinSize(); ok {
			pc := *p
			pc.ConsoleSize = &specs.Box{Height: uint(ws.Height), Width: uint(ws.Width)}
			p = &pc
		}
	}
	cfg := &initConfig{
		Mode: "exec", ID: c.s.ID, Spec: initSpec(spec), Process: p, Bundle: c.s.Bundle,
		Rootfs: c.s.Rootfs, PreserveFDs: o.PreserveFDs,
	}
	so := &spawnOpts{stdio: stdio(o.Stdio), dir: "/", exe: c.rt.Exe, seal: true, sealed: c.rt.Sealed}
	for _, ns := range spec.Linux.Namespaces {
		name := nsNames[ns.Type]
		so.boot.Join = append(so.boot.Join, nsenter.Join{Type: name, Path: "/proc/" + strconv.Itoa(c.s.Pid) + "/ns/" + name})
		if ns.Type == specs.UserNamespace {
			cfg.UserNS = true
		}
	}
	if so.cgroup, err = c.cgroup(); err != nil {
		return nil, err
	}
	for i := 0; i < o.PreserveFDs; i++ {
		so.extra = append(so.extra, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(3+i)))
	}
	var consoleRecv *os.File
	if p.Terminal {
		var conn *os.File
		if o.ConsoleSocket != "" {
			if conn, err = dialConsole(o.ConsoleSocket); err != nil {
				return nil, err
			}
		} else if conn, consoleRecv, err = consolePair(); err != nil {
			return nil, err
		}
		defer conn.Close()
		cfg.ConsoleFD = 3 + len(so.extra)
		so.extra = append(so.extra, conn)
	}
	closeListener, err := prepareSeccomp(spec, so, cfg)
	if err != nil {
		return nil, err
	}
	defer closeListener()
	defer func() {
		if err != nil && consoleRecv != nil {
			consoleRecv.Close()
		}
	}()
	ip, err := spawn(so, cfg)
	if err != nil {
		return nil, fmt.Errorf("exec failed: unable to start container process: %w", err)
	}
	// The sync socket is close-on-exec: end of file means the exec happened.
	if _, err := ip.sync.readMessage(); !errors.Is(err, io.EOF) {
		ip.kill()
		if err == nil {
			err = errors.New("unexpected message from exec init")
		}
		return nil, fmt.Errorf("exec failed: unable to start container process: %w", err)
	}
	ip.sync.f.Close()
	proc = &Process{Pid: ip.pid}
	if consoleRecv != nil {
		proc.console, err = recvConsole(consoleRecv)
		consoleRecv.Close()
		if err != nil {
			unix.Kill(ip.pid, unix.SIGKILL)
			proc.Wait()
			return nil, err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, ip.pid); err != nil {
			return proc, err
		}
	}
	return proc, nil
}

func consolePair() (send, recv *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console-send"), os.NewFile(uintptr(fds[1]), "console-recv"), nil
}

// Wait reaps the process and returns its exit code, 128+n for signal n.
func (p *Process) Wait() (int, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.Pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("wait for %d: %w", p.Pid, err)
		}
		break
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// Signals catches the signals that a foreground process is to be sent. The
// catching starts in the background, to be called early: turning on signal
// handling costs the Go runtime a thread and, on a busy machine,
// milliseconds, which would otherwise delay the container. stop ends it,
// also in the background.
func Signals() (sigs <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 32)
	started := make(chan struct{})
	go func() {
		signal.Notify(ch)
		close(started)
	}()
	return ch, func() {
		go func() {
			<-started
			signal.Stop(ch)
		}()
	}
}

// Forward runs the process in the foreground: it forwards the signals from
// sigs (see Signals) to it, proxies its terminal (putting ours in raw mode),
// waits and returns its exit code.
func (p *Process) Forward(sigs <-chan os.Signal) (int, error) {
	outDone := make(chan struct{})
	if p.console != nil {
		if cur, err := console.ConsoleFromFile(os.Stdin); err == nil {
			if err := cur.SetRaw(); err == nil {
				defer cur.Reset()
			}
			p.resize()
		}
		go func() { io.Copy(p.console, os.Stdin) }()
		go func() { io.Copy(os.Stdout, p.console); close(outDone) }()
	} else {
		close(outDone)
	}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() { c, err := p.Wait(); done <- result{c, err} }()
	for {
		select {
		case s := <-sigs:
			sig := s.(unix.Signal)
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
			case unix.SIGWINCH:
				p.resize()
			default:
				unix.Kill(p.Pid, sig)
			}
		case r := <-done:
			if p.console != nil {
				<-outDone
				p.console.Close()
			}
			return r.code, r.err
		}
	}
}

func (p *Process) resize() {
	if p.console == nil {
		return
	}
	if ws, ok := stdinSize(); ok {
		if m, err := console.ConsoleFromFile(p.console); err == nil {
			m.Resize(ws)
		}
	}
}

// stdinSize is the window size of our stdin, when it is a terminal.
func stdinSize() (console.WinSize, bool) {
	cur, err := console.ConsoleFromFile(os.Stdin)
	if err != nil {
		return console.WinSize{}, false
	}
	ws, err := cur.Size()
	return ws, err == nil && ws.Height > 0 && ws.Width > 0
}

// Run creates and starts the container. With foreground it then forwards
// signals and the terminal, waits for the container to exit, deletes it
// (unless o.Keep) and returns the exit code.
func (r *Runtime) Run(id, bundle string, o CreateOpts, foreground bool) (int, error) {
	var recv *os.File
	if foreground {
		spec, err := loadSpecForRun(bundle)
		if err != nil {
			return -1, err
		}
		if spec.Process != nil && spec.Process.Terminal && o.ConsoleSocket == "" {
			var send *os.File
			if send, recv, err = consolePair(); err != nil {
				return -1, err
			}
			defer send.Close()
			defer recv.Close()
			o.consoleConn = send
		}
	}
	tracePhase("run", "begin")
	var sigs <-chan os.Signal
	if foreground {
		var stop func()
		sigs, stop = Signals()
		defer stop()
	}
	c, err := r.Create(id, bundle, o)
	if err != nil {
		return -1, err
	}
	p := &Process{Pid: c.Pid()}
	if recv != nil {
		if p.console, err = recvConsole(recv); err != nil {
			c.Delete(true)
			return -1, err
		}
		p.resize() // before the program runs and can ask for the size
	}
	if err := c.Start(); err != nil {
		c.Delete(true)
		return -1, err
	}
	tracePhase("run", "started")
	if !foreground {
		return 0, nil
	}
	code, err := p.Forward(sigs)
	tracePhase("run", "exited")
	if !o.Keep {
		if derr := c.Delete(true); err == nil {
			err = derr
		}
		tracePhase("run", "deleted")
	}
	return code, err
}
