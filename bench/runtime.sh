#!/usr/bin/env bash
# Runtime benchmark: berth runtime vs runc and crun from Debian, same bundle,
# same run, N iterations each (default 30): `run` of `true`;
# create/start/kill/delete of a sleeping container; pause, resume and update
# (flags, and the resources JSON on stdin as a containerd shim sends it) of a
# running one; list and state with 100 containers running per runtime
# (-many M). Prints medians and the ratios to crun; a runtime command that
# fails shows as FAILED, with its command line and stderr under the table.
#
# crun refuses a "hybrid" cgroup host (v1 controllers plus a cgroup2 mount),
# which is what this kind of machine has; so on such a host the whole
# benchmark, for every runtime alike, runs in a private mount namespace where
# the empty cgroup2 mount is unmounted.
#
# usage: bench/runtime.sh [-n N] [-many M]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg busybox-static runc crun
scripts/build
go build -o bin/runtimebench ./bench/runtimebench
bundle=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
bin/berth runtime example-bundle "$bundle" true >/dev/null
echo "berth: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(runc --version | head -1), $(crun --version | head -1)"
echo "machine: $(nproc) cpus, kernel $(uname -r), cgroups: $(stat -fc %T /sys/fs/cgroup)$(mountpoint -q /sys/fs/cgroup/unified 2>/dev/null && echo ' + unified (hybrid)')"
cmd=(bin/runtimebench -bundle "$bundle" "$@" berth="$PWD/bin/berth runtime" runc="$(command -v runc)" crun="$(command -v crun)")
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
	exec unshare -m bash -c 'umount /sys/fs/cgroup/unified && exec "$@"' bench "${cmd[@]}"
fi
exec "${cmd[@]}"
