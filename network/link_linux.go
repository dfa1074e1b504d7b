package network

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

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
//
// A bridge it creates gets MACFromIP of the gateway as its MAC, so that
// the gateway's MAC does not change as ports come and go (the kernel
// would otherwise take the lowest port's) nor when the bridge is made
// again after a restart. Addresses the bridge already has are kept.
func EnsureBridge(b Bridge) error {
	mtu := b.MTU
	if mtu == 0 {
		mtu = 1500
	}
	link, err := netlink.LinkByName(b.Name)
	if isNotFound(err) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = b.Name
		attrs.MTU = mtu
		if b.Gateway.IsValid() {
			attrs.HardwareAddr = MACFromIP(b.Gateway.Addr())
		}
		err = netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", b.Name, err)
		}
		link, err = netlink.LinkByName(b.Name)
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", b.Name, err)
	}
	if link.Type() != "bridge" {
		return fmt.Errorf("bridge %s: a link of that name exists and is a %s, not a bridge", b.Name, link.Type())
	}
	if link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("set MTU %d on bridge %s: %w", mtu, b.Name, err)
		}
	}
	if b.Gateway.IsValid() {
		addrs, err := dump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_ALL) })
		if err != nil {
			return fmt.Errorf("list addresses of bridge %s: %w", b.Name, err)
		}
		has := slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return ipNetPrefix(a.IPNet) == b.Gateway })
		if !has {
			err := netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixIPNet(b.Gateway)})
			if err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("add address %s to bridge %s: %w", b.Gateway, b.Name, err)
			}
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set bridge %s up: %w", b.Name, err)
	}
	if err := setSysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	return setSysctl("net/ipv4/conf/"+b.Name+"/route_localnet", "1")
}

// DeleteBridge removes the bridge; a missing one is not an error. A link
// of that name that is not a bridge is left alone (an error).
func DeleteBridge(name string) error {
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return fmt.Errorf("delete bridge %s: it is a %s, not a bridge", name, link.Type())
	}
	if err := netlink.LinkDel(link); err != nil && !isNotFound(err) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// Iface is one interface of a container.
type Iface struct {
	// Kind is "veth" (a pair, the host end enslaved to the bridge
	// Master), "macvlan" or "ipvlan" (a link on the parent interface
	// Master, moved into the namespace). Empty means veth.
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
	// An ipvlan has its parent's MAC; MAC is ignored for it.
	MAC net.HardwareAddr
	MTU int // 0: the master's (or 1500)
}

// AttachIface creates the interface, moves it into the namespace, names
// it, gives it its address, MAC and MTU, brings it up and adds the default
// route if asked. A veth's host end is up, on the bridge, with hairpin
// mode on. On failure nothing is left (no half veth).
//
// A kind the kernel lacks fails with an error that says so ("ipvlan is
// not supported by this kernel") and wraps the kernel's (EOPNOTSUPP).
func AttachIface(i Iface) error {
	if i.Name == "" || i.NetNS == "" {
		return fmt.Errorf("attach interface: the name inside (%q) and the netns (%q) are required", i.Name, i.NetNS)
	}
	ns, err := netns.GetFromPath(i.NetNS)
	if err != nil {
		return fmt.Errorf("attach %s: open netns %s: %w", i.Name, i.NetNS, err)
	}
	defer ns.Close()
	switch i.Kind {
	case "veth", "":
		err = attachVeth(i, ns)
	case "macvlan", "ipvlan":
		err = attachSub(i, ns)
	default:
		err = fmt.Errorf("unknown interface kind %q", i.Kind)
	}
	if err != nil {
		return fmt.Errorf("attach %s in %s: %w", i.Name, i.NetNS, err)
	}
	return nil
}

func attachVeth(i Iface, ns netns.NsHandle) error {
	if i.HostName == "" || len(i.HostName) > unix.IFNAMSIZ-1 {
		return fmt.Errorf("veth host name %q: must be 1 to %d bytes", i.HostName, unix.IFNAMSIZ-1)
	}
	master, err := netlink.LinkByName(i.Master)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", i.Master, err)
	}
	if master.Type() != "bridge" {
		return fmt.Errorf("%s is a %s, not a bridge", i.Master, master.Type())
	}
	mtu := cmp.Or(i.MTU, master.Attrs().MTU, 1500)
	attrs := netlink.NewLinkAttrs()
	attrs.Name = i.HostName
	attrs.MTU = mtu
	// The peer is made right in the namespace under its final name: the
	// host never sees it, and its name is checked only there.
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         i.Name,
		PeerHardwareAddr: ifaceMAC(i),
		PeerNamespace:    netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth pair %s (peer %s inside): %w", i.HostName, i.Name, err)
	}
	host, err := netlink.LinkByName(i.HostName)
	if err == nil {
		err = setupHostEnd(host, master)
	}
	if err == nil {
		err = setupInside(i, ns, i.Name)
	}
	if err != nil {
		// The peer goes with the host end.
		if host != nil {
			netlink.LinkDel(host)
		} else {
			netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: i.HostName}})
		}
		return err
	}
	return nil
}

