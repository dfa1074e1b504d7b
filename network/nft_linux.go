package network

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// berth's table, in nft's words (iifname/oifname are 16-byte names):
//
//	table ip berth {
//	  set bridges  { type ifname; elements = { all berth bridges } }
//	  set internal { type ifname; elements = { internal bridges } }
//	  set external { type ifname; elements = { the other bridges } }
//	  set same     { type ifname . ifname; elements = { B . B for each bridge } }
//	  map hostports { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }
//	  map anyports  { type inet_proto . inet_service : ipv4_addr . inet_service }
//
//	  chain prerouting { type nat hook prerouting priority -100;
//	    dnat to ip daddr . meta l4proto . th dport map @hostports  # if fib daddr type local
//	    dnat to meta l4proto . th dport map @anyports              # if fib daddr type local
//	  }
//	  chain output { type nat hook output priority -100; the same two rules }
//	  chain postrouting { type nat hook postrouting priority 100;
//	    ip saddr SUBNET oifname != B masquerade                  # each external bridge B
//	    ct status dnat ip saddr SUBNET oifname B masquerade      # each external bridge B: hairpin
//	    ip saddr 127.0.0.0/8 oifname @external masquerade
//	  }
//	  chain forward { type filter hook forward priority 0; policy accept;
//	    iifname @internal iifname . oifname != @same drop
//	    oifname @internal iifname . oifname != @same drop
//	    ct state established,related accept
//	    ct status dnat accept
//	    oifname @bridges iifname . oifname != @same drop
//	  }
//	}
//
// The maps keep the published ports out of the rule list: a packet costs
// one hash lookup (and a fib lookup only when its port is published),
// whatever the number of ports. The last forward rule drops what enters
// a bridge from elsewhere but replies and published ports: from another
// bridge (isolation) and from outside straight to a container address
// (as docker does), while traffic between a bridge's own ports and out of
// it stays untouched.

// nftables registers: the four 16-byte ones and the 32-bit ones that
// concatenations need (NFT_REG32_00 is the first 4 bytes of NFT_REG_1).
const (
	reg1    = unix.NFT_REG_1
	reg2    = unix.NFT_REG_2
	reg32_0 = unix.NFT_REG32_00
	reg32_1 = unix.NFT_REG32_00 + 1
	reg32_2 = unix.NFT_REG32_00 + 2
	reg32_4 = unix.NFT_REG32_00 + 4

	ifNameLen = unix.IFNAMSIZ

	// ctStatusDNAT is IPS_DST_NAT of the conntrack status bits.
	ctStatusDNAT = 1 << 5
)

var (
	typePair     = nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIFName)
	typeHostKey  = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	typeAnyKey   = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	typeTarget   = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
	loopbackNet  = netip.MustParsePrefix("127.0.0.0/8")
	protoNumbers = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}
)

