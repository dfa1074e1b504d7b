package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/progress"
)

// showJSONStream renders a pull, push or load stream (newline-delimited
// jsonstream messages) to out as docker does: messages about an ID (a
// layer) as one line per ID, redrawn in place on a terminal and a line per
// status change elsewhere; other messages as lines of their own. aux, when
// set, gets each message's out-of-band data. The stream's first error is
// returned.
func showJSONStream(r io.Reader, out io.Writer, aux func(json.RawMessage)) error {
	return renderJSONStream(r, out, jsonRender{aux: aux, what: "progress"})
}

// jsonRender tunes renderJSONStream.
type jsonRender struct {
	first func()                        // runs before the first message is shown (or at the end of an empty stream)
	aux   func(json.RawMessage)         // gets each message's out-of-band data
	fail  func(*jsonstream.Error) error // the error an error line ends the stream with (its message when nil)
	what  string                        // what the stream is, for a read error
}

// renderJSONStream is showJSONStream with the knobs a build's stream needs.
func renderJSONStream(r io.Reader, out io.Writer, o jsonRender) error {
	dec := json.NewDecoder(r)
	var d *progress.Display
	closeDisplay := func() {
		if d != nil {
			d.Close()
			d = nil
		}
	}
	defer closeDisplay()
	started := false
	start := func() {
		if !started && o.first != nil {
			o.first()
		}
		started = true
	}
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			start()
			return nil
		} else if err != nil {
			return fmt.Errorf("read the daemon's %s: %w", o.what, err)
		}
		start()
		if m.Error != nil {
			closeDisplay()
			if o.fail != nil {
				return o.fail(m.Error)
			}
			return errors.New(m.Error.Message)
		}
		if m.Aux != nil && o.aux != nil {
			o.aux(*m.Aux)
		}
		switch {
		case m.ID != "" && m.Status != "":
			if d == nil {
				d = progress.New(out)
			}
			var cur, total int64
			if m.Progress != nil {
				cur, total = m.Progress.Current, m.Progress.Total
			}
			d.Update(m.ID, m.Status, cur, total)
		case m.Stream != "":
			closeDisplay()
			io.WriteString(out, m.Stream)
		case m.Status != "":
			closeDisplay()
			fmt.Fprintln(out, m.Status)
		}
	}
}

// errDetached: the user typed the detach keys.
var errDetached = errors.New("detached")

// defaultDetachKeys are docker's: ctrl-p, ctrl-q.
const defaultDetachKeys = "ctrl-p,ctrl-q"

// parseDetachKeys reads docker's key sequence syntax: comma-separated keys,
// each a single character or ctrl-<char> (ctrl-a..ctrl-z, ctrl-@, ctrl-[,
// ctrl-\, ctrl-], ctrl-^, ctrl-_).
func parseDetachKeys(s string) ([]byte, error) {
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			keys = append(keys, k[0])
		case strings.HasPrefix(strings.ToLower(k), "ctrl-") && len(k) == 6:
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				keys = append(keys, c-'a'+1)
			case c >= 'A' && c <= 'Z':
				keys = append(keys, c-'A'+1)
			case c == '@':
				keys = append(keys, 0)
			case c >= '[' && c <= '_':
				keys = append(keys, c-'['+27)
			default:
				return nil, fmt.Errorf("Unknown character: '%s'", k)
			}
		default:
			return nil, fmt.Errorf("Unknown character: '%s'", k)
		}
	}
	return keys, nil
}

// escapeReader passes r through until the detach key sequence has been
// read, then fails with errDetached. Bytes that may start the sequence are
// held back until it is clear they are not it (or r ends).
type escapeReader struct {
	r       io.Reader
	keys    []byte
	matched int
	pending []byte
	err     error
}

func (e *escapeReader) Read(p []byte) (int, error) {
	for {
		if len(e.pending) > 0 {
			n := copy(p, e.pending)
			e.pending = e.pending[n:]
			return n, nil
		}
		if e.err != nil {
			return 0, e.err
		}
		buf := make([]byte, max(len(p), 1))
		n, err := e.r.Read(buf)
		for _, b := range buf[:n] {
			if b == e.keys[e.matched] {
				e.matched++
				if e.matched == len(e.keys) {
					e.matched, e.err = 0, errDetached
					break
				}
				continue
			}
			// A partial match that broke off: those bytes were input.
			e.pending = append(e.pending, e.keys[:e.matched]...)
			e.matched = 0
			if b == e.keys[0] {
				e.matched = 1
				continue
			}
			e.pending = append(e.pending, b)
		}
		if err != nil && e.err == nil {
			e.pending = append(e.pending, e.keys[:e.matched]...)
			e.matched, e.err = 0, err
		}
	}
}

// streamIO says how a hijacked stream meets the terminal.
type streamIO struct {
	in         io.Reader // nil: stdin not attached
	out, err   io.Writer // nil: discard
	tty        bool      // raw bytes (no stdcopy frames)
	detachKeys []byte    // nil: no client-side detach
}

// attachStdin makes stdin the stream's input when withStdin, and with a
// TTY puts the terminal in raw mode and watches for the detach keys. The
// returned function restores the terminal.
func (o *streamIO) attachStdin(stdin io.Reader, withStdin bool, keys []byte) (restore func()) {
	if !withStdin {
		return func() {}
	}
	o.in = stdin
	if !o.tty {
		return func() {}
	}
	o.detachKeys = keys
	return rawTerminal(stdin)
}

// pump copies a hijacked stream until its output ends: stdin to the
// stream (closing the container's stdin at EOF), the stream's output to
// out and err. It returns errDetached when the user typed the detach keys,
// and ctx's error when ctx ends first.
func pump(ctx context.Context, s engine.Stream, o streamIO) error {
	stdout, stderr := o.out, o.err
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	outDone := make(chan error, 1)
	go func() {
		var err error
		if o.tty {
			_, err = io.Copy(stdout, s)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, s)
		}
		outDone <- err
	}()
	inDone := make(chan error, 1)
	if o.in != nil {
		go func() {
			in := o.in
			if len(o.detachKeys) > 0 {
				in = &escapeReader{r: in, keys: o.detachKeys}
			}
			_, err := io.Copy(s, in)
			if errors.Is(err, errDetached) {
				inDone <- errDetached
				return
			}
			s.CloseWrite()
			inDone <- nil
		}()
	}
	for {
		select {
		case err := <-outDone:
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				err = nil
			}
			return err
		case err := <-inDone:
			if err != nil {
				s.Close()
				return err
			}
			inDone = nil // stdin is done; the output goes on
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		}
	}
}

// checkTTY refuses -t with an attached stdin that is not a terminal, as
// docker does.
func checkTTY(in io.Reader, attachStdin, tty bool) error {
	if attachStdin && tty && !isTerminal(in) {
		return errors.New("the input device is not a TTY")
	}
	return nil
}

// demux splits a multiplexed stream (logs of a container without a TTY)
// into out and err; a TTY container's stream is copied as is.
func demux(out, errOut io.Writer, r io.Reader, tty bool) error {
	var err error
	if tty {
		_, err = io.Copy(out, r)
	} else {
		_, err = stdcopy.StdCopy(out, errOut, r)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
