package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/oci"
	"github.com/berth-project/berth/runtime/cgroup"
	"github.com/berth-project/berth/runtime/nsenter"
	"github.com/berth-project/berth/runtime/seccomp"
)

// CreateOpts are the options of Create.
type CreateOpts struct {
	ConsoleSocket string // unix socket to send the pty master to, when process.terminal
	PidFile       string
	NoPivot       bool // chroot instead of pivot_root (for ramfs roots)
	NoNewKeyring  bool
	PreserveFDs   int         // pass fds 3 .. 3+N-1 of this process on to the container
	Stdio         [3]*os.File // stdin, stdout, stderr of the container; ours by default
	Keep          bool        // Run: keep the stopped container instead of deleting it

	consoleConn *os.File // internal console socket of a foreground `run`
}

// Create builds the container id from the bundle and leaves its init process
// waiting for Start.
func (r *Runtime) Create(id, bundle string, o CreateOpts) (c *Container, err error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	// The cgroup move below is the slowest step of create; get the kernel
	// going on it now (see cgroup.Prime).
	cgroup.Prime()
	if bundle, err = filepath.Abs(bundle); err != nil {
		return nil, err
	}
	spec, err := oci.LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	rootfs, err := validateSpec(spec, bundle)
	if err != nil {
		return nil, err
	}
	if spec.Process.Terminal && o.ConsoleSocket == "" && o.consoleConn == nil {
		return nil, errors.New("cannot allocate tty if runc will detach without setting console socket")
	}
	if !spec.Process.Terminal && o.ConsoleSocket != "" {
		return nil, errors.New("cannot use console socket if runc will not detach or allocate tty")
	}

	tracePhase("create", "validated")
	dir := filepath.Join(r.Root, id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, ErrExist
		}
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	var cg cgroup.Manager
	var p *initProcess
	defer func() {
		if err != nil {
			if p != nil {
				p.kill()
			}
			if cg != nil {
				cg.Destroy()
			}
			os.RemoveAll(dir)
		}
	}()

	fifoPath := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// Any container user may open it for writing (mkfifo applied our umask).
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("chmod exec fifo: %w", err)
	}
	if uid, gid := rootIDs(spec); uid != 0 || gid != 0 {
		if err := os.Chown(fifoPath, int(uid), int(gid)); err != nil {
			return nil, fmt.Errorf("chown exec fifo: %w", err)
		}
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()

	cgPath := spec.Linux.CgroupsPath
	if cgPath == "" {
		cgPath = "/" + id
	}
	if cg, err = cgroup.New(cgPath); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", cgPath, err)
	}

	cfg := &initConfig{
		Mode:         "create",
		ID:           id,
		Spec:         initSpec(spec),
		Process:      spec.Process,
		Bundle:       bundle,
		Rootfs:       rootfs,
		NoPivot:      o.NoPivot,
		NoNewKeyring: o.NoNewKeyring,
		PreserveFDs:  o.PreserveFDs,
		CgroupPaths:  cg.Paths(),
	}
	so := &spawnOpts{stdio: stdio(o.Stdio), dir: bundle, cgroup: cg, exe: r.Exe, resources: withDefaultDevices(spec),
		seal: !newPidNamespace(spec), sealed: r.Sealed}
	for i := 0; i < o.PreserveFDs; i++ {
		so.extra = append(so.extra, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(3+i)))
	}
	cfg.FifoFD = 3 + len(so.extra)
	so.extra = append(so.extra, fifo)
	if o.ConsoleSocket != "" || o.consoleConn != nil {
		conn := o.consoleConn
		if conn == nil {
			if conn, err = dialConsole(o.ConsoleSocket); err != nil {
				return nil, err
			}
			defer conn.Close()
		}
		cfg.ConsoleFD = 3 + len(so.extra)
		so.extra = append(so.extra, conn)
	}
	closeListener, err := prepareSeccomp(spec, so, cfg)
	if err != nil {
		return nil, err
	}
	defer closeListener()
	if err := namespaceBootstrap(spec, so, cfg); err != nil {
		return nil, err
	}

	tracePhase("create", "prepared")
	created := time.Now().UTC()
	if p, err = spawn(so, cfg); err != nil {
		return nil, fmt.Errorf("unable to start container process: %w", err)
	}
	tracePhase("create", "spawned")
	// The configuration is written while init builds the container.
	specSaved := make(chan error, 1)
	go func() { specSaved <- saveSpec(dir, spec) }()
	defer func() {
		if specSaved != nil {
			<-specSaved // never leave a write running behind a failure
		}
	}()
	c = &Container{rt: r, dir: dir, spec: spec, s: saved{
		ID: id, Bundle: bundle, Rootfs: rootfs, Pid: p.pid, Created: created,
		CgroupPaths: cg.Paths(), Annotations: spec.Annotations,
	}}
	if spec.Hooks != nil && len(spec.Hooks.Poststart)+len(spec.Hooks.Poststop) > 0 {
		// Only the hooks that start and delete run.
		if c.s.Hooks, err = json.Marshal(specs.Hooks{Poststart: spec.Hooks.Poststart, Poststop: spec.Hooks.Poststop}); err != nil {
			return nil, err
		}
	}
	for {
		m, err := p.sync.readMessage()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("container init exited unexpectedly")
			}
			return nil, fmt.Errorf("unable to start container process: %w", err)
		}
		if m == msgReady {
			break
		}
		if m != msgHooks {
			return nil, fmt.Errorf("unexpected message %q from container init", m)
		}
		st := c.hookState(Creating)
		if spec.Hooks != nil {
			if err := runHooks("prestart", spec.Hooks.Prestart, st); err != nil {
				return nil, err
			}
			if err := runHooks("createRuntime", spec.Hooks.CreateRuntime, st); err != nil {
				return nil, err
			}
		}
		if err := p.sync.writeJSON(message{Type: msgHooksDone}); err != nil {
			return nil, fmt.Errorf("resume container init after hooks: %w", err)
		}
	}
	tracePhase("create", "ready")
	pst, err := readProcStat(p.pid)
	if err != nil {
		return nil, fmt.Errorf("container init exited unexpectedly: %w", err)
	}
	c.s.InitStartTime = pst.startTime
	// The configuration first: a state.json means the container is complete.
	err = <-specSaved
	specSaved = nil
	if err != nil {
		return nil, err
	}
	if err := c.s.save(dir); err != nil {
		return nil, err
	}
	c.ready = true
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, p.pid); err != nil {
			return nil, err
		}
	}
	tracePhase("create", "saved")
	p.sync.f.Close()
	return c, nil
}

