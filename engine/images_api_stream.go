package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-project/berth/internal/progress"
)

// streamMessage is one line of a pull, push or load stream as dockerd
// writes it: jsonstream.Message plus the two fields moby's type dropped
// but dockerd still sends for older clients, the rendered progress bar and
// the error's text.
type streamMessage struct {
	jsonstream.Message
	ProgressMessage string `json:"progress,omitempty"`
	ErrorMessage    string `json:"error,omitempty"`
}

// jsonStream writes newline-delimited stream messages. It is a
// progress.Sink, so the image service's progress reports become docker's
// per-layer lines. Write errors (the reader went away) are remembered and
// later messages dropped; the operation itself is stopped through its
// context.
type jsonStream struct {
	mu      sync.Mutex
	w       io.Writer
	err     error
	once    sync.Once
	started chan struct{} // closed before the first message is written
	// header, when set, is written once before the first message.
	header func() streamMessage
}

var _ progress.Sink = (*jsonStream)(nil)

func newJSONStream(w io.Writer) *jsonStream {
	return &jsonStream{w: w, started: make(chan struct{})}
}

// isStarted reports whether a message was written (or is being written).
func (s *jsonStream) isStarted() bool {
	select {
	case <-s.started:
		return true
	default:
		return false
	}
}

func (s *jsonStream) send(m streamMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeLocked(m)
}

func (s *jsonStream) writeLocked(m streamMessage) {
	first := false
	s.once.Do(func() { close(s.started); first = true })
	if first && s.header != nil {
		s.writeLocked(s.header())
	}
	if s.err != nil {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		s.err = err
		return
	}
	_, s.err = s.w.Write(append(b, '\n'))
}

// status writes a line with a status and no id ("Digest: sha256:...").
func (s *jsonStream) status(text string) {
	s.send(streamMessage{Message: jsonstream.Message{Status: text}})
}

// stream writes a line of text output ({"stream":"Loaded image: x\n"}).
func (s *jsonStream) stream(text string) {
	s.send(streamMessage{Message: jsonstream.Message{Stream: text}})
}

// aux writes an out-of-band value, as push does with each tag's digest.
func (s *jsonStream) aux(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	raw := json.RawMessage(b)
	s.send(streamMessage{Message: jsonstream.Message{Progress: &jsonstream.Progress{}, Aux: &raw}})
}

// fail writes the final error line.
func (s *jsonStream) fail(err error) {
	msg := err.Error()
	je := &jsonstream.Error{Message: msg}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		je.Code = coded.ExitCode()
	}
	s.send(streamMessage{Message: jsonstream.Message{Error: je}, ErrorMessage: msg})
}

// Update writes a per-item progress line, as dockerd's progress output
// does: progressDetail always (empty when the status has no byte count),
// and the rendered bar beside a byte count.
func (s *jsonStream) Update(id, status string, current, total int64) {
	m := streamMessage{Message: jsonstream.Message{ID: id, Status: status, Progress: &jsonstream.Progress{}}}
	if current > 0 || total > 0 {
		m.Progress = &jsonstream.Progress{Current: current, Total: total}
		m.ProgressMessage = progressBar(current, total)
	}
	s.send(m)
}

// progressBar renders a byte count as dockerd's "progress" field does:
// "[=====>          ]  1.23MB/4.56MB".
func progressBar(current, total int64) string {
	if total <= 0 {
		return fmt.Sprintf("%8s", progress.HumanSize(current))
	}
	n := int(float64(current) / float64(total) * 100 / 2)
	n = min(max(n, 0), 50)
	bar := "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", max(50-n-1, 0)) + "] "
	if n == 50 {
		bar = "[" + strings.Repeat("=", 50) + "] "
	}
	return bar + fmt.Sprintf("%8s/%s", progress.HumanSize(current), progress.HumanSize(total))
}

// streamReader is the reading end of an operation's stream; closing it
// stops the operation.
type streamReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *streamReader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}

// runStream runs op in the background, writing its messages to a pipe,
// and returns the pipe's reading end as soon as op wrote its first
// message: the stream then carries everything else, an error included (as
// a final errorDetail line). When op fails before it wrote anything, its
// error is returned instead and there is no stream, as dockerd answers
// with an HTTP error when it has not started its response. Closing the
// reader cancels op's context.
func runStream(ctx context.Context, header func() streamMessage, op func(ctx context.Context, s *jsonStream) error) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	s := newJSONStream(pw)
	s.header = header
	done := make(chan error, 1)
	go func() {
		err := op(ctx, s)
		if err != nil && s.isStarted() {
			s.fail(err)
		}
		done <- err
		pw.Close()
	}()
	select {
	case <-s.started:
		return &streamReader{PipeReader: pr, cancel: cancel}, nil
	case err := <-done:
		if err != nil && !s.isStarted() {
			cancel()
			pr.Close()
			return nil, err
		}
		return &streamReader{PipeReader: pr, cancel: cancel}, nil
	}
}
