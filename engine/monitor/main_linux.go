package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/engine/logfile"
	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/network"
	"github.com/berth-project/berth/runtime"
)

// waitAttach is how long a monitor with Config.WaitAttach waits for the
// first attach before it starts the container anyway.
const waitAttach = 10 * time.Second

// sealedFD is where a monitor finds Config.Sealed.
const sealedFD = 4

// abortSignal is what Start sends a monitor it no longer waits for.
const abortSignal = unix.SIGUSR1

var errAborted = errors.New("start aborted by its caller")

// A process started as `berth monitor DIR` is a monitor from this
// package's initialization on, as `berth init` is from the runtime's (see
// runtime/init_linux.go): the packages the monitor does not import, whose
// initialization is most of a berth process's start, are never
// initialized. Main never returns.
func init() {
	if IsMonitor() {
		Main()
	}
}

// IsMonitor reports whether this process was started by Start as a
// container's monitor.
func IsMonitor() bool {
	return len(os.Args) == 3 && os.Args[1] == "monitor" && os.Getenv(envMonitor) == "1"
}

// Main is the monitor process: it runs the container described in the
// directory given as its argument until the container exits, then exits.
// It never returns.
func Main() {
	// A monitor is one per container and mostly sleeps: one thread for Go
	// code, and a heap kept small.
	goruntime.GOMAXPROCS(1)
	goruntime.MemProfileRate = 0 // no profiling buckets
	debug.SetGCPercent(25)
	// A backstop above what the runtime maps anyway (a limit below that
	// would have every allocation start a GC).
	debug.SetMemoryLimit(16 << 20)
	// Start's settings for this process only, not for the hooks it runs.
	for _, v := range []string{envMonitor, "GOMAXPROCS", "GOGC"} {
		os.Unsetenv(v)
	}
	// Signals meant for a process group or a session we left behind must
	// not end the monitor, which would orphan the container's stdio. They
	// are caught, not ignored: an ignored signal would stay ignored in the
	// container's processes.
	signal.Notify(make(chan os.Signal, 1), unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT)
	m := &monitor{dir: os.Args[2], attached: make(chan struct{}), clients: map[*client]struct{}{}, waiters: map[*net.UnixConn]struct{}{},
		abort: make(chan os.Signal, 1)}
	// SIGUSR1 from Start: its caller gave up before the container ran.
	signal.Notify(m.abort, abortSignal)
	var st unix.Stat_t
	if unix.Fstat(3, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
		unix.CloseOnExec(3)
		m.report = os.NewFile(3, "start-report")
	}
	if runtime.IsSealed(sealedFD) {
		unix.CloseOnExec(sealedFD)
		m.sealed = os.NewFile(sealedFD, "berth-sealed")
	}
	os.Exit(m.run())
}

// monitor is the state of the monitor process.
type monitor struct {
	dir    string
	cfg    Config
	report *os.File // to Start, until the container runs
	sealed *os.File // Config.Sealed, or nil
	ln     *net.UnixListener
	log    *logfile.Writer // nil: no log
	pid    int             // the container's init

	// The container's stdio, our ends: pipes, or the pty master.
	stdout, stderr, pty *os.File
	stdin               *os.File    // pipe, or the pty master; nil without Stdin
	stdinMu             sync.Mutex  // one write to stdin at a time
	stdinClosed         atomic.Bool // no more writes to stdin
	pumps               sync.WaitGroup

	mu         sync.Mutex
	clients    map[*client]struct{}
	waiters    map[*net.UnixConn]struct{}
	exit       *Exit         // set once the container has exited
	attached   chan struct{} // closed at the first attach
	attachOnce sync.Once
	abort      chan os.Signal // Start gave up waiting for us
	oom        atomic.Bool
	health     *healthRunner // set once the container runs, with a health check
}

