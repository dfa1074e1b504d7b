package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/compose"
)

// This file is `berth compose` build, pull, push, start, stop, restart
// and rm.

func newComposeBuildCommand(c *client, g *composeGlobal) *cobra.Command {
	var o compose.BuildOptions
	var args []string
	var memory, builder, ssh string
	var withDeps, push bool
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [SERVICE...]",
		Short: "Build or rebuild services",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			switch {
			case ssh != "":
				return errors.New("build --ssh is not supported by berth's builder")
			case memory != "":
				return errors.New("build --memory is not supported by berth's builder")
			case builder != "":
				return errors.New("build --builder is not supported: berth has one builder")
			}
			p, err := g.load(ctx, services...)
			if err != nil {
				return err
			}
			if withDeps {
				if services, err = withDependencies(p, services); err != nil {
					return err
				}
			}
			o.Args = map[string]string{}
			for _, a := range args {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					if v, ok = os.LookupEnv(k); !ok {
						continue
					}
				}
				o.Args[k] = v
			}
			cc, err := composeFor(ctx, c, cmd)
			if err != nil {
				return err
			}
			o.Services = services
			o.Output = cmd.ErrOrStderr()
			if err := cc.Build(ctx, p, o); err != nil {
				return err
			}
			if push {
				return cc.Push(ctx, p, compose.PushOptions{Services: services})
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.NoCache, "no-cache", false, "Do not use cache when building the image")
	f.BoolVar(&o.Pull, "pull", false, "Always attempt to pull a newer version of the image")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Don't print anything to STDOUT")
	f.StringArrayVar(&args, "build-arg", nil, "Set build-time variables for services")
	f.BoolVar(&push, "push", false, "Push service images")
	f.BoolVar(&withDeps, "with-dependencies", false, "Also build dependencies (transitively)")
	f.StringVarP(&memory, "memory", "m", "", "Set memory limit for the build container. Not supported by BuildKit.")
	f.StringVar(&builder, "builder", "", "Set builder to use")
	f.StringVar(&ssh, "ssh", "", "Set SSH authentications used when building service images.")
	return cmd
}

func newComposePullCommand(c *client, g *composeGlobal) *cobra.Command {
	var o compose.PullOptions
	var ignoreBuildable, includeDeps bool
	var policy string
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			p, cc, err := g.openFile(cmd, c, services...)
			if err != nil {
				return err
			}
			switch policy {
			case "", types.PullPolicyMissing, types.PullPolicyAlways:
			default:
				return fmt.Errorf("invalid --policy %q: must be \"missing\" or \"always\"", policy)
			}
			if includeDeps {
				if services, err = withDependencies(p, services); err != nil {
					return err
				}
			}
			o.Services = services
			o.IgnoreBuildable, o.Policy = ignoreBuildable, policy
			return cc.Pull(ctx, p, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Pull without printing progress information")
	f.BoolVar(&o.IgnorePullFailures, "ignore-pull-failures", false, "Pull what it can and ignores images with pull failures")
	f.BoolVar(&ignoreBuildable, "ignore-buildable", false, "Ignore images that can be built")
	f.BoolVar(&includeDeps, "include-deps", false, "Also pull services declared as dependencies")
	f.StringVar(&policy, "policy", "", `Apply pull policy ("missing"|"always")`)
	return cmd
}

func newComposePushCommand(c *client, g *composeGlobal) *cobra.Command {
	var o compose.PushOptions
	var includeDeps bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] [SERVICE...]",
		Short: "Push service images",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			p, cc, err := g.openFile(cmd, c, services...)
			if err != nil {
				return err
			}
			if includeDeps {
				if services, err = withDependencies(p, services); err != nil {
					return err
				}
			}
			o.Services = services
			return cc.Push(ctx, p, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.IgnorePushFailures, "ignore-push-failures", false, "Push what it can and ignores images with push failures")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Push without printing progress information")
	f.BoolVar(&includeDeps, "include-deps", false, "Also push images of services declared as dependencies")
	return cmd
}

