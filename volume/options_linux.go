package volume

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The local driver's options (docker's): type, device and o say what to
// mount; size asks for a quota, which berth does not have.
var validOpts = map[string]bool{"type": true, "device": true, "o": true, "size": true}

// mandatoryOpts: an option and those it needs (docker's).
var mandatoryOpts = map[string][]string{
	"device": {"type"},
	"type":   {"device"},
	"o":      {"device", "type"},
}

// validateOptions checks the driver options at create, so that a bad one
// fails there rather than at the first mount. Messages are docker's where
// docker has them.
func validateOptions(opts map[string]string) error {
	for _, k := range sortedKeys(opts) {
		if !validOpts[k] {
			return fmt.Errorf("invalid option: %q", k)
		}
	}
	if v, ok := opts["size"]; ok {
		n, err := parseSize(v)
		if err != nil {
			return fmt.Errorf("invalid size: %q", v)
		}
		if n > 0 {
			return fmt.Errorf("quota size requested but no quota support")
		}
	}
	for _, k := range sortedKeys(opts) {
		for _, need := range mandatoryOpts[k] {
			if _, ok := opts[need]; !ok {
				return fmt.Errorf("missing required option: %q", need)
			}
		}
	}
	if opts["type"] == "" && opts["device"] == "" {
		return nil
	}
	mo, err := parseMountOptions(opts["type"], opts["o"])
	if err != nil {
		return err
	}
	if opts["type"] == "none" && mo.flags&unix.MS_BIND == 0 {
		return fmt.Errorf("type none mounts nothing: a bind volume needs o=bind")
	}
	if mo.flags&unix.MS_BIND != 0 && !filepath.IsAbs(opts["device"]) {
		return fmt.Errorf("bind volume: device %q is not an absolute path", opts["device"])
	}
	return nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// mountOptions is option o, split into mount(2)'s flags, the propagation
// to set after, and the filesystem's data string.
type mountOptions struct {
	flags       uintptr
	propagation uintptr
	data        string
}

// The flags mount(8) knows: set (true) or cleared (false).
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"nosuid":        {false, unix.MS_NOSUID},
	"suid":          {true, unix.MS_NOSUID},
	"nodev":         {false, unix.MS_NODEV},
	"dev":           {true, unix.MS_NODEV},
	"noexec":        {false, unix.MS_NOEXEC},
	"exec":          {true, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"atime":         {true, unix.MS_NOATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
}

var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// tmpfsKeys are tmpfs's own options; those with a checker have their
// value checked.
var tmpfsKeys = map[string]func(string) error{
	"size":                     checkSize,
	"nr_blocks":                checkSize,
	"nr_inodes":                checkSize,
	"mode":                     checkMode,
	"uid":                      checkID,
	"gid":                      checkID,
	"huge":                     nil,
	"mpol":                     nil,
	"inode32":                  nil,
	"inode64":                  nil,
	"noswap":                   nil,
	"quota":                    nil,
	"usrquota":                 nil,
	"grpquota":                 nil,
	"usrquota_block_hardlimit": checkSize, "usrquota_inode_hardlimit": checkSize,
	"grpquota_block_hardlimit": checkSize, "grpquota_inode_hardlimit": checkSize,
}

// parseMountOptions splits o (comma separated, as mount -o takes) for a
// filesystem of type typ. tmpfs data is checked key by key; other
// filesystems get their data as given.
func parseMountOptions(typ, o string) (mountOptions, error) {
	var mo mountOptions
	var data []string
	for _, opt := range strings.Split(o, ",") {
		if opt == "" {
			continue
		}
		if f, ok := mountFlags[opt]; ok {
			if f.clear {
				mo.flags &^= f.flag
			} else {
				mo.flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[opt]; ok {
			mo.propagation = p
			continue
		}
		if typ == "tmpfs" {
			k, v, hasValue := strings.Cut(opt, "=")
			check, ok := tmpfsKeys[k]
			if !ok {
				return mo, fmt.Errorf("invalid tmpfs option %q in o=%s", opt, o)
			}
			if check != nil {
				if !hasValue {
					return mo, fmt.Errorf("invalid tmpfs option %q in o=%s: %s needs a value", opt, o, k)
				}
				if err := check(v); err != nil {
					return mo, fmt.Errorf("invalid tmpfs option %q in o=%s: %w", opt, o, err)
				}
			}
		}
		data = append(data, opt)
	}
	mo.data = strings.Join(data, ",")
	return mo, nil
}

// parseSize reads a size as the kernel's memparse does: a number with an
// optional k, m, g, t, p or e suffix (either case).
func parseSize(v string) (int64, error) {
	num, mult := v, int64(1)
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		case 'p', 'P':
			mult = 1 << 50
		case 'e', 'E':
			mult = 1 << 60
		}
		if mult > 1 {
			num = v[:n-1]
		}
	}
	n, err := strconv.ParseInt(num, 0, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size: %q", v)
	}
	return n * mult, nil
}

// checkSize: a memparse size, or (tmpfs's size) a percentage of RAM.
func checkSize(v string) error {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		if n, err := strconv.ParseUint(p, 10, 32); err != nil || n == 0 {
			return fmt.Errorf("not a percentage: %q", v)
		}
		return nil
	}
	_, err := parseSize(v)
	return err
}

func checkMode(v string) error {
	if n, err := strconv.ParseUint(v, 8, 32); err != nil || n > 0o7777 {
		return fmt.Errorf("not an octal mode: %q", v)
	}
	return nil
}

func checkID(v string) error {
	if _, err := strconv.ParseUint(v, 10, 32); err != nil {
		return fmt.Errorf("not a numeric ID: %q", v)
	}
	return nil
}
