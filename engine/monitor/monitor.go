package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-project/berth/engine/logfile"
)

// Config is what a monitor needs to run one container. Start writes it to
// Dir/config.json for the monitor process.
type Config struct {
	ID          string `json:"id"`          // container ID = runtime ID
	Bundle      string `json:"bundle"`      // OCI bundle dir (config.json, rootfs path inside)
	RuntimeRoot string `json:"runtimeRoot"` // runtime state root
	// Dir is the monitor's directory: ctl.sock, exit.json, monitor.pid,
	// config.json. Keep it short: unix socket paths are limited to 107 bytes.
	Dir string `json:"dir"`
	// Sealed is a sealed copy of the berth binary (runtime.SealedCopy)
	// the monitor starts the inits of its execs (health probes) from; it
	// is passed as the monitor's fd 4, so each probe does not copy the
	// binary. Optional: without it each exec makes its own copy.
	Sealed *os.File `json:"-"`
	// Terminal: spec.Process.Terminal; the monitor gets the pty master
	// through the runtime's console socket.
	Terminal bool `json:"terminal,omitempty"`
	// Stdin keeps a stdin pipe to the container (docker -i / OpenStdin);
	// without it the container's stdin is /dev/null.
	Stdin bool `json:"stdin,omitempty"`
	// StdinOnce closes the container's stdin when the first attached
	// stdin closes.
	StdinOnce bool `json:"stdinOnce,omitempty"`
	// Log is the json-file log; Path "" means no log (driver "none").
	Log     logfile.WriterConfig `json:"log"`
	NoPivot bool                 `json:"noPivot,omitempty"`
	// WaitAttach: Start returns once the container is created (its init
	// waits to exec), and the monitor starts it at the first Attach (or
	// after 10 s without one), so that a client attached right after
	// Start returns sees the container's output from its first byte. A
	// failure to start then is reported by Wait: code 255 and the error.
	WaitAttach bool `json:"waitAttach,omitempty"`
	// NetNS is the path of the container's network namespace.
	NetNS string `json:"netns,omitempty"`
	// DNSConfig is the path of the container's DNS config
	// (network.DNSConfig). When set, the monitor runs the container's
	// embedded DNS server (network.ServeDNS) in NetNS from before it
	// creates the container until the container has exited; a server
	// that cannot be set up fails the start.
	DNSConfig string `json:"dnsConfig,omitempty"`
	// Health is the container's health check, run by the monitor while
	// the container runs (see HealthCheck); nil: none.
	Health *HealthCheck `json:"health,omitempty"`
}

// Exit is how the container ended, as the monitor saw it.
type Exit struct {
	Code       int       `json:"code"`                // exit status, or 128+signal
	Signal     int       `json:"signal,omitempty"`    // the signal that killed it
	OOMKilled  bool      `json:"oomKilled,omitempty"` // best effort (cgroup OOM event seen)
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	Error      string    `json:"error,omitempty"` // what went wrong cleaning up
}

// AttachOptions says which streams an Attach connects to.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
}

// Conn is an attached connection (a *net.UnixConn): reads give the output,
// in docker's stdcopy framing unless the container has a terminal; writes
// go to the container's stdin; CloseWrite ends this client's stdin.
type Conn interface {
	io.ReadWriteCloser
	CloseWrite() error
}

var (
	// ErrLost: neither a live monitor nor a recorded exit; the engine
	// records the container as dead (exit code 255).
	ErrLost = errors.New("container monitor lost: no monitor answers and no exit was recorded")
	// ErrNotRunning: no monitor answers in the directory (Attach, Resize).
	ErrNotRunning = errors.New("container is not running")
)

// Files in a monitor's directory.
const (
	ctlSock     = "ctl.sock"     // requests: one JSON line per connection
	consoleSock = "console.sock" // the runtime sends the pty master here
	exitFile    = "exit.json"
	pidFile     = "monitor.pid"
	configFile  = "config.json"
)

// request is the one line a client sends on a new ctl.sock connection.
type request struct {
	Op     string `json:"op"` // wait, attach, resize, ping, health
	Stdin  bool   `json:"stdin,omitempty"`
	Stdout bool   `json:"stdout,omitempty"`
	Stderr bool   `json:"stderr,omitempty"`
	Height uint   `json:"height,omitempty"`
	Width  uint   `json:"width,omitempty"`
}

// reply is the one line the monitor answers (for wait: once the container
// has exited; for attach: before the stream starts).
type reply struct {
	Error string `json:"error,omitempty"`
	Pid   int    `json:"pid,omitempty"` // ping: the container's init
	Exit  *Exit  `json:"exit,omitempty"`
	// Health is the health status (for health: now, then at each change).
	Health string `json:"health,omitempty"`
}

// startReport is what the monitor tells Start, once.
type startReport struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// maxLine bounds a request or reply line.
const maxLine = 4096

// readLine reads one newline-terminated line a byte at a time, so that
// nothing after it (the attached stream) is consumed.
func readLine(r io.Reader) ([]byte, error) {
	var line []byte
	var b [1]byte
	for len(line) < maxLine {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return line, nil
			}
			line = append(line, b[0])
			continue
		}
		if err == nil {
			continue
		}
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return nil, errors.New("line too long")
}

// ReadExit reads dir/exit.json; ok is false when there is none.
func ReadExit(dir string) (e Exit, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, exitFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return e, false, nil
		}
		return e, false, fmt.Errorf("read exit of container in %s: %w", dir, err)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, false, fmt.Errorf("parse %s: %w", filepath.Join(dir, exitFile), err)
	}
	return e, true, nil
}
