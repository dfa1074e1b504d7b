package network

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/gate"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nftNS is a throwaway network namespace held by one locked OS thread:
// do runs functions on that thread, so sockets, /proc/sys/net and the
// package's nftables functions all work in the namespace. The thread is
// never unlocked: when its goroutine ends the runtime ends it, and the
// namespace goes with the last reference.
type nftNS struct {
	t    testing.TB
	name string
	fd   int    // the namespace, open (for netlink handles and veth peers)
	tid  int    // the thread
	id   string // the namespace as /proc shows it: net:[INODE]
	h    *netlink.Handle
	fns  chan func()
	done chan struct{}

	mu      sync.Mutex
	closers []func()
}

func newNftNS(t testing.TB, name string) *nftNS {
	t.Helper()
	n := &nftNS{t: t, name: name, fns: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	onLockedThread(func() {
		defer close(n.done)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ready <- err
			return
		}
		n.fd = fd
		n.tid = unix.Gettid()
		n.id, err = os.Readlink("/proc/thread-self/ns/net")
		ready <- err
		for f := range n.fns {
			f()
		}
	})
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(n.fd))
	if err != nil {
		t.Fatal(err)
	}
	n.h = h
	t.Cleanup(n.close)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return n
}

// onLockedThread runs body in a new goroutine locked to a thread other
// than the main one, and never unlocked. The runtime ends such a thread
// when its goroutine ends, but not the main thread: that one it parks for
// good, in whatever namespace it was moved to.
func onLockedThread(body func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			body()
			return
		}
		// On the main thread: hand over to a goroutine that cannot get
		// it, as this one holds it until the other has its own thread.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			body()
		}()
		<-locked
		runtime.UnlockOSThread()
	}()
}

// do runs f on the namespace's thread.
func (n *nftNS) do(f func() error) error {
	errc := make(chan error, 1)
	n.fns <- func() { errc <- f() }
	return <-errc
}

// onClose registers what to close before the namespace goes (sockets
// hold it).
func (n *nftNS) onClose(f func()) {
	n.mu.Lock()
	n.closers = append(n.closers, f)
	n.mu.Unlock()
}

func (n *nftNS) close() {
	n.mu.Lock()
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i]()
	}
	n.closers = nil
	n.mu.Unlock()
	n.h.Close()
	close(n.fns)
	<-n.done
	unix.Close(n.fd)

	// Nothing left: the thread ends soon after its goroutine, and then
	// no thread of ours may be in the namespace (nor an open file be it).
	task := fmt.Sprintf("/proc/self/task/%d", n.tid)
	for i := 0; i < 1000; i++ {
		if _, err := os.Stat(task); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, glob := range []string{"/proc/self/task/*/ns/net", "/proc/self/fd/*"} {
		paths, _ := filepath.Glob(glob)
		for _, p := range paths {
			if id, _ := os.Readlink(p); id == n.id {
				st, _ := os.ReadFile(filepath.Dir(filepath.Dir(p)) + "/stat")
				n.t.Errorf("namespace %s (%s, thread %d) still held: %s %s", n.name, n.id, n.tid, p, st)
			}
		}
	}
}

// sysctl writes a /proc/sys file from the namespace's thread (a
// /proc/sys/net file shows the network namespace of the task that opens
// it) and reads it back.
func (n *nftNS) sysctl(t testing.TB, path, val string) {
	t.Helper()
	err := n.do(func() error {
		if err := os.WriteFile(path, []byte(val), 0o644); err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b)); got != val {
			return fmt.Errorf("%s is %q after writing %q", path, got, val)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
}

// addr gives a link of the namespace an address and brings it up.
func (n *nftNS) addrUp(t testing.TB, link string, addr string) {
	t.Helper()
	l, err := n.h.LinkByName(link)
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	if addr != "" {
		a, err := netlink.ParseAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.h.AddrAdd(l, a); err != nil {
			t.Fatalf("%s: address %s on %s: %v", n.name, addr, link, err)
		}
	}
	if err := n.h.LinkSetUp(l); err != nil {
		t.Fatalf("%s: up %s: %v", n.name, link, err)
	}
}

func (n *nftNS) defaultRoute(t testing.TB, gw string) {
	t.Helper()
	if err := n.h.RouteAdd(&netlink.Route{Gw: net.ParseIP(gw)}); err != nil {
		t.Fatalf("%s: default route via %s: %v", n.name, gw, err)
	}
}

// veth makes a pair: host end hostName in n (on master if not ""), the
// peer eth0 in peer with addr.
func (n *nftNS) veth(t testing.TB, hostName, master string, peer *nftNS, addr string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostName}, PeerName: "eth0", PeerNamespace: netlink.NsFd(peer.fd)}
	if err := n.h.LinkAdd(v); err != nil {
		t.Fatalf("veth %s: %v", hostName, err)
	}
	l, err := n.h.LinkByName(hostName)
	if err != nil {
		t.Fatal(err)
	}
	if master != "" {
		br, err := n.h.LinkByName(master)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.h.LinkSetMaster(l, br); err != nil {
			t.Fatalf("%s on %s: %v", hostName, master, err)
		}
		if err := n.h.LinkSetHairpin(l, true); err != nil {
			t.Fatalf("hairpin on %s: %v", hostName, err)
		}
	}
	if err := n.h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	peer.addrUp(t, "eth0", addr)
}

