# Shared by the scripts: make sure go and the packages berth's tests and
# examples need are on this machine.

# go: the machine has it under /usr/local/go even when PATH does not say so.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi

apt_updated=""
# need_pkg PKG...: install the Debian packages that are not installed yet.
need_pkg() {
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
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
