package logfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/gate"
)

// TestWriterNoSpace fills a small tmpfs: entries that do not fit are
// dropped whole (no half line stays in the file), and writing resumes once
// there is room again.
func TestWriterNoSpace(t *testing.T) {
	gate.Root(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	path := filepath.Join(dir, "log")
	w, err := NewWriter(WriterConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write("stdout", []byte("before\n"), time.Now())

	// Fill the file system, leaving the log's last page partly free.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := filler.Write(buf); err != nil {
			break
		}
	}
	filler.Close()

	// Entries of 1000 bytes: the first ones may fit in the page, then one
	// is cut short by ENOSPC and the rest get nothing.
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'a'
	}
	long[len(long)-1] = '\n'
	var failed int
	for i := 0; i < 10; i++ {
		err := w.Write("stdout", long, time.Now())
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("write %d: %v, want ENOSPC", i, err)
			}
			failed++
		}
	}
	if n, _ := w.Dropped(); failed == 0 || n != uint64(failed) {
		t.Fatalf("%d writes failed, %d counted as dropped", failed, n)
	}
	t.Logf("%d of 10 entries of 1000 bytes dropped", failed)
	checkWhole(t, path)

	// Room again: the writer goes on in the same file.
	os.Remove(filepath.Join(dir, "filler"))
	if err := w.Write("stdout", []byte("after\n"), time.Now()); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
	es := checkWhole(t, path)
	if es[0].Log != "before\n" || es[len(es)-1].Log != "after\n" || len(es) != 2+10-failed {
		t.Fatalf("%d entries (first %q, last %q), want %d", len(es), es[0].Log, es[len(es)-1].Log, 2+10-failed)
	}
}

// checkWhole decodes every line of the log, failing on a partial one.
func checkWhole(t *testing.T, path string) []writtenEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("log ends in a partial entry: ...%q", b[max(0, len(b)-40):])
	}
	return readEntries(t, path)
}
