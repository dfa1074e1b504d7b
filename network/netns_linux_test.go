package network

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/gate"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// throwawayNetNS moves the test's goroutine, locked to its thread, into a
// new network namespace that plays the host for the rest of the test. The
// thread is never unlocked, so the runtime discards it (and the namespace
// with everything in it goes) when the test ends. Do not start subtests
// or rely on other goroutines for host-side work after calling it: they
// run in the real host's namespace.
func throwawayNetNS(t *testing.T) {
	t.Helper()
	gate.Root(t)
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Fatalf("unshare netns: %v", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
}

// pinnedNetNS makes a namespace with NewNetNS in a temporary directory
// and removes it at the end of the test, checking that no mount is left.
func pinnedNetNS(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := NewNetNS(path); err != nil {
		t.Fatalf("NewNetNS: %v", err)
	}
	t.Cleanup(func() {
		if err := DeleteNetNS(path); err != nil {
			t.Errorf("DeleteNetNS: %v", err)
		}
		checkNoMounts(t, dir)
	})
	return path
}

// checkNoMounts fails the test if anything is mounted under dir.
func checkNoMounts(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			t.Errorf("mount left behind: %s", line)
		}
	}
}

// threadNetNS is the inode of the calling thread's network namespace.
func threadNetNS(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestNetNSLifecycle(t *testing.T) {
	gate.Root(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ns")
	if err := NewNetNS(path); err != nil {
		t.Fatalf("NewNetNS: %v", err)
	}
	var pinned unix.Stat_t
	if err := unix.Stat(path, &pinned); err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.NSFS_MAGIC {
		t.Fatalf("%s is not a pinned namespace (fs type %#x)", path, st.Type)
	}

	if err := NewNetNS(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("NewNetNS on an existing path: %v, want it to fail with file exists", err)
	}
	if err := unix.Statfs(path, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		t.Errorf("the failed NewNetNS disturbed the existing namespace: %v, %#x", err, st.Type)
	}

	runtime.LockOSThread()
	mine := threadNetNS(t)
	runtime.UnlockOSThread()
	if pinned.Ino == mine {
		t.Fatalf("the new namespace is the caller's (inode %d)", mine)
	}
	var inside uint64
	loUp := false
	err := InNetNS(path, func() error {
		inside = threadNetNS(t)
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		loUp = lo.Attrs().Flags&net.FlagUp != 0
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		if len(links) != 1 {
			t.Errorf("a new namespace has %d links, want lo only", len(links))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InNetNS: %v", err)
	}
	if inside != pinned.Ino {
		t.Errorf("InNetNS ran in namespace %d, want the pinned %d", inside, pinned.Ino)
	}
	if !loUp {
		t.Error("lo is not up in the new namespace")
	}

	// Errors and panics of fn come back to the caller, and the caller's
	// goroutine stays where it was.
	boom := errors.New("boom")
	if err := InNetNS(path, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("InNetNS returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if p := recover(); p != "panic inside" {
				t.Errorf("recovered %v, want fn's panic", p)
			}
		}()
		InNetNS(path, func() error { panic("panic inside") })
	}()
	runtime.LockOSThread()
	if now := threadNetNS(t); now != mine {
		t.Errorf("the caller's thread moved to namespace %d", now)
	}
	runtime.UnlockOSThread()

	if err := InNetNS(filepath.Join(dir, "missing"), func() error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InNetNS of a missing path: %v, want not exist", err)
	}
	notNS := filepath.Join(dir, "plain")
	if err := os.WriteFile(notNS, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := InNetNS(notNS, func() error { t.Error("fn ran in a plain file's namespace"); return nil }); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("InNetNS of a plain file: %v, want invalid argument", err)
	}

	if err := DeleteNetNS(path); err != nil {
		t.Fatalf("DeleteNetNS: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after DeleteNetNS: %v, want the file gone", err)
	}
	if err := DeleteNetNS(path); err != nil {
		t.Errorf("DeleteNetNS of a missing path: %v", err)
	}
	if err := DeleteNetNS(notNS); err != nil {
		t.Errorf("DeleteNetNS of a plain file: %v", err)
	}
	if _, err := os.Lstat(notNS); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DeleteNetNS left the plain file: %v", err)
	}
	checkNoMounts(t, dir)
}

func TestNewNetNSMissingDir(t *testing.T) {
	gate.Root(t)
	dir := t.TempDir()
	if err := NewNetNS(filepath.Join(dir, "no", "ns")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewNetNS in a missing directory: %v, want not exist", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("left behind: %v %v", entries, err)
	}
	checkNoMounts(t, dir)
}
