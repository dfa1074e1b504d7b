package logfile

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ReadOptions choose what Read returns and how.
type ReadOptions struct {
	Stdout, Stderr bool
	// Since and Until bound the entries by time, both inclusive; zero is
	// unset. Reading ends at the first entry after Until.
	Since, Until time.Time
	// Tail is how many of the last entries to start with, counted across
	// the rotated files and both streams (as docker counts); -1 is all.
	Tail int
	// Follow keeps reading as the file grows and across rotation until ctx
	// ends, Stop is closed or Until passes.
	Follow bool
	// Timestamps prefixes each entry with its time (RFC3339 with nine
	// fractional digits, as docker prints it) and a space.
	Timestamps bool
	// Details prefixes each entry with its attributes ("k=v,k2=v2") and a
	// space, as docker does; entries without attributes get the space.
	Details bool
	// Raw writes the entries' bytes without stdcopy framing (TTY
	// containers, whose output is one stream).
	Raw bool
	// Stop is closed when the container exited: a following Read drains
	// what is left, across a rotation too, and ends.
	Stop <-chan struct{}
}

// stdcopy's stream bytes, the first byte of each frame's 8-byte header.
const (
	frameStdout = 1
	frameStderr = 2
)

// maxLine bounds one line of the file; a longer one (not something docker
// or our writer produce: they split entries at 16 KiB) is skipped.
const maxLine = 4 << 20

// timestampLayout is how docker prints --timestamps: RFC3339 with all nine
// fractional digits, so the columns line up.
const timestampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// entry is one line of a json-file log.
type entry struct {
	Log    string            `json:"log"`
	Stream string            `json:"stream"`
	Time   time.Time         `json:"time"`
	Attrs  map[string]string `json:"attrs,omitempty"`
}

// Read streams the log at path (with its rotated files PATH.1, PATH.2, ...,
// also gzip-compressed PATH.N.gz as docker's compress option leaves them) in
// docker's wire format: each entry's bytes in a stdcopy frame of its
// stream, or raw with o.Raw. A missing log is empty output; a missing
// directory is an error. Entries that do not parse (a corrupt line) are
// skipped; an incomplete last line is waited for when following, dropped
// otherwise. Following assumes, as docker's reader does, that the writer
// no longer writes to a file once it renamed it. Closing the reader ends
// the stream and waits until Read has let go of the files.
func Read(ctx context.Context, path string, o ReadOptions) (io.ReadCloser, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read log %s: %w", path, err)
	}
	files, err := openFiles(path)
	if err != nil {
		return nil, err
	}
	r := &reader{path: path, o: o}
	follow := o.Follow && (o.Until.IsZero() || o.Until.After(time.Now()))
	if follow {
		// Watch before reading so that no write after the first read
		// goes unnoticed.
		if r.watch, err = watchDir(dir); err != nil {
			r.watch = nil // poll instead
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	r.out = pw
	// An ended ctx ends the stream (EOF) even while a write waits for the
	// consumer.
	stopAfter := context.AfterFunc(ctx, func() { pw.Close() })
	s := &stream{PipeReader: pr, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer stopAfter()
		err := r.run(ctx, files, follow)
		for _, f := range files {
			f.close()
		}
		if r.watch != nil {
			r.watch.Close()
		}
		if errors.Is(err, io.ErrClosedPipe) || ctx.Err() != nil {
			err = nil
		}
		pw.CloseWithError(err)
		cancel() // a consumer that read to the end need not Close
	}()
	return s, nil
}

// stream is what Read returns.
type stream struct {
	*io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (s *stream) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.PipeReader.Close()
		<-s.done
	})
	return nil
}

// source is one file of the log as Read found it.
type source struct {
	name    string
	f       *os.File
	gz      bool
	current bool // PATH itself, the file being written
}

func (s *source) close() {
	if s.f != nil {
		s.f.Close()
	}
}

// openFiles opens the log's files, oldest first (PATH.N ... PATH.1, PATH),
// and checks that no rotation moved them meanwhile (else it tries again).
func openFiles(path string) ([]*source, error) {
	var files []*source
	for range 5 {
		var err error
		files, err = tryOpenFiles(path)
		if err != nil {
			return nil, err
		}
		if unmoved(files) {
			break
		}
		for _, f := range files {
			f.close()
		}
	}
	return files, nil
}