// ApplyRules replaces berth's table with exactly r, in one atomic netlink
// batch (no window without rules, no stale rule after). It programs:
//   - DNAT of published ports in prerouting (from outside, and from
//     containers: hairpin) and in output (from the host, 127.0.0.1 too),
//     both only for destinations of type local;
//   - masquerade of traffic leaving a non-internal bridge's subnet for
//     another interface; of 127.0.0.0/8 sources going out a bridge (the
//     host's 127.0.0.1 access); and of DNATed traffic from a bridge's own
//     subnet back into it (hairpin), so replies come back through us;
//   - in forward: drop between different berth bridges (isolation), and
//     anything crossing an internal bridge's boundary.
//
// It works in the calling thread's network namespace. The rules are
// IPv4: a PortRule whose HostIP or CtrIP is IPv6 is an error, as are
// duplicate bridges, a port published twice to different targets and a
// port rule on a bridge r does not list. Port rules on internal bridges
// are skipped (docker does not publish there either). Forward also drops
// new traffic from outside straight to a container address (only replies
// and published ports enter a bridge), as docker does.
//
// Conntrack entries of connections already NATed are left alone: an
// established connection to a port that is no longer published goes on
// until it ends.
func ApplyRules(r Rules) error {
	c, err := nftables.New(nftables.WithSockOptions(bigSendBuffer))
	if err != nil {
		return fmt.Errorf("apply nftables rules: %w", err)
	}
	// First in place: the table's rules and set elements are flushed and
	// written again, its chains kept (deleting hooked chains makes the
	// kernel wait for a grace period: ~14 ms). Should that fail (a table
	// of another shape, left by another version), it is made anew.
	if err := queueRules(c, r, false); err != nil {
		return fmt.Errorf("apply nftables rules: %w", err)
	}
	if err := c.Flush(); err == nil {
		return nil
	}
	if err := queueRules(c, r, true); err != nil {
		return fmt.Errorf("apply nftables rules: %w", err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("apply nftables rules: table ip %s: %w", tableOr(r.Table), err)
	}
	return nil
}

// ApplyPorts is ApplyRules for rules r that differ from prev, the rules
// last applied, in their ports only (the same table and bridges): it
// rewrites the two maps of published ports, in one transaction, and
// leaves the chains and their rules alone. That takes the kernel well
// under a millisecond where flushing and re-adding the rules of hooked
// chains takes 8-30 ms. Otherwise, or should the maps not be there, it is
// ApplyRules.
func ApplyPorts(prev, r Rules) error {
	if tableOr(prev.Table) != tableOr(r.Table) || !slices.Equal(prev.Bridges, r.Bridges) {
		return ApplyRules(r)
	}
	_, ports, err := checkRules(r)
	if err != nil {
		return fmt.Errorf("apply nftables rules: %w", err)
	}
	c, err := nftables.New(nftables.WithSockOptions(bigSendBuffer))
	if err != nil {
		return fmt.Errorf("apply nftables rules: %w", err)
	}
	t := &nftables.Table{Name: tableOr(r.Table), Family: nftables.TableFamilyIPv4}
	hostElems, anyElems := portElems(ports)
	mapHost, mapAny := portMaps(t)
	for _, m := range []struct {
		set   *nftables.Set
		elems []nftables.SetElement
	}{{mapHost, hostElems}, {mapAny, anyElems}} {
		c.FlushSet(m.set)
		for rest := m.elems; len(rest) > 0; {
			n := min(len(rest), 512)
			if err := c.SetAddElements(m.set, rest[:n]); err != nil {
				return fmt.Errorf("apply nftables rules: set %s: %w", m.set.Name, err)
			}
			rest = rest[n:]
		}
	}
	if err := c.Flush(); err != nil {
		return ApplyRules(r)
	}
	return nil
}

// DeleteRules removes berth's table (TableName when table is empty); a
// missing one is not an error.
func DeleteRules(table string) error {
	table = tableOr(table)
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("delete nftables table ip %s: %w", table, err)
	}
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	// Adding first makes the delete certain to find it: one batch, so
	// no race with another deleter.
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nftables table ip %s: %w", table, err)
	}
	return nil
}

// RuleCount returns how many rules and published-port map entries berth's
// table (TableName when table is empty) holds (0, nil when it does not
// exist): for leak checks in tests.
func RuleCount(table string) (int, error) {
	table = tableOr(table)
	c, err := nftables.New()
	if err != nil {
		return 0, fmt.Errorf("count nftables rules: %w", err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return 0, fmt.Errorf("count nftables rules: list chains: %w", err)
	}
	n, found := 0, false
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != table {
			continue
		}
		found = true
		rules, err := c.GetRules(ch.Table, ch)
		if errors.Is(err, unix.ENOENT) {
			continue // removed meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("count nftables rules: chain %s: %w", ch.Name, err)
		}
		n += len(rules)
	}
	if !found {
		return 0, nil
	}
	// Published ports are elements of the port maps, not rules.
	sets, err := c.GetSets(&nftables.Table{Name: table, Family: nftables.TableFamilyIPv4})
	if err != nil {
		return 0, fmt.Errorf("count nftables rules: list sets: %w", err)
	}
	for _, set := range sets {
		if !set.IsMap {
			continue
		}
		elems, err := c.GetSetElements(set)
		if err != nil {
			return 0, fmt.Errorf("count nftables rules: map %s: %w", set.Name, err)
		}
		n += len(elems)
	}
	return n, nil
}

