package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"

	bnet "github.com/berth-project/berth/network"
)

// Paths of the network state that lives as long as the host is up.
// They all live under ExecRoot/network: a tmpfs, so a reboot forgets
// them with the kernel state they describe.
func (e *Engine) netDir() string             { return filepath.Join(e.opts.ExecRoot, "network") }
func (e *Engine) netnsDir() string           { return filepath.Join(e.netDir(), "netns") }
func (e *Engine) netnsPath(id string) string { return filepath.Join(e.netnsDir(), id) }
func (e *Engine) recordsPath(id string) string {
	return filepath.Join(e.netDir(), "records", id+".json")
}

// Files berth writes in a container's bundle directory and binds over
// the image's.
const (
	hostsFile    = "hosts"
	resolvFile   = "resolv.conf"
	hostnameFile = "hostname"
	dnsConfFile  = "dns.json"
)

// netLock serializes the network changes of every berth process on this
// data root: allocation, the kernel's state and berth's nftables table
// always move together under it.
func (e *Engine) netLock(ctx context.Context) (func(), error) {
	return lockFile(ctx, filepath.Join(e.opts.Root, "network.lock"))
}

// netUp sets up the network of a container about to start: a new pinned
// namespace with an interface per endpoint and its published ports, or
// the host's, or another container's; and the hosts, resolv.conf and
// hostname files the spec binds. It returns the record as updated. On
// failure nothing of it is left.
func (e *Engine) netUp(ctx context.Context, r *ctrRecord) (_ *ctrRecord, err error) {
	mode := r.HostConfig.NetworkMode
	switch {
	case mode.IsHost():
		hosts, _ := os.ReadFile("/etc/hosts")
		resolv, _ := os.ReadFile("/etc/resolv.conf")
		return r, e.writeEtcFiles(r, hosts, resolv)
	case mode.IsContainer():
		x, err := e.current(mode.ConnectedContainer())
		if err != nil {
			return nil, err
		}
		if !x.State.live() {
			return nil, Conflict("cannot join network namespace of a non running container: container %s is %s", x.ID, x.State.Status)
		}
		hosts, _ := os.ReadFile(filepath.Join(x.Dir, hostsFile))
		resolv, _ := os.ReadFile(filepath.Join(x.Dir, resolvFile))
		if err := e.writeEtcFiles(r, hosts, resolv); err != nil {
			return nil, err
		}
		return r, nil
	}
	unlock, err := e.netLock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	id := r.ID
	defer func() {
		if err != nil {
			e.netDownLocked(id)
		}
	}()
	var fresh map[string]bool
	if r, fresh, err = e.netAllocate(r.ID, true); err != nil {
		return nil, err
	}
	nets, err := e.networks()
	if err != nil {
		return nil, err
	}
	// The names and the rules (published ports) are rewritten from the
	// records while the namespace and its interfaces are made: the table's
	// rewrite and the links each wait on the kernel, and the rules only
	// name addresses and bridges, which need not exist yet.
	refreshErr := make(chan error, 1)
	go func() { refreshErr <- e.refreshNetworks(nets, r.Net.Endpoints) }()
	if err := e.netUpLinks(r, nets, fresh); err != nil {
		<-refreshErr
		return nil, err
	}
	if err := <-refreshErr; err != nil {
		return nil, err
	}
	return r, nil
}

// netUpLinks makes r's network namespace, its interfaces and its
// /etc files.
func (e *Engine) netUpLinks(r *ctrRecord, nets []*netRecord, fresh map[string]bool) error {
	if err := os.MkdirAll(e.netnsDir(), 0o700); err != nil {
		return err
	}
	if err := bnet.NewNetNS(r.Net.NetNS); err != nil {
		return fmt.Errorf("create the network namespace of %s: %w", r.ID, err)
	}
	if err := e.attachEndpoints(r, nets, fresh); err != nil {
		return err
	}
	return e.writeContainerNetFiles(r, nets, false)
}

