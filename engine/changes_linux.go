package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/mount"
)

// ContainerChanges lists what changed in the container's filesystem
// against its image, as `docker diff` does: Kind 0 modified, 1 added, 2
// deleted, each changed entry's directory listed as modified before it.
// On overlay the container's upper directory is walked (a whiteout is a
// deletion, a path the lower layers have a modification, anything else an
// addition); with the copy driver its tree is compared with the image's.
func (e *Engine) ContainerChanges(ctx context.Context, ref string) ([]container.FilesystemChange, error) {
	v, err := e.view(ctx, ref)
	if err != nil {
		return nil, err
	}
	ms, err := e.Images.Snapshots.Mounts(ctx, v.ID)
	if err != nil {
		return nil, fmt.Errorf("changes of container %s: %w", v.ID, err)
	}
	if len(ms) != 1 {
		return nil, fmt.Errorf("changes of container %s: %d mounts, want 1", v.ID, len(ms))
	}
	var out []container.FilesystemChange
	switch m := ms[0]; {
	case m.Type == "overlay":
		upper, lowers := overlayDirs(m)
		if upper == "" {
			return nil, fmt.Errorf("changes of container %s: overlay mount without upperdir", v.ID)
		}
		out, err = overlayChanges(upper, lowers)
	case m.Type == "bind" && e.Images.Driver == "copy":
		var lower string
		info, serr := e.Images.Snapshots.Stat(ctx, v.ID)
		if serr != nil {
			return nil, fmt.Errorf("changes of container %s: %w", v.ID, serr)
		}
		if info.Parent != "" {
			key := "changes-" + v.ID + "-" + newID()[:12]
			vm, verr := e.Images.Snapshots.View(ctx, key, info.Parent)
			if verr != nil {
				return nil, fmt.Errorf("changes of container %s: %w", v.ID, verr)
			}
			defer e.Images.Snapshots.Remove(context.WithoutCancel(ctx), key)
			lower = vm[0].Source
		}
		out, err = treeChanges(lower, m.Source)
	case m.Type == "bind":
		// An active snapshot with no parent: everything in it is new.
		out, err = treeChanges("", m.Source)
	default:
		return nil, fmt.Errorf("changes of container %s: unexpected %s mount", v.ID, m.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("changes of container %s: %w", v.ID, err)
	}
	out = withoutNetMountpoints(out)
	if out == nil {
		out = []container.FilesystemChange{}
	}
	return out, nil
}

// netMountpoints are the files berth binds over the image's (docker
// keeps their mountpoints in its init layer, which diff does not show).
var netMountpoints = map[string]bool{"/etc/hosts": true, "/etc/resolv.conf": true, "/etc/hostname": true}

// withoutNetMountpoints drops the mountpoints the runtime made for
// /etc/hosts, resolv.conf and hostname, and /etc when nothing else in it
// changed.
func withoutNetMountpoints(in []container.FilesystemChange) []container.FilesystemChange {
	var out []container.FilesystemChange
	etcOther := false
	for _, c := range in {
		if c.Kind == container.ChangeAdd && netMountpoints[c.Path] {
			continue
		}
		if strings.HasPrefix(c.Path, "/etc/") {
			etcOther = true
		}
		out = append(out, c)
	}
	if !etcOther {
		out = slices.DeleteFunc(out, func(c container.FilesystemChange) bool {
			return c.Path == "/etc" && c.Kind == container.ChangeModify
		})
	}
	return out
}

// overlayDirs reads the upper and lower directories (topmost first) of an
// overlay mount.
func overlayDirs(m mount.Mount) (upper string, lowers []string) {
	for _, o := range m.Options {
		switch k, v, _ := strings.Cut(o, "="); k {
		case "upperdir":
			upper = v
		case "lowerdir":
			lowers = strings.Split(v, ":")
		}
	}
	return upper, lowers
}

// changeList collects changes, listing an added or deleted entry's
// directory as modified first, unless it already is (docker's rule).
type changeList struct {
	out     []container.FilesystemChange
	changed map[string]bool // directories listed or known changed
}

func (c *changeList) add(p string, kind container.ChangeType) {
	if kind != container.ChangeModify {
		if dir := path.Dir(p); dir != "/" && !c.changed[dir] {
			c.out = append(c.out, container.FilesystemChange{Path: dir, Kind: container.ChangeModify})
			c.changed[dir] = true
		}
	}
	c.out = append(c.out, container.FilesystemChange{Path: p, Kind: kind})
}

// overlayChanges walks an overlay upper directory against its lowers.
func overlayChanges(upper string, lowers []string) ([]container.FilesystemChange, error) {
	ufd, err := unix.Open(upper, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open upper directory %s: %w", upper, err)
	}
	defer unix.Close(ufd)
	var lfds []int
	for _, l := range lowers {
		fd, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, fd := range lfds {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("open lower directory %s: %w", l, err)
		}
		lfds = append(lfds, fd)
	}
	defer func() {
		for _, fd := range lfds {
			unix.Close(fd)
		}
	}()
	c := &changeList{changed: map[string]bool{}}
	opaque := map[string]bool{} // upper directories that hide the lowers
	hiddenByUpper := func(rel string) bool {
		for d := path.Dir(rel); d != "/" && d != "."; d = path.Dir(d) {
			if opaque[d] {
				return true
			}
		}
		return false
	}
	err = walkAt(ufd, "/", func(rel string, st *unix.Stat_t, parent int, name string) (bool, error) {
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		inLower := false
		var lst unix.Stat_t
		if !hiddenByUpper(rel) {
			lst, inLower = lowerLookup(lfds, rel)
		}
		switch {
		case isWhiteout(st):
			c.add(rel, container.ChangeDelete)
			return false, nil
		case isDir && isOpaqueAt(parent, name):
			opaque[rel] = true
			if inLower {
				// dockerd reports a directory replaced in the container
				// as deleted, then its new content as added.
				c.add(rel, container.ChangeDelete)
				c.changed[rel] = true
				return true, nil
			}
		case inLower && isDir && lst.Mode&unix.S_IFMT == unix.S_IFDIR &&
			lst.Mode == st.Mode && lst.Size == st.Size && lst.Mtim == st.Mtim:
			// Only in the upper directory because something below changed.
			return true, nil
		}
		if inLower {
			c.add(rel, container.ChangeModify)
		} else {
			c.add(rel, container.ChangeAdd)
		}
		if isDir {
			c.changed[rel] = true
		}
		return true, nil
	})
	return c.out, err
}

// isWhiteout: overlayfs's mark of a deleted entry, a 0/0 character device.
func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// isOpaqueAt reports whether the directory name in parent is an opaque
// overlay directory (trusted.overlay.opaque, or user.overlay.opaque with
// userxattr).
func isOpaqueAt(parent int, name string) bool {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Fgetxattr(fd, attr, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// lowerLookup finds rel in the merged lower layers (topmost first): the
// entry of the first layer that has it, unless it is a whiteout, or a
// layer above hides it (a whiteout, an opaque or a non-directory on the
// way).
func lowerLookup(lfds []int, rel string) (unix.Stat_t, bool) {
	for _, l := range lfds {
		st, err := statBeneath(l, rel)
		if err == nil {
			if isWhiteout(&st) {
				return st, false
			}
			return st, true
		}
		for d := path.Dir(rel); d != "/" && d != "."; d = path.Dir(d) {
			ast, err := statBeneath(l, d)
			if err != nil {
				continue
			}
			if isWhiteout(&ast) || ast.Mode&unix.S_IFMT != unix.S_IFDIR {
				return st, false
			}
			pfd, err := openBeneath(l, path.Dir(d))
			if err == nil {
				op := isOpaqueAt(pfd, path.Base(d))
				unix.Close(pfd)
				if op {
					return st, false
				}
			}
		}
	}
	return unix.Stat_t{}, false
}

// openBeneath opens the directory rel under dirfd, following no symlink
// and never leaving dirfd.
func openBeneath(dirfd int, rel string) (int, error) {
	rel = strings.TrimPrefix(rel, "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, rel, how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 64 {
			continue
		}
		return fd, err
	}
}

// statBeneath lstats rel under dirfd, following no symlink on the way.
func statBeneath(dirfd int, rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	pfd, err := openBeneath(dirfd, path.Dir(path.Join("/", rel)))
	if err != nil {
		return st, err
	}
	defer unix.Close(pfd)
	err = unix.Fstatat(pfd, path.Base(rel), &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// walkAt calls fn for every entry below the directory dirfd (whose path is
// rel), in name order, depth first, descending into a directory when fn
// says so. Entries are reached by one name at a time from their parent's
// descriptor, never through a symlink. Entries that vanish during the walk
// are skipped.
func walkAt(dirfd int, rel string, fn func(rel string, st *unix.Stat_t, parent int, name string) (bool, error)) error {
	names, err := readNames(dirfd)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", rel, err)
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("stat %s: %w", path.Join(rel, n), err)
		}
		p := path.Join(rel, n)
		descend, err := fn(p, &st, dirfd, n)
		if err != nil {
			return err
		}
		if !descend || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		fd, err := unix.Openat(dirfd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				continue
			}
			return fmt.Errorf("open %s: %w", p, err)
		}
		err = walkAt(fd, p, fn)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// readNames lists a directory descriptor's entries, sorted.
func readNames(dirfd int) ([]string, error) {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "dir")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}

// treeChanges compares two trees (lower "" for an empty one), as dockerd
// does for drivers without layers of their own: an entry is modified when
// its type, mode, owner or device differ, or (not for a directory) its
// size or modification time.
func treeChanges(lower, upper string) ([]container.FilesystemChange, error) {
	ufd, err := unix.Open(upper, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", upper, err)
	}
	defer unix.Close(ufd)
	lfd := -1
	if lower != "" {
		if lfd, err = unix.Open(lower, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("open %s: %w", lower, err)
		}
		defer unix.Close(lfd)
	}
	var out []container.FilesystemChange
	err = compareDirs(lfd, ufd, "/", &out)
	return out, err
}

func compareDirs(lfd, ufd int, rel string, out *[]container.FilesystemChange) error {
	unames, err := readNames(ufd)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", rel, err)
	}
	lnames := map[string]bool{}
	if lfd >= 0 {
		ln, err := readNames(lfd)
		if err != nil {
			return fmt.Errorf("read directory %s: %w", rel, err)
		}
		for _, n := range ln {
			lnames[n] = true
		}
	}
	for _, n := range unames {
		p := path.Join(rel, n)
		var ust, lst unix.Stat_t
		if err := unix.Fstatat(ufd, n, &ust, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("stat %s: %w", p, err)
		}
		inLower := lnames[n] && unix.Fstatat(lfd, n, &lst, unix.AT_SYMLINK_NOFOLLOW) == nil
		delete(lnames, n)
		listed := true
		switch {
		case !inLower:
			*out = append(*out, container.FilesystemChange{Path: p, Kind: container.ChangeAdd})
		case entryDiffers(&lst, &ust):
			*out = append(*out, container.FilesystemChange{Path: p, Kind: container.ChangeModify})
		default:
			listed = false
		}
		if ust.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		sub := -1
		if inLower && lst.Mode&unix.S_IFMT == unix.S_IFDIR {
			if sub, err = unix.Openat(lfd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
				return fmt.Errorf("open %s: %w", p, err)
			}
		}
		ufd2, err := unix.Openat(ufd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if sub >= 0 {
				unix.Close(sub)
			}
			return fmt.Errorf("open %s: %w", p, err)
		}
		before := len(*out)
		err = compareDirs(sub, ufd2, p, out)
		unix.Close(ufd2)
		if sub >= 0 {
			unix.Close(sub)
		}
		if err != nil {
			return err
		}
		if len(*out) > before && !listed {
			// Something inside changed: the directory is listed too, first.
			*out = slices.Insert(*out, before, container.FilesystemChange{Path: p, Kind: container.ChangeModify})
		}
	}
	for _, n := range slices.Sorted(maps.Keys(lnames)) {
		*out = append(*out, container.FilesystemChange{Path: path.Join(rel, n), Kind: container.ChangeDelete})
	}
	return nil
}

// entryDiffers is dockerd's test of a modified entry.
func entryDiffers(l, u *unix.Stat_t) bool {
	if l.Mode != u.Mode || l.Uid != u.Uid || l.Gid != u.Gid || l.Rdev != u.Rdev {
		return true
	}
	if u.Mode&unix.S_IFMT == unix.S_IFDIR {
		return false
	}
	return l.Mtim != u.Mtim || l.Size != u.Size
}
