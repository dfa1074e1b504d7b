package compose

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/graph"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"golang.org/x/sync/errgroup"

	"github.com/berth-project/berth/engine"
)

// Down stops and removes the project's containers (one-off ones too),
// then its networks (and, as asked, volumes and images). p may be nil
// when there is no compose file: then what the labels name goes.
// Containers go in reverse dependency order, the independent ones
// concurrently; orphans go only with RemoveOrphans (else a warning).
func (c *Compose) Down(ctx context.Context, projectName string, p *types.Project, o DownOptions) error {
	if p != nil && projectName == "" {
		projectName = p.Name
	}
	all, err := c.Containers(ctx, projectName, OneoffInclude, true)
	if err != nil {
		return err
	}
	byService := map[string][]container.Summary{}
	var orphans []container.Summary
	for _, ct := range all {
		svc := ct.Labels[LabelService]
		if p != nil && isOrphan(p, ct) {
			orphans = append(orphans, ct)
			continue
		}
		byService[svc] = append(byService[svc], ct)
	}
	var images []string
	for _, ct := range all {
		images = append(images, ct.Image)
	}

	// A service's dependencies wait for its containers to stop, not for
	// their removal: removals run behind.
	rm, rmctx := errgroup.WithContext(ctx)
	removeService := func(ctx context.Context, name string) error {
		g, gctx := errgroup.WithContext(ctx)
		for _, ct := range byService[name] {
			g.Go(func() error {
				if err := c.stopOne(gctx, ct, o.Timeout); err != nil {
					return err
				}
				rm.Go(func() error { return c.removeOne(rmctx, ct, o.Volumes) })
				return nil
			})
		}
		return g.Wait()
	}
	// Services of the model (disabled ones included, as compose does), or
	// without one those the containers' labels describe: dependents
	// before their dependencies.
	order := &types.Project{Name: projectName, Services: types.Services{}}
	if p != nil {
		for n, s := range p.Services {
			order.Services[n] = s
		}
		for n, s := range p.DisabledServices {
			order.Services[n] = s
		}
	} else {
		order = fromLabels(projectName, byService)
	}
	if graph.CheckCycle(order) != nil {
		order = fromLabels(projectName, nil) // no order to keep: all at once
		for name := range byService {
			order.Services[name] = types.ServiceConfig{Name: name}
		}
	}
	err = graph.InDependencyOrder(ctx, order, func(ctx context.Context, name string, _ types.ServiceConfig) error {
		return removeService(ctx, name)
	}, graph.InReverseOrder)
	if rerr := rm.Wait(); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	if len(orphans) > 0 {
		if o.RemoveOrphans {
			g, gctx := errgroup.WithContext(ctx)
			for _, ct := range orphans {
				g.Go(func() error { return c.stopRemove(gctx, ct, o.Timeout, o.Volumes) })
			}
			if err := g.Wait(); err != nil {
				return err
			}
		} else {
			c.warnOrphans(orphans)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	nets, err := c.projectNetworks(ctx, projectName, p)
	if err != nil {
		return err
	}
	var vols []string
	if o.Volumes {
		if vols, err = c.projectVolumes(ctx, projectName, p); err != nil {
			return err
		}
		// Anonymous volumes a recreate handed over are mounted by name
		// in the replacement, so its rm -v keeps them: they go here.
		for _, ct := range all {
			for _, m := range ct.Mounts {
				if m.Type == mount.TypeVolume && anonymousName.MatchString(m.Name) && !slices.Contains(vols, m.Name) {
					vols = append(vols, m.Name)
				}
			}
		}
	}
	if len(all) == 0 && len(nets) == 0 && len(vols) == 0 && o.Images == "" {
		c.warn("No resource found to remove for project %q.", projectName)
		return nil
	}
	for _, n := range nets {
		g.Go(func() error {
			c.step("Network", n, "Removing")
			if err := c.API.NetworkRemove(gctx, n); err != nil {
				if errors.Is(err, engine.ErrNotFound) {
					return nil
				}
				// An orphan (or a container from elsewhere) still on it: as
				// compose, a warning, not a failure.
				if insp, ierr := c.API.NetworkInspect(gctx, n, engine.NetworkInspectOptions{}); ierr == nil && len(insp.Containers) > 0 {
					c.step("Network", n, "Resource is still in use")
					return nil
				}
				return fmt.Errorf("remove network %s: %w", n, err)
			}
			c.step("Network", n, "Removed")
			return nil
		})
	}
	for _, v := range vols {
		g.Go(func() error {
			c.step("Volume", v, "Removing")
			if err := c.API.VolumeRemove(gctx, v, true); err != nil {
				if anonymousName.MatchString(v) {
					return nil // in use elsewhere, or already gone with its container
				}
				return fmt.Errorf("remove volume %s: %w", v, err)
			}
			c.step("Volume", v, "Removed")
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if o.Images != "" {
		return c.removeImages(ctx, projectName, p, images, o.Images)
	}
	return nil
}

// fromLabels is the dependency graph the containers' depends_on labels
// ("svc:condition:restart,...") describe, for a down without a file.
func fromLabels(projectName string, byService map[string][]container.Summary) *types.Project {
	p := &types.Project{Name: projectName, Services: types.Services{}}
	for name, cts := range byService {
		s := types.ServiceConfig{Name: name}
		for _, ct := range cts {
			for _, d := range strings.Split(ct.Labels[LabelDependsOn], ",") {
				dep, cond, _ := strings.Cut(d, ":")
				cond, _, _ = strings.Cut(cond, ":")
				if dep == "" || dep == name {
					continue
				}
				if s.DependsOn == nil {
					s.DependsOn = types.DependsOnConfig{}
				}
				s.DependsOn[dep] = types.ServiceDependency{Condition: cond}
			}
		}
		p.Services[name] = s
	}
	return p
}

// projectNetworks are the networks to remove: those labelled with the
// project, and the model's non-external ones that exist.
func (c *Compose) projectNetworks(ctx context.Context, projectName string, p *types.Project) ([]string, error) {
	list, err := c.API.NetworkList(ctx, engine.Filters{"label": {LabelProject + "=" + projectName}})
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, n := range list {
		set[n.Name] = true
	}
	if p != nil {
		for _, n := range p.Networks {
			if bool(n.External) || set[n.Name] {
				continue
			}
			if insp, err := c.API.NetworkInspect(ctx, n.Name, engine.NetworkInspectOptions{}); err == nil && insp.Labels[LabelProject] == projectName {
				set[n.Name] = true
			}
		}
	}
	return sortedKeys(set), nil
}

// projectVolumes are the volumes -v removes: the project's labelled ones,
// never an external one.
func (c *Compose) projectVolumes(ctx context.Context, projectName string, p *types.Project) ([]string, error) {
	list, err := c.API.VolumeList(ctx, engine.Filters{"label": {LabelProject + "=" + projectName}})
	if err != nil {
		return nil, err
	}
	external := map[string]bool{}
	if p != nil {
		for _, v := range p.Volumes {
			if v.External {
				external[v.Name] = true
			}
		}
	}
	set := map[string]bool{}
	for _, v := range list.Volumes {
		if !external[v.Name] {
			set[v.Name] = true
		}
	}
	return sortedKeys(set), nil
}

// removeImages is --rmi: "local" removes the images compose built (no
// image: of their own), "all" every image the services used.
func (c *Compose) removeImages(ctx context.Context, projectName string, p *types.Project, used []string, mode string) error {
	if mode != "local" && mode != "all" {
		return fmt.Errorf("invalid --rmi value %q: must be local or all", mode)
	}
	set := map[string]bool{}
	if p != nil {
		for _, s := range p.Services {
			if mode == "all" || s.Image == "" {
				set[ImageName(p, s)] = true
			}
		}
	}
	for _, ref := range used {
		if ref == "" || set[ref] {
			continue
		}
		if mode == "all" {
			set[ref] = true
			continue
		}
		// Without the model, a local image is one compose built for this
		// project under its default name: its build labels say so.
		if insp, err := c.API.ImageInspect(ctx, ref); err == nil && insp.Config != nil {
			l := insp.Config.Labels
			if l[LabelProject] == projectName && ref == projectName+"-"+l[LabelService] {
				set[ref] = true
			}
		}
	}
	for _, ref := range sortedKeys(set) {
		if _, err := c.API.ImageRemove(ctx, ref, engine.ImageRemoveOptions{}); err != nil {
			if errors.Is(err, engine.ErrNotFound) {
				continue
			}
			if errors.Is(err, engine.ErrConflict) {
				c.step("Image", ref, "Resource is still in use")
				continue
			}
			return fmt.Errorf("remove image %s: %w", ref, err)
		}
		c.step("Image", ref, "Removed")
	}
	return nil
}

// anonymousName is the name the engine gives an anonymous volume.
var anonymousName = regexp.MustCompile(`^[0-9a-f]{64}$`)

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
