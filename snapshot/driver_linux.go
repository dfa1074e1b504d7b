package snapshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-project/berth/mount"
	"golang.org/x/sys/unix"
)

// driver is what the overlay and copy snapshotters do differently; the
// metadata, locking and checks around it are shared.
type driver interface {
	name() string
	// populate fills dir, the new and empty snapshots/<id> of a snapshot of
	// the given kind, whose committed ancestors' trees are parents
	// (nearest first), and makes what it wrote durable.
	populate(ctx context.Context, dir string, kind Kind, parents []string) error
	// mounts presents the snapshot in dir.
	mounts(dir string, kind Kind, parents []string) []mount.Mount
}

type snapshotter struct {
	st     store
	drv    driver
	closed atomic.Bool
}

var (
	_ Snapshotter = (*snapshotter)(nil)
	_ Usager      = (*snapshotter)(nil)
	_ Cleaner     = (*snapshotter)(nil)
)

// open makes or opens the snapshotter rooted at root and cleans up after
// crashed operations.
func open(root string, drv driver) (*snapshotter, error) {
	s := &snapshotter{st: store{root: root, driver: drv.name()}, drv: drv}
	if err := s.st.init(); err != nil {
		return nil, fmt.Errorf("open %s snapshotter in %s: %w", drv.name(), root, err)
	}
	if err := s.Cleanup(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *snapshotter) check(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("%s snapshotter in %s is closed: %w", s.drv.name(), s.st.root, ErrInvalid)
	}
	return ctx.Err()
}

// fsDirs returns the trees of a committed snapshot and its ancestors, nearest first.
func (s *snapshotter) fsDirs(md *metadata, parent string) ([]string, []uint64, error) {
	ids, err := md.chain(parent)
	if err != nil {
		return nil, nil, err
	}
	dirs := make([]string, len(ids))
	for i, id := range ids {
		dirs[i] = filepath.Join(s.st.dir(id), "fs")
	}
	return dirs, ids, nil
}

func (s *snapshotter) Stat(ctx context.Context, key string) (Info, error) {
	if err := s.check(ctx); err != nil {
		return Info{}, fmt.Errorf("stat snapshot %q: %w", key, err)
	}
	md, err := s.st.load()
	if err != nil {
		return Info{}, fmt.Errorf("stat snapshot %q: %w", key, err)
	}
	r, ok := md.Snapshots[key]
	if !ok {
		return Info{}, fmt.Errorf("stat snapshot %q: %w", key, ErrNotFound)
	}
	return r.info(key), nil
}

func (s *snapshotter) Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error) {
	ms, err := s.create(ctx, KindActive, key, parent, opts)
	if err != nil {
		return nil, fmt.Errorf("prepare snapshot %q: %w", key, err)
	}
	return ms, nil
}

func (s *snapshotter) View(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error) {
	ms, err := s.create(ctx, KindView, key, parent, opts)
	if err != nil {
		return nil, fmt.Errorf("view snapshot %q: %w", key, err)
	}
	return ms, nil
}

