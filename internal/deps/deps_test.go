package deps

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/berth-project/berth/"

// layers is DESIGN.md's map, bottom up: a package may import the ones on
// earlier lines. Sub-packages that a package is built from (runtime's
// cgroup, seccomp and nsenter) sit below it. internal/ may be imported from
// anywhere; cmd/berth, the only main, from nowhere.
var layers = [][]string{
	{"oci"},
	{"mount"},
	{"runtime/cgroup", "runtime/seccomp", "runtime/nsenter"},
	{"runtime"},
	{"content"},
	{"layer"},
	{"snapshot"},
	{"image"},
	{"registry"},
	{"network"},
	{"volume"},
	{"engine/logfile"},
	{"engine/monitor"},
	{"engine"},
	{"dockerapi"},
	{"build"},
	{"compose"},
	{"cluster"},
	{"bench"},
	{"cmd/berth"},
}

// rank returns the layer of a package path relative to the module, by its
// longest matching prefix; -1 for internal/ and packages the map does not name.
func rank(p string) int {
	if p == "internal" || strings.HasPrefix(p, "internal/") {
		return -1
	}
	best, bestLen := -1, 0
	for i, l := range layers {
		for _, prefix := range l {
			if (p == prefix || strings.HasPrefix(p, prefix+"/")) && len(prefix) > bestLen {
				best, bestLen = i, len(prefix)
			}
		}
	}
	return best
}

func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		from := strings.TrimPrefix(f[0], module)
		rf := rank(from)
		if rf < 0 && !strings.HasPrefix(from, "internal") {
			t.Errorf("package %s is not on the layer map: add it to DESIGN.md and this test", from)
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := strings.TrimPrefix(imp, module)
			rt := rank(to)
			switch {
			case rf < 0 && rt >= 0:
				t.Errorf("%s (internal) imports %s: internal packages stay below everything", from, to)
			case rt > rf:
				t.Errorf("%s imports %s, which is above it on the layer map", from, to)
			}
		}
	}
}

func TestRank(t *testing.T) {
	for p, want := range map[string]int{
		"oci": 0, "runtime": 3, "runtime/cgroup": 2, "runtime/seccomp/internal/mksyscalls": 2,
		"internal/gate": -1, "engine/monitor": 12, "cmd/berth": len(layers) - 1, "runtimex": -1,
	} {
		if got := rank(p); got != want {
			t.Errorf("rank(%q) = %d, want %d", p, got, want)
		}
	}
}
