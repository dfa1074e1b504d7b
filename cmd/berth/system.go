package main

import (
	"context"
	"fmt"
	"io"
	goruntime "runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
)

// clientAPIVersion is the Engine API version berth's client speaks: that
// of the docker CLI it follows (28.x).
const clientAPIVersion = "1.50"

func newSystemCommand(c *client) *cobra.Command {
	cmd := groupCommand("system", "Manage berth")
	cmd.AddCommand(newDfCommand(c), newEventsCommand(c), newInfoCommand(c), newSystemPruneCommand(c))
	return cmd
}

// clientVersion is the Client part of version and info.
type clientVersion struct {
	Version    string
	APIVersion string `json:"ApiVersion"`
	GoVersion  string
	GitCommit  string
	BuildTime  string `json:",omitempty"`
	Os         string
	Arch       string
	Context    string
}

// buildInfo reads the binary's version, commit and build time.
func buildInfo() clientVersion {
	v := clientVersion{Version: "dev", APIVersion: clientAPIVersion, GoVersion: goruntime.Version(),
		Os: goruntime.GOOS, Arch: goruntime.GOARCH, Context: "default"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
		v.Version = strings.TrimPrefix(mv, "v")
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.GitCommit = s.Value
			if len(v.GitCommit) > 7 {
				v.GitCommit = v.GitCommit[:7]
			}
		case "vcs.time":
			v.BuildTime = s.Value
		}
	}
	return v
}

// ansiDate writes an RFC 3339 time as docker's version does ("Fri May 30
// 12:07:14 2025"); anything else as it is.
func ansiDate(s string) string {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.Format(time.ANSIC)
	}
	return s
}

// versionInfo is what version's templates see.
type versionInfo struct {
	Client clientVersion
	Server *system.VersionResponse `json:",omitempty"`
}

func newVersionCommand(c *client) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the berth version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			vi := versionInfo{Client: buildInfo()}
			var serverErr error
			api, err := c.API(ctx)
			if err == nil {
				var sv system.VersionResponse
				if sv, serverErr = api.Version(ctx); serverErr == nil {
					vi.Server = &sv
				}
			} else {
				serverErr = err
			}
			if err := printVersion(cmd.OutOrStdout(), vi, format); err != nil {
				return &statusError{code: 64, msg: err.Error()}
			}
			return serverErr
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

