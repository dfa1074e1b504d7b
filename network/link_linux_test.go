package network

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// handleIn is a netlink handle in the namespace pinned at path, or in the
// calling thread's when path is empty.
func handleIn(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	if path == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		return h
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// linkNames lists the links of the namespace at path ("" the thread's).
func linkNames(t *testing.T, path string) []string {
	t.Helper()
	links, err := handleIn(t, path).LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}

func wantLinks(t *testing.T, path string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := linkNames(t, path); !slices.Equal(got, want) {
		t.Errorf("links in %q: %v, want %v", path, got, want)
	}
}

// vethFixture makes a veth pair a, b in the thread's namespace, both up,
// to serve as a parent interface or a plain link with routes.
func vethFixture(t *testing.T, a, b string, mtu int) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = a
	attrs.MTU = mtu
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: b}); err != nil {
		t.Fatalf("make veth fixture %s: %v", a, err)
	}
	for _, n := range []string{a, b} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

// connect proves that a TCP connection from the namespace client reaches
// a listener on addr in the namespace server ("" is the thread's) by
// echoing a message through it.
func connect(t *testing.T, server string, addr netip.Addr, client string) {
	t.Helper()
	inNS := func(path string, fn func() error) error {
		if path == "" {
			return fn()
		}
		return InNetNS(path, fn)
	}
	var ln net.Listener
	err := inNS(server, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %q: %v", addr, server, err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute)) // against a hang only
		_, err = io.Copy(c, io.LimitReader(c, 5))
		served <- err
	}()
	var got []byte
	err = inNS(client, func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Minute)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		got, err = io.ReadAll(io.LimitReader(c, 5))
		return err
	})
	if err != nil {
		ln.Close()
		<-served
		t.Fatalf("connect from %q to %s in %q: %v", client, ln.Addr(), server, err)
	}
	if err := <-served; err != nil {
		t.Fatalf("server in %q: %v", server, err)
	}
	if string(got) != "hello" {
		t.Fatalf("echo from %s: %q", ln.Addr(), got)
	}
}

func addrsOf(t *testing.T, h *netlink.Handle, l netlink.Link) []netip.Prefix {
	t.Helper()
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		out = append(out, ipNetPrefix(a.IPNet))
	}
	return out
}

func defaultRoutes(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			l, err := h.LinkByIndex(r.LinkIndex)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r.Gw.String()+" dev "+l.Attrs().Name)
		}
	}
	return out
}