// run is the monitor's life; its result is the process's exit status.
func (m *monitor) run() int {
	data, err := os.ReadFile(filepath.Join(m.dir, configFile))
	if err == nil {
		err = json.Unmarshal(data, &m.cfg)
	}
	if err != nil {
		return m.fail(fmt.Errorf("monitor: read configuration: %w", err))
	}
	id := m.cfg.ID
	sock := filepath.Join(m.dir, ctlSock)
	os.Remove(sock)
	if m.ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"}); err != nil {
		return m.fail(fmt.Errorf("monitor of %s: %w", id, err))
	}
	if err := atomicfile.Write(filepath.Join(m.dir, pidFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return m.fail(fmt.Errorf("monitor of %s: %w", id, err))
	}

	// The embedded DNS server answers from before the container's first
	// process runs until its last has gone.
	// It is set up while the container is created (its process runs only
	// at Start, below).
	dnsCtx, stopDNS := context.WithCancel(context.Background())
	defer stopDNS()
	dnsErr := make(chan error, 1)
	if m.cfg.DNSConfig != "" {
		go func() { dnsErr <- network.ServeDNS(dnsCtx, m.cfg.NetNS, m.cfg.DNSConfig) }()
	} else {
		dnsErr <- nil
	}

	ctr, err := m.create()
	if err != nil {
		<-dnsErr
		return m.fail(err)
	}
	if err := <-dnsErr; err != nil {
		ctr.Delete(true)
		return m.fail(fmt.Errorf("start container %s: %w", id, err))
	}
	m.pid = ctr.Pid()
	if m.aborted() {
		ctr.Delete(true)
		return m.fail(errAborted)
	}
	if m.cfg.Log.Path != "" {
		if m.log, err = logfile.NewWriter(m.cfg.Log); err != nil {
			ctr.Delete(true)
			return m.fail(fmt.Errorf("create container %s: %w", id, err))
		}
	}
	// Requests are served once the container and its stdio are there (the
	// ones that came meanwhile wait in the listen queue).
	go m.serve()
	if m.cfg.WaitAttach {
		// Start returns now; the container starts once a client is
		// attached to see its first byte of output.
		m.reportStart(startReport{Pid: m.pid})
		select {
		case <-m.attached:
		case <-time.After(waitAttach):
		}
	} else if m.aborted() {
		ctr.Delete(true)
		return m.fail(errAborted)
	}
	if err := ctr.Start(); err != nil {
		ctr.Delete(true)
		err = fmt.Errorf("start container %s: %w", id, err)
		if m.report != nil {
			return m.fail(err)
		}
		// Start has returned: the failure is how the container ended.
		now := time.Now().UTC()
		m.closeStdio()
		if m.log != nil {
			m.log.Close()
		}
		m.finish(Exit{Code: 255, StartedAt: now, FinishedAt: now, Error: err.Error()})
		return 1
	}
	exit := Exit{StartedAt: time.Now().UTC()}
	stopHealth := m.startHealth(ctr, exit.StartedAt)
	m.startPumps()
	ctx, cancel := context.WithCancel(context.Background())
	if ch, err := ctr.OOMEvents(ctx); err == nil {
		go func() {
			for range ch {
				m.oom.Store(true)
			}
		}()
	}
	m.reportStart(startReport{Pid: m.pid})
	// What starting the container took is garbage now: give it back.
	debug.FreeOSMemory()

	ws, err := waitInit(m.pid)
	exit.FinishedAt = time.Now().UTC()
	stopHealth()
	switch {
	case err != nil:
		exit.Code, exit.Error = 255, fmt.Sprintf("wait for container %s: %v", id, err)
	case ws.Signaled():
		exit.Signal = int(ws.Signal())
		exit.Code = 128 + exit.Signal
	default:
		exit.Code = ws.ExitStatus()
	}
	// The cgroup's own count is the sure word on the OOM killer (the
	// event may still be on its way); it goes with the cgroup, so now.
	if n, err := ctr.OOMKillCount(); err == nil && n > 0 {
		m.oom.Store(true)
	}
	// The container's state and cgroup go, and with the cgroup any process
	// of it that outlived init and still holds the stdio open.
	if err := ctr.Delete(false); err != nil && exit.Error == "" {
		exit.Error = fmt.Sprintf("delete container %s: %v", id, err)
	}
	stopDNS()
	m.drain()
	// By now the OOM watcher has seen an event the kernel sent before init
	// died.
	exit.OOMKilled = m.oom.Load()
	cancel()
	if m.log != nil {
		m.log.Close()
	}
	m.finish(exit)
	return 0
}

