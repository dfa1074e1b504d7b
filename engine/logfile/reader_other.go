//go:build !linux

package logfile

import "errors"

// newWatcher has no notification mechanism here: a following Read polls.
func newWatcher(dir string) (watcher, error) {
	return nil, errors.New("watch " + dir + ": no inotify on this platform")
}