func readSysctl(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestBridgeVeth(t *testing.T) {
	throwawayNetNS(t)
	gw := netip.MustParsePrefix("10.99.0.1/24")
	br := Bridge{Name: "bt0", Gateway: gw, MTU: 1400}
	for range 2 {
		if err := EnsureBridge(br); err != nil {
			t.Fatalf("EnsureBridge: %v", err)
		}
	}
	bl, err := netlink.LinkByName("bt0")
	if err != nil {
		t.Fatal(err)
	}
	// Another address someone gave the bridge stays.
	other := netip.MustParsePrefix("10.98.7.1/24")
	if err := netlink.AddrAdd(bl, &netlink.Addr{IPNet: prefixIPNet(other)}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureBridge(br); err != nil {
		t.Fatalf("EnsureBridge again: %v", err)
	}
	if bl, err = netlink.LinkByName("bt0"); err != nil {
		t.Fatal(err)
	}
	h := handleIn(t, "")
	if got := addrsOf(t, h, bl); !slices.Equal(got, []netip.Prefix{gw, other}) {
		t.Errorf("bridge addresses %v, want %v and %v once each", got, gw, other)
	}
	if bl.Type() != "bridge" || bl.Attrs().MTU != 1400 || bl.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("bridge: type %s, MTU %d, flags %v; want an up bridge of MTU 1400", bl.Type(), bl.Attrs().MTU, bl.Attrs().Flags)
	}
	if got, want := bl.Attrs().HardwareAddr.String(), "02:42:0a:63:00:01"; got != want {
		t.Errorf("bridge MAC %s, want %s", got, want)
	}
	if v := readSysctl(t, "net/ipv4/ip_forward"); v != "1" {
		t.Errorf("ip_forward = %s", v)
	}
	if v := readSysctl(t, "net/ipv4/conf/bt0/route_localnet"); v != "1" {
		t.Errorf("route_localnet on bt0 = %s", v)
	}

	nsA, nsB := pinnedNetNS(t, "a"), pinnedNetNS(t, "b")
	a := Iface{Kind: "veth", Master: "bt0", NetNS: nsA, Name: "eth0", HostName: "vbta",
		Addr: netip.MustParsePrefix("10.99.0.2/24"), Gateway: gw.Addr(), DefaultRoute: true}
	b := Iface{Master: "bt0", NetNS: nsB, Name: "eth1", HostName: "vbtb",
		Addr: netip.MustParsePrefix("10.99.0.3/24"), Gateway: gw.Addr(),
		MAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}, MTU: 1300}
	for _, i := range []Iface{a, b} {
		if err := AttachIface(i); err != nil {
			t.Fatalf("AttachIface %s: %v", i.HostName, err)
		}
	}
	if !LinkExists("vbta") || !LinkExists("vbtb") {
		t.Fatal("LinkExists does not see the host ends")
	}
	if LinkExists("eth0") {
		t.Error("the peer eth0 is on the host")
	}
	for _, c := range []struct {
		i   Iface
		mtu int
		mac string
	}{{a, 1400, "02:42:0a:63:00:02"}, {b, 1300, "02:00:00:00:00:42"}} {
		host, err := netlink.LinkByName(c.i.HostName)
		if err != nil {
			t.Fatal(err)
		}
		if host.Attrs().MasterIndex != bl.Attrs().Index || host.Attrs().Flags&net.FlagUp == 0 || host.Attrs().MTU != c.mtu {
			t.Errorf("host end %s: master %d, flags %v, MTU %d; want up on bridge %d with MTU %d",
				c.i.HostName, host.Attrs().MasterIndex, host.Attrs().Flags, host.Attrs().MTU, bl.Attrs().Index, c.mtu)
		}
		pi, err := netlink.LinkGetProtinfo(host)
		if err != nil {
			t.Fatal(err)
		}
		if !pi.Hairpin {
			t.Errorf("hairpin mode is off on %s", c.i.HostName)
		}
		hin := handleIn(t, c.i.NetNS)
		in, err := hin.LinkByName(c.i.Name)
		if err != nil {
			t.Fatalf("%s inside: %v", c.i.Name, err)
		}
		if got := in.Attrs().HardwareAddr.String(); got != c.mac {
			t.Errorf("%s MAC %s, want %s", c.i.Name, got, c.mac)
		}
		if in.Attrs().MTU != c.mtu || in.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s: MTU %d, flags %v; want up with MTU %d", c.i.Name, in.Attrs().MTU, in.Attrs().Flags, c.mtu)
		}
		if got := addrsOf(t, hin, in); !slices.Equal(got, []netip.Prefix{c.i.Addr}) {
			t.Errorf("%s addresses %v, want %v", c.i.Name, got, c.i.Addr)
		}
		wantLinks(t, c.i.NetNS, "lo", c.i.Name)
	}
	if got, want := defaultRoutes(t, handleIn(t, nsA)), []string{"10.99.0.1 dev eth0"}; !slices.Equal(got, want) {
		t.Errorf("default routes in a: %v, want %v", got, want)
	}
	if got := defaultRoutes(t, handleIn(t, nsB)); len(got) != 0 {
		t.Errorf("default routes in b without DefaultRoute: %v", got)
	}

	connect(t, nsA, a.Addr.Addr(), nsB)
	connect(t, nsB, b.Addr.Addr(), nsA)
	connect(t, nsA, a.Addr.Addr(), "")
	connect(t, "", gw.Addr(), nsA)

	// Attaching again fails and leaves the working one alone.
	if err := AttachIface(a); err == nil {
		t.Error("AttachIface of an existing host end succeeded")
	}
	connect(t, nsA, a.Addr.Addr(), nsB)

	for _, i := range []Iface{a, b} {
		if err := DetachIface(i); err != nil {
			t.Fatalf("DetachIface %s: %v", i.HostName, err)
		}
		if LinkExists(i.HostName) {
			t.Errorf("%s is still there", i.HostName)
		}
		wantLinks(t, i.NetNS, "lo")
		if err := DetachIface(i); err != nil {
			t.Errorf("DetachIface of a missing %s: %v", i.HostName, err)
		}
	}
	wantLinks(t, "", "lo", "bt0")
	if err := DeleteBridge("bt0"); err != nil {
		t.Fatalf("DeleteBridge: %v", err)
	}
	if err := DeleteBridge("bt0"); err != nil {
		t.Errorf("DeleteBridge of a missing bridge: %v", err)
	}
	wantLinks(t, "", "lo")
}

