package snapshot

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/mount"
	"golang.org/x/sys/unix"
)

// hookDriver is the copy driver with hooks before and after populate, to
// stop a Prepare between its steps.
type hookDriver struct {
	copyDriver
	before, after func(dir string) error
}

func (h hookDriver) populate(ctx context.Context, dir string, kind Kind, parents []string) error {
	if h.before != nil {
		if err := h.before(dir); err != nil {
			return err
		}
	}
	if err := h.copyDriver.populate(ctx, dir, kind, parents); err != nil {
		return err
	}
	if h.after != nil {
		return h.after(dir)
	}
	return nil
}

func openHook(t *testing.T, root string, hook func(string) error) *snapshotter {
	t.Helper()
	return openHooks(t, root, hookDriver{before: hook})
}

func openHooks(t *testing.T, root string, h hookDriver) *snapshotter {
	t.Helper()
	s, err := open(root, h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func commitFile(t *testing.T, s Snapshotter, name, parent, file string) {
	t.Helper()
	ctx := context.Background()
	ms, err := s.Prepare(ctx, "extract-"+name, parent)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := UpperDir(ms)
	if err := os.WriteFile(filepath.Join(up, file), []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, name, "extract-"+name); err != nil {
		t.Fatal(err)
	}
}

func snapshotDirs(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, snapshotsDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A Prepare whose populate fails leaves neither metadata nor a directory.
func TestPrepareFailureLeavesNothing(t *testing.T) {
	root := t.TempDir()
	boom := errors.New("boom")
	s := openHook(t, root, func(string) error { return boom })
	_, err := s.Prepare(context.Background(), "a", "")
	if !errors.Is(err, boom) {
		t.Fatalf("prepare: %v", err)
	}
	if _, err := s.Stat(context.Background(), "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed snapshot exists: %v", err)
	}
	if d := snapshotDirs(t, root); len(d) != 0 {
		t.Errorf("left behind: %v", d)
	}
}

// Cleanup, from another snapshotter as from another process, leaves alone
// the directory a Prepare is filling, and removes orphans.
func TestCleanup(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	inPopulate, release := make(chan string), make(chan struct{})
	s := openHook(t, root, func(dir string) error {
		if filepath.Base(dir) == "2" {
			inPopulate <- dir
			<-release
		}
		return nil
	})
	commitFile(t, s, "base", "", "f") // id 1
	done := make(chan error)
	go func() {
		_, err := s.Prepare(ctx, "slow", "base") // id 2
		done <- err
	}()
	slowDir := <-inPopulate

	orphan := filepath.Join(root, snapshotsDir, "999")
	if err := os.MkdirAll(filepath.Join(orphan, "fs", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(root, tmpDir, "probe-junk")
	if err := os.MkdirAll(junk, 0o755); err != nil {
		t.Fatal(err)
	}
	other, err := NewCopy(root) // cleans up as it opens
	if err != nil {
		t.Fatal(err)
	}
	if err := other.(Cleaner).Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{orphan, junk} {
		if _, err := os.Lstat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived cleanup: %v", gone, err)
		}
	}
	if _, err := os.Lstat(slowDir); err != nil {
		t.Errorf("cleanup removed the directory of a Prepare in progress: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ms, err := other.Mounts(ctx, "slow")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := UpperDir(ms)
	if b, err := os.ReadFile(filepath.Join(up, "f")); string(b) != "base" {
		t.Errorf("slow snapshot's copy of its parent: %q, %v", b, err)
	}
	if err := other.(Cleaner).Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := snapshotDirs(t, root); len(got) != 2 {
		t.Errorf("after cleanup: %v, want the dirs of base and slow", got)
	}
}

// A Remove forgets before it deletes; a crash in between leaves a
// directory that the next open removes.
func TestOrphanAfterCrashedRemove(t *testing.T) {
	root := t.TempDir()
	s, err := open(root, copyDriver{})
	if err != nil {
		t.Fatal(err)
	}
	commitFile(t, s, "base", "", "f")
	// What Remove's first step leaves: metadata without the snapshot.
	var id uint64
	if err := s.st.update(func(md *metadata) error {
		id = md.Snapshots["base"].ID
		delete(md.Snapshots, "base")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.st.dir(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCopy(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.st.dir(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan %s survived reopening: %v", s.st.dir(id), err)
	}
}

// A parent removed while a child is being filled, before or after its
// tree is copied, fails the child's Prepare and leaves nothing.
func TestPrepareRacesRemoveOfParent(t *testing.T) {
	for _, when := range []string{"before", "after"} {
		t.Run(when, func(t *testing.T) {
			root := t.TempDir()
			ctx := context.Background()
			var s *snapshotter
			remove := func(dir string) error {
				if filepath.Base(dir) == "2" {
					if err := s.Remove(ctx, "base"); err != nil {
						t.Errorf("remove of the parent: %v", err)
					}
				}
				return nil
			}
			h := hookDriver{before: remove}
			if when == "after" {
				h = hookDriver{after: remove}
			}
			s = openHooks(t, root, h)
			commitFile(t, s, "base", "", "f")
			_, err := s.Prepare(ctx, "child", "base")
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("prepare on a parent removed meanwhile: %v", err)
			}
			if _, err := s.Stat(ctx, "child"); !errors.Is(err, ErrNotFound) {
				t.Errorf("child exists: %v", err)
			}
			if d := snapshotDirs(t, root); len(d) != 0 {
				t.Errorf("left behind: %v", d)
			}
		})
	}
}

// Ids are never reused, so stale mounts of a removed snapshot can never
// reach another one's tree.
func TestIDsNotReused(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	s, err := open(root, copyDriver{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		ms, err := s.Prepare(ctx, "a", "")
		if err != nil {
			t.Fatal(err)
		}
		up, _ := UpperDir(ms)
		if seen[up] {
			t.Errorf("dir %s used twice", up)
		}
		seen[up] = true
		if err := s.Remove(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := open(root, copyDriver{})
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := s2.Prepare(ctx, "a", "")
	if up, _ := UpperDir(ms); seen[up] || filepath.Base(filepath.Dir(up)) != strconv.Itoa(4) {
		t.Errorf("after reopening, dir %s", up)
	}
}

func TestClosed(t *testing.T) {
	s, err := NewCopy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Prepare(context.Background(), "a", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("prepare after close: %v", err)
	}
}

func TestBadMetadata(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":       "{",
		"version":       `{"version": 99, "driver": "copy"}`,
		"other driver":  `{"version": 1, "driver": "overlay"}`,
		"unknown kind":  `{"version": 1, "driver": "copy", "snapshots": {"a": {"id": 1, "kind": "mutable"}}}`,
		"parent loop":   `{"version": 1, "driver": "copy", "next_id": 3, "snapshots": {"a": {"id": 1, "kind": "committed", "parent": "b"}, "b": {"id": 2, "kind": "committed", "parent": "a"}, "c": {"id": 3, "kind": "view", "parent": "a"}}}`,
		"missing piece": `{"version": 1, "driver": "copy", "next_id": 3, "snapshots": {"c": {"id": 3, "kind": "view", "parent": "gone"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, metadataFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := NewCopy(root)
			if err == nil {
				_, err = s.Mounts(context.Background(), "c")
			}
			if err == nil {
				t.Error("no error")
			}
		})
	}
}

// A root whose metadata file is gone is not taken for a new one, which
// would make every snapshot an orphan to delete.
func TestLostMetadata(t *testing.T) {
	root := t.TempDir()
	s, err := NewCopy(root)
	if err != nil {
		t.Fatal(err)
	}
	commitFile(t, s, "base", "", "f")
	if err := os.Remove(filepath.Join(root, metadataFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCopy(root); !errors.Is(err, ErrInvalid) {
		t.Errorf("open without metadata: %v", err)
	}
	if d := snapshotDirs(t, root); len(d) != 1 {
		t.Errorf("snapshot directories after the refused open: %v", d)
	}
}

func TestNewOverlayRefuses(t *testing.T) {
	gate.Root(t)
	t.Run("option characters", func(t *testing.T) {
		if _, err := NewOverlay(filepath.Join(t.TempDir(), "a,b")); !errors.Is(err, ErrInvalid) {
			t.Errorf("root with a comma: %v", err)
		}
	})
	t.Run("a copy root", func(t *testing.T) {
		root := t.TempDir()
		if _, err := NewCopy(root); err != nil {
			t.Fatal(err)
		}
		if _, err := NewOverlay(root); !errors.Is(err, ErrInvalid) {
			t.Errorf("overlay on a copy root: %v", err)
		}
	})
	t.Run("overlay on overlay", func(t *testing.T) {
		// overlayfs cannot be an overlay's upper layer: the probe fails,
		// leaves the root to the copy driver, and nothing mounted.
		dir := t.TempDir()
		for _, d := range []string{"l", "u", "w", "m"} {
			os.Mkdir(filepath.Join(dir, d), 0o755)
		}
		m := mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
			"lowerdir=" + filepath.Join(dir, "l"), "upperdir=" + filepath.Join(dir, "u"), "workdir=" + filepath.Join(dir, "w")}}
		if err := m.Mount(filepath.Join(dir, "m")); err != nil {
			t.Fatal(err)
		}
		defer mount.Unmount(filepath.Join(dir, "m"))
		root := filepath.Join(dir, "m", "root")
		_, err := NewOverlay(root)
		if !errors.Is(err, ErrNotSupported) {
			t.Fatalf("overlay on overlayfs: %v", err)
		}
		t.Log(err)
		if mps, _ := mountPointsUnder(root); len(mps) != 0 {
			t.Errorf("left mounted: %v", mps)
		}
		s, err := NewCopy(root)
		if err != nil {
			t.Fatalf("copy after a failed overlay probe: %v", err)
		}
		s.Close()
	})
}

// TestCopyData copies a sparse file with each way of copying data.
func TestCopyData(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	for _, off := range []int64{0, 8 << 20, 16<<20 + 123} {
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
	const size = 32 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want, _ := os.ReadFile(src)
	for _, tc := range []struct {
		name                 string
		noClone, noCopyRange bool
	}{{"any", false, false}, {"copy_file_range", true, false}, {"read and write", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(dir, tc.name)
			c := &copier{ctx: context.Background(), noClone: tc.noClone, noCopyRange: tc.noCopyRange}
			if err := c.copyFile(dst, src, size); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dst)
			if !bytes.Equal(got, want) {
				t.Error("copy differs")
			}
			var st unix.Stat_t
			unix.Stat(dst, &st)
			if st.Blocks*512 > 1<<20 {
				t.Errorf("copy of a sparse file takes %d bytes", st.Blocks*512)
			}
		})
	}
}

func TestCopyTreeNotDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), nil, 0o644)
	if err := copyTree(context.Background(), filepath.Join(dir, "d"), filepath.Join(dir, "f")); !errors.Is(err, ErrInvalid) {
		t.Errorf("copy of a file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := copyTree(ctx, filepath.Join(dir, "d"), dir); !errors.Is(err, context.Canceled) {
		t.Errorf("copy with a cancelled context: %v", err)
	}
}

// TestCopyReflink copies a tree on an XFS filesystem with reflinks (in a
// loop device) and checks that the file's data was shared, not copied.
func TestCopyReflink(t *testing.T) {
	gate.Root(t)
	mkfs := gate.Command(t, "mkfs.xfs")
	dir := t.TempDir()
	img := filepath.Join(dir, "xfs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 512<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-m", "reflink=1", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.xfs: %v: %s", err, out)
	}
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	loop := attachLoop(t, img)
	if err := unix.Mount(loop, mnt, "xfs", 0, ""); err != nil {
		t.Skipf("mount xfs: %v", err)
	}
	defer mount.Unmount(mnt)

	src := filepath.Join(mnt, "src")
	os.Mkdir(src, 0o755)
	data := bytes.Repeat([]byte("reflink!"), 2<<20) // 16 MiB
	if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syncFS(src); err != nil {
		t.Fatal(err)
	}
	free := func() int64 {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bfree) * st.Bsize
	}
	// copy_file_range reflinks on XFS too: without it, only FICLONE can.
	for _, noCopyRange := range []bool{false, true} {
		before := free()
		dst := filepath.Join(mnt, "dst-"+strconv.FormatBool(noCopyRange))
		os.Mkdir(dst, 0o755)
		c := &copier{ctx: context.Background(), noCopyRange: noCopyRange}
		if err := c.copyFile(filepath.Join(dst, "big"), filepath.Join(src, "big"), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		if err := syncFS(dst); err != nil {
			t.Fatal(err)
		}
		if used := before - free(); used > 1<<20 {
			t.Errorf("copying 16 MiB (copy_file_range off: %v) took %d bytes: not reflinked", noCopyRange, used)
		}
		if got, _ := os.ReadFile(filepath.Join(dst, "big")); !bytes.Equal(got, data) {
			t.Error("the reflinked copy differs")
		}
	}
}

// attachLoop backs a free loop device with img until the test ends (the
// device frees itself once unmounted and closed).
func attachLoop(t *testing.T, img string) string {
	t.Helper()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no loop devices: %v", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		t.Skipf("no free loop device: %v", err)
	}
	dev := "/dev/loop" + strconv.Itoa(n)
	lf, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Skipf("open %s: %v", dev, err)
	}
	t.Cleanup(func() { lf.Close() })
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := unix.LoopConfig{Fd: uint32(f.Fd())}
	cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
	if err := unix.IoctlLoopConfigure(int(lf.Fd()), &cfg); err != nil {
		t.Skipf("configure %s: %v", dev, err)
	}
	return dev
}

// TestProcessHelper is the body of the processes TestProcesses starts;
// run directly, it does nothing.
func TestProcessHelper(t *testing.T) {
	root, prefix := os.Getenv("BERTH_SNAPSHOT_ROOT"), os.Getenv("BERTH_SNAPSHOT_PREFIX")
	if root == "" {
		return
	}
	ctx := context.Background()
	s, err := NewCopy(root)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		key := prefix + strconv.Itoa(i)
		ms, err := s.Prepare(ctx, "extract-"+key, "base")
		if err != nil {
			t.Fatal(err)
		}
		up, _ := UpperDir(ms)
		if err := os.WriteFile(filepath.Join(up, key), []byte(key), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, key, "extract-"+key); err != nil {
			t.Fatal(err)
		}
		// Clean up while the other processes prepare: their directories stay.
		if err := s.(Cleaner).Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProcesses runs snapshot operations from several processes on one
// root, as concurrent berth commands do, and checks that every snapshot
// is recorded with its tree and no directory is left over.
func TestProcesses(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	s, err := NewCopy(root)
	if err != nil {
		t.Fatal(err)
	}
	commitFile(t, s, "base", "", "f")
	const procs = 3
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProcessHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "BERTH_SNAPSHOT_ROOT="+root, "BERTH_SNAPSHOT_PREFIX=p"+strconv.Itoa(i)+"-")
		cmds[i] = cmd
	}
	outs := make([]bytes.Buffer, procs)
	for i, cmd := range cmds {
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	n := 0
	err = s.Walk(ctx, func(info Info) error {
		n++
		if info.Name == "base" {
			return nil
		}
		ms, err := s.View(ctx, "check-"+info.Name, info.Name)
		if err != nil {
			return err
		}
		if b, err := os.ReadFile(filepath.Join(ms[0].Source, info.Name)); string(b) != info.Name {
			t.Errorf("%s: its file is %q, %v", info.Name, b, err)
		}
		if info.Kind != KindCommitted || info.Parent != "base" {
			t.Errorf("%+v", info)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1+procs*20 {
		t.Errorf("%d snapshots, want %d", n, 1+procs*20)
	}
	if dirs := snapshotDirs(t, root); len(dirs) != 1+2*procs*20 { // and the views
		t.Errorf("%d directories for %d snapshots and as many views", len(dirs), procs*20)
	}
}
