package logfile

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// inotifyWatcher wakes a following Read when a file in the log's directory
// is written, created, renamed or removed.
type inotifyWatcher struct {
	f *os.File
	c chan struct{}
}

// newWatcher watches dir with inotify. The descriptor is non-blocking, so
// os.File puts it in the runtime's poller and Close ends a pending read.
func newWatcher(dir string) (watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch %s: inotify_init1: %w", dir, err)
	}
	const mask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_ATTRIB |
		unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: inotify_add_watch: %w", dir, err)
	}
	w := &inotifyWatcher{f: os.NewFile(uintptr(fd), "inotify "+dir), c: make(chan struct{}, 1)}
	go w.loop()
	return w, nil
}

func (w *inotifyWatcher) loop() {
	buf := make([]byte, 16<<10)
	for {
		if _, err := w.f.Read(buf); err != nil {
			return // closed
		}
		select {
		case w.c <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

func (w *inotifyWatcher) C() <-chan struct{} { return w.c }

func (w *inotifyWatcher) Close() error { return w.f.Close() }