func TestBridgeNotABridge(t *testing.T) {
	throwawayNetNS(t)
	vethFixture(t, "nb0", "nb1", 1500)
	if err := EnsureBridge(Bridge{Name: "nb0", Gateway: netip.MustParsePrefix("10.95.0.1/24")}); err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Errorf("EnsureBridge on a veth: %v, want it to say it is not a bridge", err)
	}
	if err := DeleteBridge("nb0"); err == nil {
		t.Error("DeleteBridge deleted a veth")
	}
	if err := DetachIface(Iface{Kind: "veth", HostName: "lo"}); err == nil {
		t.Error("DetachIface deleted a link that is not a veth")
	}
	wantLinks(t, "", "lo", "nb0", "nb1")
}

func TestAttachFailureLeavesNothing(t *testing.T) {
	throwawayNetNS(t)
	ns := pinnedNetNS(t, "c")
	gw := netip.MustParsePrefix("10.97.0.1/24")
	if err := EnsureBridge(Bridge{Name: "bf0", Gateway: gw}); err != nil {
		t.Fatal(err)
	}
	vethFixture(t, "pf0", "pf1", 1500)
	ok := Iface{Kind: "veth", Master: "bf0", NetNS: ns, Name: "eth0", HostName: "vfail0",
		Addr: netip.MustParsePrefix("10.97.0.2/24"), Gateway: gw.Addr(), DefaultRoute: true}
	cases := []struct {
		name string
		edit func(i *Iface)
		want string
	}{
		{"missing bridge", func(i *Iface) { i.Master = "nobr0" }, "bridge nobr0"},
		{"master not a bridge", func(i *Iface) { i.Master = "pf0" }, "not a bridge"},
		{"host name too long", func(i *Iface) { i.HostName = "a-very-long-name0" }, "must be 1 to 15 bytes"},
		{"no host name", func(i *Iface) { i.HostName = "" }, "must be 1 to 15 bytes"},
		{"unknown kind", func(i *Iface) { i.Kind = "tap" }, `unknown interface kind "tap"`},
		{"missing netns", func(i *Iface) { i.NetNS += "-missing" }, "no such file"},
		// These fail once the links exist: the cleanup must undo them.
		{"gateway off-link", func(i *Iface) { i.Gateway = netip.MustParseAddr("192.0.2.1") }, "default route"},
		{"macvlan gateway off-link", func(i *Iface) {
			i.Kind, i.Master, i.HostName = "macvlan", "pf0", ""
			i.Gateway = netip.MustParseAddr("192.0.2.1")
		}, "default route"},
		{"macvlan bad mode", func(i *Iface) { i.Kind, i.Master, i.Mode = "macvlan", "pf0", "l2" }, "invalid macvlan mode"},
		{"macvlan missing parent", func(i *Iface) { i.Kind, i.Master = "macvlan", "nopf0" }, "parent interface nopf0"},
		{"ipvlan bad mode", func(i *Iface) { i.Kind, i.Master, i.Mode = "ipvlan", "pf0", "bridge" }, "invalid ipvlan mode"},
	}
	for _, c := range cases {
		i := ok
		c.edit(&i)
		err := AttachIface(i)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: AttachIface returned %v, want an error saying %q", c.name, err, c.want)
		}
		wantLinks(t, "", "lo", "bf0", "pf0", "pf1")
		wantLinks(t, ns, "lo")
	}
	// A name already taken inside: the new link goes, the old one stays.
	if err := AttachIface(ok); err != nil {
		t.Fatal(err)
	}
	second := ok
	second.HostName = "vfail1"
	if err := AttachIface(second); err == nil {
		t.Error("AttachIface with a name taken inside succeeded")
	}
	mv := ok
	mv.Kind, mv.Master, mv.HostName = "macvlan", "pf0", ""
	if err := AttachIface(mv); err == nil || !strings.Contains(err.Error(), "rename") {
		t.Errorf("macvlan with a name taken inside: %v, want a rename error", err)
	}
	wantLinks(t, "", "lo", "bf0", "pf0", "pf1", "vfail0")
	wantLinks(t, ns, "lo", "eth0")
	if err := DetachIface(ok); err != nil {
		t.Fatal(err)
	}
	wantLinks(t, ns, "lo")
}