// create makes an active or view snapshot in three steps, so that a long
// populate (the copy driver copies the parent's whole tree) holds no lock
// that other snapshot operations wait for:
//
//  1. under the lock: check key and parent, take a new id, make
//     snapshots/<id> and flock it, so that Cleanup leaves it alone;
//  2. without the lock: let the driver fill it;
//  3. under the lock: check again (another process may have taken the key
//     or removed the parent meanwhile) and record the snapshot.
//
// A crash before step 3 leaves an unflocked orphan directory for Cleanup.
func (s *snapshotter) create(ctx context.Context, kind Kind, key, parent string, opts []Opt) (_ []mount.Mount, err error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("empty key: %w", ErrInvalid)
	}
	info := Info{Kind: kind, Name: key, Parent: parent}
	for _, o := range opts {
		if err := o(&info); err != nil {
			return nil, err
		}
	}
	var (
		id      uint64
		dir     string
		parents []string
		pid     uint64 // the parent's id, to see in step 3 that it is still the same
		dirLock *os.File
	)
	checkKeyAndParent := func(md *metadata) error {
		if _, ok := md.Snapshots[key]; ok {
			return ErrAlreadyExists
		}
		if parent == "" {
			return nil
		}
		p, ok := md.Snapshots[parent]
		switch {
		case !ok:
			return fmt.Errorf("parent %q: %w", parent, ErrNotFound)
		case p.Kind != KindCommitted:
			return fmt.Errorf("parent %q is %s, not committed: %w", parent, p.Kind, ErrInvalid)
		case pid != 0 && p.ID != pid:
			return fmt.Errorf("parent %q was replaced meanwhile: %w", parent, ErrNotFound)
		}
		return nil
	}
	err = s.st.update(func(md *metadata) error {
		if err := checkKeyAndParent(md); err != nil {
			return err
		}
		var ids []uint64
		var err error
		if parents, ids, err = s.fsDirs(md, parent); err != nil {
			return err
		}
		if len(ids) > 0 {
			pid = ids[0]
		}
		id = md.NextID
		md.NextID++
		dir = s.st.dir(id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		if dirLock, err = lockDir(dir, false); err != nil {
			os.Remove(dir)
		}
		return err
	})
	if err != nil {
		if dirLock != nil { // metadata not saved: the id is unused
			os.RemoveAll(dir)
			dirLock.Close()
		}
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
		dirLock.Close()
	}()

	if err := s.drv.populate(ctx, dir, kind, parents); err != nil {
		// A parent removed meanwhile is the better explanation.
		if md, lerr := s.st.load(); lerr == nil {
			if cerr := checkKeyAndParent(md); cerr != nil {
				return nil, cerr
			}
		}
		return nil, err
	}

	err = s.st.update(func(md *metadata) error {
		if err := checkKeyAndParent(md); err != nil {
			return err
		}
		md.Snapshots[key] = &record{ID: id, Kind: kind, Parent: parent, Created: time.Now().UTC(), Labels: info.Labels}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.drv.mounts(dir, kind, parents), nil
}

func (s *snapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("mounts of snapshot %q: %w", key, err)
	}
	md, err := s.st.load()
	if err != nil {
		return nil, fmt.Errorf("mounts of snapshot %q: %w", key, err)
	}
	r, ok := md.Snapshots[key]
	if !ok {
		return nil, fmt.Errorf("mounts of snapshot %q: %w", key, ErrNotFound)
	}
	if r.Kind == KindCommitted {
		return nil, fmt.Errorf("mounts of snapshot %q: committed snapshots have no mounts (View or Prepare on it): %w", key, ErrInvalid)
	}
	parents, _, err := s.fsDirs(md, r.Parent)
	if err != nil {
		return nil, fmt.Errorf("mounts of snapshot %q: %w", key, err)
	}
	return s.drv.mounts(s.st.dir(r.ID), r.Kind, parents), nil
}

func (s *snapshotter) Commit(ctx context.Context, name, key string, opts ...Opt) error {
	if err := s.commit(ctx, name, key, opts); err != nil {
		return fmt.Errorf("commit snapshot %q as %q: %w", key, name, err)
	}
	return nil
}

// commit only changes the metadata: the active snapshot's tree becomes the
// committed one's as it is. Before that, the tree is made durable, so that
// no crash can leave a committed snapshot with part of its contents.
func (s *snapshotter) commit(ctx context.Context, name, key string, opts []Opt) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if name == "" || key == "" {
		return fmt.Errorf("empty name or key: %w", ErrInvalid)
	}
	var info Info
	for _, o := range opts {
		if err := o(&info); err != nil {
			return err
		}
	}
	checkActive := func(md *metadata) (*record, error) {
		r, ok := md.Snapshots[key]
		switch {
		case !ok:
			return nil, ErrNotFound
		case r.Kind != KindActive:
			return nil, fmt.Errorf("snapshot is %s, not active: %w", r.Kind, ErrInvalid)
		}
		if _, ok := md.Snapshots[name]; ok && name != key {
			return nil, fmt.Errorf("name %q: %w", name, ErrAlreadyExists)
		}
		return r, nil
	}
	md, err := s.st.load()
	if err != nil {
		return err
	}
	r, err := checkActive(md)
	if err != nil {
		return err
	}
	// Outside the lock: syncfs may take a while on a busy filesystem.
	if err := syncFS(filepath.Join(s.st.dir(r.ID), "fs")); err != nil {
		return err
	}
	return s.st.update(func(md *metadata) error {
		r, err := checkActive(md)
		if err != nil {
			return err
		}
		delete(md.Snapshots, key)
		md.Snapshots[name] = &record{ID: r.ID, Kind: KindCommitted, Parent: r.Parent, Created: time.Now().UTC(), Labels: info.Labels}
		return nil
	})
}

