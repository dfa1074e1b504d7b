package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The producers write deterministic tars: PAX format, numeric uid and gid
// only, no access or change times, modification times to the nanosecond,
// xattrs as SCHILY.xattr records (except overlayfs's own and
// security.selinux, a label of the host's policy, not of the image). The
// root directory itself is not an entry. Entries come depth first; in each
// directory, after the directory itself, first its opaque marker, then its
// whiteouts, then the other entries, each group in byte order of names (the
// OCI spec asks for whiteouts before their siblings). Files linked more than
// once in what is written become hardlink entries to the first name
// written. Sockets cannot be in a tar and are left out. A file whose name
// starts with ".wh." cannot be represented in a layer: it is an error.

// WriteTar writes the whole tree at dir to w as an uncompressed tar.
func WriteTar(ctx context.Context, w io.Writer, dir string) error {
	tw := newTarWriter(ctx, w)
	err := tw.tree(dir, "")
	if err == nil {
		err = tw.close()
	}
	if err != nil {
		return fmt.Errorf("layer: write tar of %s: %w", dir, err)
	}
	return nil
}

// WriteOverlayDiff writes to w, as an uncompressed layer tar, the changes
// that the overlayfs upper directory upper holds: each 0/0 character device
// becomes a ".wh.NAME" whiteout, each directory with trusted.overlay.opaque
// = "y" gets a ".wh..wh..opq" entry, and everything else is written as it
// is. lowers are the lower directories, topmost first (as in lowerdir=):
// the content of a metacopy-only upper file (overlayfs's metacopy=on) is read
// from them. A directory redirected by overlayfs (redirect_dir=on) is not
// supported: it is an error.
func WriteOverlayDiff(ctx context.Context, w io.Writer, upper string, lowers ...string) error {
	tw := newTarWriter(ctx, w)
	tw.lowers = lowers
	err := tw.overlay(upper, "")
	if err == nil {
		err = tw.close()
	}
	if err != nil {
		return fmt.Errorf("layer: write overlay diff of %s: %w", upper, err)
	}
	return nil
}

// WriteDiff writes to w, as an uncompressed layer tar, the changes that
// turn the tree lower into the tree upper (as a copy snapshotter keeps
// them): entries added or modified in upper, with all their parent
// directories, and a ".wh.NAME" whiteout for each entry gone from upper
// (for a directory, its whiteout only). An entry is modified when its type,
// mode, owner, size, modification time, xattrs, device number or symlink
// target differ; contents are not compared.
func WriteDiff(ctx context.Context, w io.Writer, lower, upper string) error {
	tw := newTarWriter(ctx, w)
	var lst, ust unix.Stat_t
	err := unix.Stat(lower, &lst)
	if err == nil {
		err = unix.Stat(upper, &ust)
	}
	if err == nil {
		tw.pending = []pendingDir{{written: true}} // the root is no entry
		err = tw.diff(lower, upper, "")
	}
	if err == nil {
		err = tw.close()
	}
	if err != nil {
		return fmt.Errorf("layer: write diff of %s against %s: %w", upper, lower, err)
	}
	return nil
}

type fileID struct{ dev, ino uint64 }

type tarWriter struct {
	ctx    context.Context
	bw     *bufio.Writer
	tw     *tar.Writer
	buf    []byte
	links  map[fileID]string
	lowers []string
	// pending are the directories WriteDiff has entered, root first, and
	// whether each is written yet: one is written only when something
	// below it is.
	pending []pendingDir
}

type pendingDir struct {
	abs, name string
	st        unix.Stat_t
	written   bool
}

func newTarWriter(ctx context.Context, w io.Writer) *tarWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &tarWriter{ctx: ctx, bw: bw, tw: tar.NewWriter(bw), buf: make([]byte, copyBufferSize), links: make(map[fileID]string)}
}

func (t *tarWriter) close() error {
	if err := t.tw.Close(); err != nil {
		return err
	}
	return t.bw.Flush()
}

