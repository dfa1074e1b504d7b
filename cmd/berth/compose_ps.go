package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/compose"
)

// This file is what `berth compose` shows: ps, logs, top, images, port,
// ls and config.

const composePsFormat = "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"

var composePsHeader = map[string]string{
	"Name": "NAME", "Image": "IMAGE", "Command": "COMMAND", "Service": "SERVICE", "RunningFor": "CREATED",
	"Status": "STATUS", "Ports": "PORTS", "ID": "CONTAINER ID", "State": "STATE", "Project": "PROJECT",
	"Names": "NAMES", "CreatedAt": "CREATED AT", "Health": "HEALTH", "ExitCode": "EXIT CODE", "Labels": "LABELS",
	"Networks": "NETWORKS", "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE",
}

// composeRow is a container as compose ps templates see it: docker ps's
// placeholders and compose's own.
type composeRow struct{ *psRow }

func (r composeRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }

func (r composeRow) Name() string    { return strings.TrimPrefix(firstName(r.s.Names), "/") }
func (r composeRow) Service() string { return r.s.Labels[compose.LabelService] }
func (r composeRow) Project() string { return r.s.Labels[compose.LabelProject] }

// Health is the health status; "" without a healthcheck, as compose v2.
func (r composeRow) Health() string {
	if r.s.Health == nil || r.s.Health.Status == container.NoHealthcheck {
		return ""
	}
	return string(r.s.Health.Status)
}

