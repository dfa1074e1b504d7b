package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/berth-project/berth/internal/gate"
	bnet "github.com/berth-project/berth/network"
)

// freePort is a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostIPv4 is an IPv4 address of this host that is not loopback and not
// on one of berth's bridges.
func hostIPv4(t *testing.T) string {
	t.Helper()
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || i.Flags&net.FlagUp == 0 || strings.HasPrefix(i.Name, "bt") ||
			strings.HasPrefix(i.Name, "br-") || strings.HasPrefix(i.Name, "berth") || strings.HasPrefix(i.Name, "docker") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	t.Skip("no non-loopback IPv4 address on this host")
	return ""
}

// httpGet fetches url with a short timeout.
func httpGet(url string) (string, error) {
	cl := http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// ctrGet fetches http://host:port/path from inside container ctr with
// busybox nc (the fixture's static busybox wget needs NSS modules the
// image lacks to look up its default port); it returns the body.
func ctrGet(c *cli, ctr, host, port, path string) (string, result) {
	r := c.run(nil, "exec", ctr, "sh", "-c", fmt.Sprintf("printf 'GET %s HTTP/1.0\\r\\n\\r\\n' | nc -w 3 %s %s", path, host, port))
	_, body, _ := strings.Cut(r.stdout, "\r\n\r\n")
	return body, r
}

// cleanupContainers removes the test's containers when it ends, even
// when it failed halfway.
func (c *cli) cleanupContainers() {
	c.t.Cleanup(func() {
		if ids := strings.Fields(c.run(nil, "ps", "-aq").stdout); len(ids) > 0 {
			c.run(nil, append([]string{"rm", "-f"}, ids...)...)
		}
	})
}

// netState is what berth leaves on the host for the network: veth host
// ends, pinned namespaces and the rules of its table.
type netState struct {
	veths  []string
	netns  []string
	rules  int
	bridge bool
}

func (c *cli) netState(t *testing.T, execRoot string) netState {
	t.Helper()
	var s netState
	// The veths on this test's default bridge (other tests run at the
	// same time).
	if ents, err := os.ReadDir("/sys/class/net/" + c.netName + "/brif"); err == nil {
		for _, e := range ents {
			s.veths = append(s.veths, e.Name())
		}
	}
	if ents, err := os.ReadDir(filepath.Join(execRoot, "network", "netns")); err == nil {
		for _, e := range ents {
			s.netns = append(s.netns, e.Name())
		}
	}
	n, err := bnet.RuleCount(c.netName)
	if err != nil {
		t.Fatal(err)
	}
	s.rules = n
	s.bridge = bnet.LinkExists(c.netName)
	return s
}

// assertNoLeaks fails the test if the network state grew from before.
func assertNoLeaks(t *testing.T, what string, before, after netState) {
	t.Helper()
	if len(after.netns) != 0 || after.rules != before.rules || len(after.veths) > len(before.veths) {
		t.Fatalf("%s: leaked network state: before %+v, after %+v", what, before, after)
	}
}

// TestPublishedPort: a busybox httpd published with -p serves on
// 127.0.0.1 and on the host's address; inspect, port and ps show the
// mapping; rm leaves nothing behind.
func TestPublishedPort(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	c.cleanupContainers()
	// The default bridge and its table exist once a container ran.
	c.ok("run", "--rm", img, "true")
	before := c.netState(t, c.execRoot)
	if !before.bridge {
		t.Fatalf("no bridge %s after a container ran", c.netName)
	}

	port := freePort(t)
	c.ok("run", "-d", "--name", "web", "-p", fmt.Sprintf("%d:80", port), img,
		"sh", "-c", "mkdir -p /www && echo hello from berth > /www/index.html && exec httpd -f -p 80 -h /www")
	for _, host := range []string{"127.0.0.1", hostIPv4(t)} {
		url := fmt.Sprintf("http://%s:%d/", host, port)
		eventually(t, "GET "+url, func() (bool, string) {
			body, err := httpGet(url)
			return err == nil && body == "hello from berth\n", fmt.Sprint(body, err)
		})
	}
	if got := c.ok("port", "web"); got != fmt.Sprintf("80/tcp -> 0.0.0.0:%d\n", port) {
		t.Fatalf("port: %q", got)
	}
	if got := c.ok("ps", "--format", "{{.Ports}}"); !strings.Contains(got, fmt.Sprintf("0.0.0.0:%d->80/tcp", port)) {
		t.Fatalf("ps ports: %q", got)
	}
	ip := strings.TrimSpace(c.ok("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "web"))
	if net.ParseIP(ip).To4() == nil {
		t.Fatalf("inspect IPAddress %q", ip)
	}
	if body, err := httpGet("http://" + ip + ":80/"); err != nil || body != "hello from berth\n" {
		t.Fatalf("straight to %s: %q %v", ip, body, err)
	}
	// Hairpin: the container reaches itself through the published port.
	if body, r := ctrGet(c, "web", hostIPv4(t), strconv.Itoa(port), "/"); body != "hello from berth\n" {
		t.Fatalf("hairpin: %q %+v", body, r)
	}
	if n := c.netState(t, c.execRoot); n.rules <= before.rules || len(n.netns) != 1 {
		t.Fatalf("running: %+v (before %+v)", n, before)
	}

	// The same port again is refused, and leaves nothing.
	c.fails("port is already allocated", "run", "-d", "--name", "web2", "-p", fmt.Sprintf("%d:80", port), img, "sleep", "100")
	if got := c.ok("inspect", "-f", "{{.State.Status}}", "web2"); got != "created\n" {
		t.Fatalf("web2 after a failed start: %q", got)
	}
	c.ok("rm", "-f", "web", "web2")
	assertNoLeaks(t, "after rm", before, c.netState(t, c.execRoot))
	if _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
		t.Fatal("the port still answers after rm")
	}

	// -P publishes every exposed port on a free one.
	c.ok("run", "-d", "--name", "all", "-P", "--expose", "80", img, "busybox", "httpd", "-f", "-p", "80", "-h", "/")
	out := c.ok("port", "all", "80")
	if !strings.HasPrefix(out, "0.0.0.0:") {
		t.Fatalf("port all 80: %q", out)
	}
	c.ok("rm", "-f", "all")
	assertNoLeaks(t, "after -P", before, c.netState(t, c.execRoot))
}

// TestPortTakenByHost: a port a host process listens on is refused with
// docker's words, and the failed start leaves nothing.
func TestPortTakenByHost(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	c.cleanupContainers()
	c.ok("run", "--rm", img, "true")
	before := c.netState(t, c.execRoot)
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	r := c.fails("address already in use", "run", "--rm", "-p", fmt.Sprintf("%d:80", port), img, "true")
	if !strings.Contains(r.stderr, "driver failed programming external connectivity") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	c.fails("invalid containerPort: eighty", "run", "--rm", "-p", "8000:eighty", img, "true")
	c.fails("invalid proto: tcpx", "run", "--rm", "-p", "8000:80/tcpx", img, "true")
	assertNoLeaks(t, "after failures", before, c.netState(t, c.execRoot))
	if out := c.ok("ps", "-aq"); out != "" {
		t.Fatalf("containers left: %q", out)
	}
}

// TestUserNetworks: containers on a user network reach each other by name
// and alias through the embedded DNS; a container on another network
// cannot reach them; /etc/hosts, resolv.conf and hostname are written;
// bad input is refused cleanly.
func TestUserNetworks(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	c.cleanupContainers()
	id := strings.TrimSpace(c.ok("network", "create", "--subnet", "10.231.0.0/24", "front"))
	if len(id) != 64 {
		t.Fatalf("network create printed %q", id)
	}
	c.ok("network", "create", "back")
	if out := c.ok("network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "front bridge") || !strings.Contains(out, "back bridge") || !strings.Contains(out, "none null") {
		t.Fatalf("network ls: %q", out)
	}
	c.fails("Pool overlaps with other one on this address space", "network", "create", "--subnet", "10.231.0.128/25", "overlap")
	c.fails("network with name front already exists", "network", "create", "front")

	c.ok("run", "-d", "--name", "web", "--network", "front", "--network-alias", "www", "--ip", "10.231.0.50", img,
		"sh", "-c", "mkdir -p /w && echo front page > /w/index.html && exec httpd -f -p 80 -h /w")
	c.ok("run", "-d", "--name", "client", "--network", "front", "--add-host", "extra.example:10.9.9.9", "--dns-search", "corp.example", img, "sleep", "1000")
	c.ok("run", "-d", "--name", "stranger", "--network", "back", img, "sleep", "1000")

	for _, name := range []string{"web", "www", "web.front"} {
		eventually(t, "client gets http://"+name+"/", func() (bool, string) {
			body, r := ctrGet(c, "client", name, "80", "/")
			return body == "front page\n", fmt.Sprint(r)
		})
	}
	if out := c.ok("exec", "client", "nslookup", "web."); !strings.Contains(out, "10.231.0.50") {
		t.Fatalf("nslookup web:\n%s", out)
	}
	// Isolation: neither by name nor by address.
	if r := c.run(nil, "exec", "stranger", "nslookup", "web"); strings.Contains(r.stdout, "10.231.0.50") {
		t.Fatalf("stranger resolved web:\n%s", r.stdout)
	}
	if body, r := ctrGet(c, "stranger", "10.231.0.50", "80", "/"); body != "" || strings.Contains(r.stdout, "200 OK") {
		t.Fatalf("stranger reached web across networks: %+v", r)
	}
	// Names the network does not know go to the upstream servers, from
	// the host's namespace: here a test server on 127.0.0.2, which the
	// container could not reach itself.
	up := startUpstreamDNS(t, "127.0.0.2:53", "outside.test.", "10.1.2.3")
	defer up.Shutdown()
	if out := c.ok("run", "--rm", "--network", "front", "--dns", "127.0.0.2", img, "nslookup", "outside.test."); !strings.Contains(out, "10.1.2.3") {
		t.Fatalf("nslookup through the embedded server's upstream:\n%s", out)
	}

	// The files docker writes.
	hosts := c.ok("exec", "client", "cat", "/etc/hosts")
	cid := strings.TrimSpace(c.ok("inspect", "-f", "{{.Id}}", "client"))
	if !strings.Contains(hosts, "127.0.0.1\tlocalhost") || !strings.Contains(hosts, "10.9.9.9\textra.example") || !strings.Contains(hosts, cid[:12]) {
		t.Fatalf("/etc/hosts:\n%s", hosts)
	}
	resolv := c.ok("exec", "client", "cat", "/etc/resolv.conf")
	if !strings.Contains(resolv, "nameserver 127.0.0.11") || !strings.Contains(resolv, "corp.example") {
		t.Fatalf("/etc/resolv.conf:\n%s", resolv)
	}
	if got := c.ok("exec", "client", "cat", "/etc/hostname"); got != cid[:12]+"\n" {
		t.Fatalf("/etc/hostname: %q", got)
	}

	// connect gives stranger a second interface on front; disconnect
	// takes it away.
	c.ok("network", "connect", "--alias", "late", "front", "stranger")
	eventually(t, "stranger reaches web after connect", func() (bool, string) {
		body, r := ctrGet(c, "stranger", "web", "80", "/")
		return body == "front page\n", fmt.Sprint(r)
	})
	eventually(t, "client resolves late", func() (bool, string) {
		r := c.run(nil, "exec", "client", "nslookup", "late.")
		return r.code == 0 && strings.Contains(r.stdout, "10.231.0."), r.stdout + r.stderr
	})
	if out := c.ok("exec", "stranger", "ip", "-o", "addr"); !strings.Contains(out, "eth1") {
		t.Fatalf("after connect:\n%s", out)
	}
	c.ok("network", "disconnect", "front", "stranger")
	if out := c.ok("exec", "stranger", "ip", "-o", "addr"); strings.Contains(out, "eth1") {
		t.Fatalf("after disconnect:\n%s", out)
	}

	// Bad input.
	c.fails("network nope not found", "run", "--rm", "--network", "nope", img, "true")
	c.fails("has active endpoints", "network", "rm", "front")
	c.fails("bridge is a pre-defined network and cannot be removed", "network", "rm", "bridge")
	c.fails("network-scoped alias is supported only for containers in user defined networks", "run", "--rm", "--network-alias", "x", img, "true")
	c.fails("Address already in use", "run", "--rm", "--network", "front", "--ip", "10.231.0.50", img, "true")

	c.ok("rm", "-f", "web", "client", "stranger")
	c.ok("network", "rm", "front", "back")
	if out := c.ok("network", "ls", "-q", "--filter", "type=custom"); out != "" {
		t.Fatalf("networks left: %q", out)
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, "br-"+id[:12]) {
			t.Fatalf("bridge %s left after network rm", i.Name)
		}
	}
}

// TestNetworkModes: none has only lo; container:<id> shares the other's
// interfaces; host sees the host's.
func TestNetworkModes(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	c.cleanupContainers()

	out := c.ok("run", "--rm", "--network", "none", img, "ip", "-o", "link")
	if !strings.Contains(out, "lo:") || strings.Contains(out, "eth0") || strings.Count(out, "\n") != 1 {
		t.Fatalf("--network none links:\n%s", out)
	}
	if !strings.Contains(out, "UP") && !strings.Contains(out, "LOOPBACK,UP") {
		t.Fatalf("lo is down in --network none:\n%s", out)
	}

	c.ok("run", "-d", "--name", "pod", img, "sleep", "1000")
	own := c.ok("exec", "pod", "ip", "-o", "-4", "addr", "show", "eth0")
	shared := c.ok("run", "--rm", "--network", "container:pod", img, "ip", "-o", "-4", "addr", "show", "eth0")
	if own == "" || own != shared {
		t.Fatalf("container:pod sees %q, pod has %q", shared, own)
	}
	c.fails("conflicting options: port publishing and the container type network mode", "run", "--rm", "--network", "container:pod", "-p", "80", img, "true")

	hostLinks, _ := net.Interfaces()
	out = c.ok("run", "--rm", "--network", "host", img, "ip", "-o", "link")
	if strings.Count(out, "\n") != len(hostLinks) {
		t.Fatalf("--network host sees %d links, the host has %d:\n%s", strings.Count(out, "\n"), len(hostLinks), out)
	}
	c.ok("rm", "-f", "pod")
}

// TestMacvlan: a macvlan network on a veth parent whose peer is in a
// simulated host (a network namespace) reaches that host; ipvlan works
// where the kernel has it, and skips where it does not.
func TestMacvlan(t *testing.T) {
	gate.Command(t, "ip")
	c := newCLI(t)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	c.cleanupContainers()
	sfx := c.netName[2:8]
	parent, peer, hostNS := "mvp"+sfx, "mvq"+sfx, "mvh"+sfx
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("netns", "add", hostNS)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", parent).Run()
		exec.Command("ip", "netns", "del", hostNS).Run()
	})
	sh("link", "add", parent, "type", "veth", "peer", "name", peer)
	sh("link", "set", peer, "netns", hostNS)
	sh("-n", hostNS, "addr", "add", "10.232.0.1/24", "dev", peer)
	sh("-n", hostNS, "link", "set", peer, "up")
	sh("-n", hostNS, "link", "set", "lo", "up")
	sh("link", "set", parent, "up")
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("from the other host\n"), 0o644)
	srv := exec.Command("ip", "netns", "exec", hostNS, "busybox", "httpd", "-f", "-p", "10.232.0.1:8080", "-h", www)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	c.fails("parent interface was not found on the host: nosuch0", "network", "create", "-d", "macvlan", "-o", "parent=nosuch0", "mvbad")
	c.ok("network", "create", "-d", "macvlan", "--subnet", "10.232.0.0/24", "--gateway", "10.232.0.1", "-o", "parent="+parent, "mv")
	c.ok("run", "-d", "--name", "m1", "--network", "mv", img, "sleep", "1000")
	eventually(t, "m1 reaches the other host", func() (bool, string) {
		body, r := ctrGet(c, "m1", "10.232.0.1", "8080", "/")
		return body == "from the other host\n", fmt.Sprint(r)
	})
	c.ok("run", "-d", "--name", "m2", "--network", "mv", img, "sleep", "1000")
	eventually(t, "m2 resolves m1 on the macvlan network", func() (bool, string) {
		r := c.run(nil, "exec", "m2", "ping", "-c", "1", "-W", "2", "m1")
		return r.code == 0, r.stdout + r.stderr
	})
	c.ok("rm", "-f", "m1", "m2")
	c.ok("network", "rm", "mv")

	c.ok("network", "create", "-d", "ipvlan", "--subnet", "10.233.0.0/24", "-o", "parent="+parent, "iv")
	defer c.run(nil, "network", "rm", "iv")
	r := c.run(nil, "run", "--rm", "--network", "iv", img, "ip", "-o", "-4", "addr")
	if r.code != 0 {
		if strings.Contains(r.stderr, "not supported") {
			t.Skipf("ipvlan: %s", strings.TrimSpace(r.stderr))
		}
		t.Fatalf("ipvlan run: %s", r.stderr)
	}
	if !strings.Contains(r.stdout, "10.233.0.") {
		t.Fatalf("ipvlan addr:\n%s", r.stdout)
	}
}

