package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/progress"
	"github.com/berth-project/berth/runtime"
)

// withEngine runs fn with the image service and the runtime open.
func withEngine(fn func(ctx context.Context, e *engine.Engine) error) error {
	return withImages(func(ctx context.Context, s *engine.Images) error {
		rt, err := runtime.New(envOr("BERTH_RUNTIME_ROOT", runtime.DefaultRoot))
		if err != nil {
			return err
		}
		return fn(ctx, &engine.Engine{Images: s, Runtime: rt})
	})
}

func newRunCommand() *cobra.Command {
	var o engine.RunOptions
	var env []string
	var entrypoint string
	var interactive bool
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Run a command in a new container made from an image",
		Long: `Run pulls the image if it is missing, prepares a writable snapshot on top of
its layers, builds a runtime spec from the image config and the options, and
runs the container in the foreground. Without --rm the stopped container's
filesystem is kept (see berth ps -a, berth export, berth rm).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				o.Spec.Cmd = args[1:]
			}
			if cmd.Flags().Changed("entrypoint") {
				o.Spec.Entrypoint, o.Spec.EntrypointSet = nil, true
				if entrypoint != "" {
					o.Spec.Entrypoint = []string{entrypoint}
				}
			}
			o.Spec.Env = env
			_ = interactive // stdin is always the container's; -i is accepted for docker's muscle memory
			o.Pull = func(name string) (engine.PullOptions, func()) {
				fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", image.Familiar(name))
				d := progress.New(os.Stderr)
				return engine.PullOptions{Progress: d}, func() { d.Close() }
			}
			var code int
			err := withEngine(func(ctx context.Context, e *engine.Engine) error {
				var err error
				code, err = e.Run(ctx, args[0], o)
				return err
			})
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVar(&o.Remove, "rm", false, "remove the container when it exits")
	f.StringArrayVarP(&env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	f.StringVar(&entrypoint, "entrypoint", "", "override the image's entrypoint")
	f.StringVarP(&o.Spec.WorkingDir, "workdir", "w", "", "working directory inside the container")
	f.StringVarP(&o.Spec.User, "user", "u", "", "user (name|uid[:group|gid])")
	f.StringVarP(&o.Spec.Hostname, "hostname", "h", "", "container host name")
	f.BoolVarP(&o.Spec.Tty, "tty", "t", false, "allocate a pseudo-terminal")
	f.BoolVarP(&interactive, "interactive", "i", false, "keep stdin open (it always is)")
	f.BoolVar(&o.Spec.ReadOnly, "read-only", false, "mount the container's root filesystem read-only")
	f.Bool("help", false, "help for run")
	return cmd
}

func newPsCommand() *cobra.Command {
	var all, quiet bool
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List the containers berth run kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEngine(func(ctx context.Context, e *engine.Engine) error {
				cs, err := e.Containers(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
				if !quiet {
					fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS")
				}
				for _, c := range cs {
					status := "Running"
					if !c.Finished.IsZero() {
						if !all {
							continue
						}
						status = fmt.Sprintf("Exited (%d) %s", c.ExitCode, engine.HumanAgo(c.Finished))
					}
					if quiet {
						fmt.Fprintln(tw, c.ID[:12])
						continue
					}
					command := strings.Join(c.Command, " ")
					if r := []rune(command); len(r) > 20 {
						command = string(r[:19]) + "…"
					}
					fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\n", c.ID[:12], c.Image, command, engine.HumanAgo(c.Created), status)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show stopped containers too")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show IDs")
	return cmd
}

func newRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm CONTAINER [CONTAINER...]",
		Short: "Remove stopped containers and their filesystems",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEngine(func(ctx context.Context, e *engine.Engine) error {
				var failed error
				for _, id := range args {
					if err := e.RemoveContainer(ctx, id); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n", err)
						failed = &exitError{code: 1}
						continue
					}
					fmt.Fprintln(cmd.OutOrStdout(), id)
				}
				return failed
			})
		},
	}
}

func newExportCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Write a container's filesystem as a tar archive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEngine(func(ctx context.Context, e *engine.Engine) error {
				return writeOutput(output, cmd.OutOrStdout(), func(w io.Writer) error {
					return e.Export(ctx, args[0], w)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file instead of stdout")
	return cmd
}

// writeOutput runs fn on the file named by output (written whole or not at
// all) or, without one, on stdout, refusing a terminal.
func writeOutput(output string, stdout io.Writer, fn func(io.Writer) error) error {
	if output == "" {
		if progress.IsTerminal(stdout) {
			return fmt.Errorf("cowardly refusing to write a tar archive to a terminal: use -o or redirect")
		}
		return fn(stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), ".berth-out-*")
	if err != nil {
		return err
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
