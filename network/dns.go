package network

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/berth-project/berth/internal/atomicfile"
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
func WriteRecords(path string, r Records) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("write DNS records %s: %w", path, err)
	}
	return atomicfile.Write(path, data, 0o644)
}

// DNSConfig is what one container's DNS server answers from: the record
// files of the networks it is on, and the servers it forwards other names
// to (host:port; port 53 when missing).
type DNSConfig struct {
	Records  []string `json:"records"`
	Upstream []string `json:"upstream"`
}

// WriteDNSConfig writes c to path atomically.
func WriteDNSConfig(path string, c DNSConfig) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("write DNS config %s: %w", path, err)
	}
	return atomicfile.Write(path, data, 0o644)
}

const (
	// dnsTTL is the TTL of the embedded server's own answers (docker's).
	dnsTTL = 600
	// upstreamTimeout bounds one exchange with one upstream server (dial,
	// write and read), over UDP and again over TCP.
	upstreamTimeout = 2 * time.Second
	// maxUDPQuery is the largest query the server reads over UDP.
	maxUDPQuery = 4096
)

// resolver answers the queries of one container's DNS server from its
// config and record files, which it re-reads when they change.
type resolver struct {
	configPath string

	mu       sync.Mutex
	confInfo os.FileInfo // of the config last parsed
	upstream []string    // host:port
	records  []string    // record file paths, in the config's order
	files    map[string]*recordFile
}

// recordFile is one parsed record file; it is not changed once made (a
// changed file makes a new one), so it can be read without the lock.
type recordFile struct {
	info  os.FileInfo // nil: the file is missing
	names map[string][]netip.Addr
	ptr   map[netip.Addr]string // address -> the name a PTR answers
}

// newResolver reads the config at configPath; it must be there.
func newResolver(configPath string) (*resolver, error) {
	r := &resolver{configPath: configPath, files: map[string]*recordFile{}}
	if err := r.loadConfig(); err != nil {
		return nil, err
	}
	return r, nil
}

// fileChanged reports whether the file now described by cur is not the one
// last read (described by prev): replaced, resized or modified.
func fileChanged(prev, cur os.FileInfo) bool {
	return prev == nil || !os.SameFile(prev, cur) || prev.Size() != cur.Size() || !prev.ModTime().Equal(cur.ModTime())
}

// readStamped reads a file and describes what it read (the info of the
// open file, so that a file replaced meanwhile is read again next time).
func readStamped(path string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	return data, fi, err
}

// loadConfig parses the config; on failure the previous one stays.
func (r *resolver) loadConfig() error {
	data, info, err := readStamped(r.configPath)
	if err != nil {
		return fmt.Errorf("read DNS config: %w", err)
	}
	var c DNSConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("parse DNS config %s: %w", r.configPath, err)
	}
	r.confInfo = info
	r.records = append([]string(nil), c.Records...)
	r.upstream = r.upstream[:0]
	for _, u := range c.Upstream {
		if u = strings.TrimSpace(u); u != "" {
			r.upstream = append(r.upstream, upstreamAddr(u))
		}
	}
	return nil
}

// upstreamAddr makes host:port of a server address, port 53 when missing
// ("8.8.8.8", "[2001:db8::1]:5353", "::1", "dns.example:53").
func upstreamAddr(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(a.String(), "53")
	}
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), "53")
}

// parseRecords makes a recordFile of a record file's content.
func parseRecords(data []byte, info os.FileInfo) (*recordFile, error) {
	var recs Records
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, err
	}
	rf := &recordFile{info: info, names: map[string][]netip.Addr{}, ptr: map[netip.Addr]string{}}
	for name, addrs := range recs.Names {
		name = strings.TrimSuffix(strings.ToLower(name), ".")
		for _, a := range addrs {
			a = a.Unmap()
			if !a.Is4() {
				continue
			}
			rf.names[name] = append(rf.names[name], a)
			// The PTR names the shortest name of the address (the
			// container's name or an alias rather than its ID or a
			// NAME.NETWORK), the first in order among equals.
			if cur, ok := rf.ptr[a]; !ok || len(name) < len(cur) || len(name) == len(cur) && name < cur {
				rf.ptr[a] = name
			}
		}
	}
	return rf, nil
}

