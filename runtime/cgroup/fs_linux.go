package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeFile writes value to the cgroup file dir/name. It never creates the
// file: a missing file means the kernel (or the controller) lacks the knob.
func writeFile(dir, name, value string) error {
	p := filepath.Join(dir, name)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(fd, []byte(value))
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// readFile returns the content of dir/name without surrounding white space.
func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err // *PathError: names the operation and the file
	}
	return strings.TrimSpace(string(b)), nil
}

// readInt reads a file holding one integer.
func readInt(dir, name string) (int64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	return v, nil
}

// exists reports whether dir/name exists.
func exists(dir, name string) bool {
	return unix.Access(filepath.Join(dir, name), unix.F_OK) == nil
}

// readPids lists the pids in cgroup.procs of dir and of every cgroup below it.
func readPids(dir string) ([]int, error) {
	var pids []int
	var walk func(d string, top bool) error
	walk = func(d string, top bool) error {
		s, err := readFile(d, "cgroup.procs")
		if err != nil {
			if !top && errors.Is(err, os.ErrNotExist) {
				return nil // removed while we looked
			}
			return fmt.Errorf("list pids: %w", err)
		}
		for _, f := range strings.Fields(s) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("parse %s: %w", filepath.Join(d, "cgroup.procs"), err)
			}
			pids = append(pids, pid)
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("list pids: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() {
				if err := walk(filepath.Join(d, e.Name()), false); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(dir, true); err != nil {
		return nil, err
	}
	return pids, nil
}

// removeTree removes the cgroup dir and every cgroup below it, deepest
// first. Cgroup directories go with rmdir alone (their files cannot be
// unlinked); plain trees (tests) also get their regular files removed.
// A missing directory is fine.
func removeTree(dir string, plain bool) error {
	if !plain {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		if st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC {
			return fmt.Errorf("remove cgroup %s: not on a cgroup filesystem", dir)
		}
	}
	return removeDirs(dir, plain)
}

func removeDirs(dir string, plain bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeDirs(filepath.Join(dir, e.Name()), plain); err != nil {
				return err
			}
		} else if plain && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove cgroup %s: %w", dir, err)
			}
		}
	}
	return rmdir(dir)
}

// rmdir removes one cgroup directory, retrying for a short while when the
// kernel still counts exiting processes in it (EBUSY).
func rmdir(dir string) error {
	delay := 10 * time.Millisecond
	for i := 0; ; i++ {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) && i < 5:
			time.Sleep(delay)
			delay *= 2
		default:
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
	}
}

// freezeTimeout bounds how long Freeze waits for the kernel.
const freezeTimeout = 5 * time.Second

// waitFor polls done until it reports true or timeout passes, backing off
// from 1ms to 10ms. It returns done's last error, or false on timeout.
func waitFor(timeout time.Duration, done func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		ok, err := done()
		if ok || err != nil {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Millisecond)
	}
}

// freezeUnified sets cgroup.freeze of a cgroup2 directory and waits for
// cgroup.events to report the new state.
func freezeUnified(dir string, frozen bool, timeout time.Duration) error {
	want := "0"
	if frozen {
		want = "1"
	}
	if err := writeFile(dir, "cgroup.freeze", want); err != nil {
		return err
	}
	var last string
	ok, err := waitFor(timeout, func() (bool, error) {
		s, err := readFile(dir, "cgroup.events")
		if err != nil {
			return false, err
		}
		for _, l := range strings.Split(s, "\n") {
			if v, found := strings.CutPrefix(l, "frozen "); found {
				last = v
				return v == want, nil
			}
		}
		return false, fmt.Errorf("read %s: no frozen field", filepath.Join(dir, "cgroup.events"))
	})
	if err == nil && !ok {
		err = fmt.Errorf("freeze %s: cgroup.events still says frozen %s after %v", dir, last, timeout)
	}
	if err != nil && frozen {
		writeFile(dir, "cgroup.freeze", "0") // best effort: do not leave it half frozen
	}
	return err
}

// freezeV1 sets freezer.state and waits until it reads back; writing FROZEN
// again while the state is FREEZING retries freezing tasks that were busy.
// A cgroup can stay FREEZING for good: a vfork parent waits, not freezable,
// for a child that froze first. Every so often the cgroup is thawed for a
// moment, so that such a pair gets past the vfork, and frozen again (as
// runc does).
func freezeV1(dir string, frozen bool, timeout time.Duration) error {
	want := "THAWED"
	if frozen {
		want = "FROZEN"
	}
	var last string
	tries := 0
	ok, err := waitFor(timeout, func() (bool, error) {
		tries++
		if frozen && tries%25 == 0 {
			if err := writeFile(dir, "freezer.state", "THAWED"); err != nil {
				return false, err
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := writeFile(dir, "freezer.state", want); err != nil {
			return false, err
		}
		s, err := readFile(dir, "freezer.state")
		last = s
		return s == want, err
	})
	if err == nil && !ok {
		err = fmt.Errorf("freeze %s: freezer.state is %s after %v, want %s", dir, last, timeout, want)
	}
	if err != nil && frozen {
		writeFile(dir, "freezer.state", "THAWED")
	}
	return err
}