func (n *nftNS) bridge(t testing.TB, name, addr string) {
	t.Helper()
	if err := n.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		t.Fatalf("bridge %s: %v", name, err)
	}
	n.addrUp(t, name, addr)
	n.sysctl(t, "/proc/sys/net/ipv4/conf/"+name+"/route_localnet", "1")
}

// serveTCP answers each connection to port with "NAME REMOTEADDR".
func (n *nftNS) serveTCP(t testing.TB, port int) {
	t.Helper()
	var l net.Listener
	err := n.do(func() (err error) {
		l, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s\n", n.name, c.RemoteAddr())
			c.Close()
		}
	}()
	n.onClose(func() { l.Close(); wg.Wait() })
}

// serveUDP answers each datagram to port with "NAME REMOTEADDR".
func (n *nftNS) serveUDP(t testing.TB, port int) {
	t.Helper()
	var c net.PacketConn
	err := n.do(func() (err error) {
		c, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo([]byte(fmt.Sprintf("%s %s", n.name, from)), from)
		}
	}()
	n.onClose(func() { c.Close(); wg.Wait() })
}

// How long a connection may take before we call it dropped. Reaching a
// server takes well under a millisecond here; a dropped SYN never gets
// an answer.
const (
	nftReachTimeout = 10 * time.Second
	nftDropTimeout  = time.Second
)

// fetch connects from n to addr over TCP and returns the server's line.
func (n *nftNS) fetch(addr string, timeout time.Duration) (string, error) {
	var line string
	err := n.do(func() error {
		c, err := net.DialTimeout("tcp4", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(nftReachTimeout))
		line, err = bufio.NewReader(c).ReadString('\n')
		line = strings.TrimSpace(line)
		return err
	})
	return line, err
}

// fetchUDP sends a datagram from n to addr and returns the answer.
func (n *nftNS) fetchUDP(addr string) (string, error) {
	var ans string
	err := n.do(func() error {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(nftReachTimeout))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		k, err := c.Read(buf)
		ans = string(buf[:k])
		return err
	})
	return ans, err
}

// reach asserts that from n, addr answers with a line starting with want
// (server name and remote address prefix, "c1 192.0.2.1:").
func (n *nftNS) reach(t *testing.T, addr, want string) {
	t.Helper()
	got, err := n.fetch(addr, nftReachTimeout)
	if err != nil {
		t.Errorf("%s -> %s: %v, want %q", n.name, addr, err, want)
		return
	}
	if !strings.HasPrefix(got, want) {
		t.Errorf("%s -> %s: answered %q, want %q...", n.name, addr, got, want)
	}
}

// blocked asserts that from n, addr cannot be reached (dropped or
// refused).
func (n *nftNS) blocked(t *testing.T, addr string) {
	t.Helper()
	if got, err := n.fetch(addr, nftDropTimeout); err == nil {
		t.Errorf("%s -> %s: answered %q, want no connection", n.name, addr, got)
	}
}

// refused asserts that from n, addr refuses (nothing listens, no DNAT).
func (n *nftNS) refused(t *testing.T, addr string) {
	t.Helper()
	got, err := n.fetch(addr, nftReachTimeout)
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("%s -> %s: %q, %v; want connection refused", n.name, addr, got, err)
	}
}

func (n *nftNS) ruleCount(t testing.TB) int {
	t.Helper()
	var k int
	if err := n.do(func() (err error) { k, err = RuleCount(""); return err }); err != nil {
		t.Fatalf("RuleCount: %v", err)
	}
	return k
}