func tryOpenFiles(path string) ([]*source, error) {
	var files []*source
	fail := func(err error) ([]*source, error) {
		for _, f := range files {
			f.close()
		}
		return nil, fmt.Errorf("read log %s: %w", path, err)
	}
	f, err := os.Open(path)
	switch {
	case err == nil:
		files = append(files, &source{name: path, f: f, current: true})
	case !errors.Is(err, fs.ErrNotExist):
		return fail(err)
	}
	for k := 1; ; k++ {
		name := path + "." + strconv.Itoa(k)
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			name += ".gz"
			f, err = os.Open(name)
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
		}
		if err != nil {
			return fail(err)
		}
		files = append(files, &source{name: name, f: f, gz: strings.HasSuffix(name, ".gz")})
	}
	slices.Reverse(files)
	return files, nil
}

// unmoved reports whether each file is still under the name it was opened by.
func unmoved(files []*source) bool {
	for _, s := range files {
		if !sameFile(s.f, s.name) {
			return false
		}
	}
	return true
}

func sameFile(f *os.File, name string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(name)
	return err == nil && os.SameFile(a, b)
}

// reader holds the state of one Read.
type reader struct {
	path  string
	o     ReadOptions
	out   *io.PipeWriter
	watch watcher
	buf   []byte
}

// run writes the history (tail, since) and then, when following, what comes.
func (r *reader) run(ctx context.Context, files []*source, follow bool) error {
	start, at, err := r.tailStart(files)
	if err != nil {
		return err
	}
	var cur *tailer
	for i := start; i < len(files); i++ {
		s := files[i]
		var off int64
		if i == start {
			off = at
		}
		var done bool
		if s.current {
			if cur, err = newTailer(s.name, s.f, off); err != nil {
				return err
			}
			done, err = cur.drain(r.line)
		} else {
			done, err = r.readRotated(s, off)
		}
		if err != nil || done {
			return err
		}
	}
	if !follow {
		return nil
	}
	return r.follow(ctx, cur)
}

// tailStart finds where the last r.o.Tail entries begin: the index of the
// file and the byte offset in it (for a compressed file, the number of
// lines to skip).
func (r *reader) tailStart(files []*source) (int, int64, error) {
	if r.o.Tail < 0 || len(files) == 0 {
		return 0, 0, nil
	}
	need := r.o.Tail
	for i := len(files) - 1; i >= 0; i-- {
		var (
			at    int64
			found int
			err   error
		)
		if files[i].gz {
			at, found, err = lastLinesGzip(files[i], need)
		} else {
			at, found, err = lastLines(files[i], need)
		}
		if err != nil {
			return 0, 0, err
		}
		if found == need {
			return i, at, nil
		}
		need -= found
	}
	return 0, 0, nil
}

// lastLines finds the offset at which the last n complete lines of a file
// begin, reading backwards in blocks; found < n when the file has fewer.
func lastLines(s *source, n int) (at int64, found int, err error) {
	st, err := s.f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("read log %s: %w", s.name, err)
	}
	const block = 64 << 10
	buf := make([]byte, block)
	for end := st.Size(); end > 0; {
		start := max(0, end-block)
		b := buf[:end-start]
		if _, err := s.f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, 0, fmt.Errorf("read log %s: %w", s.name, err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			// The first newline from the end ends the last line; the
			// (n+1)th ends the line before the n wanted.
			if found == n {
				return start + int64(i) + 1, n, nil
			}
			found++
		}
		end = start
	}
	return 0, found, nil
}

// lastLinesGzip is lastLines for a compressed file, which cannot be read
// backwards: it counts the lines, and at is the number of lines to skip.
func lastLinesGzip(s *source, n int) (at int64, found int, err error) {
	zr, err := openGzip(s)
	if err != nil {
		return 0, 0, err
	}
	defer zr.Close()
	var total int64
	buf := make([]byte, 64<<10)
	for {
		k, err := zr.Read(buf)
		for _, c := range buf[:k] {
			if c == '\n' {
				total++
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read log %s: %w", s.name, err)
		}
	}
	if total <= int64(n) {
		return 0, int(total), nil
	}
	return total - int64(n), n, nil
}

func openGzip(s *source) (*gzip.Reader, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read log %s: %w", s.name, err)
	}
	zr, err := gzip.NewReader(bufio.NewReader(s.f))
	if err != nil {
		return nil, fmt.Errorf("read log %s: %w", s.name, err)
	}
	return zr, nil
}

