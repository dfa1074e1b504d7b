package seccomp

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// kernelVersion returns the running kernel's major and minor version, or
// 0.0 when it cannot be read (so version-gated rules stay off).
func kernelVersion() [2]int {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return [2]int{}
	}
	return parseKernelVersion(unix.ByteSliceToString(u.Release[:]))
}

func parseKernelVersion(release string) [2]int {
	var v [2]int
	parts := strings.SplitN(release, ".", 3)
	for i := 0; i < 2 && i < len(parts); i++ {
		n := parts[i]
		if j := strings.IndexFunc(n, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			n = n[:j]
		}
		x, err := strconv.Atoi(n)
		if err != nil {
			return [2]int{}
		}
		v[i] = x
	}
	return v
}