// printVersion writes docker's Client/Server layout, or the template.
func printVersion(out io.Writer, vi versionInfo, format string) error {
	if format != "" {
		if format == "json" {
			format = "{{json .}}"
		}
		t, err := parseTemplate(format)
		if err != nil {
			return err
		}
		if err := t.Execute(out, vi); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		fmt.Fprintln(out)
		return nil
	}
	tw := tabwriter.NewWriter(out, 20, 1, 1, ' ', 0)
	cv := vi.Client
	fmt.Fprintln(tw, "Client:")
	fmt.Fprintf(tw, " Version:\t%s\n", cv.Version)
	fmt.Fprintf(tw, " API version:\t%s\n", cv.APIVersion)
	fmt.Fprintf(tw, " Go version:\t%s\n", cv.GoVersion)
	fmt.Fprintf(tw, " Git commit:\t%s\n", cv.GitCommit)
	fmt.Fprintf(tw, " Built:\t%s\n", ansiDate(cv.BuildTime))
	fmt.Fprintf(tw, " OS/Arch:\t%s/%s\n", cv.Os, cv.Arch)
	fmt.Fprintf(tw, " Context:\t%s\n", cv.Context)
	if sv := vi.Server; sv != nil {
		fmt.Fprintln(tw)
		if sv.Platform.Name != "" {
			fmt.Fprintf(tw, "Server: %s\n", sv.Platform.Name)
		} else {
			fmt.Fprintln(tw, "Server:")
		}
		components := sv.Components
		if !hasEngine(components) {
			components = append([]system.ComponentVersion{{Name: "Engine", Version: sv.Version}}, components...)
		}
		for _, comp := range components {
			fmt.Fprintf(tw, " %s:\n", comp.Name)
			if comp.Name == "Engine" {
				d := func(k, fallback string) string {
					if v, ok := comp.Details[k]; ok {
						return v
					}
					return fallback
				}
				fmt.Fprintf(tw, "  Version:\t%s\n", comp.Version)
				fmt.Fprintf(tw, "  API version:\t%s (minimum version %s)\n", d("ApiVersion", sv.APIVersion), d("MinAPIVersion", sv.MinAPIVersion))
				fmt.Fprintf(tw, "  Go version:\t%s\n", d("GoVersion", sv.GoVersion))
				fmt.Fprintf(tw, "  Git commit:\t%s\n", d("GitCommit", sv.GitCommit))
				fmt.Fprintf(tw, "  Built:\t%s\n", ansiDate(d("BuildTime", sv.BuildTime)))
				fmt.Fprintf(tw, "  OS/Arch:\t%s/%s\n", d("Os", sv.Os), d("Arch", sv.Arch))
				fmt.Fprintf(tw, "  Experimental:\t%s\n", d("Experimental", strconv.FormatBool(sv.Experimental)))
				continue
			}
			fmt.Fprintf(tw, "  Version:\t%s\n", comp.Version)
			keys := make([]string, 0, len(comp.Details))
			for k := range comp.Details {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(tw, "  %s:\t%s\n", k, comp.Details[k])
			}
		}
	}
	return tw.Flush()
}

func hasEngine(cs []system.ComponentVersion) bool {
	for _, c := range cs {
		if c.Name == "Engine" {
			return true
		}
	}
	return false
}

// infoView is what info's templates see: the server's Info inline, the
// client's under ClientInfo.
type infoView struct {
	*system.Info `json:",omitempty"`
	ServerErrors []string `json:",omitempty"`
	ClientInfo   *clientInfo
}

type clientInfo struct {
	Debug bool
	clientVersion
}