// readRotated writes the entries of a rotated (complete) file from off: a
// byte offset, or for a compressed file a number of lines to skip. Its
// incomplete last line, if any, is dropped.
func (r *reader) readRotated(s *source, off int64) (done bool, err error) {
	if !s.gz {
		t, err := newTailer(s.name, s.f, off)
		if err != nil {
			return false, err
		}
		return t.drain(r.line)
	}
	zr, err := openGzip(s)
	if err != nil {
		return false, err
	}
	defer zr.Close()
	t := &tailer{name: s.name, br: bufio.NewReaderSize(zr, 64<<10)}
	skip := off
	return t.drain(func(line []byte) (bool, error) {
		if skip > 0 {
			skip--
			return false, nil
		}
		return r.line(line)
	})
}

// follow writes new entries as they are written, moving on when the file
// is rotated, until ctx ends, Stop is closed (after a last drain) or Until
// passes. cur is the current file as the history left it, nil when there
// was none.
func (r *reader) follow(ctx context.Context, cur *tailer) error {
	defer func() {
		if cur != nil {
			cur.close()
		}
	}()
	var changed <-chan struct{}
	interval := 250 * time.Millisecond
	if r.watch != nil {
		changed = r.watch.C()
		interval = 2 * time.Second // a safety net for missed notifications
	}
	poll := time.NewTicker(interval)
	defer poll.Stop()
	var untilC <-chan time.Time
	if !r.o.Until.IsZero() {
		t := time.NewTimer(time.Until(r.o.Until))
		defer t.Stop()
		untilC = t.C
	}
	stopC, stopping := r.o.Stop, false
	var prev os.FileInfo // the file finished last, while no next one was found
	for {
		last := stopping // what was written before the stop is drained now
		if cur == nil {
			var err error
			if cur, err = r.nextFile(prev); err != nil {
				return err
			}
			if cur != nil {
				prev = nil
			}
		}
		if cur != nil {
			if done, err := cur.drain(r.line); err != nil || done {
				return err
			}
			moved, err := cur.moved(r.path)
			if err != nil {
				return err
			}
			if moved {
				// The writer moved on to a new file, so this one is
				// complete: take its last bytes and go to the next.
				if done, err := cur.drain(r.line); err != nil || done {
					return err
				}
				if prev, err = cur.f.Stat(); err != nil {
					return fmt.Errorf("read log %s: %w", cur.name, err)
				}
				cur.close()
				cur = nil
				continue
			}
			if err := cur.rewindIfTruncated(); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-stopC:
			stopC, stopping = nil, true
		case <-untilC:
			untilC, stopping = nil, true
		case <-changed:
		case <-poll.C:
		}
	}
}

// nextFile opens the file to read after prev, which rotation moved to
// PATH.k: PATH.(k-1), else (k is 1, prev is gone or nil) PATH. It returns
// nil when that file does not exist yet. PATH is opened before prev is
// looked for, so that a rotation in between cannot make it skip a file.
func (r *reader) nextFile(prev os.FileInfo) (*tailer, error) {
	name := r.path
	f, err := os.Open(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read log %s: %w", name, err)
	}
	for k := 2; prev != nil; k++ {
		st, err := os.Stat(r.path + "." + strconv.Itoa(k))
		if err != nil {
			break
		}
		if !os.SameFile(prev, st) {
			continue
		}
		// PATH.(k-1) is next; if it is gone (compressed, rotated on),
		// PATH is the best left.
		older := r.path + "." + strconv.Itoa(k-1)
		g, err := os.Open(older)
		if err == nil {
			if f != nil {
				f.Close()
			}
			f, name = g, older
		}
		break
	}
	if f == nil {
		return nil, nil
	}
	return newTailer(name, f, 0)
}

