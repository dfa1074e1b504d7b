package cgroup

import (
	"cmp"
	"fmt"
	"math"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Device rules on cgroup v2 are an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup: the kernel runs it on
// every open or mknod of a device node and allows the access when it
// returns 1. This file turns OCI rules into such a program; bpf_linux.go
// loads and attaches it.
//
// Semantics, as runc's device emulator: the rules are read in order and the
// last rule that matches a device decides. A rule of type "a" with no major,
// no minor and all of "rwm" (the usual first rule, "deny all") sets the
// default and forgets the rules before it. Before any rule the default is
// deny. Access bits are decided one by one: a request for "rw" passes only
// if the last rule covering "r" and the last rule covering "w" (or the
// default, for a bit no rule covers) both allow.

// devRule is one OCI device rule in normal form.
type devRule struct {
	allow        bool
	typ          byte  // 'a', 'b' or 'c'
	major, minor int64 // -1: any
	access       int32 // unix.BPF_DEVCG_ACC_* bits
}

const accAll = unix.BPF_DEVCG_ACC_MKNOD | unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE

func (r devRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return fmt.Sprint(n)
	}
	verb := "deny"
	if r.allow {
		verb = "allow"
	}
	acc := ""
	for _, a := range []struct {
		bit int32
		c   string
	}{{unix.BPF_DEVCG_ACC_READ, "r"}, {unix.BPF_DEVCG_ACC_WRITE, "w"}, {unix.BPF_DEVCG_ACC_MKNOD, "m"}} {
		if r.access&a.bit != 0 {
			acc += a.c
		}
	}
	return fmt.Sprintf("%s %c %s:%s %s", verb, r.typ, num(r.major), num(r.minor), acc)
}

// parseDevRule checks an OCI rule and puts it in normal form.
func parseDevRule(d specs.LinuxDeviceCgroup) (devRule, error) {
	r := devRule{allow: d.Allow, typ: 'a', major: -1, minor: -1}
	switch t := cmp.Or(d.Type, "a"); t {
	case "a", "b", "c":
		r.typ = t[0]
	default:
		return r, fmt.Errorf("device rule: invalid type %q", d.Type)
	}
	for _, c := range cmp.Or(d.Access, "rwm") {
		switch c {
		case 'r':
			r.access |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			r.access |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			r.access |= unix.BPF_DEVCG_ACC_MKNOD
		default:
			return r, fmt.Errorf("device rule: invalid access %q", d.Access)
		}
	}
	for _, n := range []struct {
		p   *int64
		dst *int64
	}{{d.Major, &r.major}, {d.Minor, &r.minor}} {
		if n.p == nil || *n.p < 0 {
			continue
		}
		if *n.p > math.MaxUint32 {
			return r, fmt.Errorf("device rule: number %d out of range", *n.p)
		}
		*n.dst = *n.p
	}
	return r, nil
}

// resets reports whether r is "a *:* rwm", which sets the default.
func (r devRule) resets() bool {
	return r.typ == 'a' && r.major < 0 && r.minor < 0 && r.access == accAll
}

// deviceRules normalizes OCI rules: the default after the last resetting
// rule, and the rules after it in order.
func deviceRules(rules []specs.LinuxDeviceCgroup) (defaultAllow bool, list []devRule, err error) {
	for _, d := range rules {
		r, err := parseDevRule(d)
		if err != nil {
			return false, nil, err
		}
		if r.resets() {
			defaultAllow, list = r.allow, list[:0]
			continue
		}
		list = append(list, r)
	}
	return defaultAllow, list, nil
}

// deviceAllowed is the reference semantics the program implements, for
// tests: whether access acc to device typ major:minor passes.
func deviceAllowed(defaultAllow bool, rules []devRule, typ byte, major, minor uint32, acc int32) bool {
	pending := acc
	for i := len(rules) - 1; i >= 0 && pending != 0; i-- {
		r := rules[i]
		if !r.matches(typ, major, minor) || pending&r.access == 0 {
			continue
		}
		if !r.allow {
			return false
		}
		pending &^= r.access
	}
	return pending == 0 || defaultAllow
}

func (r devRule) matches(typ byte, major, minor uint32) bool {
	return (r.typ == 'a' || r.typ == typ) && (r.major < 0 || uint32(r.major) == major) &&
		(r.minor < 0 || uint32(r.minor) == minor)
}

// eBPF instruction encoding (include/uapi/linux/bpf.h, bpf_common.h).
const (
	bpfW     = 0x00
	bpfMem   = 0x60
	bpfLdx   = 0x01
	bpfAlu   = 0x04 // 32-bit ALU: results are zero-extended
	bpfJmp   = 0x05
	bpfJmp32 = 0x06
	bpfK     = 0x00
	bpfX     = 0x08

	bpfAnd  = 0x50
	bpfRsh  = 0x70
	bpfMov  = 0xb0
	bpfJeq  = 0x10
	bpfJne  = 0x50
	bpfExit = 0x90
)

