package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/compose"
	"github.com/berth-project/berth/image"
)

// This file is `berth compose`: docker compose v2's global flags and the
// way each command finds its project. The commands are compose_up.go
// (up, down, run, exec), compose_ps.go (ps, logs, top, images, port, ls,
// config) and compose_ops.go (build, pull, push, start, stop, restart, rm,
// kill, pause, unpause).

// composeGlobal are the flags of `berth compose` itself, read before the
// subcommand's (berth compose -f a.yaml -p x up).
type composeGlobal struct {
	files      []string
	project    string
	projectDir string
	profiles   []string
	envFiles   []string
}

func newComposeCommand(c *client) *cobra.Command {
	g := &composeGlobal{}
	cmd := &cobra.Command{
		Use:              "compose [OPTIONS] COMMAND",
		Short:            "Define and run multi-container applications",
		TraverseChildren: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &statusError{code: 1, msg: fmt.Sprintf("unknown docker command: \"compose %s\"", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f := cmd.Flags()
	f.StringArrayVarP(&g.files, "file", "f", nil, "Compose configuration files")
	f.StringVarP(&g.project, "project-name", "p", "", "Project name")
	f.StringVar(&g.projectDir, "project-directory", "", "Specify an alternate working directory\n(default: the path of the, first specified, Compose file)")
	f.StringArrayVar(&g.profiles, "profile", nil, "Specify a profile to enable")
	f.StringArrayVar(&g.envFiles, "env-file", nil, "Specify an alternate environment file")
	// Accepted as docker compose accepts them; they change nothing here.
	var ansi, progress string
	var parallel int
	var compat, dryRun, allResources bool
	f.StringVar(&ansi, "ansi", "auto", `Control when to print ANSI control characters ("never"|"always"|"auto")`)
	f.StringVar(&progress, "progress", "auto", "Set type of progress output (auto, tty, plain, json, quiet)")
	f.IntVar(&parallel, "parallel", -1, "Control max parallelism, -1 for unlimited")
	f.BoolVar(&compat, "compatibility", false, "Run compose in backward compatibility mode")
	f.BoolVar(&dryRun, "dry-run", false, "Execute command in dry run mode")
	f.BoolVar(&allResources, "all-resources", false, "Include all resources, even those not used by services")
	for _, n := range []string{"ansi", "progress", "parallel", "compatibility", "dry-run", "all-resources"} {
		f.MarkHidden(n)
	}
	// A dry run that ran for real would be worse than none.
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if dryRun {
			return fmt.Errorf("--dry-run is not supported by berth compose")
		}
		return nil
	}
	logrus.SetFormatter(composeLogFormat{})
	cmd.AddCommand(
		newComposeUpCommand(c, g), newComposeDownCommand(c, g), newComposeRunCommand(c, g), newComposeExecCommand(c, g),
		newComposePsCommand(c, g), newComposeLogsCommand(c, g), newComposeTopCommand(c, g), newComposeImagesCommand(c, g),
		newComposePortCommand(c, g), newComposeLsCommand(c), newComposeConfigCommand(g), newComposeVersionCommand(),
		newComposeBuildCommand(c, g), newComposePullCommand(c, g), newComposePushCommand(c, g),
		newComposeStartCommand(c, g), newComposeStopCommand(c, g), newComposeRestartCommand(c, g), newComposeRmCommand(c, g),
		newComposeKillCommand(c, g), newComposePauseCommand(c, g, false), newComposePauseCommand(c, g, true),
	)
	return cmd
}

// loadOptions are the global flags as the loader takes them.
func (g *composeGlobal) loadOptions() compose.LoadOptions {
	return compose.LoadOptions{
		ConfigFiles: g.files,
		ProjectName: g.project,
		WorkingDir:  g.projectDir,
		Profiles:    g.profiles,
		EnvFiles:    g.envFiles,
	}
}

// load reads the project; every service is enabled when services are
// named on the command line (as compose v2 does for profiles).
func (g *composeGlobal) load(ctx context.Context, services ...string) (*types.Project, error) {
	p, err := compose.Load(ctx, g.loadOptions())
	if err != nil {
		return nil, err
	}
	if len(services) > 0 {
		for _, s := range services {
			if _, err := p.GetService(s); err != nil {
				if p2, err := p.WithServicesEnabled(s); err == nil {
					p = p2
					continue
				}
				return nil, fmt.Errorf("no such service: %s", s)
			}
		}
	}
	return p, nil
}

// project is what a command that can do without the file works on: the
// loaded project, or, when there is no compose file, only its name
// (from -p or COMPOSE_PROJECT_NAME), as compose v2 allows.
func (g *composeGlobal) projectName(ctx context.Context) (string, *types.Project, error) {
	p, err := compose.Load(ctx, g.loadOptions())
	if err == nil {
		return p.Name, p, nil
	}
	if !noConfigFile(err) {
		return "", nil, err
	}
	name := g.project
	if name == "" {
		name = os.Getenv("COMPOSE_PROJECT_NAME")
	}
	if name == "" {
		return "", nil, err
	}
	return name, nil, nil
}

// checkServices fails on a service the project does not have (disabled
// by a profile counts as had), as compose v2 does; without the file
// (p nil) any name goes.
func checkServices(p *types.Project, names []string) error {
	if p == nil {
		return nil
	}
	for _, n := range names {
		if _, err := p.GetService(n); err == nil {
			continue
		}
		if _, err := p.GetDisabledService(n); err == nil {
			continue
		}
		return fmt.Errorf("no such service: %s", n)
	}
	return nil
}

// projectFor is projectName for a command on services: a service the
// file does not have is an error.
func (g *composeGlobal) projectFor(ctx context.Context, services []string) (string, *types.Project, error) {
	name, p, err := g.projectName(ctx)
	if err != nil {
		return "", nil, err
	}
	return name, p, checkServices(p, services)
}

// open is how a command on a project's containers starts: the project
// (its name, and the project itself unless there is no file, as
// projectFor), checked for the services named, then the library.
func (g *composeGlobal) open(cmd *cobra.Command, c *client, services []string) (string, *types.Project, *compose.Compose, error) {
	ctx := cmd.Context()
	name, p, err := g.projectFor(ctx, services)
	if err != nil {
		return "", nil, nil, err
	}
	cc, err := composeFor(ctx, c, cmd)
	if err != nil {
		return "", nil, nil, err
	}
	return name, p, cc, nil
}

// openFile is open for a command that needs the compose file: the
// project loaded (as load), then the library.
func (g *composeGlobal) openFile(cmd *cobra.Command, c *client, services ...string) (*types.Project, *compose.Compose, error) {
	ctx := cmd.Context()
	p, err := g.load(ctx, services...)
	if err != nil {
		return nil, nil, err
	}
	cc, err := composeFor(ctx, c, cmd)
	if err != nil {
		return nil, nil, err
	}
	return p, cc, nil
}

// noConfigFile reports whether the loader found no compose file.
func noConfigFile(err error) bool {
	return errors.Is(err, errdefs.ErrNotFound) && strings.Contains(err.Error(), "no configuration file provided")
}

// composeFor is the library over c's engine, its progress on stderr.
func composeFor(ctx context.Context, c *client, cmd *cobra.Command) (*compose.Compose, error) {
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	cc := compose.New(api, cmd.ErrOrStderr())
	cc.RegistryAuth = func(ref string) (string, error) {
		r, err := image.ParseReference(ref)
		if err != nil {
			return "", err
		}
		return registryAuth(r)
	}
	return cc, nil
}

// timeoutFlag is -t/--timeout: nil unless given.
type timeoutFlag struct {
	n   int
	set bool
}

func (t *timeoutFlag) add(cmd *cobra.Command, what string) {
	cmd.Flags().IntVarP(&t.n, "timeout", "t", 0, what)
}

func (t *timeoutFlag) value(cmd *cobra.Command) *int {
	if !cmd.Flags().Changed("timeout") {
		return nil
	}
	n := t.n
	return &n
}

func newComposeVersionCommand() *cobra.Command {
	var short bool
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Docker Compose version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case short:
				fmt.Fprintln(cmd.OutOrStdout(), compose.Version)
			case format == "json":
				fmt.Fprintf(cmd.OutOrStdout(), "{\"version\":\"v%s\"}\n", compose.Version)
			default:
				fmt.Fprintf(cmd.OutOrStdout(), "Docker Compose version v%s\n", compose.Version)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "Shows only Compose's version number")
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format the output. Values: [pretty | json]")
	return cmd
}

// composeLogFormat prints the loader's warnings (compose-go logs through
// logrus) as docker compose does: "WARN[0000] message".
type composeLogFormat struct{}

func (composeLogFormat) Format(e *logrus.Entry) ([]byte, error) {
	level := strings.ToUpper(e.Level.String())
	if len(level) > 4 {
		level = level[:4]
	}
	return []byte(fmt.Sprintf("%s[0000] %s\n", level, e.Message)), nil
}
