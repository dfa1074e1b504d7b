package gate

import (
	"os"
	"os/exec"
	"testing"
)

// Root skips the test unless it runs as root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// Path skips the test unless a file exists at path, returning path.
func Path(t testing.TB, path, why string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("needs %s (%s): %v", path, why, err)
	}
	return path
}

// Command skips the test unless name is on PATH, returning its path.
func Command(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s on PATH", name)
	}
	return p
}

// Namespace skips the test unless the kernel has the namespace type (a name
// in /proc/self/ns, such as "time").
func Namespace(t testing.TB, name string) {
	t.Helper()
	if _, err := os.Stat("/proc/self/ns/" + name); err != nil {
		t.Skipf("kernel has no %s namespaces", name)
	}
}
