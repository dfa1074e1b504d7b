#!/usr/bin/env bash
# Build benchmark: `berth build` against berth's daemon beside
# `DOCKER_BUILDKIT=0 docker build` (the classic builder) against Debian's
# dockerd, in one run, on the same project: a busybox base, a ~20 MB
# context of many small files and a few large ones, ~12 steps (ENV,
# WORKDIR, COPY, RUN, LABEL, CMD). Three cases, the engines taking turns:
#   cold    no image and no build cache on either side;
#   cached  the same context again: every step a cache hit;
#   last    a file of the last COPY edited: only that step and after rebuilt.
# N iterations (default 5); medians, and the ratio berth/docker per case.
# Both daemons are private (their own roots and sockets under a temp dir)
# and removed at exit, also on ^C. docker.io is installed if missing, for
# the comparison only: berth does not need it.
#
# usage: bench/build.sh [-n N] [-small FILES] [-keep]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg busybox-static
need_daemon_pkg docker.io
scripts/build
go build -o bin/buildbench ./bench/buildbench
echo "berth: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "machine: $(nproc) cpus, $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
exec bin/buildbench -berth "$PWD/bin/berth" "$@"
