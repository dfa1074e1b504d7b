package main

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
)

const defaultPsFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

// psHeader names ps's columns.
var psHeader = map[string]string{
	"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
	"CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
	"Status": "STATUS", "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS",
	"LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
}

type psOptions struct {
	all, quiet, noTrunc, size, latest bool
	last                              int
	format                            string
	filters                           []string
}

func newPsCommand(c *client) *cobra.Command {
	var o psOptions
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return listContainers(ctx, cmd, api, o)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only display container IDs")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVarP(&o.size, "size", "s", false, "Display total file sizes")
	f.BoolVarP(&o.latest, "latest", "l", false, "Show the latest created container (includes all states)")
	f.IntVarP(&o.last, "last", "n", -1, "Show n last created containers (includes all states)")
	f.StringVar(&o.format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	f.StringArrayVarP(&o.filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

func listContainers(ctx context.Context, cmd *cobra.Command, api engine.API, o psOptions) error {
	filters, err := filterFlag(o.filters)
	if err != nil {
		return err
	}
	format := o.format
	if o.quiet {
		format = "{{.ID}}"
	}
	def := defaultPsFormat
	if o.size {
		def += "\t{{.Size}}"
	}
	lf, err := newListFormat(format, def)
	if err != nil {
		return err
	}
	lo := engine.ListOptions{All: o.all, Size: o.size || lf.uses(".Size"), Filters: filters}
	if o.latest && o.last == -1 {
		o.last = 1
	}
	if o.last > 0 {
		lo.Limit = o.last
	}
	list, err := api.ContainerList(ctx, lo)
	if err != nil {
		return err
	}
	now := time.Now()
	rows := make([]any, len(list))
	for i, s := range list {
		rows[i] = &psRow{s: s, trunc: !o.noTrunc, now: now}
	}
	return lf.write(cmd.OutOrStdout(), psHeader, rows)
}

// psRow is one container as ps templates see it: docker's placeholders.
type psRow struct {
	s     container.Summary
	trunc bool
	now   time.Time
}

func (r *psRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }

// ID is the short ID, or the full one with --no-trunc.
func (r *psRow) ID() string {
	if r.trunc {
		return truncateID(r.s.ID)
	}
	return r.s.ID
}

// Names are the names without their "/"; truncated, the first one only.
func (r *psRow) Names() string {
	var names []string
	for _, n := range r.s.Names {
		n = strings.TrimPrefix(n, "/")
		if r.trunc {
			if !strings.Contains(n, "/") {
				return n
			}
			continue
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// Image is the image as the user named it, made familiar and without its
// digest when truncated; an image ID is shortened.
func (r *psRow) Image() string {
	img := r.s.Image
	if img == "" {
		return "<no image>"
	}
	if !r.trunc {
		return img
	}
	if short := truncateID(r.s.ImageID); short != "" && short == truncateID(img) {
		return short
	}
	ref, err := image.ParseReference(img)
	if err != nil {
		return img
	}
	if !hasTag(img) {
		return ref.FamiliarName()
	}
	return ref.FamiliarName() + ":" + ref.Tag
}

// hasTag reports whether a reference names a tag ("name:tag", not only a
// registry port or a digest).
func hasTag(ref string) bool {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	return strings.Contains(ref, ":")
}

// Command is the quoted command, 20 characters at most when truncated.
func (r *psRow) Command() string {
	cmd := r.s.Command
	if r.trunc {
		cmd = ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

func (r *psRow) CreatedAt() string  { return time.Unix(r.s.Created, 0).String() }
func (r *psRow) RunningFor() string { return since(r.s.Created, r.now) }
func (r *psRow) Ports() string      { return displayPorts(r.s.Ports) }
func (r *psRow) State() string      { return string(r.s.State) }
func (r *psRow) Status() string     { return r.s.Status }

// Size is "2B (virtual 21.5MB)", the writable layer and the whole.
func (r *psRow) Size() string {
	s := humanSize(r.s.SizeRw)
	if r.s.SizeRootFs > 0 {
		s += " (virtual " + humanSize(r.s.SizeRootFs) + ")"
	}
	return s
}

// Labels are k=v pairs, sorted, comma-separated.
func (r *psRow) Labels() string {
	pairs := make([]string, 0, len(r.s.Labels))
	for k, v := range r.s.Labels {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// Label is the value of one label.
func (r *psRow) Label(name string) string { return r.s.Labels[name] }

// Mounts are the volume names or source paths, comma-separated.
func (r *psRow) Mounts() string {
	var names []string
	for _, m := range r.s.Mounts {
		n := m.Name
		if n == "" {
			n = m.Source
		}
		if r.trunc {
			n = ellipsis(n, 15)
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// LocalVolumes counts the mounts of local volumes.
func (r *psRow) LocalVolumes() string {
	n := 0
	for _, m := range r.s.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

// Networks are the networks the container is on, sorted.
func (r *psRow) Networks() string {
	if r.s.NetworkSettings == nil {
		return ""
	}
	var names []string
	for n := range r.s.NetworkSettings.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// displayPorts writes ports as docker's ps: consecutive unpublished ports
// of a protocol grouped ("8000-8002/tcp"), published ones as
// "0.0.0.0:80->8080/tcp".
func displayPorts(ports []container.PortSummary) string {
	ps := append([]container.PortSummary(nil), ports...)
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	type group struct{ first, last uint16 }
	groups := map[string]*group{}
	var order, result, mapped []string
	for _, p := range ps {
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != p.PrivatePort {
				mapped = append(mapped, fmt.Sprintf("%s->%d/%s", net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort))), p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		g := groups[key]
		if g == nil {
			groups[key] = &group{p.PrivatePort, p.PrivatePort}
			order = append(order, key)
			continue
		}
		if p.PrivatePort == g.last+1 {
			g.last = p.PrivatePort
			continue
		}
		result = append(result, portGroup(key, g.first, g.last))
		groups[key] = &group{p.PrivatePort, p.PrivatePort}
	}
	for _, k := range order {
		g := groups[k]
		result = append(result, portGroup(k, g.first, g.last))
	}
	return strings.Join(append(result, mapped...), ", ")
}

func portGroup(key string, first, last uint16) string {
	proto, ip := key, ""
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		ip, proto = key[:i], key[i+1:]
	}
	ports := strconv.Itoa(int(first))
	if first != last {
		ports += "-" + strconv.Itoa(int(last))
	}
	if ip != "" {
		ports = net.JoinHostPort(ip, ports) + "->" + ports
	}
	return ports + "/" + proto
}