// TestNetworkDaemonKilled: after a daemon SIGKILL, a container that died
// meanwhile loses its namespace, veth and rules when the daemon comes
// back; one that kept running keeps its published port.
func TestNetworkDaemonKilled(t *testing.T) {
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	c.cleanupContainers()
	c.ok("run", "--rm", img, "true")
	before := c.netState(t, d.execRoot)
	p1, p2 := freePort(t), freePort(t)
	c.ok("run", "-d", "--name", "dies", "-p", fmt.Sprintf("%d:80", p1), img, "busybox", "httpd", "-f", "-p", "80", "-h", "/")
	c.ok("run", "-d", "--name", "lives", "-p", fmt.Sprintf("%d:80", p2), img, "sh", "-c", "echo alive > /i.html; exec httpd -f -p 80 -h /")
	pid, _ := strconv.Atoi(strings.TrimSpace(c.ok("inspect", "-f", "{{.State.Pid}}", "dies")))
	d.kill()
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(time.Second)
	d.start()
	eventually(t, "dies is recorded exited", func() (bool, string) {
		out := c.ok("inspect", "-f", "{{.State.Status}}", "dies")
		return out == "exited\n", out
	})
	st := c.netState(t, d.execRoot)
	if len(st.netns) != 1 {
		t.Fatalf("after the restart: %+v", st)
	}
	eventually(t, "lives still serves", func() (bool, string) {
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/i.html", p2))
		return err == nil && body == "alive\n", fmt.Sprint(body, err)
	})
	if _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", p1)); err == nil {
		t.Fatal("the dead container's port still answers")
	}
	c.ok("rm", "-f", "dies", "lives")
	assertNoLeaks(t, "after rm", before, c.netState(t, d.execRoot))
}