// create creates the container with its stdio connected to the monitor.
func (m *monitor) create() (*runtime.Container, error) {
	id := m.cfg.ID
	rt, err := runtime.New(m.cfg.RuntimeRoot)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", id, err)
	}
	rt.Sealed = m.sealed
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", id, err)
	}
	defer null.Close()
	o := runtime.CreateOpts{NoPivot: m.cfg.NoPivot, Stdio: [3]*os.File{null, null, null}}
	var theirs []*os.File // the container's ends, closed here once it has them
	var console *net.UnixListener
	pipe := func() (r, w *os.File, err error) {
		if r, w, err = os.Pipe(); err != nil {
			return nil, nil, fmt.Errorf("create container %s: %w", id, err)
		}
		return r, w, nil
	}
	if m.cfg.Terminal {
		path := filepath.Join(m.dir, consoleSock)
		os.Remove(path)
		if console, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"}); err != nil {
			return nil, fmt.Errorf("create container %s: console socket: %w", id, err)
		}
		defer console.Close() // and removes the socket
		o.ConsoleSocket = path
	} else {
		if m.cfg.Stdin {
			if o.Stdio[0], m.stdin, err = pipe(); err != nil {
				return nil, err
			}
			theirs = append(theirs, o.Stdio[0])
		}
		if m.stdout, o.Stdio[1], err = pipe(); err == nil {
			theirs = append(theirs, o.Stdio[1])
			m.stderr, o.Stdio[2], err = pipe()
			theirs = append(theirs, o.Stdio[2])
		}
		if err != nil {
			closeAll(theirs...)
			m.closeStdio()
			return nil, err
		}
	}
	ctr, err := rt.Create(id, m.cfg.Bundle, o)
	closeAll(theirs...)
	if err != nil {
		m.closeStdio()
		return nil, err
	}
	if console != nil {
		if m.pty, err = receiveMaster(console); err != nil {
			ctr.Delete(true)
			return nil, fmt.Errorf("create container %s: %w", id, err)
		}
		if m.cfg.Stdin {
			m.stdin = m.pty
		}
	}
	return ctr, nil
}

// receiveMaster accepts the runtime's connection on the console socket and
// receives the pty master it sends (the payload is the slave's path).
func receiveMaster(ln *net.UnixListener) (*os.File, error) {
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("receive the pty master: %w", err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive the pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive the pty master: no descriptor sent (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive the pty master: %v", err)
	}
	// Non-blocking, so that reads and writes go through Go's poller and a
	// Close interrupts them.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("receive the pty master: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// waitInit reaps the container's init, our child.
func waitInit(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws, err
		}
	}
}

// aborted reports whether Start has given up on this monitor, while it
// still waits for the report.
func (m *monitor) aborted() bool {
	select {
	case <-m.abort:
		return m.report != nil
	default:
		return false
	}
}

// reportStart tells Start how it went, once.
func (m *monitor) reportStart(r startReport) {
	if m.report == nil {
		return
	}
	data, _ := json.Marshal(r)
	m.report.Write(append(data, '\n')) // EPIPE when Start's caller died: fine
	m.report.Close()
	m.report = nil
}

// fail ends a monitor whose container did not start: Start gets err, and
// the monitor leaves nothing behind.
func (m *monitor) fail(err error) int {
	m.reportStart(startReport{Error: err.Error()})
	m.mu.Lock()
	for c := range m.clients {
		c.kill()
	}
	for w := range m.waiters {
		w.Close()
	}
	m.clients, m.waiters = nil, nil
	m.mu.Unlock()
	m.closeStdio()
	if m.ln != nil {
		m.ln.Close()
	}
	for _, f := range []string{ctlSock, consoleSock, pidFile} {
		os.Remove(filepath.Join(m.dir, f))
	}
	return 1
}

// drain waits until the container's output has been read to its end, for
// at most 5 seconds (a process that escaped the cgroup may hold the stdio
// open), then closes the monitor's ends.
func (m *monitor) drain() {
	done := make(chan struct{})
	go func() {
		m.pumps.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		m.closeStdio() // interrupts the reads
		<-done
	}
	m.closeStdio()
}

