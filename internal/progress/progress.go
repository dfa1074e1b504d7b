package progress

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Sink receives progress: item id is now in status, with current of total
// bytes done (both 0 when the status carries no byte count, total 0 when
// it is unknown). Implementations must be safe for concurrent use.
type Sink interface {
	Update(id, status string, current, total int64)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(id, status string, current, total int64)

// Update calls f.
func (f SinkFunc) Update(id, status string, current, total int64) { f(id, status, current, total) }

// Discard is a Sink that drops everything.
var Discard Sink = SinkFunc(func(string, string, int64, int64) {})

// ShortID is the id docker shows for a blob: the first 12 hex digits of its
// digest ("sha256:abcdef0123456789..." gives "abcdef012345").
func ShortID(digest string) string {
	if i := strings.IndexByte(digest, ':'); i >= 0 {
		digest = digest[i+1:]
	}
	if len(digest) > 12 {
		digest = digest[:12]
	}
	return digest
}

// redrawEvery is the shortest time between two redraws on a terminal.
const redrawEvery = 100 * time.Millisecond

// barWidth is the width of a progress bar between its brackets, as docker's.
const barWidth = 50

// Display is a Sink that renders to a writer. On a terminal it keeps one
// line per id and redraws them in place, at most every redrawEvery;
// elsewhere it writes a line each time an id's status changes and leaves
// byte counts out, as docker does when its output is a pipe.
type Display struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	order    []string
	items    map[string]*item
	drawn    int // lines on screen from the last redraw
	dirty    bool
	last     time.Time
	timer    *time.Timer
	closed   bool
}

type item struct {
	status         string
	current, total int64
}

var _ Sink = (*Display)(nil)

// New returns a Display writing to w, redrawing in place when w is a
// terminal.
func New(w io.Writer) *Display {
	return NewDisplay(w, IsTerminal(w))
}

// NewDisplay returns a Display writing to w that redraws in place when
// terminal is true and writes plain lines otherwise.
func NewDisplay(w io.Writer, terminal bool) *Display {
	return &Display{w: w, terminal: terminal, items: map[string]*item{}}
}

// IsTerminal reports whether w is a file descriptor of a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Update records the state of id and shows it.
func (d *Display) Update(id, status string, current, total int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	it, ok := d.items[id]
	if !ok {
		it = &item{}
		d.items[id] = it
		d.order = append(d.order, id)
	}
	changed := !ok || it.status != status
	it.status, it.current, it.total = status, current, total
	if !d.terminal {
		// A log gets each status once, when it starts; the byte counts
		// within it are for a terminal's bar.
		if changed {
			fmt.Fprintf(d.w, "%s: %s\n", id, status)
		}
		return
	}
	d.dirty = true
	if wait := redrawEvery - time.Since(d.last); wait > 0 {
		if d.timer == nil {
			d.timer = time.AfterFunc(wait, d.flush)
		}
		return
	}
	d.redraw()
}

func (d *Display) flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timer = nil
	if !d.closed && d.dirty {
		d.redraw()
	}
}

// redraw moves the cursor back over the lines drawn last time and draws
// every line again. Called with d.mu held.
func (d *Display) redraw() {
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn)
	}
	for _, id := range d.order {
		it := d.items[id]
		b.WriteString("\x1b[2K")
		b.WriteString(Line(id, it.status, it.current, it.total))
		b.WriteByte('\n')
	}
	io.WriteString(d.w, b.String())
	d.drawn = len(d.order)
	d.dirty = false
	d.last = time.Now()
}

// Close draws what is not drawn yet; later updates are ignored.
func (d *Display) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.terminal && d.dirty {
		d.redraw()
	}
	d.closed = true
	return nil
}

// Line renders one item as docker does on a terminal:
// "abcdef012345: Downloading [=====>     ]  12.3MB/45.6MB".
func Line(id, status string, current, total int64) string {
	s := id + ": " + status
	switch {
	case total > 0:
		cur := min(max(current, 0), total)
		n := int(barWidth * cur / total)
		bar := strings.Repeat("=", n)
		if n < barWidth {
			bar += ">" + strings.Repeat(" ", barWidth-n-1)
		}
		s += fmt.Sprintf(" [%s]%8s/%s", bar, HumanSize(current), HumanSize(total))
	case current > 0:
		s += fmt.Sprintf(" %8s", HumanSize(current))
	}
	return s
}

// HumanSize writes n bytes with three significant digits and a decimal
// unit, as docker does: "512B", "1.05kB", "12.3MB".
func HumanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	f := float64(n)
	i := 0
	// 999.5 and up round to "1e+03" in three digits: take the next unit.
	for f >= 999.5 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return strconv.FormatFloat(f, 'g', 3, 64) + units[i]
}
