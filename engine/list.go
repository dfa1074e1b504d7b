package engine

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/snapshot"
)

// ContainerList is docker ps: running containers (all with All or a
// Limit), newest first, matching docker's filters.
func (e *Engine) ContainerList(ctx context.Context, o ListOptions) ([]container.Summary, error) {
	recs, err := e.freshRecords()
	if err != nil {
		return nil, err
	}
	f, err := e.listFilter(ctx, o.Filters, recs)
	if err != nil {
		return nil, err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Created.After(recs[j].Created) })
	all := o.All || o.Limit > 0 || f.all
	now := time.Now()
	out := []container.Summary{}
	for _, r := range recs {
		if !all && !r.State.running() || !f.match(r) {
			continue
		}
		s := summary(r, now)
		withHealth(&s, healthOf(r))
		if o.Size {
			s.SizeRw, s.SizeRootFs = e.sizes(ctx, r)
		}
		out = append(out, s)
		if o.Limit > 0 && len(out) == o.Limit {
			break
		}
	}
	return out, nil
}

// freshRecords returns every record; a daemonless engine first records
// the exits of containers whose monitor is gone.
func (e *Engine) freshRecords() ([]*ctrRecord, error) {
	recs, err := e.records()
	if err != nil || e.opts.Daemon {
		return recs, err
	}
	for i, r := range recs {
		if r.State.live() {
			if fresh, err := e.current(r.ID); err == nil {
				recs[i] = fresh
			}
		}
	}
	return recs, nil
}

// summary is one line of docker ps.
func summary(r *ctrRecord, now time.Time) container.Summary {
	labels := r.Config.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	s := container.Summary{
		ID: r.ID, Names: []string{"/" + r.Name}, Image: r.Image, ImageID: r.ImageID,
		Command: command(r.Path, r.Args), Created: r.Created.Unix(),
		Ports: portSummaries(r), Labels: labels,
		State: r.State.Status, Status: statusString(r.State, now),
		NetworkSettings: &container.NetworkSettingsSummary{Networks: endpointSettings(r)},
		Mounts:          mountPoints(r),
	}
	s.HostConfig.NetworkMode = string(r.HostConfig.NetworkMode)
	s.HostConfig.Annotations = r.HostConfig.Annotations
	return s
}

// command is the COMMAND column: the arguments that hold a space are
// single-quoted, as docker shows them.
func command(path string, args []string) string {
	parts := []string{path}
	for _, a := range args {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// statusString is the STATUS column as docker words it.
func statusString(s ctrState, now time.Time) string {
	switch s.Status {
	case container.StateRunning:
		return "Up " + HumanDuration(now.Sub(s.StartedAt))
	case container.StatePaused:
		return "Up " + HumanDuration(now.Sub(s.StartedAt)) + " (Paused)"
	case container.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, HumanDuration(now.Sub(s.FinishedAt)))
	case container.StateRemoving:
		return "Removal In Progress"
	case container.StateDead:
		return "Dead"
	}
	if s.StartedAt.IsZero() {
		return "Created"
	}
	if s.FinishedAt.IsZero() {
		return ""
	}
	return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, HumanDuration(now.Sub(s.FinishedAt)))
}

