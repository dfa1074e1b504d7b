package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/berth-project/berth/internal/gate"
)

// newDNSTestNetNS makes a throwaway network namespace with its loopback up,
// pinned on a file that is unmounted at the end of the test.
func newDNSTestNetNS(t *testing.T) string {
	t.Helper()
	gate.Root(t)
	path := filepath.Join(t.TempDir(), "netns")
	if err := NewNetNS(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkDNSThreads(t)
		if err := DeleteNetNS(path); err != nil {
			t.Errorf("unpin netns %s: %v", path, err)
		}
		if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), path) {
			t.Errorf("netns %s still mounted", path)
		}
	})
	return path
}

// checkDNSThreads fails the test if a thread of the process is in another
// network namespace than the process's main thread (a thread that went
// into a test namespace and was not discarded).
func checkDNSThreads(t *testing.T) {
	t.Helper()
	want, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, task := range tasks {
		if got, err := os.Readlink(task); err == nil && got != want {
			t.Errorf("%s is %s, want %s", task, got, want)
		}
	}
}

// dnsFixture is a namespace, a config with one record file, and the
// server in the namespace.
type dnsFixture struct {
	t       *testing.T
	ns      string
	dir     string
	config  string
	records string
	cancel  context.CancelFunc
	done    <-chan struct{}
}

// serveTestDNS starts the server in a new namespace with the given records and
// upstream servers; it is stopped (and checked to be) at the end.
func serveTestDNS(t *testing.T, names map[string][]netip.Addr, upstream ...string) *dnsFixture {
	t.Helper()
	f := &dnsFixture{t: t, ns: newDNSTestNetNS(t), dir: t.TempDir()}
	f.records = filepath.Join(f.dir, "net1.json")
	f.config = filepath.Join(f.dir, "dns.json")
	if err := WriteRecords(f.records, Records{Names: names}); err != nil {
		t.Fatal(err)
	}
	if err := WriteDNSConfig(f.config, DNSConfig{Records: []string{f.records}, Upstream: upstream}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, err := serveDNS(ctx, f.ns, f.config)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	f.cancel, f.done = cancel, done
	t.Cleanup(f.stop)
	return f
}

// stop ends the server and waits until its sockets are closed.
func (f *dnsFixture) stop() {
	f.cancel()
	select {
	case <-f.done:
	case <-time.After(30 * time.Second): // a guard against a hang
		f.t.Fatal("the DNS server did not stop")
	}
}

// exchangeDNSIn sends m over proto ("udp", "tcp") from inside the namespace.
func exchangeDNSIn(t *testing.T, ns, proto string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 20 * time.Second, UDPSize: dns.MinMsgSize}
	var co *dns.Conn
	err := InNetNS(ns, func() (err error) {
		co, err = c.Dial(net.JoinHostPort(DNSAddr.String(), "53"))
		return err
	})
	if err != nil {
		t.Fatalf("dial the DNS server in %s over %s: %v", ns, proto, err)
	}
	defer co.Close()
	resp, _, err := c.ExchangeWithConn(m, co)
	if err != nil {
		t.Fatalf("%s over %s: %v", m.Question[0].String(), proto, err)
	}
	if resp.Id != m.Id {
		t.Fatalf("answer of id %d to a query of id %d", resp.Id, m.Id)
	}
	return resp
}

// askDNS queries name/qtype over proto and returns rcode and answer strings.
func askDNS(t *testing.T, ns, proto, name string, qtype uint16) (int, []string) {
	t.Helper()
	resp := exchangeDNSIn(t, ns, proto, new(dns.Msg).SetQuestion(name, qtype))
	var answer []string
	for _, rr := range resp.Answer {
		answer = append(answer, rr.String())
	}
	return resp.Rcode, answer
}

// fakeUpstream is a fake upstream server on 127.0.0.1 (of the test's own
// namespace, where the embedded server forwards from), UDP and TCP on the
// same port.
type fakeUpstream struct {
	addr       string
	udpQ, tcpQ atomic.Int32
	mu         sync.Mutex
	last       *dns.Msg
	servers    []*dns.Server
	handle     func(q *dns.Msg, tcp bool) *dns.Msg
}

func newFakeUpstream(t *testing.T, handle func(q *dns.Msg, tcp bool) *dns.Msg) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{handle: handle}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp4", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if i == 20 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	u.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		_, tcp := w.LocalAddr().(*net.TCPAddr)
		if tcp {
			u.tcpQ.Add(1)
		} else {
			u.udpQ.Add(1)
		}
		u.mu.Lock()
		u.last = q.Copy()
		u.mu.Unlock()
		if r := u.handle(q, tcp); r != nil {
			w.WriteMsg(r)
		}
	})
	started := make(chan struct{}, 2)
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		s.NotifyStartedFunc = func() { started <- struct{}{} }
		u.servers = append(u.servers, s)
		go s.ActivateAndServe()
	}
	<-started
	<-started
	t.Cleanup(func() {
		for _, s := range u.servers {
			s.Shutdown()
		}
	})
	return u
}

