package network

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The port tests bind in a throwaway network namespace, so that the
// host's own ports neither disturb them nor get disturbed.

func TestCheckPortFree(t *testing.T) {
	nftGate(t)
	ns := newNftNS(t, "ports")
	lo := netip.MustParseAddr("127.0.0.1")
	err := ns.do(func() error {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		port := uint16(l.Addr().(*net.TCPAddr).Port)
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer u.Close()
		uport := uint16(u.LocalAddr().(*net.UDPAddr).Port)

		for _, tc := range []struct {
			proto string
			ip    netip.Addr
			port  uint16
			want  string // "" for free
		}{
			{"tcp", lo, port, "Bind for 127.0.0.1:" + portString(port) + " failed: port is already allocated: "},
			{"tcp", netip.Addr{}, port, "Bind for 0.0.0.0:" + portString(port) + " failed: port is already allocated: "},
			{"tcp", netip.MustParseAddr("0.0.0.0"), port, "Bind for 0.0.0.0:" + portString(port) + " failed: port is already allocated: "},
			{"udp", lo, port, ""}, // the TCP listener holds TCP only
			{"udp", lo, uport, "Bind for 127.0.0.1:" + portString(uport) + " failed: port is already allocated: "},
			{"udp", netip.Addr{}, uport, "Bind for 0.0.0.0:" + portString(uport) + " failed: port is already allocated: "},
			{"tcp", lo, uport, ""},
			// Not an address of this host: a bind error, not "allocated".
			{"tcp", netip.MustParseAddr("192.0.2.7"), 8000, "Bind for 192.0.2.7:8000 failed: listen tcp4 192.0.2.7:8000: bind: cannot assign requested address"},
			{"tcp", lo, 0, "Bind for 127.0.0.1:0 failed: port 0 is not a port to publish"},
			{"icmp", lo, 80, "invalid proto: icmp"},
		} {
			err := CheckPortFree(tc.proto, tc.ip, tc.port)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckPortFree(%s, %v, %d): %v, want free", tc.proto, tc.ip, tc.port, err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("CheckPortFree(%s, %v, %d): %v, want %q", tc.proto, tc.ip, tc.port, err, tc.want)
			case strings.Contains(tc.want, "allocated") && !errors.Is(err, unix.EADDRINUSE):
				t.Errorf("CheckPortFree(%s, %v, %d): %v does not wrap EADDRINUSE", tc.proto, tc.ip, tc.port, err)
			}
		}
		// Checking does not hold the port.
		if err := CheckPortFree("tcp", lo, uport); err != nil {
			return err
		}
		if err := CheckPortFree("tcp", lo, uport); err != nil {
			t.Errorf("second check of a free port: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCheckPortFreeSCTP(t *testing.T) {
	nftGate(t)
	ns := newNftNS(t, "ports")
	err := ns.do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP)
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT) {
			// No SCTP in this kernel: no one can hold an SCTP port.
			if err := CheckPortFree("sctp", netip.Addr{}, 9000); err != nil {
				t.Errorf("CheckPortFree(sctp) without SCTP: %v, want free", err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 9000, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		if err := unix.Listen(fd, 1); err != nil {
			return err
		}
		if err := CheckPortFree("sctp", netip.MustParseAddr("127.0.0.1"), 9000); !errors.Is(err, unix.EADDRINUSE) {
			t.Errorf("CheckPortFree(sctp) of a bound port: %v, want address in use", err)
		}
		if err := CheckPortFree("sctp", netip.MustParseAddr("127.0.0.1"), 9001); err != nil {
			t.Errorf("CheckPortFree(sctp) of a free port: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFreePort(t *testing.T) {
	nftGate(t)
	ns := newNftNS(t, "ports")
	ns.sysctl(t, "/proc/sys/net/ipv4/ip_local_port_range", "40000\t40009")
	lo := netip.MustParseAddr("127.0.0.1")
	err := ns.do(func() error {
		// From the kernel's range, moving on between calls: ten calls
		// give the ten ports.
		seen := map[uint16]bool{}
		for range 10 {
			p, err := FreePort("tcp", netip.Addr{}, 0, 0, nil)
			if err != nil {
				return err
			}
			if p < 40000 || p > 40009 {
				t.Errorf("FreePort = %d, out of the kernel's range 40000-40009", p)
			}
			seen[p] = true
		}
		if len(seen) != 10 {
			t.Errorf("ten FreePort calls gave %d distinct ports, want 10 (the start moves on)", len(seen))
		}

		// Ports taken by the caller and ports bound on the host are
		// skipped.
		l, err := net.Listen("tcp4", "127.0.0.1:50001")
		if err != nil {
			return err
		}
		defer l.Close()
		taken := func(p uint16) bool { return p == 50000 }
		for range 5 {
			p, err := FreePort("tcp", lo, 50000, 50002, taken)
			if err != nil {
				return err
			}
			if p != 50002 {
				t.Errorf("FreePort(50000-50002, 50000 taken, 50001 bound) = %d, want 50002", p)
			}
		}
		// UDP's 50001 is free.
		if p, err := FreePort("udp", lo, 50001, 50001, nil); err != nil || p != 50001 {
			t.Errorf("FreePort(udp, 50001-50001) = %d, %v; want 50001", p, err)
		}

		// Nothing left.
		_, err = FreePort("tcp", lo, 50000, 50001, taken)
		if !errors.Is(err, ErrAllPortsAllocated) || !strings.HasPrefix(err.Error(), "all ports are allocated") {
			t.Errorf("FreePort with every port taken: %v, want all ports are allocated", err)
		}
		if _, err := FreePort("tcp", lo, 50002, 50000, nil); err == nil {
			t.Error("FreePort(50002-50000): no error for an empty range")
		}
		if _, err := FreePort("icmp", lo, 50000, 50002, nil); err == nil || err.Error() != "invalid proto: icmp" {
			t.Errorf("FreePort(icmp): %v, want invalid proto: icmp", err)
		}
		// The top port wraps to the bottom.
		for range 3 {
			p, err := FreePort("sctp", lo, 65534, 65535, nil)
			if err != nil || p < 65534 {
				t.Errorf("FreePort(65534-65535) = %d, %v", p, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func portString(p uint16) string { return strconv.Itoa(int(p)) }
