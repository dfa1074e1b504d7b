package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"

	bnet "github.com/berth-project/berth/network"
)

// NetworkCreate creates a bridge, macvlan or ipvlan network. A bridge
// network's Linux bridge is made at once (br-<id12>, or the
// com.docker.network.bridge.name option); a subnet not given is the first
// free one of docker's pools. Nothing is left when it fails.
func (e *Engine) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	n, err := checkNetworkCreate(req)
	if err != nil {
		return network.CreateResponse{}, err
	}
	unlock, err := e.netLock(ctx)
	if err != nil {
		return network.CreateResponse{}, err
	}
	defer unlock()
	nets, err := e.networks()
	if err != nil {
		return network.CreateResponse{}, err
	}
	for _, o := range nets {
		if o.Name == n.Name {
			return network.CreateResponse{}, Conflict("network with name %s already exists", n.Name)
		}
	}
	if n.Driver == driverBridge && n.Bridge == "" {
		n.Bridge = "br-" + n.ID[:12]
	}
	for _, o := range nets {
		if n.Bridge != "" && o.Bridge == n.Bridge {
			return network.CreateResponse{}, Conflict("bridge name %s is already used by network %s", n.Bridge, o.Name)
		}
		if n.Subnet.IsValid() && o.Subnet.IsValid() && bnet.Overlaps(n.Subnet, o.Subnet) {
			return network.CreateResponse{}, Forbidden("invalid pool request: Pool overlaps with other one on this address space")
		}
	}
	if !n.Subnet.IsValid() {
		if n.Subnet, err = e.pickSubnet(nets); err != nil {
			return network.CreateResponse{}, Forbidden("%v", err)
		}
	}
	if !n.Gateway.IsValid() {
		n.Gateway = bnet.FirstHost(n.Subnet)
	}
	made := false
	switch n.Driver {
	case driverBridge:
		if bnet.LinkExists(n.Bridge) && n.Options["com.docker.network.bridge.name"] == "" {
			return network.CreateResponse{}, Conflict("a link named %s already exists on the host", n.Bridge)
		}
		made = !bnet.LinkExists(n.Bridge)
	case driverMacvlan, driverIPvlan:
		if !bnet.LinkExists(n.Parent) {
			return network.CreateResponse{}, Invalid("-o parent interface was not found on the host: %s", n.Parent)
		}
	}
	// The bridge, the record and berth's nftables table are made side by
	// side: the bridge and the table each wait on the kernel, the record
	// on the disk. Rules name the bridge; they need not wait for it.
	var bridgeErr, storeErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if n.Driver == driverBridge {
			bridgeErr = bnet.EnsureBridge(bnet.Bridge{Name: n.Bridge, Gateway: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), MTU: n.MTU})
		}
	}()
	go func() {
		defer wg.Done()
		storeErr = e.core.store.update(func(tx *bolt.Tx) error { return putNetwork(tx, n) })
	}()
	recs, err := e.records()
	if err == nil {
		err = e.applyRules(append(nets, n), recs, false)
	}
	wg.Wait()
	if bridgeErr != nil || storeErr != nil || err != nil {
		if storeErr == nil {
			e.core.store.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNetworks).Delete([]byte(n.ID)) })
		}
		if n.Driver == driverBridge && (made || bridgeErr == nil) {
			bnet.DeleteBridge(n.Bridge)
		}
		if recs != nil {
			e.applyRules(nets, recs, false)
		}
		switch {
		case bridgeErr != nil:
			return network.CreateResponse{}, fmt.Errorf("create network %s: bridge %s: %w", n.Name, n.Bridge, bridgeErr)
		case storeErr != nil:
			return network.CreateResponse{}, storeErr
		}
		return network.CreateResponse{}, err
	}
	if n.userDefined() {
		e.writeRecords(n, recs)
	}
	e.emit(events.NetworkEventType, events.ActionCreate, n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	return network.CreateResponse{ID: n.ID}, nil
}

