package compose

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/graph"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"golang.org/x/sync/errgroup"

	"github.com/berth-project/berth/engine"
)

// pollInterval is how often a wait on a container's state looks again.
const pollInterval = 100 * time.Millisecond

// Up creates the project's networks and volumes, builds or pulls missing
// images, and converges each service's containers on the model in
// dependency order, honouring depends_on conditions. Orphans (containers of
// the project whose service is gone) are reported, or removed with
// RemoveOrphans.
//
// Nothing is created when the model is at fault (unknown service, cycle,
// missing build context, an image that cannot be had).
func (c *Compose) Up(ctx context.Context, p *types.Project, o UpOptions) error {
	if o.Wait {
		o.Detach = true
	}
	sel, err := selectProject(p, o.Services, o.NoDeps)
	if err != nil {
		return err
	}
	if err := graph.CheckCycle(sel); err != nil {
		return err
	}
	scales, err := scalesOf(sel, o.Scale)
	if err != nil {
		return err
	}
	if err := c.dryRun(ctx, sel); err != nil {
		return err
	}
	images, err := c.ensureImages(ctx, sel, o.Build, o.NoBuild)
	if err != nil {
		return err
	}
	cr, err := c.ensureResourcesCreated(ctx, sel)
	if err != nil {
		c.undo(ctx, cr)
		return err
	}
	// Listed once the networks are there: recreating one stops its
	// containers.
	existing, err := c.Containers(ctx, p.Name, OneoffExclude, true)
	if err != nil {
		c.undo(ctx, cr)
		return err
	}
	if err := c.orphans(ctx, p, existing, o.RemoveOrphans, o.Timeout); err != nil {
		c.undo(ctx, cr)
		return err
	}
	byService := map[string][]container.Summary{}
	for _, ct := range existing {
		byService[ct.Labels[LabelService]] = append(byService[ct.Labels[LabelService]], ct)
	}
	cv := &convergence{c: c, p: sel, o: o, images: images, started: map[string][]string{}, cr: cr}
	// Containers are made in dependency order; each service starts as
	// soon as it is made and its dependencies are started and meet their
	// conditions, so creating app and web overlaps waiting for db.
	ready := map[string]chan struct{}{}
	for name := range sel.Services {
		ready[name] = make(chan struct{})
	}
	wctx, stopStarts := context.WithCancel(ctx)
	defer stopStarts()
	starts, sctx := errgroup.WithContext(wctx)
	err = graph.InDependencyOrder(sctx, sel, func(ctx context.Context, name string, s types.ServiceConfig) error {
		toStart, err := cv.service(ctx, s, scales[name], byService[name])
		if err != nil {
			return err
		}
		starts.Go(func() error {
			for dep := range s.DependsOn {
				if ch, ok := ready[dep]; ok {
					select {
					case <-ch:
					case <-sctx.Done():
						return sctx.Err()
					}
				}
			}
			if err := cv.waitDependencies(sctx, s); err != nil {
				return err
			}
			g, gctx := errgroup.WithContext(sctx)
			for _, st := range toStart {
				g.Go(func() error { return cv.start(gctx, st.id, st.name) })
			}
			if cv.restartForDependencies(s) {
				cv.markChanged(name)
				for _, id := range cv.containersOf(name) {
					if !slices.ContainsFunc(toStart, func(p pending) bool { return p.id == id }) && id != "" {
						g.Go(func() error { return cv.restart(gctx, id) })
					}
				}
			}
			if err := g.Wait(); err != nil {
				return err
			}
			close(ready[name])
			return nil
		})
		return nil
	})
	if err != nil {
		stopStarts() // a service could not be made: no more starts
	}
	if serr := starts.Wait(); err == nil || errors.Is(err, context.Canceled) && serr != nil {
		err = serr
	}
	if err != nil {
		// A container the engine refused leaves nothing behind; one that
		// failed a dependency's condition stays for its logs, as compose
		// leaves it.
		var dep *dependencyError
		if !errors.As(err, &dep) && ctx.Err() == nil {
			c.undo(ctx, cr)
		}
		return err
	}
	if o.Wait {
		return c.waitReady(ctx, sel, cv.allContainers(), o.WaitTimeout)
	}
	if !o.Detach {
		// Containers that ran already show their new output only.
		since := time.Now()
		return c.attach(ctx, sel, cv.attached(o), cv.allContainers(), func(id string) bool { return !cv.fresh[id] }, since, o)
	}
	return nil
}