// namespaceBootstrap turns the spec's namespaces into the C stage's bootstrap.
func namespaceBootstrap(spec *specs.Spec, so *spawnOpts, cfg *initConfig) error {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path != "" {
			so.boot.Join = append(so.boot.Join, nsenter.Join{Type: nsNames[ns.Type], Path: ns.Path})
			if ns.Type == specs.UserNamespace {
				cfg.UserNS = true
			}
			continue
		}
		if ns.Type != specs.CgroupNamespace {
			// Init makes its cgroup namespace itself, once it is in its cgroup.
			so.boot.CloneFlags |= nsFlags[ns.Type]
		}
		switch ns.Type {
		case specs.UserNamespace:
			cfg.UserNS = true
			so.uidMaps, so.gidMaps = spec.Linux.UIDMappings, spec.Linux.GIDMappings
		case specs.CgroupNamespace:
			cfg.NewCgroupNS = true
		}
	}
	for clock, off := range spec.Linux.TimeOffsets {
		so.boot.TimeOffsets = append(so.boot.TimeOffsets, nsenter.TimeOffset{Clock: clock, Secs: off.Secs, Nanos: off.Nanosecs})
	}
	return nil
}

// rootIDs is the host uid and gid of the container's root user.
func rootIDs(s *specs.Spec) (uid, gid uint32) {
	host := func(maps []specs.LinuxIDMapping) uint32 {
		for _, m := range maps {
			if m.ContainerID == 0 {
				return m.HostID
			}
		}
		return 0
	}
	return host(s.Linux.UIDMappings), host(s.Linux.GIDMappings)
}

