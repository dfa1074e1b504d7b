#!/usr/bin/env bash
# Compose benchmark: `up -d` and `down -v` of compose/testdata/app3 (db
# healthy on a named volume, app waiting for it, web publishing a port)
# with `berth compose` on a berth daemon beside Debian's docker-compose 1.29
# on Debian's dockerd (docker.io), in one run, with the same busybox image
# loaded into both. After every up the benchmark checks (untimed) that web
# answers db's value through the published port, after every down that
# nothing of the project is left. N iterations (default 5) after a warm-up,
# the engines taking turns; medians and the ratio berth/docker. Each
# daemon runs in a network namespace of its own with its default
# networking (bridges; iptables and docker-proxy, or nftables), so neither
# touches this machine's network. The daemons are private (their own roots
# and sockets under temp dirs) and, with everything the run made, removed
# at exit, also on ^C. docker.io and docker-compose are installed if
# missing, for the comparison only: berth does not need them.
#
# usage: bench/compose.sh [-n N] [-warm W] [-engines docker,berth] [-keep]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg busybox-static iproute2 util-linux
need_daemon_pkg docker.io docker-compose
scripts/build
go build -o bin/composebench ./bench/composebench

# composebench removes what it made; should it die before it could,
# whatever is left in the namespaces named after this run goes here.
prefix="cb$$"
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
bin/composebench -berth "$PWD/bin/berth" -prefix "$prefix" "$@"