// TestDockerCLINetworks drives networks through the real docker CLI.
func TestDockerCLINetworks(t *testing.T) {
	gate.Command(t, "docker")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	d.dockerOK("pull", "-q", img)
	d.dockerOK("network", "create", "--subnet", "10.234.0.0/24", "--label", "team=a", "dnet")
	if out := d.dockerOK("network", "ls", "--filter", "label=team=a", "--format", "{{.Name}}"); out != "dnet\n" {
		t.Fatalf("docker network ls: %q", out)
	}
	if out := d.dockerOK("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "dnet"); out != "10.234.0.0/24\n" {
		t.Fatalf("docker network inspect: %q", out)
	}
	port := freePort(t)
	d.dockerOK("run", "-d", "--name", "dweb", "--network", "dnet", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), img,
		"sh", "-c", "echo via docker > /i.html; exec httpd -f -p 80 -h /")
	eventually(t, "published through docker run", func() (bool, string) {
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/i.html", port))
		return err == nil && body == "via docker\n", fmt.Sprint(body, err)
	})
	if out := d.dockerOK("port", "dweb"); out != fmt.Sprintf("80/tcp -> 127.0.0.1:%d\n", port) {
		t.Fatalf("docker port: %q", out)
	}
	if out := d.dockerOK("inspect", "-f", "{{.NetworkSettings.Networks.dnet.IPAddress}}", "dweb"); !strings.HasPrefix(out, "10.234.0.") {
		t.Fatalf("docker inspect: %q", out)
	}
	if out := d.dockerOK("network", "inspect", "-f", "{{range .Containers}}{{.Name}}{{end}}", "dnet"); out != "dweb\n" {
		t.Fatalf("docker network inspect containers: %q", out)
	}
	d.dockerOK("rm", "-f", "dweb")
	d.dockerOK("network", "rm", "dnet")
	if out := d.dockerOK("network", "ls", "--format", "{{.Name}}"); out != "bridge\nhost\nnone\n" {
		t.Fatalf("docker network ls at the end: %q", out)
	}
}

