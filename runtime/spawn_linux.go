package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/runtime/cgroup"
	"github.com/berth-project/berth/runtime/nsenter"
)

// envInitPipe names the fd of the sync socket for the Go half of `berth init`.
const envInitPipe = "_BERTH_INITPIPE"

// initConfig is what the runtime sends `berth init` once it runs in the
// container's namespaces.
type initConfig struct {
	Mode         string         `json:"mode"` // "create" or "exec"
	ID           string         `json:"id"`
	Spec         *specs.Spec    `json:"spec"`
	Process      *specs.Process `json:"process"`
	Bundle       string         `json:"bundle"`
	Rootfs       string         `json:"rootfs"`
	NoPivot      bool           `json:"no_pivot,omitempty"`
	NoNewKeyring bool           `json:"no_new_keyring,omitempty"`
	UserNS       bool           `json:"userns,omitempty"`     // runs in a user namespace: no mknod
	NewCgroupNS  bool           `json:"cgroupns,omitempty"`   // has its own cgroup namespace
	FifoFD       int            `json:"fifo_fd,omitempty"`    // exec fifo (O_PATH), create only
	ConsoleFD    int            `json:"console_fd,omitempty"` // socket to send the pty master on; 0 = none
	PreserveFDs  int            `json:"preserve_fds,omitempty"`
	// SeccompFD is a socket connected to the spec's seccomp listenerPath,
	// where init sends the notify listener; 0 = none.
	SeccompFD int `json:"seccomp_fd,omitempty"`
	// Seccomp is the compiled profile (the Spec sent to init has none).
	Seccomp     *seccompProgram   `json:"seccomp,omitempty"`
	CgroupSync  bool              `json:"cgroup_sync,omitempty"` // wait for cgroup-ready
	Trace       bool              `json:"trace,omitempty"`       // print phase times (BERTH_TRACE)
	HostPid     int               `json:"host_pid"`
	CgroupPaths map[string]string `json:"cgroup_paths,omitempty"`
	Created     string            `json:"created,omitempty"`

	sync       *syncPipe // init side: the socket to the runtime
	rootFD     int       // init side: the rootfs, while its mounts are made
	cgroupDone bool
}

// waitCgroup waits, once, until the runtime has put init in its cgroup, then
// makes the container's cgroup namespace (rooted at that cgroup). It runs on
// init's locked thread, which is the one that execs the user's program.
func (c *initConfig) waitCgroup() error {
	if c.cgroupDone {
		return nil
	}
	c.cgroupDone = true
	if c.CgroupSync {
		if m, err := c.sync.readMessage(); err != nil || m != msgCgroupReady {
			return fmt.Errorf("waiting for the cgroup: got %q, %v", m, err)
		}
	}
	if c.NewCgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	return nil
}

// spawnOpts says how to start `berth init`.
type spawnOpts struct {
	boot      nsenter.Bootstrap
	uidMaps   []specs.LinuxIDMapping // written when the C stage makes a user namespace
	gidMaps   []specs.LinuxIDMapping
	cgroup    cgroup.Manager        // init is put in it while it starts up
	resources *specs.LinuxResources // set on the cgroup once init is in it, before it goes on
	stdio     [3]*os.File
	extra     []*os.File // become fds 3, 4, ... in init; the sync socket follows them
	dir       string
	exe       string
	// seal starts init from a binary that can't be written through (see
	// sealedExe): needed whenever processes of the container can see init,
	// that is unless init is the first process of a new pid namespace.
	seal bool
	// sealed is a sealed copy of exe made beforehand (Runtime.Sealed),
	// used for seal when it is one; the caller keeps it open.
	sealed *os.File
}

// initProcess is a started `berth init`, reported in by the C stage.
type initProcess struct {
	pid  int
	sync *syncPipe
}

// kill ends the init process and reaps it; used on failure paths.
func (p *initProcess) kill() {
	if p.pid <= 0 {
		panic("kill of init pid " + strconv.Itoa(p.pid)) // kill(0 or -1) would hit everything
	}
	unix.Kill(p.pid, unix.SIGKILL)
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	p.sync.f.Close()
}

