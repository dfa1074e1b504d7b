package nsenter

import (
	"fmt"
	"strings"
)

// EnvFD is the environment variable that activates the C stage; its value is
// the number of the file descriptor of the socket to the parent.
const EnvFD = "_BERTH_NSENTER"

// Join is an existing namespace to enter: Type is a namespace name as in
// /proc/<pid>/ns ("net", "mnt", ...), Path a file that refers to it.
type Join struct {
	Type string
	Path string
}

// TimeOffset shifts a clock of a new time namespace.
type TimeOffset struct {
	Clock string // "monotonic" or "boottime"
	Secs  int64
	Nanos uint32
}

// Bootstrap is what the parent tells the C stage.
type Bootstrap struct {
	CloneFlags  uintptr // CLONE_NEW* flags of the namespaces to create
	Join        []Join  // namespaces to enter, before creating new ones
	TimeOffsets []TimeOffset
}

// Encode renders the bootstrap message in the line format nsenter.c reads.
func (b *Bootstrap) Encode() ([]byte, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "clone %x\n", b.CloneFlags)
	for _, j := range b.Join {
		if strings.ContainsAny(j.Path, "\n\x00") || strings.ContainsAny(j.Type, " \n\x00") {
			return nil, fmt.Errorf("namespace path %q: invalid character", j.Path)
		}
		fmt.Fprintf(&sb, "join %s %s\n", j.Type, j.Path)
	}
	for _, t := range b.TimeOffsets {
		if t.Clock != "monotonic" && t.Clock != "boottime" {
			return nil, fmt.Errorf("time offset for clock %q: only monotonic and boottime can be offset", t.Clock)
		}
		fmt.Fprintf(&sb, "timeoff %s %d %d\n", t.Clock, t.Secs, t.Nanos)
	}
	sb.WriteString("end\n")
	if sb.Len() >= 65536 {
		return nil, fmt.Errorf("bootstrap message of %d bytes is too long", sb.Len())
	}
	return []byte(sb.String()), nil
}