// HumanDuration words a duration as docker's status column does ("Less
// than a second", "5 seconds", "About a minute", "3 hours", "2 weeks").
func HumanDuration(d time.Duration) string {
	seconds := int(d.Seconds())
	minutes := int(d.Minutes())
	hours := int(d.Hours() + 0.5)
	switch {
	case seconds < 1:
		return "Less than a second"
	case seconds == 1:
		return "1 second"
	case seconds < 60:
		return fmt.Sprintf("%d seconds", seconds)
	case minutes == 1:
		return "About a minute"
	case minutes < 60:
		return fmt.Sprintf("%d minutes", minutes)
	case hours == 1:
		return "About an hour"
	case hours < 48:
		return fmt.Sprintf("%d hours", hours)
	case hours < 24*7*2:
		return fmt.Sprintf("%d days", hours/24)
	case hours < 24*30*2:
		return fmt.Sprintf("%d weeks", hours/24/7)
	case hours < 24*365*2:
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// sizes are a container's own writes and its whole filesystem (with the
// image), in bytes.
func (e *Engine) sizes(ctx context.Context, r *ctrRecord) (rw, rootfs int64) {
	if u, ok := e.Images.Snapshots.(snapshot.Usager); ok {
		if use, err := u.Usage(ctx, r.ID); err == nil {
			rw = use.Size
		}
	}
	rootfs = rw
	if img, err := e.Images.Get(ctx, r.ImageID); err == nil {
		rootfs += img.Size
	}
	return rw, rootfs
}

// psFilter is docker ps's --filter, compiled.
type psFilter struct {
	ids, names  []*regexp.Regexp
	labels      []string
	status      map[container.ContainerState]bool
	exited      map[int]bool
	ancestors   map[string]bool // image IDs
	hasAncestor bool
	before      time.Time
	since       time.Time
	volumes     []string
	networks    []string
	health      map[string]bool
	isTask      *bool
	isolation   map[string]bool
	publish     []string
	expose      []string
	// all: the filters imply -a (a status filter does, as in docker).
	all bool
}

var psFilterNames = map[string]bool{
	"id": true, "name": true, "label": true, "status": true, "exited": true, "ancestor": true,
	"before": true, "since": true, "volume": true, "network": true, "health": true,
	"isolation": true, "is-task": true, "publish": true, "expose": true,
}

// listFilter checks and compiles filters; recs resolve before and since.
func (e *Engine) listFilter(ctx context.Context, filters Filters, recs []*ctrRecord) (*psFilter, error) {
	f := &psFilter{}
	for k := range filters {
		if !psFilterNames[k] {
			return nil, Invalid("invalid filter '%s'", k)
		}
	}
	pattern := func(v string) *regexp.Regexp {
		if re, err := regexp.Compile(v); err == nil {
			return re
		}
		return regexp.MustCompile(regexp.QuoteMeta(v))
	}
	for _, v := range filters["id"] {
		f.ids = append(f.ids, pattern(v))
	}
	for _, v := range filters["name"] {
		f.names = append(f.names, pattern(v))
	}
	f.labels = filters["label"]
	if vs := filters["status"]; len(vs) > 0 {
		f.status, f.all = map[container.ContainerState]bool{}, true
		for _, v := range vs {
			if container.ValidateContainerState(container.ContainerState(v)) != nil {
				return nil, Invalid("invalid filter 'status=%s'", v)
			}
			f.status[container.ContainerState(v)] = true
		}
	}
	if vs := filters["exited"]; len(vs) > 0 {
		f.exited = map[int]bool{}
		for _, v := range vs {
			code, err := strconv.Atoi(v)
			if err != nil {
				return nil, Invalid("invalid filter 'exited=%s'", v)
			}
			f.exited[code] = true
		}
	}
	if vs := filters["ancestor"]; len(vs) > 0 {
		f.hasAncestor, f.ancestors = true, map[string]bool{}
		for _, v := range vs {
			if img, err := e.Images.Get(ctx, v); err == nil {
				f.ancestors[img.ID().String()] = true
			}
		}
	}
	created := func(key string) (time.Time, error) {
		vs := filters[key]
		if len(vs) == 0 {
			return time.Time{}, nil
		}
		for _, r := range recs {
			if r.ID == vs[0] || r.Name == strings.TrimPrefix(vs[0], "/") {
				return r.Created, nil
			}
		}
		var match *ctrRecord
		for _, r := range recs {
			if isHexPrefix(vs[0]) && strings.HasPrefix(r.ID, vs[0]) {
				if match != nil {
					return time.Time{}, Invalid("multiple IDs found with provided prefix: %s", vs[0])
				}
				match = r
			}
		}
		if match == nil {
			return time.Time{}, NotFound("No such container: %s", vs[0])
		}
		return match.Created, nil
	}
	var err error
	if f.before, err = created("before"); err != nil {
		return nil, err
	}
	if f.since, err = created("since"); err != nil {
		return nil, err
	}
	f.volumes, f.networks = filters["volume"], filters["network"]
	if vs := filters["health"]; len(vs) > 0 {
		f.health = map[string]bool{}
		for _, v := range vs {
			switch v {
			case "starting", "healthy", "unhealthy", "none":
				f.health[v] = true
			default:
				return nil, Invalid("Unrecognised filter value for health: %s", v)
			}
		}
	}
	if vs := filters["is-task"]; len(vs) > 0 {
		b, err := strconv.ParseBool(vs[0])
		if err != nil {
			return nil, Invalid("Invalid filter 'is-task=%s'", vs[0])
		}
		f.isTask = &b
	}
	if vs := filters["isolation"]; len(vs) > 0 {
		f.isolation = map[string]bool{}
		for _, v := range vs {
			f.isolation[v] = true
		}
	}
	f.publish, f.expose = filters["publish"], filters["expose"]
	return f, nil
}

// match reports whether r passes every filter.
func (f *psFilter) match(r *ctrRecord) bool {
	anyRe := func(res []*regexp.Regexp, ss ...string) bool {
		if len(res) == 0 {
			return true
		}
		for _, re := range res {
			for _, s := range ss {
				if re.MatchString(s) {
					return true
				}
			}
		}
		return false
	}
	if !anyRe(f.ids, r.ID) || !anyRe(f.names, "/"+r.Name, r.Name) {
		return false
	}
	if !matchLabels(f.labels, r.Config.Labels) {
		return false
	}
	if f.status != nil && !f.status[r.State.Status] {
		return false
	}
	if f.exited != nil && (r.State.running() || r.State.StartedAt.IsZero() || !f.exited[r.State.ExitCode]) {
		return false
	}
	if f.hasAncestor && !f.ancestors[r.ImageID] {
		return false
	}
	if !f.before.IsZero() && !r.Created.Before(f.before) {
		return false
	}
	if !f.since.IsZero() && !r.Created.After(f.since) {
		return false
	}
	if len(f.volumes) > 0 && !anyOf(f.volumes, volumesOf(r)) {
		return false
	}
	if len(f.networks) > 0 && !anyOf(f.networks, []string{string(r.HostConfig.NetworkMode)}) {
		return false
	}
	if f.health != nil && !f.health[string(healthStatus(healthOf(r)))] {
		return false
	}
	if f.isTask != nil && *f.isTask {
		return false // no swarm tasks
	}
	if f.isolation != nil && !f.isolation["default"] && !f.isolation[string(r.HostConfig.Isolation)] {
		return false
	}
	if len(f.expose) > 0 && !anyPort(f.expose, portsOf(r.Config.ExposedPorts)) {
		return false
	}
	if len(f.publish) > 0 {
		var ps []string
		for p := range r.HostConfig.PortBindings {
			ps = append(ps, p.String())
		}
		if !anyPort(f.publish, ps) {
			return false
		}
	}
	return true
}

// matchLabels: every filter ("key" or "key=value") must hold.
func matchLabels(filters []string, labels map[string]string) bool {
	for _, l := range filters {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || hasV && got != v {
			return false
		}
	}
	return true
}

func anyOf(want, have []string) bool {
	for _, w := range want {
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}

// anyPort matches "80" or "80/udp" against "80/tcp"-style ports.
func anyPort(want, have []string) bool {
	for _, w := range want {
		if !strings.Contains(w, "/") {
			w += "/tcp"
		}
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}

func portsOf(ps network.PortSet) []string {
	var out []string
	for p := range ps {
		out = append(out, p.String())
	}
	return out
}

// volumesOf lists the volume names, sources and destinations of a
// container's mounts: what ps's volume= filter matches.
func volumesOf(r *ctrRecord) []string {
	var out []string
	for _, m := range r.Mounts {
		out = append(out, m.Destination)
		if m.Name != "" {
			out = append(out, m.Name)
		}
		if m.Source != "" {
			out = append(out, m.Source)
		}
	}
	return out
}
