package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// TableName is berth's nftables table (family ip): everything berth
// programs lives in it, so deleting it removes all of berth's rules.
const TableName = "berth"

// tableOr is name, or TableName when name is empty.
func tableOr(name string) string {
	if name == "" {
		return TableName
	}
	return name
}

// Rules is the whole of what berth's table should hold.
type Rules struct {
	// Table is the table's name: TableName when empty (engines sharing a
	// host, as tests do, use their own).
	Table   string
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
//
// As docker does, it keeps HostIP as written (but for the brackets),
// lowercases the protocol, accepts port 0 and writes ports in decimal
// without leading zeros.
func ParsePortSpec(spec string) ([]PortSpec, error) {
	ip, hostPort, ctrPort := splitPortSpec(spec)

	// The protocol follows the first '/' of the container part; an
	// empty one is tcp.
	ctrPort, proto, _ := strings.Cut(ctrPort, "/")
	if ctrPort == "" {
		return nil, fmt.Errorf("no port specified: %s<empty>", spec)
	}
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, errors.New("invalid proto: " + proto)
	}

	if ip != "" && ip[0] == '[' {
		host, _, err := net.SplitHostPort(ip + ":")
		if err != nil {
			return nil, fmt.Errorf("invalid IP address %v: %w", ip, err)
		}
		ip = host
	}
	if ip != "" && net.ParseIP(ip) == nil {
		return nil, errors.New("invalid IP address: " + ip)
	}

	start, end, err := parsePortRange(ctrPort)
	if err != nil {
		return nil, errors.New("invalid containerPort: " + ctrPort)
	}
	var hostStart, hostEnd int
	if hostPort != "" {
		hostStart, hostEnd, err = parsePortRange(hostPort)
		if err != nil {
			return nil, errors.New("invalid hostPort: " + hostPort)
		}
		// Ranges of different lengths are allowed only for one
		// container port: the host range is where to pick a port.
		if end-start != hostEnd-hostStart && end != start {
			return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", ctrPort, hostPort)
		}
	}

	n := end - start + 1
	specs := make([]PortSpec, 0, n)
	for i := 0; i < n; i++ {
		hp := ""
		if hostPort != "" {
			hp = strconv.Itoa(hostStart + i)
			if n == 1 && hostStart != hostEnd {
				hp += "-" + strconv.Itoa(hostEnd)
			}
		}
		specs = append(specs, PortSpec{
			HostIP:    ip,
			HostPort:  hp,
			Container: strconv.Itoa(start+i) + "/" + proto,
		})
	}
	return specs, nil
}

// splitPortSpec splits ip:hostPort:containerPort on colons from the
// right: everything before the last two parts is the IP (IPv6 has
// colons of its own).
func splitPortSpec(spec string) (ip, hostPort, ctrPort string) {
	parts := strings.Split(spec, ":")
	n := len(parts)
	switch n {
	case 1:
		return "", "", parts[0]
	case 2:
		return "", parts[0], parts[1]
	default:
		return strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1]
	}
}

// parsePortRange parses "8000" or "8000-8010".
func parsePortRange(s string) (start, end int, err error) {
	if s == "" {
		return 0, 0, errors.New("empty string specified for ports")
	}
	lo, hi, isRange := strings.Cut(s, "-")
	start, err = parsePortNumber(lo)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid start port '%s': %w", lo, err)
	}
	if !isRange || lo == hi {
		return start, start, nil
	}
	end, err = parsePortNumber(hi)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid end port '%s': %w", hi, err)
	}
	if end < start {
		return 0, 0, errors.New("invalid port range: " + s)
	}
	return start, end, nil
}

// parsePortNumber parses a decimal port, 0 to 65535.
func parsePortNumber(s string) (int, error) {
	if s == "" {
		return 0, errors.New("value is empty")
	}
	p, err := strconv.ParseInt(s, 10, 0)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return 0, err
	}
	if p < 0 || p > 65535 {
		return 0, errors.New("value out of range (0–65535)")
	}
	return int(p), nil
}
