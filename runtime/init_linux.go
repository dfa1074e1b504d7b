package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/runtime/seccomp"

	// The C stage that enters the namespaces before the Go runtime starts.
	_ "github.com/berth-project/berth/runtime/nsenter"
)

// readySent is set once init has told the runtime it is ready: later errors
// have no runtime to go to.
var readySent bool

// A process started as `berth init` becomes the container's init from this
// package's initialization, before the packages the rest of the binary
// links are initialized: init needs none of them, and their
// initialization is most of a berth process's start (compose-go's JSON
// schema compiler alone takes milliseconds), paid on every container
// start and every exec. Go initializes a package after everything it
// imports, so all that Init uses is ready; cmd/berth's main keeps its own
// dispatch for the case where this one has not run.
func init() {
	if IsInit() {
		Init()
	}
}

// IsInit reports whether this process was started as `berth init`.
func IsInit() bool {
	return len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv(envInitPipe) != ""
}

// Init is the Go half of `berth init`: by now the C stage has put the process
// in the container's namespaces. Init builds the container from the config the
// runtime sends, and ends by exec'ing the user's program. It returns only
// after reporting an error to the runtime, and then exits.
func Init() {
	goruntime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv(envInitPipe))
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth init: no init pipe; this command is run by the runtime")
		os.Exit(2)
	}
	sp := newSyncPipe(os.NewFile(uintptr(fd), "init-pipe"))
	var cfg initConfig
	t0 := time.Now()
	if err = sp.readJSON(&cfg); err == nil {
		if cfg.Trace {
			// Go runtime started, config read and decoded.
			fmt.Fprintf(os.Stderr, "@init go %d\n", t0.UnixMicro())
		}
		traceOn = cfg.Trace
		tracePhase("init", "config")
		cfg.sync = sp
		unix.CloseOnExec(fd)
		if cfg.Mode == "exec" {
			err = initExec(sp, &cfg)
		} else {
			err = initContainer(sp, &cfg)
		}
	}
	if sp.writeJSON(message{Type: msgError, Error: err.Error()}) != nil || readySent {
		// The runtime has gone (create returned): stderr is all that is left.
		fmt.Fprintf(os.Stderr, "berth init: %v\n", err)
	}
	os.Exit(1)
}

// initContainer builds the container and waits on the exec fifo.
func initContainer(sp *syncPipe, c *initConfig) error {
	spec := c.Spec
	unix.Umask(0)
	if !c.NoNewKeyring {
		if _, err := unix.KeyctlJoinSessionKeyring(c.ID); err != nil && err != unix.ENOSYS {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	tracePhase("init", "begin")
	if err := prepareRootfs(c); err != nil {
		return err
	}
	if err := c.waitCgroup(); err != nil {
		return err
	}
	tracePhase("init", "rootfs")
	if h := spec.Hooks; h != nil && len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer) > 0 {
		if err := sp.writeJSON(message{Type: msgHooks}); err != nil {
			return err
		}
		if m, err := sp.readMessage(); err != nil || m != msgHooksDone {
			return fmt.Errorf("waiting for the runtime's hooks: %v", err)
		}
		if err := runHooks("createContainer", h.CreateContainer, c.hookState(Creating)); err != nil {
			return err
		}
	}
	tracePhase("init", "hooks")
	if err := enterRootfs(c); err != nil {
		return err
	}
	tracePhase("init", "pivoted")
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if c.ConsoleFD > 0 {
		if err := setupConsole(c, true); err != nil {
			return err
		}
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("setdomainname %q: %w", spec.Domainname, err)
		}
	}
	for k, v := range spec.Linux.Sysctl {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmt.Errorf("write sysctl %s=%s: %w", k, v, err)
		}
	}
	if err := finalizeRootfs(spec); err != nil {
		return err
	}
	tracePhase("init", "finalized")
	name, env, err := c.prepareProcess()
	if err != nil {
		return err
	}
	// Tell the runtime we are ready; from here the container waits for start.
	if err := sp.writeJSON(message{Type: msgReady}); err != nil {
		return err
	}
	readySent = true
	tracePhase("init", "ready")
	if err := waitFifo(c.FifoFD); err != nil {
		return err
	}
	if spec.Hooks != nil && len(spec.Hooks.StartContainer) > 0 {
		if err := runHooks("startContainer", spec.Hooks.StartContainer, c.hookState(Created)); err != nil {
			return err
		}
	}
	tracePhase("init", "started")
	return execProcess(c, name, env)
}

// initExec finishes a process joining a running container.
func initExec(sp *syncPipe, c *initConfig) error {
	if c.ConsoleFD > 0 {
		if _, err := unix.Setsid(); err != nil {
			return fmt.Errorf("setsid: %w", err)
		}
		if err := setupConsole(c, false); err != nil {
			return err
		}
	}
	name, env, err := c.prepareProcess()
	if err != nil {
		return err
	}
	if err := c.waitCgroup(); err != nil {
		return err
	}
	// Success is the sync socket closing on exec (it is close-on-exec).
	return execProcess(c, name, env)
}

func (c *initConfig) hookState(status Status) *specs.State {
	return &specs.State{
		Version:     specs.Version,
		ID:          c.ID,
		Status:      specs.ContainerState(status),
		Pid:         c.HostPid,
		Bundle:      c.Bundle,
		Annotations: c.Spec.Annotations,
	}
}

