package compose

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"
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
func (c *Compose) Run(ctx context.Context, p *types.Project, o RunOptions) (id, name string, err error) {
	s, err := p.GetService(o.Service)
	if err != nil {
		return "", "", fmt.Errorf("no such service: %s", o.Service)
	}
	if !o.NoDeps && len(s.DependsOn) > 0 {
		deps, err := dependencyOrder(p, []string{s.Name}, true)
		if err != nil {
			return "", "", err
		}
		deps = deps[:len(deps)-1] // the service itself comes last
		if len(deps) > 0 {
			if err := c.Up(ctx, p, UpOptions{Services: deps, Detach: true}); err != nil {
				return "", "", err
			}
		}
	} else if err := c.ensureResources(ctx, p); err != nil {
		return "", "", err
	}
	if err := c.ensureImage(ctx, p, s); err != nil {
		return "", "", err
	}
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
		s.Entrypoint = types.ShellCommand{*o.Entrypoint}
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
	for _, v := range o.Volumes {
		vol, err := format.ParseVolume(v)
		if err != nil {
			return "", "", fmt.Errorf("invalid volume %q: %w", v, err)
		}
		if vol.Type == types.VolumeTypeBind && !filepath.IsAbs(vol.Source) {
			vol.Source = filepath.Join(p.WorkingDir, vol.Source)
		}
		s.Volumes = append(s.Volumes, vol)
	}
	for _, pub := range o.Publish {
		ports, err := types.ParsePortConfig(pub)
		if err != nil {
			return "", "", fmt.Errorf("invalid port %q: %w", pub, err)
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
	// createSpec names it PROJECT-SERVICE-run-SLUG unless o.Name says.
	name, req, err := c.createSpec(ctx, p, s, CreateOptions{Number: 1, Oneoff: true, Name: o.Name})
	if err != nil {
		return "", "", err
	}
	oneoffRequest(&req, p.Name, s.Name, o)
	resp, err := c.API.ContainerCreate(ctx, name, req)
	if err != nil {
		return "", "", fmt.Errorf("create %s: %w", name, err)
	}
	return resp.ID, name, nil
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

// ensureImage builds (build section) or pulls (image:) a service's image
// when the engine does not have it.
func (c *Compose) ensureImage(ctx context.Context, p *types.Project, s types.ServiceConfig) error {
	img := ImageName(p, s)
	if _, err := c.API.ImageInspect(ctx, img); err == nil {
		return nil
	} else if engine.KindOf(err) != engine.KindNotFound {
		return err
	}
	if s.Build != nil {
		return c.Build(ctx, p, BuildOptions{Services: []string{s.Name}})
	}
	c.step("Service", s.Name, "Pulling")
	if err := c.pullImage(ctx, img); err != nil {
		return fmt.Errorf("service %q: pull %s: %w", s.Name, img, err)
	}
	c.step("Service", s.Name, "Pulled")
	return nil
}
