package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/oci"
	"github.com/berth-project/berth/runtime"
)

// runtimeFlags are runc's global flags.
type runtimeFlags struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	systemdCgroup bool
	rootless      string
	criu          string
}

// exitError carries an exit code without a message (the container's own status).
type exitError struct{ code int }

func (e *exitError) Error() string { return "exit status " + strconv.Itoa(e.code) }

var rtFlags runtimeFlags

func execute(root *cobra.Command) int {
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	logError(err)
	return 1
}

// logError reports a failure the way runc does: to the --log file in its
// format, and to stderr.
func logError(err error) {
	msg := err.Error()
	now := time.Now().Format(time.RFC3339Nano)
	if rtFlags.log == "" {
		// cobra fails an unknown command before it parses the flags; the
		// caller (a shim) still wants the reason in its log file.
		rtFlags.log, rtFlags.logFormat = argValue("--log"), argValue("--log-format")
	}
	if rtFlags.log != "" {
		if f, ferr := os.OpenFile(rtFlags.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
			if rtFlags.logFormat == "json" {
				b, _ := json.Marshal(map[string]string{"level": "error", "msg": msg, "time": now})
				f.Write(append(b, '\n'))
			} else {
				fmt.Fprintf(f, "time=%q level=error msg=%q\n", now, msg)
			}
			f.Close()
		}
	}
	fmt.Fprintln(os.Stderr, msg)
}

func newRuntimeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "OCI runtime (runc-compatible): create and run containers from bundles",
		Long: `berth runtime is an OCI runtime with runc's command line: containers are
created from bundles (a config.json and a root filesystem) and driven with
create, start, state, kill, delete, exec and friends.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// An unknown command is an error (exit 1), not a page of help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if rtFlags.logFormat != "text" && rtFlags.logFormat != "json" {
				return fmt.Errorf("invalid log-format: %s", rtFlags.logFormat)
			}
			if rtFlags.systemdCgroup {
				return errors.New("systemd cgroup flag passed, but systemd support for managing cgroups is not available in berth: use the cgroupfs driver")
			}
			return nil
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&rtFlags.root, "root", runtime.DefaultRoot, "root directory for storage of container state (this should be located in tmpfs)")
	pf.StringVar(&rtFlags.log, "log", "", "set the log file to write runtime logs to (default is '/dev/stderr')")
	pf.StringVar(&rtFlags.logFormat, "log-format", "text", "set the log format ('text' (default), or 'json')")
	pf.BoolVar(&rtFlags.debug, "debug", false, "enable debug logging")
	pf.BoolVar(&rtFlags.systemdCgroup, "systemd-cgroup", false, "enable systemd cgroup support (not supported by berth)")
	pf.StringVar(&rtFlags.rootless, "rootless", "auto", "ignore cgroup permission errors ('true', 'false', or 'auto')")
	pf.StringVar(&rtFlags.criu, "criu", "criu", "path to the criu binary used for checkpoint and restore (unused)")

	cmd.AddCommand(specCmd(), createCmd(), startCmd(), runCmd(), stateCmd(), listCmd(),
		killCmd(), deleteCmd(), execCmd(), psCmd(), pauseCmd(), resumeCmd(), updateCmd(), eventsCmd(), featuresCmd(), exampleCmd())
	return cmd
}

func openRuntime() (*runtime.Runtime, error) {
	return runtime.New(rtFlags.root)
}

func loadContainer(id string) (*runtime.Container, error) {
	rt, err := openRuntime()
	if err != nil {
		return nil, err
	}
	return rt.Load(id)
}

func specCmd() *cobra.Command {
	var bundle string
	var rootless bool
	cmd := &cobra.Command{
		Use:   "spec",
		Short: "create a new specification file (config.json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s := oci.DefaultSpec()
			if rootless {
				oci.RootlessSpec(s, uint32(os.Geteuid()), uint32(os.Getegid()))
			}
			return oci.WriteSpec(bundle, s)
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "path to the root of the bundle directory")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "generate a configuration for a rootless container")
	return cmd
}

func addCreateFlags(cmd *cobra.Command, bundle *string, o *runtime.CreateOpts) {
	f := cmd.Flags()
	f.StringVarP(bundle, "bundle", "b", ".", "path to the root of the bundle directory")
	f.StringVar(&o.ConsoleSocket, "console-socket", "", "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal")
	f.StringVar(&o.PidFile, "pid-file", "", "specify the file to write the process id to")
	f.BoolVar(&o.NoPivot, "no-pivot", false, "do not use pivot root to jail process inside rootfs (for a rootfs on ramfs)")
	f.BoolVar(&o.NoNewKeyring, "no-new-keyring", false, "do not create a new session keyring for the container")
	f.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)")
}

func oneID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%q requires exactly 1 argument (the container id)", cmd.CommandPath())
	}
	return nil
}

func createCmd() *cobra.Command {
	var bundle string
	var o runtime.CreateOpts
	cmd := &cobra.Command{
		Use:   "create [flags] <container-id>",
		Short: "create a container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := openRuntime()
			if err != nil {
				return err
			}
			if _, err := rt.Create(args[0], bundle, withListenFDs(o)); err != nil {
				return fmt.Errorf("berth create failed: %w", err)
			}
			return nil
		},
	}
	addCreateFlags(cmd, &bundle, &o)
	return cmd
}

// withListenFDs adds socket-activation fds ($LISTEN_FDS) to the preserved ones, as runc does.
func withListenFDs(o runtime.CreateOpts) runtime.CreateOpts {
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil && n > 0 {
		o.PreserveFDs += n
	}
	return o
}

func runCmd() *cobra.Command {
	var bundle string
	var o runtime.CreateOpts
	var detach, keep bool
	cmd := &cobra.Command{
		Use:   "run [flags] <container-id>",
		Short: "create and run a container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := openRuntime()
			if err != nil {
				return err
			}
			o.Keep = keep
			code, err := rt.Run(args[0], bundle, withListenFDs(o), !detach)
			if err != nil {
				return fmt.Errorf("berth run failed: %w", err)
			}
			if code != 0 {
				return &exitError{code}
			}
			return nil
		},
	}
	addCreateFlags(cmd, &bundle, &o)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	cmd.Flags().BoolVar(&keep, "keep", false, "do not delete the container after it exits")
	return cmd
}

func startCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "start <container-id>",
		Short: "executes the user defined process in a created container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			return c.Start()
		},
	}
}

func stateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "state <container-id>",
		Short: "output the state of a container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(c.State(), "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
}

func listCmd() *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "lists containers started by berth with the given root",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := openRuntime()
			if err != nil {
				return err
			}
			states, err := rt.List()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, s := range states {
					fmt.Fprintln(out, s.ID)
				}
				return nil
			}
			switch format {
			case "table":
				// tabwriter writes cell by cell: buffer, or it is a system call each.
				bw := bufio.NewWriter(out)
				w := tabwriter.NewWriter(bw, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, s := range states {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle,
						s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				return bw.Flush()
			case "json":
				if states == nil {
					states = []runtime.State{}
				}
				return json.NewEncoder(out).Encode(states)
			}
			return fmt.Errorf("invalid format option")
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "select one of: table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "display only container IDs")
	return cmd
}

func killCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [flags] <container-id> [signal]",
		Short: "kill sends the specified signal (default: SIGTERM) to the container's init process",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("%q requires 1 or 2 arguments: <container-id> [signal]", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			sigName := ""
			if len(args) == 2 {
				sigName = args[1]
			}
			sig, err := runtime.Signal(sigName)
			if err != nil {
				return err
			}
			return c.Kill(sig, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "send the specified signal to all processes inside the container")
	return cmd
}

func deleteCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete [flags] <container-id>",
		Aliases: []string{"rm"},
		Short:   "delete any resources held by the container, often used with detached containers",
		Args:    oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				if errors.Is(err, runtime.ErrNotExist) && force {
					return nil
				}
				return err
			}
			return c.Delete(force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "forcibly deletes the container if it is still running (uses SIGKILL)")
	return cmd
}

func execCmd() *cobra.Command {
	var (
		o                                    runtime.ExecOpts
		processFile, cwd, user               string
		env, caps                            []string
		gids                                 []int
		tty, detach, noNewPrivs, ignorePause bool
		processLabel, apparmor, cgroupPath   string
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] <container-id> <command> [command options]",
		Short: "execute new process inside the container",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("%q requires at least 1 argument", cmd.CommandPath())
			}
			if processFile == "" && len(args) < 2 {
				return errors.New("exec args cannot be empty")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			var p *specs.Process
			if processFile != "" {
				data, err := os.ReadFile(processFile)
				if err != nil {
					return fmt.Errorf("read process file: %w", err)
				}
				p = new(specs.Process)
				if err := json.Unmarshal(data, p); err != nil {
					return fmt.Errorf("parse process file %s: %w", processFile, err)
				}
			} else {
				if c.Spec() == nil {
					return runtime.ErrNotRunning
				}
				base := *c.Spec().Process
				p = &base
				p.Args = args[1:]
				p.Terminal = tty
				p.ConsoleSize = nil
				p.Env = append(append([]string(nil), base.Env...), env...)
				if cwd != "" {
					p.Cwd = cwd
				}
				if user != "" {
					uid, gid, err := parseUser(user)
					if err != nil {
						return err
					}
					p.User.UID = uid
					if gid != nil {
						p.User.GID = *gid
					}
				}
				for _, g := range gids {
					p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
				}
				if noNewPrivs {
					p.NoNewPrivileges = true
				}
				if processLabel != "" {
					p.SelinuxLabel = processLabel
				}
				if apparmor != "" {
					p.ApparmorProfile = apparmor
				}
				if len(caps) > 0 {
					p.Capabilities = addCaps(p.Capabilities, caps)
				}
			}
			o.IgnorePaused = ignorePause
			_ = cgroupPath
			o.Foreground = !detach
			o.PreserveFDs += listenFDs()
			var sigs <-chan os.Signal
			if !detach {
				var stop func()
				sigs, stop = runtime.Signals()
				defer stop()
			}
			proc, err := c.Exec(p, o)
			if err != nil {
				return err
			}
			if detach {
				return nil
			}
			code, err := proc.Forward(sigs)
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code}
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	f := cmd.Flags()
	f.StringVar(&o.ConsoleSocket, "console-socket", "", "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal")
	f.StringVar(&cwd, "cwd", "", "current working directory in the container")
	f.StringArrayVarP(&env, "env", "e", nil, "set environment variables")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.StringVarP(&user, "user", "u", "", "UID (format: <uid>[:<gid>])")
	f.IntSliceVarP(&gids, "additional-gids", "g", nil, "additional gids")
	f.StringVarP(&processFile, "process", "p", "", "path to the process.json")
	f.BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	f.StringVar(&o.PidFile, "pid-file", "", "specify the file to write the process id to")
	f.StringVar(&processLabel, "process-label", "", "set the asm process label for the process commonly used with selinux")
	f.StringVar(&apparmor, "apparmor", "", "set the apparmor profile for the process")
	f.BoolVar(&noNewPrivs, "no-new-privs", false, "set the no new privileges value for the process")
	f.StringArrayVarP(&caps, "cap", "c", nil, "add a capability to the bounding set for the process")
	f.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)")
	f.BoolVar(&ignorePause, "ignore-paused", false, "allow exec in a paused container")
	f.StringVar(&cgroupPath, "cgroup", "", "run the process in an (existing) sub-cgroup(s)")
	return cmd
}

func listenFDs() int {
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil && n > 0 {
		return n
	}
	return 0
}

func parseUser(s string) (uint32, *uint32, error) {
	parts := strings.SplitN(s, ":", 2)
	uid, err := strconv.ParseUint(parts[0], 10, 32)
	if err != nil {
		return 0, nil, fmt.Errorf("parsing %s as int for uid failed: %w", parts[0], err)
	}
	if len(parts) == 1 {
		return uint32(uid), nil, nil
	}
	gid, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return 0, nil, fmt.Errorf("parsing %s as int for gid failed: %w", parts[1], err)
	}
	g := uint32(gid)
	return uint32(uid), &g, nil
}

// addCaps adds capabilities to the bounding, effective and permitted sets of
// the process, as `runc exec --cap` does. Not to the inheritable set (that
// was CVE-2022-29162); to the ambient set only when the process already has
// inheritable capabilities, since an ambient one must also be inheritable.
func addCaps(c *specs.LinuxCapabilities, add []string) *specs.LinuxCapabilities {
	out := &specs.LinuxCapabilities{}
	if c != nil {
		*out = *c
	}
	for _, n := range add {
		n = strings.ToUpper(n)
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		out.Bounding = append(out.Bounding, n)
		out.Effective = append(out.Effective, n)
		out.Permitted = append(out.Permitted, n)
		if len(out.Inheritable) > 0 {
			out.Ambient = append(out.Ambient, n)
		}
	}
	return out
}

func psCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [flags] <container-id> [ps options]",
		Short: "ps displays the processes running inside a container",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("%q requires at least 1 argument", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			pids, err := c.Pids()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				if pids == nil {
					pids = []int{}
				}
				return json.NewEncoder(out).Encode(pids)
			}
			if format != "table" {
				return fmt.Errorf("invalid format option")
			}
			psArgs := args[1:]
			if len(psArgs) == 0 {
				psArgs = []string{"-ef"}
			}
			return psTable(out, pids, psArgs)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVarP(&format, "format", "f", "table", "select one of: table or json")
	return cmd
}

// psTable runs the host's ps and keeps the header and the container's lines,
// as runc does.
func psTable(out interface{ Write([]byte) (int, error) }, pids []int, psArgs []string) error {
	raw, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		return fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	pidCol := -1
	for i, h := range strings.Fields(lines[0]) {
		if h == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return errors.New("couldn't find PID field in ps output")
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	fmt.Fprintln(out, lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= pidCol {
			continue
		}
		if p, err := strconv.Atoi(f[pidCol]); err == nil && in[p] {
			fmt.Fprintln(out, l)
		}
	}
	return nil
}

func exampleCmd() *cobra.Command {
	var busybox string
	cmd := &cobra.Command{
		Use:   "example-bundle [flags] <dir> [command...]",
		Short: "prepare a bundle with a busybox rootfs and a config.json running the command",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run := args[1:]
			if len(run) == 0 {
				run = []string{"sh", "-c", "echo hello from a berth container; id; hostname; ps"}
			}
			_, err := runtime.ExampleBundle(args[0], busybox, run)
			return err
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&busybox, "busybox", "/bin/busybox", "static busybox binary to put in the rootfs")
	return cmd
}

// argValue finds a global flag's value in the raw arguments.
func argValue(name string) string {
	args := os.Args[1:]
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
