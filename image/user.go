package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The user database of an image is part of an untrusted rootfs: its files
// are opened inside the rootfs (symlinks resolve as if it were /, see
// readFileInRoot), must be regular files of bounded size, and malformed
// entries are skipped rather than read as uid 0.

var (
	// ErrNoPasswdEntries is wrapped when a user name is not in /etc/passwd.
	ErrNoPasswdEntries = errors.New("no matching entries in passwd file")
	// ErrNoGroupEntries is wrapped when a group name is not in /etc/group.
	ErrNoGroupEntries = errors.New("no matching entries in group file")
	// ErrIDRange is wrapped when a numeric uid or gid is out of range.
	ErrIDRange = fmt.Errorf("uids and gids must be in range 0-%d", maxID)
)

const (
	maxID = math.MaxInt32
	// maxUserDBSize bounds what is read of /etc/passwd or /etc/group.
	maxUserDBSize = 16 << 20

	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

// ExecUser is the identity a container's process runs as.
type ExecUser struct {
	UID, GID       uint32
	AdditionalGids []uint32 // supplementary groups from /etc/group membership
	Home           string   // from /etc/passwd, "/" without an entry
}

// LookupUser resolves a Docker user specification ("", "name", "uid",
// "uid:gid", "name:group", "uid:groupname") against rootfs/etc/passwd and
// rootfs/etc/group, as Docker (runc's user package) does:
//   - "" is uid 0; a numeric user is a uid even without a passwd entry,
//     a name must have one ("unable to find user NAME: no matching
//     entries in passwd file");
//   - a passwd entry (the first that matches) gives the gid and home;
//   - an explicit group (a name must be in /etc/group, a number need not)
//     replaces the gid, and then there are no supplementary groups;
//     otherwise the groups listing the user's name are supplementary.
//
// Missing files are treated as empty. Both files are read inside rootfs:
// a symlink cannot lead to the host's files.
func LookupUser(rootfs, spec string) (ExecUser, error) {
	u := ExecUser{Home: "/"}
	userArg, groupArg, _ := strings.Cut(spec, ":")

	uid, uidErr := strconv.Atoi(userArg)
	passwd, err := readUserDB(rootfs, passwdFile)
	if err != nil {
		return ExecUser{}, err
	}
	var matched string // the passwd name, for group membership
	found := false
	forEachEntry(passwd, 4, func(f []string) bool {
		id, ok := parseID(f[2])
		gid, gok := parseID(f[3])
		if !ok || !gok {
			return true
		}
		switch {
		case userArg == "":
			ok = id == 0
		case uidErr == nil:
			ok = int(id) == uid
		default:
			ok = f[0] == userArg
		}
		if !ok {
			return true
		}
		found, matched = true, f[0]
		u.UID, u.GID = id, gid
		if len(f) > 5 && f[5] != "" {
			u.Home = f[5]
		}
		return false
	})
	if !found && userArg != "" {
		if uidErr != nil {
			return ExecUser{}, fmt.Errorf("unable to find user %s: %w", userArg, ErrNoPasswdEntries)
		}
		if uid < 0 || uid > maxID {
			return ExecUser{}, ErrIDRange
		}
		u.UID = uint32(uid)
	}

	if groupArg == "" && matched == "" {
		return u, nil
	}
	group, err := readUserDB(rootfs, groupFile)
	if err != nil {
		return ExecUser{}, err
	}
	if groupArg != "" {
		gid, gidErr := strconv.Atoi(groupArg)
		gfound := false
		forEachEntry(group, 3, func(f []string) bool {
			id, ok := parseID(f[2])
			if !ok || (gidErr == nil && int(id) != gid) || (gidErr != nil && f[0] != groupArg) {
				return true
			}
			gfound, u.GID = true, id
			return false
		})
		if !gfound {
			if gidErr != nil {
				return ExecUser{}, fmt.Errorf("unable to find group %s: %w", groupArg, ErrNoGroupEntries)
			}
			if gid < 0 || gid > maxID {
				return ExecUser{}, ErrIDRange
			}
			u.GID = uint32(gid)
		}
		return u, nil
	}
	forEachEntry(group, 3, func(f []string) bool {
		id, ok := parseID(f[2])
		if !ok || len(f) < 4 {
			return true
		}
		for _, member := range strings.Split(f[3], ",") {
			if strings.TrimSpace(member) == matched {
				u.AdditionalGids = append(u.AdditionalGids, id)
				break
			}
		}
		return true
	})
	return u, nil
}

// readUserDB reads name inside rootfs; a missing file reads as empty.
func readUserDB(rootfs, name string) ([]byte, error) {
	data, err := readFileInRoot(rootfs, name, maxUserDBSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s in rootfs %s: %w", name, rootfs, err)
	}
	return data, nil
}

// forEachEntry calls fn with the colon-separated fields of each line of a
// passwd or group file that has at least minFields fields, until fn returns false.
// Blank lines, comments and NIS compat lines (+, -) are skipped.
func forEachEntry(data []byte, minFields int, fn func(fields []string) bool) {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' || s[0] == '+' || s[0] == '-' {
			continue
		}
		f := strings.Split(s, ":")
		if len(f) < minFields {
			continue
		}
		if !fn(f) {
			return
		}
	}
}

// parseID parses a uid or gid field of a user database.
func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || n > maxID {
		return 0, false
	}
	return uint32(n), true
}

// readRegular reads f, which must be a regular file of at most limit bytes.
func readRegular(f *os.File, name string, limit int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", name, st.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}