// spawn starts `berth init` in the container's namespaces (made by clone,
// or entered by the C stage), puts it in its cgroup and sends it cfg. The
// returned process is the container's init (or exec'd process), a child of
// this process.
func spawn(o *spawnOpts, cfg *initConfig) (*initProcess, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("init socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "init-parent")
	child := os.NewFile(uintptr(fds[1]), "init-child")
	defer child.Close()

	files := append([]*os.File{o.stdio[0], o.stdio[1], o.stdio[2]}, o.extra...)
	files = append(files, child)
	syncFD := strconv.Itoa(len(files) - 1)
	exe := o.exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	ready := o.seal && o.sealed != nil && IsSealed(o.sealed.Fd())
	if ready || o.seal && exe == "/proc/self/exe" {
		sealed := o.sealed
		if !ready {
			if sealed, err = sealedExe(); err != nil {
				parent.Close()
				return nil, err
			}
			defer sealed.Close()
		}
		// A number above the ones the child's descriptors are moved to, so
		// it is still this binary when the child execs it.
		fd, err := unix.FcntlInt(sealed.Fd(), unix.F_DUPFD_CLOEXEC, len(files)+3)
		if err != nil {
			parent.Close()
			return nil, fmt.Errorf("dup berth binary descriptor: %w", err)
		}
		defer unix.Close(fd)
		exe = "/proc/self/fd/" + strconv.Itoa(fd)
	}
	// Only new namespaces (no joins, no user or time namespace): clone(2)
	// makes them as it starts init, which is then the container's init
	// already, and the C stage has nothing to do. Otherwise the C stage
	// enters them before the Go runtime starts.
	direct := len(o.boot.Join) == 0 && len(o.boot.TimeOffsets) == 0 &&
		o.boot.CloneFlags&(unix.CLONE_NEWUSER|unix.CLONE_NEWTIME) == 0
	// GODEBUG spares init's Go runtime reading its cgroup's CPU limit at
	// start (it only lives to exec); the user's program gets the spec's env.
	env := []string{envInitPipe + "=" + syncFD, "GODEBUG=containermaxprocs=0,updatemaxprocs=0"}
	attr := &os.ProcAttr{Dir: o.dir, Files: files, Env: env}
	if direct {
		attr.Sys = &syscall.SysProcAttr{Cloneflags: o.boot.CloneFlags}
	} else {
		attr.Env = append(attr.Env, nsenter.EnvFD+"="+syncFD)
	}
	proc, err := os.StartProcess(exe, []string{"berth", "init"}, attr)
	if err != nil {
		parent.Close()
		return nil, fmt.Errorf("start init process: %w", err)
	}
	tracePhase("spawn", "started")
	first := proc.Pid
	proc.Release()
	sp := newSyncPipe(parent)
	p := &initProcess{pid: first, sync: sp}
	// The cgroup is set up alongside everything else. Moving a process into
	// a cgroup costs an RCU grace period in the kernel (the first write to
	// cgroup.procs, milliseconds on a busy machine); done in parallel it
	// overlaps the namespaces, init's start and the rootfs instead of
	// adding to them. Init waits for cgroup-ready before it makes its cgroup
	// namespace or runs anything of the user's.
	cgDone := make(chan error, 1)
	if o.cgroup != nil {
		go func() { cgDone <- o.cgroup.Apply(first) }()
	} else {
		cgDone <- nil
	}
	cgWaited := false
	waitCg := func() error {
		if cgWaited {
			return nil
		}
		cgWaited = true
		// ESRCH: the intermediate process exited before it was moved; its
		// child, the init, is moved below.
		if err := <-cgDone; err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("apply cgroup: %w", err)
		}
		return nil
	}
	firstReaped := false
	fail := func(err error) (*initProcess, error) {
		waitCg()
		p.kill()
		if p.pid != first && !firstReaped {
			unix.Kill(first, unix.SIGKILL)
			reap(first)
		}
		return nil, err
	}

	if !direct {
		pid, err := cStage(sp, o, first)
		if err != nil {
			return fail(err)
		}
		p.pid = pid
	}
	tracePhase("spawn", "pid")
	cfg.HostPid = p.pid
	cfg.Trace = traceOn
	cfg.CgroupSync = o.cgroup != nil
	if err := sp.writeJSON(cfg); err != nil {
		return fail(fmt.Errorf("send config to init: %w", err))
	}
	if p.pid != first {
		// The intermediate process has done its part and exits now.
		ws := reap(first)
		firstReaped = true
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return fail(fmt.Errorf("init intermediate process failed: %v", ws))
		}
	}
	tracePhase("spawn", "config-sent")
	if o.cgroup != nil {
		if err := waitCg(); err != nil {
			return fail(err)
		}
		tracePhase("spawn", "cgroup-applied")
		if p.pid != first {
			// Forked before or after its parent was moved: either way this
			// puts it in the cgroup, and cheaply, right after the first move.
			if err := o.cgroup.Apply(p.pid); err != nil {
				return fail(fmt.Errorf("apply cgroup: %w", err))
			}
		}
		if o.resources != nil {
			if err := o.cgroup.Set(o.resources); err != nil {
				return fail(fmt.Errorf("unable to apply cgroup configuration: %w", err))
			}
		}
		tracePhase("spawn", "cgroup-set")
		if err := sp.writeJSON(message{Type: msgCgroupReady}); err != nil {
			return fail(fmt.Errorf("resume init: %w", err))
		}
	}
	return p, nil
}

// cStage takes the C stage of init (runtime/nsenter) through the namespaces:
// it sends the bootstrap, writes id maps when asked, and returns the pid that
// goes on as init.
func cStage(sp *syncPipe, o *spawnOpts, first int) (int, error) {
	boot, err := o.boot.Encode()
	if err != nil {
		return 0, err
	}
	if _, err := sp.f.Write(boot); err != nil {
		return 0, fmt.Errorf("send bootstrap to init: %w", err)
	}
	for {
		l, err := sp.line()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("init exited before entering the namespaces")
			}
			return 0, err
		}
		switch {
		case l == "usermap":
			if err := writeIDMaps(first, o.uidMaps, o.gidMaps); err != nil {
				return 0, err
			}
			if _, err := sp.f.Write([]byte("ok\n")); err != nil {
				return 0, err
			}
		case strings.HasPrefix(l, "pid "):
			pid, err := strconv.Atoi(l[4:])
			if err != nil {
				return 0, fmt.Errorf("bad pid from init: %q", l)
			}
			return pid, nil
		case strings.HasPrefix(l, "error "):
			return 0, errors.New(l[6:])
		default:
			return 0, fmt.Errorf("unexpected message from init: %q", l)
		}
	}
}

func reap(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws
		}
	}
}

func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping) error {
	write := func(file string, maps []specs.LinuxIDMapping) error {
		var sb strings.Builder
		for _, m := range maps {
			fmt.Fprintf(&sb, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		path := fmt.Sprintf("/proc/%d/%s", pid, file)
		if err := os.WriteFile(path, []byte(sb.String()), 0); err != nil {
			return fmt.Errorf("write %s %q: %w", file, sb.String(), err)
		}
		return nil
	}
	if err := write("uid_map", uids); err != nil {
		return err
	}
	return write("gid_map", gids)
}
