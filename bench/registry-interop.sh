#!/usr/bin/env bash
# Registry interop: real third-party clients against `berth registry serve`
# (or, with REGISTRY=docker-registry, against Debian's docker-registry 2.8,
# the same steps, to tell berth's faults from the clients' quirks).
#
#   docker  a private dockerd 20.10 (own data, exec root, socket, cgroup
#           parent; --insecure-registry for the registries here): load a
#           busybox image, tag, push, rmi, pull back (same image ID), run it;
#           push to a second repository (a cross-repository mount) and pull
#           that by digest.
#   skopeo  inspect (and --raw, --config) what docker pushed; list-tags;
#           delete a manifest.
#   podman  podman 4.3 (--runtime runc, own --root/--runroot): load, push as
#           OCI, rmi, pull back, run; pull what docker pushed; push an
#           index (manifest push --all), which docker then pulls and runs.
#   docker  pull and run what podman pushed (an OCI manifest).
#   berth   berth's own client: pull what docker and podman pushed, the
#           index, by digest; run; push, then docker and podman pull that.
#   auth    a second registry with --htpasswd: pushes and pulls without
#           credentials and logins with a wrong password are refused (for
#           the right reason: each refusal's message is checked); docker
#           login + push + pull, berth push with docker's credentials,
#           podman login + push + pull, skopeo with and without --creds.
#   TLS     a third registry with --tls-cert/--tls-key (a self-signed
#           certificate for 127.0.0.1): skopeo push with the CA, refused
#           without it; podman and berth pull with the CA.
#   berth alone: --token (docker's token protocol, berth's own token
#           endpoint): docker login + push + pull, berth push, podman,
#           skopeo; and --anonymous-read lets an anonymous pull through and
#           still refuses an anonymous push.
#
# The busybox image is made from Debian's busybox-static: berth builds a
# root filesystem (runtime example-bundle), imports it and saves it as a
# docker-archive, which docker and podman both load.
#
# Prints PASS/FAIL per step (a failing step's output under it), exits 1 if
# any failed. Everything it starts is stopped and everything it made is
# removed on exit, also on failure or ^C.
#
# usage: [REGISTRY=berth|docker-registry] [KEEP=1] bench/registry-interop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
REGISTRY=${REGISTRY:-berth}
case $REGISTRY in
berth | docker-registry) ;;
*)
	echo "REGISTRY must be berth or docker-registry" >&2
	exit 2
	;;
esac
need_pkg busybox-static skopeo curl apache2-utils libc6-dev
need_daemon_pkg docker.io podman docker-registry
scripts/build
berth=$PWD/bin/berth
docker_cli=/usr/bin/docker # the CLI of the daemon's package; /usr/local/bin may hold a newer one
if [ "$REGISTRY" = berth ] && ! "$berth" registry serve --help 2>/dev/null | grep -q -- --root; then
	echo "bin/berth has no \`registry serve\` yet; REGISTRY=docker-registry runs the same steps against docker-registry" >&2
	exit 2
fi

