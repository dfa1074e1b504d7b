package imagetest

import "syscall"

// childAttr makes a helper process die with the test binary, even when
// the test binary is killed before its cleanups run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