// upstreamAnswersA answers every A query with the addresses given, NXDOMAIN for
// names starting with "nx".
func upstreamAnswersA(addrs ...string) func(q *dns.Msg, tcp bool) *dns.Msg {
	return func(q *dns.Msg, tcp bool) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		if strings.HasPrefix(q.Question[0].Name, "nx") {
			m.Rcode = dns.RcodeNameError
			return m
		}
		for _, a := range addrs {
			rr, _ := dns.NewRR(q.Question[0].Name + " 30 IN A " + a)
			m.Answer = append(m.Answer, rr)
		}
		return m
	}
}

func mustAddrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestServeDNSRecords(t *testing.T) {
	up := newFakeUpstream(t, upstreamAnswersA("93.184.216.34"))
	f := serveTestDNS(t, map[string][]netip.Addr{
		"web":          mustAddrs("172.18.0.2"),
		"web.net1":     mustAddrs("172.18.0.2"),
		"0123456789ab": mustAddrs("172.18.0.2"),
		"db":           mustAddrs("172.18.0.3", "172.18.0.4"),
	}, up.addr)

	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"web.", dns.TypeA, dns.RcodeSuccess, []string{"web.\t600\tIN\tA\t172.18.0.2"}},
		{"WEB.NET1.", dns.TypeA, dns.RcodeSuccess, []string{"WEB.NET1.\t600\tIN\tA\t172.18.0.2"}},
		{"0123456789ab.", dns.TypeA, dns.RcodeSuccess, []string{"0123456789ab.\t600\tIN\tA\t172.18.0.2"}},
		{"db.", dns.TypeA, dns.RcodeSuccess, []string{"db.\t600\tIN\tA\t172.18.0.3", "db.\t600\tIN\tA\t172.18.0.4"}},
		{"web.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"2.0.18.172.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"2.0.18.172.in-addr.arpa.\t600\tIN\tPTR\tweb."}},
		{"4.0.18.172.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"4.0.18.172.in-addr.arpa.\t600\tIN\tPTR\tdb."}},
		// Not ours: the upstream's answer.
		{"example.com.", dns.TypeA, dns.RcodeSuccess, []string{"example.com.\t30\tIN\tA\t93.184.216.34"}},
		{"nx.example.", dns.TypeA, dns.RcodeNameError, nil},
		{"web.other.", dns.TypeA, dns.RcodeSuccess, []string{"web.other.\t30\tIN\tA\t93.184.216.34"}},
	}
	for _, proto := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			rcode, answer := askDNS(t, f.ns, proto, tc.name, tc.qtype)
			if rcode != tc.rcode || strings.Join(answer, "\n") != strings.Join(tc.answer, "\n") {
				t.Errorf("%s %s over %s: %s %q, want %s %q", tc.name, dns.TypeToString[tc.qtype], proto,
					dns.RcodeToString[rcode], answer, dns.RcodeToString[tc.rcode], tc.answer)
			}
		}
	}
	if up.udpQ.Load() == 0 {
		t.Error("the upstream was never asked")
	}

	// The record file rewritten: web moved, db gone, cache new.
	if err := WriteRecords(f.records, Records{Names: map[string][]netip.Addr{
		"web": mustAddrs("172.18.0.9"), "cache": mustAddrs("172.18.0.5"),
	}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"web.":                     "web.\t600\tIN\tA\t172.18.0.9",
		"cache.":                   "cache.\t600\tIN\tA\t172.18.0.5",
		"db.":                      "db.\t30\tIN\tA\t93.184.216.34", // forwarded now
		"9.0.18.172.in-addr.arpa.": "9.0.18.172.in-addr.arpa.\t600\tIN\tPTR\tweb.",
	}
	check := func(want map[string]string) {
		t.Helper()
		for name, w := range want {
			qtype := dns.TypeA
			if strings.HasSuffix(name, ".arpa.") {
				qtype = dns.TypePTR
			}
			if _, answer := askDNS(t, f.ns, "udp", name, qtype); strings.Join(answer, "\n") != w {
				t.Errorf("%s: %q, want %q", name, answer, w)
			}
		}
	}
	check(want)

	// A second network: its record file added to the config.
	second := filepath.Join(f.dir, "net2.json")
	if err := WriteRecords(second, Records{Names: map[string][]netip.Addr{
		"api": mustAddrs("10.20.0.2"), "web": mustAddrs("10.20.0.3"),
	}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteDNSConfig(f.config, DNSConfig{Records: []string{f.records, second}, Upstream: []string{up.addr}}); err != nil {
		t.Fatal(err)
	}
	want["api."] = "api.\t600\tIN\tA\t10.20.0.2"
	want["3.0.20.10.in-addr.arpa."] = "3.0.20.10.in-addr.arpa.\t600\tIN\tPTR\tweb."
	check(want) // web: the first network's answer still

	// The first network left: only the second's names.
	if err := WriteDNSConfig(f.config, DNSConfig{Records: []string{second}, Upstream: []string{up.addr}}); err != nil {
		t.Fatal(err)
	}
	check(map[string]string{
		"web.":   "web.\t600\tIN\tA\t10.20.0.3",
		"cache.": "cache.\t30\tIN\tA\t93.184.216.34",
	})
}

func TestServeDNSForward(t *testing.T) {
	big := make([]string, 60) // 60 A records: over 512 bytes
	for i := range big {
		big[i] = fmt.Sprintf("10.9.0.%d", i+1)
	}
	full := upstreamAnswersA(big...)
	// Over UDP it answers truncated, without records; over TCP in full.
	up := newFakeUpstream(t, func(q *dns.Msg, tcp bool) *dns.Msg {
		if q.Question[0].Name == "small.example." {
			if tcp {
				return upstreamAnswersA("192.0.2.1")(q, tcp)
			}
			m := new(dns.Msg).SetReply(q)
			m.Truncated = true
			return m
		}
		if tcp {
			return full(q, tcp)
		}
		m := new(dns.Msg).SetReply(q)
		m.Truncated = true
		return m
	})
	f := serveTestDNS(t, nil, up.addr)

	// ID and RD reach the upstream as the client sent them.
	q := new(dns.Msg).SetQuestion("small.example.", dns.TypeA)
	q.Id, q.RecursionDesired = 4242, true
	resp := exchangeDNSIn(t, f.ns, "udp", q)
	if len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.1" || resp.Truncated {
		t.Fatalf("small answer relayed over UDP: %v", resp)
	}
	if up.udpQ.Load() != 1 || up.tcpQ.Load() != 1 {
		t.Errorf("upstream asked %d times over UDP and %d over TCP, want once each (TCP after the truncated UDP answer)", up.udpQ.Load(), up.tcpQ.Load())
	}
	up.mu.Lock()
	last := up.last
	up.mu.Unlock()
	if last.Id != 4242 || !last.RecursionDesired {
		t.Errorf("upstream got id %d rd %v, want 4242 true", last.Id, last.RecursionDesired)
	}
	q.RecursionDesired = false
	exchangeDNSIn(t, f.ns, "udp", q)
	up.mu.Lock()
	last = up.last
	up.mu.Unlock()
	if last.RecursionDesired {
		t.Error("upstream got rd set for a query without it")
	}

	// Too big for the client's UDP: truncated for it, in full over TCP.
	resp = exchangeDNSIn(t, f.ns, "udp", new(dns.Msg).SetQuestion("big.example.", dns.TypeA))
	if !resp.Truncated || len(resp.Answer) >= len(big) {
		t.Errorf("big answer over UDP: truncated %v with %d records, want truncated", resp.Truncated, len(resp.Answer))
	}
	resp = exchangeDNSIn(t, f.ns, "tcp", new(dns.Msg).SetQuestion("big.example.", dns.TypeA))
	if resp.Truncated || len(resp.Answer) != len(big) {
		t.Errorf("big answer over TCP: truncated %v with %d records, want all %d", resp.Truncated, len(resp.Answer), len(big))
	}
	// With EDNS0 and a big enough buffer, in full over UDP.
	q = new(dns.Msg).SetQuestion("big.example.", dns.TypeA)
	q.SetEdns0(4096, false)
	c := &dns.Client{Net: "udp", Timeout: 20 * time.Second}
	var co *dns.Conn
	if err := InNetNS(f.ns, func() (err error) { co, err = c.Dial("127.0.0.11:53"); return err }); err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	if resp, _, err := c.ExchangeWithConn(q, co); err != nil || resp.Truncated || len(resp.Answer) != len(big) {
		t.Errorf("big answer over UDP with EDNS0: %v", err)
	}
}

func TestServeDNSServfail(t *testing.T) {
	// Refused: a port nobody listens on.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := pc.LocalAddr().String()
	pc.Close()
	// Silent: a socket that never answers (UDP times out; TCP is refused).
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	failing := newFakeUpstream(t, func(q *dns.Msg, tcp bool) *dns.Msg { return new(dns.Msg).SetRcode(q, dns.RcodeServerFailure) })
	good := newFakeUpstream(t, upstreamAnswersA("192.0.2.7"))

	tests := []struct {
		name     string
		upstream []string
		rcode    int
		answer   bool
	}{
		{"no upstream", nil, dns.RcodeServerFailure, false},
		{"refused", []string{refused}, dns.RcodeServerFailure, false},
		{"silent", []string{silent.LocalAddr().String()}, dns.RcodeServerFailure, false},
		{"upstream's SERVFAIL", []string{failing.addr}, dns.RcodeServerFailure, false},
		{"dead, failing, then good", []string{refused, failing.addr, good.addr}, dns.RcodeSuccess, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := serveTestDNS(t, map[string][]netip.Addr{"web": mustAddrs("172.18.0.2")}, tc.upstream...)
			rcode, answer := askDNS(t, f.ns, "udp", "example.com.", dns.TypeA)
			if rcode != tc.rcode || (len(answer) > 0) != tc.answer {
				t.Errorf("forwarded: %s %q, want %s", dns.RcodeToString[rcode], answer, dns.RcodeToString[tc.rcode])
			}
			// Its own names whatever the upstream.
			if rcode, answer := askDNS(t, f.ns, "tcp", "web.", dns.TypeA); rcode != dns.RcodeSuccess || len(answer) != 1 {
				t.Errorf("own name: %s %q", dns.RcodeToString[rcode], answer)
			}
		})
	}
}