func setupHostEnd(host, master netlink.Link) error {
	name := host.Attrs().Name
	if err := netlink.LinkSetMaster(host, master); err != nil {
		return fmt.Errorf("put %s on bridge %s: %w", name, master.Attrs().Name, err)
	}
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("set hairpin mode on %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

func attachSub(i Iface, ns netns.NsHandle) error {
	parent, err := netlink.LinkByName(i.Master)
	if err != nil {
		return fmt.Errorf("parent interface %s: %w", i.Master, err)
	}
	// Made in the namespace under a temporary name: the kernel looks a
	// new link's name up in the caller's namespace too, where the
	// final name (eth0) may well exist.
	tmp := tempName()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = tmp
	attrs.ParentIndex = parent.Attrs().Index
	attrs.MTU = cmp.Or(i.MTU, parent.Attrs().MTU, 1500)
	attrs.Namespace = netlink.NsFd(int(ns))
	var link netlink.Link
	switch i.Kind {
	case "macvlan":
		mode, ok := macvlanModes[cmp.Or(i.Mode, "bridge")]
		if !ok {
			return fmt.Errorf("invalid macvlan mode %q (private, vepa, bridge or passthru)", i.Mode)
		}
		attrs.HardwareAddr = ifaceMAC(i)
		link = &netlink.Macvlan{LinkAttrs: attrs, Mode: mode}
	default:
		mode, ok := ipvlanModes[cmp.Or(i.Mode, "l2")]
		if !ok {
			return fmt.Errorf("invalid ipvlan mode %q (l2, l3 or l3s)", i.Mode)
		}
		link = &netlink.IPVlan{LinkAttrs: attrs, Mode: mode}
	}
	if err := netlink.LinkAdd(link); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("%s is not supported by this kernel: %w", i.Kind, err)
		}
		return fmt.Errorf("create %s on %s: %w", i.Kind, i.Master, err)
	}
	if err := setupInside(i, ns, tmp); err != nil {
		if h, herr := netlink.NewHandleAt(ns); herr == nil {
			for _, name := range []string{tmp, i.Name} {
				if l, lerr := h.LinkByName(name); lerr == nil && l.Type() == i.Kind && l.Attrs().ParentIndex == parent.Attrs().Index {
					h.LinkDel(l)
					break
				}
			}
			h.Close()
		}
		return err
	}
	return nil
}

// setupInside finishes the link (named cur) inside the namespace: name,
// address, up, default route.
func setupInside(i Iface, ns netns.NsHandle, cur string) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns %s: %w", i.NetNS, err)
	}
	defer h.Close()
	link, err := h.LinkByName(cur)
	if err != nil {
		return fmt.Errorf("find %s in netns: %w", cur, err)
	}
	if cur != i.Name {
		if err := h.LinkSetName(link, i.Name); err != nil {
			return fmt.Errorf("rename %s to %s: %w", cur, i.Name, err)
		}
	}
	if i.Addr.IsValid() {
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: prefixIPNet(i.Addr)}); err != nil {
			return fmt.Errorf("add address %s to %s: %w", i.Addr, i.Name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", i.Name, err)
	}
	if i.DefaultRoute && i.Gateway.IsValid() {
		bits := i.Gateway.BitLen()
		route := &netlink.Route{
			LinkIndex: link.Attrs().Index,
			Dst:       &net.IPNet{IP: make(net.IP, bits/8), Mask: net.CIDRMask(0, bits)},
			Gw:        net.IP(i.Gateway.AsSlice()),
		}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("add default route via %s on %s: %w", i.Gateway, i.Name, err)
		}
	}
	return nil
}

// DetachIface removes the interface: the host end of a veth (which takes
// its peer), or the link named i.Name inside i.NetNS. A missing one is not
// an error.
func DetachIface(i Iface) error {
	if (i.Kind == "veth" || i.Kind == "") && i.HostName != "" {
		link, err := netlink.LinkByName(i.HostName)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("detach %s: %w", i.HostName, err)
		}
		if link.Type() != "veth" {
			return fmt.Errorf("detach %s: it is a %s, not a veth", i.HostName, link.Type())
		}
		if err := netlink.LinkDel(link); err != nil && !isNotFound(err) && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("delete veth %s: %w", i.HostName, err)
		}
		return nil
	}
	if i.NetNS == "" || i.Name == "" {
		return nil
	}
	ns, err := netns.GetFromPath(i.NetNS)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach %s: open netns %s: %w", i.Name, i.NetNS, err)
	}
	defer ns.Close()
	// A file that is no longer a pinned namespace: the namespace, and the
	// link, are gone.
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(ns), &st); err != nil {
		return fmt.Errorf("detach %s: statfs %s: %w", i.Name, i.NetNS, err)
	}
	if st.Type != unix.NSFS_MAGIC {
		return nil
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("detach %s: netlink in netns %s: %w", i.Name, i.NetNS, err)
	}
	defer h.Close()
	link, err := h.LinkByName(i.Name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach %s in %s: %w", i.Name, i.NetNS, err)
	}
	if err := h.LinkDel(link); err != nil && !isNotFound(err) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s in %s: %w", i.Name, i.NetNS, err)
	}
	return nil
}