// insn is one eBPF instruction.
type insn struct {
	code     uint8
	dst, src uint8
	off      int16
	imm      int32
}

func (i insn) String() string {
	return fmt.Sprintf("code=%#02x dst=r%d src=r%d off=%d imm=%d", i.code, i.dst, i.src, i.off, i.imm)
}

// Registers the program uses. r1 holds the context on entry (struct
// bpf_cgroup_dev_ctx: u32 access_type, u32 major, u32 minor), r0 the result.
const (
	rRet, rCtx, rType, rAcc, rMajor, rMinor, rPending = 0, 1, 2, 3, 4, 5, 6
	rTmp                                              = 1 // the context is not needed after the loads
)

// asm collects instructions; jumps to the end of the current block are
// patched when the block ends.
type asm struct {
	prog    []insn
	pending []int // indexes of jumps to the end of the current block
}

func (a *asm) emit(i insn) { a.prog = append(a.prog, i) }

// jumpNext emits a conditional jump (32-bit compare with imm) to the end
// of the current block.
func (a *asm) jumpNext(op uint8, reg uint8, imm int32) {
	a.pending = append(a.pending, len(a.prog))
	a.emit(insn{code: bpfJmp32 | op | bpfK, dst: reg, imm: imm})
}

func (a *asm) endBlock() error {
	for _, j := range a.pending {
		off := len(a.prog) - j - 1
		if off > math.MaxInt16 {
			return fmt.Errorf("device program: jump of %d instructions is too long", off)
		}
		a.prog[j].off = int16(off)
	}
	a.pending = a.pending[:0]
	return nil
}

func (a *asm) ret(v int32) {
	a.emit(insn{code: bpfAlu | bpfMov | bpfK, dst: rRet, imm: v})
	a.emit(insn{code: bpfJmp | bpfExit})
}

// compileDevices builds the device program for OCI rules. The rules are
// tested last first; each matching rule takes the access bits it covers
// off the pending set: a deny rule that covers a pending bit rejects, an
// allow rule that leaves nothing pending accepts. What is left at the end
// gets the default.
func compileDevices(rules []specs.LinuxDeviceCgroup) ([]insn, error) {
	defaultAllow, list, err := deviceRules(rules)
	if err != nil {
		return nil, err
	}
	var a asm
	ldx := func(dst uint8, off int16) {
		a.emit(insn{code: bpfLdx | bpfW | bpfMem, dst: dst, src: rCtx, off: off})
	}
	ldx(rType, 0)
	a.emit(insn{code: bpfAlu | bpfAnd | bpfK, dst: rType, imm: 0xffff})
	ldx(rAcc, 0)
	a.emit(insn{code: bpfAlu | bpfRsh | bpfK, dst: rAcc, imm: 16})
	ldx(rMajor, 4)
	ldx(rMinor, 8)
	a.emit(insn{code: bpfAlu | bpfMov | bpfX, dst: rPending, src: rAcc})
	for i := len(list) - 1; i >= 0; i-- {
		r := list[i]
		switch r.typ {
		case 'b':
			a.jumpNext(bpfJne, rType, unix.BPF_DEVCG_DEV_BLOCK)
		case 'c':
			a.jumpNext(bpfJne, rType, unix.BPF_DEVCG_DEV_CHAR)
		}
		if r.major >= 0 {
			a.jumpNext(bpfJne, rMajor, int32(uint32(r.major)))
		}
		if r.minor >= 0 {
			a.jumpNext(bpfJne, rMinor, int32(uint32(r.minor)))
		}
		a.emit(insn{code: bpfAlu | bpfMov | bpfX, dst: rTmp, src: rPending})
		a.emit(insn{code: bpfAlu | bpfAnd | bpfK, dst: rTmp, imm: r.access})
		a.jumpNext(bpfJeq, rTmp, 0)
		if r.allow {
			a.emit(insn{code: bpfAlu | bpfAnd | bpfK, dst: rPending, imm: ^r.access & accAll})
			a.jumpNext(bpfJne, rPending, 0)
			a.ret(1)
		} else {
			a.ret(0)
		}
		if err := a.endBlock(); err != nil {
			return nil, err
		}
	}
	if defaultAllow {
		a.ret(1)
	} else {
		a.ret(0)
	}
	return a.prog, nil
}

// describeRules lists normalized rules for error messages.
func describeRules(rules []specs.LinuxDeviceCgroup) string {
	def, list, err := deviceRules(rules)
	if err != nil {
		return err.Error()
	}
	parts := []string{"default deny"}
	if def {
		parts[0] = "default allow"
	}
	for _, r := range list {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}
