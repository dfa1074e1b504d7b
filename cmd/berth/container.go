package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
)

// newContainerCommand is `berth container`, docker's group of container
// commands (the top-level ones are the same commands).
func newContainerCommand(c *client) *cobra.Command {
	cmd := groupCommand("container", "Manage containers")
	ls := newPsCommand(c)
	ls.Use, ls.Aliases = "ls [OPTIONS]", []string{"list", "ps"}
	cmd.AddCommand(newAttachCommand(c), newCommitCommand(c), newCpCommand(c), newCreateCommand(c), newDiffCommand(c),
		newExecCommand(c), newExportCommand(c), newInspectContainerCommand(c), newKillCommand(c),
		newLogsCommand(c), ls, newPauseCommand(c), newPortCommand(c), newContainerPruneCommand(c),
		newRenameCommand(c), newRestartCommand(c), newRmCommand(c), newRunCommand(c), newStartCommand(c),
		newStatsCommand(c), newStopCommand(c), newTopCommand(c), newUnpauseCommand(c), newUpdateCommand(c),
		newWaitCommand(c))
	return cmd
}

// groupCommand is a command that only holds others: alone it shows its
// help, with an unknown subcommand it fails as docker does.
func groupCommand(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name + " COMMAND",
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(cmd, fmt.Sprintf("%s: unknown command: %s %s", cmd.Root().Name(), cmd.CommandPath(), args[0]), 1)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}

// withAPI adapts a command body that needs the engine.
func withAPI(c *client, fn func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		api, err := c.API(ctx)
		if err != nil {
			return err
		}
		return fn(ctx, cmd, api, args)
	}
}