func newInfoCommand(c *client) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			v := infoView{ClientInfo: &clientInfo{clientVersion: buildInfo()}}
			api, err := c.API(ctx)
			if err == nil {
				var info system.Info
				if info, err = api.Info(ctx); err == nil {
					v.Info = &info
				}
			}
			if err != nil {
				v.ServerErrors = append(v.ServerErrors, err.Error())
			}
			if format != "" {
				if format == "json" {
					format = "{{json .}}"
				}
				if v.Info == nil {
					v.Info = &system.Info{}
					fmt.Fprintln(cmd.ErrOrStderr(), err)
				}
				t, err := parseTemplate(format)
				if err != nil {
					return &statusError{code: 64, msg: err.Error()}
				}
				if err := t.Execute(cmd.OutOrStdout(), v); err != nil {
					return fmt.Errorf("template parsing error: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout())
				if len(v.ServerErrors) > 0 {
					return &statusError{code: 1}
				}
				return nil
			}
			printInfo(cmd.OutOrStdout(), cmd.ErrOrStderr(), v)
			if len(v.ServerErrors) > 0 {
				return &statusError{code: 1, msg: "errors pretty printing info"}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

// printInfo writes info in docker's text layout.
func printInfo(out, errOut io.Writer, v infoView) {
	p := func(a ...any) { fmt.Fprintln(out, a...) }
	nonEmpty := func(label, value string) {
		if value != "" {
			p(label, value)
		}
	}
	p("Client:")
	cv := v.ClientInfo
	nonEmpty(" Version:   ", cv.Version)
	p(" Context:   ", cv.Context)
	p(" Debug Mode:", cv.Debug)
	p()
	p("Server:")
	for _, e := range v.ServerErrors {
		fmt.Fprintln(errOut, "ERROR:", e)
	}
	i := v.Info
	if i == nil {
		return
	}
	p(" Containers:", i.Containers)
	p("  Running:", i.ContainersRunning)
	p("  Paused:", i.ContainersPaused)
	p("  Stopped:", i.ContainersStopped)
	p(" Images:", i.Images)
	nonEmpty(" Server Version:", i.ServerVersion)
	nonEmpty(" Storage Driver:", i.Driver)
	for _, kv := range i.DriverStatus {
		fmt.Fprintf(out, "  %s: %s\n", kv[0], kv[1])
	}
	for _, kv := range i.SystemStatus {
		fmt.Fprintf(out, " %s: %s\n", kv[0], kv[1])
	}
	nonEmpty(" Logging Driver:", i.LoggingDriver)
	nonEmpty(" Cgroup Driver:", i.CgroupDriver)
	nonEmpty(" Cgroup Version:", i.CgroupVersion)
	p(" Plugins:")
	p("  Volume:", strings.Join(i.Plugins.Volume, " "))
	p("  Network:", strings.Join(i.Plugins.Network, " "))
	if len(i.Plugins.Authorization) > 0 {
		p("  Authorization:", strings.Join(i.Plugins.Authorization, " "))
	}
	p("  Log:", strings.Join(i.Plugins.Log, " "))
	state := string(i.Swarm.LocalNodeState)
	if state == "" {
		state = "inactive"
	}
	p(" Swarm:", state)
	if len(i.Runtimes) > 0 {
		names := make([]string, 0, len(i.Runtimes))
		for n := range i.Runtimes {
			names = append(names, n)
		}
		sort.Strings(names)
		p(" Runtimes:", strings.Join(names, " "))
		p(" Default Runtime:", i.DefaultRuntime)
	}
	if i.OSType == "linux" {
		p(" Init Binary:", i.InitBinary)
		p(" containerd version:", i.ContainerdCommit.ID)
		p(" runc version:", i.RuncCommit.ID)
		p(" init version:", i.InitCommit.ID)
		if len(i.SecurityOptions) > 0 {
			p(" Security Options:")
			for _, so := range i.SecurityOptions {
				// "name=seccomp,profile=builtin"
				var name string
				var opts [][2]string
				for _, kv := range strings.Split(so, ",") {
					k, val, _ := strings.Cut(kv, "=")
					if k == "name" {
						name = val
					} else {
						opts = append(opts, [2]string{k, val})
					}
				}
				if name == "" {
					name = so
				}
				p("  " + name)
				for _, o := range opts {
					if o[0] == "profile" {
						p("   Profile:", o[1])
					}
				}
			}
		}
	}
	nonEmpty(" Kernel Version:", i.KernelVersion)
	nonEmpty(" Operating System:", i.OperatingSystem)
	nonEmpty(" OSType:", i.OSType)
	nonEmpty(" Architecture:", i.Architecture)
	p(" CPUs:", i.NCPU)
	p(" Total Memory:", binarySize(float64(i.MemTotal)))
	nonEmpty(" Name:", i.Name)
	nonEmpty(" ID:", i.ID)
	p(" Docker Root Dir:", i.DockerRootDir)
	p(" Debug Mode:", i.Debug)
	if i.Debug {
		p("  File Descriptors:", i.NFd)
		p("  Goroutines:", i.NGoroutines)
		p("  System Time:", i.SystemTime)
		p("  EventsListeners:", i.NEventsListener)
	}
	nonEmpty(" HTTP Proxy:", i.HTTPProxy)
	nonEmpty(" HTTPS Proxy:", i.HTTPSProxy)
	nonEmpty(" No Proxy:", i.NoProxy)
	if len(i.Labels) > 0 {
		p(" Labels:")
		for _, l := range i.Labels {
			p("  " + l)
		}
	}
	p(" Experimental:", i.ExperimentalBuild)
	if rc := i.RegistryConfig; rc != nil && (len(rc.InsecureRegistryCIDRs) > 0 || len(rc.IndexConfigs) > 0) {
		p(" Insecure Registries:")
		names := make([]string, 0, len(rc.IndexConfigs))
		for name, ic := range rc.IndexConfigs {
			if ic != nil && !ic.Secure {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			p("  " + n)
		}
		for _, cidr := range rc.InsecureRegistryCIDRs {
			p("  " + cidr.String())
		}
	}
	if rc := i.RegistryConfig; rc != nil && len(rc.Mirrors) > 0 {
		p(" Registry Mirrors:")
		for _, m := range rc.Mirrors {
			p("  " + m)
		}
	}
	p(" Live Restore Enabled:", i.LiveRestoreEnabled)
	if i.ProductLicense != "" {
		p(" Product License:", i.ProductLicense)
	}
	if len(i.DefaultAddressPools) > 0 {
		p(" Default Address Pools:")
		for _, pool := range i.DefaultAddressPools {
			fmt.Fprintf(out, "   Base: %s, Size: %d\n", pool.Base, pool.Size)
		}
	}
	p()
	for _, w := range i.Warnings {
		fmt.Fprintln(errOut, w)
	}
}

const defaultDfFormat = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"

var dfHeader = map[string]string{
	"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE",
}

// dfRow is one line of system df: a kind of object and its usage.
type dfRow struct {
	kind                             string
	total, active, size, reclaimable int64
	percent                          bool
}

func (r *dfRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }
func (r *dfRow) Type() string                 { return r.kind }
func (r *dfRow) TotalCount() string           { return strconv.FormatInt(r.total, 10) }
func (r *dfRow) Active() string               { return strconv.FormatInt(r.active, 10) }
func (r *dfRow) Size() string                 { return humanSize4(r.size) }

func (r *dfRow) Reclaimable() string {
	if r.percent && r.size > 0 {
		return fmt.Sprintf("%s (%d%%)", humanSize4(r.reclaimable), r.reclaimable*100/r.size)
	}
	return humanSize4(r.reclaimable)
}

func newDfCommand(c *client) *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show berth disk usage",
		Args:  noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			du, err := api.DiskUsage(ctx)
			if err != nil {
				return err
			}
			if verbose && (format == "" || format == "table") {
				return printDfVerbose(cmd.OutOrStdout(), du, time.Now())
			}
			lf, err := newListFormat(format, defaultDfFormat)
			if err != nil {
				return err
			}
			return lf.write(cmd.OutOrStdout(), dfHeader, dfRows(du))
		}),
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

// dfRows are the summary lines: images, containers, local volumes, build
// cache.
func dfRows(du system.DiskUsage) []any {
	var rows []any
	if u := du.ImageUsage; u != nil {
		rows = append(rows, &dfRow{"Images", u.TotalCount, u.ActiveCount, u.TotalSize, u.Reclaimable, true})
	} else {
		rows = append(rows, &dfRow{kind: "Images", percent: true})
	}
	if u := du.ContainerUsage; u != nil {
		rows = append(rows, &dfRow{"Containers", u.TotalCount, u.ActiveCount, u.TotalSize, u.Reclaimable, true})
	} else {
		rows = append(rows, &dfRow{kind: "Containers", percent: true})
	}
	if u := du.VolumeUsage; u != nil {
		rows = append(rows, &dfRow{"Local Volumes", u.TotalCount, u.ActiveCount, u.TotalSize, u.Reclaimable, true})
	} else {
		rows = append(rows, &dfRow{kind: "Local Volumes", percent: true})
	}
	if u := du.BuildCacheUsage; u != nil {
		rows = append(rows, &dfRow{"Build Cache", u.TotalCount, u.ActiveCount, u.TotalSize, u.Reclaimable, false})
	} else {
		rows = append(rows, &dfRow{kind: "Build Cache"})
	}
	return rows
}

// volumeRow is a volume in system df -v.
type volumeRow struct{ v volume.Volume }

func (r *volumeRow) Name() string { return r.v.Name }
func (r *volumeRow) Links() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return strconv.FormatInt(r.v.UsageData.RefCount, 10)
}
func (r *volumeRow) Size() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return humanSize4(r.v.UsageData.Size)
}