func newComposeStartCommand(c *client, g *composeGlobal) *cobra.Command {
	return &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start services",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			name, p, cc, err := g.open(cmd, c, services)
			if err != nil {
				return err
			}
			return cc.Start(ctx, name, p, services)
		},
	}
}

func newComposeStopCommand(c *client, g *composeGlobal) *cobra.Command {
	var t timeoutFlag
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] [SERVICE...]",
		Short: "Stop services",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			name, p, cc, err := g.open(cmd, c, services)
			if err != nil {
				return err
			}
			return cc.Stop(ctx, name, p, services, t.value(cmd))
		},
	}
	t.add(cmd, "Specify a shutdown timeout in seconds")
	return cmd
}

func newComposeRestartCommand(c *client, g *composeGlobal) *cobra.Command {
	var t timeoutFlag
	var noDeps bool
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] [SERVICE...]",
		Short: "Restart service containers",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			name, p, err := g.projectFor(ctx, services)
			if err != nil {
				return err
			}
			// As compose v2: the services that depend on those named
			// restart too, unless --no-deps.
			if !noDeps && p != nil && len(services) > 0 {
				sel, err := p.WithSelectedServices(services, types.IncludeDependents)
				if err != nil {
					return err
				}
				services = sel.ServiceNames()
			}
			cc, err := composeFor(ctx, c, cmd)
			if err != nil {
				return err
			}
			return cc.Restart(ctx, name, p, services, t.value(cmd))
		},
	}
	t.add(cmd, "Specify a shutdown timeout in seconds")
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "Don't restart dependent services")
	return cmd
}

func newComposeRmCommand(c *client, g *composeGlobal) *cobra.Command {
	var o compose.RemoveOptions
	var force bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [SERVICE...]",
		Short: "Removes stopped service containers",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			name, p, cc, err := g.open(cmd, c, services)
			if err != nil {
				return err
			}
			o.Services = services
			asked := false
			if !force {
				o.Confirm = func(names []string) bool {
					asked = true
					return confirmRemove(cmd, names)
				}
			}
			gone, err := cc.Remove(ctx, name, p, o)
			if err != nil {
				return err
			}
			if gone == nil && !asked {
				fmt.Fprintln(cmd.ErrOrStderr(), "No stopped containers")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&force, "force", "f", false, "Don't ask to confirm removal")
	f.BoolVarP(&o.Stop, "stop", "s", false, "Stop the containers, if required, before removing")
	f.BoolVarP(&o.Volumes, "volumes", "v", false, "Remove any anonymous volumes attached to containers")
	return cmd
}

// confirmRemove asks compose v2's question before rm.
func confirmRemove(cmd *cobra.Command, names []string) bool {
	fmt.Fprintf(cmd.ErrOrStderr(), "Going to remove %s\n? Are you sure you want to continue? (y/N) ", strings.Join(names, ", "))
	line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func newComposeKillCommand(c *client, g *composeGlobal) *cobra.Command {
	var signal string
	var removeOrphans bool
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] [SERVICE...]",
		Short: "Force stop service containers",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			name, _, cc, err := g.open(cmd, c, services)
			if err != nil {
				return err
			}
			return cc.Kill(ctx, name, services, signal)
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "SIGNAL to send to the container")
	cmd.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	return cmd
}

func newComposePauseCommand(c *client, g *composeGlobal, unpause bool) *cobra.Command {
	use, short := "pause [SERVICE...]", "Pause services"
	if unpause {
		use, short = "unpause [SERVICE...]", "Unpause services"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			name, _, cc, err := g.open(cmd, c, services)
			if err != nil {
				return err
			}
			return cc.Pause(ctx, name, services, unpause)
		},
	}
}

// withDependencies is the services named and, transitively, those they
// depend on (all when none are named).
func withDependencies(p *types.Project, services []string) ([]string, error) {
	if len(services) == 0 {
		return nil, nil
	}
	sel, err := p.WithSelectedServices(services, types.IncludeDependencies)
	if err != nil {
		return nil, err
	}
	return sel.ServiceNames(), nil
}