func stdio(f [3]*os.File) [3]*os.File {
	def := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	for i := range f {
		if f[i] == nil {
			f[i] = def[i]
		}
	}
	return f
}

func dialConsole(path string) (*os.File, error) {
	return dialUnix("console socket", path)
}

// dialUnix connects to the unix socket at path, for passing to init.
func dialUnix(what, path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to %s %s: %w", what, path, err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return f, nil
}

// initSpec is the spec as init gets it: without the resources (the runtime
// sets them on the cgroup) and the seccomp profile (init gets the compiled
// program), whose types would cost init time to decode.
func initSpec(spec *specs.Spec) *specs.Spec {
	s, l := *spec, *spec.Linux
	l.Resources, l.Seccomp = nil, nil
	s.Linux = &l
	return &s
}

// prepareSeccomp compiles the spec's seccomp profile here, before init
// starts (a bad profile fails with nothing started, and init has neither
// the profile to decode nor the program to build), and hands init the
// program instead of the profile. With a listenerPath it also connects to
// it and passes the connection to init, which sends the notify fd on it.
func prepareSeccomp(spec *specs.Spec, so *spawnOpts, cfg *initConfig) (func(), error) {
	sc := spec.Linux.Seccomp
	if sc == nil {
		return func() {}, nil
	}
	f, err := seccomp.Compile(sc)
	if err != nil {
		return nil, err
	}
	if f.Notify && sc.ListenerPath == "" {
		return nil, errors.New("seccomp: the profile uses SCMP_ACT_NOTIFY but sets no listenerPath")
	}
	cfg.Seccomp = &seccompProgram{
		Prog: encodeBPF(f.Prog), Flags: f.Flags, Notify: f.Notify,
		ListenerPath: sc.ListenerPath, ListenerMetadata: sc.ListenerMetadata,
	}
	if sc.ListenerPath == "" {
		return func() {}, nil
	}
	conn, err := dialUnix("seccomp listener", sc.ListenerPath)
	if err != nil {
		return nil, err
	}
	cfg.SeccompFD = 3 + len(so.extra)
	so.extra = append(so.extra, conn)
	return func() { conn.Close() }, nil
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return writeFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644)
}

func loadSpecForRun(bundle string) (*specs.Spec, error) {
	return oci.LoadSpec(bundle)
}

// allowedDevices are the device rules every container gets after the
// spec's own, as runc adds them: the default devices, /dev/console, the pty
// devices and /dev/net/tun.
var allowedDevices = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(136), Minor: nil, Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"},
}

func i64(v int64) *int64 { return &v }

// withDefaultDevices returns the spec's resources with the device rules for
// the default devices and the spec's devices appended.
func withDefaultDevices(spec *specs.Spec) *specs.LinuxResources {
	r := spec.Linux.Resources
	if r == nil || len(r.Devices) == 0 {
		return r
	}
	out := *r
	out.Devices = append(append([]specs.LinuxDeviceCgroup(nil), r.Devices...), allowedDevices...)
	for _, d := range spec.Linux.Devices {
		access := "rwm"
		if ruleFor(r.Devices, d) {
			// The spec's rule says what the container may do with it; init
			// still has to make the node (mknod) after the rules are set.
			access = "m"
		}
		out.Devices = append(out.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: i64(d.Major), Minor: i64(d.Minor), Access: access})
	}
	return &out
}

// ruleFor reports whether the spec has an allow rule of its own for device
// d (docker's --device HOST:CTR:r): then d gets that access, not rwm.
func ruleFor(rules []specs.LinuxDeviceCgroup, d specs.LinuxDevice) bool {
	for _, r := range rules {
		if !r.Allow || r.Type != "" && r.Type != "a" && r.Type != d.Type {
			continue
		}
		if (r.Major == nil || *r.Major < 0 || *r.Major == d.Major) && (r.Minor == nil || *r.Minor < 0 || *r.Minor == d.Minor) {
			return true
		}
	}
	return false
}

// newPidNamespace reports whether the container's init is the first process
// of a pid namespace of its own, which nothing else can look into.
func newPidNamespace(spec *specs.Spec) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path == ""
		}
	}
	return false
}
