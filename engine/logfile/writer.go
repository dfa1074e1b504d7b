package logfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// WriterConfig says where a container's log goes and how it is rotated.
type WriterConfig struct {
	// Path of the current log file; rotated files are Path.1 (the newest)
	// up to Path.(MaxFiles-1).
	Path string `json:"path"`
	// MaxSize is the size a file may reach before the writer rotates;
	// 0 means no limit (docker's max-size unset).
	MaxSize int64 `json:"maxSize,omitempty"`
	// MaxFiles counts the log files kept, Path itself included; 0 means 1
	// (no rotated files: Path starts over when full), as docker's max-file.
	MaxFiles int `json:"maxFiles,omitempty"`
}

// Writer appends entries to a json-file log, rotating it by size. It is
// safe for concurrent use. A failing file (full disk, I/O error) never
// blocks or fails its caller for good: the entry is dropped and counted,
// and later writes try the file again.
type Writer struct {
	mu       sync.Mutex
	c        WriterConfig
	f        *os.File // nil after a failure, until reopened
	size     int64    // of the current file, as far as we wrote it
	buf      []byte   // one encoded entry, reused
	dropped  uint64
	lastErr  error
	closed   bool
	maxFiles int
}

// NewWriter opens (creating or appending to) the log file c.Path. Its
// directory must exist.
func NewWriter(c WriterConfig) (*Writer, error) {
	if c.Path == "" {
		return nil, errors.New("log writer: no path given")
	}
	if c.MaxSize < 0 {
		return nil, fmt.Errorf("log writer %s: max size %d is negative", c.Path, c.MaxSize)
	}
	if c.MaxFiles < 0 {
		return nil, fmt.Errorf("log writer %s: max files %d is negative", c.Path, c.MaxFiles)
	}
	w := &Writer{c: c, maxFiles: max(c.MaxFiles, 1)}
	if err := w.open(false); err != nil {
		return nil, err
	}
	return w, nil
}

const (
	fileMode   = 0o640    // docker's mode for log files
	maxKeptBuf = 64 << 10 // largest encoding buffer kept between writes
)

// open opens Path for appending (or empty, with truncate) and learns its size.
func (w *Writer) open(truncate bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(w.c.Path, flags, fileMode)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log file: %w", err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// Write appends one entry: line as given (a whole line with its trailing
// newline, or a partial one without), from stream ("stdout" or "stderr"),
// at t. An empty line is not logged. The error, if any, is the reason the
// entry was dropped; the writer stays usable.
func (w *Writer) Write(stream string, line []byte, t time.Time) error {
	if len(line) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("write log %s: writer closed", w.c.Path)
	}
	w.buf = appendEntry(w.buf[:0], stream, line, t)
	err := w.write(w.buf)
	if cap(w.buf) > maxKeptBuf {
		w.buf = nil // a rare long entry: do not keep its buffer
	}
	if err != nil {
		w.dropped++
		w.lastErr = err
		return err
	}
	return nil
}

// write puts one encoded entry in the file, rotating first if it would
// grow past MaxSize.
func (w *Writer) write(entry []byte) error {
	if w.f == nil {
		// A failed file: try it again.
		if err := w.open(false); err != nil {
			return fmt.Errorf("write log %s: %w", w.c.Path, err)
		}
	}
	if w.c.MaxSize > 0 && w.size > 0 && w.size+int64(len(entry)) > w.c.MaxSize {
		if err := w.rotate(); err != nil {
			return fmt.Errorf("rotate log %s: %w", w.c.Path, err)
		}
	}
	n, err := w.f.Write(entry)
	if err == nil {
		w.size += int64(n)
		return nil
	}
	// Half an entry would spoil the file for readers: cut it off. An I/O
	// error may have left the descriptor unusable (a full disk has not):
	// the file is reopened, and its size learnt again, next time.
	if (n > 0 && w.f.Truncate(w.size) != nil) || !errors.Is(err, syscall.ENOSPC) {
		w.f.Close()
		w.f = nil
	}
	return fmt.Errorf("write log %s: %w", w.c.Path, err)
}

// rotate shifts Path.(N-2) to Path.(N-1), ..., Path to Path.1, and starts
// an empty Path. With MaxFiles 1 it just empties Path.
func (w *Writer) rotate() error {
	w.f.Close()
	w.f = nil
	if w.maxFiles > 1 {
		for i := w.maxFiles - 1; i > 1; i-- {
			err := os.Rename(w.c.Path+"."+strconv.Itoa(i-1), w.c.Path+"."+strconv.Itoa(i))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if err := os.Rename(w.c.Path, w.c.Path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return w.open(true)
}

// Dropped returns how many entries could not be written, and the last
// reason.
func (w *Writer) Dropped() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped, w.lastErr
}

// Close closes the log file; later writes fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.buf = nil
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("close log %s: %w", w.c.Path, err)
	}
	return nil
}

// appendEntry appends the json-file encoding of one entry to b, newline
// included, byte for byte as docker's json-file driver writes it:
// {"log":"...","stream":"...","time":"..."}, the time in UTC with
// RFC 3339 nanoseconds (trailing zeros dropped), strings escaped as docker
// does (<, > and & as \u00XX, control characters other than \n and \r as
// \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped).
func appendEntry(b []byte, stream string, line []byte, t time.Time) []byte {
	b = append(b, `{"log":`...)
	b = appendString(b, line)
	b = append(b, `,"stream":`...)
	b = appendString(b, []byte(stream))
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

func appendString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	plain := 0 // start of the bytes not yet copied
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[plain:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			plain = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[plain:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[plain:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		plain = i
	}
	b = append(b, s[plain:]...)
	return append(b, '"')
}