// checkNetworkCreate checks a create request and makes the record it asks
// for (subnet, bridge name still to be picked).
func checkNetworkCreate(req network.CreateRequest) (*netRecord, error) {
	if req.Name == "" {
		return nil, Invalid("network name is required")
	}
	if !validNetworkName.MatchString(req.Name) {
		return nil, Invalid("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name)
	}
	switch req.Name {
	case network.NetworkBridge, network.NetworkHost, network.NetworkNone, network.NetworkDefault:
		return nil, Forbidden("%s is a pre-defined network and cannot be created", req.Name)
	}
	n := &netRecord{
		ID: newID(), Name: req.Name, Driver: req.Driver, Created: time.Now().UTC(),
		Internal: req.Internal, Attachable: req.Attachable,
		Options: maps.Clone(req.Options), Labels: maps.Clone(req.Labels),
	}
	if n.Driver == "" {
		n.Driver = driverBridge
	}
	switch n.Driver {
	case driverBridge, driverMacvlan, driverIPvlan:
	case driverHost, driverNull:
		return nil, Forbidden("only one instance of %q network is allowed", n.Driver)
	default:
		return nil, NotFound("plugin %q not found", n.Driver)
	}
	if req.Scope != "" && req.Scope != "local" {
		return nil, Invalid("scope %q is not supported: berth networks are local", req.Scope)
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return nil, Invalid("IPv6 networks are not supported by berth yet")
	}
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		return nil, Invalid("IPv4 cannot be disabled: berth networks are IPv4")
	}
	if req.Ingress || req.ConfigOnly || req.ConfigFrom != nil {
		return nil, Invalid("ingress and config-only networks need swarm mode, which berth does not have yet")
	}
	if req.IPAM != nil {
		if d := req.IPAM.Driver; d != "" && d != "default" {
			return nil, NotFound("plugin %q not found", d)
		}
		var v4 []network.IPAMConfig
		for _, c := range req.IPAM.Config {
			if c.Subnet.IsValid() && c.Subnet.Addr().Is6() {
				return nil, Invalid("IPv6 subnets are not supported by berth yet: %s", c.Subnet)
			}
			v4 = append(v4, c)
		}
		if len(v4) > 1 {
			return nil, Invalid("berth networks have one IPv4 subnet, %d were given", len(v4))
		}
		if len(v4) == 1 {
			c := v4[0]
			if !c.Subnet.IsValid() {
				if c.Gateway.IsValid() || c.IPRange.IsValid() {
					return nil, Invalid("a gateway or ip-range needs a subnet")
				}
			} else {
				if c.Subnet.Bits() > 30 {
					return nil, Invalid("invalid subnet %s: too small for a network", c.Subnet)
				}
				n.Subnet, n.UserIPAM = c.Subnet.Masked(), true
				if c.Gateway.IsValid() {
					if !n.Subnet.Contains(c.Gateway) {
						return nil, Forbidden("no matching subnet for gateway %s", c.Gateway)
					}
					n.Gateway = c.Gateway
				}
				if c.IPRange.IsValid() {
					if !n.Subnet.Contains(c.IPRange.Addr()) || c.IPRange.Bits() < n.Subnet.Bits() {
						return nil, Forbidden("no matching subnet for range %s", c.IPRange)
					}
					n.IPRange = c.IPRange.Masked()
				}
				if len(c.AuxAddress) > 0 {
					return nil, Invalid("auxiliary addresses are not supported by berth yet")
				}
			}
		}
	}
	if v := n.Options["com.docker.network.driver.mtu"]; v != "" {
		mtu, err := strconv.Atoi(v)
		if err != nil || mtu < 68 || mtu > 65535 {
			return nil, Invalid("invalid MTU %q: a number from 68 to 65535", v)
		}
		n.MTU = mtu
	}
	switch n.Driver {
	case driverBridge:
		if b := n.Options["com.docker.network.bridge.name"]; b != "" {
			if len(b) > 15 || strings.ContainsAny(b, "/ \t") {
				return nil, Invalid("invalid bridge name %q", b)
			}
			n.Bridge = b
		}
	case driverMacvlan, driverIPvlan:
		n.Parent = n.Options["parent"]
		if n.Parent == "" {
			return nil, Invalid("the %s driver needs a parent interface: -o parent=IFACE", n.Driver)
		}
		n.Mode = n.Options[n.Driver+"_mode"]
		ok := map[string][]string{
			driverMacvlan: {"", "bridge", "private", "vepa", "passthru"},
			driverIPvlan:  {"", "l2", "l3", "l3s"},
		}[n.Driver]
		if !slices.Contains(ok, n.Mode) {
			return nil, Invalid("%s mode %q is not valid: one of %s", n.Driver, n.Mode, strings.Join(ok[1:], ", "))
		}
	}
	return n, nil
}