// printDfVerbose writes system df -v: a table per kind of object.
func printDfVerbose(out io.Writer, du system.DiskUsage, now time.Time) error {
	section := func(title, format string, header map[string]string, rows []any) error {
		io.WriteString(out, title)
		lf, err := newListFormat(format, "")
		if err != nil {
			return err
		}
		return lf.write(out, header, rows)
	}
	var images []any
	if du.ImageUsage != nil {
		for _, img := range du.ImageUsage.Items {
			repo, tag := "<none>", "<none>"
			// docker shows the first name only.
			if len(img.RepoTags) > 0 && img.RepoTags[0] != "<none>:<none>" {
				if ref, err := image.ParseReference(img.RepoTags[0]); err == nil && ref.Tag != "" {
					repo, tag = ref.FamiliarName(), ref.Tag
				}
			}
			images = append(images, &imageRow{i: img, repo: repo, tag: tag, trunc: true, now: now})
		}
	}
	if err := section("Images space usage:\n\n",
		"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
		imagesHeader, images); err != nil {
		return err
	}
	var ctrs []any
	if du.ContainerUsage != nil {
		for _, s := range du.ContainerUsage.Items {
			s.SizeRootFs = 0
			ctrs = append(ctrs, &psRow{s: s, trunc: true, now: now})
		}
	}
	if err := section("\nContainers space usage:\n\n",
		"table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
		psHeader, ctrs); err != nil {
		return err
	}
	var vols []any
	if du.VolumeUsage != nil {
		for _, v := range du.VolumeUsage.Items {
			vols = append(vols, &volumeRow{v})
		}
	}
	if err := section("\nLocal Volumes space usage:\n\n", "table {{.Name}}\t{{.Links}}\t{{.Size}}",
		map[string]string{"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}, vols); err != nil {
		return err
	}
	var cache int64
	if du.BuildCacheUsage != nil {
		cache = du.BuildCacheUsage.TotalSize
	}
	return section(fmt.Sprintf("\nBuild cache usage: %s\n\n", humanSize4(cache)),
		"table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
		map[string]string{"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
			"LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"}, nil)
}

func newSystemPruneCommand(c *client) *cobra.Command {
	var all, force, volumes bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !force {
				warning := "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n"
				if volumes {
					warning += "  - all anonymous volumes not used by at least one container\n"
				}
				if all {
					warning += "  - all images without at least one container associated to them\n"
				} else {
					warning += "  - all dangling images\n"
				}
				if !confirm(cmd.InOrStdin(), out, warning) {
					return nil
				}
			}
			space, err := pruneContainers(ctx, api, f, out, false)
			if err != nil {
				return err
			}
			nets, err := api.NetworksPrune(ctx, f)
			if err != nil {
				return err
			}
			if len(nets.NetworksDeleted) > 0 {
				fmt.Fprintln(out, "Deleted Networks:")
				for _, n := range nets.NetworksDeleted {
					fmt.Fprintln(out, n)
				}
				fmt.Fprintln(out)
			}
			if volumes {
				// Anonymous volumes only; until is no volume filter.
				vf := engine.Filters{}
				for k, v := range f {
					if k != "until" {
						vf[k] = v
					}
				}
				n, err := pruneVolumes(ctx, api, vf, out, false)
				if err != nil {
					return err
				}
				space += n
			}
			n, err := pruneImages(ctx, api, all, f, out, false)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "Total reclaimed space: %s\n", humanSize(int64(space+n)))
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	f.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	f.BoolVar(&volumes, "volumes", false, "Prune anonymous volumes")
	f.StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "label=<key>=<value>")`)
	return cmd
}
