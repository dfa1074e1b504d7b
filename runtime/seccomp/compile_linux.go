package seccomp

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Filter is a compiled program ready to load.
type Filter struct {
	// Prog is the classic BPF program.
	Prog []unix.SockFilter
	// Flags are the SECCOMP_FILTER_FLAG_* bits asked for by the spec.
	Flags uint
	// Notify is true when some rule uses SCMP_ACT_NOTIFY; Load then asks
	// the kernel for a listener fd.
	Notify bool
}

// ErrInvalid is wrapped by every error Compile returns for a bad spec.
var ErrInvalid = errors.New("invalid seccomp spec")

// Seccomp return values (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retUserNotif   = 0x7fc00000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000

	retBadArch = retKillProcess

	maxErrno = 4095 // MAX_ERRNO: the kernel clamps larger values
	maxInsns = 4096 // BPF_MAXINSNS
	dataArch = 4    // offsetof(struct seccomp_data, arch)
	dataArgs = 16   // offsetof(struct seccomp_data, args)
	enosys   = 38   // ENOSYS, identical on all supported arches
	eperm    = 1    // EPERM
)

var flagBits = map[specs.LinuxSeccompFlag]uint{
	"SECCOMP_FILTER_FLAG_TSYNC":            unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("seccomp: "+format+": %w", append(args, ErrInvalid)...)
}

// action returns the SECCOMP_RET_* value for a spec action.
func action(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := func() (uint32, error) {
		if errnoRet == nil {
			return eperm, nil
		}
		if *errnoRet > maxErrno {
			return 0, fmt.Errorf("errnoRet %d above %d", *errnoRet, maxErrno)
		}
		return uint32(*errnoRet), nil
	}
	if errnoRet != nil && a != specs.ActErrno && a != specs.ActTrace {
		return 0, fmt.Errorf("errnoRet is only valid with %s or %s, not %s", specs.ActErrno, specs.ActTrace, a)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActErrno:
		d, err := data()
		return retErrno | d, err
	case specs.ActTrace:
		d, err := data()
		return retTrace | d, err
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActNotify:
		return retUserNotif, nil
	case "":
		return 0, errors.New("missing action")
	}
	return 0, fmt.Errorf("unknown action %q", a)
}

// rule is one spec syscall entry resolved for compilation.
type rule struct {
	sc     *specs.LinuxSyscall // the spec entry, for errors
	args   []specs.LinuxSeccompArg
	action uint32
}

// nrRule ties a rule to one syscall number of one arch.
type nrRule struct {
	nr  uint32
	seq uint32 // position in the spec, to keep rule order
	r   *rule
}

// describe names a spec entry in errors: `syscall "foo"`.
func describe(sc *specs.LinuxSyscall) string {
	if len(sc.Names) == 1 {
		return fmt.Sprintf("syscall %q", sc.Names[0])
	}
	return fmt.Sprintf("syscalls %v", sc.Names)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

var ops = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true, specs.OpEqualTo: true,
	specs.OpGreaterEqual: true, specs.OpGreaterThan: true, specs.OpMaskedEqual: true,
}