func newStartCommand(c *client) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			if attach || interactive {
				if len(args) > 1 {
					return errors.New("you cannot start and attach multiple containers at once")
				}
				return startAttached(ctx, cmd, c, api, args[0], interactive, detachKeys)
			}
			var failed []string
			for _, id := range args {
				if err := api.ContainerStart(ctx, id); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					failed = append(failed, id)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), id)
			}
			if len(failed) > 0 {
				return fmt.Errorf("Error: failed to start containers: %s", strings.Join(failed, ", "))
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	f.BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	f.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// startAttached is `start -a [-i]`: attach, start, stream, and exit with
// the container's status.
func startAttached(ctx context.Context, cmd *cobra.Command, c *client, api engine.API, ref string, interactive bool, detachKeys string) error {
	ins, err := api.ContainerInspect(ctx, ref, false)
	if err != nil {
		return err
	}
	tty, openStdin := ins.Config != nil && ins.Config.Tty, ins.Config != nil && ins.Config.OpenStdin
	withStdin := interactive && openStdin
	stdin := cmd.InOrStdin()
	if err := checkTTY(stdin, withStdin, tty); err != nil {
		return err
	}
	keys, err := detachKeySequence(detachKeys)
	if err != nil {
		return err
	}
	if c.stopSignals != nil {
		c.stopSignals()
	}
	ctx = context.WithoutCancel(ctx)
	s, err := api.ContainerAttach(ctx, ins.ID, engine.AttachOptions{
		Stream: true, Stdin: withStdin, Stdout: true, Stderr: true, DetachKeys: detachKeys,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	if !tty {
		stop := proxySignals(ctx, api, ins.ID)
		defer stop()
	}
	sio := streamIO{tty: tty, out: cmd.OutOrStdout(), err: cmd.ErrOrStderr()}
	if tty {
		sio.err = sio.out
	}
	defer sio.attachStdin(stdin, withStdin, keys)()
	done := make(chan error, 1)
	go func() { done <- pump(ctx, s, sio) }()
	cond := container.WaitConditionNextExit
	if ins.HostConfig != nil && ins.HostConfig.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	exit := waitStatus(ctx, api, ins.ID, cond, cmd.ErrOrStderr())
	if err := api.ContainerStart(ctx, ins.ID); err != nil {
		return err
	}
	return finishAttached(ctx, api, ins.ID, tty, cmd.OutOrStdout(), done, exit)
}

// detachKeySequence parses --detach-keys, docker's default when empty.
func detachKeySequence(s string) ([]byte, error) {
	if s == "" {
		s = defaultDetachKeys
	}
	return parseDetachKeys(s)
}

func newAttachCommand(c *client) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  exactArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			ins, err := api.ContainerInspect(ctx, args[0], false)
			if err != nil {
				return err
			}
			if ins.State == nil || !ins.State.Running {
				return errors.New("You cannot attach to a stopped container, start it first")
			}
			if ins.State.Paused {
				return errors.New("You cannot attach to a paused container, unpause it first")
			}
			tty := ins.Config != nil && ins.Config.Tty
			withStdin := !noStdin && ins.Config != nil && ins.Config.OpenStdin
			stdin := cmd.InOrStdin()
			if err := checkTTY(stdin, withStdin, tty); err != nil {
				return err
			}
			keys, err := detachKeySequence(detachKeys)
			if err != nil {
				return err
			}
			if c.stopSignals != nil {
				c.stopSignals()
			}
			ctx = context.WithoutCancel(ctx)
			// Registered before the attach, so an exit while attaching is
			// not missed.
			exit := waitStatus(ctx, api, ins.ID, container.WaitConditionNotRunning, cmd.ErrOrStderr())
			s, err := api.ContainerAttach(ctx, ins.ID, engine.AttachOptions{
				Stream: true, Stdin: withStdin, Stdout: true, Stderr: true, DetachKeys: detachKeys,
			})
			if err != nil {
				return err
			}
			defer s.Close()
			if sigProxy && !tty {
				stop := proxySignals(ctx, api, ins.ID)
				defer stop()
			}
			sio := streamIO{tty: tty, out: cmd.OutOrStdout(), err: cmd.ErrOrStderr()}
			if tty {
				sio.err = sio.out
				stop := monitorSize(cmd.OutOrStdout(), func(h, w uint) error { return api.ContainerResize(ctx, ins.ID, h, w) })
				defer stop()
			}
			defer sio.attachStdin(stdin, withStdin, keys)()
			if err := pump(ctx, s, sio); err != nil {
				if errors.Is(err, errDetached) {
					return nil
				}
				return err
			}
			if status := exit.status(true); status != 0 {
				return &statusError{code: status}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	f.BoolVar(&sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	f.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// stopFlags are stop's and restart's.
type stopFlags struct {
	timeout int
	signal  string
}

func (o *stopFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVarP(&o.timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().StringVarP(&o.signal, "signal", "s", "", "Signal to send to the container")
}

func (o *stopFlags) options(cmd *cobra.Command) engine.StopOptions {
	so := engine.StopOptions{Signal: o.signal}
	if cmd.Flags().Changed("timeout") {
		t := o.timeout
		so.Timeout = &t
	}
	return so
}

func newStopCommand(c *client) *cobra.Command {
	var o stopFlags
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			so := o.options(cmd)
			return forEachPrinting(cmd, args, func(id string) error { return api.ContainerStop(ctx, id, so) })
		}),
	}
	o.add(cmd)
	return cmd
}

func newRestartCommand(c *client) *cobra.Command {
	var o stopFlags
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			so := o.options(cmd)
			return forEachPrinting(cmd, args, func(id string) error { return api.ContainerRestart(ctx, id, so) })
		}),
	}
	o.add(cmd)
	return cmd
}

// forEachPrinting is forEach printing each argument that succeeded, as
// stop, kill, rm, pause... do.
func forEachPrinting(cmd *cobra.Command, args []string, fn func(string) error) error {
	return forEach(cmd, args, func(a string) error {
		if err := fn(a); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), a)
		return nil
	})
}

func newKillCommand(c *client) *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return forEachPrinting(cmd, args, func(id string) error { return api.ContainerKill(ctx, id, sig) })
		}),
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newRmCommand(c *client) *cobra.Command {
	var o engine.RemoveOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return forEachPrinting(cmd, args, func(id string) error {
				id = strings.Trim(id, "/")
				if id == "" {
					return errors.New("Container name cannot be empty")
				}
				return api.ContainerRemove(ctx, id, o)
			})
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	f.BoolVarP(&o.RemoveVolumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	f.BoolVarP(&o.RemoveLinks, "link", "l", false, "Remove the specified link")
	return cmd
}

func newPauseCommand(c *client) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return forEachPrinting(cmd, args, func(id string) error { return api.ContainerPause(ctx, id) })
		}),
	}
}