func TestMacvlan(t *testing.T) {
	throwawayNetNS(t)
	vethFixture(t, "mvp0", "mvp1", 1450)
	nsA, nsB := pinnedNetNS(t, "a"), pinnedNetNS(t, "b")
	a := Iface{Kind: "macvlan", Master: "mvp0", NetNS: nsA, Name: "eth0", Addr: netip.MustParsePrefix("10.96.0.2/24"),
		Gateway: netip.MustParseAddr("10.96.0.1"), DefaultRoute: true}
	b := Iface{Kind: "macvlan", Master: "mvp0", Mode: "bridge", NetNS: nsB, Name: "eth0", Addr: netip.MustParsePrefix("10.96.0.3/24"),
		MAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x07}, MTU: 1400}
	for _, i := range []Iface{a, b} {
		if err := AttachIface(i); err != nil {
			t.Fatalf("AttachIface %s: %v", i.NetNS, err)
		}
	}
	wantLinks(t, "", "lo", "mvp0", "mvp1")
	for _, c := range []struct {
		i   Iface
		mtu int
		mac string
	}{{a, 1450, "02:42:0a:60:00:02"}, {b, 1400, "02:00:00:00:00:07"}} {
		h := handleIn(t, c.i.NetNS)
		l, err := h.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		mv, ok := l.(*netlink.Macvlan)
		if !ok || mv.Mode != netlink.MACVLAN_MODE_BRIDGE {
			t.Errorf("eth0 in %s is %T %+v, want a macvlan in bridge mode", c.i.NetNS, l, l)
		}
		if got := l.Attrs().HardwareAddr.String(); got != c.mac || l.Attrs().MTU != c.mtu || l.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("eth0 in %s: MAC %s, MTU %d, flags %v; want up, %s, MTU %d", c.i.NetNS, got, l.Attrs().MTU, l.Attrs().Flags, c.mac, c.mtu)
		}
		if got := addrsOf(t, h, l); !slices.Equal(got, []netip.Prefix{c.i.Addr}) {
			t.Errorf("addresses %v, want %v", got, c.i.Addr)
		}
		wantLinks(t, c.i.NetNS, "lo", "eth0")
	}
	if got, want := defaultRoutes(t, handleIn(t, nsA)), []string{"10.96.0.1 dev eth0"}; !slices.Equal(got, want) {
		t.Errorf("default routes in a: %v, want %v", got, want)
	}
	connect(t, nsA, a.Addr.Addr(), nsB)
	connect(t, nsB, b.Addr.Addr(), nsA)
	for _, i := range []Iface{a, b} {
		if err := DetachIface(i); err != nil {
			t.Fatalf("DetachIface: %v", err)
		}
		wantLinks(t, i.NetNS, "lo")
		if err := DetachIface(i); err != nil {
			t.Errorf("DetachIface of a missing macvlan: %v", err)
		}
	}
	// Gone namespaces: nothing to detach.
	gone := a
	gone.NetNS = nsA + "-missing"
	if err := DetachIface(gone); err != nil {
		t.Errorf("DetachIface in a missing netns: %v", err)
	}
	plain := t.TempDir() + "/plain"
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	gone.NetNS = plain
	if err := DetachIface(gone); err != nil {
		t.Errorf("DetachIface in an unpinned netns file: %v", err)
	}
	wantLinks(t, "", "lo", "mvp0", "mvp1")
}

