package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

// LogsOptions of Logs.
type LogsOptions struct {
	Services   []string
	Follow     bool   // -f: follow, picking up containers that start meanwhile
	Tail       string // "all" (or empty) or a number of lines per container
	Timestamps bool
	NoPrefix   bool // --no-log-prefix
	Since      string
	Until      string
	Index      int // only replica Index (0: all)
	// Stdout gets the containers' output, Stderr their error output (nil:
	// Stdout), each line prefixed with "web-1  | ".
	Stdout, Stderr io.Writer
	// Poll is how often a follow looks for new containers (0: 300 ms).
	Poll time.Duration
}

// Logs writes the logs of the project's containers (the services named,
// all when none) as compose v2 does: each line after its container's
// name without the project ("web-1"), padded to the longest name plus
// one, and " | ". Without Follow it ends when every log has been read;
// with it, it also streams the containers that start meanwhile (a
// recreated or restarted one) and ends once no container of the
// selection runs any more, or when ctx ends.
func (c *Compose) Logs(ctx context.Context, projectName string, o LogsOptions) error {
	found, err := c.Containers(ctx, projectName, OneoffExclude, true, o.Services...)
	if err != nil {
		return err
	}
	found = withIndex(found, o.Index)
	pr := newLogPrinter(projectName, o)
	for _, ct := range found {
		pr.add(ct)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	active := map[string]bool{}     // container ID -> a stream is open
	ended := map[string]time.Time{} // container ID -> when its last stream ended
	// stream shows a container's logs: as asked (initial), or all that
	// came since since (one that started or restarted meanwhile).
	stream := func(ct container.Summary, since string, initial bool) {
		mu.Lock()
		active[ct.ID] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.streamLogs(ctx, ct, o, since, initial, pr)
			mu.Lock()
			defer mu.Unlock()
			active[ct.ID] = false
			ended[ct.ID] = time.Now()
			if err != nil && ctx.Err() == nil && engine.KindOf(err) != engine.KindNotFound {
				errs = append(errs, fmt.Errorf("logs of %s: %w", containerName(ct), err))
			}
		}()
	}
	for _, ct := range found {
		stream(ct, o.Since, true)
	}
	if !o.Follow {
		wg.Wait()
		return errors.Join(errs...)
	}
	poll := o.Poll
	if poll == 0 {
		poll = 300 * time.Millisecond
	}
	known := map[string]bool{}
	for _, ct := range found {
		known[ct.ID] = true
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	// Nothing running and nothing streaming must last a moment: a
	// restart leaves a gap between the stop and the start.
	var quietSince time.Time
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
		}
		list, err := c.Containers(ctx, projectName, OneoffExclude, true, o.Services...)
		if err != nil {
			if ctx.Err() != nil {
				wg.Wait()
				return nil
			}
			continue
		}
		list = withIndex(list, o.Index)
		running := 0
		for _, ct := range list {
			if ct.State != container.StateRunning {
				continue
			}
			running++
			mu.Lock()
			open := active[ct.ID]
			mu.Unlock()
			if open {
				continue
			}
			since := ""
			if known[ct.ID] {
				// A restart: what it wrote before has been shown.
				mu.Lock()
				t := ended[ct.ID]
				mu.Unlock()
				since = fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
			}
			known[ct.ID] = true
			pr.add(ct)
			stream(ct, since, false)
		}
		mu.Lock()
		streaming := 0
		for _, open := range active {
			if open {
				streaming++
			}
		}
		mu.Unlock()
		if running > 0 || streaming > 0 {
			quietSince = time.Time{}
			continue
		}
		if quietSince.IsZero() {
			quietSince = time.Now()
		}
		if time.Since(quietSince) >= max(time.Second, 3*poll) {
			wg.Wait()
			return errors.Join(errs...)
		}
	}
}

// withIndex keeps replica index of each service (all when 0).
func withIndex(list []container.Summary, index int) []container.Summary {
	if index == 0 {
		return list
	}
	kept := list[:0:0]
	for _, ct := range list {
		if ct.Labels[LabelNumber] == strconv.Itoa(index) {
			kept = append(kept, ct)
		}
	}
	return kept
}

// streamLogs copies one container's logs through the printer.
func (c *Compose) streamLogs(ctx context.Context, ct container.Summary, o LogsOptions, since string, initial bool, pr *logPrinter) error {
	ins, err := c.API.ContainerInspect(ctx, ct.ID, false)
	if err != nil {
		return err
	}
	tail := o.Tail
	if tail == "" {
		tail = "all"
	}
	if !initial {
		tail = "all"
	}
	r, err := c.API.ContainerLogs(ctx, ct.ID, engine.LogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: o.Follow, Timestamps: o.Timestamps,
		Since: since, Until: o.Until, Tail: tail,
	})
	if err != nil {
		return err
	}
	defer r.Close()
	stop := context.AfterFunc(ctx, func() { r.Close() })
	defer stop()
	name := pr.nameOf(ct)
	out, errOut := pr.writer(name, false), pr.writer(name, true)
	defer out.flush()
	defer errOut.flush()
	if ins.Config != nil && ins.Config.Tty {
		_, err = io.Copy(out, r)
	} else {
		_, err = stdcopy.StdCopy(out, errOut, r)
	}
	if err != nil && (ctx.Err() != nil || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.EOF)) {
		return nil
	}
	return err
}

// logPrinter writes whole lines of several containers to the same
// output, each after its prefix.
type logPrinter struct {
	project        string
	noPrefix       bool
	stdout, stderr io.Writer

	mu    sync.Mutex
	width int
}

func newLogPrinter(project string, o LogsOptions) *logPrinter {
	out := o.Stdout
	if out == nil {
		out = io.Discard
	}
	errOut := o.Stderr
	if errOut == nil {
		errOut = out
	}
	return &logPrinter{project: project, noPrefix: o.NoPrefix, stdout: out, stderr: errOut}
}

// nameOf is the name a container's lines go under: its name without the
// "PROJECT-" compose v2 leaves out.
func (p *logPrinter) nameOf(ct container.Summary) string {
	return strings.TrimPrefix(containerName(ct), p.project+"-")
}

// add widens the prefix for ct's name.
func (p *logPrinter) add(ct container.Summary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.width = max(p.width, len(p.nameOf(ct))+1)
}

// Prefix is compose v2's "NAME  | " for a name in a column of width
// (the longest name's length plus one).
func Prefix(name string, width int) string {
	return fmt.Sprintf("%-*s | ", width, name)
}

func (p *logPrinter) writer(name string, stderr bool) *lineWriter {
	return &lineWriter{emit: func(line []byte) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			line = append(line, '\n')
		}
		p.line(name, stderr, line)
	}}
}

func (p *logPrinter) line(name string, stderr bool, line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.stdout
	if stderr {
		w = p.stderr
	}
	if p.noPrefix {
		w.Write(line)
		return
	}
	var b bytes.Buffer
	b.WriteString(Prefix(name, p.width))
	b.Write(line)
	w.Write(b.Bytes())
}

// lineWriter cuts what it gets into lines for emit: each whole line with
// its '\n' as it comes, and on flush a last one that had none, as it is.
type lineWriter struct {
	emit func(line []byte)
	buf  []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i+1])
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

// flush hands on a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}