// listDir returns the names in dir, sorted.
func listDir(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

func lstat(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	return st, err
}

func isWhiteoutDevice(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func isDir(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

// checkName refuses names a layer cannot carry.
func checkName(rel string) error {
	_, base := splitRel(rel)
	if strings.HasPrefix(base, WhiteoutPrefix) {
		return fmt.Errorf("/%s: a name starting with %q cannot be in a layer", rel, WhiteoutPrefix)
	}
	return nil
}

// tree writes every entry below dir (at rel in the tar), not dir itself.
func (t *tarWriter) tree(dir, rel string) error {
	names, err := listDir(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := t.treeEntry(filepath.Join(dir, n), joinRel(rel, n)); err != nil {
			return err
		}
	}
	return nil
}

// treeEntry writes abs (at rel) and, for a directory, all below it.
func (t *tarWriter) treeEntry(abs, rel string) error {
	st, err := lstat(abs)
	if err != nil {
		return err
	}
	if err := checkName(rel); err != nil {
		return err
	}
	x, err := readXattrs(abs)
	if err != nil {
		return err
	}
	if err := t.write(abs, rel, &st, x, ""); err != nil {
		return err
	}
	if isDir(&st) {
		return t.tree(abs, rel)
	}
	return nil
}

func (t *tarWriter) overlay(dir, rel string) error {
	names, err := listDir(dir)
	if err != nil {
		return err
	}
	var dirSt unix.Stat_t
	if err := unix.Lstat(dir, &dirSt); err != nil {
		return err
	}
	dx, err := readXattrs(dir)
	if err != nil {
		return err
	}
	if _, ok := dx[overlayRedirectXattr]; ok {
		return fmt.Errorf("/%s: directory redirected by overlayfs (redirect_dir=on) is not supported", rel)
	}
	if rel != "" {
		if err := t.write(dir, rel, &dirSt, dx, ""); err != nil {
			return err
		}
	}
	if dx[overlayOpaqueXattr] == "y" {
		if err := t.whiteout(joinRel(rel, WhiteoutOpaque), &dirSt); err != nil {
			return err
		}
	}
	var rest []string
	for _, n := range names {
		st, err := lstat(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		if !isWhiteoutDevice(&st) {
			rest = append(rest, n)
			continue
		}
		if err := t.whiteout(joinRel(rel, WhiteoutPrefix+n), &dirSt); err != nil {
			return err
		}
	}
	for _, n := range rest {
		abs, crel := filepath.Join(dir, n), joinRel(rel, n)
		if err := checkName(crel); err != nil {
			return err
		}
		st, err := lstat(abs)
		if err != nil {
			return err
		}
		if isDir(&st) {
			if err := t.overlay(abs, crel); err != nil {
				return err
			}
			continue
		}
		x, err := readXattrs(abs)
		if err != nil {
			return err
		}
		data := ""
		if _, ok := x[overlayMetacopyXattr]; ok && st.Mode&unix.S_IFMT == unix.S_IFREG {
			if data, err = t.metacopyData(crel, x); err != nil {
				return err
			}
		}
		if err := t.write(abs, crel, &st, x, data); err != nil {
			return err
		}
	}
	return nil
}

// metacopyData finds, in the lower directories, the file that holds the
// content of the metacopy upper file at rel.
func (t *tarWriter) metacopyData(rel string, x map[string]string) (string, error) {
	src := rel
	if r, ok := x[overlayRedirectXattr]; ok {
		if strings.HasPrefix(r, "/") {
			src = cleanName(r)
		} else {
			dir, _ := splitRel(rel)
			src = cleanName(joinRel(dir, r))
		}
	}
	for _, l := range t.lowers {
		p, st, err := lookupBeneath(l, src)
		if err == unix.ENOENT || err == unix.ENOTDIR || err == unix.ELOOP {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("/%s: content in lower %s: %w", rel, l, err)
		}
		if isWhiteoutDevice(&st) {
			break
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return "", fmt.Errorf("/%s: metacopy origin in %s is not a regular file", rel, l)
		}
		if v, err := getXattr(p, overlayMetacopyXattr); err == nil && v != nil {
			continue // metacopy again: the data is further down
		}
		return p, nil
	}
	return "", fmt.Errorf("/%s: metacopy file without its data in the lower directories", rel)
}

// lookupBeneath finds rel below dir without following any symlink, as
// overlayfs looks names up in a lower layer. Lower layers do not change
// while they are lowers, so the path it returns stays what it checked.
func lookupBeneath(dir, rel string) (string, unix.Stat_t, error) {
	var st unix.Stat_t
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", st, err
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return "", st, err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return "", st, err
	}
	return filepath.Join(dir, rel), st, nil
}

// diff writes the changes from the directory lower to upper, both at rel.
func (t *tarWriter) diff(lower, upper, rel string) error {
	lnames, err := listDir(lower)
	if err != nil {
		return err
	}
	unames, err := listDir(upper)
	if err != nil {
		return err
	}
	inUpper := make(map[string]bool, len(unames))
	for _, n := range unames {
		inUpper[n] = true
	}
	var dirSt unix.Stat_t
	if err := unix.Lstat(upper, &dirSt); err != nil {
		return err
	}
	inLower := make(map[string]bool, len(lnames))
	for _, n := range lnames {
		inLower[n] = true
		if inUpper[n] {
			continue
		}
		if err := checkName(joinRel(rel, n)); err != nil {
			return err
		}
		if err := t.flush(); err != nil {
			return err
		}
		if err := t.whiteout(joinRel(rel, WhiteoutPrefix+n), &dirSt); err != nil {
			return err
		}
	}
	for _, n := range unames {
		uabs, crel := filepath.Join(upper, n), joinRel(rel, n)
		if err := checkName(crel); err != nil {
			return err
		}
		if !inLower[n] {
			if err := t.flush(); err != nil {
				return err
			}
			if err := t.treeEntry(uabs, crel); err != nil {
				return err
			}
			continue
		}
		labs := filepath.Join(lower, n)
		ust, err := lstat(uabs)
		if err != nil {
			return err
		}
		lst, err := lstat(labs)
		if err != nil {
			return err
		}
		ux, err := readXattrs(uabs)
		if err != nil {
			return err
		}
		same, err := sameEntry(labs, uabs, &lst, &ust, ux)
		if err != nil {
			return err
		}
		if isDir(&ust) && isDir(&lst) {
			t.pending = append(t.pending, pendingDir{abs: uabs, name: crel, st: ust})
			if !same {
				if err := t.flush(); err != nil {
					return err
				}
			}
			if err := t.diff(labs, uabs, crel); err != nil {
				return err
			}
			t.pending = t.pending[:len(t.pending)-1]
			continue
		}
		if same {
			continue
		}
		if err := t.flush(); err != nil {
			return err
		}
		if err := t.write(uabs, crel, &ust, ux, ""); err != nil {
			return err
		}
		if isDir(&ust) {
			if err := t.tree(uabs, crel); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the entered directories not written yet.
func (t *tarWriter) flush() error {
	for i := range t.pending {
		p := &t.pending[i]
		if p.written {
			continue
		}
		x, err := readXattrs(p.abs)
		if err != nil {
			return err
		}
		if err := t.write(p.abs, p.name, &p.st, x, ""); err != nil {
			return err
		}
		p.written = true
	}
	return nil
}

// sameEntry reports whether the lower and upper entries have the same
// type and metadata (ux are upper's xattrs).
func sameEntry(labs, uabs string, l, u *unix.Stat_t, ux map[string]string) (bool, error) {
	if l.Mode != u.Mode || l.Uid != u.Uid || l.Gid != u.Gid || l.Mtim != u.Mtim {
		return false, nil
	}
	switch u.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if l.Size != u.Size {
			return false, nil
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		if l.Rdev != u.Rdev {
			return false, nil
		}
	case unix.S_IFLNK:
		lt, err := os.Readlink(labs)
		if err != nil {
			return false, err
		}
		ut, err := os.Readlink(uabs)
		if err != nil {
			return false, err
		}
		if lt != ut {
			return false, nil
		}
	}
	lx, err := readXattrs(labs)
	if err != nil {
		return false, err
	}
	for k, v := range lx {
		if uv, ok := ux[k]; layerXattr(k) && (!ok || uv != v) {
			return false, nil
		}
	}
	for k := range ux {
		if _, ok := lx[k]; layerXattr(k) && !ok {
			return false, nil
		}
	}
	return true, nil
}

func (t *tarWriter) whiteout(name string, parent *unix.Stat_t) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	return t.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		ModTime:  time.Unix(parent.Mtim.Sec, parent.Mtim.Nsec),
		Format:   tar.FormatPAX,
	})
}

// write writes the entry for abs, at rel, with content (for a regular
// file) from data, or abs when data is "".
func (t *tarWriter) write(abs, rel string, st *unix.Stat_t, xattrs map[string]string, data string) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Format:  tar.FormatPAX,
	}
	for k, v := range xattrs {
		if !layerXattr(k) {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = make(map[string]string)
		}
		hdr.PAXRecords[paxXattr+k] = v
	}
	if !isDir(st) && st.Nlink > 1 {
		id := fileID{uint64(st.Dev), st.Ino}
		if first, ok := t.links[id]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.PAXRecords = tar.TypeLink, first, nil
			return t.tw.WriteHeader(hdr)
		}
		t.links[id] = rel
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
	case unix.S_IFLNK:
		target, err := os.Readlink(abs)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // a socket: tar has no type for it
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("/%s: %w", rel, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	if data == "" {
		data = abs
	}
	return t.content(data, rel, hdr.Size)
}

// content copies size bytes of the file at p into the tar.
func (t *tarWriter) content(p, rel string, size int64) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("/%s: open: %w", rel, err)
	}
	defer unix.Close(fd)
	for size > 0 {
		b := t.buf
		if int64(len(b)) > size {
			b = b[:size]
		}
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("/%s: read: %w", rel, err)
		}
		if n == 0 {
			return fmt.Errorf("/%s: file shrank while being read", rel)
		}
		if _, err := t.tw.Write(b[:n]); err != nil {
			return fmt.Errorf("/%s: %w", rel, err)
		}
		size -= int64(n)
	}
	return nil
}