// Compile turns s into a BPF program. See the package documentation for the
// semantics; errors wrap ErrInvalid and name the offending part.
func Compile(s *specs.LinuxSeccomp) (*Filter, error) {
	if s == nil {
		return nil, invalid("no seccomp section")
	}
	if s.DefaultAction == specs.ActNotify {
		return nil, invalid("defaultAction %s is not allowed", s.DefaultAction)
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, invalid("defaultAction: %v", err)
	}
	f := &Filter{}
	for _, fl := range s.Flags {
		bit, ok := flagBits[fl]
		if !ok {
			return nil, invalid("unknown flag %q", fl)
		}
		f.Flags |= bit
	}

	// Architectures, native first, deduplicated.
	var list []*archInfo
	seen := map[specs.Arch]bool{}
	add := func(a specs.Arch) {
		if ai := archs[a]; ai != nil && !seen[a] {
			seen[a] = true
			list = append(list, ai)
		}
	}
	native := nativeArch()
	if len(s.Architectures) == 0 {
		if native == "" {
			return nil, invalid("no architectures listed and %s has no native arch support", "this GOARCH")
		}
		add(native)
	}
	for _, a := range s.Architectures {
		if !knownArches[a] {
			return nil, invalid("unknown architecture %q", a)
		}
		if a == native {
			add(a)
		}
	}
	for _, a := range s.Architectures {
		add(a)
	}
	if len(list) == 0 {
		return nil, invalid("none of the architectures %v is supported", s.Architectures)
	}

	// Rules per arch and syscall number, in spec order.
	perArch := make([][]nrRule, len(list))
	for i := range perArch {
		perArch[i] = make([]nrRule, 0, 512)
	}
	for i := range s.Syscalls {
		sc := &s.Syscalls[i]
		if len(sc.Names) == 0 {
			return nil, invalid("syscall entry with action %s has no names", sc.Action)
		}
		act, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, invalid("%s: %v", describe(sc), err)
		}
		if sc.Action == specs.ActNotify {
			f.Notify = true
		}
		for _, a := range sc.Args {
			if a.Index > 5 {
				return nil, invalid("%s: argument index %d out of range 0-5", describe(sc), a.Index)
			}
			if !ops[a.Op] {
				return nil, invalid("%s: unknown operator %q", describe(sc), a.Op)
			}
		}
		r := &rule{sc: sc, args: sc.Args, action: act}
		for _, name := range sc.Names {
			if !validName(name) {
				return nil, invalid("syscall name %q in %s is malformed", name, describe(sc))
			}
			for i, ai := range list {
				if nr, ok := ai.table()[name]; ok {
					perArch[i] = append(perArch[i], nrRule{nr, uint32(len(perArch[i])), r})
				}
			}
		}
	}
	if f.Flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 && !f.Notify {
		// The kernel accepts this flag only with a listener.
		f.Flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}

	errnoDefault := s.DefaultAction == specs.ActErrno
	sections := make([][]unix.SockFilter, len(list))
	for i, ai := range list {
		sec, err := compileArch(ai, perArch[i], def, errnoDefault)
		if err != nil {
			return nil, err
		}
		sections[i] = sec
	}

	// x86_64 and x32 share an audit arch value: their group splits on the
	// x32 bit. Each group is [ld nr][dispatch]; groups are tried in order.
	type group struct {
		audit     uint32
		low, high []unix.SockFilter // x86_64 and x32 parts; nil means bad arch
	}
	var groups []*group
	byAudit := map[uint32]*group{}
	for i, ai := range list {
		g := byAudit[ai.audit]
		if g == nil {
			g = &group{audit: ai.audit}
			byAudit[ai.audit] = g
			groups = append(groups, g)
		}
		if ai.name == specs.ArchX32 {
			g.high = sections[i]
		} else {
			g.low = sections[i]
		}
	}
	bad := []unix.SockFilter{ret(retBadArch)}
	body := bad
	for i := len(groups) - 1; i >= 0; i-- {
		g := groups[i]
		sec := []unix.SockFilter{loadNr()}
		if g.audit == auditArchX86_64 {
			low, high := g.low, g.high
			if low == nil {
				low = bad
			}
			if high == nil {
				high = bad
			}
			sec = append(sec, ifElse(unix.BPF_JGE, x32Bit, high, low)...)
		} else {
			sec = append(sec, g.low...)
		}
		body = ifElse(unix.BPF_JEQ, g.audit, sec, body)
	}
	prog := make([]unix.SockFilter, 0, len(body)+1)
	prog = append(prog, stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, dataArch))
	prog = append(prog, body...)
	if len(prog) > maxInsns {
		return nil, invalid("program has %d instructions, more than the kernel's %d", len(prog), maxInsns)
	}
	f.Prog = prog
	return f, nil
}