func newUnpauseCommand(c *client) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Unpause all processes within one or more containers",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return forEachPrinting(cmd, args, func(id string) error { return api.ContainerUnpause(ctx, id) })
		}),
	}
}

func newRenameCommand(c *client) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			old, name := strings.TrimSpace(args[0]), strings.TrimSpace(args[1])
			if old == "" || name == "" {
				return errors.New("Error: Neither old nor new names may be empty")
			}
			if err := api.ContainerRename(ctx, old, name); err != nil {
				return fmt.Errorf("%w\nError: failed to rename container named %s", err, old)
			}
			return nil
		}),
	}
}

func newWaitCommand(c *client) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return forEach(cmd, args, func(id string) error {
				resC, errC := api.ContainerWait(ctx, id, container.WaitConditionNotRunning)
				select {
				case r := <-resC:
					if r.Error != nil {
						return errors.New(r.Error.Message)
					}
					fmt.Fprintln(cmd.OutOrStdout(), r.StatusCode)
					return nil
				case err := <-errC:
					return err
				}
			})
		}),
	}
}

func newTopCommand(c *client) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			top, err := api.ContainerTop(ctx, args[0], strings.Join(args[1:], " "))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 20, 1, 3, ' ', 0)
			fmt.Fprintln(tw, strings.Join(top.Titles, "\t"))
			for _, p := range top.Processes {
				fmt.Fprintln(tw, strings.Join(p, "\t"))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func newPortCommand(c *client) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  rangeArgs(1, 2),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			ins, err := api.ContainerInspect(ctx, args[0], false)
			if err != nil {
				return err
			}
			var ports network.PortMap
			if ins.NetworkSettings != nil {
				ports = ins.NetworkSettings.Ports
			}
			return printPorts(cmd.OutOrStdout(), args[0], ports, args[1:])
		}),
	}
}

// printPorts writes docker's `port` output: "80/tcp -> 0.0.0.0:8080" for
// every binding, or the host addresses of the one port asked for (tcp
// unless it names its protocol), lines in docker's natural order.
func printPorts(out io.Writer, ctr string, ports network.PortMap, want []string) error {
	var lines []string
	if len(want) == 1 {
		port, proto, _ := strings.Cut(want[0], "/")
		if proto == "" {
			proto = "tcp"
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("Error: invalid port (%s): %w", port, err)
		}
		p, err := network.ParsePort(port + "/" + proto)
		if err != nil {
			return fmt.Errorf("Error: invalid port (%s): %w", want[0], err)
		}
		bindings := ports[p]
		if len(bindings) == 0 {
			return fmt.Errorf("Error: No public port '%s' published for %s", want[0], ctr)
		}
		for _, b := range bindings {
			lines = append(lines, bindingAddr(b))
		}
	} else {
		for p, bindings := range ports {
			for _, b := range bindings {
				lines = append(lines, fmt.Sprintf("%s -> %s", p, bindingAddr(b)))
			}
		}
	}
	sort.Slice(lines, func(i, j int) bool { return naturalLess(lines[i], lines[j]) })
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

func bindingAddr(b network.PortBinding) string {
	ip := "0.0.0.0"
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	return net.JoinHostPort(ip, b.HostPort)
}

func newDiffCommand(c *client) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  exactArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			changes, err := api.ContainerChanges(ctx, args[0])
			if err != nil {
				return err
			}
			for _, ch := range changes {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", ch.Kind, ch.Path)
			}
			return nil
		}),
	}
}

func newExportCommand(c *client) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  exactArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return writeOutput(output, cmd.OutOrStdout(), func(w io.Writer) error {
				r, err := api.ContainerExport(ctx, args[0])
				if err != nil {
					return err
				}
				defer r.Close()
				_, err = io.Copy(w, r)
				return err
			})
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// writeOutput runs fn on the file named by output (written whole or not at
// all) or, without one, on stdout, refusing a terminal as docker does.
func writeOutput(output string, stdout io.Writer, fn func(io.Writer) error) error {
	if output == "" {
		if isTerminal(stdout) {
			return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
		return fn(stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), ".berth-out-*")
	if err != nil {
		return fmt.Errorf("failed to export to %s: %w", output, err)
	}
	defer os.Remove(tmp.Name())
	if err := fn(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), output)
}

