package network

import (
	"net/netip"
	"testing"

	"github.com/google/nftables"
)

// ApplyPorts rewrites the port maps when only ports changed, and the
// whole table when the bridges changed too.
func TestNftApplyPorts(t *testing.T) {
	nftGate(t)
	host := newNftNS(t, "host")
	base := Rules{Bridges: []BridgeRules{{Name: "bt-a", Subnet: netip.MustParsePrefix("10.99.0.0/16")}}}
	withPort := base
	withPort.Ports = []PortRule{
		{Proto: "tcp", HostPort: 80, CtrIP: netip.MustParseAddr("10.99.0.2"), CtrPort: 8080, Bridge: "bt-a"},
		{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 53, CtrIP: netip.MustParseAddr("10.99.0.3"), CtrPort: 53, Bridge: "bt-a"},
	}
	moreBridges := withPort
	moreBridges.Bridges = append([]BridgeRules{{Name: "bt-b", Subnet: netip.MustParsePrefix("10.98.0.0/16")}}, base.Bridges...)
	host.apply(t, base)
	count := func(name string) int {
		t.Helper()
		n := -1
		if err := host.do(func() error {
			c, err := nftables.New()
			if err != nil {
				return err
			}
			tb := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
			s, err := c.GetSetByName(tb, name)
			if err != nil {
				return err
			}
			els, err := c.GetSetElements(s)
			n = len(els)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, step := range []struct {
		prev, r        Rules
		any, host, brs int
	}{
		{base, withPort, 1, 1, 1},
		{withPort, base, 0, 0, 1},
		{base, moreBridges, 1, 1, 2}, // bridges changed: the whole table
		{moreBridges, withPort, 1, 1, 1},
	} {
		if err := host.do(func() error { return ApplyPorts(step.prev, step.r) }); err != nil {
			t.Fatal(err)
		}
		if a, h, b := count("anyports"), count("hostports"), count("bridges"); a != step.any || h != step.host || b != step.brs {
			t.Errorf("after %d ports, %d bridges: anyports %d, hostports %d, bridges %d; want %d, %d, %d",
				len(step.r.Ports), len(step.r.Bridges), a, h, b, step.any, step.host, step.brs)
		}
	}
}
