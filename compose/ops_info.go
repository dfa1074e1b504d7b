package compose

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
)

// This file is what compose shows about a project without changing it:
// top, images, port and ls.

// TopEntry is one container's processes.
type TopEntry struct {
	Name string // the container's name
	container.TopResponse
}

// Top lists the processes of the running containers of the services (all
// when none).
func (c *Compose) Top(ctx context.Context, projectName string, services []string) ([]TopEntry, error) {
	found, err := c.Containers(ctx, projectName, OneoffInclude, false, services...)
	if err != nil {
		return nil, err
	}
	out := make([]TopEntry, 0, len(found))
	for _, ct := range found {
		top, err := c.API.ContainerTop(ctx, ct.ID, "")
		if err != nil {
			return nil, fmt.Errorf("top %s: %w", containerName(ct), err)
		}
		out = append(out, TopEntry{Name: containerName(ct), TopResponse: top})
	}
	return out, nil
}

// ImageEntry is a row of `compose images`.
type ImageEntry struct {
	Container  string
	Repository string
	Tag        string
	ID         string // the full image ID
	Size       int64
}

// Images lists the images the project's containers (of the services
// named, all when none; stopped ones too) run, as compose v2's columns.
func (c *Compose) Images(ctx context.Context, projectName string, services []string) ([]ImageEntry, error) {
	found, err := c.Containers(ctx, projectName, OneoffInclude, true, services...)
	if err != nil {
		return nil, err
	}
	cache := map[string]ImageEntry{}
	var out []ImageEntry
	for _, ct := range found {
		e, ok := cache[ct.ImageID]
		if !ok {
			ins, err := c.API.ImageInspect(ctx, ct.ImageID)
			if err != nil {
				return nil, fmt.Errorf("inspect the image of %s: %w", containerName(ct), err)
			}
			e = ImageEntry{ID: ins.ID, Size: ins.Size, Repository: "<none>", Tag: "<none>"}
			// The reference the container was made from when the image
			// still has it, else its first tag.
			tags := ins.RepoTags
			if ref, err := image.ParseReference(ct.Image); err == nil {
				for _, t := range tags {
					if r2, err := image.ParseReference(t); err == nil && r2.String() == ref.String() {
						tags = []string{t}
						break
					}
				}
			}
			if len(tags) > 0 {
				if ref, err := image.ParseReference(tags[0]); err == nil {
					e.Repository, e.Tag = ref.FamiliarName(), ref.Tag
				}
			}
			cache[ct.ImageID] = e
		}
		e.Container = containerName(ct)
		out = append(out, e)
	}
	return out, nil
}

// Port is the public address ("0.0.0.0:8080") of a service container's
// private port (proto "tcp" when empty), replica index (1 when 0).
func (c *Compose) Port(ctx context.Context, projectName, service string, port int, proto string, index int) (string, error) {
	if proto == "" {
		proto = "tcp"
	}
	if index == 0 {
		index = 1
	}
	ct, err := c.ServiceContainer(ctx, projectName, service, index)
	if err != nil {
		return "", err
	}
	for _, p := range ct.Ports {
		if int(p.PrivatePort) == port && p.Type == proto && p.PublicPort != 0 {
			ip := "0.0.0.0"
			if p.IP.IsValid() {
				ip = p.IP.String()
			}
			return net.JoinHostPort(ip, strconv.Itoa(int(p.PublicPort))), nil
		}
	}
	return "", fmt.Errorf("no port %d/%s for container %s: not found", port, proto, containerName(ct))
}

// Stack is a row of `compose ls`.
type Stack struct {
	Name        string
	Status      string // "running(3)", "exited(1), running(2)"
	ConfigFiles string
}

// List lists the projects that have containers (running ones only,
// unless all), from their labels, sorted by name.
func (c *Compose) List(ctx context.Context, all bool) ([]Stack, error) {
	list, err := c.API.ContainerList(ctx, engine.ListOptions{All: true, Filters: engine.Filters{"label": {LabelProject}}})
	if err != nil {
		return nil, err
	}
	type project struct {
		states map[string]int
		files  string
	}
	projects := map[string]*project{}
	for _, ct := range list {
		name := ct.Labels[LabelProject]
		p := projects[name]
		if p == nil {
			p = &project{states: map[string]int{}}
			projects[name] = p
		}
		p.states[string(ct.State)]++
		if f := ct.Labels[LabelConfigFiles]; f != "" && p.files == "" {
			p.files = f
		}
	}
	var out []Stack
	for name, p := range projects {
		if !all && p.states[string(container.StateRunning)] == 0 {
			continue
		}
		var states []string
		for s := range p.states {
			states = append(states, s)
		}
		sort.Strings(states)
		var parts []string
		for _, s := range states {
			parts = append(parts, fmt.Sprintf("%s(%d)", s, p.states[s]))
		}
		out = append(out, Stack{Name: name, Status: strings.Join(parts, ", "), ConfigFiles: p.files})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