// closeStdio closes the monitor's ends of the container's stdio; a write
// to stdin in progress fails.
func (m *monitor) closeStdio() {
	m.stdinClosed.Store(true)
	closeAll(m.stdin, m.stdout, m.stderr, m.pty)
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// finish records the exit, lets attached clients have the last of the
// output, answers every waiter and closes everything.
func (m *monitor) finish(exit Exit) {
	id := m.cfg.ID
	m.mu.Lock()
	m.exit = &exit
	clients, waiters, health := m.clients, m.waiters, m.health
	m.clients, m.waiters = map[*client]struct{}{}, map[*net.UnixConn]struct{}{}
	m.mu.Unlock()

	data, _ := json.Marshal(exit)
	if err := atomicfile.Write(filepath.Join(m.dir, exitFile), data, 0o644); err != nil {
		// Waiters still get the exit below; only a later reader misses it.
		exit.Error = fmt.Sprintf("record exit of %s: %v", id, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c := range clients {
		c.end(deadline)
	}
	for c := range clients {
		<-c.done
	}
	for w := range waiters {
		answer(w, reply{Exit: &exit})
		w.Close()
	}
	if health != nil {
		health.end()
	}
	m.ln.Close()
	os.Remove(filepath.Join(m.dir, ctlSock))
	os.Remove(filepath.Join(m.dir, pidFile))
}

// serve accepts connections on ctl.sock until the listener closes.
func (m *monitor) serve() {
	for {
		conn, err := m.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // out of descriptors, say
			continue
		}
		go m.handle(conn)
	}
}

// handle serves one connection: its request line, then whatever the
// request makes of it.
func (m *monitor) handle(conn *net.UnixConn) {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := readLine(conn)
	var req request
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	switch req.Op {
	case "ping":
		answer(conn, reply{Pid: m.pid})
		conn.Close()
	case "wait":
		m.wait(conn)
	case "attach":
		m.attach(conn, req)
	case "health":
		m.mu.Lock()
		h := m.health
		m.mu.Unlock()
		if h == nil {
			answer(conn, reply{Error: fmt.Sprintf("container %s has no health check running", m.cfg.ID)})
			conn.Close()
			return
		}
		h.watch(conn)
	case "resize":
		var r reply
		if err := m.resize(req.Height, req.Width); err != nil {
			r.Error = err.Error()
		}
		answer(conn, r)
		conn.Close()
	default:
		answer(conn, reply{Error: fmt.Sprintf("unknown request %q", req.Op)})
		conn.Close()
	}
}

// answer writes one reply line.
func answer(conn *net.UnixConn, r reply) error {
	data, _ := json.Marshal(r)
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := conn.Write(append(data, '\n'))
	conn.SetWriteDeadline(time.Time{})
	return err
}

// wait holds conn until the container exits (finish answers it), or until
// the client goes away.
func (m *monitor) wait(conn *net.UnixConn) {
	m.mu.Lock()
	if m.exit != nil {
		e := *m.exit
		m.mu.Unlock()
		answer(conn, reply{Exit: &e})
		conn.Close()
		return
	}
	m.waiters[conn] = struct{}{}
	m.mu.Unlock()
	var b [64]byte
	for {
		if _, err := conn.Read(b[:]); err != nil {
			break
		}
	}
	m.mu.Lock()
	_, mine := m.waiters[conn]
	delete(m.waiters, conn)
	m.mu.Unlock()
	if mine {
		conn.Close()
	}
}

// resize sets the terminal's size.
func (m *monitor) resize(height, width uint) error {
	if !m.cfg.Terminal {
		return fmt.Errorf("resize container %s: it has no terminal", m.cfg.ID)
	}
	ws := &unix.Winsize{Row: uint16(height), Col: uint16(width)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exit != nil {
		return fmt.Errorf("resize container %s: %w", m.cfg.ID, ErrNotRunning)
	}
	if err := setWinsize(m.pty, ws); err != nil {
		return fmt.Errorf("resize container %s: %w", m.cfg.ID, err)
	}
	return nil
}

// setWinsize sets a pty's window size (through SyscallConn: Fd would make
// the file blocking).
func setWinsize(f *os.File, ws *unix.Winsize) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) { ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); err != nil {
		return err
	}
	return ioErr
}
