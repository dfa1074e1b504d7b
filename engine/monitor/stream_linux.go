package monitor

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// readBuf is what a pump reads at once, and the longest line logged as
	// one entry (docker's 16 KiB: longer lines are split into partial
	// entries).
	readBuf = 16 << 10
	// maxQueued is the output an attached client may fall behind by
	// before it is dropped, so that a slow reader holds up neither the
	// container nor the other clients. A reader that is only descheduled
	// for a moment on a busy host must not be taken for a slow one.
	maxQueued = 1 << 20
	// keptBuf is the largest client buffer kept for reuse.
	keptBuf = 32 << 10
)

// Streams as numbered in docker's stdcopy framing.
const (
	streamStdout = 1
	streamStderr = 2
)

// startPumps starts copying the container's output to the log and to the
// attached clients.
func (m *monitor) startPumps() {
	if m.pty != nil {
		m.pumps.Add(1)
		go m.pump(m.pty, "stdout", streamStdout)
		return
	}
	m.pumps.Add(2)
	go m.pump(m.stdout, "stdout", streamStdout)
	go m.pump(m.stderr, "stderr", streamStderr)
}

// pump reads one output stream to its end. Each read goes to the clients
// as it comes; the log gets it cut into lines (a line longer than the
// buffer, or the rest at the end, as a partial entry without newline).
func (m *monitor) pump(f *os.File, name string, stream byte) {
	defer m.pumps.Done()
	buf := make([]byte, readBuf)
	n := 0 // bytes of an unfinished line at the start of buf
	var t time.Time
	for {
		k, err := f.Read(buf[n:])
		if k > 0 {
			t = time.Now()
			m.broadcast(stream, buf[n:n+k])
			n = m.logLines(name, buf, n+k, t)
		}
		if err != nil {
			// EOF; EIO from a pty whose other side is all closed; or a
			// closed file when drain gave up.
			if n > 0 {
				m.log.Write(name, buf[:n], t)
			}
			return
		}
	}
}

// logLines logs each whole line in buf[:n] and moves what is left to the
// start of buf, returning its length. A full buffer without a newline is
// logged as it is.
func (m *monitor) logLines(name string, buf []byte, n int, t time.Time) int {
	if m.log == nil {
		return 0
	}
	start := 0
	for {
		i := bytes.IndexByte(buf[start:n], '\n')
		if i < 0 {
			break
		}
		m.log.Write(name, buf[start:start+i+1], t)
		start += i + 1
	}
	if start == 0 && n == len(buf) {
		m.log.Write(name, buf, t)
		return 0
	}
	return copy(buf, buf[start:n])
}

// broadcast queues p for every attached client that wants stream.
func (m *monitor) broadcast(stream byte, p []byte) {
	m.mu.Lock()
	for c := range m.clients {
		c.send(stream, p)
	}
	m.mu.Unlock()
}

// client is one attached connection.
type client struct {
	m      *monitor
	conn   *net.UnixConn
	req    request
	framed bool // stdcopy headers (no terminal)

	mu     sync.Mutex
	cond   sync.Cond
	queue  []byte // output not yet written
	spare  []byte
	ending bool // no more output comes: write the queue, then close
	dead   bool
	done   chan struct{} // closed when the writer has stopped
}

// attach registers conn as a client, answers it, and serves its stdin.
func (m *monitor) attach(conn *net.UnixConn, req request) {
	c := &client{m: m, conn: conn, req: req, framed: !m.cfg.Terminal, done: make(chan struct{})}
	c.cond.L = &c.mu
	m.mu.Lock()
	if m.exit != nil {
		m.mu.Unlock()
		answer(conn, reply{Error: "container " + m.cfg.ID + " is not running"})
		conn.Close()
		return
	}
	// Registered before the answer: output from now on is queued for it
	// (and written after the answer, by the writer started below).
	m.clients[c] = struct{}{}
	m.mu.Unlock()
	if err := answer(conn, reply{}); err != nil {
		c.kill()
		m.removeClient(c)
		close(c.done)
		return
	}
	m.attachOnce.Do(func() { close(m.attached) })
	go c.writer()
	if req.Stdin {
		m.copyStdin(conn)
	} else {
		io.Copy(io.Discard, conn) // until the client goes (or half-closes)
	}
}

// copyStdin passes what the client writes to the container's stdin. When
// the client's stdin ends and the container has StdinOnce, the container's
// stdin is closed.
func (m *monitor) copyStdin(conn *net.UnixConn) {
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			m.stdinMu.Lock()
			if !m.stdinClosed.Load() && m.stdin != nil {
				if _, werr := m.stdin.Write(buf[:n]); werr != nil {
					m.stdinClosed.Store(true) // the container closed its stdin
				}
			}
			m.stdinMu.Unlock()
		}
		if err != nil {
			if err == io.EOF && m.cfg.StdinOnce {
				m.closeStdin()
			}
			return
		}
	}
}

// closeStdin ends the container's stdin: the pipe is closed; a terminal
// gets its end-of-file character (^D), as a user would type it.
func (m *monitor) closeStdin() {
	if m.stdin == nil || m.stdinClosed.Swap(true) {
		return
	}
	if m.pty == nil {
		m.stdin.Close() // a write in progress fails
		return
	}
	m.stdinMu.Lock() // after the writes in progress
	defer m.stdinMu.Unlock()
	eof := byte(4)
	if rc, err := m.pty.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			if t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS); err == nil && t.Cc[unix.VEOF] != 0 {
				eof = t.Cc[unix.VEOF]
			}
		})
	}
	m.pty.Write([]byte{eof})
}

func (m *monitor) removeClient(c *client) {
	m.mu.Lock()
	delete(m.clients, c)
	m.mu.Unlock()
}

// send queues p (framed for stream unless on a terminal) if the client
// asked for stream. A client that has fallen maxQueued behind is dropped.
func (c *client) send(stream byte, p []byte) {
	if stream == streamStdout && !c.req.Stdout || stream == streamStderr && !c.req.Stderr {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.ending {
		return
	}
	size := len(p)
	if c.framed {
		size += 8
	}
	if len(c.queue)+size > maxQueued {
		c.killLocked()
		return
	}
	if c.framed {
		var h [8]byte
		h[0] = stream
		binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
		c.queue = append(c.queue, h[:]...)
	}
	c.queue = append(c.queue, p...)
	c.cond.Signal()
}

// writer writes the client's queue to its connection until it is dropped
// or has ended.
func (c *client) writer() {
	defer close(c.done)
	defer c.m.removeClient(c)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.ending && !c.dead {
			c.cond.Wait()
		}
		if c.dead {
			c.mu.Unlock()
			return
		}
		if len(c.queue) == 0 { // ending, and all written
			c.dead = true
			c.mu.Unlock()
			c.conn.Close()
			return
		}
		buf := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.mu.Unlock()

		_, err := c.conn.Write(buf)

		c.mu.Lock()
		if cap(buf) <= keptBuf {
			c.spare = buf[:0]
		}
		if err != nil {
			c.killLocked()
		}
		c.mu.Unlock()
	}
}

// end says no more output comes: the writer writes what is queued (until
// deadline at the latest) and closes the connection.
func (c *client) end(deadline time.Time) {
	c.conn.SetWriteDeadline(deadline)
	c.mu.Lock()
	c.ending = true
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *client) kill() {
	c.mu.Lock()
	c.killLocked()
	c.mu.Unlock()
}

func (c *client) killLocked() {
	if c.dead {
		return
	}
	c.dead = true
	c.queue, c.spare = nil, nil
	c.conn.Close()
	c.cond.Broadcast()
}