// LinkExists reports whether the host has a link of that name.
func LinkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// LinkAddr returns the first IPv4 address of link name, with its prefix
// length (172.17.0.1/16); ok is false when the link is missing or has
// none. An engine that finds its default bridge already made (by an
// earlier data root, or by hand) takes its subnet from it, as docker does
// with docker0.
func LinkAddr(name string) (addr netip.Prefix, ok bool) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return netip.Prefix{}, false
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(addrs[0].IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := addrs[0].Mask.Size()
	return netip.PrefixFrom(ip, bits), true
}

// MACFromIP is docker's MAC for an IPv4 address: 02:42 and the 4 bytes.
// It is nil for an address that is not IPv4.
func MACFromIP(ip netip.Addr) net.HardwareAddr {
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil
	}
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// HostPrefixes lists the IPv4 prefixes the host already uses: its routes'
// destinations (but the default route) and its interfaces' addresses with
// their prefixes; the bridges berth itself made (names in ours) are left
// out so a restart does not avoid its own subnets.
//
// The routes are those of the main table. The prefixes are masked,
// sorted and without duplicates.
func HostPrefixes(ours []string) ([]netip.Prefix, error) {
	links, err := dump(netlink.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	skip := map[int]bool{}
	for _, l := range links {
		if slices.Contains(ours, l.Attrs().Name) {
			skip[l.Attrs().Index] = true
		}
	}
	seen := map[netip.Prefix]bool{}
	routes, err := dump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || skip[r.LinkIndex] {
			continue
		}
		if p := ipNetPrefix(r.Dst); p.IsValid() && p.Bits() > 0 {
			seen[p.Masked()] = true
		}
	}
	addrs, err := dump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if skip[a.LinkIndex] {
			continue
		}
		if p := ipNetPrefix(a.IPNet); p.IsValid() {
			seen[p.Masked()] = true
		}
	}
	out := make([]netip.Prefix, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return out, nil
}

var macvlanModes = map[string]netlink.MacvlanMode{
	"private":  netlink.MACVLAN_MODE_PRIVATE,
	"vepa":     netlink.MACVLAN_MODE_VEPA,
	"bridge":   netlink.MACVLAN_MODE_BRIDGE,
	"passthru": netlink.MACVLAN_MODE_PASSTHRU,
}

var ipvlanModes = map[string]netlink.IPVlanMode{
	"l2":  netlink.IPVLAN_MODE_L2,
	"l3":  netlink.IPVLAN_MODE_L3,
	"l3s": netlink.IPVLAN_MODE_L3S,
}

// ifaceMAC is the MAC an interface gets: its own, or MACFromIP of its
// address (nil, the kernel's random one, when it has no IPv4 address).
func ifaceMAC(i Iface) net.HardwareAddr {
	if i.MAC != nil {
		return i.MAC
	}
	if i.Addr.IsValid() {
		return MACFromIP(i.Addr.Addr())
	}
	return nil
}

// tempName is a link name no one else uses: "tmp" and 12 hex digits.
func tempName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "tmp" + hex.EncodeToString(b)
}

// dump retries a netlink dump the kernel interrupted (the table changed
// while it was read), so that callers get a consistent list.
func dump[T any](list func() ([]T, error)) ([]T, error) {
	for n := 0; ; n++ {
		v, err := list()
		if errors.Is(err, netlink.ErrDumpInterrupted) && n < 10 {
			continue
		}
		return v, err
	}
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// ipNetPrefix is n as a prefix keeping its address (not masked); invalid
// for nil or a malformed n.
func ipNetPrefix(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}
	}
	a = a.Unmap()
	if bits == 128 && a.Is4() {
		ones -= 96
	}
	return netip.PrefixFrom(a, ones)
}

// setSysctl writes val to /proc/sys/name unless it already holds it (so
// that a read-only /proc/sys that is already right is no error).
func setSysctl(name, val string) error {
	path := "/proc/sys/" + name
	if cur, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(cur)) == val {
		return nil
	}
	if err := os.WriteFile(path, []byte(val), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), val, err)
	}
	return nil
}
