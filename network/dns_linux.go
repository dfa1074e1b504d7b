package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

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
//
// It returns once the sockets are bound, with an error (prefixed
// "embedded DNS") when the server could not be set up: the namespace or
// the config missing, the address in use. The namespace needs its
// loopback up (NewNetNS does that) for DNSAddr to be reachable.
func ServeDNS(ctx context.Context, netns, configPath string) error {
	_, err := serveDNS(ctx, netns, configPath)
	return err
}

// serveDNS is ServeDNS; done is closed once the server has stopped and
// closed its sockets, after ctx ended.
func serveDNS(ctx context.Context, netns, configPath string) (done <-chan struct{}, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedded DNS: %w", err)
	}
	res, err := newResolver(configPath)
	if err != nil {
		return nil, fmt.Errorf("embedded DNS: %w", err)
	}
	udp, tcp, err := listenDNSIn(netns)
	if err != nil {
		return nil, fmt.Errorf("embedded DNS: %w", err)
	}
	type server struct {
		s       *dns.Server
		started chan struct{}
		ended   chan error
		running bool
	}
	servers := []*server{
		{s: &dns.Server{PacketConn: udp, Handler: res, UDPSize: maxUDPQuery}},
		{s: &dns.Server{Listener: tcp, Handler: res}},
	}
	for _, sv := range servers {
		sv.started, sv.ended = make(chan struct{}, 1), make(chan error, 1)
		sv.s.NotifyStartedFunc = func() { sv.started <- struct{}{} }
		go func() { sv.ended <- sv.s.ActivateAndServe() }()
	}
	// Each has started or failed before any is shut down: a server not
	// yet started would not stop, and one that failed before it started
	// must not be waited for.
	var failure error
	for _, sv := range servers {
		select {
		case <-sv.started:
			sv.running = true
		case err := <-sv.ended:
			failure = errors.Join(failure, err)
			sv.ended <- err
		}
	}
	stopped := make(chan struct{})
	stop := func() {
		for _, sv := range servers {
			if sv.running {
				sv.s.Shutdown()
			}
			<-sv.ended
		}
		udp.Close()
		tcp.Close()
		close(stopped)
	}
	if failure != nil {
		stop()
		return nil, fmt.Errorf("embedded DNS: serve on %s:53 in %s: %w", DNSAddr, netns, failure)
	}
	context.AfterFunc(ctx, stop)
	return stopped, nil
}

// listenDNSIn makes the server's sockets inside the network namespace at
// path, on a locked thread that enters it and then goes back to ours (or
// is discarded if it cannot).
func listenDNSIn(path string) (*net.UDPConn, *net.TCPListener, error) {
	type result struct {
		udp *net.UDPConn
		tcp *net.TCPListener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var r result
		back := false
		r.udp, r.tcp, back, r.err = listenLocked(path)
		if back {
			runtime.UnlockOSThread()
		}
		// else: the goroutine ends locked, and the thread with it.
		ch <- r
	}()
	r := <-ch
	return r.udp, r.tcp, r.err
}

// listenLocked is listenDNSIn on the locked thread; back reports whether
// the thread is in its original namespace again.
func listenLocked(path string) (udp *net.UDPConn, tcp *net.TCPListener, back bool, err error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, true, fmt.Errorf("open current network namespace: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, true, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return nil, nil, true, fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	addr := net.IP(DNSAddr.AsSlice())
	// The sockets belong to the namespace of the thread that makes them.
	udp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: addr, Port: 53})
	if err == nil {
		tcp, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: addr, Port: 53})
		if err != nil {
			udp.Close()
			udp = nil
		}
	}
	if err != nil {
		err = fmt.Errorf("in network namespace %s: %w", path, err)
	}
	if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
		if udp != nil {
			udp.Close()
			tcp.Close()
		}
		return nil, nil, false, fmt.Errorf("return from network namespace %s: %w", path, serr)
	}
	return udp, tcp, true, err
}