func (n *nftNS) apply(t testing.TB, r Rules) {
	t.Helper()
	if err := n.do(func() error { return ApplyRules(r) }); err != nil {
		t.Fatalf("ApplyRules: %v", err)
	}
}

// nftGate skips unless root with network namespaces (everything runs in
// throwaway ones).
func nftGate(t testing.TB) {
	t.Helper()
	gate.Root(t)
	gate.Namespace(t, "net")
}

// nftHostRuleCount is berth's rule count in the test's own namespace, to
// check that the tests leave the host alone.
func nftHostRuleCount(t testing.TB) int {
	t.Helper()
	k, err := RuleCount("")
	if err != nil {
		t.Fatalf("RuleCount in the host namespace: %v", err)
	}
	return k
}

// TestNftEndToEnd builds a host namespace with three bridges (two
// ordinary, one internal), a container namespace on each, and an
// "outside" namespace routed through the host, then checks published
// ports, masquerade, hairpin, isolation and removal by real connections.
func TestNftEndToEnd(t *testing.T) {
	nftGate(t)
	before := nftHostRuleCount(t)

	host := newNftNS(t, "host")
	c1 := newNftNS(t, "c1")
	c2 := newNftNS(t, "c2")
	c3 := newNftNS(t, "c3")
	out := newNftNS(t, "out")

	host.sysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
	host.bridge(t, "bt-br1", "192.0.2.1/25")
	host.bridge(t, "bt-br2", "198.51.100.1/24")
	host.bridge(t, "bt-br3", "192.0.2.129/25")
	host.veth(t, "bt-v1", "bt-br1", c1, "192.0.2.2/25")
	host.veth(t, "bt-v2", "bt-br2", c2, "198.51.100.2/24")
	host.veth(t, "bt-v3", "bt-br3", c3, "192.0.2.130/25")
	host.veth(t, "bt-vo", "", out, "203.0.113.2/24")
	host.addrUp(t, "bt-vo", "203.0.113.1/24")
	c1.defaultRoute(t, "192.0.2.1")
	c2.defaultRoute(t, "198.51.100.1")
	c3.defaultRoute(t, "192.0.2.129")
	out.defaultRoute(t, "203.0.113.1")
	for _, n := range []*nftNS{c1, c2, c3, out} {
		n.serveTCP(t, 80)
	}
	c1.serveUDP(t, 53)

	// Without rules: plain routing, everything reaches everything.
	c1.reach(t, "198.51.100.2:80", "c2 192.0.2.2:")
	out.reach(t, "192.0.2.2:80", "c1 203.0.113.2:")
	c3.reach(t, "203.0.113.2:80", "out 192.0.2.130:")
	host.refused(t, "127.0.0.1:8080")
	if k := host.ruleCount(t); k != 0 {
		t.Fatalf("RuleCount before ApplyRules = %d, want 0", k)
	}

	hostIP := netip.MustParseAddr("203.0.113.1")
	c1IP := netip.MustParseAddr("192.0.2.2")
	bridges := []BridgeRules{
		{Name: "bt-br1", Subnet: netip.MustParsePrefix("192.0.2.0/25")},
		{Name: "bt-br2", Subnet: netip.MustParsePrefix("198.51.100.0/24")},
		{Name: "bt-br3", Subnet: netip.MustParsePrefix("192.0.2.128/25"), Internal: true},
	}
	web := PortRule{Proto: "tcp", HostPort: 8080, CtrIP: c1IP, CtrPort: 80, Bridge: "bt-br1"}
	dns := PortRule{Proto: "udp", HostPort: 8053, CtrIP: c1IP, CtrPort: 53, Bridge: "bt-br1"}
	onHostIP := PortRule{Proto: "tcp", HostIP: hostIP, HostPort: 9090, CtrIP: netip.MustParseAddr("198.51.100.2"), CtrPort: 80, Bridge: "bt-br2"}
	internal := PortRule{Proto: "tcp", HostPort: 7070, CtrIP: netip.MustParseAddr("192.0.2.130"), CtrPort: 80, Bridge: "bt-br3"}
	r := Rules{Bridges: bridges, Ports: []PortRule{web, dns, onHostIP, internal}}
	host.apply(t, r)
	// Rules, plus one map entry per published port (the internal one is
	// not published).
	const wantRules = 2 + 2 + 2*2 + 1 + 5 + 3
	if k := host.ruleCount(t); k != wantRules {
		t.Errorf("RuleCount = %d, want %d", k, wantRules)
	}
	host.apply(t, r) // again: the same table, nothing doubled
	if k := host.ruleCount(t); k != wantRules {
		t.Errorf("RuleCount after a second ApplyRules = %d, want %d", k, wantRules)
	}

	t.Run("published from the host", func(t *testing.T) {
		// 127.0.0.1 goes out the bridge (route_localnet) masqueraded
		// to the gateway.
		host.reach(t, "127.0.0.1:8080", "c1 192.0.2.1:")
		host.reach(t, "192.0.2.1:8080", "c1 192.0.2.1:")
		host.reach(t, "203.0.113.1:8080", "c1 ")
		host.reach(t, "198.51.100.1:8080", "c1 ")
		got, err := host.fetchUDP("127.0.0.1:8053")
		if err != nil || !strings.HasPrefix(got, "c1 192.0.2.1:") {
			t.Errorf("udp 127.0.0.1:8053: %q, %v; want c1 192.0.2.1:...", got, err)
		}
		// A port published on one host address only.
		host.reach(t, "203.0.113.1:9090", "c2 ")
		host.refused(t, "127.0.0.1:9090")
	})
	t.Run("published from outside", func(t *testing.T) {
		// The client's address is kept, and forward lets it in.
		out.reach(t, "203.0.113.1:8080", "c1 203.0.113.2:")
		out.reach(t, "203.0.113.1:9090", "c2 203.0.113.2:")
	})
	t.Run("hairpin", func(t *testing.T) {
		// c1 to its own published port through the host's addresses:
		// masqueraded so that the replies come back through the host.
		c1.reach(t, "192.0.2.1:8080", "c1 192.0.2.1:")
		c1.reach(t, "203.0.113.1:8080", "c1 192.0.2.1:")
	})
	t.Run("masquerade out", func(t *testing.T) {
		c1.reach(t, "203.0.113.2:80", "out 203.0.113.1:")
		c2.reach(t, "203.0.113.2:80", "out 203.0.113.1:")
	})
	t.Run("isolation", func(t *testing.T) {
		c1.blocked(t, "198.51.100.2:80")
		c2.blocked(t, "192.0.2.2:80")
		// Straight to a container from outside: only published ports.
		out.blocked(t, "192.0.2.2:80")
		// A published port is published to everyone, other bridges
		// too (docker's userland proxy does the same).
		c1.reach(t, "203.0.113.1:9090", "c2 198.51.100.1:")
	})
	t.Run("internal", func(t *testing.T) {
		c3.blocked(t, "203.0.113.2:80")
		c3.blocked(t, "192.0.2.2:80")
		out.blocked(t, "192.0.2.130:80")
		c1.blocked(t, "192.0.2.130:80")
		// Its port rule is skipped.
		host.refused(t, "127.0.0.1:7070")
	})

	// Without the web port: gone from everywhere, the rest stays.
	r2 := Rules{Bridges: bridges, Ports: []PortRule{dns, onHostIP, internal}}
	host.apply(t, r2)
	host.refused(t, "127.0.0.1:8080")
	host.refused(t, "192.0.2.1:8080")
	out.refused(t, "203.0.113.1:8080")
	c1.refused(t, "192.0.2.1:8080")
	host.reach(t, "203.0.113.1:9090", "c2 ")
	if k := host.ruleCount(t); k != wantRules-1 {
		t.Errorf("RuleCount after removing a port = %d, want %d", k, wantRules-1)
	}

	// Without br2: its isolation goes, br1's stays for the others.
	host.apply(t, Rules{Bridges: bridges[:1]})
	c1.reach(t, "198.51.100.2:80", "c2 ")
	out.blocked(t, "192.0.2.2:80")

	if err := host.do(func() error { return DeleteRules("") }); err != nil {
		t.Fatalf("DeleteRules: %v", err)
	}
	if k := host.ruleCount(t); k != 0 {
		t.Errorf("RuleCount after DeleteRules = %d, want 0", k)
	}
	if err := host.do(func() error { return DeleteRules("") }); err != nil {
		t.Errorf("DeleteRules of a missing table: %v", err)
	}
	out.reach(t, "192.0.2.2:80", "c1 203.0.113.2:")
	if after := nftHostRuleCount(t); after != before {
		t.Errorf("the host namespace's berth rules went from %d to %d", before, after)
	}
}