// dnsPortFree reports whether UDP and TCP can bind DNSAddr:53 in ns.
func dnsPortFree(ns string) error {
	return InNetNS(ns, func() error {
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(DNSAddr.AsSlice()), Port: 53})
		if err != nil {
			return err
		}
		u.Close()
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IP(DNSAddr.AsSlice()), Port: 53})
		if err != nil {
			return err
		}
		return l.Close()
	})
}

func TestServeDNSStop(t *testing.T) {
	f := serveTestDNS(t, map[string][]netip.Addr{"web": mustAddrs("172.18.0.2")})
	if err := dnsPortFree(f.ns); err == nil {
		t.Fatal("127.0.0.11:53 free while the server runs")
	}
	// A TCP client connected, idle, when the server stops.
	var idle net.Conn
	if err := InNetNS(f.ns, func() (err error) { idle, err = net.Dial("tcp4", "127.0.0.11:53"); return err }); err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	askDNS(t, f.ns, "udp", "web.", dns.TypeA)
	f.stop()
	if err := dnsPortFree(f.ns); err != nil {
		t.Fatalf("127.0.0.11:53 after the server stopped: %v", err)
	}
	idle.SetReadDeadline(time.Now().Add(20 * time.Second)) // a guard
	if _, err := idle.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle client's connection after the stop: %v, want it closed", err)
	}
}