// NetworkList lists the networks matching f (dangling, driver, id, label,
// name, scope, type).
func (e *Engine) NetworkList(ctx context.Context, f Filters) ([]network.Summary, error) {
	for k := range f {
		switch k {
		case "dangling", "driver", "id", "label", "name", "scope", "type":
		default:
			return nil, Invalid("invalid filter '%s'", k)
		}
	}
	nets, err := e.networks()
	if err != nil {
		return nil, err
	}
	recs, err := e.freshRecords()
	if err != nil {
		return nil, err
	}
	out := []network.Summary{}
	for _, n := range nets {
		ok, err := matchNetwork(f, n, recs)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, network.Summary{Network: e.networkOf(n)})
		}
	}
	return out, nil
}

// matchNetwork applies docker's network filters.
func matchNetwork(f Filters, n *netRecord, recs []*ctrRecord) (bool, error) {
	anyMatch := func(key string, match func(v string) bool) bool {
		vs := f[key]
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if match(v) {
				return true
			}
		}
		return false
	}
	for _, v := range f["type"] {
		if v != "custom" && v != "builtin" {
			return false, Invalid("invalid filter: 'type'='%s'", v)
		}
	}
	for _, v := range f["dangling"] {
		if v != "true" && v != "false" && v != "1" && v != "0" {
			return false, Invalid("invalid filter 'dangling=%s'", v)
		}
	}
	used := false
	for _, r := range recs {
		if r.Net.endpointOf(n.ID) != nil {
			used = true
		}
	}
	return anyMatch("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		anyMatch("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		anyMatch("driver", func(v string) bool { return n.Driver == v }) &&
		anyMatch("scope", func(v string) bool { return v == "local" }) &&
		anyMatch("type", func(v string) bool { return (v == "builtin") == n.Builtin }) &&
		anyMatch("dangling", func(v string) bool { return (v == "true" || v == "1") == (!used && !n.Builtin) }) &&
		matchLabels(f["label"], n.Labels), nil
}

// networkOf is the API's view of a network.
func (e *Engine) networkOf(n *netRecord) network.Network {
	out := network.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
		EnableIPv4: true, Internal: n.Internal, Attachable: n.Attachable,
		IPAM:    network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
		Options: map[string]string{}, Labels: map[string]string{},
	}
	maps.Copy(out.Options, n.Options)
	maps.Copy(out.Labels, n.Labels)
	if n.Subnet.IsValid() {
		out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange})
	}
	if n.Builtin && n.Driver != driverBridge {
		out.EnableIPv4 = false
	}
	return out
}

// NetworkInspect is GET /networks/{id}: the network and the containers
// running on it.
func (e *Engine) NetworkInspect(ctx context.Context, ref string, o NetworkInspectOptions) (network.Inspect, error) {
	if o.Scope != "" && o.Scope != "local" {
		return network.Inspect{}, NotFound("network %s not found", ref)
	}
	n, err := e.findNetwork(ref)
	if err != nil {
		return network.Inspect{}, err
	}
	recs, err := e.freshRecords()
	if err != nil {
		return network.Inspect{}, err
	}
	out := network.Inspect{Network: e.networkOf(n), Containers: map[string]network.EndpointResource{}}
	for _, r := range recs {
		if !r.State.live() {
			continue
		}
		if ep := r.Net.endpointOf(n.ID); ep != nil && ep.up() {
			res := network.EndpointResource{Name: r.Name, EndpointID: ep.EndpointID, IPv4Address: netip.PrefixFrom(ep.IP, ep.PrefixLen)}
			if mac, err := net.ParseMAC(ep.MAC); err == nil {
				res.MacAddress = network.HardwareAddr(mac)
			}
			out.Containers[r.ID] = res
		} else if (n.Driver == driverHost && r.HostConfig.NetworkMode.IsHost()) || (n.Driver == driverNull && r.HostConfig.NetworkMode.IsNone()) {
			out.Containers[r.ID] = network.EndpointResource{Name: r.Name}
		}
	}
	return out, nil
}

