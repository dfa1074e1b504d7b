package compose

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/mattn/go-shellwords"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

// RunOptions of Run: `compose run`'s flags.
type RunOptions struct {
	Service    string
	Command    []string // nil: the service's
	Entrypoint *string  // --entrypoint ("" resets the image's)
	Env        []string // -e K=V (a bare K takes its value from Environ)
	Labels     map[string]string
	User       string
	WorkingDir string
	Volumes    []string // -v, the compose file's short syntax
	Publish    []string // -p, the compose file's short syntax
	// ServicePorts publishes the service's ports (else run publishes none).
	ServicePorts bool
	NoDeps       bool // do not start the services it depends on
	Remove       bool // --rm
	Name         string
	Tty          bool
	Interactive  bool // keep stdin open
	Detach       bool
	Build        bool // --build: build the image first, even if it exists
	QuietPull    bool // --quiet-pull: no progress lines for the image's pull or build
	// RemoveOrphans (--remove-orphans) removes the containers of
	// services the file no longer has.
	RemoveOrphans bool
	// UseAliases (--use-aliases) gives the one-off the service's network
	// aliases; without it it has none, so what is meant for the service
	// never reaches it.
	UseAliases bool
	// Lookup reads a bare -e K's value (nil: none).
	Lookup func(string) (string, bool)
}

// Run creates a one-off container of a service, as `compose run`: the
// project's networks and volumes exist, the services it depends on run
// (unless NoDeps), its image is built or pulled when missing, and the
// container is named PROJECT-SERVICE-run-<12 hex> (or Name), labelled
// oneoff=True. It is created, not started: the caller attaches and
// starts it. It returns its ID and name.
//
// Every flag is checked, and the container's request made once, before
// anything exists; what Run made (networks, volumes) goes again when it
// fails before its dependencies run.
func (c *Compose) Run(ctx context.Context, p *types.Project, o RunOptions) (id, name string, err error) {
	if _, off := p.DisabledServices[o.Service]; off {
		// A service of an inactive profile runs when named, as compose
		// enables it.
		if p, err = p.WithServicesEnabled(o.Service); err != nil {
			return "", "", err
		}
	}
	s, err := p.GetService(o.Service)
	if err != nil {
		return "", "", fmt.Errorf("no such service: %s", o.Service)
	}
	if s, err = oneoffService(p, s, o); err != nil {
		return "", "", err
	}
	// The project reduced to the one-off's service.
	one, err := selectProject(p, []string{s.Name}, true)
	if err != nil {
		return "", "", err
	}
	one.Services[s.Name] = s
	if err := c.checkOneoff(ctx, p, s, o); err != nil {
		return "", "", err
	}
	existing, err := c.Containers(ctx, p.Name, OneoffExclude, true)
	if err != nil {
		return "", "", err
	}
	cr, err := c.ensureResourcesCreated(ctx, one)
	undo := func() { c.undo(ctx, cr) }
	if err != nil {
		undo()
		return "", "", err
	}
	quiet := c
	if o.QuietPull {
		q := *c
		q.Progress = nil
		quiet = &q
	}
	images, err := quiet.ensureImages(ctx, one, o.Build, false)
	if err != nil {
		undo()
		return "", "", err
	}
	if o.RemoveOrphans {
		if err := c.orphans(ctx, p, existing, true, nil); err != nil {
			undo()
			return "", "", err
		}
	}
	var deps []string
	for d := range s.DependsOn {
		if _, ok := p.Services[d]; ok {
			deps = append(deps, d)
		}
	}
	if !o.NoDeps && len(deps) > 0 {
		sort.Strings(deps)
		// Up brings their own dependencies, and undoes what it made if
		// it fails (what run made goes too, unless a container Up left
		// for its logs still uses it: the engine refuses that); from
		// here on the project's resources are in use.
		if err := c.Up(ctx, p, UpOptions{Services: deps, Detach: true}); err != nil {
			undo()
			return "", "", err
		}
		undo = func() {}
	}
	// specOf names it PROJECT-SERVICE-run-SLUG unless o.Name says.
	name, req, inject, err := c.specOf(ctx, p, s, CreateOptions{Number: 1, Oneoff: true, Name: o.Name}, images[s.Name], nil)
	if err != nil {
		undo()
		return "", "", err
	}
	oneoffRequest(&req, p.Name, s.Name, o)
	resp, err := c.API.ContainerCreate(ctx, name, req)
	if err != nil {
		undo()
		return "", "", fmt.Errorf("create %s: %w", name, err)
	}
	// Secrets and configs from environment: or content:, as up does.
	if err := c.inject(ctx, resp.ID, inject); err != nil {
		c.API.ContainerRemove(context.WithoutCancel(ctx), resp.ID, engine.RemoveOptions{Force: true, RemoveVolumes: true})
		undo()
		return "", "", fmt.Errorf("create %s: %w", name, err)
	}
	return resp.ID, name, nil
}

