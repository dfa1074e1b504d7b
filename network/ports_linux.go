package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrAllPortsAllocated is what FreePort's error wraps when no port of
// the range is free (docker's words).
var ErrAllPortsAllocated = errors.New("all ports are allocated")

// CheckPortFree tells whether a host process could bind ip:port (ip
// invalid: any) for proto now, by binding and closing a socket. The error
// is docker's: "Bind for 0.0.0.0:8000 failed: port is already allocated"
// wrapped around the bind error.
//
// TCP binds with SO_REUSEADDR (as a listener would), so a port held only
// by connections in TIME_WAIT counts as free. Without SCTP in the kernel
// nothing can hold an SCTP port, and every one is free. A bind error other
// than "address in use" (an address that is not the host's, say) is
// returned as "Bind for ... failed: " and the error.
func CheckPortFree(proto string, ip netip.Addr, port uint16) error {
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	ip = ip.Unmap()
	hostPort := netip.AddrPortFrom(ip, port).String()
	if port == 0 {
		return fmt.Errorf("Bind for %s failed: port 0 is not a port to publish", hostPort)
	}
	family := "4"
	if ip.Is6() {
		family = "6"
	}
	var err error
	switch proto {
	case "tcp":
		var l net.Listener
		l, err = net.Listen("tcp"+family, hostPort)
		if err == nil {
			l.Close()
		}
	case "udp":
		var c net.PacketConn
		c, err = net.ListenPacket("udp"+family, hostPort)
		if err == nil {
			c.Close()
		}
	case "sctp":
		err = bindSCTP(ip, port)
	default:
		return errors.New("invalid proto: " + proto)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EADDRINUSE) {
		return fmt.Errorf("Bind for %s failed: port is already allocated: %w", hostPort, err)
	}
	return fmt.Errorf("Bind for %s failed: %w", hostPort, err)
}

// bindSCTP binds (and closes) an SCTP socket; Go's net has no SCTP.
func bindSCTP(ip netip.Addr, port uint16) error {
	var sa unix.Sockaddr
	domain := unix.AF_INET
	if ip.Is6() {
		domain = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(port), Addr: ip.As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()}
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP)
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT) {
		return nil // no SCTP: nobody holds SCTP ports
	}
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return &net.OpError{Op: "listen", Net: "sctp", Addr: &net.TCPAddr{IP: ip.AsSlice(), Port: int(port)}, Err: os.NewSyscallError("bind", err)}
	}
	return nil
}

// portCursor is where FreePort's next search starts, per protocol, as
// docker's port allocator moves on from the last port it handed out (so
// a port just released is not reused at once).
var portCursor struct {
	sync.Mutex
	next map[string]uint16
}

// FreePort returns a port of [lo, hi] (lo == 0: the kernel's
// ip_local_port_range) that taken does not claim and that CheckPortFree
// accepts, trying them in order from a point that moves on between calls
// (as docker's port allocator does).
//
// With lo == 0 both ends come from the kernel's range and hi is ignored.
// taken may be nil. When no port is left the error wraps
// ErrAllPortsAllocated.
func FreePort(proto string, ip netip.Addr, lo, hi uint16, taken func(uint16) bool) (uint16, error) {
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return 0, errors.New("invalid proto: " + proto)
	}
	if lo == 0 {
		var err error
		lo, hi, err = localPortRange()
		if err != nil {
			return 0, err
		}
	}
	if hi < lo {
		return 0, fmt.Errorf("invalid port range %d-%d", lo, hi)
	}

	portCursor.Lock()
	defer portCursor.Unlock()
	if portCursor.next == nil {
		portCursor.next = make(map[string]uint16)
	}
	start := portCursor.next[proto]
	if start < lo || start > hi {
		start = lo
	}
	n := int(hi) - int(lo) + 1
	p := start
	for i := 0; i < n; i++ {
		if (taken == nil || !taken(p)) && CheckPortFree(proto, ip, p) == nil {
			portCursor.next[proto] = p + 1 // 65535+1 wraps to 0: out of any range, restarts at lo
			return p, nil
		}
		if p == hi {
			p = lo
		} else {
			p++
		}
	}
	where := "0.0.0.0"
	if ip.IsValid() {
		where = ip.String()
	}
	return 0, fmt.Errorf("%w: no free %s port in %d-%d on %s", ErrAllPortsAllocated, proto, lo, hi, where)
}

// localPortRange reads the kernel's ephemeral port range (of the calling
// thread's network namespace).
func localPortRange() (lo, hi uint16, err error) {
	const path = "/proc/sys/net/ipv4/ip_local_port_range"
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read local port range: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("parse %s: %q", path, b)
	}
	l, err1 := strconv.ParseUint(f[0], 10, 16)
	h, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, fmt.Errorf("parse %s: %q", path, b)
	}
	return uint16(l), uint16(h), nil
}
