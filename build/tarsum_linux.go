package build

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dockerSourceSum is the hash docker's classic builder shows for a COPY of
// one source from the context: "file:<hash>" for a file, "dir:<hash>" for
// a directory (a SHA-256 of the sorted sums of everything under it, itself
// included, joined by ","). A file's sum is a SHA-256 over tarsum v1's
// header fields (name, mode, uid, gid, size, typeflag, linkname, uname,
// gname, devmajor, devminor, then the security.capability xattr), then the
// content. Ownership is hashed as docker's CLI sends every context file:
// 0:0, no names (checked against dockerd's classic builder). ok is false
// when the source cannot be read without following a symlink; the caller
// then shows its own checksum (the cache key never depends on these).
func dockerSourceSum(root, rel string) (sum string, ok bool) {
	rel = strings.TrimLeft(path.Clean("/"+rel), "/")
	if rel == "" {
		rel = "."
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	fd, err := unix.Openat2(rfd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH})
	unix.Close(rfd)
	if err != nil {
		return "", false
	}
	unix.Close(fd)
	full := filepath.Join(root, rel)
	st, err := os.Lstat(full)
	if err != nil {
		return "", false
	}
	if !st.IsDir() {
		s, err := entrySum(full, rel, st)
		return "file:" + s, err == nil
	}
	var sums []string
	err = filepath.Walk(full, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		r, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		s, err := entrySum(p, r, fi)
		sums = append(sums, s)
		return err
	})
	if err != nil {
		return "", false
	}
	sort.Strings(sums)
	h := sha256.Sum256([]byte(strings.Join(sums, ",")))
	return "dir:" + hex.EncodeToString(h[:]), true
}

// entrySum is tarsum v1's sum of one entry, named rel.
func entrySum(full, rel string, fi fs.FileInfo) (string, error) {
	name, typeflag, link, size := rel, "0", "", int64(0)
	switch m := fi.Mode(); {
	case m.IsRegular():
		size = fi.Size()
	case m.IsDir():
		name, typeflag = rel+"/", "5"
	case m&fs.ModeSymlink != 0:
		typeflag = "2"
		t, err := os.Readlink(full)
		if err != nil {
			return "", err
		}
		link = t
	default:
		return "", fs.ErrInvalid
	}
	mode := int64(fileModeBits(fi.Mode()))
	h := sha256.New()
	for _, kv := range [][2]string{
		{"name", name},
		{"mode", strconv.FormatInt(mode, 10)},
		{"uid", "0"},
		{"gid", "0"},
		{"size", strconv.FormatInt(size, 10)},
		{"typeflag", typeflag},
		{"linkname", link},
		{"uname", ""},
		{"gname", ""},
		{"devmajor", "0"},
		{"devminor", "0"},
	} {
		io.WriteString(h, kv[0]+kv[1])
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(full, "security.capability", buf); err == nil && n > 0 {
		io.WriteString(h, "security.capability"+string(buf[:n]))
	}
	if fi.Mode().IsRegular() && size > 0 {
		f, err := os.Open(full)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if _, err := io.Copy(h, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