// startUpstreamDNS serves one A record on addr (UDP), as a host's resolver
// would.
func startUpstreamDNS(t *testing.T, addr, name, ip string) *dns.Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s for a test resolver: %v", addr, err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case len(q.Question) != 1 || q.Question[0].Name != name:
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.ParseIP(ip),
			})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	return srv
}

// TestNetworkConnectEdges: interface names freed by a disconnect are
// reused, a failed connect leaves the other interfaces alone, the default
// route avoids internal networks, and disconnect -f drops an endpoint on a
// network that is gone.
func TestNetworkConnectEdges(t *testing.T) {
	gate.Command(t, "ip")
	c := newCLI(t)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	c.cleanupContainers()
	c.ok("network", "create", "--subnet", "10.235.1.0/24", "n1")
	c.ok("network", "create", "--subnet", "10.235.2.0/24", "n2")
	c.ok("network", "create", "--internal", "--subnet", "10.235.3.0/24", "in")
	t.Cleanup(func() { c.run(nil, "network", "rm", "n1", "n2", "in", "mvgone") })

	c.ok("run", "-d", "--name", "ca", img, "sleep", "1000")
	c.ok("network", "connect", "n1", "ca")
	c.ok("network", "disconnect", "bridge", "ca")
	c.ok("network", "connect", "n2", "ca")
	addrs := c.ok("exec", "ca", "ip", "-o", "-4", "addr")
	if !strings.Contains(addrs, "eth1") || !strings.Contains(addrs, "10.235.1.") || !strings.Contains(addrs, "eth0") || !strings.Contains(addrs, "10.235.2.") {
		t.Fatalf("after connect n1, disconnect bridge, connect n2:\n%s", addrs)
	}

	// A connect that fails (the macvlan parent went away) takes nothing
	// else with it.
	parent := "mvg" + c.netName[2:8]
	if out, err := exec.Command("ip", "link", "add", parent, "type", "veth", "peer", "name", parent+"p").CombinedOutput(); err != nil {
		t.Fatalf("make a parent: %v %s", err, out)
	}
	c.ok("network", "create", "-d", "macvlan", "--subnet", "10.235.4.0/24", "-o", "parent="+parent, "mvgone")
	exec.Command("ip", "link", "del", parent).Run()
	c.fails("", "network", "connect", "mvgone", "ca")
	if after := c.ok("exec", "ca", "ip", "-o", "-4", "addr"); after != addrs {
		t.Fatalf("a failed connect changed the interfaces:\n%s\nwas:\n%s", after, addrs)
	}

	// The default route goes through the first network that is not
	// internal.
	c.ok("run", "-d", "--name", "xa", "--network", "in", img, "sleep", "1000")
	if out := c.ok("exec", "xa", "ip", "route"); strings.Contains(out, "default") {
		t.Fatalf("a container on an internal network has a default route:\n%s", out)
	}
	c.ok("network", "connect", "n1", "xa")
	if out := c.ok("exec", "xa", "ip", "route"); !strings.Contains(out, "default via 10.235.1.1") {
		t.Fatalf("no default route through n1 after connect:\n%s", out)
	}

	// A stopped container on a network removed since: disconnect -f
	// forgets the endpoint.
	c.ok("network", "create", "gone")
	c.ok("create", "--name", "ya", "--network", "gone", img, "true")
	c.ok("network", "connect", "n2", "ya")
	c.ok("network", "rm", "gone")
	c.ok("network", "disconnect", "-f", "gone", "ya")
	if out := c.ok("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "ya"); out != "n2 \n" {
		t.Fatalf("networks of y after disconnect -f: %q", out)
	}
}
