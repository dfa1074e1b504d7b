package compose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/berth-project/berth/engine"
)

// progressMu keeps the progress lines of concurrent steps whole.
var progressMu sync.Mutex

// step writes one of docker compose's progress lines:
// " Container app3-db-1  Started".
func (c *Compose) step(kind, name, status string) {
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
// Only those the project's services use are made, as compose does. The
// external ones are checked before anything is made.
func (c *Compose) ensureResources(ctx context.Context, p *types.Project) error {
	_, err := c.ensureResourcesCreated(ctx, p)
	return err
}

// created are the resources one Up made, so a failed Up can undo them.
type created struct {
	mu                sync.Mutex
	networks, volumes []string
	containers        []string
}

func (cr *created) add(list *[]string, name string) {
	cr.mu.Lock()
	*list = append(*list, name)
	cr.mu.Unlock()
}

func (c *Compose) ensureResourcesCreated(ctx context.Context, p *types.Project) (*created, error) {
	nets, vols := usedResources(p)
	cr := &created{}
	g, gctx := errgroup.WithContext(ctx)
	for _, k := range nets {
		if n, ok := p.Networks[k]; ok && bool(n.External) {
			g.Go(func() error {
				if _, err := c.API.NetworkInspect(gctx, n.Name, engine.NetworkInspectOptions{}); err != nil {
					if errors.Is(err, engine.ErrNotFound) {
						return fmt.Errorf("network %s declared as external, but could not be found", n.Name)
					}
					return fmt.Errorf("network %s: %w", n.Name, err)
				}
				return nil
			})
		}
	}
	for _, k := range vols {
		if v, ok := p.Volumes[k]; ok && bool(v.External) {
			g.Go(func() error {
				if _, err := c.API.VolumeInspect(gctx, v.Name); err != nil {
					if errors.Is(err, engine.ErrNotFound) {
						return fmt.Errorf("external volume %q not found", v.Name)
					}
					return fmt.Errorf("volume %s: %w", v.Name, err)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return cr, err
	}
	g, gctx = errgroup.WithContext(ctx)
	for _, k := range nets {
		g.Go(func() error { return c.ensureNetwork(gctx, p, k, cr) })
	}
	for _, k := range vols {
		g.Go(func() error { return c.ensureVolume(gctx, p, k, cr) })
	}
	return cr, g.Wait()
}

// drop takes name off a list: it is no longer this up's to undo.
func (cr *created) drop(list *[]string, name string) {
	cr.mu.Lock()
	*list = slices.DeleteFunc(*list, func(n string) bool { return n == name })
	cr.mu.Unlock()
}

// undo removes what a failed Up made: its containers, then its networks
// and volumes.
func (c *Compose) undo(ctx context.Context, cr *created) {
	ctx = context.WithoutCancel(ctx)
	g := new(errgroup.Group)
	for _, id := range cr.containers {
		g.Go(func() error {
			return c.API.ContainerRemove(ctx, id, engine.RemoveOptions{Force: true, RemoveVolumes: true})
		})
	}
	g.Wait()
	for _, n := range cr.networks {
		g.Go(func() error { return c.API.NetworkRemove(ctx, n) })
	}
	for _, v := range cr.volumes {
		g.Go(func() error { return c.API.VolumeRemove(ctx, v, true) })
	}
	g.Wait()
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

func (c *Compose) ensureNetwork(ctx context.Context, p *types.Project, key string, cr *created) error {
	n, ok := p.Networks[key]
	if !ok {
		return fmt.Errorf("network %s is not declared in the project", key)
	}
	existing, err := c.API.NetworkInspect(ctx, n.Name, engine.NetworkInspectOptions{})
	recreate := false
	if err == nil {
		if n.External {
			return nil
		}
		if proj, ok := existing.Labels[LabelProject]; !ok {
			c.warn("a network with name %s exists but was not created by compose.\nSet `external: true` to use an existing network", n.Name)
			return nil
		} else if proj != p.Name {
			c.warn("a network with name %s exists but was not created for project %q.\nSet `external: true` to use an existing network", n.Name, p.Name)
			return nil
		}
		// One made from another model (a changed driver or ipam, say)
		// is made anew, as compose does; one without a hash predates it.
		if h := existing.Labels[LabelConfigHash]; h == "" || h == networkHash(n) {
			return nil
		}
		recreate = true
	} else if !errors.Is(err, engine.ErrNotFound) {
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
		Labels:     resourceLabels(p, n.Labels, n.CustomLabels, LabelNetwork, key),
	}
	if req.Driver == "" {
		req.Driver = "bridge"
	}
	req.Labels[LabelConfigHash] = networkHash(n)
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
	if recreate {
		return c.recreateNetwork(ctx, p, req)
	}
	c.step("Network", n.Name, "Creating")
	if _, err := c.API.NetworkCreate(ctx, req); err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return nil // made meanwhile by a concurrent up
		}
		return fmt.Errorf("create network %s: %w", n.Name, err)
	}
	cr.add(&cr.networks, n.Name)
	c.step("Network", n.Name, "Created")
	return nil
}

// networkHash is a project network's com.docker.compose.config-hash: a
// digest of its model.
func networkHash(n types.NetworkConfig) string {
	b, _ := json.Marshal(n)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// recreateNetwork makes a project network anew from req, as compose does
// when its model changed: the project's containers on it are stopped and
// disconnected, the network removed and created again, and the
// containers connected to it again with their aliases (up then starts
// them as it converges).
func (c *Compose) recreateNetwork(ctx context.Context, p *types.Project, req network.CreateRequest) error {
	list, err := c.Containers(ctx, p.Name, OneoffInclude, true)
	if err != nil {
		return err
	}
	type attached struct {
		ct container.Summary
		ep *network.EndpointSettings
	}
	var on []attached
	for _, ct := range list {
		insp, err := c.API.ContainerInspect(ctx, ct.ID, false)
		if err != nil {
			return err
		}
		if insp.NetworkSettings != nil {
			if ep, ok := insp.NetworkSettings.Networks[req.Name]; ok && ep != nil {
				on = append(on, attached{ct, ep})
			}
		}
	}
	c.step("Network", req.Name, "Recreate")
	g, gctx := errgroup.WithContext(ctx)
	for _, a := range on {
		g.Go(func() error {
			if err := c.stopOne(gctx, a.ct, nil); err != nil {
				return err
			}
			if err := c.API.NetworkDisconnect(gctx, req.Name, network.DisconnectRequest{Container: a.ct.ID, Force: true}); err != nil && !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("disconnect %s from network %s: %w", containerName(a.ct), req.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := c.API.NetworkRemove(ctx, req.Name); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("remove network %s: %w", req.Name, err)
	}
	if _, err := c.API.NetworkCreate(ctx, req); err != nil {
		return fmt.Errorf("create network %s: %w", req.Name, err)
	}
	for _, a := range on {
		ep := &network.EndpointSettings{Aliases: a.ep.Aliases, DriverOpts: a.ep.DriverOpts, GwPriority: a.ep.GwPriority}
		if err := c.API.NetworkConnect(ctx, req.Name, network.ConnectRequest{Container: a.ct.ID, EndpointConfig: ep}); err != nil {
			return fmt.Errorf("connect %s to network %s: %w", containerName(a.ct), req.Name, err)
		}
		// The up converges (and starts) its own services; a container it
		// leaves alone (another service's, a one-off) is started here.
		_, ours := p.Services[a.ct.Labels[LabelService]]
		if active(a.ct.State) && (!ours || a.ct.Labels[LabelOneoff] == "True") {
			if err := c.API.ContainerStart(ctx, a.ct.ID); err != nil {
				return fmt.Errorf("start %s: %w", containerName(a.ct), err)
			}
		}
	}
	c.step("Network", req.Name, "Recreated")
	return nil
}

func (c *Compose) ensureVolume(ctx context.Context, p *types.Project, key string, cr *created) error {
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
	req := volume.CreateRequest{Name: v.Name, Driver: v.Driver, DriverOpts: map[string]string(v.DriverOpts), Labels: resourceLabels(p, v.Labels, v.CustomLabels, LabelVolume, key)}
	c.step("Volume", strconvQuote(v.Name), "Creating")
	if _, err := c.API.VolumeCreate(ctx, req); err != nil {
		return fmt.Errorf("create volume %s: %w", v.Name, err)
	}
	cr.add(&cr.volumes, v.Name)
	c.step("Volume", strconvQuote(v.Name), "Created")
	return nil
}

func strconvQuote(s string) string { return `"` + s + `"` }

// resourceLabels are a project network's or volume's labels: the file's,
// then those compose-go adds, then the project's, the resource's key
// under kind (LabelNetwork or LabelVolume) and compose's version.
func resourceLabels(p *types.Project, labels, custom types.Labels, kind, key string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		out[k] = v
	}
	for k, v := range custom {
		out[k] = v
	}
	out[LabelProject] = p.Name
	out[kind] = key
	out[LabelVersion] = Version
	return out
}
