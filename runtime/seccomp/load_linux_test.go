package seccomp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// childEnv switches the test binary into a child that loads a filter.
const childEnv = "BERTH_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		child(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child loads a filter on a locked thread, makes syscalls on that thread
// and prints "name errno" lines.
func child(mode string) {
	runtime.LockOSThread()
	report := func(name string, errno unix.Errno) { fmt.Printf("%s %d\n", name, int(errno)) }
	fail := func(err error) { fmt.Printf("error %v\n", err); os.Exit(1) }
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail(err)
	}
	var s *specs.LinuxSeccomp
	switch mode {
	case "errno":
		s = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{
				sys(specs.ActErrno, uptr(99), []string{"uname"}),
				sys(specs.ActErrno, uptr(66), []string{"getpriority"}, arg(0, specs.OpEqualTo, unix.PRIO_PGRP, 0)),
			},
		}
	case "default":
		s = Default(nil)
	case "notify":
		s = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{sys(specs.ActNotify, nil, []string{"uname"})},
		}
	}
	f, err := Compile(s)
	if err != nil {
		fail(err)
	}
	fd, err := f.Load()
	if err != nil {
		if mode == "notify" {
			fmt.Printf("skip %v\n", err)
			return
		}
		fail(err)
	}
	var uts unix.Utsname
	call := func(nr uintptr, a ...uintptr) (uintptr, unix.Errno) {
		a = append(a, 0, 0, 0, 0, 0, 0)
		r, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
		return r, e
	}
	switch mode {
	case "errno":
		_, e := call(unix.SYS_UNAME, uintptr(unsafe.Pointer(&uts)))
		report("uname", e)
		_, e = call(unix.SYS_GETPRIORITY, unix.PRIO_PGRP, 0)
		report("getpriority_pgrp", e)
		_, e = call(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0)
		report("getpriority_process", e)
		_, e = call(unix.SYS_GETPID)
		report("getpid", e)
	case "default":
		_, e := call(unix.SYS_UNSHARE, unix.CLONE_NEWUSER)
		report("unshare", e)
		_, e = call(unix.SYS_MOUNT, 0, 0, 0, 0, 0)
		report("mount", e)
		_, e = call(unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM, 0)
		report("socket_vsock", e)
		_, e = call(unix.SYS_CLONE3, 0, 0)
		report("clone3", e)
		_, e = call(unix.SYS_KEYCTL, 0)
		report("keyctl", e)
		_, e = call(unix.SYS_GETPID)
		report("getpid", e)
		_, e = call(unix.SYS_UNAME, uintptr(unsafe.Pointer(&uts)))
		report("uname", e)
		sfd, _, e := unix.Syscall(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)
		report("socket_unix", e)
		unix.Close(int(sfd))
	case "notify":
		done := make(chan string, 1)
		go func() { done <- answer(fd) }()
		r, e := call(unix.SYS_UNAME, uintptr(unsafe.Pointer(&uts)))
		fmt.Printf("uname_ret %d\n", r)
		report("uname", e)
		fmt.Printf("supervisor %s\n", <-done)
	}
}

// seccompNotif and seccompNotifResp are struct seccomp_notif and
// seccomp_notif_resp.
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

type seccompNotifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

// answer receives one notification on fd (from another thread, which the
// filter does not cover) and makes the call return 4242.
func answer(fd int) string {
	var n seccompNotif
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); e != 0 {
		return "recv:" + e.Error()
	}
	if n.nr != unix.SYS_UNAME {
		return fmt.Sprintf("unexpected-nr:%d", n.nr)
	}
	resp := seccompNotifResp{id: n.id, val: 4242}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); e != 0 {
		return "send:" + e.Error()
	}
	return "ok"
}

// runChild runs the test binary as a filter child and returns its report.
func runChild(t *testing.T, mode string) map[string]string {
	t.Helper()
	if err := unix.Prctl(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err == unix.EINVAL {
		t.Skip("kernel without seccomp")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, out)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		got[k] = v
	}
	if msg, ok := got["skip"]; ok {
		t.Skipf("kernel refused: %s", msg)
	}
	return got
}

func expect(t *testing.T, got map[string]string, want map[string]unix.Errno) {
	t.Helper()
	for k, e := range want {
		if got[k] != fmt.Sprint(int(e)) {
			t.Errorf("%s: errno %q, want %d (%v)", k, got[k], int(e), e)
		}
	}
}

func TestLoadErrno(t *testing.T) {
	got := runChild(t, "errno")
	expect(t, got, map[string]unix.Errno{
		"uname":               99,
		"getpriority_pgrp":    66,
		"getpriority_process": 0,
		"getpid":              0,
	})
}

func TestLoadDefault(t *testing.T) {
	if nativeArch() == "" {
		t.Skip("no native arch support")
	}
	got := runChild(t, "default")
	expect(t, got, map[string]unix.Errno{
		"unshare":      unix.EPERM,
		"mount":        unix.EPERM,
		"socket_vsock": unix.EPERM,
		"clone3":       unix.ENOSYS,
		"keyctl":       unix.EPERM,
		"getpid":       0,
		"uname":        0,
		"socket_unix":  0,
	})
}

func TestLoadNotify(t *testing.T) {
	got := runChild(t, "notify")
	if got["supervisor"] != "ok" || got["uname_ret"] != "4242" || got["uname"] != "0" {
		t.Errorf("notify: supervisor %q, uname returned %q errno %q; want ok, 4242, 0", got["supervisor"], got["uname_ret"], got["uname"])
	}
}

func TestLoadEmpty(t *testing.T) {
	if _, err := (&Filter{}).Load(); err == nil {
		t.Error("Load of an empty filter succeeded")
	}
}
