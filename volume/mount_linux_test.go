package volume

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/gate"
)

// noMountsUnder fails t when a mount is left under dir.
func noMountsUnder(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			t.Errorf("mount left: %s", line)
			unmountAll(f[4])
		}
	}
}

func mounted(t *testing.T, path string) bool {
	t.Helper()
	m, err := isMountpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTmpfsVolumeRefCounted(t *testing.T) {
	gate.Root(t)
	root := filepath.Join(t.TempDir(), "volumes")
	t.Cleanup(func() { noMountsUnder(t, root) })
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := s.Create("tmp", "local", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=4m,mode=1770,uid=12"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if !v.NeedsMount() || mounted(t, v.Mountpoint) {
		t.Fatal("a tmpfs volume is mounted before any use")
	}
	p, err := s.Mount("tmp", "c1")
	if err != nil || p != v.Mountpoint {
		t.Fatalf("mount %q %v", p, err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(p, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC || fs.Blocks*uint64(fs.Bsize) != 4<<20 {
		t.Fatalf("statfs %+v %v: want a 4m tmpfs", fs, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil || st.Mode&0o7777 != 0o1770 || st.Uid != 12 {
		t.Fatalf("stat %o uid %d %v", st.Mode&0o7777, st.Uid, err)
	}
	if err := os.WriteFile(filepath.Join(p, "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A second ref, and the same ref twice, mount nothing more.
	for _, ref := range []string{"c2", "c1"} {
		if _, err := s.Mount("tmp", ref); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Usage("tmp"); err != nil || n != 5 {
		t.Fatalf("usage %d %v", n, err)
	}
	if err := s.Unmount("tmp", "c1"); err != nil {
		t.Fatal(err)
	}
	if !mounted(t, p) {
		t.Fatal("unmounted while c2 still uses it")
	}
	// A restart (a new Store on the root) keeps the refs.
	s2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if refs, err := s2.Refs("tmp"); err != nil || len(refs) != 1 || refs[0] != "c2" {
		t.Fatalf("refs after restart %v %v", refs, err)
	}
	if err := s2.Unmount("tmp", "unknown"); err != nil || !mounted(t, p) {
		t.Fatalf("unknown ref: %v", err)
	}
	if err := s2.Unmount("tmp", "c2"); err != nil {
		t.Fatal(err)
	}
	if mounted(t, p) {
		t.Fatal("still mounted after the last unmount")
	}
	if _, err := os.Stat(filepath.Join(p, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tmpfs data outlived the mount: %v", err)
	}
	// Mounted again, then removed while mounted: Remove unmounts first.
	if _, err := s2.Mount("tmp", "c3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volume left: %v", err)
	}
}

func TestBindVolume(t *testing.T) {
	gate.Root(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "volumes")
	t.Cleanup(func() { noMountsUnder(t, dir) })
	host := filepath.Join(dir, "host")
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "keep"), []byte("host data"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create("bind", "", map[string]string{"type": "none", "device": host, "o": "bind,ro"}, nil, false); err != nil {
		t.Fatal(err)
	}
	p, err := s.Mount("bind", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(p, "keep")); err != nil || string(b) != "host data" {
		t.Fatalf("read through the bind: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(p, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("write to a ro bind volume: %v", err)
	}
	// Removing the volume unmounts it and never deletes the host's data.
	if err := s.Remove("bind"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(host, "keep")); err != nil || string(b) != "host data" {
		t.Fatalf("host data after remove: %q %v", b, err)
	}

	// A device that is not there fails at the mount, and leaves nothing.
	if _, _, err := s.Create("gone", "", map[string]string{"type": "none", "device": filepath.Join(dir, "nope"), "o": "bind"}, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mount("gone", "c1"); err == nil || !strings.Contains(err.Error(), "failed to mount local volume") {
		t.Fatalf("mount of a missing device: %v", err)
	}
	if refs, _ := s.Refs("gone"); len(refs) != 0 {
		t.Fatalf("refs after a failed mount: %v", refs)
	}
}
