package seccomp

import (
	"cmp"
	"encoding/binary"
	"slices"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Every block built here is self-contained: its jumps stay inside it and
// every path ends in a return. Blocks therefore compose by concatenation,
// and only ifElse needs a long jump when a block grows past 255
// instructions.

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func ret(k uint32) unix.SockFilter { return stmt(unix.BPF_RET|unix.BPF_K, k) }

func loadNr() unix.SockFilter { return stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, 0) }

func jmp(op uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k, Jt: jt, Jf: jf}
}

// ifElse returns [if A op k][then][else]; then must not fall through.
func ifElse(op uint16, k uint32, then, els []unix.SockFilter) []unix.SockFilter {
	out := make([]unix.SockFilter, 0, len(then)+len(els)+2)
	if len(then) <= 255 {
		out = append(out, jmp(op, k, 0, uint8(len(then))))
	} else {
		// jt skips the JA into then; jf lands on the JA, which skips then.
		out = append(out, jmp(op, k, 1, 0), stmt(unix.BPF_JMP|unix.BPF_JA, uint32(len(then))))
	}
	out = append(out, then...)
	return append(out, els...)
}

// segment is a range of syscall numbers starting at start (and ending where
// the next one starts) that share the code of leaf.
type segment struct {
	start uint32
	leaf  int
}

var enosysByArch = sync.OnceValue(func() map[specs.Arch][][2]uint32 {
	m := map[specs.Arch][][2]uint32{}
	for name, ai := range archs {
		m[name] = ai.enosysRanges()
	}
	return m
})

// compileArch returns the dispatch on the syscall number (already in A) for
// one arch over its number range ai.lo..ai.hi.
func compileArch(ai *archInfo, rules []nrRule, def uint32, errnoDefault bool) ([]unix.SockFilter, error) {
	// Leaf 0 is the default action, leaf 1 ENOSYS; the rest are distinct
	// rule blocks.
	leaves := [][]unix.SockFilter{{ret(def)}, {ret(retErrno | enosys)}}
	leafIndex := map[string]int{key(leaves[1]): 1, key(leaves[0]): 0}
	// Group the rules by number, keeping spec order within a number.
	slices.SortFunc(rules, func(a, b nrRule) int {
		if a.nr != b.nr {
			return cmp.Compare(a.nr, b.nr)
		}
		return cmp.Compare(a.seq, b.seq)
	})

	type point struct {
		lo, hi uint32
		leaf   int
	}
	points := make([]point, 0, len(rules)+4)
	var group []*rule
	for start := 0; start < len(rules); {
		nr := rules[start].nr
		group = group[:0]
		end := start
		for ; end < len(rules) && rules[end].nr == nr; end++ {
			group = append(group, rules[end].r)
		}
		start = end
		var code []unix.SockFilter
		var k string
		if len(group[0].args) == 0 && len(group) == 1 {
			// The common case: one unconditional rule, no allocation.
			k = retKey(group[0].action)
		} else {
			var err error
			if code, err = compileRules(ai, group, def); err != nil {
				return nil, err
			}
			k = key(code)
		}
		idx, ok := leafIndex[k]
		if !ok {
			if code == nil {
				code = []unix.SockFilter{ret(group[0].action)}
			}
			idx = len(leaves)
			leaves = append(leaves, code)
			leafIndex[k] = idx
		}
		points = append(points, point{nr, nr, idx})
	}
	if errnoDefault {
		for _, r := range enosysByArch()[ai.name] {
			points = append(points, point{r[0], r[1], 1})
		}
		slices.SortFunc(points, func(a, b point) int { return cmp.Compare(a.lo, b.lo) })
	}

	// Cover lo..hi with segments, filling gaps with the default, merging
	// neighbours with the same leaf.
	var segs []segment
	push := func(start uint32, leaf int) {
		if n := len(segs); n > 0 && segs[n-1].leaf == leaf {
			return
		}
		segs = append(segs, segment{start, leaf})
	}
	next := uint64(ai.lo)
	for _, p := range points {
		if uint64(p.lo) > next {
			push(uint32(next), 0)
		}
		push(p.lo, p.leaf)
		next = uint64(p.hi) + 1
	}
	if next <= uint64(ai.hi) {
		push(uint32(next), 0)
	}
	return tree(segs, leaves), nil
}

// tree is a binary search over segments on the number in A.
func tree(segs []segment, leaves [][]unix.SockFilter) []unix.SockFilter {
	if len(segs) == 1 {
		return leaves[segs[0].leaf]
	}
	mid := len(segs) / 2
	return ifElse(unix.BPF_JGE, segs[mid].start, tree(segs[mid:], leaves), tree(segs[:mid], leaves))
}

// retKey is key([]unix.SockFilter{ret(k)}) for the common return actions.
func retKey(k uint32) string {
	switch k {
	case retAllow:
		return keyAllow
	case retErrno | eperm:
		return keyEperm
	}
	return key([]unix.SockFilter{ret(k)})
}

var (
	keyAllow = key([]unix.SockFilter{ret(retAllow)})
	keyEperm = key([]unix.SockFilter{ret(retErrno | eperm)})
)

func key(code []unix.SockFilter) string {
	b := make([]byte, 0, 8*len(code))
	for _, in := range code {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return string(b)
}

// compileRules builds the block for one syscall: conditional rules in spec
// order, then the first unconditional one, else the default action.
func compileRules(ai *archInfo, rs []*rule, def uint32) ([]unix.SockFilter, error) {
	var out []unix.SockFilter
	final := def
	for _, r := range rs {
		if len(r.args) == 0 {
			continue
		}
		code, ok, err := compileRule(ai, r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, code...)
		}
	}
	for _, r := range rs {
		if len(r.args) == 0 {
			final = r.action
			break
		}
	}
	return append(out, ret(final)), nil
}

