package network

// Owner: helper "link" (netns_linux.go, link_linux.go, ipam.go). Delete
// this file when the functions are implemented.

import (
	"net"
	"net/netip"
)

// NewNetNS makes a new network namespace pinned at path (a bind mount of
// the namespace file on an empty file it creates; the directory must
// exist) with its loopback up. It fails if path already exists. Nothing is
// left behind on failure.
func NewNetNS(path string) error { panic("network: NewNetNS not implemented") }

// DeleteNetNS unpins (unmounts, removes) the namespace at path; a missing
// path is not an error. The namespace, and the veth ends in it, go away
// once no process is left in it.
func DeleteNetNS(path string) error { panic("network: DeleteNetNS not implemented") }

// InNetNS runs fn on a locked OS thread that entered the network
// namespace at path (a pinned file or /proc/PID/ns/net). The thread goes
// back to the caller's namespace afterwards (or is discarded if it cannot).
func InNetNS(path string, fn func() error) error { panic("network: InNetNS not implemented") }

// Bridge is a Linux bridge for a bridge network.
type Bridge struct {
	Name string
	// Gateway is the bridge's address with the subnet's prefix length
	// (172.17.0.1/16).
	Gateway netip.Prefix
	MTU     int // 0: 1500
}

// EnsureBridge creates the bridge if it is missing, makes sure it has the
// gateway address and is up, and sets the sysctls publishing needs:
// net.ipv4.ip_forward=1 and route_localnet=1 on the bridge (so that DNAT
// of 127.0.0.1 to a container works).
func EnsureBridge(b Bridge) error { panic("network: EnsureBridge not implemented") }

// DeleteBridge removes the bridge; a missing one is not an error.
func DeleteBridge(name string) error { panic("network: DeleteBridge not implemented") }

// Iface is one interface of a container.
type Iface struct {
	// Kind is "veth" (a pair, the host end enslaved to the bridge
	// Master), "macvlan" or "ipvlan" (a link on the parent interface
	// Master, moved into the namespace).
	Kind   string
	Master string
	// Mode is the macvlan mode (bridge by default: private, vepa,
	// bridge, passthru) or the ipvlan mode (l2 by default: l2, l3, l3s).
	Mode string
	// NetNS is the path of the container's network namespace.
	NetNS string
	// Name is its name inside (eth0, eth1, ...).
	Name string
	// HostName is the name of the host end of a veth (at most 15
	// bytes); the caller derives it from the container and network.
	HostName string
	// Addr is the address with the subnet's prefix length.
	Addr netip.Prefix
	// Gateway, when valid and DefaultRoute is set, is the default route.
	Gateway      netip.Addr
	DefaultRoute bool
	// MAC: nil means MACFromIP(Addr) (docker's 02:42:... for bridges).
	MAC net.HardwareAddr
	MTU int // 0: the master's (or 1500)
}

// AttachIface creates the interface, moves it into the namespace, names
// it, gives it its address, MAC and MTU, brings it up and adds the default
// route if asked. A veth's host end is up, on the bridge, with hairpin
// mode on. On failure nothing is left (no half veth).
func AttachIface(i Iface) error { panic("network: AttachIface not implemented") }

// DetachIface removes the interface: the host end of a veth (which takes
// its peer), or the link named i.Name inside i.NetNS. A missing one is not
// an error.
func DetachIface(i Iface) error { panic("network: DetachIface not implemented") }

// LinkExists reports whether the host has a link of that name.
func LinkExists(name string) bool { panic("network: LinkExists not implemented") }

// MACFromIP is docker's MAC for an IPv4 address: 02:42 and the 4 bytes.
func MACFromIP(ip netip.Addr) net.HardwareAddr { panic("network: MACFromIP not implemented") }

// HostPrefixes lists the IPv4 prefixes the host already uses: its routes'
// destinations (but the default route) and its interfaces' addresses with
// their prefixes; the bridges berth itself made (names in ours) are left
// out so a restart does not avoid its own subnets.
func HostPrefixes(ours []string) ([]netip.Prefix, error) {
	panic("network: HostPrefixes not implemented")
}

// PickSubnet returns the first of docker's default pools that overlaps
// none of used: 172.17.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/20,
// 192.168.16.0/20 ... 192.168.240.0/20. The error says so when all are
// taken ("all predefined address pools have been fully subnetted").
func PickSubnet(used []netip.Prefix) (netip.Prefix, error) {
	panic("network: PickSubnet not implemented")
}

// Overlaps reports whether two prefixes share an address.
func Overlaps(a, b netip.Prefix) bool { panic("network: Overlaps not implemented") }

// FirstHost is the first usable address of a subnet (the default gateway).
func FirstHost(subnet netip.Prefix) netip.Addr { panic("network: FirstHost not implemented") }

// AllocIP returns the lowest address of subnet, inside ipRange when that
// is valid, that is not the subnet's network or broadcast address and not
// in used (which holds the gateway too). The error names the network
// (name) when none is left, as docker does: "no available IPv4 addresses
// on this network's address pools: NAME (ID)" (the caller adds the ID).
func AllocIP(name string, subnet, ipRange netip.Prefix, used map[netip.Addr]bool) (netip.Addr, error) {
	panic("network: AllocIP not implemented")
}
