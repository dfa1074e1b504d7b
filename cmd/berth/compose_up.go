package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/compose"
	"github.com/berth-project/berth/engine"
)

// This file is `berth compose up`, `down`, `run` and `exec`.

func newComposeUpCommand(c *client, g *composeGlobal) *cobra.Command {
	var o compose.UpOptions
	var scale []string
	var t timeoutFlag
	var quietPull, noStart, noColor, noLogPrefix, attachDeps, renewAnon, timestamps bool
	var exitCodeFrom string
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if o.Build && o.NoBuild {
				return errors.New("--build and --no-build are incompatible")
			}
			if o.ForceRecreate && o.NoRecreate {
				return errors.New("--force-recreate and --no-recreate are incompatible")
			}
			switch {
			case noStart:
				return errors.New("up --no-start is not supported yet")
			case renewAnon:
				return errors.New("up --renew-anon-volumes is not supported yet")
			}
			if exitCodeFrom != "" {
				o.AbortOnContainerExit = true
			}
			if o.Wait {
				o.Detach = true
			}
			if o.Detach && o.AbortOnContainerExit {
				return errors.New("--abort-on-container-exit and --detach are incompatible")
			}
			// What only the attached output would show is refused rather
			// than dropped (with -d they change nothing, as in compose).
			if !o.Detach {
				switch {
				case noLogPrefix:
					return errors.New("up --no-log-prefix is not supported yet; use -d and `compose logs --no-log-prefix`")
				case timestamps:
					return errors.New("up --timestamps is not supported yet; use -d and `compose logs -t`")
				}
			}
			o.Scale = map[string]int{}
			for _, s := range scale {
				name, n, ok := strings.Cut(s, "=")
				num, err := strconv.Atoi(n)
				if !ok || err != nil || num < 0 {
					return fmt.Errorf("invalid --scale %q: want SERVICE=NUM", s)
				}
				o.Scale[name] = num
			}
			p, err := g.load(ctx, args...)
			if err != nil {
				return err
			}
			if exitCodeFrom != "" {
				if _, err := p.GetService(exitCodeFrom); err != nil {
					return fmt.Errorf("no such service: %s", exitCodeFrom)
				}
			}
			for name := range o.Scale {
				if _, err := p.GetService(name); err != nil {
					return fmt.Errorf("no such service: %s", name)
				}
			}
			cc, err := composeFor(ctx, c, cmd)
			if err != nil {
				return err
			}
			o.Services = args
			o.AttachDependencies = attachDeps
			o.Timeout = t.value(cmd)
			if !o.Detach {
				o.Logs = cmd.OutOrStdout()
			}
			// Attached, Up streams the logs and, on ^C (or the first exit
			// with --abort-on-container-exit), stops the project itself.
			err = cc.Up(ctx, p, o)
			if !o.Detach && errors.Is(err, context.Canceled) {
				err = nil
			}
			if err != nil || exitCodeFrom == "" {
				return err
			}
			// --exit-code-from: the status of that service's container.
			list, err := cc.Containers(context.WithoutCancel(ctx), p.Name, compose.OneoffExclude, true, exitCodeFrom)
			if err != nil || len(list) == 0 {
				return err
			}
			ins, err := cc.API.ContainerInspect(context.WithoutCancel(ctx), list[0].ID, false)
			if err != nil {
				return err
			}
			if ins.State != nil && ins.State.ExitCode != 0 {
				return &statusError{code: ins.State.ExitCode}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Detach, "detach", "d", false, "Detached mode: Run containers in the background")
	f.BoolVar(&o.Build, "build", false, "Build images before starting containers")
	f.BoolVar(&o.NoBuild, "no-build", false, "Don't build an image, even if it's policy")
	f.BoolVar(&o.ForceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	f.BoolVar(&o.NoRecreate, "no-recreate", false, "If containers already exist, don't recreate them. Incompatible with --force-recreate.")
	f.BoolVar(&o.NoDeps, "no-deps", false, "Don't start linked services")
	f.StringArrayVar(&scale, "scale", nil, "Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.")
	f.BoolVar(&o.Wait, "wait", false, "Wait for services to be running|healthy. Implies detached mode.")
	f.IntVar(&o.WaitTimeout, "wait-timeout", 0, "Maximum duration in seconds to wait for the project to be running|healthy")
	f.BoolVar(&o.RemoveOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	f.BoolVar(&o.AbortOnContainerExit, "abort-on-container-exit", false, "Stops all containers if any container was stopped. Incompatible with -d")
	t.add(cmd, "Use this timeout in seconds for container shutdown when attached or when containers are already running")
	// Accepted as docker compose accepts them.
	f.BoolVar(&quietPull, "quiet-pull", false, "Pull without printing progress information")
	f.BoolVar(&noStart, "no-start", false, "Don't start the services after creating them")
	f.BoolVar(&noColor, "no-color", false, "Produce monochrome output")
	f.BoolVar(&noLogPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	f.BoolVar(&attachDeps, "attach-dependencies", false, "Automatically attach to log output of dependent services")
	f.BoolVarP(&renewAnon, "renew-anon-volumes", "V", false, "Recreate anonymous volumes instead of retrieving data from the previous containers")
	f.BoolVar(&timestamps, "timestamps", false, "Show timestamps")
	f.StringVar(&exitCodeFrom, "exit-code-from", "", "Return the exit code of the selected service container. Implies --abort-on-container-exit")
	return cmd
}

func newComposeDownCommand(c *client, g *composeGlobal) *cobra.Command {
	var o compose.DownOptions
	var t timeoutFlag
	cmd := &cobra.Command{
		Use:   "down [OPTIONS] [SERVICES]",
		Short: "Stop and remove containers, networks",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch o.Images {
			case "", "local", "all":
			default:
				return fmt.Errorf("invalid value for --rmi: %q: must be \"local\" or \"all\"", o.Images)
			}
			name, p, cc, err := g.open(cmd, c, args)
			if err != nil {
				return err
			}
			o.Timeout = t.value(cmd)
			if len(args) > 0 {
				// Some services only: their containers go, the project's
				// networks and volumes, still in use, stay.
				_, err := cc.Remove(ctx, name, p, compose.RemoveOptions{Services: args, Stop: true, Volumes: o.Volumes, Timeout: o.Timeout})
				return err
			}
			return cc.Down(ctx, name, p, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Volumes, "volumes", "v", false, "Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous volumes attached to containers")
	f.StringVar(&o.Images, "rmi", "", `Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")`)
	f.BoolVar(&o.RemoveOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	t.add(cmd, "Specify a shutdown timeout in seconds")
	return cmd
}

func newComposeExecCommand(c *client, g *composeGlobal) *cobra.Command {
	var o execFlags
	var noTTY bool
	var index int
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Execute a command in a running container",
		Args:  minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, _, cc, err := g.open(cmd, c, args[:1])
			if err != nil {
				return err
			}
			ct, err := cc.ServiceContainer(ctx, name, args[0], index)
			if err != nil {
				return err
			}
			o.tty = !noTTY && isTerminal(cmd.InOrStdin())
			if o.detach {
				o.interactive = false
			}
			return runExec(ctx, cmd, c, cc.API, o, ct.ID, args[1:])
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: Run command in the background")
	f.BoolVarP(&o.interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	f.BoolVarP(&noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY.")
	var tty bool
	f.BoolVarP(&tty, "tty", "t", true, "Allocate a pseudo-TTY")
	f.MarkHidden("tty")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the process")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringVarP(&o.user, "user", "u", "", "Run the command as this user")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Path to workdir directory for this command")
	f.IntVar(&index, "index", 1, "Index of the container if service has multiple replicas")
	return cmd
}

func newComposeRunCommand(c *client, g *composeGlobal) *cobra.Command {
	var o compose.RunOptions
	var entrypoint string
	var noTTY bool
	var labels []string
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command on a service",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, cc, err := g.openFile(cmd, c, args[0])
			if err != nil {
				return err
			}
			o.Service = args[0]
			if len(args) > 1 {
				o.Command = args[1:]
			}
			if cmd.Flags().Changed("entrypoint") {
				o.Entrypoint = &entrypoint
			}
			if len(labels) > 0 {
				o.Labels = labelsMap(labels)
			}
			stdin := cmd.InOrStdin()
			o.Tty = !noTTY && !o.Detach && isTerminal(stdin)
			if o.Detach {
				o.Interactive = false
			}
			o.Lookup = os.LookupEnv
			id, name, err := cc.Run(ctx, p, o)
			if err != nil {
				return err
			}
			return startOneoff(ctx, cmd, c, cc.API, id, name, o)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.Detach, "detach", "d", false, "Run container in background and print container ID")
	f.BoolVar(&o.Remove, "rm", false, "Automatically remove the container when it exits")
	f.StringArrayVarP(&o.Env, "env", "e", nil, "Set environment variables")
	f.StringArrayVarP(&labels, "label", "l", nil, "Add or override a label")
	f.StringVar(&entrypoint, "entrypoint", "", "Override the entrypoint of the image")
	f.StringVarP(&o.User, "user", "u", "", "Run as specified username or uid")
	f.StringVarP(&o.WorkingDir, "workdir", "w", "", "Working directory inside the container")
	f.StringArrayVarP(&o.Volumes, "volume", "v", nil, "Bind mount a volume")
	f.StringArrayVarP(&o.Publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	f.BoolVar(&o.ServicePorts, "service-ports", false, "Run command with all service's ports enabled and mapped to the host")
	f.BoolVar(&o.NoDeps, "no-deps", false, "Don't start linked services")
	f.BoolVarP(&noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation (default: auto-detected)")
	f.BoolVarP(&o.Interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	f.StringVar(&o.Name, "name", "", "Assign a name to the container")
	f.BoolVar(&o.Build, "build", false, "Build image before starting container")
	f.BoolVar(&o.QuietPull, "quiet-pull", false, "Pull without printing progress information")
	f.BoolVar(&o.UseAliases, "use-aliases", false, "Use the service's network useAliases in the network(s) the container connects to")
	f.BoolVar(&o.RemoveOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	var tty bool
	f.BoolVarP(&tty, "tty", "t", true, "Allocate a pseudo-TTY")
	f.MarkHidden("tty")
	return cmd
}

// startOneoff starts a `compose run` container: detached, it prints its
// name; attached, it streams it as `berth run` does and exits with its
// status.
func startOneoff(ctx context.Context, cmd *cobra.Command, c *client, api engine.API, id, name string, o compose.RunOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.Detach {
		if err := api.ContainerStart(ctx, id); err != nil {
			return err
		}
		fmt.Fprintln(stdout, name)
		return nil
	}
	if c.stopSignals != nil {
		c.stopSignals()
	}
	ctx = context.WithoutCancel(ctx)
	stop := proxySignals(ctx, api, id)
	defer stop()
	s, err := api.ContainerAttach(ctx, id, engine.AttachOptions{Stream: true, Stdin: o.Interactive, Stdout: true, Stderr: true})
	if err != nil {
		return err
	}
	defer s.Close()
	sio := streamIO{tty: o.Tty, out: stdout, err: stderr}
	if o.Tty {
		sio.err = stdout
	}
	keys, _ := parseDetachKeys(defaultDetachKeys)
	defer sio.attachStdin(cmd.InOrStdin(), o.Interactive, keys)()
	streamDone := make(chan error, 1)
	go func() { streamDone <- pump(ctx, s, sio) }()
	cond := container.WaitConditionNextExit
	if o.Remove {
		cond = container.WaitConditionRemoved
	}
	exit := waitStatus(ctx, api, id, cond, stderr)
	if err := api.ContainerStart(ctx, id); err != nil {
		if o.Remove {
			exit.status(false)
		}
		return err
	}
	return finishAttached(ctx, api, id, o.Tty, stdout, streamDone, exit)
}