// ExitCode is the exit code an exited container's status shows.
func (r composeRow) ExitCode() int {
	if r.s.State != container.StateExited {
		return 0
	}
	if _, rest, ok := strings.Cut(r.s.Status, "Exited ("); ok {
		if code, _, ok := strings.Cut(rest, ")"); ok {
			n, _ := strconv.Atoi(code)
			return n
		}
	}
	return 0
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

func newComposePsCommand(c *client, g *composeGlobal) *cobra.Command {
	var all, quiet, services, noTrunc, orphans bool
	var format string
	var status, filters []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, p, err := g.projectFor(ctx, args)
			if err != nil {
				return err
			}
			for _, f := range filters {
				k, v, ok := strings.Cut(f, "=")
				if !ok || k != "status" {
					return fmt.Errorf("invalid filter %q: only status=STATUS is supported", f)
				}
				status = append(status, v)
			}
			for _, s := range status {
				switch s {
				case "paused", "restarting", "removing", "running", "dead", "created", "exited":
				default:
					return fmt.Errorf("invalid status %q: must be one of paused, restarting, removing, running, dead, created, exited", s)
				}
			}
			cc, err := composeFor(ctx, c, cmd)
			if err != nil {
				return err
			}
			// As compose v2: `run` containers only with -a.
			oneoff := compose.OneoffExclude
			if all {
				oneoff = compose.OneoffInclude
			}
			list, err := cc.Containers(ctx, name, oneoff, all || len(status) > 0, args...)
			if err != nil {
				return err
			}
			if !orphans {
				if p == nil {
					return errors.New("--orphans=false needs the compose file, to know the project's services")
				}
				kept := list[:0]
				for _, ct := range list {
					if _, ok := p.Services[ct.Labels[compose.LabelService]]; ok {
						kept = append(kept, ct)
					}
				}
				list = kept
			}
			if len(status) > 0 {
				kept := list[:0]
				for _, ct := range list {
					for _, s := range status {
						if string(ct.State) == s {
							kept = append(kept, ct)
							break
						}
					}
				}
				list = kept
			}
			out := cmd.OutOrStdout()
			switch {
			case quiet:
				for _, ct := range list {
					fmt.Fprintln(out, ct.ID)
				}
				return nil
			case services:
				seen := map[string]bool{}
				for _, ct := range list {
					if s := ct.Labels[compose.LabelService]; !seen[s] {
						seen[s] = true
						fmt.Fprintln(out, s)
					}
				}
				return nil
			}
			lf, err := newListFormat(format, composePsFormat)
			if err != nil {
				return err
			}
			now := time.Now()
			rows := make([]any, len(list))
			for i, ct := range list {
				rows[i] = composeRow{&psRow{s: ct, trunc: !noTrunc, now: now}}
			}
			return lf.write(out, composePsHeader, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all stopped containers (including those created by the run command)")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	f.BoolVar(&services, "services", false, "Display services")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVar(&orphans, "orphans", true, "Include orphaned services (not declared by project)")
	f.StringVar(&format, "format", "table", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	f.StringArrayVar(&status, "status", nil, "Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]")
	f.StringArrayVar(&filters, "filter", nil, "Filter services by a property (supported filters: status).")
	return cmd
}

func newComposeLogsCommand(c *client, g *composeGlobal) *cobra.Command {
	var o compose.LogsOptions
	var noColor bool
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "View output from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, _, cc, err := g.open(cmd, c, args)
			if err != nil {
				return err
			}
			now := time.Now()
			if o.Since, err = timestampArg(o.Since, now); err != nil {
				return err
			}
			if o.Until, err = timestampArg(o.Until, now); err != nil {
				return err
			}
			o.Services = args
			o.Stdout, o.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return cc.Logs(ctx, name, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "Follow log output")
	f.StringVarP(&o.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs for each container")
	f.BoolVarP(&o.Timestamps, "timestamps", "t", false, "Show timestamps")
	f.BoolVar(&o.NoPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	f.StringVar(&o.Since, "since", "", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	f.StringVar(&o.Until, "until", "", "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	f.IntVar(&o.Index, "index", 0, "index of the container if service has multiple replicas")
	f.BoolVar(&noColor, "no-color", false, "Produce monochrome output")
	return cmd
}

func newComposeTopCommand(c *client, g *composeGlobal) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICES...]",
		Short: "Display the running processes",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, _, cc, err := g.open(cmd, c, args)
			if err != nil {
				return err
			}
			tops, err := cc.Top(ctx, name, args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, t := range tops {
				fmt.Fprintln(out, t.Name)
				tw := tabwriter.NewWriter(out, 4, 1, 3, ' ', 0)
				fmt.Fprintln(tw, strings.Join(t.Titles, "\t"))
				for _, p := range t.Processes {
					fmt.Fprintln(tw, strings.Join(p, "\t"))
				}
				tw.Flush()
				fmt.Fprintln(out)
			}
			return nil
		},
	}
}

// composeImageRow is a row of compose images.
type composeImageRow struct{ e compose.ImageEntry }

func (r composeImageRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }
func (r composeImageRow) ContainerName() string        { return r.e.Container }
func (r composeImageRow) Repository() string           { return r.e.Repository }
func (r composeImageRow) Tag() string                  { return r.e.Tag }
func (r composeImageRow) ID() string                   { return truncateID(r.e.ID) }
func (r composeImageRow) Size() string                 { return humanSize(r.e.Size) }

func newComposeImagesCommand(c *client, g *composeGlobal) *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [SERVICE...]",
		Short: "List images used by the created containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, _, cc, err := g.open(cmd, c, args)
			if err != nil {
				return err
			}
			list, err := cc.Images(ctx, name, args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if quiet {
				seen := map[string]bool{}
				for _, e := range list {
					if !seen[e.ID] {
						seen[e.ID] = true
						fmt.Fprintln(out, e.ID)
					}
				}
				return nil
			}
			lf, err := newListFormat(format, "table {{.ContainerName}}\t{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}")
			if err != nil {
				return err
			}
			rows := make([]any, len(list))
			for i, e := range list {
				rows[i] = composeImageRow{e}
			}
			return lf.write(out, map[string]string{"ContainerName": "CONTAINER", "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Size": "SIZE"}, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output. Values: [table | json]")
	return cmd
}

func newComposePortCommand(c *client, g *composeGlobal) *cobra.Command {
	var proto string
	var index int
	cmd := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the public port for a port binding",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			port, err := strconv.Atoi(args[1])
			if err != nil || port <= 0 || port > 65535 {
				return fmt.Errorf("invalid port %q", args[1])
			}
			name, _, cc, err := g.open(cmd, c, args[:1])
			if err != nil {
				return err
			}
			addr, err := cc.Port(ctx, name, args[0], port, proto, index)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), addr)
			return nil
		},
	}
	cmd.Flags().StringVar(&proto, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 0, "Index of the container if service has multiple replicas")
	return cmd
}

// stackRow is a row of compose ls.
type stackRow struct{ s compose.Stack }

func (r stackRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }
func (r stackRow) Name() string                 { return r.s.Name }
func (r stackRow) Status() string               { return r.s.Status }
func (r stackRow) ConfigFiles() string          { return r.s.ConfigFiles }

func newComposeLsCommand(c *client) *cobra.Command {
	var all, quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running compose projects",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var nameFilter []string
			for _, f := range filters {
				k, v, ok := strings.Cut(f, "=")
				if !ok || k != "name" {
					return fmt.Errorf("invalid filter %q: only name=NAME is supported", f)
				}
				nameFilter = append(nameFilter, v)
			}
			cc, err := composeFor(ctx, c, cmd)
			if err != nil {
				return err
			}
			stacks, err := cc.List(ctx, all)
			if err != nil {
				return err
			}
			if len(nameFilter) > 0 {
				kept := stacks[:0]
				for _, s := range stacks {
					for _, n := range nameFilter {
						if strings.Contains(s.Name, n) {
							kept = append(kept, s)
							break
						}
					}
				}
				stacks = kept
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, s := range stacks {
					fmt.Fprintln(out, s.Name)
				}
				return nil
			}
			if format == "json" {
				// compose v2 prints one JSON array.
				type stack struct{ Name, Status, ConfigFiles string }
				list := make([]stack, 0, len(stacks))
				for _, s := range stacks {
					list = append(list, stack{s.Name, s.Status, s.ConfigFiles})
				}
				b, err := json.Marshal(list)
				if err != nil {
					return err
				}
				fmt.Fprintln(out, string(b))
				return nil
			}
			lf, err := newListFormat(format, "table {{.Name}}\t{{.Status}}\t{{.ConfigFiles}}")
			if err != nil {
				return err
			}
			rows := make([]any, len(stacks))
			for i, s := range stacks {
				rows[i] = stackRow{s}
			}
			return lf.write(out, map[string]string{"Name": "NAME", "Status": "STATUS", "ConfigFiles": "CONFIG FILES"}, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all stopped Compose projects")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display project names")
	f.StringVar(&format, "format", "table", "Format the output. Values: [table | json]")
	f.StringArrayVar(&filters, "filter", nil, "Filter output based on conditions provided")
	return cmd
}

func newComposeConfigCommand(g *composeGlobal) *cobra.Command {
	var services, volumes, images, quiet, profiles bool
	var format, output string
	cmd := &cobra.Command{
		Use:     "config [OPTIONS] [SERVICE...]",
		Aliases: []string{"convert"},
		Short:   "Parse, resolve and render compose file in canonical format",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := g.load(ctx, args...)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				if p, err = p.WithSelectedServices(args); err != nil {
					return err
				}
			}
			var out io.Writer = cmd.OutOrStdout()
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			switch {
			case quiet:
				return nil
			case services:
				for _, s := range p.ServiceNames() {
					fmt.Fprintln(out, s)
				}
				return nil
			case volumes:
				for _, v := range p.VolumeNames() {
					fmt.Fprintln(out, v)
				}
				return nil
			case profiles:
				names, err := allProfiles(ctx, g)
				if err != nil {
					return err
				}
				for _, n := range names {
					fmt.Fprintln(out, n)
				}
				return nil
			case images:
				for _, n := range p.ServiceNames() {
					s, _ := p.GetService(n)
					fmt.Fprintln(out, compose.ImageName(p, s))
				}
				return nil
			}
			var b []byte
			switch format {
			case "", "yaml":
				b, err = p.MarshalYAML()
			case "json":
				b, err = p.MarshalJSON()
				b = append(b, '\n')
			default:
				return fmt.Errorf("unsupported format %q", format)
			}
			if err != nil {
				return err
			}
			_, err = out.Write(b)
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&services, "services", false, "Print the service names, one per line.")
	f.BoolVar(&volumes, "volumes", false, "Print the volume names, one per line.")
	f.BoolVar(&images, "images", false, "Print the image names, one per line.")
	f.BoolVar(&profiles, "profiles", false, "Print the profile names, one per line.")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only validate the configuration, don't print anything")
	f.StringVar(&format, "format", "yaml", "Format the output. Values: [yaml | json]")
	f.StringVarP(&output, "output", "o", "", "Save to file (default to stdout)")
	return cmd
}

// allProfiles lists the profiles the file's services name.
func allProfiles(ctx context.Context, g *composeGlobal) ([]string, error) {
	o := g.loadOptions()
	o.Profiles = []string{"*"}
	p, err := compose.Load(ctx, o)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, s := range p.Services {
		for _, pr := range s.Profiles {
			if !seen[pr] {
				seen[pr] = true
				names = append(names, pr)
			}
		}
	}
	sort.Strings(names)
	return names, nil
}