func TestServeDNSSetupErrors(t *testing.T) {
	f := serveTestDNS(t, map[string][]netip.Addr{"web": mustAddrs("172.18.0.2")})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	err := ServeDNS(ctx, f.ns, f.config)
	if err == nil || !strings.Contains(err.Error(), "embedded DNS") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("a second server in the namespace: %v, want an embedded DNS error saying the address is in use", err)
	}
	missing := filepath.Join(t.TempDir(), "no-netns")
	err = ServeDNS(ctx, missing, f.config)
	if err == nil || !strings.Contains(err.Error(), "embedded DNS") || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing namespace: %v, want an embedded DNS error naming it", err)
	}
	err = ServeDNS(ctx, f.records, f.config) // a file that is not a namespace
	if err == nil || !strings.Contains(err.Error(), "embedded DNS") {
		t.Errorf("not a namespace: %v", err)
	}
	err = ServeDNS(ctx, f.ns, filepath.Join(f.dir, "missing.json"))
	if err == nil || !strings.Contains(err.Error(), "embedded DNS") || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("a missing config: %v", err)
	}
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := ServeDNS(canceled, f.ns, f.config); !errors.Is(err, context.Canceled) {
		t.Errorf("a canceled context: %v", err)
	}
	// The first server is unharmed.
	if rcode, answer := askDNS(t, f.ns, "udp", "web.", dns.TypeA); rcode != dns.RcodeSuccess || len(answer) != 1 {
		t.Errorf("the first server after the failed ones: %s %q", dns.RcodeToString[rcode], answer)
	}
}
