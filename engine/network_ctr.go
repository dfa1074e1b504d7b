package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"
)

// ctrNet is a container's network: the endpoints it is configured with
// (at create and by connect) and, while it runs, what was set up for it.
type ctrNet struct {
	// Endpoints, in interface order (eth0 first).
	Endpoints []*endpoint `json:"endpoints,omitempty"`
	// NetNS is the network namespace berth pinned for the current run
	// ("" when stopped, or sharing the host's or another container's).
	NetNS string `json:"netns,omitempty"`
	// Ports are the ports published for the current run.
	Ports []publishedPort `json:"ports,omitempty"`
}

// endpoint is a container's attachment to one network.
type endpoint struct {
	NetworkID   string     `json:"networkId"`
	NetworkName string     `json:"networkName"`
	EndpointID  string     `json:"endpointId"`
	Aliases     []string   `json:"aliases,omitempty"`
	StaticIP    netip.Addr `json:"staticIp,omitzero"`
	StaticMAC   string     `json:"staticMac,omitempty"`
	// Set while the container runs.
	IP        netip.Addr `json:"ip,omitzero"`
	PrefixLen int        `json:"prefixLen,omitempty"`
	Gateway   netip.Addr `json:"gateway,omitzero"`
	MAC       string     `json:"mac,omitempty"`
	IfName    string     `json:"ifName,omitempty"`
	HostIf    string     `json:"hostIf,omitempty"`
}

// up reports whether the endpoint is set up (its container runs).
func (ep *endpoint) up() bool { return ep.IP.IsValid() }

// publishedPort is one port published for the current run.
type publishedPort struct {
	Proto    string     `json:"proto"`
	HostIP   netip.Addr `json:"hostIp,omitzero"`
	HostPort uint16     `json:"hostPort"`
	CtrPort  uint16     `json:"ctrPort"`
	CtrIP    netip.Addr `json:"ctrIp"`
	Bridge   string     `json:"bridge"`
}

// endpointOf returns the container's endpoint on network id.
func (n *ctrNet) endpointOf(id string) *endpoint {
	for _, ep := range n.Endpoints {
		if ep.NetworkID == id {
			return ep
		}
	}
	return nil
}

// running reports whether anything of a run is recorded.
func (n *ctrNet) running() bool {
	if n.NetNS != "" || len(n.Ports) > 0 {
		return true
	}
	for _, ep := range n.Endpoints {
		if ep.up() || ep.HostIf != "" || ep.IfName != "" {
			return true
		}
	}
	return false
}

// hostIfName is the host end of the veth of container id on network
// netID: at most 15 bytes, stable, so that a crash's leftovers are found.
func hostIfName(id, netID string) string {
	h := sha256.Sum256([]byte(id + "/" + netID))
	return "bth" + hex.EncodeToString(h[:])[:11]
}

// newEndpointID is an endpoint's ID (64 hex, as docker's).
func newEndpointID(ctrID, netID string) string {
	h := sha256.Sum256([]byte(ctrID + "/" + netID + "/" + newID()))
	return hex.EncodeToString(h[:])
}