// current re-reads what changed and returns the upstream servers and the
// record files, in the config's order.
func (r *resolver) current() (upstream []string, files []*recordFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fi, err := os.Stat(r.configPath); err == nil && fileChanged(r.confInfo, fi) {
		// A config that cannot be read or parsed leaves the last one.
		r.loadConfig()
	}
	keep := make(map[string]*recordFile, len(r.records))
	for _, path := range r.records {
		rf := r.files[path]
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			// A missing file answers nothing (its network is gone); one
			// that cannot be stat'ed keeps what it had.
			if os.IsNotExist(err) || rf == nil {
				rf = &recordFile{}
			}
		case rf == nil || rf.info == nil || fileChanged(rf.info, fi):
			if data, info, err := readStamped(path); err == nil {
				if nrf, err := parseRecords(data, info); err == nil {
					rf = nrf
				}
			}
			if rf == nil {
				rf = &recordFile{}
			}
		}
		keep[path] = rf
		files = append(files, rf)
	}
	r.files = keep
	return append([]string(nil), r.upstream...), files
}

// ServeDNS answers one query (the dns.Handler of both servers).
func (r *resolver) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	resp := r.answer(q)
	size := dns.MaxMsgSize
	if _, tcp := w.LocalAddr().(*net.TCPAddr); !tcp {
		size = dns.MinMsgSize
		if opt := q.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
	}
	// Sets TC when the answer does not fit a UDP client's buffer, which
	// then asks again over TCP.
	resp.Truncate(size)
	w.WriteMsg(resp)
}

// answer is the reply to q: from the records, or from upstream.
func (r *resolver) answer(q *dns.Msg) *dns.Msg {
	upstream, files := r.current()
	if len(q.Question) != 1 || q.Opcode != dns.OpcodeQuery {
		return forwardQuery(q, upstream)
	}
	qs := q.Question[0]
	if qs.Qclass != dns.ClassINET && qs.Qclass != dns.ClassANY {
		return forwardQuery(q, upstream)
	}
	name := strings.TrimSuffix(strings.ToLower(qs.Name), ".")
	if qs.Qtype == dns.TypePTR {
		if a, ok := ptrAddr(name); ok {
			for _, rf := range files {
				if target, ok := rf.ptr[a]; ok {
					m := ownReply(q)
					m.Answer = append(m.Answer, &dns.PTR{
						Hdr: dns.RR_Header{Name: qs.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: dnsTTL},
						Ptr: dns.Fqdn(target),
					})
					return m
				}
			}
		}
		return forwardQuery(q, upstream)
	}
	for _, rf := range files {
		addrs, ok := rf.names[name]
		if !ok {
			continue
		}
		// A known name: its A records; for any other type (AAAA
		// included) an empty NOERROR, so that a resolver asking for both
		// uses the A answer and does not go on searching.
		m := ownReply(q)
		if qs.Qtype == dns.TypeA || qs.Qtype == dns.TypeANY {
			for _, a := range addrs {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: qs.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: dnsTTL},
					A:   net.IP(a.AsSlice()),
				})
			}
		}
		return m
	}
	return forwardQuery(q, upstream)
}

// ownReply is the start of an answer of the server's own.
func ownReply(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	m.RecursionAvailable = true
	return m
}

// ptrAddr is the IPv4 address of a reverse name ("4.3.2.1.in-addr.arpa",
// lower case, no trailing dot).
func ptrAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	labels := strings.Split(rest, ".")
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, l := range labels {
		n, err := strconv.ParseUint(l, 10, 8)
		if err != nil || len(l) > 1 && l[0] == '0' {
			return netip.Addr{}, false
		}
		b[3-i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}

// forwardQuery relays q (its ID and flags as they are) to the upstream servers
// in turn and returns the first answer, asking again over TCP when the
// UDP answer is truncated. An upstream's SERVFAIL or REFUSED moves on to
// the next server, and is the answer if no other gives one; no answer at
// all is a SERVFAIL.
func forwardQuery(q *dns.Msg, upstream []string) *dns.Msg {
	var failed *dns.Msg
	for _, u := range upstream {
		resp, err := exchangeUpstream(q, u)
		if err != nil {
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			if failed == nil {
				failed = resp
			}
			continue
		}
		return resp
	}
	if failed != nil {
		return failed
	}
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	return m
}

// exchangeUpstream asks one upstream server over UDP, then over TCP if the answer
// is truncated (the truncated answer stands if TCP fails). The sockets are
// made by whichever thread runs this: in the caller's namespace.
func exchangeUpstream(q *dns.Msg, server string) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: upstreamTimeout, UDPSize: dns.MaxMsgSize}
	resp, _, err := c.Exchange(q, server)
	if err != nil || !resp.Truncated {
		return resp, err
	}
	c.Net = "tcp"
	if full, _, err := c.Exchange(q, server); err == nil {
		return full, nil
	}
	return resp, nil
}