// portTarget is where a published port goes.
type portTarget struct {
	ip   netip.Addr
	port uint16
}

// portKey is a published port: host address (invalid: any), protocol,
// port.
type portKey struct {
	ip    netip.Addr
	proto byte
	port  uint16
}

// queueRules checks r and queues the whole table's batch on c: made anew
// when fresh, else rewritten in place.
func queueRules(c *nftables.Conn, r Rules, fresh bool) error {
	bridges, ports, err := checkRules(r)
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: tableOr(r.Table), Family: nftables.TableFamilyIPv4}
	// Add-delete-add: the delete cannot fail on a missing table, and the
	// new table starts empty. All in one transaction.
	c.AddTable(t)
	if fresh {
		c.DelTable(t)
		c.AddTable(t)
	} else {
		c.FlushTable(t)
	}
	return queueTable(c, t, bridges, ports, fresh)
}

// checkRules validates r and returns its bridges by name and its port
// mappings (internal bridges' skipped).
func checkRules(r Rules) (map[string]BridgeRules, map[portKey]portTarget, error) {
	bridges := make(map[string]BridgeRules, len(r.Bridges))
	for _, b := range r.Bridges {
		if b.Name == "" || len(b.Name) >= ifNameLen {
			return nil, nil, fmt.Errorf("bridge name %q: must be 1 to %d bytes", b.Name, ifNameLen-1)
		}
		if _, dup := bridges[b.Name]; dup {
			return nil, nil, fmt.Errorf("bridge %s listed twice", b.Name)
		}
		if !b.Internal && (!b.Subnet.IsValid() || !b.Subnet.Addr().Is4()) {
			return nil, nil, fmt.Errorf("bridge %s: subnet %s is not an IPv4 prefix", b.Name, b.Subnet)
		}
		bridges[b.Name] = b
	}
	ports := make(map[portKey]portTarget, len(r.Ports))
	for _, p := range r.Ports {
		what := fmt.Sprintf("port %d/%s", p.HostPort, p.Proto)
		proto, ok := protoNumbers[p.Proto]
		if !ok {
			return nil, nil, fmt.Errorf("%s: invalid proto: %s", what, p.Proto)
		}
		b, ok := bridges[p.Bridge]
		if !ok {
			return nil, nil, fmt.Errorf("%s: bridge %q is not among the rules' bridges", what, p.Bridge)
		}
		if b.Internal {
			continue
		}
		host := p.HostIP.Unmap()
		if host.IsValid() && host.IsUnspecified() {
			host = netip.Addr{}
		}
		if host.IsValid() && !host.Is4() {
			return nil, nil, fmt.Errorf("%s: host address %s is IPv6; berth publishes ports on IPv4 only", what, p.HostIP)
		}
		ctr := p.CtrIP.Unmap()
		if !ctr.Is4() {
			return nil, nil, fmt.Errorf("%s: container address %s is not IPv4", what, p.CtrIP)
		}
		if p.HostPort == 0 || p.CtrPort == 0 {
			return nil, nil, fmt.Errorf("%s: port 0 (host %d, container %d)", what, p.HostPort, p.CtrPort)
		}
		k := portKey{ip: host, proto: proto, port: p.HostPort}
		t := portTarget{ip: ctr, port: p.CtrPort}
		if old, dup := ports[k]; dup && old != t {
			on := "0.0.0.0"
			if host.IsValid() {
				on = host.String()
			}
			return nil, nil, fmt.Errorf("%s on %s published twice: to %s:%d and to %s:%d", what, on, old.ip, old.port, t.ip, t.port)
		}
		ports[k] = t
	}
	return bridges, ports, nil
}