func newUpdateCommand(c *client) *cobra.Command {
	var (
		restart                        string
		memory, memoryReservation      bytesValue
		memorySwap                     swapValue
		cpus                           cpusValue
		cpuShares, cpuPeriod, cpuQuota int64
		cpuRtPeriod, cpuRtRuntime      int64
		cpusetCpus, cpusetMems         string
		blkioWeight                    uint16
		pidsLimit                      int64
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			if cmd.Flags().NFlag() == 0 {
				return errors.New("you must provide one or more flags when using this command")
			}
			var u container.UpdateConfig
			if cmd.Flags().Changed("restart") {
				p, err := parseRestartPolicy(restart)
				if err != nil {
					return err
				}
				u.RestartPolicy = p
			}
			r := &u.Resources
			r.Memory, r.MemoryReservation, r.MemorySwap = memory.n, memoryReservation.n, memorySwap.n
			r.NanoCPUs, r.CPUShares, r.CPUPeriod, r.CPUQuota = cpus.nano, cpuShares, cpuPeriod, cpuQuota
			r.CPURealtimePeriod, r.CPURealtimeRuntime = cpuRtPeriod, cpuRtRuntime
			r.CpusetCpus, r.CpusetMems, r.BlkioWeight = cpusetCpus, cpusetMems, blkioWeight
			if cmd.Flags().Changed("pids-limit") {
				v := pidsLimit
				r.PidsLimit = &v
			}
			return forEach(cmd, args, func(id string) error {
				r, err := api.ContainerUpdate(ctx, id, u)
				if err != nil {
					return err
				}
				for _, w := range r.Warnings {
					fmt.Fprintln(cmd.ErrOrStderr(), w)
				}
				fmt.Fprintln(cmd.OutOrStdout(), id)
				return nil
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	f.VarP(&memory, "memory", "m", "Memory limit")
	f.Var(&memoryReservation, "memory-reservation", "Memory soft limit")
	f.Var(&memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	f.Var(&cpus, "cpus", "Number of CPUs")
	f.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&cpuRtPeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	f.Int64Var(&cpuRtRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	f.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.Uint16Var(&blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	f.Int64Var(&pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	return cmd
}

// confirm asks the question docker asks before a prune and reads the
// answer from in: only y or yes (any case) goes ahead.
func confirm(in io.Reader, out io.Writer, warning string) bool {
	fmt.Fprintf(out, "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// filterFlag parses docker's repeated --filter key=value.
func filterFlag(values []string) (engine.Filters, error) {
	if len(values) == 0 {
		return nil, nil
	}
	f := engine.Filters{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value)")
		}
		k = strings.ToLower(strings.TrimSpace(k))
		f[k] = append(f[k], strings.TrimSpace(val))
	}
	return f, nil
}

func newContainerPruneCommand(c *client) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			if !force && !confirm(cmd.InOrStdin(), cmd.OutOrStdout(), "WARNING! This will remove all stopped containers.") {
				return nil
			}
			_, err = pruneContainers(ctx, api, f, cmd.OutOrStdout(), true)
			return err
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// pruneContainers prunes and reports as docker: the IDs under "Deleted
// Containers:", then (when total) the space reclaimed.
func pruneContainers(ctx context.Context, api engine.API, f engine.Filters, out io.Writer, total bool) (uint64, error) {
	r, err := api.ContainersPrune(ctx, f)
	if err != nil {
		return 0, err
	}
	if len(r.ContainersDeleted) > 0 {
		fmt.Fprintln(out, "Deleted Containers:")
		for _, id := range r.ContainersDeleted {
			fmt.Fprintln(out, id)
		}
		fmt.Fprintln(out)
	}
	if total {
		fmt.Fprintf(out, "Total reclaimed space: %s\n", humanSize(int64(r.SpaceReclaimed)))
	}
	return r.SpaceReclaimed, nil
}
