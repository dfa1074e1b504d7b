package network

import (
	"net/netip"
	"strings"
	"testing"
)

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestPickSubnet(t *testing.T) {
	all := func() []netip.Prefix {
		return append([]netip.Prefix(nil), defaultPools...)
	}
	for _, c := range []struct {
		name string
		used []netip.Prefix
		want string
	}{
		{"nothing used", nil, "172.17.0.0/16"},
		{"docker0 taken", prefixes("172.17.0.0/16"), "172.18.0.0/16"},
		{"a small route inside the first pools", prefixes("172.17.5.0/24", "172.18.255.255/32"), "172.19.0.0/16"},
		{"a wide route covers all 172 pools", prefixes("172.16.0.0/12"), "192.168.0.0/20"},
		{"a LAN in the first 192.168 pool", prefixes("172.16.0.0/12", "192.168.1.0/24"), "192.168.16.0/20"},
		{"unrelated prefixes", prefixes("10.0.0.0/8", "127.0.0.0/8", "172.16.0.0/16", "172.32.0.0/16"), "172.17.0.0/16"},
		{"IPv6 never collides", prefixes("::/0"), "172.17.0.0/16"},
		{"all but the last", all()[:len(defaultPools)-1], "192.168.240.0/20"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := PickSubnet(c.used)
			if err != nil || got.String() != c.want {
				t.Errorf("PickSubnet = %v, %v; want %s", got, err, c.want)
			}
		})
	}
	for _, used := range [][]netip.Prefix{all(), prefixes("0.0.0.0/0"), prefixes("172.16.0.0/12", "192.168.0.0/16")} {
		if got, err := PickSubnet(used); err == nil || err.Error() != "all predefined address pools have been fully subnetted" {
			t.Errorf("PickSubnet(%v) = %v, %v; want the pools-exhausted error", used, got, err)
		}
	}
	if n := len(defaultPools); n != 31 {
		t.Errorf("%d default pools, want 15 /16s and 16 /20s", n)
	}
}

func TestOverlaps(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/24", "10.0.0.0/24", true},
		{"10.0.0.0/8", "10.200.3.0/24", true},
		{"10.200.3.0/24", "10.0.0.0/8", true},
		{"10.0.0.0/24", "10.0.1.0/24", false},     // adjacent
		{"10.0.0.0/25", "10.0.0.128/25", false},   // halves
		{"10.0.0.255/32", "10.0.0.0/24", true},    // the broadcast address
		{"10.0.1.0/32", "10.0.0.0/24", false},     // just past the end
		{"0.0.0.0/0", "192.168.3.4/32", true},     // default route
		{"10.0.0.77/24", "10.0.0.200/30", true},   // unmasked
		{"172.17.0.1/16", "172.18.0.1/16", false}, // unmasked, disjoint
		{"10.0.0.0/8", "::ffff:10.0.0.0/104", false},
		{"::/0", "10.0.0.0/8", false},
		{"fd00::/64", "fd00::1/128", true},
	} {
		a, b := netip.MustParsePrefix(c.a), netip.MustParsePrefix(c.b)
		if got := Overlaps(a, b); got != c.want {
			t.Errorf("Overlaps(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	if Overlaps(netip.Prefix{}, netip.MustParsePrefix("0.0.0.0/0")) || Overlaps(netip.MustParsePrefix("0.0.0.0/0"), netip.Prefix{}) {
		t.Error("an invalid prefix overlaps")
	}
}

func TestFirstHost(t *testing.T) {
	for _, c := range []struct{ subnet, want string }{
		{"172.17.0.0/16", "172.17.0.1"},
		{"172.17.3.9/16", "172.17.0.1"},
		{"192.168.16.0/20", "192.168.16.1"},
		{"10.0.0.4/30", "10.0.0.5"},
		{"10.0.0.4/31", "10.0.0.4"},
		{"10.0.0.4/32", "10.0.0.4"},
		{"fd00::/64", "fd00::1"},
	} {
		if got := FirstHost(netip.MustParsePrefix(c.subnet)); got.String() != c.want {
			t.Errorf("FirstHost(%s) = %s, want %s", c.subnet, got, c.want)
		}
	}
	if got := FirstHost(netip.Prefix{}); got.IsValid() {
		t.Errorf("FirstHost of an invalid prefix = %s", got)
	}
}

func addrSet(s ...string) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, a := range s {
		m[netip.MustParseAddr(a)] = true
	}
	return m
}