// NetworkRemove removes a network no running container is on.
func (e *Engine) NetworkRemove(ctx context.Context, ref string) error {
	// Exits nobody recorded yet are recorded first: that takes container
	// locks, and then the network lock, which must not be held here yet.
	if _, err := e.freshRecords(); err != nil {
		return err
	}
	unlock, err := e.netLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := e.findNetwork(ref)
	if err != nil {
		return err
	}
	if n.Builtin {
		return Forbidden("%s is a pre-defined network and cannot be removed", n.Name)
	}
	recs, err := e.records()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if ep := r.Net.endpointOf(n.ID); ep != nil && (ep.up() || r.State.running()) {
			return Forbidden("error while removing network: network %s id %s has active endpoints", n.Name, n.ID)
		}
	}
	if err := e.core.store.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNetworks).Delete([]byte(n.ID)) }); err != nil {
		return err
	}
	// The table and the bridge go side by side: each costs the kernel
	// grace periods (the bridge's deletion ~40 ms), which overlap. The
	// rules name the bridge, never need it to exist.
	rulesErr := make(chan error, 1)
	go func() {
		nets, err := e.networks()
		if err == nil {
			err = e.applyRules(nets, recs, false)
		}
		rulesErr <- err
	}()
	var errs []error
	if n.Driver == driverBridge {
		errs = append(errs, bnet.DeleteBridge(n.Bridge))
	}
	errs = append(errs, <-rulesErr)
	if err := os.Remove(e.recordsPath(n.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	os.Remove(filepath.Dir(e.recordsPath(n.ID))) // when it was the last one
	e.emit(events.NetworkEventType, events.ActionDestroy, n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	return errors.Join(errs...)
}

// NetworksPrune removes the user-defined networks no container uses.
func (e *Engine) NetworksPrune(ctx context.Context, f Filters) (network.PruneReport, error) {
	for k := range f {
		if k != "until" && k != "label" && k != "label!" {
			return network.PruneReport{}, Invalid("invalid filter '%s'", k)
		}
	}
	var until time.Time
	if vs := f["until"]; len(vs) > 0 {
		t, err := parseFilterTime(vs[0], time.Now())
		if err != nil {
			return network.PruneReport{}, Invalid("%v", err)
		}
		until = t
	}
	nets, err := e.networks()
	if err != nil {
		return network.PruneReport{}, err
	}
	recs, err := e.freshRecords()
	if err != nil {
		return network.PruneReport{}, err
	}
	rep := network.PruneReport{NetworksDeleted: []string{}}
	for _, n := range nets {
		if n.Builtin || (!until.IsZero() && !n.Created.Before(until)) ||
			!matchLabels(f["label"], n.Labels) || labelsExcluded(f["label!"], n.Labels) {
			continue
		}
		used := false
		for _, r := range recs {
			if r.Net.endpointOf(n.ID) != nil {
				used = true
			}
		}
		if used {
			continue
		}
		if err := e.NetworkRemove(ctx, n.ID); err != nil {
			if KindOf(err) == KindForbidden || KindOf(err) == KindNotFound {
				continue
			}
			return rep, err
		}
		rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
	}
	return rep, nil
}

// NetworkConnect connects a container to a network: at once when it
// runs, at its next start otherwise.
func (e *Engine) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	n, err := e.findNetwork(ref)
	if err != nil {
		return err
	}
	r, err := e.current(req.Container)
	if err != nil {
		return err
	}
	r, unlockCtr, err := e.lockLoad(ctx, r)
	if err != nil {
		return err
	}
	defer unlockCtr()
	mode := r.HostConfig.NetworkMode
	switch {
	case !n.hasIPs() || mode.IsHost():
		return Forbidden("container cannot be disconnected from host network or connected to host network")
	case mode.IsNone():
		return Forbidden("container cannot be connected to multiple networks with one of the networks in private (none) mode")
	case mode.IsContainer():
		return Forbidden("container sharing network namespace with another container or host cannot be connected to any other network")
	}
	if r.Net.endpointOf(n.ID) != nil {
		return Forbidden("endpoint with name %s already exists in network %s", r.Name, n.Name)
	}
	ep, err := newEndpoint(r, n, req.EndpointConfig)
	if err != nil {
		return err
	}
	if _, _, err := e.mutate(r.ID, func(x *ctrRecord) error {
		x.Net.Endpoints = append(x.Net.Endpoints, ep)
		return nil
	}); err != nil {
		return err
	}
	if r.State.live() && r.Net.NetNS != "" {
		if err := e.connectRunning(ctx, r.ID); err != nil {
			e.mutate(r.ID, func(x *ctrRecord) error {
				x.Net.Endpoints = dropEndpoint(x.Net.Endpoints, n.ID)
				return nil
			})
			return err
		}
	}
	e.emit(events.NetworkEventType, events.ActionConnect, n.ID, map[string]string{"name": n.Name, "type": n.Driver, "container": r.ID})
	return nil
}

// connectRunning sets up the endpoints of a running container that are
// not up yet.
func (e *Engine) connectRunning(ctx context.Context, id string) error {
	unlock, err := e.netLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	r, fresh, err := e.netAllocate(id, false)
	if err != nil {
		return err
	}
	nets, err := e.networks()
	if err != nil {
		return err
	}
	if err := e.attachEndpoints(r, nets, fresh); err != nil {
		// Only what this connect made: the other interfaces stay.
		e.detachDown(r, nets, func(ep *endpoint) bool { return fresh[ep.NetworkID] })
		return err
	}
	if err := e.writeContainerNetFiles(r, nets, true); err != nil {
		return err
	}
	return e.refreshNetworks(nets, r.Net.Endpoints)
}

// detachDown removes the interfaces of the endpoints of r that which
// selects, and forgets their addresses.
func (e *Engine) detachDown(r *ctrRecord, nets []*netRecord, which func(*endpoint) bool) {
	for _, ep := range r.Net.Endpoints {
		if !which(ep) || ep.IfName == "" {
			continue
		}
		kind := "veth"
		if n := netByID(nets, ep.NetworkID); n != nil && n.Driver != driverBridge {
			kind = n.Driver
		}
		bnet.DetachIface(bnet.Iface{Kind: kind, HostName: ep.HostIf, NetNS: r.Net.NetNS, Name: ep.IfName})
	}
}

func dropEndpoint(eps []*endpoint, netID string) []*endpoint {
	var out []*endpoint
	for _, ep := range eps {
		if ep.NetworkID != netID {
			out = append(out, ep)
		}
	}
	return out
}

// NetworkDisconnect disconnects a container from a network.
func (e *Engine) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	n, err := e.findNetwork(ref)
	if err != nil {
		if !req.Force || KindOf(err) != KindNotFound {
			return err
		}
		// The network is gone: -f drops the container's stale endpoint
		// on it, so the container can start again (docker's way out).
		r, lerr := e.current(req.Container)
		if lerr != nil {
			return lerr
		}
		_, _, merr := e.mutate(r.ID, func(x *ctrRecord) error {
			var keep []*endpoint
			for _, ep := range x.Net.Endpoints {
				if ep.NetworkName != ref && ep.NetworkID != ref && !strings.HasPrefix(ep.NetworkID, ref) {
					keep = append(keep, ep)
				}
			}
			if len(keep) == len(x.Net.Endpoints) {
				return errUnchanged
			}
			x.Net.Endpoints = keep
			return nil
		})
		return merr
	}
	r, err := e.current(req.Container)
	if err != nil {
		return err
	}
	r, unlockCtr, err := e.lockLoad(ctx, r)
	if err != nil {
		return err
	}
	defer unlockCtr()
	if r.HostConfig.NetworkMode.IsHost() && n.Driver == driverHost {
		return Forbidden("container cannot be disconnected from host network or connected to host network")
	}
	ep := r.Net.endpointOf(n.ID)
	if ep == nil {
		return Forbidden("container %s is not connected to network %s", r.ID, n.Name)
	}
	unlock, err := e.netLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	nets, err := e.networks()
	if err != nil {
		return err
	}
	e.detachDown(r, nets, func(x *endpoint) bool { return x.NetworkID == n.ID })
	r, _, err = e.mutate(r.ID, func(x *ctrRecord) error {
		x.Net.Endpoints = dropEndpoint(x.Net.Endpoints, n.ID)
		var ports []publishedPort
		for _, p := range x.Net.Ports {
			if p.Bridge != n.Bridge || n.Bridge == "" {
				ports = append(ports, p)
			}
		}
		x.Net.Ports = ports
		return nil
	})
	if err != nil {
		return err
	}
	if r.State.live() {
		if err := e.writeContainerNetFiles(r, nets, true); err != nil {
			return err
		}
	}
	if err := e.refreshNetworks(nets, []*endpoint{ep}); err != nil {
		return err
	}
	e.emit(events.NetworkEventType, events.ActionDisconnect, n.ID, map[string]string{"name": n.Name, "type": n.Driver, "container": r.ID})
	return nil
}