// netAllocate gives the endpoints of container id that are not up an
// address, MAC and interface names, and (first, at start) its published
// ports and namespace path, in one transaction.
func (e *Engine) netAllocate(id string, start bool) (*ctrRecord, map[string]bool, error) {
	var out *ctrRecord
	fresh := map[string]bool{} // network IDs of the endpoints set up now
	err := e.core.store.update(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if r == nil {
			return NotFound("No such container: %s", id)
		}
		recs, err := allRecords(tx)
		if err != nil {
			return err
		}
		nets, err := allNetworks(tx)
		if err != nil {
			return err
		}
		byID := map[string]*netRecord{}
		for _, n := range nets {
			byID[n.ID] = n
		}
		used := map[string]map[netip.Addr]bool{}
		var taken []publishedPort
		for _, o := range recs {
			if o.ID == id {
				continue
			}
			for _, ep := range o.Net.Endpoints {
				if ep.up() {
					if used[ep.NetworkID] == nil {
						used[ep.NetworkID] = map[netip.Addr]bool{}
					}
					used[ep.NetworkID][ep.IP] = true
				}
			}
			taken = append(taken, o.Net.Ports...)
		}
		// The lowest ethN no endpoint uses (a disconnect frees one).
		ifNames := map[string]bool{}
		for _, ep := range r.Net.Endpoints {
			if ep.IfName != "" {
				ifNames[ep.IfName] = true
			}
		}
		nextIf := func() string {
			for i := 0; ; i++ {
				if n := "eth" + strconv.Itoa(i); !ifNames[n] {
					ifNames[n] = true
					return n
				}
			}
		}
		for _, ep := range r.Net.Endpoints {
			if ep.up() {
				continue
			}
			n := byID[ep.NetworkID]
			if n == nil {
				return NotFound("network %s not found", ep.NetworkName)
			}
			u := used[n.ID]
			if u == nil {
				u = map[netip.Addr]bool{}
			}
			if n.Gateway.IsValid() {
				u[n.Gateway] = true
			}
			ip := ep.StaticIP
			if ip.IsValid() {
				if u[ip] {
					return Forbidden("Address already in use: %s on network %s", ip, n.Name)
				}
			} else if ip, err = bnet.AllocIP(n.Name, n.Subnet, n.IPRange, u); err != nil {
				return Forbidden("%v (%s)", err, n.ID)
			}
			u[ip] = true
			used[n.ID] = u
			ep.IP, ep.PrefixLen, ep.Gateway = ip, n.Subnet.Bits(), n.Gateway
			ep.MAC = ep.StaticMAC
			if ep.MAC == "" && n.Driver != driverIPvlan {
				ep.MAC = bnet.MACFromIP(ip).String()
			}
			ep.IfName = nextIf()
			fresh[ep.NetworkID] = true
			if n.Driver == driverBridge {
				ep.HostIf = hostIfName(r.ID, n.ID)
			}
		}
		if start {
			r.Net.NetNS = e.netnsPath(r.ID)
			ports, err := publishPorts(r, byID, taken)
			if err != nil {
				return err
			}
			r.Net.Ports = ports
		}
		out = r
		return putRecord(tx, r)
	})
	return out, fresh, err
}

// publishPorts picks the host ports of r's -p and -P, against the ports
// other containers hold and the host's listeners.
func publishPorts(r *ctrRecord, nets map[string]*netRecord, taken []publishedPort) ([]publishedPort, error) {
	hc := r.HostConfig
	pm := network.PortMap{}
	for p, bs := range hc.PortBindings {
		pm[p] = bs
	}
	if hc.PublishAllPorts {
		for p := range r.Config.ExposedPorts {
			if len(pm[p]) == 0 {
				pm[p] = []network.PortBinding{{}}
			}
		}
	}
	if len(pm) == 0 {
		return nil, nil
	}
	var target *endpoint
	for _, ep := range r.Net.Endpoints {
		if n := nets[ep.NetworkID]; n != nil && n.Driver == driverBridge && !n.Internal {
			target = ep
			break
		}
	}
	if target == nil {
		return nil, nil // docker publishes nothing on internal and macvlan networks
	}
	bridge := nets[target.NetworkID].Bridge
	keys := make([]network.Port, 0, len(pm))
	for p := range pm {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Num() != keys[j].Num() {
			return keys[i].Num() < keys[j].Num()
		}
		return keys[i].Proto() < keys[j].Proto()
	})
	var out []publishedPort
	clash := func(proto string, ip netip.Addr, port uint16) bool {
		for _, t := range append(slices.Clone(taken), out...) {
			if t.Proto == proto && t.HostPort == port &&
				(!t.HostIP.IsValid() || !ip.IsValid() || t.HostIP.IsUnspecified() || ip.IsUnspecified() || t.HostIP == ip) {
				return true
			}
		}
		return false
	}
	for _, p := range keys {
		proto := string(p.Proto())
		for _, b := range pm[p] {
			ip := b.HostIP
			if ip.IsValid() && ip.IsUnspecified() {
				ip = netip.Addr{}
			}
			shown := "0.0.0.0"
			if ip.IsValid() {
				shown = ip.String()
			}
			lo, hi, err := hostPortRange(b.HostPort)
			if err != nil {
				return nil, err
			}
			var port uint16
			switch {
			case lo != 0 && lo == hi:
				if clash(proto, ip, lo) {
					return nil, Conflict("Bind for %s:%d failed: port is already allocated", shown, lo)
				}
				if err := bnet.CheckPortFree(proto, ip, lo); err != nil {
					return nil, Conflict("driver failed programming external connectivity on endpoint %s (%s): %v", r.Name, r.ID, err)
				}
				port = lo
			default:
				port, err = bnet.FreePort(proto, ip, lo, hi, func(x uint16) bool { return clash(proto, ip, x) })
				if err != nil {
					return nil, Conflict("%v", err)
				}
			}
			out = append(out, publishedPort{Proto: proto, HostIP: ip, HostPort: port, CtrPort: p.Num(), CtrIP: target.IP, Bridge: bridge})
		}
	}
	return out, nil
}

