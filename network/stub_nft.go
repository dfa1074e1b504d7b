package network

// Owner: helper "nft" (nft_linux.go, ports.go, ports_linux.go). Delete
// this file when the functions are implemented.

import "net/netip"

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
