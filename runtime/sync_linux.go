package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// syncPipe is the socket between the runtime and `berth init`: newline
// delimited messages, first the plain lines of the C stage (runtime/nsenter),
// then JSON messages.
type syncPipe struct {
	f *os.File
	r *bufio.Reader
}

func newSyncPipe(f *os.File) *syncPipe {
	return &syncPipe{f: f, r: bufio.NewReaderSize(f, 4096)}
}

// message is a JSON message on the sync pipe.
type message struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
}

// Message types.
const (
	msgHooks       = "hooks"        // init -> runtime: run prestart and createRuntime hooks now
	msgHooksDone   = "hooks-done"   // runtime -> init
	msgReady       = "ready"        // init -> runtime: waiting on the exec fifo
	msgError       = "error"        // init -> runtime
	msgCgroupReady = "cgroup-ready" // runtime -> init: in its cgroup, limits set
)

func (p *syncPipe) line() (string, error) {
	s, err := p.r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && s == "" {
			return "", io.EOF
		}
		return "", err
	}
	return strings.TrimSuffix(s, "\n"), nil
}

func (p *syncPipe) writeJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	_, err = p.f.Write(data)
	return err
}

func (p *syncPipe) readJSON(v any) error {
	l, err := p.line()
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(l), v); err != nil {
		return fmt.Errorf("decode sync message %q: %w", l, err)
	}
	return nil
}

// readMessage reads the next message from init; an error message from init
// becomes the returned error.
func (p *syncPipe) readMessage() (string, error) {
	var m message
	if err := p.readJSON(&m); err != nil {
		return "", err
	}
	if m.Type == msgError {
		return "", &InitError{Msg: m.Error}
	}
	return m.Type, nil
}

// InitError is an error reported by `berth init` from inside the container.
type InitError struct{ Msg string }

func (e *InitError) Error() string { return e.Msg }