// attachEndpoints creates the interfaces of r's endpoints on the networks
// in fresh (all of them at start; the new one at a connect). The default
// route goes through the first endpoint on a network that is not internal,
// as docker's does.
func (e *Engine) attachEndpoints(r *ctrRecord, nets []*netRecord, fresh map[string]bool) error {
	var gw *endpoint
	for _, ep := range r.Net.Endpoints {
		if n := netByID(nets, ep.NetworkID); n != nil && ep.up() && !n.Internal && ep.Gateway.IsValid() {
			gw = ep
			break
		}
	}
	for _, ep := range r.Net.Endpoints {
		n := netByID(nets, ep.NetworkID)
		if n == nil || !ep.up() || !fresh[ep.NetworkID] {
			continue
		}
		i := bnet.Iface{
			Kind: "veth", Master: n.Bridge, NetNS: r.Net.NetNS, Name: ep.IfName, HostName: ep.HostIf,
			Addr: netip.PrefixFrom(ep.IP, ep.PrefixLen), Gateway: ep.Gateway, DefaultRoute: ep == gw,
			MTU: n.MTU, Mode: n.Mode,
		}
		if ep.MAC != "" {
			mac, err := net.ParseMAC(ep.MAC)
			if err != nil {
				return Invalid("invalid MAC address %s: %v", ep.MAC, err)
			}
			i.MAC = mac
		}
		switch n.Driver {
		case driverBridge:
			if err := bnet.EnsureBridge(bnet.Bridge{Name: n.Bridge, Gateway: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), MTU: n.MTU}); err != nil {
				return fmt.Errorf("network %s: bridge %s: %w", n.Name, n.Bridge, err)
			}
		case driverMacvlan, driverIPvlan:
			i.Kind, i.Master = n.Driver, n.Parent
		}
		if err := bnet.AttachIface(i); err != nil {
			return fmt.Errorf("attach container %s to network %s: %w", r.ID[:12], n.Name, err)
		}
	}
	return nil
}

