package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
)

// newVolumeCommand is `berth volume`, docker's volume commands.
func newVolumeCommand(c *client) *cobra.Command {
	cmd := groupCommand("volume", "Manage volumes")
	cmd.AddCommand(newVolumeCreateCommand(c), newVolumeInspectCommand(c), newVolumeLsCommand(c),
		newVolumePruneCommand(c), newVolumeRmCommand(c))
	return cmd
}

func newVolumeCreateCommand(c *client) *cobra.Command {
	var (
		driver, name string
		opts         kvMap
		labels       = listValue{validate: validateLabel}
	)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  maxArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			if len(args) == 1 {
				if name != "" && name != args[0] {
					return errors.New("conflicting options: either specify --name or provide positional arg, not both")
				}
				name = args[0]
			}
			v, err := api.VolumeCreate(ctx, volume.CreateRequest{
				Name: name, Driver: driver, DriverOpts: opts.asMap(), Labels: kvStrings(labels.values),
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v.Name)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	f.VarP(&opts, "opt", "o", "Set driver specific options")
	f.Var(&labels, "label", "Set metadata for a volume")
	f.StringVar(&name, "name", "", "Specify volume name")
	f.MarkHidden("name")
	return cmd
}

// volumeLsHeader names `volume ls`'s columns.
var volumeLsHeader = map[string]string{
	"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS",
	"Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT", "Availability": "AVAILABILITY", "Group": "GROUP",
	"Status": "STATUS",
}

const defaultVolumeLsFormat = "table {{.Driver}}\t{{.Name}}"

func newVolumeLsCommand(c *client) *cobra.Command {
	var (
		quiet   bool
		format  string
		filters []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			if quiet && (format == "" || format == "table") {
				format = "{{.Name}}"
			}
			lf, err := newListFormat(format, defaultVolumeLsFormat)
			if err != nil {
				return err
			}
			resp, err := api.VolumeList(ctx, f)
			if err != nil {
				return err
			}
			for _, w := range resp.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), w)
			}
			list := resp.Volumes
			sort.SliceStable(list, func(i, j int) bool { return naturalLess(list[i].Name, list[j].Name) })
			rows := make([]any, len(list))
			for i, v := range list {
				rows[i] = &volumeLsRow{v: v}
			}
			return lf.write(cmd.OutOrStdout(), volumeLsHeader, rows)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	f.StringVar(&format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	f.StringArrayVarP(&filters, "filter", "f", nil, `Provide filter values (e.g. "dangling=true")`)
	return cmd
}

// volumeLsRow is one volume as `volume ls` templates see it: docker's
// placeholders.
type volumeLsRow struct{ v volume.Volume }

func (r *volumeLsRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }

func (r *volumeLsRow) Name() string       { return r.v.Name }
func (r *volumeLsRow) Driver() string     { return r.v.Driver }
func (r *volumeLsRow) Scope() string      { return r.v.Scope }
func (r *volumeLsRow) Mountpoint() string { return r.v.Mountpoint }
func (r *volumeLsRow) CreatedAt() string  { return r.v.CreatedAt }

// Availability, Group and Status are cluster volumes' (none here).
func (r *volumeLsRow) Availability() string { return "N/A" }
func (r *volumeLsRow) Group() string        { return "N/A" }
func (r *volumeLsRow) Status() string       { return "N/A" }

// Labels are k=v pairs, sorted, comma-separated.
func (r *volumeLsRow) Labels() string {
	pairs := make([]string, 0, len(r.v.Labels))
	for k, v := range r.v.Labels {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// Label is the value of one label.
func (r *volumeLsRow) Label(name string) string { return r.v.Labels[name] }

// Links and Size are known only to system df (UsageData); N/A otherwise.
func (r *volumeLsRow) Links() string { return (&volumeRow{r.v}).Links() }
func (r *volumeLsRow) Size() string  { return (&volumeRow{r.v}).Size() }

func volumeGetter(api engine.API) inspectFunc {
	return func(ctx context.Context, name string) (any, error) {
		return api.VolumeInspect(ctx, name)
	}
}

func newVolumeInspectCommand(c *client) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return inspectAll(ctx, cmd, args, format, volumeGetter(api))
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

func newVolumeRmCommand(c *client) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Long:    "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
		Args:    minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			// The engine answers force itself (a missing volume is no
			// error), as docker's daemon does.
			return forEachPrinting(cmd, args, func(name string) error { return api.VolumeRemove(ctx, name, force) })
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

// docker's prompts before a volume prune.
const (
	volumePruneWarning    = "WARNING! This will remove anonymous local volumes not used by at least one container."
	volumePruneAllWarning = "WARNING! This will remove all local volumes not used by at least one container."
)

func newVolumePruneCommand(c *client) *cobra.Command {
	var force, all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			if all {
				if len(f["all"]) > 0 {
					return errors.New("conflicting options: cannot specify both --all and --filter all=1")
				}
				if f == nil {
					f = engine.Filters{}
				}
				f["all"] = []string{"true"}
			}
			warning := volumePruneWarning
			if all || anyTrue(f["all"]) {
				warning = volumePruneAllWarning
			}
			if !force && !confirm(cmd.InOrStdin(), cmd.OutOrStdout(), warning) {
				return nil
			}
			_, err = pruneVolumes(ctx, api, f, cmd.OutOrStdout(), true)
			return err
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "label=<label>")`)
	return cmd
}

func anyTrue(vs []string) bool {
	for _, v := range vs {
		if v == "1" || strings.EqualFold(v, "true") {
			return true
		}
	}
	return false
}

// pruneVolumes prunes and reports as docker: the names under "Deleted
// Volumes:" and a blank line, then (when total) the space reclaimed.
func pruneVolumes(ctx context.Context, api engine.API, f engine.Filters, out io.Writer, total bool) (uint64, error) {
	r, err := api.VolumesPrune(ctx, f)
	if err != nil {
		return 0, err
	}
	if len(r.VolumesDeleted) > 0 {
		fmt.Fprintln(out, "Deleted Volumes:")
		for _, n := range r.VolumesDeleted {
			fmt.Fprintln(out, n)
		}
		fmt.Fprintln(out)
	}
	if total {
		fmt.Fprintf(out, "Total reclaimed space: %s\n", humanSize4(int64(r.SpaceReclaimed)))
	}
	return r.SpaceReclaimed, nil
}
