package network

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
)

// ResolvConfOptions says how to make a container's /etc/resolv.conf.
type ResolvConfOptions struct {
	DNS, Search, Options []string // --dns, --dns-search, --dns-option
	// Embedded: the container is on a user-defined network and its
	// nameserver is DNSAddr.
	Embedded bool
}

// defaultNameservers are docker's fallback when the host has none a
// container can use.
var defaultNameservers = []string{"8.8.8.8", "8.8.4.4"}

// ResolvConf makes a container's /etc/resolv.conf from the host's (its
// contents), as docker does. Without Embedded: the host's nameservers
// minus loopback ones (8.8.8.8 and 8.8.4.4 when none is left), or DNS
// when given; search and options from the host unless given. With
// Embedded: "nameserver 127.0.0.11", the search and options as before,
// plus "options ndots:0" unless an ndots option was given. Upstream is
// what the embedded server forwards to: DNS when given, else the host's
// nameservers (loopback ones included: the server forwards from the
// host's namespace).
//
// As docker: a "domain" line counts as "search" (the last one wins),
// options accumulate over the host's lines, lines of other directives
// are kept, a Search of just "." means no search line, an invalid ndots
// option is dropped (and so does not stop ndots:0), and the host's IPv6
// nameservers are left out without Embedded (berth's networks are IPv4:
// the container could not reach them). When the host names no
// nameserver at all, upstream is 8.8.8.8 and 8.8.4.4 too.
func ResolvConf(host []byte, o ResolvConfOptions) (conf []byte, upstream []string) {
	var hostNS []netip.Addr
	var search, options, other []string
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0][0] == '#' || f[0][0] == ';' {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				continue
			}
			if a, err := netip.ParseAddr(f[1]); err == nil {
				hostNS = append(hostNS, a)
			}
		case "domain", "search":
			if len(f) >= 2 {
				search = f[1:]
			}
		case "options":
			options = append(options, f[1:]...)
		default:
			other = append(other, strings.TrimSpace(line))
		}
	}
	if len(o.Search) > 0 {
		search = nil
		for _, s := range o.Search {
			if s != "." {
				search = append(search, s)
			}
		}
	}
	if len(o.Options) > 0 {
		options = append([]string(nil), o.Options...)
	}

	var ns []string
	switch {
	case o.Embedded:
		ns = []string{DNSAddr.String()}
		if len(o.DNS) > 0 {
			upstream = append(upstream, o.DNS...)
		} else {
			for _, a := range hostNS {
				upstream = append(upstream, a.String())
			}
		}
		if len(upstream) == 0 {
			upstream = append(upstream, defaultNameservers...)
		}
		options = validNdots(options)
		if !hasOption(options, "ndots") {
			options = append(options, "ndots:0")
		}
	case len(o.DNS) > 0:
		ns = append(ns, o.DNS...)
		upstream = append(upstream, o.DNS...)
	default:
		for _, a := range hostNS {
			upstream = append(upstream, a.String())
			if !a.IsLoopback() && a.Is4() {
				ns = append(ns, a.String())
			}
		}
		if len(ns) == 0 {
			ns = append(ns, defaultNameservers...)
		}
		if len(upstream) == 0 {
			upstream = append(upstream, defaultNameservers...)
		}
	}

	var b bytes.Buffer
	for _, s := range ns {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	for _, l := range other {
		b.WriteString(l + "\n")
	}
	return b.Bytes(), upstream
}

// hasOption reports whether options hold name, as "name" or "name:value".
func hasOption(options []string, name string) bool {
	for _, o := range options {
		if k, _, _ := strings.Cut(o, ":"); k == name {
			return true
		}
	}
	return false
}

// validNdots drops ndots options whose value is not a number >= 0.
func validNdots(options []string) []string {
	var out []string
	for _, o := range options {
		if k, v, _ := strings.Cut(o, ":"); k == "ndots" {
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				continue
			}
		}
		out = append(out, o)
	}
	return out
}

// HostEntry is one line of /etc/hosts.
type HostEntry struct {
	IP    string
	Names []string
}

// defaultHosts are the lines docker starts every /etc/hosts with.
var defaultHosts = []HostEntry{
	{"127.0.0.1", []string{"localhost"}},
	{"::1", []string{"localhost", "ip6-localhost", "ip6-loopback"}},
	{"fe00::0", []string{"ip6-localnet"}},
	{"ff00::0", []string{"ip6-mcastprefix"}},
	{"ff02::1", []string{"ip6-allnodes"}},
	{"ff02::2", []string{"ip6-allrouters"}},
}

// HostsFile makes a container's /etc/hosts as docker does: the loopback
// and IPv6 lines (127.0.0.1 localhost; ::1 localhost ip6-localhost
// ip6-loopback; fe00::0 ip6-localnet; ff00::0 ip6-mcastprefix; ff02::1
// ip6-allnodes; ff02::2 ip6-allrouters), then extra (--add-host) in
// order, then the container's own entries. Each line is the IP, a tab
// and the names separated by spaces; an entry without an IP or without
// names makes no line.
func HostsFile(extra, own []HostEntry) []byte {
	var b bytes.Buffer
	for _, list := range [][]HostEntry{defaultHosts, extra, own} {
		for _, e := range list {
			if e.IP == "" || len(e.Names) == 0 {
				continue
			}
			b.WriteString(e.IP + "\t" + strings.Join(e.Names, " ") + "\n")
		}
	}
	return b.Bytes()
}
