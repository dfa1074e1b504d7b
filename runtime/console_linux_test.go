package runtime_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// consoleSocket listens on a unix socket as a runc caller does and receives
// the pty master that the runtime sends on it.
type consoleSocket struct {
	path string
	got  chan consoleMaster
}

type consoleMaster struct {
	master *os.File
	name   string // the payload: the slave's path in the container
	err    error
}

// master waits for the pty master to arrive on the socket.
func (cs *consoleSocket) master(t *testing.T) consoleMaster {
	t.Helper()
	var m consoleMaster
	select {
	case m = <-cs.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no pty master received on the console socket")
	}
	if m.err != nil {
		t.Fatalf("receive pty master: %v", m.err)
	}
	return m
}

// collect copies what the container writes on the pty into a buffer, until
// the read fails with EIO once the container's last holder of the slave is gone.
func (m consoleMaster) collect() *lockedBuffer {
	out := &lockedBuffer{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := m.master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return out
}

func listenConsole(t *testing.T) *consoleSocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cs := &consoleSocket{path: path, got: make(chan consoleMaster, 1)}
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			cs.got <- consoleMaster{err: err}
			return
		}
		defer conn.Close()
		f, err := conn.File()
		if err != nil {
			cs.got <- consoleMaster{err: err}
			return
		}
		defer f.Close()
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := unix.Recvmsg(int(f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			cs.got <- consoleMaster{err: err}
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			cs.got <- consoleMaster{err: err}
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			cs.got <- consoleMaster{err: err}
			return
		}
		cs.got <- consoleMaster{master: os.NewFile(uintptr(fds[0]), "pty-master"), name: string(buf[:n])}
	}()
	return cs
}

// lockedBuffer collects what a goroutine reads while the test polls it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestConsoleSocket(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "sh", "-c", "tty; stat -c %t:%T /dev/console; busybox stty size; echo done")
	b.spec.Process.Terminal = true
	b.spec.Process.ConsoleSize = &specs.Box{Height: 24, Width: 100}
	b.save(t)
	const id = "t-console"
	e.cleanup(id)
	cs := listenConsole(t)
	e.ok("create", "--bundle", b.dir, "--console-socket", cs.path, id)
	m := cs.master(t)
	defer m.master.Close()
	if m.name != "/dev/pts/0" {
		t.Errorf("console socket payload %q, want /dev/pts/0", m.name)
	}
	out := m.collect()
	e.ok("start", id)
	waitFor(t, func() bool { return strings.Contains(out.String(), "done") })
	got := strings.ReplaceAll(out.String(), "\r", "")
	// The slave is the container's terminal and is bound over /dev/console
	// (136 = 0x88 is the pty slave major); it has the spec's consoleSize.
	if want := "/dev/pts/0\n88:0\n24 100\ndone\n"; !strings.HasPrefix(got, want) {
		t.Errorf("output on the pty %q, want %q", got, want)
	}
	e.ok("delete", "--force", id)
}

func TestConsoleErrors(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "true")
	b.spec.Process.Terminal = true
	b.save(t)
	const id = "t-console-err"
	e.fails("cannot allocate tty if runc will detach without setting console socket", "create", "--bundle", b.dir, id)
	checkNoLeftovers(t, e.root, id)
	e.fails("cannot allocate tty if runc will detach without setting console socket", "run", "-d", "--bundle", b.dir, id)
	checkNoLeftovers(t, e.root, id)

	b.spec.Process.Terminal = false
	b.save(t)
	cs := listenConsole(t)
	e.fails("cannot use console socket if runc will not detach or allocate tty", "create", "--bundle", b.dir, "--console-socket", cs.path, id)
	checkNoLeftovers(t, e.root, id)
}

// TestRunTerminalForeground: a foreground run with process.terminal and no
// console socket proxies its own pty to stdout.
func TestRunTerminalForeground(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t, "sh", "-c", "tty; echo hello from the pty; exit 3")
	b.spec.Process.Terminal = true
	b.save(t)
	const id = "t-run-tty"
	e.cleanup(id)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	r := e.berthIn(devnull, "run", "--bundle", b.dir, id)
	// Plain newlines, as runc gives: berth turns off the pty's ONLCR
	// before the process runs.
	if r.code != 3 || r.stdout != "/dev/pts/0\nhello from the pty\n" {
		t.Fatalf("run with terminal: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	checkNoLeftovers(t, e.root, id)

	// With a terminal as stdin, the container's pty has its size from the start.
	_, slave := openPty(t, 21, 63)
	b.spec.Process.Args = []string{"busybox", "stty", "size"}
	b.save(t)
	r = e.berthIn(slave, "run", "--bundle", b.dir, id)
	if out := strings.TrimSpace(strings.ReplaceAll(r.stdout, "\r", "")); r.code != 0 || out != "21 63" {
		t.Errorf("stty size in the container: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	checkNoLeftovers(t, e.root, id)
}

// openPty opens a new pty pair of the host with the given window size.
func openPty(t *testing.T, rows, cols uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestExecTerminalSize: with a terminal as stdin, `exec -t` gives the
// container's pty the same window size, and puts ours back as it was.
func TestExecTerminalSize(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	const id = "t-exec-winsize"
	e.startSleeper(b, id)
	_, slave := openPty(t, 33, 77)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	r := e.berthIn(slave, "exec", "-t", id, "busybox", "stty", "size")
	if out := strings.TrimSpace(strings.ReplaceAll(r.stdout, "\r", "")); r.code != 0 || out != "33 77" {
		t.Errorf("stty size in the container: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag != after.Lflag || before.Iflag != after.Iflag || before.Oflag != after.Oflag {
		t.Errorf("terminal modes not restored: %+v, were %+v", after, before)
	}
}

// TestExecConsoleSocket: a detached `exec -t` sends the master of a new pty
// of the container's devpts to the console socket.
func TestExecConsoleSocket(t *testing.T) {
	e := newEnv(t)
	b := newBundle(t)
	const id = "t-exec-console"
	e.startSleeper(b, id)
	cs := listenConsole(t)
	e.ok("exec", "-d", "-t", "--console-socket", cs.path, id, "sh", "-c", "tty; echo done")
	m := cs.master(t)
	defer m.master.Close()
	out := m.collect()
	waitFor(t, func() bool { return strings.Contains(out.String(), "done") })
	if got, want := strings.ReplaceAll(out.String(), "\r", ""), m.name+"\ndone\n"; got != want || !strings.HasPrefix(m.name, "/dev/pts/") {
		t.Errorf("output on the pty %q, want %q", got, want)
	}
	e.fails("cannot allocate tty if runc will detach without setting console socket", "exec", "-d", "-t", id, "true")
}
