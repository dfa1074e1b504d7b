package network

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NewNetNS makes a new network namespace pinned at path (a bind mount of
// the namespace file on an empty file it creates; the directory must
// exist) with its loopback up. It fails if path already exists. Nothing is
// left behind on failure.
func NewNetNS(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return fmt.Errorf("create netns %s: %w", path, err)
	}
	f.Close()
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		// The package-level netlink calls open their socket on this
		// thread, so in the new namespace.
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mount %s: %w", src, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("create netns %s: %w", path, err)
	}
	return nil
}

// DeleteNetNS unpins (unmounts, removes) the namespace at path; a missing
// path is not an error. The namespace, and the veth ends in it, go away
// once no process is left in it.
func DeleteNetNS(path string) error {
	// Unmount until the path is no mount point (EINVAL) any more, in case
	// it was pinned more than once; a plain file is just removed.
	for range 8 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if errors.Is(err, unix.EINVAL) {
			break
		}
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// InNetNS runs fn on a locked OS thread that entered the network
// namespace at path (a pinned file or /proc/PID/ns/net). The thread goes
// back to the caller's namespace afterwards (or is discarded if it cannot).
//
// fn runs on a goroutine of its own (so that the caller's goroutine is
// never left locked in another namespace); a panic in fn is raised again
// in the caller. Goroutines that fn starts do not run in the namespace,
// but sockets fn opens stay in it.
func InNetNS(path string, fn func() error) error {
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer unix.Close(target)
	return onThread(func() error {
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter netns %s: %w", path, err)
		}
		return fn()
	})
}

// onThread runs body on a new goroutine locked to its OS thread, then
// brings that thread back to the network namespace it started in. When
// that fails, the goroutine ends still locked, so the runtime discards
// the thread rather than letting other goroutines run in the wrong
// namespace. A panic in body is raised again in the caller.
func onThread(body func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var r result
		orig, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("open the current netns: %w", err)}
			return
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.panicked, r.panicVal = true, p
				}
			}()
			r.err = body()
		}()
		// The work is done either way; a thread that cannot go back is
		// simply not reused.
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		unix.Close(orig)
		done <- r
	}()
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}
