package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReaperName is the name the berth binary is run under as a container's
// --init process (bind-mounted at /sbin/docker-init, as docker does with
// tini).
const ReaperName = "docker-init"

// IsReaper reports whether this process was started as docker-init.
func IsReaper() bool {
	return filepath.Base(os.Args[0]) == ReaperName
}

// Reaper is docker-init: the container's PID 1 for `run --init`. It starts
// args (after an optional "--") as its child, in a process group of its own
// that takes the terminal when stdin is one; it forwards every signal it
// can catch to the child (but the terminal stop signals SIGTTIN and
// SIGTTOU, which concern itself, as with tini); it reaps every process that
// ends up its child; and when the child exits it returns the child's exit
// status, or 128+n when a signal n killed it. Exit statuses of its own:
// 127 the command was not found, 126 it could not be run, 1 anything else.
func Reaper(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "docker-init: no command given (usage: docker-init [--] COMMAND [ARG...])")
		return 1
	}
	// Everything is caught from here on: a signal before the child runs
	// has nothing to go to, and as PID 1 nothing else would reach us.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	if os.Getpid() != 1 {
		// Not the first process of a pid namespace: have orphans reparented
		// here anyway, so that they are reaped.
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}
	child, err := startReaperChild(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "docker-init: %v\n", err)
		switch {
		case errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound):
			return 127
		case errors.Is(err, os.ErrPermission):
			return 126
		}
		return 1
	}
	for sig := range sigs {
		switch sig {
		case unix.SIGCHLD:
			if code, done := reapAll(child); done {
				return code
			}
		case unix.SIGTTIN, unix.SIGTTOU:
		default:
			if err := unix.Kill(child, sig.(syscall.Signal)); err != nil && err != unix.ESRCH {
				fmt.Fprintf(os.Stderr, "docker-init: forward %v to %d: %v\n", sig, child, err)
			}
		}
	}
	return 1 // not reached: sigs is never closed
}

// startReaperChild starts the command in a new process group, given the
// terminal when stdin is this process's controlling terminal.
func startReaperChild(args []string) (int, error) {
	path, err := exec.LookPath(args[0])
	if err != nil {
		return 0, err
	}
	sys := &syscall.SysProcAttr{Setpgid: true}
	if _, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil {
		sys.Foreground, sys.Ctty = true, 0
	}
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   sys,
	})
	if err != nil {
		return 0, fmt.Errorf("exec %s: %w", args[0], err)
	}
	return pid, nil
}

// reapAll collects every exited child without blocking. done is true once
// child is among them, with its status as a shell reports it.
func reapAll(child int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return code, done
		}
		if pid == child {
			code, done = exitCode(ws), true
		}
	}
}

// exitCode is a wait status as a shell reports it: the exit status, or
// 128+n for a process killed by signal n.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