// oneoffService is s as the one-off runs it: run's flags over the
// service's settings. The flags are checked here, before anything is
// made.
func oneoffService(p *types.Project, s types.ServiceConfig, o RunOptions) (types.ServiceConfig, error) {
	if !o.ServicePorts {
		s.Ports = nil
	}
	if o.Remove {
		s.Restart = ""
		s.Deploy = nil
	}
	if o.Command != nil {
		s.Command = o.Command
	}
	if o.Entrypoint != nil {
		// Split as a shell would, as compose v2 does: --entrypoint "sh -c".
		ep, err := shellwords.Parse(*o.Entrypoint)
		if err != nil {
			return s, fmt.Errorf("invalid --entrypoint %q: %w", *o.Entrypoint, err)
		}
		s.Entrypoint = types.ShellCommand(ep)
		if s.Entrypoint == nil {
			s.Entrypoint = types.ShellCommand{} // "": the image's is reset
		}
	}
	if o.User != "" {
		s.User = o.User
	}
	if o.WorkingDir != "" {
		s.WorkingDir = o.WorkingDir
	}
	env := types.MappingWithEquals{}
	for k, v := range s.Environment {
		env[k] = v
	}
	s.Environment = env
	for _, e := range o.Env {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			if o.Lookup == nil {
				continue
			}
			if v, ok = o.Lookup(k); !ok {
				continue
			}
		}
		s.Environment[k] = &v
	}
	s.Volumes = slices.Clone(s.Volumes)
	for _, v := range o.Volumes {
		vol, err := format.ParseVolume(v)
		if err != nil {
			return s, fmt.Errorf("invalid volume %q: %w", v, err)
		}
		if vol.Type == types.VolumeTypeBind && !filepath.IsAbs(vol.Source) {
			vol.Source = filepath.Join(p.WorkingDir, vol.Source)
		}
		s.Volumes = append(s.Volumes, vol)
	}
	s.Ports = slices.Clone(s.Ports)
	for _, pub := range o.Publish {
		ports, err := types.ParsePortConfig(pub)
		if err != nil {
			return s, fmt.Errorf("invalid port %q: %w", pub, err)
		}
		s.Ports = append(s.Ports, ports...)
	}
	if o.Labels != nil {
		labels := types.Labels{}
		for k, v := range s.Labels {
			labels[k] = v
		}
		for k, v := range o.Labels {
			labels[k] = v
		}
		s.Labels = labels
	}
	s.ContainerName = ""
	return s, nil
}

// checkOneoff makes the one-off's request without creating anything, so
// that a flag the engine would refuse (a port out of range, a bad mount)
// fails before a network or volume exists.
func (c *Compose) checkOneoff(ctx context.Context, p *types.Project, s types.ServiceConfig, o RunOptions) error {
	peer := func(service string) (string, error) {
		if _, ok := p.Services[service]; !ok {
			return "", fmt.Errorf("service %q is not in the project", service)
		}
		return "check", nil
	}
	_, req, _, err := c.specOf(ctx, p, s, CreateOptions{Number: 1, Oneoff: true, Name: o.Name}, "", peer)
	if err != nil {
		return err
	}
	for port, bindings := range req.HostConfig.PortBindings {
		for _, b := range bindings {
			if b.HostPort == "" {
				continue
			}
			lo, hi, _ := strings.Cut(b.HostPort, "-")
			for _, n := range []string{lo, hi} {
				if n == "" {
					continue
				}
				if v, err := strconv.Atoi(n); err != nil || v < 0 || v > 65535 {
					return fmt.Errorf("invalid port %s for %s: must be 0-65535", b.HostPort, port)
				}
			}
		}
	}
	return nil
}

// oneoffRequest makes sure of what a one-off container is whatever the
// service says: its labels, its streams, --rm, and no network alias
// unless UseAliases (compose v2 gives a run container the service's
// name and aliases only with --use-aliases).
func oneoffRequest(req *engine.CreateRequest, project, service string, o RunOptions) {
	cfg := req.Config
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels[LabelProject] = project
	cfg.Labels[LabelService] = service
	cfg.Labels[LabelOneoff] = "True"
	cfg.Tty = o.Tty
	cfg.OpenStdin = o.Interactive
	cfg.StdinOnce = o.Interactive && !o.Detach
	cfg.AttachStdin = o.Interactive && !o.Detach
	cfg.AttachStdout = !o.Detach
	cfg.AttachStderr = !o.Detach
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	if o.Remove {
		req.HostConfig.AutoRemove = true
		req.HostConfig.RestartPolicy = container.RestartPolicy{}
	}
	if !o.UseAliases && req.NetworkingConfig != nil {
		for _, ep := range req.NetworkingConfig.EndpointsConfig {
			if ep != nil {
				ep.Aliases = nil
			}
		}
	}
}
