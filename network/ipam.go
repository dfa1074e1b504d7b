package network

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// defaultPools are docker's default address pools, in the order they are
// handed out: 172.17.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/20 ...
// 192.168.240.0/20.
var defaultPools = func() []netip.Prefix {
	var pools []netip.Prefix
	for b := byte(17); b <= 31; b++ {
		pools = append(pools, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, b, 0, 0}), 16))
	}
	for c := 0; c < 256; c += 16 {
		pools = append(pools, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(c), 0}), 20))
	}
	return pools
}()

// PickSubnet returns the first of docker's default pools that overlaps
// none of used: 172.17.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/20,
// 192.168.16.0/20 ... 192.168.240.0/20. The error says so when all are
// taken ("all predefined address pools have been fully subnetted").
func PickSubnet(used []netip.Prefix) (netip.Prefix, error) {
	for _, pool := range defaultPools {
		if !slices.ContainsFunc(used, func(u netip.Prefix) bool { return Overlaps(pool, u) }) {
			return pool, nil
		}
	}
	return netip.Prefix{}, errors.New("all predefined address pools have been fully subnetted")
}

// Overlaps reports whether two prefixes share an address. Prefixes of
// different families, or invalid ones, share none.
func Overlaps(a, b netip.Prefix) bool {
	return a.IsValid() && b.IsValid() && a.Overlaps(b)
}

// FirstHost is the first usable address of a subnet (the default gateway):
// the one after the network address, or the network address itself for
// an IPv4 /31 or /32 (IPv6 /127 or /128), where every address is usable.
// It is the zero Addr for an invalid subnet.
func FirstHost(subnet netip.Prefix) netip.Addr {
	first, _ := usable(subnet)
	return first
}

// usable is the range of usable addresses of subnet: without the network
// address (and, for IPv4, the broadcast address) unless the subnet is too
// small to have them. Both are zero for an invalid subnet.
func usable(subnet netip.Prefix) (first, last netip.Addr) {
	if !subnet.IsValid() {
		return netip.Addr{}, netip.Addr{}
	}
	subnet = subnet.Masked()
	first, last = subnet.Addr(), lastAddr(subnet)
	if subnet.Bits() >= subnet.Addr().BitLen()-1 {
		return first, last
	}
	first = first.Next()
	if first.Is4() {
		last = last.Prev()
	}
	return first, last
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// AllocIP returns the lowest address of subnet, inside ipRange when that
// is valid, that is not the subnet's network or broadcast address and not
// in used (which holds the gateway too). The error names the network
// (name) when none is left, as docker does: "no available IPv4 addresses
// on this network's address pools: NAME (ID)" (the caller adds the ID).
//
// In a /31 or /32 every address is usable. An ipRange not inside subnet
// is an error. It costs a sort of the used addresses in range, however
// large the subnet.
func AllocIP(name string, subnet, ipRange netip.Prefix, used map[netip.Addr]bool) (netip.Addr, error) {
	if !subnet.IsValid() {
		return netip.Addr{}, fmt.Errorf("network %s: no valid subnet to allocate from", name)
	}
	subnet = subnet.Masked()
	first, last := usable(subnet)
	if ipRange.IsValid() {
		r := ipRange.Masked()
		if r.Addr().BitLen() != subnet.Addr().BitLen() || r.Bits() < subnet.Bits() || !subnet.Contains(r.Addr()) {
			return netip.Addr{}, fmt.Errorf("network %s: ip range %s is not inside subnet %s", name, ipRange, subnet)
		}
		if a := r.Addr(); a.Compare(first) > 0 {
			first = a
		}
		if a := lastAddr(r); a.Compare(last) < 0 {
			last = a
		}
	}
	family := "IPv4"
	if subnet.Addr().Is6() {
		family = "IPv6"
	}
	none := fmt.Errorf("no available %s addresses on this network's address pools: %s", family, name)
	if first.Compare(last) > 0 {
		return netip.Addr{}, none
	}
	if first.Is4() {
		return alloc4(first, last, used, none)
	}
	var taken []netip.Addr
	for a, ok := range used {
		if ok && a.Compare(first) >= 0 && a.Compare(last) <= 0 {
			taken = append(taken, a)
		}
	}
	slices.SortFunc(taken, netip.Addr.Compare)
	// The sorted used addresses from first on: the first gap is the
	// answer.
	cand := first
	for _, a := range taken {
		if a != cand {
			break
		}
		if cand == last {
			return netip.Addr{}, none
		}
		cand = cand.Next()
	}
	return cand, nil
}

// alloc4 is AllocIP's search for IPv4, on integers: the lowest address
// from first to last that is not used.
func alloc4(first, last netip.Addr, used map[netip.Addr]bool, none error) (netip.Addr, error) {
	lo, hi := u32(first), u32(last)
	var taken []uint32
	for a, ok := range used {
		if ok && a.Is4() {
			if n := u32(a); n >= lo && n <= hi {
				taken = append(taken, n)
			}
		}
	}
	slices.Sort(taken)
	cand := lo
	for _, n := range taken {
		if n != cand {
			break
		}
		if cand == hi {
			return netip.Addr{}, none
		}
		cand++
	}
	return netip.AddrFrom4([4]byte{byte(cand >> 24), byte(cand >> 16), byte(cand >> 8), byte(cand)}), nil
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
