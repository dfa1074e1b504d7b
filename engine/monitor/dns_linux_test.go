package monitor_test

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/engine/monitor"
	"github.com/berth-project/berth/network"
)

// testNetNS makes a throwaway network namespace with its loopback up,
// pinned on a file that is unpinned at the end of the test.
func testNetNS(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netns")
	if err := network.NewNetNS(path); err != nil {
		t.Fatalf("make a network namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := network.DeleteNetNS(path); err != nil {
			t.Errorf("unpin %s: %v", path, err)
		}
	})
	return path
}

// fakeUpstream answers every query with an A record of 192.0.2.1, on
// 127.0.0.1 of the test's namespace (the host's, for the monitor).
func fakeUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	s := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg).SetReply(q)
			if q.Question[0].Qtype == dns.TypeA {
				rr, _ := dns.NewRR(q.Question[0].Name + " 30 IN A 192.0.2.1")
				m.Answer = append(m.Answer, rr)
			}
			w.WriteMsg(m)
		})}
	go s.ActivateAndServe()
	<-started
	t.Cleanup(func() { s.Shutdown() })
	return pc.LocalAddr().String()
}

// TestEmbeddedDNS: a container in a namespace of its own asks the
// monitor's embedded DNS server for a name of its network, an address of
// it, and a name the server forwards to the host's upstream.
func TestEmbeddedDNS(t *testing.T) {
	script := `set -e
busybox nslookup web 127.0.0.11 | grep -q 'Address: 172.30.0.2'
busybox nslookup 172.30.0.2 127.0.0.11 | grep -q 'name = web'
busybox nslookup example.com 127.0.0.11 | grep -q 'Address: 192.0.2.1'
echo resolved`
	e := newEnv(t, "sh", "-c", script)
	ns := testNetNS(t)
	for i, n := range e.spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			e.spec.Linux.Namespaces[i].Path = ns
		}
	}
	e.save()
	dir := t.TempDir()
	records, config := filepath.Join(dir, "net.json"), filepath.Join(dir, "dns.json")
	if err := network.WriteRecords(records, network.Records{Names: map[string][]netip.Addr{"web": {netip.MustParseAddr("172.30.0.2")}}}); err != nil {
		t.Fatal(err)
	}
	if err := network.WriteDNSConfig(config, network.DNSConfig{Records: []string{records}, Upstream: []string{fakeUpstream(t)}}); err != nil {
		t.Fatal(err)
	}
	e.cfg.NetNS, e.cfg.DNSConfig = ns, config
	e.start()
	mpid := e.monitorPid()
	x := e.wait()
	out, _ := byStream(readLog(t, e.cfg.Log.Path))
	if x.Code != 0 || out["stdout"] != "resolved\n" {
		t.Fatalf("exit %+v, stdout %q, stderr %q: the container did not resolve through the embedded server", x, out["stdout"], out["stderr"])
	}
	// The server went with the monitor: the address is free again.
	waitGone(t, mpid)
	err := network.InNetNS(ns, func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 11), Port: 53})
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		t.Errorf("127.0.0.11:53 in the container's namespace after the monitor exited: %v", err)
	}
}

// TestEmbeddedDNSFailedStart: a DNS server that cannot be set up fails
// the start, and nothing is left.
func TestEmbeddedDNSFailedStart(t *testing.T) {
	e := newEnv(t, "true")
	config := filepath.Join(t.TempDir(), "dns.json")
	if err := network.WriteDNSConfig(config, network.DNSConfig{}); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-netns")
	e.cfg.NetNS, e.cfg.DNSConfig = missing, config
	_, err := monitor.Start(context.Background(), berthBin, e.cfg)
	if err == nil || !strings.Contains(err.Error(), "embedded DNS") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("start with a missing namespace: %v, want an embedded DNS error naming it", err)
	}
	t.Logf("error: %v", err)
	checkNoLeftovers(t, e.cfg)

	e.cfg.NetNS = ""
	if _, err := monitor.Start(context.Background(), berthBin, e.cfg); err == nil || !strings.Contains(err.Error(), "network namespace") {
		t.Fatalf("start with a DNS config and no namespace: %v", err)
	}
}