// selectProject is the project cut down to the services named and, unless
// noDeps, what they depend on; a named service of an inactive profile is
// enabled.
func selectProject(p *types.Project, names []string, noDeps bool) (*types.Project, error) {
	if len(names) == 0 {
		return p, nil
	}
	// A service named on the command line runs even when its profile is
	// not active, as compose does.
	for _, n := range names {
		if _, ok := p.DisabledServices[n]; ok {
			var err error
			if p, err = p.WithServicesEnabled(names...); err != nil {
				return nil, err
			}
			break
		}
	}
	opt := types.IncludeDependencies
	if noDeps {
		opt = types.IgnoreDependencies
	}
	return p.WithSelectedServices(names, opt)
}

// scalesOf is each service's replica count: --scale, else scale: or
// deploy.replicas, else 1.
func scalesOf(p *types.Project, over map[string]int) (map[string]int, error) {
	for name := range over {
		if _, ok := p.Services[name]; !ok {
			return nil, fmt.Errorf("no such service: %s", name)
		}
	}
	out := map[string]int{}
	for name, s := range p.Services {
		n := 1
		if s.Scale != nil {
			n = *s.Scale
		} else if s.Deploy != nil && s.Deploy.Replicas != nil {
			n = *s.Deploy.Replicas
		}
		if v, ok := over[name]; ok {
			n = v
		}
		if n < 0 {
			return nil, fmt.Errorf("service %q: scale %d is negative", name, n)
		}
		if n > 1 && s.ContainerName != "" {
			return nil, fmt.Errorf("services.%s: can't set container_name and %s as container name must be unique", name, name)
		}
		out[name] = n
	}
	return out, nil
}