// line writes one line of the file as an entry, if it is one and passes
// the options; done is true once an entry is after Until.
func (r *reader) line(b []byte) (done bool, err error) {
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return false, nil // a corrupt line: skip it
	}
	if !r.o.Until.IsZero() && e.Time.After(r.o.Until) {
		return true, nil
	}
	if !r.o.Since.IsZero() && e.Time.Before(r.o.Since) {
		return false, nil
	}
	var fd byte
	switch {
	case e.Stream == "stdout" && r.o.Stdout:
		fd = frameStdout
	case e.Stream == "stderr" && r.o.Stderr:
		fd = frameStderr
	default:
		return false, nil
	}
	buf := r.buf[:0]
	if !r.o.Raw {
		buf = append(buf, fd, 0, 0, 0, 0, 0, 0, 0)
	}
	if r.o.Timestamps {
		buf = e.Time.AppendFormat(buf, timestampLayout)
		buf = append(buf, ' ')
	}
	if r.o.Details {
		buf = appendAttrs(buf, e.Attrs)
		buf = append(buf, ' ')
	}
	buf = append(buf, e.Log...)
	r.buf = buf
	if !r.o.Raw {
		if len(buf) == 8 {
			return false, nil // nothing to frame
		}
		binary.BigEndian.PutUint32(buf[4:8], uint32(len(buf)-8))
	} else if len(buf) == 0 {
		return false, nil
	}
	_, err = r.out.Write(buf)
	return false, err
}

// appendAttrs appends attributes as docker's --details shows them: sorted
// by key, query-escaped, "k=v" joined by commas.
func appendAttrs(buf []byte, attrs map[string]string) []byte {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, url.QueryEscape(k)...)
		buf = append(buf, '=')
		buf = append(buf, url.QueryEscape(attrs[k])...)
	}
	return buf
}

// tailer reads the lines of one file as it grows.
type tailer struct {
	name    string
	f       *os.File // nil for a compressed file
	br      *bufio.Reader
	off     int64  // the file offset up to which lines were taken (or pending)
	pending []byte // an incomplete line
	skip    bool   // inside an overlong line, dropped up to its newline
}

func newTailer(name string, f *os.File, off int64) (*tailer, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("read log %s: %w", name, err)
	}
	return &tailer{name: name, f: f, br: bufio.NewReaderSize(f, 64<<10), off: off}, nil
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
	}
}

// drain passes each complete line read up to the end of the file to fn,
// keeping an incomplete last line for later; it stops when fn says done.
func (t *tailer) drain(fn func([]byte) (bool, error)) (done bool, err error) {
	for {
		chunk, err := t.br.ReadSlice('\n')
		t.off += int64(len(chunk))
		switch {
		case err == nil:
			line := chunk
			if len(t.pending) > 0 {
				t.pending = append(t.pending, chunk...)
				line = t.pending
			}
			skip := t.skip
			t.pending, t.skip = t.pending[:0], false
			if skip {
				continue
			}
			if done, err := fn(line); err != nil || done {
				return done, err
			}
		case errors.Is(err, bufio.ErrBufferFull) || errors.Is(err, io.EOF):
			if !t.skip {
				t.pending = append(t.pending, chunk...)
			}
			if len(t.pending) > maxLine {
				t.pending, t.skip = t.pending[:0], true
			}
			if errors.Is(err, io.EOF) {
				return false, nil
			}
		default:
			return false, fmt.Errorf("read log %s: %w", t.name, err)
		}
	}
}

// moved reports whether path no longer names t's file: rotated, or
// removed.
func (t *tailer) moved(path string) (bool, error) {
	a, err := t.f.Stat()
	if err != nil {
		return false, fmt.Errorf("read log %s: %w", t.name, err)
	}
	b, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read log %s: %w", path, err)
	}
	return !os.SameFile(a, b), nil
}

// rewindIfTruncated starts over when the file became shorter than what
// was read (truncated in place).
func (t *tailer) rewindIfTruncated() error {
	st, err := t.f.Stat()
	if err != nil {
		return fmt.Errorf("read log %s: %w", t.name, err)
	}
	if st.Size() >= t.off {
		return nil
	}
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read log %s: %w", t.name, err)
	}
	t.br.Reset(t.f)
	t.off, t.pending, t.skip = 0, t.pending[:0], false
	return nil
}

// watchDir makes the watcher of a following Read (tests swap it to poll).
var watchDir = newWatcher

// watcher tells when something in the log's directory changed.
type watcher interface {
	C() <-chan struct{}
	Close() error
}
