package compose

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

// This file is start, stop, restart and rm of a project's containers.
// They work from the labels, so a project without its file (-p alone)
// can be driven; with the file, start and restart go in dependency order
// and stop in the reverse one.

// containerName is a container's name without docker's "/".
func containerName(ct container.Summary) string {
	if len(ct.Names) == 0 {
		return ct.ID
	}
	return strings.TrimPrefix(ct.Names[0], "/")
}

// serviceLevels groups the services of the containers found by their
// dependency depth in p (services p does not know have none: they go in
// the first level); without p there is one level, by name.
func serviceLevels(p *types.Project, found []container.Summary) [][]string {
	present := map[string]bool{}
	for _, ct := range found {
		present[ct.Labels[LabelService]] = true
	}
	var names []string
	for n := range present {
		names = append(names, n)
	}
	sort.Strings(names)
	if p == nil {
		return [][]string{names}
	}
	depth := map[string]int{}
	var depthOf func(n string, seen map[string]bool) int
	depthOf = func(n string, seen map[string]bool) int {
		if d, ok := depth[n]; ok {
			return d
		}
		s, err := p.GetService(n)
		if err != nil || seen[n] {
			return 0
		}
		seen[n] = true
		d := 0
		for dep := range s.DependsOn {
			if _, err := p.GetService(dep); err == nil {
				d = max(d, depthOf(dep, seen)+1)
			}
		}
		depth[n] = d
		return d
	}
	var levels [][]string
	for _, n := range names {
		d := depthOf(n, map[string]bool{})
		for len(levels) <= d {
			levels = append(levels, nil)
		}
		levels[d] = append(levels[d], n)
	}
	kept := levels[:0]
	for _, l := range levels {
		if len(l) > 0 {
			kept = append(kept, l)
		}
	}
	return kept
}

// byLevel runs fn on the containers level by level (forward, or reversed
// for a stop), each level's containers at once; the errors are joined.
func byLevel(p *types.Project, found []container.Summary, reverse bool, fn func(ct container.Summary) error) error {
	levels := serviceLevels(p, found)
	if reverse {
		for i, j := 0, len(levels)-1; i < j; i, j = i+1, j-1 {
			levels[i], levels[j] = levels[j], levels[i]
		}
	}
	var errs []error
	for _, level := range levels {
		in := map[string]bool{}
		for _, n := range level {
			in[n] = true
		}
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		for _, ct := range found {
			if !in[ct.Labels[LabelService]] {
				continue
			}
			wg.Add(1)
			go func(ct container.Summary) {
				defer wg.Done()
				if err := fn(ct); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}(ct)
		}
		wg.Wait()
	}
	return errors.Join(errs...)
}

// Start starts the stopped containers of the services (all when none).
// A service without any container is an error, as in compose v2.
func (c *Compose) Start(ctx context.Context, projectName string, p *types.Project, services []string) error {
	found, err := c.Containers(ctx, projectName, OneoffExclude, true, services...)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return fmt.Errorf("no containers to start")
	}
	has := map[string]bool{}
	for _, ct := range found {
		has[ct.Labels[LabelService]] = true
	}
	for _, s := range services {
		if !has[s] {
			return fmt.Errorf("service %q has no container to start", s)
		}
	}
	// With the file, a service starts once its dependencies meet their
	// depends_on conditions (healthy, completed), as compose v2's start
	// waits; once per service, whatever its number of containers.
	var mu sync.Mutex
	waits := map[string]func() error{}
	waitFor := func(service string) error {
		mu.Lock()
		w, ok := waits[service]
		if !ok {
			w = sync.OnceValue(func() error { return c.waitDependsOn(ctx, projectName, p, service) })
			waits[service] = w
		}
		mu.Unlock()
		return w()
	}
	return byLevel(p, found, false, func(ct container.Summary) error {
		if ct.State == container.StateRunning {
			return nil
		}
		if err := waitFor(ct.Labels[LabelService]); err != nil {
			return err
		}
		name := containerName(ct)
		c.step("Container", name, "Starting")
		if err := c.API.ContainerStart(ctx, ct.ID); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		c.step("Container", name, "Started")
		return nil
	})
}

