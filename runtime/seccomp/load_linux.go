package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs the filter with seccomp(SECCOMP_SET_MODE_FILTER).
//
// The filter applies to the calling thread (and the threads and processes it
// creates later), or to all threads of the process when the spec asked for
// SECCOMP_FILTER_FLAG_TSYNC; call it from a goroutine locked with
// runtime.LockOSThread. The caller must have set no_new_privs
// (prctl(PR_SET_NO_NEW_PRIVS)) or hold CAP_SYS_ADMIN in its user namespace.
//
// When f.Notify is set, Load adds SECCOMP_FILTER_FLAG_NEW_LISTENER (and
// TSYNC_ESRCH when TSYNC is set, which the kernel requires together) and
// returns the listener fd, close-on-exec; otherwise it returns -1.
func (f *Filter) Load() (listenerFD int, err error) {
	if len(f.Prog) == 0 || len(f.Prog) > maxInsns {
		return -1, fmt.Errorf("seccomp: load filter: %d instructions: %w", len(f.Prog), ErrInvalid)
	}
	flags := f.Flags
	if f.Notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	}
	prog := unix.SockFprog{Len: uint16(len(f.Prog)), Filter: &f.Prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f)
	if errno != 0 {
		err := fmt.Errorf("seccomp: load filter (%d instructions, flags %#x): %w", len(f.Prog), flags, errno)
		if errors.Is(errno, unix.EACCES) {
			err = fmt.Errorf("%w (set no_new_privs first or hold CAP_SYS_ADMIN)", err)
		}
		return -1, err
	}
	if f.Notify {
		return int(r), nil
	}
	if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && r != 0 {
		return -1, fmt.Errorf("seccomp: load filter: thread %d could not be synchronized", r)
	}
	return -1, nil
}