// queueTable queues the sets, maps, chains and rules of the table t.
func queueTable(c *nftables.Conn, t *nftables.Table, bridges map[string]BridgeRules, ports map[portKey]portTarget, fresh bool) error {
	// The sets, in a stable order.
	names := make([]string, 0, len(bridges))
	for n := range bridges {
		names = append(names, n)
	}
	slices.Sort(names)
	var all, internal, external, same []nftables.SetElement
	for _, n := range names {
		e := nftables.SetElement{Key: ifname(n)}
		all = append(all, e)
		if bridges[n].Internal {
			internal = append(internal, e)
		} else {
			external = append(external, e)
		}
		same = append(same, nftables.SetElement{Key: append(ifname(n), ifname(n)...)})
	}
	setBridges := &nftables.Set{Table: t, Name: "bridges", KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian}
	setInternal := &nftables.Set{Table: t, Name: "internal", KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian}
	setExternal := &nftables.Set{Table: t, Name: "external", KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian}
	setSame := &nftables.Set{Table: t, Name: "same", KeyType: typePair}
	hostElems, anyElems := portElems(ports)
	mapHost, mapAny := portMaps(t)
	for _, s := range []struct {
		set   *nftables.Set
		elems []nftables.SetElement
	}{
		{setBridges, all}, {setInternal, internal}, {setExternal, external}, {setSame, same},
		{mapHost, hostElems}, {mapAny, anyElems},
	} {
		if err := addSet(c, s.set, s.elems, !fresh); err != nil {
			return err
		}
	}

	accept := nftables.ChainPolicyAccept
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})

	rule := func(ch *nftables.Chain, exprs ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: slices.Concat(exprs...)})
	}

	// DNAT, the same in prerouting and output.
	for _, ch := range []*nftables.Chain{pre, out} {
		rule(ch, loadDaddr(reg32_0), loadL4Proto(reg32_1), loadDport(reg32_2), lookupMap(mapHost, reg32_0, reg1), localDaddr(), dnatFromReg1())
		rule(ch, loadL4Proto(reg32_0), loadDport(reg32_1), lookupMap(mapAny, reg32_0, reg1), localDaddr(), dnatFromReg1())
	}

	// Masquerade.
	masq := []expr.Any{&expr.Masq{}}
	for _, n := range names {
		b := bridges[n]
		if b.Internal {
			continue
		}
		rule(post, saddrIn(b.Subnet), oifname(n, expr.CmpOpNeq), masq)
		rule(post, ctStatusHas(ctStatusDNAT), saddrIn(b.Subnet), oifname(n, expr.CmpOpEq), masq)
	}
	rule(post, saddrIn(loopbackNet), lookupName(expr.MetaKeyOIFNAME, setExternal, false), masq)

	// Forward.
	drop := []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	acceptV := []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	rule(fwd, lookupName(expr.MetaKeyIIFNAME, setInternal, false), notSameBridge(setSame), drop)
	rule(fwd, lookupName(expr.MetaKeyOIFNAME, setInternal, false), notSameBridge(setSame), drop)
	rule(fwd, ctStateHas(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), acceptV)
	rule(fwd, ctStatusHas(ctStatusDNAT), acceptV)
	rule(fwd, lookupName(expr.MetaKeyOIFNAME, setBridges, false), notSameBridge(setSame), drop)
	return nil
}

// bigSendBuffer lets one batch (sent in one sendmsg) hold tens of
// thousands of published ports: the kernel refuses a message larger than
// the socket's send buffer. As root SO_SNDBUFFORCE passes wmem_max by; else
// SO_SNDBUF gets what wmem_max allows.
func bigSendBuffer(c *netlink.Conn) error {
	const size = 8 << 20
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
		if serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, size)
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("netlink send buffer: %w", serr)
	}
	return nil
}

// addSet queues a named set with its elements, in messages of at most
// 512 elements (a netlink message has a size limit); flush empties a set
// that may exist already first.
func addSet(c *nftables.Conn, s *nftables.Set, elems []nftables.SetElement, flush bool) error {
	const chunk = 512
	first := elems[:min(len(elems), chunk)]
	if flush {
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		c.FlushSet(s)
		if len(first) > 0 {
			if err := c.SetAddElements(s, first); err != nil {
				return fmt.Errorf("set %s: %w", s.Name, err)
			}
		}
	} else if err := c.AddSet(s, first); err != nil {
		return fmt.Errorf("set %s: %w", s.Name, err)
	}
	for rest := elems[len(first):]; len(rest) > 0; {
		n := min(len(rest), chunk)
		if err := c.SetAddElements(s, rest[:n]); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		rest = rest[n:]
	}
	return nil
}

