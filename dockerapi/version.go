package dockerapi

import (
	"runtime/debug"
	"strconv"
	"strings"
)

// The API versions the handler serves and the client speaks: the docker
// CLI this release is tested with (28.x) speaks 1.50; 1.24 is the oldest
// docker still accepts.
const (
	APIVersion    = "1.50"
	MinAPIVersion = "1.24"
)

// compareVersions compares dotted versions ("1.24", "1.50") part by part as
// numbers, as docker does; a missing or non-numeric part counts as 0.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// versionAtLeast reports whether v >= min.
func versionAtLeast(v, min string) bool { return compareVersions(v, min) >= 0 }

// buildVersion is the berth module's version as the binary was built
// ("dev" for a build from a work tree).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return strings.TrimPrefix(v, "v")
		}
	}
	return "dev"
}