func TestIPvlan(t *testing.T) {
	throwawayNetNS(t)
	vethFixture(t, "ivp0", "ivp1", 1500)
	nsA, nsB := pinnedNetNS(t, "a"), pinnedNetNS(t, "b")
	a := Iface{Kind: "ipvlan", Master: "ivp0", NetNS: nsA, Name: "eth0", Addr: netip.MustParsePrefix("10.94.0.2/24")}
	b := Iface{Kind: "ipvlan", Master: "ivp0", Mode: "l2", NetNS: nsB, Name: "eth0", Addr: netip.MustParsePrefix("10.94.0.3/24")}
	err := AttachIface(a)
	if err != nil {
		if !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "ipvlan is not supported by this kernel") {
			t.Fatalf("AttachIface ipvlan: %v", err)
		}
		wantLinks(t, "", "lo", "ivp0", "ivp1")
		wantLinks(t, nsA, "lo")
		t.Skip(err)
	}
	if err := AttachIface(b); err != nil {
		t.Fatal(err)
	}
	parent, err := netlink.LinkByName("ivp0")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []Iface{a, b} {
		l, err := handleIn(t, i.NetNS).LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := l.(*netlink.IPVlan); !ok {
			t.Errorf("eth0 is a %s, want ipvlan", l.Type())
		}
		if !bytes.Equal(l.Attrs().HardwareAddr, parent.Attrs().HardwareAddr) {
			t.Errorf("ipvlan MAC %s, want the parent's %s", l.Attrs().HardwareAddr, parent.Attrs().HardwareAddr)
		}
	}
	connect(t, nsA, a.Addr.Addr(), nsB)
	for _, i := range []Iface{a, b} {
		if err := DetachIface(i); err != nil {
			t.Fatal(err)
		}
		wantLinks(t, i.NetNS, "lo")
	}
	wantLinks(t, "", "lo", "ivp0", "ivp1")
}

func TestHostPrefixes(t *testing.T) {
	throwawayNetNS(t)
	if err := EnsureBridge(Bridge{Name: "hp0", Gateway: netip.MustParsePrefix("10.77.0.1/24")}); err != nil {
		t.Fatal(err)
	}
	// A port gives the bridge a carrier, so a route through it can be
	// added.
	vethFixture(t, "hpp0", "hpp1", 1500)
	hp0, err := netlink.LinkByName("hp0")
	if err != nil {
		t.Fatal(err)
	}
	hpp0, err := netlink.LinkByName("hpp0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetMaster(hpp0, hp0); err != nil {
		t.Fatal(err)
	}
	vethFixture(t, "hpv0", "hpv1", 1500)
	hpv0, err := netlink.LinkByName("hpv0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(hpv0, &netlink.Addr{IPNet: prefixIPNet(netip.MustParsePrefix("10.66.5.1/24"))}); err != nil {
		t.Fatal(err)
	}
	route := func(dst, via string, link netlink.Link) {
		t.Helper()
		err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index,
			Dst: prefixIPNet(netip.MustParsePrefix(dst)), Gw: net.ParseIP(via)})
		if err != nil {
			t.Fatalf("route %s via %s: %v", dst, via, err)
		}
	}
	route("10.55.0.0/16", "10.66.5.254", hpv0)
	route("0.0.0.0/0", "10.66.5.254", hpv0)
	route("10.44.0.0/16", "10.77.0.254", hp0)

	got, err := HostPrefixes([]string{"hp0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.55.0.0/16"),
		netip.MustParsePrefix("10.66.5.0/24"),
		netip.MustParsePrefix("127.0.0.0/8"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("HostPrefixes(hp0) = %v, want %v", got, want)
	}
	got, err = HostPrefixes(nil)
	if err != nil {
		t.Fatal(err)
	}
	want = []netip.Prefix{
		netip.MustParsePrefix("10.44.0.0/16"),
		netip.MustParsePrefix("10.55.0.0/16"),
		netip.MustParsePrefix("10.66.5.0/24"),
		netip.MustParsePrefix("10.77.0.0/24"),
		netip.MustParsePrefix("127.0.0.0/8"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("HostPrefixes(nil) = %v, want %v", got, want)
	}
}

func TestMACFromIP(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"172.17.0.2", "02:42:ac:11:00:02"},
		{"10.0.255.1", "02:42:0a:00:ff:01"},
		{"::ffff:192.168.0.9", "02:42:c0:a8:00:09"},
	} {
		if got := MACFromIP(netip.MustParseAddr(c.ip)).String(); got != c.want {
			t.Errorf("MACFromIP(%s) = %s, want %s", c.ip, got, c.want)
		}
	}
	if got := MACFromIP(netip.MustParseAddr("fd00::1")); got != nil {
		t.Errorf("MACFromIP of IPv6 = %s, want nil", got)
	}
}