// ifname is a name as meta iifname/oifname loads it: IFNAMSIZ bytes,
// zero-padded.
func ifname(n string) []byte {
	b := make([]byte, ifNameLen)
	copy(b, n)
	return b
}

func addr4(a netip.Addr) []byte {
	b := a.As4()
	return b[:]
}

// port4 is a port in network order, padded to a 32-bit register.
func port4(p uint16) []byte {
	return []byte{byte(p >> 8), byte(p), 0, 0}
}

func loadDaddr(reg uint32) []expr.Any {
	return []expr.Any{&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}}
}

func loadL4Proto(reg uint32) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}}
}

// loadDport loads the destination port of TCP, UDP and SCTP alike (th
// dport: the 2 bytes at offset 2 of the transport header).
func loadDport(reg uint32) []expr.Any {
	return []expr.Any{&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}}
}

func lookupMap(m *nftables.Set, src, dst uint32) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: src, DestRegister: dst, IsDestRegSet: true, SetName: m.Name, SetID: m.ID}}
}

// localDaddr is "fib daddr type local" (in reg2, which the map's result
// in reg1 does not overlap).
func localDaddr() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg2, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg2, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// dnatFromReg1 DNATs to the address in reg1's first 32 bits and the port
// in the next.
func dnatFromReg1() []expr.Any {
	return []expr.Any{&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4,
		RegAddrMin: reg1, RegProtoMin: reg32_1, Specified: true}}
}

func saddrIn(p netip.Prefix) []expr.Any {
	p = p.Masked()
	e := []expr.Any{&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}}
	if p.Bits() < 32 {
		mask := make([]byte, 4)
		for i := 0; i < p.Bits(); i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		e = append(e, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	return append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: addr4(p.Addr())})
}

func oifname(n string, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg1},
		&expr.Cmp{Op: op, Register: reg1, Data: ifname(n)},
	}
}

// lookupName is "iifname @set" or "oifname @set" (or != with invert).
func lookupName(key expr.MetaKey, s *nftables.Set, invert bool) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: reg1},
		&expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID, Invert: invert},
	}
}

// notSameBridge is "iifname . oifname != @same": the packet does not stay
// on one bridge.
func notSameBridge(same *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg32_0},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg32_4},
		&expr.Lookup{SourceRegister: reg32_0, SetName: same.Name, SetID: same.ID, Invert: true},
	}
}

// ctStatusHas is "ct status BITS" (any of them).
func ctStatusHas(bits uint32) []expr.Any {
	return ctBits(expr.CtKeySTATUS, bits)
}

// ctStateHas is "ct state BITS" (any of them).
func ctStateHas(bits uint32) []expr.Any {
	return ctBits(expr.CtKeySTATE, bits)
}

func ctBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: key, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
	}
}

// portElems are the elements of the hostports and anyports maps.
func portElems(ports map[portKey]portTarget) (hostElems, anyElems []nftables.SetElement) {
	keys := make([]portKey, 0, len(ports))
	for k := range ports {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b portKey) int {
		if c := a.ip.Compare(b.ip); c != 0 {
			return c
		}
		if a.proto != b.proto {
			return int(a.proto) - int(b.proto)
		}
		return int(a.port) - int(b.port)
	})
	for _, k := range keys {
		v := ports[k]
		val := append(addr4(v.ip), port4(v.port)...)
		key := append([]byte{k.proto, 0, 0, 0}, port4(k.port)...)
		if k.ip.IsValid() {
			hostElems = append(hostElems, nftables.SetElement{Key: append(addr4(k.ip), key...), Val: val})
		} else {
			anyElems = append(anyElems, nftables.SetElement{Key: key, Val: val})
		}
	}
	return hostElems, anyElems
}

// portMaps are the maps of published ports: host address, protocol and
// port (hostports) or protocol and port (anyports) to the target.
func portMaps(t *nftables.Table) (mapHost, mapAny *nftables.Set) {
	mapHost = &nftables.Set{Table: t, Name: "hostports", IsMap: true, KeyType: typeHostKey, DataType: typeTarget}
	mapAny = &nftables.Set{Table: t, Name: "anyports", IsMap: true, KeyType: typeAnyKey, DataType: typeTarget}
	return mapHost, mapAny
}
