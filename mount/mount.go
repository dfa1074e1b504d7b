package mount

import (
	"sort"
	"strings"
)

// Mount is one filesystem mount.
type Mount struct {
	Type    string
	Source  string
	Target  string
	Options []string
}

// Flag bits of mount(2), spelled out here so that the package builds on every
// platform; they match <linux/mount.h>.
const (
	RDONLY      = 0x1
	NOSUID      = 0x2
	NODEV       = 0x4
	NOEXEC      = 0x8
	SYNCHRONOUS = 0x10
	REMOUNT     = 0x20
	MANDLOCK    = 0x40
	DIRSYNC     = 0x80
	NOSYMFOLLOW = 0x100
	NOATIME     = 0x400
	NODIRATIME  = 0x800
	BIND        = 0x1000
	MOVE        = 0x2000
	REC         = 0x4000
	SILENT      = 0x8000
	UNBINDABLE  = 0x20000
	PRIVATE     = 0x40000
	SLAVE       = 0x80000
	SHARED      = 0x100000
	RELATIME    = 0x200000
	STRICTATIME = 0x1000000
	LAZYTIME    = 0x2000000
)

// Options is what a list of mount options means to mount(2).
type Options struct {
	Flags       uintptr   // flags for the mount itself
	Propagation []uintptr // propagation changes, each its own mount(2) call
	Data        string    // filesystem-specific options, comma separated
	// Recursive attributes ("rro", "rnosuid", ...) applied with mount_setattr(2).
	RecAttrSet, RecAttrClr uint64
}

type flagOp struct {
	clear bool
	flag  uintptr
}

var flagOps = map[string]flagOp{
	"async":         {true, SYNCHRONOUS},
	"atime":         {true, NOATIME},
	"bind":          {false, BIND},
	"defaults":      {false, 0},
	"dev":           {true, NODEV},
	"diratime":      {true, NODIRATIME},
	"dirsync":       {false, DIRSYNC},
	"exec":          {true, NOEXEC},
	"lazytime":      {false, LAZYTIME},
	"loud":          {true, SILENT},
	"mand":          {false, MANDLOCK},
	"noatime":       {false, NOATIME},
	"nodev":         {false, NODEV},
	"nodiratime":    {false, NODIRATIME},
	"noexec":        {false, NOEXEC},
	"nolazytime":    {true, LAZYTIME},
	"nomand":        {true, MANDLOCK},
	"norelatime":    {true, RELATIME},
	"nostrictatime": {true, STRICTATIME},
	"nosuid":        {false, NOSUID},
	"nosymfollow":   {false, NOSYMFOLLOW},
	"rbind":         {false, BIND | REC},
	"relatime":      {false, RELATIME},
	"remount":       {false, REMOUNT},
	"ro":            {false, RDONLY},
	"rw":            {true, RDONLY},
	"silent":        {false, SILENT},
	"strictatime":   {false, STRICTATIME},
	"suid":          {true, NOSUID},
	"symfollow":     {true, NOSYMFOLLOW},
	"sync":          {false, SYNCHRONOUS},
}

var propagationFlags = map[string]uintptr{
	"private":     PRIVATE,
	"rprivate":    PRIVATE | REC,
	"shared":      SHARED,
	"rshared":     SHARED | REC,
	"slave":       SLAVE,
	"rslave":      SLAVE | REC,
	"unbindable":  UNBINDABLE,
	"runbindable": UNBINDABLE | REC,
}

// Attribute bits of mount_setattr(2) (MOUNT_ATTR_*).
const (
	AttrRDONLY      = 0x1
	AttrNOSUID      = 0x2
	AttrNODEV       = 0x4
	AttrNOEXEC      = 0x8
	AttrNOATIME     = 0x10
	AttrSTRICTATIME = 0x20
	AttrNODIRATIME  = 0x80
	AttrNOSYMFOLLOW = 0x200000
)

var recAttrs = map[string]struct {
	clear bool
	attr  uint64
}{
	"rro":          {false, AttrRDONLY},
	"rrw":          {true, AttrRDONLY},
	"rnosuid":      {false, AttrNOSUID},
	"rsuid":        {true, AttrNOSUID},
	"rnodev":       {false, AttrNODEV},
	"rdev":         {true, AttrNODEV},
	"rnoexec":      {false, AttrNOEXEC},
	"rexec":        {true, AttrNOEXEC},
	"rnodiratime":  {false, AttrNODIRATIME},
	"rdiratime":    {true, AttrNODIRATIME},
	"rnoatime":     {false, AttrNOATIME},
	"ratime":       {true, AttrNOATIME},
	"rstrictatime": {false, AttrSTRICTATIME},
	"rnosymfollow": {false, AttrNOSYMFOLLOW},
	"rsymfollow":   {true, AttrNOSYMFOLLOW},
}

// ParseOptions splits mount options into flags, propagation changes,
// recursive attributes and filesystem data.
func ParseOptions(options []string) Options {
	var o Options
	var data []string
	for _, opt := range options {
		if op, ok := flagOps[opt]; ok {
			if op.clear {
				o.Flags &^= op.flag
			} else {
				o.Flags |= op.flag
			}
			continue
		}
		if p, ok := propagationFlags[opt]; ok {
			o.Propagation = append(o.Propagation, p)
			continue
		}
		if a, ok := recAttrs[opt]; ok {
			if a.clear {
				o.RecAttrClr |= a.attr
				o.RecAttrSet &^= a.attr
			} else {
				o.RecAttrSet |= a.attr
				o.RecAttrClr &^= a.attr
			}
			continue
		}
		data = append(data, opt)
	}
	o.Data = strings.Join(data, ",")
	return o
}

// IsBind reports whether the mount is a bind mount, by type or by option.
func (m *Mount) IsBind() bool {
	if m.Type == "bind" || m.Type == "rbind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// KnownOptions lists every option ParseOptions understands, sorted, for
// `runtime features`.
func KnownOptions() []string {
	var out []string
	for k := range flagOps {
		out = append(out, k)
	}
	for k := range propagationFlags {
		out = append(out, k)
	}
	for k := range recAttrs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Unescape undoes the octal escapes (\040 for a space, \011 tab, \012
// newline, \134 backslash) of a path field of /proc/self/mountinfo.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
