package network

// Owner: helper "nft" (nft_linux.go, ports.go, ports_linux.go). Delete
// this file when the functions are implemented.

import "net/netip"

// TableName is berth's nftables table (family ip): everything berth
// programs lives in it, so deleting it removes all of berth's rules.
const TableName = "berth"

// Rules is the whole of what berth's table should hold.
type Rules struct {
	Bridges []BridgeRules
	Ports   []PortRule
}

// BridgeRules are the rules of one bridge network.
type BridgeRules struct {
	Name   string       // the bridge
	Subnet netip.Prefix // its subnet
	// Internal: no traffic leaves or enters the bridge but between its
	// own ports (no masquerade, no published ports).
	Internal bool
}

// PortRule publishes one port: connections to HostIP:HostPort (any local
// address when HostIP is not valid) go to CtrIP:CtrPort on Bridge.
type PortRule struct {
	Proto    string // "tcp", "udp" or "sctp"
	HostIP   netip.Addr
	HostPort uint16
	CtrIP    netip.Addr
	CtrPort  uint16
	Bridge   string
}

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
func ApplyRules(r Rules) error { panic("network: ApplyRules not implemented") }

// DeleteRules removes berth's table; a missing one is not an error.
func DeleteRules() error { panic("network: DeleteRules not implemented") }

// RuleCount returns how many rules berth's table holds (0, nil when it
// does not exist): for leak checks in tests and for inspect.
func RuleCount() (int, error) { panic("network: RuleCount not implemented") }

// PortSpec is one parsed -p: Container is the port (with protocol) in
// the container; HostIP may be ""; HostPort is "" (any free port), a port
// "8000" or a range "8000-8010" (any free port of it).
type PortSpec struct {
	HostIP    string
	HostPort  string
	Container string // "80/tcp"
}

// ParsePortSpec parses docker's -p syntax,
// [ip:][hostPort[-end]:]containerPort[-end][/proto], with IPv6 hosts in
// brackets, into one PortSpec per container port (equal ranges pair up
// port by port; one container port with a host range keeps the range).
// Errors use docker's words: "invalid containerPort: x", "invalid
// hostPort: x", "invalid proto: x", "invalid IP address: x", "invalid
// ranges specified for container and host Ports: ...".
func ParsePortSpec(spec string) ([]PortSpec, error) { panic("network: ParsePortSpec not implemented") }

// CheckPortFree tells whether a host process could bind ip:port (ip
// invalid: any) for proto now, by binding and closing a socket. The error
// is docker's: "Bind for 0.0.0.0:8000 failed: port is already allocated"
// wrapped around the bind error.
func CheckPortFree(proto string, ip netip.Addr, port uint16) error {
	panic("network: CheckPortFree not implemented")
}

// FreePort returns a port of [lo, hi] (lo == 0: the kernel's
// ip_local_port_range) that taken does not claim and that CheckPortFree
// accepts, trying them in order from a point that moves on between calls
// (as docker's port allocator does).
func FreePort(proto string, ip netip.Addr, lo, hi uint16, taken func(uint16) bool) (uint16, error) {
	panic("network: FreePort not implemented")
}
