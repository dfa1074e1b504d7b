# Shared by the scripts: make sure go and the packages berth's tests and
# examples need are on this machine.

# go: the machine has it under /usr/local/go even when PATH does not say so.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi

apt_updated=""
# need_pkg PKG...: install the Debian packages that are not installed yet.
need_pkg() {
	_need_pkg "" "$@"
}

# need_daemon_pkg PKG...: like need_pkg, for packages that ship a daemon
# (docker.io, containerd): without their recommended packages, and without
# letting their maintainer scripts start anything. The tests start private
# instances of their own and stop them; nothing is left running on the host.
need_daemon_pkg() {
	_need_pkg --no-install-recommends "$@"
}

_need_pkg() {
	local opt=$1
	shift
	local missing=()
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "berth: need root to install ${missing[*]}" >&2
		return 1
	fi
	if [ -z "$apt_updated" ]; then
		apt-get update -qq >/dev/null
		apt_updated=1
	fi
	echo "installing ${missing[*]}" >&2
	# invoke-rc.d asks policy-rc.d whether it may start a service; 101 is
	# "no". Put one in place for the install where the machine has none.
	local policy=/usr/sbin/policy-rc.d own_policy=""
	if [ -n "$opt" ] && [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $opt "${missing[@]}" >/dev/null || rc=$?
	[ -n "$own_policy" ] && rm -f "$policy"
	return $rc
}
