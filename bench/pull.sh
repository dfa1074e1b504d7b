#!/usr/bin/env bash
# Pull benchmark: pull + unpack of a ~180 MB, 5-layer image from Debian's
# docker-registry on loopback, by berth, podman, and skopeo copy + umoci
# unpack, beside the raw cost of the same bytes (curl | gzip -d | tar -x);
# then the re-pull of the image with all its layers present. Each from empty
# storage, N times (default 3), medians and ratios printed.
#
# usage: bench/pull.sh [-n N] [-mb MB] [-layers L]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg curl skopeo umoci
need_daemon_pkg docker-registry podman
scripts/build
go build -o bin/pullbench ./bench/pullbench
echo "berth: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(podman --version), $(skopeo --version), $(umoci --version)"
echo "machine: $(nproc) cpus, kernel $(uname -r), storage: $(stat -fc %T /var/tmp)"
exec bin/pullbench -berth "$PWD/bin/berth" "$@"