// Remove forgets the snapshot first and deletes its directory after, so
// that a crash between the two leaves an orphan for Cleanup rather than a
// snapshot with part of its tree.
func (s *snapshotter) Remove(ctx context.Context, key string) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("remove snapshot %q: %w", key, err)
	}
	var id uint64
	err := s.st.update(func(md *metadata) error {
		r, ok := md.Snapshots[key]
		if !ok {
			return ErrNotFound
		}
		if n := md.children(key); n > 0 {
			return fmt.Errorf("%d snapshots have it as parent: %w", n, ErrConflict)
		}
		delete(md.Snapshots, key)
		id = r.ID
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove snapshot %q: %w", key, err)
	}
	if err := os.RemoveAll(s.st.dir(id)); err != nil {
		return fmt.Errorf("remove snapshot %q: forgotten, but its directory is left for Cleanup: %w", key, err)
	}
	return nil
}

func (s *snapshotter) Walk(ctx context.Context, fn func(Info) error) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("walk snapshots: %w", err)
	}
	md, err := s.st.load()
	if err != nil {
		return fmt.Errorf("walk snapshots: %w", err)
	}
	names := make([]string, 0, len(md.Snapshots))
	for n := range md.Snapshots {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(md.Snapshots[n].info(n)); err != nil {
			return err
		}
	}
	return nil
}

// Usage measures the snapshot's own tree (see Usage).
func (s *snapshotter) Usage(ctx context.Context, key string) (Usage, error) {
	if err := s.check(ctx); err != nil {
		return Usage{}, fmt.Errorf("usage of snapshot %q: %w", key, err)
	}
	md, err := s.st.load()
	if err != nil {
		return Usage{}, fmt.Errorf("usage of snapshot %q: %w", key, err)
	}
	r, ok := md.Snapshots[key]
	if !ok {
		return Usage{}, fmt.Errorf("usage of snapshot %q: %w", key, ErrNotFound)
	}
	u, err := diskUsage(ctx, filepath.Join(s.st.dir(r.ID), "fs"))
	if err != nil {
		return Usage{}, fmt.Errorf("usage of snapshot %q: %w", key, err)
	}
	return u, nil
}

func diskUsage(ctx context.Context, root string) (Usage, error) {
	var u Usage
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	err := filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return &fs.PathError{Op: "lstat", Path: path, Err: err}
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			k := inode{st.Dev, st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		u.Inodes++
		u.Size += st.Blocks * 512
		return nil
	})
	return u, err
}

// Cleanup removes the directories under snapshots/ that no snapshot owns
// and no Prepare is filling, and whatever is in tmp/ (unmounting what a
// crashed overlay probe left mounted there).
func (s *snapshotter) Cleanup(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("clean up %s: %w", s.st.root, err)
	}
	var orphans []string
	var locks []*os.File
	defer func() {
		for _, l := range locks {
			l.Close()
		}
	}()
	err := func() error {
		unlock, err := s.st.lock()
		if err != nil {
			return err
		}
		defer unlock()
		md, err := s.st.load()
		if err != nil {
			return err
		}
		owned := map[string]bool{}
		for _, r := range md.Snapshots {
			owned[strconv.FormatUint(r.ID, 10)] = true
		}
		entries, err := os.ReadDir(filepath.Join(s.st.root, snapshotsDir))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if owned[e.Name()] {
				continue
			}
			p := filepath.Join(s.st.root, snapshotsDir, e.Name())
			l, err := lockDir(p, true)
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue // a Prepare is filling it
			}
			if err == nil {
				locks = append(locks, l)
			}
			orphans = append(orphans, p)
		}
		// Nothing but the overlay probe, which runs under the lock, uses tmp/.
		tmp := filepath.Join(s.st.root, tmpDir)
		mps, err := mountPointsUnder(tmp)
		if err != nil {
			return err
		}
		for _, mp := range mps {
			if err := mount.Unmount(mp); err != nil {
				return err
			}
		}
		entries, err = os.ReadDir(tmp)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		return fmt.Errorf("clean up %s: %w", s.st.root, err)
	}
	// Outside the lock: ids are never reused, so no one else can want these.
	for _, p := range orphans {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("clean up %s: %w", s.st.root, err)
		}
	}
	return nil
}

func (s *snapshotter) Close() error {
	s.closed.Store(true)
	return nil
}

// lockDir opens dir and takes an exclusive flock on it, failing with
// EWOULDBLOCK if nowait and someone else holds it.
func lockDir(dir string, nowait bool) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if nowait {
		how |= unix.LOCK_NB
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// syncFS flushes the whole filesystem that holds path.
func syncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", path, err)
	}
	return nil
}

// mountPointsUnder lists the mount points of this mount namespace below
// dir, deepest first.
func mountPointsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := mount.Unescape(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(mps, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(mps), nil
}
