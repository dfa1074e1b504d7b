#!/usr/bin/env bash
# Engine benchmark: berth's daemon and CLI beside Debian's docker (dockerd,
# containerd, containerd-shim-runc-v2, runc) and podman (conmon, runc), in
# one run, each with its own CLI and the same argv shapes:
#   run --rm IMG true;  run -d IMG sleep 1000 + stop -t 1 ID + rm ID;
#   exec ID true;  ps with 100 running;  and M sleeping containers started
#   one after another (time per start, and host memory per container beyond
#   the containers' own processes: shims, conmons, monitors; daemon growth;
#   MemAvailable as a cross-check).
# N iterations (default 20) of each single-container case, the engines taking
# turns; medians, p90 and the ratios berth/docker and berth/podman. A command
# that fails shows as FAILED, with its command line and stderr under the
# table. The daemons are private (their own roots, sockets and pidfiles under
# a temp dir) and, with every container, mount and directory of the run, are
# removed at exit, also on ^C.
#
# usage: bench/engine.sh [-n N] [-many M] [-ps P] [-engines docker,podman,berth]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg busybox-static runc
need_daemon_pkg docker.io podman
scripts/build
go build -o bin/enginebench ./bench/enginebench
echo "berth: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "machine: $(nproc) cpus, $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo), kernel $(uname -r), cgroups: $(stat -fc %T /sys/fs/cgroup)$(mountpoint -q /sys/fs/cgroup/unified 2>/dev/null && echo ' + unified (hybrid)'), load $(cut -d' ' -f1-3 /proc/loadavg)"
exec bin/enginebench -berth "$PWD/bin/berth" "$@"
