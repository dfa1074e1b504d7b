package network

// Owner: helper "dns" (dns.go, dns_linux.go, etcfiles.go). Delete this file
// when the functions are implemented.

import (
	"context"
	"net/netip"
)

// DNSAddr is where the embedded DNS server listens inside a container's
// network namespace (UDP and TCP port 53), as docker's does.
var DNSAddr = netip.MustParseAddr("127.0.0.11")

// Records are the names one network answers: lower-case name -> IPv4
// addresses. The engine writes one file per network (WriteRecords) with,
// for every running container on it, its name, its aliases and its short
// ID, each also as "NAME.NETWORK".
type Records struct {
	Names map[string][]netip.Addr `json:"names"`
}

// WriteRecords writes r to path atomically (temp, fsync, rename).
func WriteRecords(path string, r Records) error { panic("network: WriteRecords not implemented") }

// DNSConfig is what one container's DNS server answers from: the record
// files of the networks it is on, and the servers it forwards other names
// to (host:port; port 53 when missing).
type DNSConfig struct {
	Records  []string `json:"records"`
	Upstream []string `json:"upstream"`
}

// WriteDNSConfig writes c to path atomically.
func WriteDNSConfig(path string, c DNSConfig) error { panic("network: WriteDNSConfig not implemented") }

// ServeDNS starts an embedded DNS server whose sockets (UDP and TCP on
// DNSAddr:53) are made inside the network namespace at netns, while its
// goroutines, and the sockets it forwards through, stay in the caller's
// (host) namespace. It answers from the config at configPath and the
// record files it names, re-reading any of them that changed (by size and
// mtime) before answering: A for known names (with or without a trailing
// dot, any case), an empty NOERROR for their AAAA, PTR for their
// addresses; everything else is forwarded to the upstream servers (UDP,
// then TCP on truncation) and relayed, or SERVFAIL when none answers. It
// serves until ctx ends, then closes its sockets.
func ServeDNS(ctx context.Context, netns, configPath string) error {
	panic("network: ServeDNS not implemented")
}

// ResolvConfOptions says how to make a container's /etc/resolv.conf.
type ResolvConfOptions struct {
	DNS, Search, Options []string // --dns, --dns-search, --dns-option
	// Embedded: the container is on a user-defined network and its
	// nameserver is DNSAddr.
	Embedded bool
}

// ResolvConf makes a container's /etc/resolv.conf from the host's (its
// contents), as docker does. Without Embedded: the host's nameservers
// minus loopback ones (8.8.8.8 and 8.8.4.4 when none is left), or DNS
// when given; search and options from the host unless given. With
// Embedded: "nameserver 127.0.0.11", the search and options as before,
// plus "options ndots:0" unless an ndots option was given. Upstream is
// what the embedded server forwards to: DNS when given, else the host's
// nameservers (loopback ones included: the server forwards from the
// host's namespace).
func ResolvConf(host []byte, o ResolvConfOptions) (conf []byte, upstream []string) {
	panic("network: ResolvConf not implemented")
}

// HostEntry is one line of /etc/hosts.
type HostEntry struct {
	IP    string
	Names []string
}

// HostsFile makes a container's /etc/hosts as docker does: the loopback
// and IPv6 lines (127.0.0.1 localhost; ::1 localhost ip6-localhost
// ip6-loopback; fe00::0 ip6-localnet; ff00::0 ip6-mcastprefix; ff02::1
// ip6-allnodes; ff02::2 ip6-allrouters), then extra (--add-host) in
// order, then the container's own entries.
func HostsFile(extra, own []HostEntry) []byte { panic("network: HostsFile not implemented") }