// waitDependsOn waits for the depends_on conditions of service (in p;
// none without p) on its dependencies' containers; an optional
// dependency that fails is a warning.
func (c *Compose) waitDependsOn(ctx context.Context, projectName string, p *types.Project, service string) error {
	if p == nil {
		return nil
	}
	s, ok := p.Services[service]
	if !ok {
		return nil
	}
	deps := make([]string, 0, len(s.DependsOn))
	for d := range s.DependsOn {
		if _, ok := p.Services[d]; ok {
			deps = append(deps, d)
		}
	}
	sort.Strings(deps)
	for _, dep := range deps {
		d := s.DependsOn[dep]
		list, err := c.Containers(ctx, projectName, OneoffExclude, true, dep)
		if err != nil {
			return err
		}
		for _, ct := range list {
			err := c.waitCondition(ctx, ct.ID, d.Condition)
			if err != nil && !d.Required {
				c.warn("optional dependency %q failed: %v", dep, err)
				continue
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Stop stops the running containers of the services (all when none),
// dependents first; timeout is -t (nil: each container's own).
func (c *Compose) Stop(ctx context.Context, projectName string, p *types.Project, services []string, timeout *int) error {
	found, err := c.Containers(ctx, projectName, OneoffExclude, false, services...)
	if err != nil {
		return err
	}
	return byLevel(p, found, true, func(ct container.Summary) error {
		name := containerName(ct)
		c.step("Container", name, "Stopping")
		if err := c.API.ContainerStop(ctx, ct.ID, engine.StopOptions{Timeout: timeout}); err != nil {
			return fmt.Errorf("stop %s: %w", name, err)
		}
		c.step("Container", name, "Stopped")
		return nil
	})
}

// Restart restarts the containers of the services (all when none),
// stopped ones included, in dependency order.
func (c *Compose) Restart(ctx context.Context, projectName string, p *types.Project, services []string, timeout *int) error {
	found, err := c.Containers(ctx, projectName, OneoffExclude, true, services...)
	if err != nil {
		return err
	}
	return byLevel(p, found, false, func(ct container.Summary) error {
		name := containerName(ct)
		c.step("Container", name, "Restarting")
		if err := c.API.ContainerRestart(ctx, ct.ID, engine.StopOptions{Timeout: timeout}); err != nil {
			return fmt.Errorf("restart %s: %w", name, err)
		}
		c.step("Container", name, "Started")
		return nil
	})
}

// RemoveOptions of Remove.
type RemoveOptions struct {
	Services []string
	Stop     bool // -s: stop the running containers first
	Volumes  bool // -v: their anonymous volumes too
	Timeout  *int
	// Confirm, when set, is asked with the names about to go; false
	// removes nothing.
	Confirm func(names []string) bool
}

// Remove removes the stopped containers of the services (all when none),
// and with Stop the running ones once stopped. It returns the names it
// removed (none: compose v2's "No stopped containers").
func (c *Compose) Remove(ctx context.Context, projectName string, p *types.Project, o RemoveOptions) ([]string, error) {
	if o.Stop {
		if err := c.Stop(ctx, projectName, p, o.Services, o.Timeout); err != nil {
			return nil, err
		}
	}
	found, err := c.Containers(ctx, projectName, OneoffInclude, true, o.Services...)
	if err != nil {
		return nil, err
	}
	var gone []container.Summary
	var names []string
	for _, ct := range found {
		if ct.State == container.StateRunning || ct.State == container.StatePaused || ct.State == container.StateRestarting {
			continue
		}
		gone = append(gone, ct)
		names = append(names, containerName(ct))
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if o.Confirm != nil && !o.Confirm(names) {
		return nil, nil
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, ct := range gone {
		wg.Add(1)
		go func(ct container.Summary) {
			defer wg.Done()
			name := containerName(ct)
			c.step("Container", name, "Removing")
			err := c.API.ContainerRemove(ctx, ct.ID, engine.RemoveOptions{RemoveVolumes: o.Volumes})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", name, err))
				return
			}
			c.step("Container", name, "Removed")
		}(ct)
	}
	wg.Wait()
	return names, errors.Join(errs...)
}

// Kill sends signal (SIGKILL when empty) to the running containers of
// the services (all when none).
func (c *Compose) Kill(ctx context.Context, projectName string, services []string, signal string) error {
	found, err := c.Containers(ctx, projectName, OneoffExclude, false, services...)
	if err != nil {
		return err
	}
	if signal == "" {
		signal = "SIGKILL"
	}
	if len(found) == 0 {
		return fmt.Errorf("no container to kill")
	}
	return byLevel(nil, found, false, func(ct container.Summary) error {
		name := containerName(ct)
		c.step("Container", name, "Killing")
		if err := c.API.ContainerKill(ctx, ct.ID, signal); err != nil {
			return fmt.Errorf("kill %s: %w", name, err)
		}
		c.step("Container", name, "Killed")
		return nil
	})
}

// Pause pauses (or, with unpause, resumes) the containers of the
// services (all when none).
func (c *Compose) Pause(ctx context.Context, projectName string, services []string, unpause bool) error {
	found, err := c.Containers(ctx, projectName, OneoffExclude, false, services...)
	if err != nil {
		return err
	}
	return byLevel(nil, found, false, func(ct container.Summary) error {
		name := containerName(ct)
		if unpause {
			if ct.State != container.StatePaused {
				return nil
			}
			if err := c.API.ContainerUnpause(ctx, ct.ID); err != nil {
				return fmt.Errorf("unpause %s: %w", name, err)
			}
			c.step("Container", name, "Unpaused")
			return nil
		}
		if ct.State == container.StatePaused {
			return nil
		}
		if err := c.API.ContainerPause(ctx, ct.ID); err != nil {
			return fmt.Errorf("pause %s: %w", name, err)
		}
		c.step("Container", name, "Paused")
		return nil
	})
}