// ensureImages builds or pulls what the services need and returns each
// service's image ID. A build context that does not exist fails first.
func (c *Compose) ensureImages(ctx context.Context, p *types.Project, build, noBuild bool) (map[string]string, error) {
	ids := map[string]string{}
	var toBuild, toPull []string
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for name, s := range p.Services {
		g.Go(func() error {
			ref := ImageName(p, s)
			img, err := c.API.ImageInspect(gctx, ref)
			missing := err != nil
			if missing && !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("service %q: image %s: %w", name, ref, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !missing {
				ids[name] = img.ID
			}
			switch {
			case s.Build != nil && !noBuild && (build || missing || s.PullPolicy == types.PullPolicyBuild):
				if err := checkBuildContext(s); err != nil {
					return err
				}
				toBuild = append(toBuild, name)
			case missing && s.PullPolicy == types.PullPolicyNever:
				return fmt.Errorf("service %q: image %s not found and pull_policy is never", name, ref)
			case missing && s.Build != nil:
				return fmt.Errorf("service %q: image %s not found and --no-build was given", name, ref)
			case missing || s.PullPolicy == types.PullPolicyAlways:
				toPull = append(toPull, name)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(toPull) > 0 {
		sort.Strings(toPull)
		if err := c.Pull(ctx, p, PullOptions{Services: toPull}); err != nil {
			return nil, err
		}
	}
	if len(toBuild) > 0 {
		sort.Strings(toBuild)
		if err := c.Build(ctx, p, BuildOptions{Services: toBuild}); err != nil {
			return nil, err
		}
	}
	for _, name := range append(toPull, toBuild...) {
		s := p.Services[name]
		img, err := c.API.ImageInspect(ctx, ImageName(p, s))
		if err != nil {
			return nil, fmt.Errorf("service %q: image %s: %w", name, ImageName(p, s), err)
		}
		ids[name] = img.ID
	}
	return ids, nil
}

// orphans are the project's containers whose service is not in the
// model: reported, or removed with remove.
func (c *Compose) orphans(ctx context.Context, p *types.Project, existing []container.Summary, remove bool, timeout *int) error {
	var orphans []container.Summary
	for _, ct := range existing {
		if isOrphan(p, ct) {
			orphans = append(orphans, ct)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	if !remove {
		c.warnOrphans(orphans)
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, ct := range orphans {
		g.Go(func() error { return c.stopRemove(gctx, ct, timeout, false) })
	}
	return g.Wait()
}

// isOrphan: ct's service is not in the model (disabled ones are).
func isOrphan(p *types.Project, ct container.Summary) bool {
	svc := ct.Labels[LabelService]
	_, known := p.Services[svc]
	_, disabled := p.DisabledServices[svc]
	return !known && !disabled
}

// warnOrphans is compose's warning about orphans left in place.
func (c *Compose) warnOrphans(orphans []container.Summary) {
	names := make([]string, len(orphans))
	for i, ct := range orphans {
		names[i] = containerName(ct)
	}
	c.warn("Found orphan containers (%v) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", names)
}

// stopRemove stops (when running) and removes a container, with
// compose's progress lines.
func (c *Compose) stopRemove(ctx context.Context, ct container.Summary, timeout *int, volumes bool) error {
	if err := c.stopOne(ctx, ct, timeout); err != nil {
		return err
	}
	return c.removeOne(ctx, ct, volumes)
}

// active: a container in a state a stop ends (running, paused or
// restarting).
func active(state container.ContainerState) bool {
	return state == container.StateRunning || state == container.StatePaused || state == container.StateRestarting
}

// stopOne stops a listed container when it runs.
func (c *Compose) stopOne(ctx context.Context, ct container.Summary, timeout *int) error {
	if !active(ct.State) {
		return nil
	}
	name := containerName(ct)
	c.step("Container", name, "Stopping")
	if err := c.API.ContainerStop(ctx, ct.ID, engine.StopOptions{Timeout: timeout}); err != nil && !stoppedAlready(err) {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	c.step("Container", name, "Stopped")
	return nil
}

// stoppedAlready: a stop that found the container gone or ended meanwhile.
func stoppedAlready(err error) bool {
	return errors.Is(err, engine.ErrNotFound) || errors.Is(err, engine.ErrNotModified)
}

// removeOne removes a container (stopped, or killed if it still runs).
func (c *Compose) removeOne(ctx context.Context, ct container.Summary, volumes bool) error {
	name := containerName(ct)
	c.step("Container", name, "Removing")
	err := c.API.ContainerRemove(ctx, ct.ID, engine.RemoveOptions{Force: true, RemoveVolumes: volumes})
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	c.step("Container", name, "Removed")
	return nil
}

// convergence is one Up's walk over the services.
type convergence struct {
	c      *Compose
	p      *types.Project
	o      UpOptions
	images map[string]string

	cr *created

	mu      sync.Mutex
	started map[string][]string // service -> its containers' IDs, by number
	changed map[string]bool     // services with a container recreated or restarted
	fresh   map[string]bool     // containers this up started (or restarted)
}

func (cv *convergence) markChanged(service string) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if cv.changed == nil {
		cv.changed = map[string]bool{}
	}
	cv.changed[service] = true
}

// restartForDependencies is depends_on's restart: true: a dependency
// recreated or restarted by this up restarts the service's containers.
func (cv *convergence) restartForDependencies(s types.ServiceConfig) bool {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	for dep, d := range s.DependsOn {
		if d.Restart && cv.changed[dep] {
			return true
		}
	}
	return false
}

func (cv *convergence) restart(ctx context.Context, id string) error {
	insp, err := cv.c.API.ContainerInspect(ctx, id, false)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(insp.Name, "/")
	cv.c.step("Container", name, "Restarting")
	if err := cv.c.API.ContainerRestart(ctx, id, engine.StopOptions{Timeout: cv.o.Timeout}); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	cv.c.step("Container", name, "Restarted")
	return nil
}

// dependencyError is a depends_on condition that failed.
type dependencyError struct{ msg string }

func (e *dependencyError) Error() string { return e.msg }

func depFailed(format string, a ...any) error {
	return &dependencyError{msg: fmt.Sprintf(format, a...)}
}

// dryRun makes every service's create request without creating
// anything, so that a service the engine could never run fails before
// any network, volume or container exists.
func (c *Compose) dryRun(ctx context.Context, p *types.Project) error {
	peer := func(service string) (string, error) {
		if _, ok := p.Services[service]; !ok {
			return "", fmt.Errorf("service %q is not in the project", service)
		}
		return "dry-run", nil
	}
	for _, name := range p.ServiceNames() {
		if _, _, _, err := c.specOf(ctx, p, p.Services[name], CreateOptions{Number: 1}, "", peer); err != nil {
			return err
		}
		for _, w := range ignoredFileModes(p, p.Services[name]) {
			c.warn("%s", w)
		}
	}
	return nil
}

func (cv *convergence) containersOf(service string) []string {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return cv.started[service]
}

// attached are the containers whose logs an attached up follows: those
// of the services named (all when none is), and of their dependencies
// only with AttachDependencies, as compose attaches.
func (cv *convergence) attached(o UpOptions) []string {
	if len(o.Services) == 0 || o.AttachDependencies {
		return cv.allContainers()
	}
	var ids []string
	for _, name := range slices.Sorted(slices.Values(o.Services)) {
		ids = append(ids, cv.containersOf(name)...)
	}
	return ids
}

func (cv *convergence) allContainers() []string {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	var names []string
	for n := range cv.started {
		names = append(names, n)
	}
	sort.Strings(names)
	var ids []string
	for _, n := range names {
		ids = append(ids, cv.started[n]...)
	}
	return ids
}

// inject copies the environment and content secrets and configs into a
// created container: one tar at / of the files alone (a folder header
// would reset the mode of a folder that exists, /tmp's say; the engine
// makes the missing ones).
func (c *Compose) inject(ctx context.Context, id string, files []injected) error {
	if len(files) == 0 {
		return nil
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.target, "/"), Mode: int64(f.mode.Perm()), Size: int64(len(f.data)), Uid: f.uid, Gid: f.gid, ModTime: time.Now()}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := c.API.CopyToContainer(ctx, id, "/", &b, engine.CopyToOptions{}); err != nil {
		return fmt.Errorf("copy %s %s in: %w", files[0].kind, files[0].source, err)
	}
	return nil
}

// pending is a container to start.
type pending struct{ id, name string }

// service converges one service on n replicas: a container whose config
// hash and image match stays (to be started if stopped), a changed one is
// recreated under the same number, surplus ones go (out-of-date ones
// first, then the highest numbers, as compose) and missing ones are
// created. It returns the containers to start.
func (cv *convergence) service(ctx context.Context, s types.ServiceConfig, n int, existing []container.Summary) ([]pending, error) {
	c := cv.c
	hash, err := configHash(cv.p, s)
	if err != nil {
		return nil, err
	}
	peer := func(service string) (string, error) {
		if l := cv.containersOf(service); len(l) > 0 {
			return l[0], nil
		}
		return "", fmt.Errorf("service %q has no container", service)
	}
	// recreate: the container is out of date (or --force-recreate) and
	// is to be replaced.
	recreate := func(ct container.Summary) bool {
		if cv.o.ForceRecreate {
			return true
		}
		if cv.o.NoRecreate {
			return false
		}
		if ct.Labels[LabelConfigHash] != hash || ct.ImageID != cv.images[s.Name] {
			return true
		}
		// network_mode: service:X joins X's container: a new one of X
		// means a new one here too.
		if svc, ok := strings.CutPrefix(s.NetworkMode, types.ServicePrefix); ok {
			if id, err := peer(svc); err == nil && ct.HostConfig.NetworkMode != "container:"+id {
				return true
			}
		}
		return false
	}
	keep := existing
	var surplus []container.Summary
	if len(existing) > n {
		sort.SliceStable(existing, func(i, j int) bool {
			if ri, rj := recreate(existing[i]), recreate(existing[j]); ri != rj {
				return ri
			}
			return number(existing[i]) > number(existing[j])
		})
		surplus, keep = existing[:len(existing)-n], existing[len(existing)-n:]
	}
	sort.Slice(keep, func(i, j int) bool { return number(keep[i]) < number(keep[j]) })
	g, gctx := errgroup.WithContext(ctx)
	for _, ct := range surplus {
		g.Go(func() error { return c.stopRemove(gctx, ct, cv.o.Timeout, false) })
	}
	ids := make([]string, n)
	starts := make([]*pending, n)
	next := 1
	for _, ct := range existing {
		next = max(next, number(ct)+1)
	}
	for i := range n {
		if i < len(keep) {
			ct := keep[i]
			name := containerName(ct)
			if recreate(ct) {
				g.Go(func() error {
					// As compose: the replacement is made first under a
					// temporary name (a refused one leaves the old in place),
					// takes over the old one's anonymous volumes, and gets
					// the name once the old one is gone.
					c.step("Container", name, "Recreate")
					id, err := cv.create(gctx, s, number(ct), peer, ct.ID[:12]+"_"+name, inheritedVolumes(s, ct))
					if err != nil {
						return err
					}
					// Once made, the swap runs to its end even when a
					// sibling failed: a half-done one would leave the old
					// container killed and the new one undone.
					octx := context.WithoutCancel(gctx)
					if err := c.stopRemoveQuiet(octx, ct, cv.o.Timeout); err != nil {
						return err
					}
					// The old one is gone: the replacement is this number's
					// container now, which a failed up must not undo.
					cv.cr.drop(&cv.cr.containers, id)
					if err := c.API.ContainerRename(octx, id, name); err != nil {
						return fmt.Errorf("rename the replacement of %s: %w", name, err)
					}
					c.step("Container", name, "Recreated")
					cv.markChanged(s.Name)
					ids[i], starts[i] = id, &pending{id, name}
					return nil
				})
				continue
			}
			ids[i] = ct.ID
			if ct.State == container.StateRunning {
				c.step("Container", name, "Running")
				continue
			}
			starts[i] = &pending{ct.ID, name}
			continue
		}
		num := next
		next++
		g.Go(func() error {
			name := ContainerName(cv.p.Name, s, num)
			c.step("Container", name, "Creating")
			id, err := cv.create(gctx, s, num, peer, "", nil)
			if err != nil {
				return err
			}
			c.step("Container", name, "Created")
			ids[i], starts[i] = id, &pending{id, name}
			return nil
		})
	}
	err = g.Wait()
	cv.mu.Lock()
	cv.started[s.Name] = ids
	cv.mu.Unlock()
	var out []pending
	for _, st := range starts {
		if st != nil {
			out = append(out, *st)
		}
	}
	return out, err
}

// create makes replica num of s (named as compose names it, or as given
// to a replacement), with the anonymous volumes inherit maps (target ->
// volume name).
func (cv *convergence) create(ctx context.Context, s types.ServiceConfig, num int, peer peers, as string, inherit map[string]string) (string, error) {
	name, req, inject, err := cv.c.specOf(ctx, cv.p, s, CreateOptions{Number: num, Name: as}, cv.images[s.Name], peer)
	if err != nil {
		return "", err
	}
	if as != "" {
		// A replacement names what it replaces, as compose labels it.
		repl := s.ContainerName
		if repl == "" {
			repl = s.Name + "-" + strconv.Itoa(num)
		}
		req.Config.Labels[LabelContainerRepl] = repl
	}
	if len(inherit) > 0 {
		hc := req.HostConfig
		for i, m := range hc.Mounts {
			if v, ok := inherit[m.Target]; ok && m.Type == mount.TypeVolume && m.Source == "" {
				hc.Mounts[i].Source = v
				delete(inherit, m.Target)
			}
		}
		targets := make([]string, 0, len(inherit))
		for t := range inherit {
			targets = append(targets, t)
		}
		sort.Strings(targets)
		for _, t := range targets {
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: inherit[t], Target: t})
		}
	}
	resp, err := cv.c.API.ContainerCreate(ctx, name, req)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	cv.cr.add(&cv.cr.containers, resp.ID)
	if err := cv.c.inject(ctx, resp.ID, inject); err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	return resp.ID, nil
}

func (cv *convergence) start(ctx context.Context, id, name string) error {
	cv.c.step("Container", name, "Starting")
	if err := cv.c.API.ContainerStart(ctx, id); err != nil {
		return fmt.Errorf("start container %s: %w", name, err)
	}
	cv.c.step("Container", name, "Started")
	cv.mu.Lock()
	if cv.fresh == nil {
		cv.fresh = map[string]bool{}
	}
	cv.fresh[id] = true
	cv.mu.Unlock()
	return nil
}

// stopRemoveQuiet is stopRemove without progress lines (a recreate
// reports Recreate/Recreated only).
func (c *Compose) stopRemoveQuiet(ctx context.Context, ct container.Summary, timeout *int) error {
	quiet := *c
	quiet.Progress = nil
	return quiet.stopRemove(ctx, ct, timeout, false)
}

// inheritedVolumes are the anonymous volumes of a container being
// replaced, by target: those the service declares without a source, and
// those the image's VOLUMEs made (volumes the service does not mention).
func inheritedVolumes(s types.ServiceConfig, old container.Summary) map[string]string {
	declared := map[string]string{} // target -> source
	for _, v := range s.Volumes {
		declared[path.Clean(v.Target)] = v.Source
	}
	for _, t := range s.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		declared[path.Clean(target)] = "tmpfs"
	}
	out := map[string]string{}
	for _, m := range old.Mounts {
		if m.Type != mount.TypeVolume || m.Name == "" {
			continue
		}
		dst := path.Clean(m.Destination)
		if src, ok := declared[dst]; !ok || src == "" {
			out[dst] = m.Name
		}
	}
	return out
}

func number(ct container.Summary) int {
	n, _ := strconv.Atoi(ct.Labels[LabelNumber])
	return n
}

// waitDependencies waits for the conditions of s's depends_on on the
// containers already converged.
func (cv *convergence) waitDependencies(ctx context.Context, s types.ServiceConfig) error {
	deps := make([]string, 0, len(s.DependsOn))
	for d := range s.DependsOn {
		deps = append(deps, d)
	}
	sort.Strings(deps)
	g, gctx := errgroup.WithContext(ctx)
	for _, dep := range deps {
		cond := s.DependsOn[dep]
		if _, ok := cv.p.Services[dep]; !ok {
			continue // not selected (--no-deps) or an optional one gone
		}
		for _, id := range cv.containersOf(dep) {
			g.Go(func() error {
				err := cv.c.waitCondition(gctx, id, cond.Condition)
				if err != nil && !cond.Required {
					cv.c.warn("optional dependency %q failed: %v", dep, err)
					return nil
				}
				return err
			})
		}
	}
	return g.Wait()
}

// waitCondition waits for one depends_on condition on container id.
func (c *Compose) waitCondition(ctx context.Context, id, cond string) error {
	switch cond {
	case "", types.ServiceConditionStarted:
		return nil
	case types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully:
	default:
		return fmt.Errorf("unknown depends_on condition %q", cond)
	}
	reported := false
	return c.pollContainer(ctx, id, func(insp container.InspectResponse) (bool, error) {
		name := strings.TrimPrefix(insp.Name, "/")
		if !reported {
			c.step("Container", name, "Waiting")
			reported = true
		}
		st := insp.State
		switch cond {
		case types.ServiceConditionHealthy:
			if st.Health == nil {
				return true, depFailed("container %s has no healthcheck configured", name)
			}
			switch st.Health.Status {
			case container.Healthy:
				c.step("Container", name, "Healthy")
				return true, nil
			case container.Unhealthy:
				c.step("Container", name, "Error")
				return true, depFailed("dependency failed to start: container %s is unhealthy", name)
			}
			if !st.Running {
				c.step("Container", name, "Error")
				return true, depFailed("dependency failed to start: container %s exited (%d)", name, st.ExitCode)
			}
		case types.ServiceConditionCompletedSuccessfully:
			if !st.Running && st.Status != container.StateCreated {
				if st.ExitCode != 0 {
					c.step("Container", name, "Error")
					return true, depFailed("service %q didn't complete successfully: exit %d", insp.Config.Labels[LabelService], st.ExitCode)
				}
				c.step("Container", name, "Exited")
				return true, nil
			}
		}
		return false, nil
	})
}

// pollContainer inspects container id until check says done: again at
// each of its events, else every pollInterval; an inspect error or the
// end of ctx ends it too.
func (c *Compose) pollContainer(ctx context.Context, id string, check func(container.InspectResponse) (bool, error)) error {
	changed, stop := c.watch(ctx, id)
	defer stop()
	for {
		insp, err := c.API.ContainerInspect(ctx, id, false)
		if err != nil {
			return err
		}
		if done, err := check(insp); done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-time.After(pollInterval):
		}
	}
}

// watch signals each event of container id (health_status, die, ...) on
// the channel, so a wait looks again at once rather than at its next
// poll; stop ends the subscription.
func (c *Compose) watch(ctx context.Context, id string) (<-chan struct{}, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{}, 1)
	msgs, errs := c.API.Events(ctx, engine.EventsOptions{Filters: engine.Filters{"type": {"container"}, "container": {id}}})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-errs:
				return
			case _, ok := <-msgs:
				if !ok {
					return
				}
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch, cancel
}

// waitReady is --wait: every container running, and healthy when it has
// a healthcheck.
func (c *Compose) waitReady(ctx context.Context, p *types.Project, ids []string, timeout int) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeout)*time.Second)
		defer cancel()
	}
	// A service others wait on to complete successfully may have ended.
	oneshot := map[string]bool{}
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				oneshot[dep] = true
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, id := range ids {
		g.Go(func() error {
			reported := false
			name := id
			err := c.pollContainer(gctx, id, func(insp container.InspectResponse) (bool, error) {
				name = strings.TrimPrefix(insp.Name, "/")
				if !reported {
					c.step("Container", name, "Waiting")
					reported = true
				}
				st := insp.State
				if !st.Running && st.Status != container.StateCreated {
					if st.ExitCode == 0 && oneshot[insp.Config.Labels[LabelService]] {
						c.step("Container", name, "Exited")
						return true, nil
					}
					c.step("Container", name, "Error")
					return true, fmt.Errorf("container %s exited (%d)", name, st.ExitCode)
				}
				if st.Health == nil || st.Health.Status == container.Healthy {
					c.step("Container", name, "Healthy")
					return true, nil
				}
				if st.Health.Status == container.Unhealthy {
					c.step("Container", name, "Error")
					return true, fmt.Errorf("container %s is unhealthy", name)
				}
				return false, nil
			})
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("timeout waiting for container %s to be healthy", name)
			}
			return err
		})
	}
	return g.Wait()
}