// prepareProcess applies the process's limits and identity and resolves the
// program, so that a missing executable is an error of create, not of start.
// The seccomp filter goes on last when no_new_privs is set, so that as few
// of init's own system calls as possible run under it; without
// no_new_privs loading it needs CAP_SYS_ADMIN, so it goes on before the
// capabilities are dropped, as runc does.
func (c *initConfig) prepareProcess() (string, []string, error) {
	p := c.Process
	var filter *seccomp.Filter
	if c.Seccomp != nil {
		var err error
		if filter, err = c.Seccomp.filter(); err != nil {
			return "", nil, err
		}
	}
	for _, rl := range p.Rlimits {
		res := rlimitNames[rl.Type]
		lim := syscall.Rlimit{Cur: rl.Soft, Max: rl.Hard}
		if err := syscall.Setrlimit(res, &lim); err != nil {
			return "", nil, fmt.Errorf("setrlimit %s soft=%d hard=%d: %w", rl.Type, rl.Soft, rl.Hard, err)
		}
	}
	if p.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*p.OOMScoreAdj)), 0); err != nil {
			return "", nil, fmt.Errorf("set oom_score_adj to %d: %w", *p.OOMScoreAdj, err)
		}
	}
	if p.ApparmorProfile != "" {
		if err := applyAppArmor(p.ApparmorProfile); err != nil {
			return "", nil, err
		}
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", nil, fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if filter != nil && !p.NoNewPrivileges {
		if err := c.loadSeccomp(filter); err != nil {
			return "", nil, err
		}
	}
	if err := setupUser(p); err != nil {
		return "", nil, err
	}
	env := processEnv(p)
	if err := unix.Chdir(p.Cwd); err != nil {
		return "", nil, fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", p.Cwd, err)
	}
	if err := checkCwd(p.Cwd); err != nil {
		return "", nil, err
	}
	name, err := lookPath(p.Args[0], env)
	if err != nil {
		return "", nil, err
	}
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	if filter != nil && p.NoNewPrivileges {
		if err := c.loadSeccomp(filter); err != nil {
			return "", nil, err
		}
	}
	return name, env, nil
}

// checkCwd makes sure the working directory is inside the container. A cwd
// such as /proc/self/fd/N leads through a descriptor that init holds to
// wherever it points, possibly the host (CVE-2024-21626); getcwd then fails
// with ENOENT or answers a path that is not absolute ("(unreachable)/...").
func checkCwd(cwd string) error {
	wd, err := unix.Getwd()
	if err == nil && !strings.HasPrefix(wd, "/") {
		err = unix.ENOENT
	}
	if err != nil {
		return fmt.Errorf("cwd %q is outside the container: %w", cwd, err)
	}
	return nil
}

// loadSeccomp loads the filter on this (locked) thread, the one that execs,
// and hands a notify listener to the spec's listenerPath.
func (c *initConfig) loadSeccomp(f *seccomp.Filter) error {
	fd, err := f.Load()
	if err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	if c.SeccompFD <= 0 {
		// prepareSeccomp refuses a notify profile without listenerPath.
		return errors.New("seccomp notify listener: no socket from the runtime")
	}
	state := specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      os.Getpid(),
		Metadata: c.Seccomp.ListenerMetadata,
		State: specs.State{
			Version: specs.Version, ID: c.ID, Status: specs.StateCreating, Pid: c.HostPid,
			Bundle: c.Bundle, Annotations: c.Spec.Annotations,
		},
	}
	if c.Mode == "exec" {
		state.State.Status = specs.StateRunning
	}
	data, err := json.Marshal(state)
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(c.SeccompFD, data, unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("send seccomp listener to %s: %w", c.Seccomp.ListenerPath, err)
	}
	return nil
}

// processEnv is the process's environment, with HOME added from the
// container's /etc/passwd (or /) when the config does not set it. A name
// given more than once keeps its last value, as with runc (`exec -e`
// overrides the container's environment): left in, a duplicate would have
// libc's getenv (and Go's) return the first one.
func processEnv(p *specs.Process) []string {
	env := make([]string, 0, len(p.Env)+1)
	seen := map[string]bool{}
	for i := len(p.Env) - 1; i >= 0; i-- {
		name, _, _ := strings.Cut(p.Env[i], "=")
		if seen[name] {
			continue
		}
		seen[name] = true
		env = append(env, p.Env[i])
	}
	slices.Reverse(env)
	if seen["HOME"] {
		return env
	}
	return append(env, "HOME="+homeDir(p.User.UID))
}

func homeDir(uid uint32) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	want := strconv.FormatUint(uint64(uid), 10)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) >= 6 && fields[2] == want && fields[5] != "" {
			return fields[5]
		}
	}
	return "/"
}

// lookPath finds name as execve would with the container's PATH.
func lookPath(name string, env []string) (string, error) {
	check := func(p string) error {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return unix.EISDIR
		}
		if fi.Mode()&0o111 == 0 {
			return unix.EACCES
		}
		return nil
	}
	if strings.Contains(name, "/") {
		if err := check(name); err != nil {
			return "", fmt.Errorf("exec: %q: %w", name, err)
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[5:]
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if check(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

// waitFifo blocks until `start` opens the exec fifo, then writes the byte
// that tells it we are going ahead.
func waitFifo(fd int) error {
	f, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	if _, err := unix.Write(f, []byte("0")); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	unix.Close(f)
	unix.Close(fd)
	return nil
}

// execProcess replaces berth init with the user's program. Every descriptor
// above the preserved ones is closed on exec, so none of berth's leaks in.
func execProcess(c *initConfig, name string, env []string) error {
	first := uint(3 + c.PreserveFDs)
	if err := unix.CloseRange(first, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		if err := closeExecFromProc(int(first)); err != nil {
			return err
		}
	}
	args := c.Process.Args
	if err := unix.Exec(name, args, env); err != nil {
		return fmt.Errorf("exec %s: %w", name, err)
	}
	return errors.New("unreachable")
}

func closeExecFromProc(first int) error {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("mark descriptors close-on-exec: %w", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

var rlimitNames = map[string]int{
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
}