// networkConfig checks the networking part of a create request and
// records the endpoints of r: the network of its NetworkMode (for bridge
// and user-defined networks), and any others NetworkingConfig names.
func (e *Engine) networkConfig(r *ctrRecord, nc *network.NetworkingConfig) error {
	hc, cfg := r.HostConfig, r.Config
	mode := hc.NetworkMode
	var eps map[string]*network.EndpointSettings
	if nc != nil {
		eps = nc.EndpointsConfig
	}
	if mode.IsContainer() || mode.IsHost() || mode.IsNone() {
		if mode.IsContainer() && cfg.Hostname != "" {
			return Invalid("conflicting options: hostname and the network mode")
		}
		if mode.IsContainer() && (len(hc.PortBindings) > 0 || hc.PublishAllPorts) {
			return Invalid("conflicting options: port publishing and the container type network mode")
		}
		if mode.IsContainer() && (len(hc.DNS) > 0 || len(hc.ExtraHosts) > 0) {
			return Invalid("conflicting options: dns and the network mode")
		}
		for k := range eps {
			if k != string(mode) {
				return Invalid("container sharing network namespace with another container or host cannot be connected to any other network")
			}
		}
		if mode.IsContainer() {
			if _, err := e.load(mode.ConnectedContainer()); err != nil {
				return err
			}
		}
		if mode.IsHost() {
			hc.PortBindings, hc.PublishAllPorts = nil, false // docker discards them too
		}
		return nil
	}
	if err := checkPortBindings(hc.PortBindings); err != nil {
		return err
	}
	for _, h := range hc.ExtraHosts {
		if _, err := parseExtraHost(h); err != nil {
			return err
		}
	}
	return e.core.store.read(func(tx *bolt.Tx) error {
		primary, err := findNetwork(tx, string(mode))
		if err != nil {
			return err
		}
		if !primary.hasIPs() {
			return Invalid("network %s is not usable as a container's network mode", mode)
		}
		add := func(n *netRecord, es *network.EndpointSettings) error {
			if r.Net.endpointOf(n.ID) != nil {
				return nil
			}
			ep, err := newEndpoint(r, n, es)
			if err != nil {
				return err
			}
			r.Net.Endpoints = append(r.Net.Endpoints, ep)
			return nil
		}
		// The mode's network may be keyed by the mode, its name, its ID,
		// or "default" (docker's CLI without --network).
		primaryKeys := []string{string(mode), primary.Name, primary.ID, network.NetworkDefault}
		var es *network.EndpointSettings
		for _, k := range primaryKeys {
			if es = eps[k]; es != nil {
				break
			}
		}
		if err := add(primary, es); err != nil {
			return err
		}
		keys := make([]string, 0, len(eps))
		for k := range eps {
			if !slices.Contains(primaryKeys, k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			n, err := findNetwork(tx, k)
			if err != nil {
				return err
			}
			if !n.hasIPs() {
				return Invalid("container cannot be connected to network %s", n.Name)
			}
			if err := add(n, eps[k]); err != nil {
				return err
			}
		}
		return nil
	})
}

// newEndpoint checks what es asks of network n for container r.
func newEndpoint(r *ctrRecord, n *netRecord, es *network.EndpointSettings) (*endpoint, error) {
	ep := &endpoint{NetworkID: n.ID, NetworkName: n.Name, EndpointID: newEndpointID(r.ID, n.ID)}
	if es == nil {
		return ep, nil
	}
	if len(es.Aliases) > 0 {
		if !n.userDefined() {
			return nil, Invalid("network-scoped alias is supported only for containers in user defined networks")
		}
		ep.Aliases = slices.Clone(es.Aliases)
	}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid() {
		ip := es.IPAMConfig.IPv4Address
		if !n.userDefined() {
			return nil, Invalid("user specified IP address is supported on user defined networks only")
		}
		if !n.UserIPAM {
			return nil, Invalid("user specified IP address is supported only when connecting to networks with user configured subnets")
		}
		if !ip.Is4() || !n.Subnet.Contains(ip) {
			return nil, Invalid("invalid IPv4 address %s: not in the subnet %s of network %s", ip, n.Subnet, n.Name)
		}
		if ip == n.Gateway || ip == n.Subnet.Masked().Addr() || (n.Subnet.Bits() <= 30 && ip == lastAddr(n.Subnet)) {
			return nil, Forbidden("address %s of network %s is already in use", ip, n.Name)
		}
		ep.StaticIP = ip
	}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv6Address.IsValid() {
		return nil, Invalid("IPv6 addresses are not supported by berth yet")
	}
	if len(es.MacAddress) > 0 {
		ep.StaticMAC = es.MacAddress.String()
	}
	return ep, nil
}

// checkPortBindings checks -p as the engine receives it.
func checkPortBindings(pm network.PortMap) error {
	for p, bs := range pm {
		if !p.IsValid() {
			return Invalid("invalid port specification: %q", p.String())
		}
		switch p.Proto() {
		case network.TCP, network.UDP, network.SCTP:
		default:
			return Invalid("invalid proto: %s", p.Proto())
		}
		for _, b := range bs {
			if b.HostIP.IsValid() && !b.HostIP.Is4() && !b.HostIP.IsUnspecified() {
				return Invalid("invalid host IP %s: berth publishes IPv4 only", b.HostIP)
			}
			if _, _, err := hostPortRange(b.HostPort); err != nil {
				return err
			}
		}
	}
	return nil
}

// hostPortRange parses a binding's HostPort: "" (0, 0), "8000" or
// "8000-8010".
func hostPortRange(s string) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	x, err1 := strconv.ParseUint(a, 10, 16)
	y := x
	var err2 error
	if isRange {
		y, err2 = strconv.ParseUint(b, 10, 16)
	}
	if err1 != nil || err2 != nil || x == 0 || y < x {
		return 0, 0, Invalid("invalid hostPort: %s", s)
	}
	return uint16(x), uint16(y), nil
}

// parseExtraHost parses --add-host: "name:ip" or "name=ip"; ip may be
// "host-gateway" (the default bridge's gateway).
func parseExtraHost(s string) ([2]string, error) {
	name, ip, ok := strings.Cut(s, "=")
	if !ok {
		name, ip, ok = strings.Cut(s, ":")
	}
	if !ok || name == "" || ip == "" {
		return [2]string{}, Invalid("invalid argument %q for \"--add-host\" flag: bad format for add-host: %q", s, s)
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if ip != "host-gateway" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return [2]string{}, Invalid("invalid IP address in add-host: %q", ip)
		}
	}
	return [2]string{name, ip}, nil
}

// hostGatewayOf is what --add-host's "host-gateway" resolves to: the
// default bridge's gateway, the host as its containers see it.
func hostGatewayOf(nets []*netRecord) string {
	for _, n := range nets {
		if n.Name == network.NetworkBridge {
			return n.Gateway.String()
		}
	}
	return ""
}

// lastAddr is the last address of an IPv4 subnet (its broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