func TestAllocIP(t *testing.T) {
	const exhausted = "no available IPv4 addresses on this network's address pools: net1"
	for _, c := range []struct {
		name           string
		subnet, range_ string
		used           map[netip.Addr]bool
		want, err      string
	}{
		{name: "first after the gateway", subnet: "172.18.0.0/16", used: addrSet("172.18.0.1"), want: "172.18.0.2"},
		{name: "nothing used", subnet: "172.18.0.0/16", want: "172.18.0.1"},
		{name: "fills a hole", subnet: "10.1.0.0/24", used: addrSet("10.1.0.1", "10.1.0.2", "10.1.0.4"), want: "10.1.0.3"},
		{name: "false entries are free", subnet: "10.1.0.0/24", used: map[netip.Addr]bool{netip.MustParseAddr("10.1.0.1"): false}, want: "10.1.0.1"},
		{name: "used outside the subnet ignored", subnet: "10.1.0.0/24", used: addrSet("10.1.1.1", "10.0.0.1", "fd00::1", "::ffff:10.1.0.1"), want: "10.1.0.1"},
		{name: "unmasked subnet", subnet: "10.1.0.77/24", used: addrSet("10.1.0.1"), want: "10.1.0.2"},
		{name: "in range", subnet: "10.2.0.0/16", range_: "10.2.5.0/24", used: addrSet("10.2.0.1", "10.2.5.0"), want: "10.2.5.1"},
		{name: "range at the subnet's start skips the network address", subnet: "10.2.0.0/16", range_: "10.2.0.0/24", want: "10.2.0.1"},
		{name: "range is the whole subnet", subnet: "10.2.0.0/30", range_: "10.2.0.0/30", used: addrSet("10.2.0.1"), want: "10.2.0.2"},
		{name: "range full", subnet: "10.2.0.0/16", range_: "10.2.5.0/30", used: addrSet("10.2.5.0", "10.2.5.1", "10.2.5.2", "10.2.5.3"), err: exhausted},
		{name: "range only the broadcast", subnet: "10.2.0.0/24", range_: "10.2.0.255/32", err: exhausted},
		{name: "range outside", subnet: "10.2.0.0/16", range_: "10.3.0.0/24", err: "ip range 10.3.0.0/24 is not inside subnet 10.2.0.0/16"},
		{name: "range wider", subnet: "10.2.0.0/16", range_: "10.0.0.0/8", err: "is not inside subnet"},
		{name: "range of another family", subnet: "10.2.0.0/16", range_: "fd00::/64", err: "is not inside subnet"},
		{name: "/30 full", subnet: "10.3.0.0/30", used: addrSet("10.3.0.1", "10.3.0.2"), err: exhausted},
		{name: "/30 never the broadcast", subnet: "10.3.0.0/30", used: addrSet("10.3.0.1"), want: "10.3.0.2"},
		{name: "/31 uses both", subnet: "10.3.0.0/31", used: addrSet("10.3.0.0"), want: "10.3.0.1"},
		{name: "/31 full", subnet: "10.3.0.0/31", used: addrSet("10.3.0.0", "10.3.0.1"), err: exhausted},
		{name: "/32", subnet: "10.3.0.9/32", want: "10.3.0.9"},
		{name: "/32 used", subnet: "10.3.0.9/32", used: addrSet("10.3.0.9"), err: exhausted},
		{name: "top of the address space", subnet: "255.255.255.254/31", used: addrSet("255.255.255.254"), want: "255.255.255.255"},
		{name: "top of the address space full", subnet: "255.255.255.254/31", used: addrSet("255.255.255.254", "255.255.255.255"), err: exhausted},
		{name: "IPv6", subnet: "fd00::/120", used: addrSet("fd00::1"), want: "fd00::2"},
		{name: "invalid subnet", err: "no valid subnet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var subnet, r netip.Prefix
			if c.subnet != "" {
				subnet = netip.MustParsePrefix(c.subnet)
			}
			if c.range_ != "" {
				r = netip.MustParsePrefix(c.range_)
			}
			got, err := AllocIP("net1", subnet, r, c.used)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("AllocIP = %v, %v; want an error with %q", got, err, c.err)
				}
				return
			}
			if err != nil || got.String() != c.want {
				t.Errorf("AllocIP = %v, %v; want %s", got, err, c.want)
			}
		})
	}
}

// A /16 with nearly every address used: one allocation sorts the used
// ones once instead of probing address by address.
func TestAllocIPLargeSubnet(t *testing.T) {
	subnet := netip.MustParsePrefix("172.20.0.0/16")
	used := map[netip.Addr]bool{}
	free, _ := usable(subnet)
	for a := free; subnet.Contains(a); a = a.Next() {
		used[a] = true
	}
	hole := netip.MustParseAddr("172.20.200.17")
	delete(used, hole)
	got, err := AllocIP("big", subnet, netip.Prefix{}, used)
	if err != nil || got != hole {
		t.Fatalf("AllocIP = %v, %v; want the one free address %s", got, err, hole)
	}
	used[hole] = true
	if _, err := AllocIP("big", subnet, netip.Prefix{}, used); err == nil ||
		err.Error() != "no available IPv4 addresses on this network's address pools: big" {
		t.Errorf("AllocIP on a full /16: %v", err)
	}
	// Allocating one after the other hands out consecutive addresses.
	used = addrSet("172.20.0.1")
	for i := range 2000 {
		a, err := AllocIP("big", subnet, netip.Prefix{}, used)
		if err != nil {
			t.Fatal(err)
		}
		if want := netip.AddrFrom4([4]byte{172, 20, byte((i + 2) >> 8), byte(i + 2)}); a != want {
			t.Fatalf("allocation %d: %s, want %s", i, a, want)
		}
		used[a] = true
	}
}

func BenchmarkAllocIP(b *testing.B) {
	subnet := netip.MustParsePrefix("172.20.0.0/16")
	used := map[netip.Addr]bool{}
	a := netip.MustParseAddr("172.20.0.1")
	for range 2000 {
		used[a] = true
		a = a.Next()
	}
	for b.Loop() {
		AllocIP("x", subnet, netip.Prefix{}, used)
	}
}
