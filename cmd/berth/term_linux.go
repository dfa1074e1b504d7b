package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"sync"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/engine"
)

// fdOf returns the file descriptor behind v, if it has one.
func fdOf(v any) (int, bool) {
	f, ok := v.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	return int(f.Fd()), true
}

// isTerminal reports whether v is a terminal's file descriptor.
func isTerminal(v any) bool {
	fd, ok := fdOf(v)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// rawTerminal puts the terminal behind in into raw mode (when it is one)
// and returns how to restore it.
func rawTerminal(in io.Reader) func() {
	f, ok := in.(*os.File)
	if !ok || !isTerminal(f) {
		return func() {}
	}
	c, err := console.ConsoleFromFile(f)
	if err != nil {
		return func() {}
	}
	if err := c.SetRaw(); err != nil {
		return func() {}
	}
	return func() { c.Reset() }
}

// monitorSize sends the terminal size of out through resize now and on
// each SIGWINCH, until the returned stop is called. Nothing is done when
// out is not a terminal.
func monitorSize(out io.Writer, resize func(height, width uint) error) (stop func()) {
	fd, ok := fdOf(out)
	if !ok || !isTerminal(out) {
		return func() {}
	}
	send := func() {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err == nil && ws.Row > 0 && ws.Col > 0 {
			resize(uint(ws.Row), uint(ws.Col))
		}
	}
	send()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				send()
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}

// proxySignals forwards the signals berth receives to the container (not
// those about berth's own terminal and children), until stop is called.
func proxySignals(ctx context.Context, api engine.API, id string) (stop func()) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				sig, ok := s.(unix.Signal)
				if !ok {
					continue
				}
				switch sig {
				case unix.SIGCHLD, unix.SIGPIPE, unix.SIGURG, unix.SIGWINCH:
					continue
				}
				if name := unix.SignalName(sig); name != "" {
					api.ContainerKill(context.WithoutCancel(ctx), id, name)
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}