// TestNftTable checks the table's shape: chains, hooks, policies and the
// sets' elements.
func TestNftTable(t *testing.T) {
	nftGate(t)
	host := newNftNS(t, "host")
	r := Rules{
		Bridges: []BridgeRules{
			{Name: "bt-a", Subnet: netip.MustParsePrefix("10.99.0.0/16")},
			{Name: "bt-i", Internal: true},
		},
		Ports: []PortRule{
			{Proto: "tcp", HostPort: 80, CtrIP: netip.MustParseAddr("10.99.0.2"), CtrPort: 8080, Bridge: "bt-a"},
			{Proto: "tcp", HostPort: 80, CtrIP: netip.MustParseAddr("10.99.0.2"), CtrPort: 8080, Bridge: "bt-a"}, // the same twice
			{Proto: "udp", HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: 53, CtrIP: netip.MustParseAddr("10.99.0.3"), CtrPort: 53, Bridge: "bt-a"},
			{Proto: "sctp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 9, CtrIP: netip.MustParseAddr("10.99.0.3"), CtrPort: 9, Bridge: "bt-a"},
			{Proto: "tcp", HostPort: 81, CtrIP: netip.MustParseAddr("10.98.0.3"), CtrPort: 9, Bridge: "bt-i"},
		},
	}
	host.apply(t, r)
	err := host.do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, ch := range chains {
			if ch.Table.Name != TableName {
				continue
			}
			policy := "-"
			if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyAccept {
				policy = "accept"
			}
			got[ch.Name] = fmt.Sprintf("%s %d %d %s", ch.Type, *ch.Hooknum, *ch.Priority, policy)
		}
		want := map[string]string{
			"prerouting":  fmt.Sprintf("nat %d -100 accept", unix.NF_INET_PRE_ROUTING),
			"output":      fmt.Sprintf("nat %d -100 accept", unix.NF_INET_LOCAL_OUT),
			"postrouting": fmt.Sprintf("nat %d 100 accept", unix.NF_INET_POST_ROUTING),
			"forward":     fmt.Sprintf("filter %d 0 accept", unix.NF_INET_FORWARD),
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("chains %v, want %v", got, want)
		}
		table := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
		count := map[string]int{}
		for _, name := range []string{"bridges", "internal", "external", "same", "hostports", "anyports"} {
			s, err := c.GetSetByName(table, name)
			if err != nil {
				return fmt.Errorf("set %s: %w", name, err)
			}
			els, err := c.GetSetElements(s)
			if err != nil {
				return fmt.Errorf("set %s: %w", name, err)
			}
			count[name] = len(els)
		}
		wantCount := map[string]int{"bridges": 2, "internal": 1, "external": 1, "same": 2, "hostports": 1, "anyports": 2}
		if fmt.Sprint(count) != fmt.Sprint(wantCount) {
			return fmt.Errorf("set sizes %v, want %v", count, wantCount)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// masquerade 2 rules for bt-a, 1 for 127/8; none for bt-i.
	// And 3 published ports, entries of the port maps.
	if k := host.ruleCount(t); k != 2+2+3+5+3 {
		t.Errorf("RuleCount = %d, want %d", k, 2+2+3+5+3)
	}
	if err := host.do(func() error { return DeleteRules("") }); err != nil {
		t.Fatal(err)
	}
}

// TestNftManyPorts applies thousands of ports: the elements go in more
// than one message, all in one batch.
func TestNftManyPorts(t *testing.T) {
	nftGate(t)
	host := newNftNS(t, "host")
	r := Rules{Bridges: []BridgeRules{{Name: "bt-a", Subnet: netip.MustParsePrefix("10.99.0.0/16")}}}
	for i := range 3000 {
		r.Ports = append(r.Ports, PortRule{Proto: "tcp", HostPort: uint16(10000 + i), CtrIP: netip.AddrFrom4([4]byte{10, 99, byte(i / 250), byte(2 + i%250)}), CtrPort: 80, Bridge: "bt-a"})
		r.Ports = append(r.Ports, PortRule{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: uint16(10000 + i), CtrIP: netip.AddrFrom4([4]byte{10, 99, byte(i / 250), byte(2 + i%250)}), CtrPort: 80, Bridge: "bt-a"})
	}
	host.apply(t, r)
	err := host.do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		table := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
		for _, name := range []string{"hostports", "anyports"} {
			s, err := c.GetSetByName(table, name)
			if err != nil {
				return err
			}
			els, err := c.GetSetElements(s)
			if err != nil {
				return err
			}
			if len(els) != 3000 {
				return fmt.Errorf("map %s has %d elements, want 3000", name, len(els))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := host.do(func() error { return DeleteRules("") }); err != nil {
		t.Fatal(err)
	}
	if k := host.ruleCount(t); k != 0 {
		t.Errorf("RuleCount after DeleteRules = %d", k)
	}
}

// TestNftRulesInvalid: what ApplyRules refuses, before it sends anything.
func TestNftRulesInvalid(t *testing.T) {
	br := BridgeRules{Name: "bt-a", Subnet: netip.MustParsePrefix("10.99.0.0/16")}
	ctr := netip.MustParseAddr("10.99.0.2")
	port := PortRule{Proto: "tcp", HostPort: 80, CtrIP: ctr, CtrPort: 80, Bridge: "bt-a"}
	with := func(f func(p *PortRule)) Rules {
		p := port
		f(&p)
		return Rules{Bridges: []BridgeRules{br}, Ports: []PortRule{p}}
	}
	for _, tc := range []struct {
		name string
		r    Rules
		want string
	}{
		{"empty bridge name", Rules{Bridges: []BridgeRules{{Subnet: br.Subnet}}}, `bridge name ""`},
		{"long bridge name", Rules{Bridges: []BridgeRules{{Name: "0123456789abcdef", Subnet: br.Subnet}}}, "must be 1 to 15 bytes"},
		{"bridge twice", Rules{Bridges: []BridgeRules{br, br}}, "bridge bt-a listed twice"},
		{"no subnet", Rules{Bridges: []BridgeRules{{Name: "bt-a"}}}, "is not an IPv4 prefix"},
		{"IPv6 subnet", Rules{Bridges: []BridgeRules{{Name: "bt-a", Subnet: netip.MustParsePrefix("fd00::/64")}}}, "is not an IPv4 prefix"},
		{"proto", with(func(p *PortRule) { p.Proto = "icmp" }), "invalid proto: icmp"},
		{"unknown bridge", with(func(p *PortRule) { p.Bridge = "bt-x" }), `bridge "bt-x" is not among`},
		{"IPv6 host", with(func(p *PortRule) { p.HostIP = netip.MustParseAddr("::1") }), "host address ::1 is IPv6"},
		{"IPv6 container", with(func(p *PortRule) { p.CtrIP = netip.MustParseAddr("fd00::2") }), "container address fd00::2 is not IPv4"},
		{"no container", with(func(p *PortRule) { p.CtrIP = netip.Addr{} }), "is not IPv4"},
		{"host port 0", with(func(p *PortRule) { p.HostPort = 0 }), "port 0"},
		{"container port 0", with(func(p *PortRule) { p.CtrPort = 0 }), "port 0"},
		{"published twice", Rules{Bridges: []BridgeRules{br}, Ports: []PortRule{port, {Proto: "tcp", HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: 80, CtrIP: netip.MustParseAddr("10.99.0.3"), CtrPort: 80, Bridge: "bt-a"}}},
			"port 80/tcp on 0.0.0.0 published twice: to 10.99.0.2:80 and to 10.99.0.3:80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := nftables.New()
			if err != nil {
				t.Fatal(err)
			}
			err = queueRules(c, tc.r, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("queueRules: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// BenchmarkApplyRules: a whole table for 100 containers with 2 ports
// each, on 4 bridges.
func BenchmarkApplyRules(b *testing.B) {
	nftGate(b)
	host := newNftNS(b, "host")
	var r Rules
	for i := range 4 {
		r.Bridges = append(r.Bridges, BridgeRules{Name: fmt.Sprintf("bt-b%d", i), Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, byte(i), 0}), 24)})
	}
	for i := range 100 {
		ctr := netip.AddrFrom4([4]byte{10, 99, byte(i % 4), byte(2 + i/4)})
		br := fmt.Sprintf("bt-b%d", i%4)
		r.Ports = append(r.Ports,
			PortRule{Proto: "tcp", HostPort: uint16(20000 + i), CtrIP: ctr, CtrPort: 80, Bridge: br},
			PortRule{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: uint16(20000 + i), CtrIP: ctr, CtrPort: 53, Bridge: br})
	}
	b.ResetTimer()
	err := host.do(func() error {
		for range b.N {
			if err := ApplyRules(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
