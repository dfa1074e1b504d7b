#!/usr/bin/env bash
# Network benchmark: a container's servers through published ports versus
# straight to the container's IP, for berth (nftables DNAT) and Debian's
# docker 20.10 with dockerd's defaults (docker-proxy for the host's own
# 127.0.0.1, iptables DNAT for the rest), in one run:
#   new connections per second (wrk, Connection: close, busybox httpd and a
#   1 KiB page), keep-alive requests per second (wrk, a Go server, the same
#   page) and bulk TCP MB/s (one connection into a sink, counted by the sink);
#   from the host to 127.0.0.1:PORT, to the host's address:PORT and to the
#   container's IP, and from a client netns one veth away to the host's
#   address:PORT and, routed, to the container's IP.
# Each engine runs in network namespaces of its own: its daemon, bridge,
# firewall rules and proxies never touch this machine's network, and no
# packet leaves the namespaces. Prints medians of -rounds measurements, each
# published path's ratio to the direct one, and berth/docker. Everything
# (containers, daemons, namespaces, cgroups, temp dirs) is removed at exit,
# also on ^C. About 4 minutes with the defaults.
#
# usage: bench/network.sh [-d 1s] [-rounds 6] [-warm 1s] [-c 32] [-t 1] [-engines docker,berth] [-keep]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg busybox-static wrk iproute2
need_daemon_pkg docker.io
scripts/build
# Static: the same binary serves inside the busybox image.
CGO_ENABLED=0 go build -o bin/netbench ./bench/netbench

prefix="nb$$"
# netbench removes what it made; should it die before it could, whatever is
# left in the namespaces named after this run goes here.
cleanup() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix-" || true); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null || true
		done
		ip netns delete "$ns" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

echo "berth: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "machine: $(nproc) cpus, $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
bin/netbench -berth "$PWD/bin/berth" -prefix "$prefix" "$@"