const failTarget = 0xff // placeholder in Jt/Jf, resolved in compileRule

// compileRule returns [conditions][ret action]; a failing condition jumps
// past the ret. ok is false when the rule can never match on this arch.
func compileRule(ai *archInfo, r *rule) (code []unix.SockFilter, ok bool, err error) {
	type fix struct {
		at int
		jt bool
	}
	var fixes []fix
	for _, a := range r.args {
		c, never := cond(ai.wide, a)
		if never {
			return nil, false, nil
		}
		for i, in := range c {
			if in.Jt == failTarget && in.Code&0x07 == unix.BPF_JMP {
				fixes = append(fixes, fix{len(code) + i, true})
			}
			if in.Jf == failTarget && in.Code&0x07 == unix.BPF_JMP {
				fixes = append(fixes, fix{len(code) + i, false})
			}
		}
		code = append(code, c...)
	}
	code = append(code, ret(r.action))
	end := len(code)
	for _, f := range fixes {
		off := end - f.at - 1
		if off > 255 {
			return nil, false, invalid("%s: rule has too many conditions (%d)", describe(r.sc), len(r.args))
		}
		if f.jt {
			code[f.at].Jt = uint8(off)
		} else {
			code[f.at].Jf = uint8(off)
		}
	}
	return code, true, nil
}

// cond returns the code for one condition: it falls through when the
// condition holds and jumps to failTarget when not. On narrow (32-bit)
// arches the high word is 0; never reports a condition that cannot hold, and
// an empty code one that always holds.
func cond(wide bool, a specs.LinuxSeccompArg) (code []unix.SockFilter, never bool) {
	lo := dataArgs + 8*uint32(a.Index) // little-endian: low word first
	hi := lo + 4
	v := a.Value
	if a.Op == specs.OpMaskedEqual {
		v = a.ValueTwo // Value is the mask
	}
	vlo, vhi := uint32(v), uint32(v>>32)
	mlo, mhi := uint32(a.Value), uint32(a.Value>>32)
	ld := func(k uint32) unix.SockFilter { return stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, k) }
	and := func(k uint32) unix.SockFilter { return stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, k) }
	const F = failTarget

	if !wide {
		hiZero := vhi == 0
		switch a.Op {
		case specs.OpEqualTo:
			if !hiZero {
				return nil, true
			}
			return []unix.SockFilter{ld(lo), jmp(unix.BPF_JEQ, vlo, 0, F)}, false
		case specs.OpNotEqual:
			if !hiZero {
				return nil, false
			}
			return []unix.SockFilter{ld(lo), jmp(unix.BPF_JEQ, vlo, F, 0)}, false
		case specs.OpMaskedEqual:
			if vhi != 0 { // the high word is 0, so 0&mask = 0 must equal it
				return nil, true
			}
			return []unix.SockFilter{ld(lo), and(mlo), jmp(unix.BPF_JEQ, vlo, 0, F)}, false
		case specs.OpGreaterThan:
			if !hiZero {
				return nil, true
			}
			return []unix.SockFilter{ld(lo), jmp(unix.BPF_JGT, vlo, 0, F)}, false
		case specs.OpGreaterEqual:
			if !hiZero {
				return nil, true
			}
			return []unix.SockFilter{ld(lo), jmp(unix.BPF_JGE, vlo, 0, F)}, false
		case specs.OpLessThan:
			if !hiZero {
				return nil, false
			}
			return []unix.SockFilter{ld(lo), jmp(unix.BPF_JGE, vlo, F, 0)}, false
		case specs.OpLessEqual:
			if !hiZero {
				return nil, false
			}
			return []unix.SockFilter{ld(lo), jmp(unix.BPF_JGT, vlo, F, 0)}, false
		}
		panic("seccomp: unchecked operator " + string(a.Op))
	}

	switch a.Op {
	case specs.OpEqualTo:
		return []unix.SockFilter{
			ld(hi), jmp(unix.BPF_JEQ, vhi, 0, F),
			ld(lo), jmp(unix.BPF_JEQ, vlo, 0, F),
		}, false
	case specs.OpNotEqual:
		return []unix.SockFilter{
			ld(hi), jmp(unix.BPF_JEQ, vhi, 0, 2), // high differs: holds
			ld(lo), jmp(unix.BPF_JEQ, vlo, F, 0),
		}, false
	case specs.OpMaskedEqual:
		return []unix.SockFilter{
			ld(hi), and(mhi), jmp(unix.BPF_JEQ, vhi, 0, F),
			ld(lo), and(mlo), jmp(unix.BPF_JEQ, vlo, 0, F),
		}, false
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		last := uint16(unix.BPF_JGT)
		if a.Op == specs.OpGreaterEqual {
			last = unix.BPF_JGE
		}
		return []unix.SockFilter{
			ld(hi),
			jmp(unix.BPF_JGT, vhi, 3, 0), // high above: holds
			jmp(unix.BPF_JEQ, vhi, 0, F), // high below: fails
			ld(lo),
			jmp(last, vlo, 0, F),
		}, false
	case specs.OpLessThan, specs.OpLessEqual:
		// a < v is !(a >= v); a <= v is !(a > v).
		last := uint16(unix.BPF_JGE)
		if a.Op == specs.OpLessEqual {
			last = unix.BPF_JGT
		}
		return []unix.SockFilter{
			ld(hi),
			jmp(unix.BPF_JGT, vhi, F, 0), // high above: fails
			jmp(unix.BPF_JEQ, vhi, 0, 2), // high below: holds
			ld(lo),
			jmp(last, vlo, F, 0),
		}, false
	}
	panic("seccomp: unchecked operator " + string(a.Op))
}
