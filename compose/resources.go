package compose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/berth-project/berth/engine"
)

// progressMu keeps the progress lines of concurrent steps whole.
var progressMu sync.Mutex

// event writes one of docker compose's progress lines:
// " Container app3-db-1  Started".
func (c *Compose) event(kind, name, status string) {
	if c.Progress == nil {
		return
	}
	progressMu.Lock()
	defer progressMu.Unlock()
	fmt.Fprintf(c.Progress, " %s %s  %s\n", kind, name, status)
}

// warn writes a warning line as compose does on stderr.
func (c *Compose) warn(format string, a ...any) {
	if c.Progress == nil {
		return
	}
	progressMu.Lock()
	defer progressMu.Unlock()
	fmt.Fprintf(c.Progress, "WARN[0000] "+format+"\n", a...)
}

// ensureResources creates the project's networks and volumes that do not
// exist yet (labelled with the project), and checks external ones exist.
// Only those the project's services use are made, as compose does.
func (c *Compose) ensureResources(ctx context.Context, p *types.Project) error {
	nets, vols := usedResources(p)
	g, gctx := errgroup.WithContext(ctx)
	for _, k := range nets {
		g.Go(func() error { return c.ensureNetwork(gctx, p, k) })
	}
	for _, k := range vols {
		g.Go(func() error { return c.ensureVolume(gctx, p, k) })
	}
	return g.Wait()
}

// usedResources are the keys of the networks and volumes the services
// use, sorted.
func usedResources(p *types.Project) (nets, vols []string) {
	ns, vs := map[string]bool{}, map[string]bool{}
	for _, s := range p.Services {
		if s.NetworkMode == "" {
			for k := range s.Networks {
				ns[k] = true
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				vs[v.Source] = true
			}
		}
	}
	for k := range ns {
		nets = append(nets, k)
	}
	for k := range vs {
		vols = append(vols, k)
	}
	sort.Strings(nets)
	sort.Strings(vols)
	return nets, vols
}

func (c *Compose) ensureNetwork(ctx context.Context, p *types.Project, key string) error {
	n, ok := p.Networks[key]
	if !ok {
		return fmt.Errorf("network %s is not declared in the project", key)
	}
	existing, err := c.API.NetworkInspect(ctx, n.Name, engine.NetworkInspectOptions{})
	if err == nil {
		if n.External {
			return nil
		}
		if proj, ok := existing.Labels[LabelProject]; !ok {
			c.warn("a network with name %s exists but was not created by compose.\nSet `external: true` to use an existing network", n.Name)
		} else if proj != p.Name {
			c.warn("a network with name %s exists but was not created for project %q.\nSet `external: true` to use an existing network", n.Name, p.Name)
		}
		return nil
	}
	if !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if n.External {
		return fmt.Errorf("network %s declared as external, but could not be found", n.Name)
	}
	req := network.CreateRequest{
		Name:       n.Name,
		Driver:     n.Driver,
		Options:    map[string]string(n.DriverOpts),
		Internal:   n.Internal,
		Attachable: n.Attachable,
		EnableIPv4: n.EnableIPv4,
		EnableIPv6: n.EnableIPv6,
		Labels:     map[string]string{},
	}
	if req.Driver == "" {
		req.Driver = "bridge"
	}
	for k, v := range n.Labels {
		req.Labels[k] = v
	}
	for k, v := range n.CustomLabels {
		req.Labels[k] = v
	}
	req.Labels[LabelProject] = p.Name
	req.Labels[LabelNetwork] = key
	req.Labels[LabelVersion] = Version
	if n.Ipam.Driver != "" || len(n.Ipam.Config) > 0 || len(n.Ipam.Options) > 0 {
		req.IPAM = &network.IPAM{Driver: n.Ipam.Driver, Options: map[string]string(n.Ipam.Options)}
		for _, pool := range n.Ipam.Config {
			ic := network.IPAMConfig{}
			if pool.Subnet != "" {
				if ic.Subnet, err = netip.ParsePrefix(pool.Subnet); err != nil {
					return fmt.Errorf("network %s: ipam subnet %q: %v", key, pool.Subnet, err)
				}
			}
			if pool.IPRange != "" {
				if ic.IPRange, err = netip.ParsePrefix(pool.IPRange); err != nil {
					return fmt.Errorf("network %s: ipam ip_range %q: %v", key, pool.IPRange, err)
				}
			}
			if pool.Gateway != "" {
				if ic.Gateway, err = netip.ParseAddr(pool.Gateway); err != nil {
					return fmt.Errorf("network %s: ipam gateway %q: %v", key, pool.Gateway, err)
				}
			}
			for h, a := range pool.AuxiliaryAddresses {
				addr, err := netip.ParseAddr(a)
				if err != nil {
					return fmt.Errorf("network %s: ipam aux_addresses %s %q: %v", key, h, a, err)
				}
				if ic.AuxAddress == nil {
					ic.AuxAddress = map[string]netip.Addr{}
				}
				ic.AuxAddress[h] = addr
			}
			req.IPAM.Config = append(req.IPAM.Config, ic)
		}
	}
	c.event("Network", n.Name, "Creating")
	if _, err := c.API.NetworkCreate(ctx, req); err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return nil // made meanwhile by a concurrent up
		}
		return fmt.Errorf("create network %s: %w", n.Name, err)
	}
	c.event("Network", n.Name, "Created")
	return nil
}

func (c *Compose) ensureVolume(ctx context.Context, p *types.Project, key string) error {
	v, ok := p.Volumes[key]
	if !ok {
		return fmt.Errorf("volume %s is not declared in the project", key)
	}
	existing, err := c.API.VolumeInspect(ctx, v.Name)
	if err == nil {
		if !v.External {
			if proj, ok := existing.Labels[LabelProject]; !ok || proj != p.Name {
				c.warn("volume %q already exists but was not created by Docker Compose. Use `external: true` to use an existing volume", v.Name)
			}
		}
		return nil
	}
	if !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("volume %s: %w", v.Name, err)
	}
	if v.External {
		return fmt.Errorf("external volume %q not found", v.Name)
	}
	req := volume.CreateRequest{Name: v.Name, Driver: v.Driver, DriverOpts: map[string]string(v.DriverOpts), Labels: map[string]string{}}
	for k, val := range v.Labels {
		req.Labels[k] = val
	}
	for k, val := range v.CustomLabels {
		req.Labels[k] = val
	}
	req.Labels[LabelProject] = p.Name
	req.Labels[LabelVolume] = key
	req.Labels[LabelVersion] = Version
	c.event("Volume", strconvQuote(v.Name), "Creating")
	if _, err := c.API.VolumeCreate(ctx, req); err != nil {
		return fmt.Errorf("create volume %s: %w", v.Name, err)
	}
	c.event("Volume", strconvQuote(v.Name), "Created")
	return nil
}

func strconvQuote(s string) string { return `"` + s + `"` }
