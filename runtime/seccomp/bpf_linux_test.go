package seccomp

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// data is struct seccomp_data.
type data struct {
	nr   int32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d data) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], uint32(d.nr))
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// run interprets a classic BPF seccomp program the way the kernel does,
// for the instructions seccomp allows.
func run(t testing.TB, prog []unix.SockFilter, d data) uint32 {
	t.Helper()
	mem := d.bytes()
	var a, x uint32
	var scratch [16]uint32
	for pc, steps := 0, 0; ; steps++ {
		if pc < 0 || pc >= len(prog) {
			t.Fatalf("pc %d outside program of %d", pc, len(prog))
		}
		if steps > len(prog) {
			t.Fatalf("program loops")
		}
		in := prog[pc]
		pc++
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || in.K+4 > uint32(len(mem)) {
				t.Fatalf("bad load offset %d", in.K)
			}
			a = binary.LittleEndian.Uint32(mem[in.K:])
		case unix.BPF_LD | unix.BPF_MEM:
			a = scratch[in.K]
		case unix.BPF_ST:
			scratch[in.K] = a
		case unix.BPF_LDX | unix.BPF_W | unix.BPF_ABS:
			x = binary.LittleEndian.Uint32(mem[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= in.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += branch(a == in.K, in)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			pc += branch(a > in.K, in)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += branch(a >= in.K, in)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			pc += branch(a&in.K != 0, in)
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("unsupported instruction %#x at %d", in.Code, pc-1)
		}
		_ = x
	}
}

func branch(ok bool, in unix.SockFilter) int {
	if ok {
		return int(in.Jt)
	}
	return int(in.Jf)
}

// dump renders a program for failure messages.
func dump(prog []unix.SockFilter) string {
	s := ""
	for i, in := range prog {
		s += fmt.Sprintf("%4d: code=%#04x jt=%d jf=%d k=%#x\n", i, in.Code, in.Jt, in.Jf, in.K)
	}
	return s
}
