package engine

import (
	"net"
	"net/netip"
	"sort"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// endpointSettings are r's networks as inspect and ps show them, by
// network name: the endpoints configured, with their addresses while the
// container runs; host and none show as docker shows them.
func endpointSettings(r *ctrRecord) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	mode := r.HostConfig.NetworkMode
	if mode.IsHost() || mode.IsNone() {
		out[string(mode)] = &network.EndpointSettings{}
		return out
	}
	for _, ep := range r.Net.Endpoints {
		es := &network.EndpointSettings{
			NetworkID: ep.NetworkID, EndpointID: ep.EndpointID,
			Aliases: append([]string{}, ep.Aliases...),
		}
		if ep.StaticIP.IsValid() {
			es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ep.StaticIP}
		}
		if ep.up() {
			es.IPAddress, es.IPPrefixLen, es.Gateway = ep.IP, ep.PrefixLen, ep.Gateway
			if mac, err := net.ParseMAC(ep.MAC); err == nil {
				es.MacAddress = network.HardwareAddr(mac)
			}
			es.DNSNames = append([]string{r.Name, r.ID[:12]}, ep.Aliases...)
		} else {
			es.EndpointID = ""
		}
		out[ep.NetworkName] = es
	}
	return out
}

// portMap is inspect's NetworkSettings.Ports: every exposed or published
// port, with the host ports it is published on while it runs.
func portMap(r *ctrRecord) network.PortMap {
	pm := network.PortMap{}
	if r.HostConfig.NetworkMode.IsHost() || r.HostConfig.NetworkMode.IsContainer() {
		return pm
	}
	if !r.State.live() {
		return pm
	}
	for p := range r.Config.ExposedPorts {
		pm[p] = nil
	}
	for p := range r.HostConfig.PortBindings {
		pm[p] = nil
	}
	for _, pp := range r.Net.Ports {
		p, ok := network.PortFrom(pp.CtrPort, network.IPProtocol(pp.Proto))
		if !ok {
			continue
		}
		ip := netip.IPv4Unspecified()
		if pp.HostIP.IsValid() {
			ip = pp.HostIP
		}
		pm[p] = append(pm[p], network.PortBinding{HostIP: ip, HostPort: strconv.Itoa(int(pp.HostPort))})
	}
	return pm
}

// portSummaries are ps's ports: the published ones, then the exposed
// ones that are not.
func portSummaries(r *ctrRecord) []container.PortSummary {
	out := []container.PortSummary{}
	if !r.State.live() {
		return out
	}
	published := map[network.Port]bool{}
	for _, pp := range r.Net.Ports {
		ip := netip.IPv4Unspecified()
		if pp.HostIP.IsValid() {
			ip = pp.HostIP
		}
		out = append(out, container.PortSummary{IP: ip, PrivatePort: pp.CtrPort, PublicPort: pp.HostPort, Type: pp.Proto})
		if p, ok := network.PortFrom(pp.CtrPort, network.IPProtocol(pp.Proto)); ok {
			published[p] = true
		}
	}
	for p := range r.Config.ExposedPorts {
		if !published[p] {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PrivatePort != out[j].PrivatePort {
			return out[i].PrivatePort < out[j].PrivatePort
		}
		return out[i].PublicPort < out[j].PublicPort
	})
	return out
}

// sandboxID names the network namespace of the current run.
func sandboxID(r *ctrRecord) string {
	if r.Net.NetNS == "" {
		return ""
	}
	return r.ID
}
