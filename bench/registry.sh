#!/usr/bin/env bash
# Registry benchmark: berth's registry server (`berth registry serve`) beside
# Debian's docker-registry 2.8, and a minimal Go file server over the same
# files at the same URL paths as the physical reference. A ~180 MB image of
# 5 gzip layers of random data and a 100 MB blob; push (skopeo, `berth
# push`, a Go client; and 8 Go-client pushes at once), GET of the blob by a
# Go client, pull (skopeo, a Go client; and 8 Go-client pulls at once);
# every server fresh with empty storage, N times (default 3). Prints
# medians, MB/s, each server's peak RSS and CPU time, and the ratios: berth
# to the file server for the GET, berth to docker-registry for push and
# pull. -v prints every sample.
#
# usage: bench/registry.sh [-n N] [-gets G] [-parallel P] [-mb MB] [-blob-mb MB] [-targets fileserver,docker-registry,berth] [-v]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg skopeo
need_daemon_pkg docker-registry
scripts/build
go build -o bin/registrybench ./bench/registrybench
echo "berth: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(skopeo --version), docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}'), $(go version | awk '{print $3}')"
echo "machine: $(nproc) cpus, kernel $(uname -r), storage: $(stat -fc %T /var/tmp)"
exec bin/registrybench -berth "$PWD/bin/berth" "$@"
