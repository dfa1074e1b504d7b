package cgroup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

var (
	_ OOMNotifier = (*v1Manager)(nil)
	_ OOMNotifier = (*v2Manager)(nil)
)

// oomRecheck is how often an OOM watcher looks whether its cgroup is still
// there, in case the kernel sends nothing on removal.
const oomRecheck = time.Second

// memoryDir returns the container's directory in the memory hierarchy.
func (m *v1Manager) memoryDir(op string) (string, error) {
	if d := m.path("memory"); d != "" {
		return d, nil
	}
	return "", fmt.Errorf("%s: the memory cgroup hierarchy is not mounted", op)
}

// OOMKillCount reads the oom_kill line of memory.oom_control (kernels
// since 4.13; 0 before).
func (m *v1Manager) OOMKillCount() (uint64, error) {
	dir, err := m.memoryDir("oom kill count")
	if err != nil {
		return 0, err
	}
	return oomKillCount(dir, "memory.oom_control")
}

// OOMKillCount reads the oom_kill line of memory.events.
func (m *v2Manager) OOMKillCount() (uint64, error) { return oomKillCount(m.dir, "memory.events") }

func oomKillCount(dir, file string) (uint64, error) {
	kv, err := readKeyedFile(dir, file)
	if err != nil {
		return 0, fmt.Errorf("oom kill count: %w", err)
	}
	return kv["oom_kill"], nil
}

// OOMEvents registers an eventfd for memory.oom_control through
// cgroup.event_control; the kernel signals it when the cgroup runs out of
// memory and when the cgroup is removed.
func (m *v1Manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	dir, err := m.memoryDir("oom events")
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("oom events for %s: eventfd: %w", dir, err)
	}
	ev := os.NewFile(uintptr(efd), "eventfd")
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		ev.Close()
		return nil, fmt.Errorf("oom events: %w", err)
	}
	defer ctl.Close() // the registration holds its own reference
	if err := writeFile(dir, "cgroup.event_control", strconv.Itoa(efd)+" "+strconv.Itoa(int(ctl.Fd()))); err != nil {
		ev.Close()
		return nil, fmt.Errorf("oom events: %w", err)
	}
	gone := func() bool { return !exists(dir, "cgroup.event_control") }
	return watch(ctx, ev, gone, func(buf []byte) (bool, bool) {
		if len(buf) < 8 || binary.NativeEndian.Uint64(buf) == 0 {
			return false, false
		}
		if gone() { // removal signals the eventfd too
			return false, true
		}
		return true, false
	}), nil
}

// OOMEvents watches memory.events with inotify and reports when its oom or
// oom_kill count grows.
func (m *v2Manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	file := filepath.Join(m.dir, "memory.events")
	last, err := readKeyedFile(m.dir, "memory.events")
	if err != nil {
		return nil, fmt.Errorf("oom events: %w", err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("oom events for %s: inotify: %w", m.dir, err)
	}
	in := os.NewFile(uintptr(fd), "inotify")
	if _, err := unix.InotifyAddWatch(fd, file, unix.IN_MODIFY|unix.IN_DELETE_SELF); err != nil {
		in.Close()
		return nil, fmt.Errorf("oom events: watch %s: %w", file, err)
	}
	gone := func() bool { return !exists(m.dir, "memory.events") }
	return watch(ctx, in, gone, func(buf []byte) (bool, bool) {
		for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
			// struct inotify_event: wd, mask, cookie, len, then the name.
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			if mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF) != 0 {
				return false, true
			}
			off += unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
		}
		cur, err := readKeyedFile(m.dir, "memory.events")
		if err != nil {
			return false, errors.Is(err, fs.ErrNotExist)
		}
		fire := cur["oom"] > last["oom"] || cur["oom_kill"] > last["oom_kill"]
		last = cur
		return fire, false
	}), nil
}

func readKeyedFile(dir, name string) (map[string]uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	kv, err := parseKeyed(s)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	return kv, nil
}

// watch reads f (a non-blocking eventfd or inotify fd, so reads go through
// the runtime poller and can time out and be interrupted) in a goroutine.
// handle gets each read and says whether to send an event and whether the
// cgroup is gone. The goroutine also stops, closing f and the channel,
// when ctx ends, when a read fails, or when gone reports true on a quiet
// spell.
func watch(ctx context.Context, f *os.File, gone func() bool, handle func([]byte) (fire, done bool)) <-chan struct{} {
	ch := make(chan struct{}, 1)
	stop := context.AfterFunc(ctx, func() { f.Close() }) // interrupts the Read
	go func() {
		defer close(ch)
		defer stop()
		defer f.Close()
		buf := make([]byte, 4096)
		for {
			f.SetReadDeadline(time.Now().Add(oomRecheck))
			n, err := f.Read(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if gone() {
					return
				}
				continue
			}
			if err != nil || ctx.Err() != nil {
				return
			}
			fire, done := handle(buf[:n])
			if fire {
				select {
				case ch <- struct{}{}:
				default: // one is pending already: merge
				}
			}
			if done {
				return
			}
		}
	}()
	return ch
}
