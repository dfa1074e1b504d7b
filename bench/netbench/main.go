// Command netbench measures what a container's network costs through
// published ports, beside the straight way to the container, for docker
// (dockerd's defaults: docker-proxy for the host's own 127.0.0.1, iptables
// DNAT for the rest) and berth (nftables DNAT) in one run:
//
//   - new connections per second: wrk against busybox httpd serving a
//     1 KiB page, a connection per request (httpd forks for each);
//   - requests per second with keep-alive: wrk against a Go HTTP server
//     (this binary's server role) serving the same page;
//   - bulk TCP throughput: one connection sending as fast as it can for a
//     while to a sink in the container (this binary's send and server
//     roles), in MB/s as the sink counted the bytes.
//
// Each through five paths: from the host to 127.0.0.1:PORT, to the host's
// own non-loopback address and port, and straight to the container's IP;
// and from a client one hop away (another network namespace, on a veth) to
// the host's address and port, and routed through the host straight to the
// container. Each engine runs in a network namespace of its own (its
// daemon, bridge, firewall rules and proxies never touch the machine's own
// network, nor the other engine's), with the client namespace beside it.
// The table gives medians over the rounds, each published path's ratio to
// the engine's direct path from the same client, and berth/docker.
//
// The same binary (static) is copied into the image: `netbench server`
// runs in the container, `netbench send` and `netbench wait` on the
// client side.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	var err error
	role := "bench"
	if len(os.Args) > 1 && (os.Args[1] == "server" || os.Args[1] == "send" || os.Args[1] == "wait") {
		role = os.Args[1]
	}
	switch role {
	case "server":
		err = server(os.Args[2:])
	case "send":
		err = send(os.Args[2:])
	case "wait":
		err = wait(os.Args[2:])
	default:
		err = bench(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "netbench %s: %v\n", role, err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
