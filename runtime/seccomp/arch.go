package seccomp

import (
	"runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	x32Bit = 0x40000000

	auditArchX86_64  = 0xc000003e // AUDIT_ARCH_X86_64 (also x32)
	auditArchI386    = 0x40000003 // AUDIT_ARCH_I386
	auditArchAArch64 = 0xc00000b7 // AUDIT_ARCH_AARCH64
	auditArchARM     = 0x40000028 // AUDIT_ARCH_ARM
)

// archInfo describes one compiled architecture.
type archInfo struct {
	name  specs.Arch
	audit uint32
	table func() map[string]uint32 // built on first use
	// wide is true when syscall arguments are 64 bits.
	wide bool
	// lo and hi bound the syscall numbers this section sees.
	lo, hi uint32
	// blocks are the number blocks in which ENOSYS is returned above the
	// highest known syscall (see package doc).
	blocks [][2]uint32
}

var archs = map[specs.Arch]*archInfo{
	specs.ArchX86_64: {
		name: specs.ArchX86_64, audit: auditArchX86_64, table: sysX86_64, wide: true,
		lo: 0, hi: x32Bit - 1, blocks: [][2]uint32{{0, x32Bit - 1}},
	},
	specs.ArchX32: {
		name: specs.ArchX32, audit: auditArchX86_64, table: sysX32, wide: true,
		lo: x32Bit, hi: 0xffffffff, blocks: [][2]uint32{{x32Bit, x32Bit | 511}, {x32Bit | 512, 0xffffffff}},
	},
	specs.ArchX86: {
		name: specs.ArchX86, audit: auditArchI386, table: sysX86,
		lo: 0, hi: 0xffffffff, blocks: [][2]uint32{{0, 0xffffffff}},
	},
	specs.ArchAARCH64: {
		name: specs.ArchAARCH64, audit: auditArchAArch64, table: sysAArch64, wide: true,
		lo: 0, hi: 0xffffffff, blocks: [][2]uint32{{0, 0xffffffff}},
	},
	specs.ArchARM: {
		name: specs.ArchARM, audit: auditArchARM, table: sysARM,
		lo: 0, hi: 0xffffffff, blocks: [][2]uint32{{0, 0x0effff}, {0x0f0000, 0xffffffff}},
	},
}

// knownArches are the SCMP_ARCH_* names a spec may carry; those without an
// entry in archs are accepted and ignored.
var knownArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true, specs.ArchARM: true,
	specs.ArchAARCH64: true, specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
	specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true, specs.ArchS390X: true,
	specs.ArchPARISC: true, specs.ArchPARISC64: true, specs.ArchRISCV64: true,
	specs.ArchLOONGARCH64: true, specs.ArchM68K: true, specs.ArchSH: true, specs.ArchSHEB: true,
}

// nativeArch is the SCMP_ARCH_* name of runtime.GOARCH, or "".
func nativeArch() specs.Arch { return goarchToArch(runtime.GOARCH) }

func goarchToArch(goarch string) specs.Arch {
	switch goarch {
	case "amd64":
		return specs.ArchX86_64
	case "386":
		return specs.ArchX86
	case "arm64":
		return specs.ArchAARCH64
	case "arm":
		return specs.ArchARM
	}
	return ""
}

// enosysRanges returns, per block, the numbers above the highest known one.
func (a *archInfo) enosysRanges() [][2]uint32 {
	table := a.table()
	nrs := make([]uint32, 0, len(table))
	for _, nr := range table {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	var out [][2]uint32
	for _, b := range a.blocks {
		top, found := uint32(0), false
		for _, nr := range nrs {
			if nr >= b[0] && nr <= b[1] {
				top, found = nr, true
			}
		}
		if found && top < b[1] {
			out = append(out, [2]uint32{top + 1, b[1]})
		}
	}
	return out
}
