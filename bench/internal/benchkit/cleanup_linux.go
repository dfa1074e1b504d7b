// Package benchkit holds what the benchmark programs share to leave a
// machine as they found it: mounts, cgroups and their processes.
package benchkit

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/cgtree"
	"github.com/berth-project/berth/mount"
)

// UnmountUnder unmounts every mount point at or under the dirs, latest
// first.
func UnmountUnder(logf func(string, ...any), dirs ...string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := mount.Unescape(fields[4])
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				mps = append(mps, mp)
				break
			}
		}
	}
	f.Close()
	for i := len(mps) - 1; i >= 0; i-- {
		if err := unix.Unmount(mps[i], unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			logf("unmount %s: %v", mps[i], err)
		}
	}
}

// KillCgroupProcs kills the processes left in the cgroups under name.
func KillCgroupProcs(name string) {
	for _, d := range cgtree.Dirs(name) {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
}

// RemoveCgroups removes the cgroups under name once their processes are
// gone.
func RemoveCgroups(logf func(string, ...any), name string) {
	for _, c := range cgtree.Dirs(name) {
		var err error
		for range 40 {
			if err = unix.Rmdir(c); err == nil || err == unix.ENOENT {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil && err != unix.ENOENT {
			logf("remove cgroup %s: %v", c, err)
		}
	}
}

// Work is a benchmark run's scratch space: Dir under /tmp (images, data
// roots) and Run under /run (sockets, exec roots), both removed by Remove
// (Dir kept when Keep is set, to look at afterwards).
type Work struct {
	Dir, Run string
	Keep     bool
	logf     func(string, ...any)
}

// NewWork makes the directories, named after tag ("eb-", "nb-").
func NewWork(tag string, keep bool, logf func(string, ...any)) (*Work, error) {
	dir, err := os.MkdirTemp("/tmp", tag)
	if err != nil {
		return nil, err
	}
	run, err := os.MkdirTemp("/run", tag)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Work{Dir: dir, Run: run, Keep: keep, logf: logf}, nil
}

// Path joins elem under Dir.
func (w *Work) Path(elem ...string) string {
	return filepath.Join(append([]string{w.Dir}, elem...)...)
}

// Remove unmounts whatever is left mounted under the run's directories and
// removes them (with Keep, only the one under /run).
func (w *Work) Remove() {
	UnmountUnder(w.logf, w.Dir, w.Run)
	if err := os.RemoveAll(w.Run); err != nil {
		w.logf("remove %s: %v", w.Run, err)
	}
	if w.Keep {
		w.logf("kept %s", w.Dir)
		return
	}
	if err := os.RemoveAll(w.Dir); err != nil {
		w.logf("remove %s: %v", w.Dir, err)
	}
}
