package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capNames maps capability names to their numbers (linux/capability.h).
var capNames = map[string]int{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// CapabilityNames lists every capability berth knows, for `exec --cap` checks.
func CapabilityNames() []string {
	out := make([]string, 0, len(capNames))
	for n := range capNames {
		out = append(out, n)
	}
	return out
}

func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 40
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 40
	}
	return n
}

// capSet is a set of capabilities as a bit mask; names the kernel does not
// know are skipped, as runc does.
type capSet uint64

func newCapSet(names []string, last int) capSet {
	var s capSet
	for _, n := range names {
		if c, ok := capNames[strings.ToUpper(n)]; ok && c <= last {
			s |= 1 << uint(c)
		}
	}
	return s
}

func (s capSet) has(c int) bool { return s&(1<<uint(c)) != 0 }

func setgroups(gids []uint32) error {
	var ptr unsafe.Pointer
	if len(gids) > 0 {
		ptr = unsafe.Pointer(&gids[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), uintptr(ptr), 0); e != 0 {
		return e
	}
	return nil
}

// setupUser drops the bounding set, switches to the process's uid, gid and
// groups keeping capabilities across the switch, then sets the effective,
// permitted, inheritable and ambient sets. It acts on the calling thread,
// which must be the one that execs (Init locks it).
func setupUser(p *specs.Process) error {
	caps := p.Capabilities
	last := lastCap()
	if caps != nil {
		bounding := newCapSet(caps.Bounding, last)
		for c := 0; c <= last; c++ {
			if !bounding.has(c) {
				if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
					return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
				}
			}
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set keepcaps: %w", err)
	}
	// Credentials are per thread in Linux. Like runc, set them with raw
	// system calls on this (locked) thread only, the one that execs: libc's
	// setuid would interrupt every thread of the Go runtime to change theirs.
	if err := setgroups(p.User.AdditionalGids); err != nil {
		// In a user namespace with setgroups denied, an empty list cannot be set either.
		if len(p.User.AdditionalGids) > 0 || err != unix.EPERM {
			return fmt.Errorf("setgroups %v: %w", p.User.AdditionalGids, err)
		}
	}
	gid, uid := uintptr(p.User.GID), uintptr(p.User.UID)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, gid, gid, gid); e != 0 {
		return fmt.Errorf("setgid %d: %w", p.User.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uid, uid, uid); e != 0 {
		return fmt.Errorf("setuid %d: %w", p.User.UID, e)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	if caps == nil {
		return nil
	}
	eff, perm, inh := newCapSet(caps.Effective, last), newCapSet(caps.Permitted, last), newCapSet(caps.Inheritable, last)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	amb := newCapSet(caps.Ambient, last)
	for c := 0; c <= last; c++ {
		if amb.has(c) {
			// Like runc: an ambient capability that is not also permitted and
			// inheritable cannot be raised, and is left out.
			unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0)
		}
	}
	return nil
}

// BoundingCapabilities are the names of the capabilities in this process's
// bounding set that the kernel knows: all a container it starts can be
// given (a privileged container's set, where the host itself runs with
// fewer than all).
func BoundingCapabilities() []string {
	last := lastCap()
	var out []string
	for n, c := range capNames {
		if c > last {
			continue
		}
		if r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil && r == 1 {
			out = append(out, n)
		}
	}
	return out
}