work=$(mktemp -d /var/tmp/berth-interop.XXXXXX)
id=$(basename "$work")
runroot=/var/tmp/bi-${id##*.} # podman refuses a long runroot
cgparent=$id                  # dockerd's and podman's containers' cgroup parent
export DOCKER_CONFIG=$work/docker-cli
mkdir -p "$work/log" "$DOCKER_CONFIG"
# podman 4.3 and skopeo read $DOCKER_CONFIG/config.json too, and fail when
# DOCKER_CONFIG names a directory without one.
echo '{}' >"$DOCKER_CONFIG/config.json"
echo '{}' >"$work/podman-auth.json"
pids=()
dockerd_pid=""

cleanup() {
	set +e
	if [ -n "$dockerd_pid" ]; then
		ids=$("$docker_cli" -H "unix://$work/docker.sock" ps -aq 2>/dev/null)
		[ -n "$ids" ] && "$docker_cli" -H "unix://$work/docker.sock" rm -f $ids >/dev/null 2>&1
		kill -TERM "$dockerd_pid" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$dockerd_pid" 2>/dev/null
	fi
	podman_ rm -a -f >/dev/null 2>&1
	podman_ rmi -a -f >/dev/null 2>&1
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	# Whatever else runs from our directories: containerd, shims, conmon.
	for _ in 1 2 3; do
		left=$(grep -lsF -e "$work" -e "$runroot" /proc/[0-9]*/cmdline | cut -d/ -f3 | grep -vx "$$")
		[ -z "$left" ] && break
		kill -KILL $left 2>/dev/null
		sleep 0.3
	done
	# Mounts under our directories, deepest first.
	awk -v a="$work" -v b="$runroot" '$5 == a || index($5, a "/") == 1 || $5 == b || index($5, b "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m"; done
	for c in /sys/fs/cgroup/*/"$cgparent"* /sys/fs/cgroup/"$cgparent"*; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	if [ -n "${KEEP:-}" ]; then
		echo "kept $work" >&2
	else
		rm -rf "$work" "$runroot"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

podman_() {
	podman --root "$work/podman" --runroot "$runroot" --tmpdir "$work/podman-tmp" \
		--storage-driver overlay --runtime runc --cgroup-manager cgroupfs --events-backend file "$@"
}
docker_() { "$docker_cli" -H "unix://$work/docker.sock" "$@"; }
docker_login() { echo "$1" | docker_ login -u berth --password-stdin "$authhost"; }
docker_login_to() { echo "$2" | docker_ login -u berth --password-stdin "$1"; }
podman_login_push() {
	podman_ login --tls-verify=false --authfile "$work/podman-auth.json" -u berth -p s3cret "$1" &&
		podman_ tag "$img:podman" "$2" &&
		podman_ push --tls-verify=false --authfile "$work/podman-auth.json" "$2"
}
docker_repull() { docker_ rmi "$1" && docker_ pull "$1"; }
docker_push_other() { docker_ tag "$img:docker" "$other:docker" && docker_ push "$other:docker"; }
docker_repull_digest() {
	docker_ rmi "$other:docker" "$img:docker" && docker_ pull "$other@$digest" && docker_ tag "$other@$digest" "$img:docker"
}
berth_() { "$berth" --data-root "$work/berth" --insecure-registry "$host" "$@"; }
berth_push() {
	"$berth" --data-root "$work/berth" --insecure-registry "${1%%/*}" tag interop/busybox:latest "$1" &&
		"$berth" --data-root "$work/berth" --insecure-registry "${1%%/*}" push "$1"
}
podman_list() {
	podman_ manifest create "$img:list-local" &&
		podman_ manifest add --tls-verify=false "$img:list-local" "docker://$img:podman" &&
		podman_ manifest push --all --format oci --tls-verify=false "$img:list-local" "docker://$img:list"
}
make_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" &&
		mkdir -p "$work/certs/$tlshost" && cp "$work/tls.crt" "$work/certs/$tlshost/ca.crt"
}
podman_repull() {
	podman_ rmi "$1" && podman_ pull --tls-verify=false --authfile "$work/podman-auth.json" "$1"
}

failed=0
steps=0
slow=() # steps that passed but took longer than slow_after seconds
slow_after=10
# step NAME CMD...: run CMD, PASS when it succeeds.
step() {
	local name=$1
	shift
	steps=$((steps + 1))
	local log=$work/log/$steps.log t0=$EPOCHREALTIME
	if "$@" >"$log" 2>&1; then
		printf 'PASS  %-66s %s\n' "$name" "$(since "$t0")"
		note_slow "$name" "$t0"
	else
		printf 'FAIL  %-66s %s\n' "$name" "$(since "$t0")"
		sed 's/^/      | /' "$log" | tail -15
		failed=$((failed + 1))
	fi
}
# refused NAME WHY CMD...: run CMD, PASS when it fails with a message that
# matches the extended regular expression WHY (case-insensitive): refused
# for the right reason.
refused() {
	local name=$1 why=$2
	shift 2
	steps=$((steps + 1))
	local log=$work/log/$steps.log t0=$EPOCHREALTIME
	if "$@" >"$log" 2>&1; then
		printf 'FAIL  %s (it succeeded)\n' "$name"
		sed 's/^/      | /' "$log" | tail -5
		failed=$((failed + 1))
	elif ! grep -Eqi "$why" "$log"; then
		printf 'FAIL  %s (refused, but not for /%s/)\n' "$name" "$why"
		sed 's/^/      | /' "$log" | tail -5
		failed=$((failed + 1))
	else
		printf 'PASS  %-66s %s\n' "$name" "$(since "$t0")"
		note_slow "$name" "$t0"
	fi
}
note_slow() {
	local took
	took=$(since "$2")
	if awk -v t="${took%s}" -v m="$slow_after" 'BEGIN { exit !(t > m) }'; then
		slow+=("$1 ($took)")
	fi
}
# since T0: seconds since $EPOCHREALTIME was T0, as 1.23s.
since() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2fs", b - a }'
}
# json_is JQ CMD...: CMD succeeds and its output passes jq -e JQ.
json_is() {
	local expr=$1 out
	shift
	out=$("$@") || return 1
	jq -e "$expr" <<<"$out"
}
# output_is WANT CMD...: CMD succeeds and prints WANT.
output_is() {
	local want=$1 got
	shift
	got=$("$@") || return 1
	[ "$got" = "$want" ] || {
		echo "output: $got" >&2
		echo "want:   $want" >&2
		return 1
	}
}

free_port() {
	local p
	while :; do
		p=$((RANDOM % 20000 + 30000))
		[ -z "$(ss -Htln "sport = :$p")" ] && echo "$p" && return
	done
}

# start_registry NAME PORT [--htpasswd FILE] [--anonymous-read] [--tls-cert F --tls-key F]: start the
# registry under test on 127.0.0.1:PORT with empty storage.
start_registry() {
	local name=$1 port=$2
	shift 2
	local root=$work/$name
	mkdir -p "$root"
	local scheme=http
	if [ "$REGISTRY" = berth ]; then
		case " $* " in *" --tls-cert "*) scheme=https ;; esac
		"$berth" registry serve --addr "127.0.0.1:$port" --root "$root/data" "$@" >"$root/log" 2>&1 &
	else
		local auth="" tls=""
		while [ $# -gt 0 ]; do
			case $1 in
			--htpasswd)
				auth=$(printf 'auth:\n  htpasswd:\n    realm: berth-interop\n    path: %s' "$2")
				shift
				;;
			--tls-cert)
				tls="$tls$(printf '\n    certificate: %s' "$2")"
				scheme=https
				shift
				;;
			--tls-key)
				tls="$tls$(printf '\n    key: %s' "$2")"
				shift
				;;
			*)
				echo "docker-registry has no $1" >&2
				return 1
				;;
			esac
			shift
		done
		[ -n "$tls" ] && tls="  tls:$tls"
		cat >"$root/config.yml" <<-EOF
			version: 0.1
			log:
			  level: warn
			storage:
			  filesystem:
			    rootdirectory: $root/data
			  delete:
			    enabled: true
			http:
			  addr: 127.0.0.1:$port
			$tls
			$auth
		EOF
		docker-registry serve "$root/config.yml" >"$root/log" 2>&1 &
	fi
	pids+=($!)
	for _ in $(seq 100); do
		case $(curl -sk -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/v2/") in
		200 | 401) return 0 ;;
		esac
		sleep 0.05
	done
	echo "$name registry did not answer on 127.0.0.1:$port:" >&2
	tail -20 "$root/log" >&2
	return 1
}

start_dockerd() {
	local driver
	echo "{\"deprecated-key-path\": \"$work/key.json\"}" >"$work/daemon.json"
	for driver in overlay2 vfs; do
		rm -rf "$work/docker-data"
		dockerd --config-file "$work/daemon.json" --data-root "$work/docker-data" --exec-root "$work/dx" \
			--pidfile "$work/docker.pid" -H "unix://$work/docker.sock" --storage-driver "$driver" \
			--cgroup-parent "/$cgparent" --exec-opt native.cgroupdriver=cgroupfs \
			--bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
			--insecure-registry "$host" --insecure-registry "$authhost" --insecure-registry "$tokhost" --insecure-registry "$tokanonhost" \
			>"$work/dockerd-$driver.log" 2>&1 &
		dockerd_pid=$!
		for _ in $(seq 150); do
			kill -0 "$dockerd_pid" 2>/dev/null || break
			if curl -s --unix-socket "$work/docker.sock" http://docker/_ping 2>/dev/null | grep -q OK; then
				return 0
			fi
			sleep 0.2
		done
		kill -TERM "$dockerd_pid" 2>/dev/null
		wait "$dockerd_pid" 2>/dev/null || true
		dockerd_pid=""
	done
	tail -20 "$work/dockerd-vfs.log" >&2
	return 1
}

port=$(free_port)
authport=$(free_port)
while [ "$authport" = "$port" ]; do authport=$(free_port); done
tlsport=$(free_port)
while [ "$tlsport" = "$port" ] || [ "$tlsport" = "$authport" ]; do tlsport=$(free_port); done
tokport=$(free_port)
while [ "$tokport" = "$port" ] || [ "$tokport" = "$authport" ] || [ "$tokport" = "$tlsport" ]; do tokport=$(free_port); done
host=127.0.0.1:$port
authhost=127.0.0.1:$authport
tlshost=127.0.0.1:$tlsport
tokhost=127.0.0.1:$tokport
tokanonport=$(free_port)
while [ "$tokanonport" = "$port" ] || [ "$tokanonport" = "$authport" ] || [ "$tokanonport" = "$tlsport" ] || [ "$tokanonport" = "$tokport" ]; do tokanonport=$(free_port); done
tokanonhost=127.0.0.1:$tokanonport
img=$host/interop/busybox

echo "registry: $REGISTRY ($([ "$REGISTRY" = berth ] && echo "berth $(git rev-parse --short HEAD 2>/dev/null || echo '?')" || docker-registry --version | awk '{print $3}')), $("$docker_cli" --version), $(dockerd --version | awk '{print $3}' | tr -d ,) dockerd, $(podman --version), $(skopeo --version)"

# The busybox image, as a docker-archive.
"$berth" runtime example-bundle "$work/bundle" true >/dev/null
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
"$berth" --data-root "$work/berth" import "$work/rootfs.tar" interop/busybox:latest >/dev/null
"$berth" --data-root "$work/berth" save -o "$work/busybox.tar" interop/busybox:latest
rm -rf "$work/bundle" "$work/rootfs.tar"

step "registry: start on $host (empty)" start_registry plain "$port"
htpasswd -Bbn berth s3cret >"$work/htpasswd"
step "registry: start on $authhost with --htpasswd" start_registry auth "$authport" --htpasswd "$work/htpasswd"

# docker
step "dockerd: start (private)" start_dockerd
step "docker load busybox" docker_ load -i "$work/busybox.tar"
loaded_id=$(docker_ inspect -f '{{.Id}}' interop/busybox:latest 2>/dev/null || echo none)
step "docker tag" docker_ tag interop/busybox:latest "$img:docker"
step "docker push" docker_ push "$img:docker"
step "docker push again (all layers exist)" docker_ push "$img:docker"
step "docker rmi" docker_ rmi "$img:docker" interop/busybox:latest
step "docker pull" docker_ pull "$img:docker"
step "docker pull: same image ID as loaded" output_is "$loaded_id" docker_ inspect -f '{{.Id}}' "$img:docker"
step "docker run --rm (pulled image) echo ok" output_is ok docker_ run --rm --network none "$img:docker" echo ok
repo_digest=$(docker_ inspect -f '{{index .RepoDigests 0}}' "$img:docker" 2>/dev/null || echo none)
digest=${repo_digest#*@}
other=$host/interop/other
step "docker push to a second repository (cross-repository mount)" docker_push_other
step "docker rmi + pull by digest from the second repository" docker_repull_digest
step "docker run --rm (pulled by digest) echo ok" output_is ok docker_ run --rm --network none "$other@$digest" echo ok

# skopeo on what docker pushed
step "skopeo inspect (docker's push)" json_is '.Layers | length == 1' skopeo inspect --tls-verify=false "docker://$img:docker"
step "skopeo inspect --raw: docker v2 schema 2 manifest" json_is '.mediaType == "application/vnd.docker.distribution.manifest.v2+json"' skopeo inspect --raw --tls-verify=false "docker://$img:docker"
step "skopeo inspect --config: linux/amd64" json_is '.os == "linux"' skopeo inspect --config --tls-verify=false "docker://$img:docker"

# podman. Its default ulimits for root (nofile and nproc in the millions)
# need CAP_SYS_RESOURCE, which root on a VM like this one may not have:
# the runs ask for small ones.
step "podman load busybox" podman_ load -i "$work/busybox.tar"
step "podman tag" podman_ tag interop/busybox:latest "$img:podman"
step "podman push --format oci" podman_ push --tls-verify=false --format oci "$img:podman"
step "podman rmi" podman_ rmi -f "$img:podman" interop/busybox:latest
step "podman pull" podman_ pull --tls-verify=false "$img:podman"
step "podman run --rm (pulled image) echo ok" output_is ok podman_ run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --cgroup-parent "/$cgparent-podman" "$img:podman" echo ok
step "podman pull of docker's push" podman_ pull --tls-verify=false "$img:docker"
step "podman run --rm (docker's push) echo ok" output_is ok podman_ run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --cgroup-parent "/$cgparent-podman" "$img:docker" echo ok
step "skopeo inspect --raw: podman pushed an OCI manifest" json_is '.mediaType == "application/vnd.oci.image.manifest.v1+json" or (.mediaType == null and .config.mediaType == "application/vnd.oci.image.config.v1+json")' skopeo inspect --raw --tls-verify=false "docker://$img:podman"
step "docker pull of podman's push (OCI)" docker_ pull "$img:podman"
step "docker run --rm (podman's push) echo ok" output_is ok docker_ run --rm --network none "$img:podman" echo ok
step "skopeo list-tags: docker, podman" json_is '.Tags | sort == ["docker", "podman"]' skopeo list-tags --tls-verify=false "docker://$img"

# an image index (podman manifest push), read by docker, skopeo and berth
step "podman manifest push --all (an OCI index)" podman_list
step "skopeo inspect --raw: an index" json_is '.manifests | length == 1' skopeo inspect --raw --tls-verify=false "docker://$img:list"
step "docker pull of the index" docker_ pull "$img:list"
step "docker run --rm (from the index) echo ok" output_is ok docker_ run --rm --network none "$img:list" echo ok

# berth's own client
step "berth pull of docker's push" berth_ pull -q "$img:docker"
step "berth pull of podman's push" berth_ pull -q "$img:podman"
step "berth pull of the index" berth_ pull -q "$img:list"
step "berth pull by digest" berth_ pull -q "$other@$digest"
step "berth run --rm (docker's push) echo ok" output_is ok berth_ run --rm "$img:docker" echo ok
step "berth push (the image berth imported)" berth_push "$img:berth"
step "docker pull of berth's push" docker_ pull "$img:berth"
step "docker run --rm (berth's push) echo ok" output_is ok docker_ run --rm --network none "$img:berth" echo ok
step "podman pull of berth's push" podman_ pull --tls-verify=false "$img:berth"

# delete (optional in the distribution spec; docker-registry with delete enabled has it)
step "skopeo delete of podman's tag" skopeo delete --tls-verify=false "docker://$img:podman"
refused "skopeo inspect of the deleted manifest refused" 'manifest unknown|not found|404' skopeo inspect --raw --tls-verify=false "docker://$img:podman"
step "docker's push still there after the delete" skopeo inspect --raw --tls-verify=false "docker://$img:docker"

# auth
aimg=$authhost/interop/busybox
step "docker tag for the auth registry" docker_ tag "$img:docker" "$aimg:docker"
refused "docker push without login refused" 'unauthorized|authentication required|401|no basic auth credentials' docker_ push "$aimg:docker"
refused "docker login with a wrong password refused" 'unauthorized|authentication required|401|no basic auth credentials' docker_login wrong
step "docker login" docker_login s3cret
step "docker push (logged in)" docker_ push "$aimg:docker"
step "docker rmi + pull (logged in)" docker_repull "$aimg:docker"
step "berth push (with docker login's credentials)" berth_push "$aimg:berth"
step "docker logout" docker_ logout "$authhost"
refused "berth push after logout refused" 'unauthorized|authentication required|401' berth_push "$aimg:berth2"
refused "docker rmi + pull after logout refused" 'unauthorized|authentication required|401|no basic auth credentials' docker_repull "$aimg:docker"
step "podman tag for the auth registry" podman_ tag "$img:podman" "$aimg:podman"
refused "podman push without login refused" 'unauthorized|authentication required|401|no basic auth credentials' podman_ push --tls-verify=false --authfile "$work/podman-auth.json" "$aimg:podman"
step "podman login" podman_ login --tls-verify=false --authfile "$work/podman-auth.json" -u berth -p s3cret "$authhost"
step "podman push (logged in)" podman_ push --tls-verify=false --authfile "$work/podman-auth.json" "$aimg:podman"
step "podman rmi + pull (logged in)" podman_repull "$aimg:podman"
refused "skopeo inspect without credentials refused" 'unauthorized|authentication required|401|no basic auth credentials' skopeo inspect --tls-verify=false "docker://$aimg:podman"
step "skopeo inspect --creds" skopeo inspect --tls-verify=false --creds berth:s3cret "docker://$aimg:podman"
refused "skopeo list-tags without credentials refused" 'unauthorized|authentication required|401|no basic auth credentials' skopeo list-tags --tls-verify=false "docker://$aimg"

# TLS: a self-signed certificate for 127.0.0.1, trusted through cert dirs.
step "make a self-signed certificate" make_cert
step "registry: start on $tlshost with --tls-cert --tls-key" start_registry tls "$tlsport" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"
step "skopeo copy (push) over TLS (--dest-cert-dir)" skopeo copy -q --dest-cert-dir "$work/certs/$tlshost" "docker-archive:$work/busybox.tar" "docker://$tlshost/interop/busybox:tls"
refused "skopeo inspect over TLS without the CA refused" 'x509|certificate' skopeo inspect "docker://$tlshost/interop/busybox:tls"
step "podman pull over TLS (--cert-dir)" podman_ pull --cert-dir "$work/certs/$tlshost" "$tlshost/interop/busybox:tls"
step "berth pull over TLS (--certs-dir)" "$berth" --data-root "$work/berth" --certs-dir "$work/certs" pull -q "$tlshost/interop/busybox:tls"

if [ "$REGISTRY" = berth ]; then
	# docker's token protocol, with berth's own token endpoint
	timg=$tokhost/interop/busybox
	step "registry: start on $tokhost with --htpasswd --token" start_registry token "$tokport" --htpasswd "$work/htpasswd" --token
	step "docker tag for the token registry" docker_ tag "$img:docker" "$timg:docker"
	refused "docker push without login refused (token)" 'unauthorized|authentication required|401|no basic auth credentials|denied' docker_ push "$timg:docker"
	refused "docker login with a wrong password refused (token)" 'unauthorized|authentication required|401' docker_login_to "$tokhost" wrong
	step "docker login (token)" docker_login_to "$tokhost" s3cret
	step "docker push (token)" docker_ push "$timg:docker"
	step "docker rmi + pull (token)" docker_repull "$timg:docker"
	step "berth push (token, docker login's credentials)" berth_push "$timg:berth"
	step "docker logout (token)" docker_ logout "$tokhost"
	refused "docker rmi + pull after logout refused (token)" 'unauthorized|authentication required|401|denied' docker_repull "$timg:docker"
	step "podman login + push (token)" podman_login_push "$tokhost" "$timg:podman"
	step "skopeo inspect --creds (token)" skopeo inspect --tls-verify=false --creds berth:s3cret "docker://$timg:podman"
	refused "skopeo inspect without credentials refused (token)" 'unauthorized|authentication required|401' skopeo inspect --tls-verify=false "docker://$timg:podman"

	# tokens for anonymous pulls
	taimg=$tokanonhost/interop/busybox
	step "registry: start on $tokanonhost with --htpasswd --token --anonymous-read" start_registry tokanon "$tokanonport" --htpasswd "$work/htpasswd" --token --anonymous-read
	step "skopeo copy (push) --dest-creds (token)" skopeo copy -q --dest-tls-verify=false --dest-creds berth:s3cret "docker-archive:$work/busybox.tar" "docker://$taimg:anon"
	step "docker pull without login (token, anonymous read)" docker_ pull "$taimg:anon"
	step "docker tag for the token + anonymous-read registry" docker_ tag "$img:docker" "$taimg:docker"
	refused "docker push without login refused (token, anonymous read)" 'unauthorized|authentication required|401|denied' docker_ push "$taimg:docker"

	anonport=$(free_port)
	while [ "$anonport" = "$port" ] || [ "$anonport" = "$authport" ] || [ "$anonport" = "$tlsport" ] || [ "$anonport" = "$tokport" ] || [ "$anonport" = "$tokanonport" ]; do anonport=$(free_port); done
	anonhost=127.0.0.1:$anonport
	step "registry: start on $anonhost with --htpasswd --anonymous-read" start_registry anon "$anonport" --htpasswd "$work/htpasswd" --anonymous-read
	refused "skopeo copy (push) without credentials refused" 'unauthorized|authentication required|401|no basic auth credentials' skopeo copy -q --dest-tls-verify=false "docker-archive:$work/busybox.tar" "docker://$anonhost/interop/busybox:anon"
	step "skopeo copy (push) --dest-creds" skopeo copy -q --dest-tls-verify=false --dest-creds berth:s3cret "docker-archive:$work/busybox.tar" "docker://$anonhost/interop/busybox:anon"
	step "skopeo inspect without credentials (anonymous read)" skopeo inspect --tls-verify=false "docker://$anonhost/interop/busybox:anon"
	step "skopeo copy (pull) without credentials (anonymous read)" skopeo copy -q --src-tls-verify=false "docker://$anonhost/interop/busybox:anon" "oci:$work/anon-pull:anon"
fi

echo
for s in "${slow[@]}"; do
	echo "SLOW  $s: passed, but took over ${slow_after}s"
done
if [ "$failed" -gt 0 ]; then
	echo "$failed of $steps steps FAILED (registry logs: $work/*/log; KEEP=1 keeps them)"
	for r in plain auth tls token tokanon anon; do
		[ -f "$work/$r/log" ] || continue
		echo "--- $r registry log, last lines:"
		tail -12 "$work/$r/log" | cut -c1-400
	done
	exit 1
fi
echo "all $steps steps PASS"
