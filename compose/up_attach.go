package compose

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sync/errgroup"

	"github.com/berth-project/berth/engine"
)

// attach is Up without -d: the logs of containers ids, each line
// prefixed "SERVICE-N  | ", go to o.Logs until each of them has stopped;
// when ctx ends first the containers all (the up's) are stopped, as
// compose does on Ctrl-C. With AbortOnContainerExit the first container
// to stop stops them all. Containers old says ran before this up show
// only their output from since on.
func (c *Compose) attach(ctx context.Context, p *types.Project, ids, all []string, old func(id string) bool, since0 time.Time, o UpOptions) error {
	out := o.Logs
	if out == nil {
		out = io.Discard
	}
	type target struct {
		id, prefix string
		tty, old   bool
	}
	var targets []target
	width := 0
	for _, id := range ids {
		insp, err := c.API.ContainerInspect(ctx, id, false)
		if err != nil {
			return err
		}
		l := insp.Config.Labels
		name := l[LabelService] + "-" + l[LabelNumber]
		s, ok := p.Services[l[LabelService]]
		if ok && s.Attach != nil && !*s.Attach {
			continue // attach: false
		}
		if ok && s.ContainerName != "" {
			name = s.ContainerName
		}
		targets = append(targets, target{id: id, prefix: name, tty: insp.Config.Tty, old: old(id)})
		width = max(width, len(name))
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.prefix
	}
	sort.Strings(names)
	fmt.Fprintf(out, "Attaching to %s\n", strings.Join(names, ", "))
	var mu sync.Mutex
	logCtx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
	exited := make(chan string, len(targets))
	g := new(errgroup.Group)
	for _, t := range targets {
		prefix := Prefix(t.prefix, width+1)
		g.Go(func() error {
			w := prefixWriter(&mu, out, prefix)
			since := ""
			if t.old {
				since = fmt.Sprintf("%d.%09d", since0.Unix(), since0.Nanosecond())
			}
			for {
				rc, err := c.API.ContainerLogs(logCtx, t.id, engine.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Since: since})
				if err == nil {
					if t.tty {
						_, err = io.Copy(w, rc)
					} else {
						_, err = stdcopy.StdCopy(w, w, rc)
					}
					rc.Close()
				}
				w.flush()
				ended := time.Now()
				if logCtx.Err() != nil {
					return nil
				}
				insp, ierr := c.API.ContainerInspect(logCtx, t.id, false)
				if ierr != nil {
					exited <- t.id
					return nil
				}
				mu.Lock()
				fmt.Fprintf(out, "%s exited with code %d\n", t.prefix, insp.State.ExitCode)
				mu.Unlock()
				// A restart policy brings it back: follow the new run, as
				// compose does (unless one exit is to stop them all).
				if o.AbortOnContainerExit || !willRestart(insp) {
					exited <- t.id
					return nil
				}
				if !c.waitRunning(logCtx, t.id, insp.RestartCount) {
					exited <- t.id
					return nil
				}
				since = fmt.Sprintf("%d.%09d", ended.Unix(), ended.Nanosecond())
			}
		})
	}
	done := make(chan struct{})
	go func() { g.Wait(); close(done) }()
	stopAll := func() {
		stopLogs()
		bg := context.WithoutCancel(ctx)
		sg := new(errgroup.Group)
		for _, id := range all {
			sg.Go(func() error {
				insp, err := c.API.ContainerInspect(bg, id, false)
				if err != nil || !insp.State.Running {
					return nil
				}
				name := strings.TrimPrefix(insp.Name, "/")
				c.step("Container", name, "Stopping")
				if err := c.API.ContainerStop(bg, id, engine.StopOptions{Timeout: o.Timeout}); err != nil && !stoppedAlready(err) {
					return fmt.Errorf("stop %s: %w", name, err)
				}
				c.step("Container", name, "Stopped")
				return nil
			})
		}
		err := sg.Wait()
		<-done
		if err != nil {
			c.warn("%v", err)
		}
	}
	for {
		select {
		case <-done:
			return nil
		case <-exited:
			if o.AbortOnContainerExit {
				mu.Lock()
				fmt.Fprintln(out, "Aborting on container exit...")
				mu.Unlock()
				stopAll()
				return nil
			}
		case <-ctx.Done():
			mu.Lock()
			fmt.Fprintln(out, "Gracefully stopping... (press Ctrl+C again to force)")
			mu.Unlock()
			stopAll()
			return nil
		}
	}
}

// willRestart tells whether the engine brings an ended container back:
// it runs again already, or waits to (docker's "restarting", set as the
// run ends when the restart policy says so).
func willRestart(insp container.InspectResponse) bool {
	return insp.State.Running || insp.State.Restarting
}

// waitRunning waits for a restarting container to run again (it runs,
// or has run: its restart count passed runs); false when it will not (it
// stopped for good, or ctx ended).
func (c *Compose) waitRunning(ctx context.Context, id string, runs int) bool {
	again := false
	c.pollContainer(ctx, id, func(insp container.InspectResponse) (bool, error) {
		again = insp.State.Running || insp.RestartCount > runs
		return again || !willRestart(insp), nil
	})
	return again
}

// prefixWriter writes whole lines, each behind its prefix (a whole
// line's "\r\n" as "\n"; a last line without a newline gets one); writers
// share mu so lines of different containers do not interleave.
func prefixWriter(mu *sync.Mutex, out io.Writer, prefix string) *lineWriter {
	return &lineWriter{emit: func(line []byte) {
		s := string(line)
		if t, ok := strings.CutSuffix(s, "\n"); ok {
			s = strings.TrimSuffix(t, "\r")
		}
		mu.Lock()
		fmt.Fprintf(out, "%s%s\n", prefix, s)
		mu.Unlock()
	}}
}