func netByID(nets []*netRecord, id string) *netRecord {
	for _, n := range nets {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// writeContainerNetFiles writes r's hosts, resolv.conf and hostname, and
// its embedded DNS server's config when it is on a user-defined network.
func (e *Engine) writeContainerNetFiles(r *ctrRecord, nets []*netRecord, running bool) error {
	hostResolv := hostResolvConf()
	var records []string
	var own []bnet.HostEntry
	allInternal, anyUp := true, false
	for _, ep := range r.Net.Endpoints {
		n := netByID(nets, ep.NetworkID)
		if n == nil || !ep.up() {
			continue
		}
		anyUp, allInternal = true, allInternal && n.Internal
		if n.userDefined() {
			records = append(records, e.recordsPath(n.ID))
		}
		names := []string{r.Config.Hostname}
		if r.Config.Domainname != "" {
			names = []string{r.Config.Hostname + "." + r.Config.Domainname, r.Config.Hostname}
		}
		own = append(own, bnet.HostEntry{IP: ep.IP.String(), Names: names})
	}
	var dns []string
	for _, a := range r.HostConfig.DNS {
		dns = append(dns, a.String())
	}
	// A running container keeps the DNS server it started with (or its
	// lack of one): the monitor serves it.
	dnsConf := filepath.Join(r.Dir, dnsConfFile)
	embedded := len(records) > 0
	if running {
		embedded = dnsConfigPath(r) != ""
	}
	conf, upstream := bnet.ResolvConf(hostResolv, bnet.ResolvConfOptions{
		DNS: dns, Search: r.HostConfig.DNSSearch, Options: r.HostConfig.DNSOptions,
		Embedded: embedded,
	})
	if anyUp && allInternal {
		upstream = nil // no way out means no names from outside either (CVE-2024-29018)
	}
	if embedded {
		if err := bnet.WriteDNSConfig(dnsConf, bnet.DNSConfig{Records: records, Upstream: upstream}); err != nil {
			return err
		}
	} else if err := os.Remove(dnsConf); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var extra []bnet.HostEntry
	for _, h := range r.HostConfig.ExtraHosts {
		kv, err := parseExtraHost(h)
		if err != nil {
			return err
		}
		if kv[1] == "host-gateway" {
			kv[1] = hostGatewayOf(nets)
		}
		extra = append(extra, bnet.HostEntry{IP: kv[1], Names: []string{kv[0]}})
	}
	return e.writeEtcFiles(r, bnet.HostsFile(extra, own), conf)
}

// writeEtcFiles writes r's hosts, resolv.conf and hostname files.
func (e *Engine) writeEtcFiles(r *ctrRecord, hosts, resolv []byte) error {
	hostname := r.Config.Hostname + "\n"
	for name, b := range map[string][]byte{hostsFile: hosts, resolvFile: resolv, hostnameFile: []byte(hostname)} {
		// In place: a running container has the file bound, inode and all.
		if err := os.WriteFile(filepath.Join(r.Dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write the %s of %s: %w", name, r.ID, err)
		}
	}
	return nil
}

// dnsConfigPath is r's embedded DNS server's config ("" when none).
func dnsConfigPath(r *ctrRecord) string {
	p := filepath.Join(r.Dir, dnsConfFile)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// refreshNetworks rewrites the DNS records of the networks eps are on and
// berth's nftables table. The caller holds the network lock.
func (e *Engine) refreshNetworks(nets []*netRecord, eps []*endpoint) error {
	recs, err := e.records()
	if err != nil {
		return err
	}
	for _, ep := range eps {
		n := netByID(nets, ep.NetworkID)
		if n == nil || !n.userDefined() {
			continue
		}
		if err := e.writeRecords(n, recs); err != nil {
			return err
		}
	}
	return e.applyRules(nets, recs, false)
}

// writeRecords writes the names network n answers.
func (e *Engine) writeRecords(n *netRecord, recs []*ctrRecord) error {
	names := map[string][]netip.Addr{}
	add := func(name string, ip netip.Addr) {
		name = strings.ToLower(name)
		if name != "" && !slices.Contains(names[name], ip) {
			names[name] = append(names[name], ip)
		}
	}
	for _, r := range recs {
		ep := r.Net.endpointOf(n.ID)
		if ep == nil || !ep.up() {
			continue
		}
		for _, name := range append([]string{r.Name, r.ID[:12]}, ep.Aliases...) {
			add(name, ep.IP)
			add(name+"."+n.Name, ep.IP)
		}
	}
	if err := os.MkdirAll(filepath.Dir(e.recordsPath(n.ID)), 0o755); err != nil {
		return err
	}
	return bnet.WriteRecords(e.recordsPath(n.ID), bnet.Records{Names: names})
}

// applyRules programs berth's nftables table from the records.
func (e *Engine) applyRules(nets []*netRecord, recs []*ctrRecord, force bool) error {
	rules := bnet.Rules{Table: e.nftTable()}
	for _, n := range nets {
		if n.Driver == driverBridge {
			rules.Bridges = append(rules.Bridges, bnet.BridgeRules{Name: n.Bridge, Subnet: n.Subnet, Internal: n.Internal})
		}
	}
	for _, r := range recs {
		for _, p := range r.Net.Ports {
			rules.Ports = append(rules.Ports, bnet.PortRule{
				Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, CtrIP: p.CtrIP, CtrPort: p.CtrPort, Bridge: p.Bridge,
			})
		}
	}
	// In a stable order, so that the same rules read in another order
	// (the networks by ID here, a new one appended at its create) compare
	// equal below; the table programmed does not depend on it.
	slices.SortFunc(rules.Bridges, func(a, b bnet.BridgeRules) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(rules.Ports, func(a, b bnet.PortRule) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), a.HostIP.Compare(b.HostIP), cmp.Compare(a.HostPort, b.HostPort),
			a.CtrIP.Compare(b.CtrIP), cmp.Compare(a.CtrPort, b.CtrPort), cmp.Compare(a.Bridge, b.Bridge))
	})
	// A start or stop that changes no port and no bridge (most do not)
	// leaves the table alone: rewriting it costs the kernel a grace
	// period (~13 ms). The last table written is kept next to the
	// namespaces; a daemon's start writes it anyway.
	b, err := json.Marshal(rules)
	if err != nil {
		return err
	}
	last := filepath.Join(e.netDir(), "nftables.json")
	var prev *bnet.Rules
	if !force {
		if old, err := os.ReadFile(last); err == nil {
			if bytes.Equal(old, b) {
				return nil
			}
			var p bnet.Rules
			if json.Unmarshal(old, &p) == nil {
				prev = &p
			}
		}
	}
	os.Remove(last)
	if err := os.MkdirAll(e.netDir(), 0o700); err != nil {
		return err
	}
	apply := bnet.ApplyRules
	if prev != nil {
		// Only the published ports changed (most starts and stops that
		// change anything): their maps, not the table.
		apply = func(r bnet.Rules) error { return bnet.ApplyPorts(*prev, r) }
	}
	if err := apply(rules); err != nil {
		return fmt.Errorf("program berth's nftables table: %w", err)
	}
	return os.WriteFile(last, b, 0o600)
}

// netDown undoes netUp for container id: its interfaces, namespace,
// addresses and published ports go; its endpoints stay configured.
func (e *Engine) netDown(id string) error {
	r, err := e.load(id)
	if err != nil || !r.Net.running() {
		return nil
	}
	unlock, err := e.netLock(context.Background())
	if err != nil {
		return err
	}
	defer unlock()
	return e.netDownLocked(id)
}

func (e *Engine) netDownLocked(id string) error {
	r, err := e.load(id)
	if err != nil || !r.Net.running() {
		return nil
	}
	var errs []error
	// The interfaces go while the names and the rules are rewritten
	// without them: deleting a veth and rewriting the table each wait on
	// the kernel's grace periods, which overlap.
	eps := r.Net.Endpoints
	if _, _, err := e.mutate(id, func(x *ctrRecord) error {
		clearRun(&x.Net)
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	refreshErr := make(chan error, 1)
	go func() {
		nets, err := e.networks()
		if err == nil {
			err = e.refreshNetworks(nets, eps)
		}
		refreshErr <- err
	}()
	for _, ep := range r.Net.Endpoints {
		if ep.HostIf != "" {
			errs = append(errs, bnet.DetachIface(bnet.Iface{Kind: "veth", HostName: ep.HostIf, NetNS: r.Net.NetNS, Name: ep.IfName}))
		}
	}
	if r.Net.NetNS != "" {
		errs = append(errs, bnet.DeleteNetNS(r.Net.NetNS))
		os.Remove(e.netnsDir()) // when it was the last one
	}
	errs = append(errs, <-refreshErr)
	return errors.Join(errs...)
}

// clearRun forgets what a run set up.
func clearRun(n *ctrNet) {
	n.NetNS, n.Ports = "", nil
	for _, ep := range n.Endpoints {
		ep.IP, ep.PrefixLen, ep.Gateway, ep.MAC, ep.IfName, ep.HostIf = netip.Addr{}, 0, netip.Addr{}, "", "", ""
	}
}

// netNamespacePath is the network namespace r's spec joins: "" for a new
// one (not started yet), "-" for the host's.
func (e *Engine) netNamespacePath(r *ctrRecord) string {
	mode := r.HostConfig.NetworkMode
	switch {
	case mode.IsHost():
		return "-"
	case mode.IsContainer():
		x, err := e.load(mode.ConnectedContainer())
		if err != nil || !x.State.live() {
			return ""
		}
		if x.HostConfig.NetworkMode.IsHost() {
			return "-"
		}
		if x.Net.NetNS != "" {
			return x.Net.NetNS
		}
		if x.State.Pid > 0 {
			return "/proc/" + strconv.Itoa(x.State.Pid) + "/ns/net"
		}
		return ""
	}
	return r.Net.NetNS
}

// refreshNames rewrites the DNS records of the networks r is on (after a
// rename).
func (e *Engine) refreshNames(ctx context.Context, r *ctrRecord) error {
	unlock, err := e.netLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	nets, err := e.networks()
	if err != nil {
		return err
	}
	return e.refreshNetworks(nets, r.Net.Endpoints)
}

// hostResolvConf is the host's resolv.conf as containers should inherit
// it: behind systemd-resolved's stub (127.0.0.53), the file with the real
// servers, as docker reads it.
func hostResolvConf() []byte {
	b, _ := os.ReadFile("/etc/resolv.conf")
	if bytes.Contains(b, []byte("nameserver 127.0.0.53")) {
		if real, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			return real
		}
	}
	return b
}
