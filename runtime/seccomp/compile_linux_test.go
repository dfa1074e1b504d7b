package seccomp

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func uptr(u uint) *uint { return &u }

func arg(i uint, op specs.LinuxSeccompOperator, v, v2 uint64) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: i, Op: op, Value: v, ValueTwo: v2}
}

func sys(action specs.LinuxSeccompAction, errno *uint, names []string, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: names, Action: action, ErrnoRet: errno, Args: args}
}

// testSpec exercises actions, operators and rule ordering.
func testSpec(arches ...specs.Arch) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uptr(1),
		Architectures:   arches,
		Syscalls: []specs.LinuxSyscall{
			sys(specs.ActAllow, nil, []string{"read", "write", "frobnicate_not_a_syscall"}),
			sys(specs.ActErrno, uptr(11), []string{"getpriority"}, arg(0, specs.OpEqualTo, 0x1_0000_0002, 0)),
			sys(specs.ActErrno, uptr(12), []string{"getpriority"},
				arg(0, specs.OpGreaterThan, 5, 0), arg(0, specs.OpLessEqual, 0x1_0000_0000, 0)),
			sys(specs.ActAllow, nil, []string{"kill"}, arg(1, specs.OpMaskedEqual, 0xff00_0000_00ff, 0x1200_0000_0034)),
			sys(specs.ActTrap, nil, []string{"setpgid"}, arg(0, specs.OpLessThan, 0x1_0000_0000, 0)),
			sys(specs.ActLog, nil, []string{"setuid"}, arg(0, specs.OpNotEqual, 0x1_0000_0000, 0)),
			sys(specs.ActKillProcess, nil, []string{"setgid"}, arg(0, specs.OpGreaterEqual, 0x2_0000_0005, 0)),
			sys(specs.ActAllow, nil, []string{"uname"}, arg(0, specs.OpEqualTo, 1, 0)),
			sys(specs.ActAllow, nil, []string{"uname"}, arg(1, specs.OpEqualTo, 2, 0)),
			sys(specs.ActAllow, nil, []string{"socket"}),
			sys(specs.ActErrno, uptr(97), []string{"socket"}, arg(0, specs.OpEqualTo, 40, 0)),
			sys(specs.ActErrno, uptr(99), []string{"mkdirat"}),
			sys(specs.ActNotify, nil, []string{"getppid"}),
			sys(specs.ActTrace, uptr(7), []string{"getpid"}),
			sys(specs.ActKill, nil, []string{"reboot"}),
			sys(specs.ActKillThread, nil, []string{"sync"}),
			sys(specs.ActTrace, nil, []string{"fsync"}),
			sys(specs.ActErrno, nil, []string{"fdatasync"}),
			sys(specs.ActAllow, nil, []string{"lseek"}, arg(2, specs.OpLessEqual, 2, 0), arg(1, specs.OpGreaterEqual, 0x8000_0000_0000_0000, 0)),
		},
	}
}

const (
	amd64 = auditArchX86_64
	i386  = auditArchI386
	a64   = auditArchAArch64
	arm32 = auditArchARM
)

type tcase struct {
	name string
	arch uint32
	nr   uint32
	args [6]uint64
	want uint32
}

func nr64(name string) uint32  { return sysX86_64()[name] }
func nrx32(name string) uint32 { return sysX32()[name] }
func nr32(name string) uint32  { return sysX86()[name] }

func check(t *testing.T, prog []unix.SockFilter, cases []tcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(t, prog, data{nr: int32(c.nr), arch: c.arch, args: c.args})
			if got != c.want {
				t.Errorf("nr %#x arch %#x args %#x: got %#x, want %#x\n%s", c.nr, c.arch, c.args, got, c.want, dump(prog))
			}
		})
	}
}

const (
	allow = retAllow
	deny  = retErrno | 1
	nosys = retErrno | enosys
	bad   = retBadArch
)

func TestCompileActionsAndArgs(t *testing.T) {
	f, err := Compile(testSpec(specs.ArchX86_64, specs.ArchX86, specs.ArchX32))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Notify {
		t.Error("Notify not set for a spec with SCMP_ACT_NOTIFY")
	}
	check(t, f.Prog, []tcase{
		{"read allowed", amd64, nr64("read"), [6]uint64{}, allow},
		{"write allowed", amd64, nr64("write"), [6]uint64{}, allow},
		{"openat default", amd64, nr64("openat"), [6]uint64{}, deny},
		{"mkdirat errno 99", amd64, nr64("mkdirat"), [6]uint64{}, retErrno | 99},
		{"getppid notify", amd64, nr64("getppid"), [6]uint64{}, retUserNotif},
		{"getpid trace 7", amd64, nr64("getpid"), [6]uint64{}, retTrace | 7},
		{"fsync trace default EPERM", amd64, nr64("fsync"), [6]uint64{}, retTrace | 1},
		{"fdatasync errno default EPERM", amd64, nr64("fdatasync"), [6]uint64{}, retErrno | 1},
		{"reboot kill", amd64, nr64("reboot"), [6]uint64{}, retKillThread},
		{"sync kill thread", amd64, nr64("sync"), [6]uint64{}, retKillThread},

		{"eq 64-bit match", amd64, nr64("getpriority"), [6]uint64{0x1_0000_0002}, retErrno | 11},
		{"eq high word differs", amd64, nr64("getpriority"), [6]uint64{0x2_0000_0002}, deny},
		{"eq low word only", amd64, nr64("getpriority"), [6]uint64{2}, deny},
		{"gt and le in range", amd64, nr64("getpriority"), [6]uint64{6}, retErrno | 12},
		{"le boundary", amd64, nr64("getpriority"), [6]uint64{0x1_0000_0000}, retErrno | 12},
		{"le above by high word", amd64, nr64("getpriority"), [6]uint64{0x1_0000_0001}, deny},
		{"gt boundary fails", amd64, nr64("getpriority"), [6]uint64{5}, deny},
		{"gt by high word", amd64, nr64("getpriority"), [6]uint64{0x1_0000_0000_0000}, deny},

		{"masked eq match", amd64, nr64("kill"), [6]uint64{0, 0x1234_5678_9a34}, allow},
		{"masked eq low mismatch", amd64, nr64("kill"), [6]uint64{0, 0x1234_5678_9a35}, deny},
		{"masked eq high mismatch", amd64, nr64("kill"), [6]uint64{0, 0x1334_5678_9a34}, deny},

		{"lt high below", amd64, nr64("setpgid"), [6]uint64{0xffff_ffff}, retTrap},
		{"lt equal fails", amd64, nr64("setpgid"), [6]uint64{0x1_0000_0000}, deny},
		{"lt high above fails", amd64, nr64("setpgid"), [6]uint64{0x1_0000_0001}, deny},

		{"ne differs low", amd64, nr64("setuid"), [6]uint64{0}, retLog},
		{"ne differs high", amd64, nr64("setuid"), [6]uint64{0x2_0000_0000}, retLog},
		{"ne equal", amd64, nr64("setuid"), [6]uint64{0x1_0000_0000}, deny},

		{"ge equal", amd64, nr64("setgid"), [6]uint64{0x2_0000_0005}, retKillProcess},
		{"ge high above low below", amd64, nr64("setgid"), [6]uint64{0x3_0000_0000}, retKillProcess},
		{"ge high equal low below", amd64, nr64("setgid"), [6]uint64{0x2_0000_0004}, deny},
		{"ge high below low above", amd64, nr64("setgid"), [6]uint64{0x1_ffff_ffff}, deny},

		{"two-arg and: both hold", amd64, nr64("lseek"), [6]uint64{0, 1 << 63, 2}, allow},
		{"two-arg and: one fails", amd64, nr64("lseek"), [6]uint64{0, 1 << 63, 3}, deny},
		{"two-arg and: other fails", amd64, nr64("lseek"), [6]uint64{0, 1<<63 - 1, 2}, deny},

		{"rules or: first", amd64, nr64("uname"), [6]uint64{1, 0}, allow},
		{"rules or: second", amd64, nr64("uname"), [6]uint64{0, 2}, allow},
		{"rules or: neither", amd64, nr64("uname"), [6]uint64{0, 0}, deny},

		{"conditional before unconditional", amd64, nr64("socket"), [6]uint64{40}, retErrno | 97},
		{"unconditional after conditional", amd64, nr64("socket"), [6]uint64{2}, allow},

		{"gap below max: default", amd64, 400, [6]uint64{}, deny},
		{"above max: ENOSYS", amd64, 1000, [6]uint64{}, nosys},
		{"far above max: ENOSYS", amd64, 0x3fff_ffff, [6]uint64{}, nosys},

		{"x32 read allowed", amd64, nrx32("read"), [6]uint64{}, allow},
		{"x32 has bit", amd64, x32Bit | 0, [6]uint64{}, allow},
		{"x32 rt_sigaction is 512", amd64, nrx32("rt_sigaction"), [6]uint64{}, deny},
		{"x32 64-bit args", amd64, nrx32("getpriority"), [6]uint64{0x1_0000_0002}, retErrno | 11},
		{"x32 above common max", amd64, x32Bit | 500, [6]uint64{}, nosys},
		{"x32 in private range", amd64, x32Bit | 530, [6]uint64{}, deny},
		{"x32 above private max", amd64, x32Bit | 600, [6]uint64{}, nosys},
		{"x32 nr -1", amd64, 0xffff_ffff, [6]uint64{}, nosys},

		{"i386 read", i386, nr32("read"), [6]uint64{}, allow},
		{"i386 openat default", i386, nr32("openat"), [6]uint64{}, deny},
		{"i386 eq with high value never", i386, nr32("getpriority"), [6]uint64{2}, deny},
		{"i386 gt/le: le always", i386, nr32("getpriority"), [6]uint64{6}, retErrno | 12},
		{"i386 ne with high value always", i386, nr32("setuid"), [6]uint64{0}, retLog},
		{"i386 ge with high value never", i386, nr32("setgid"), [6]uint64{0xffff_ffff}, deny},
		{"i386 lt with high value always", i386, nr32("setpgid"), [6]uint64{0xffff_ffff}, retTrap},
		{"i386 masked eq with high datum never", i386, nr32("kill"), [6]uint64{0, 0x34}, deny},
		{"i386 above max", i386, 5000, [6]uint64{}, nosys},

		{"aarch64 not listed", a64, sysAArch64()["read"], [6]uint64{}, bad},
		{"arm not listed", arm32, sysARM()["read"], [6]uint64{}, bad},
		{"unknown arch", 0x1234, 0, [6]uint64{}, bad},
	})
}

func TestCompileX32NotListed(t *testing.T) {
	f, err := Compile(testSpec(specs.ArchX86_64))
	if err != nil {
		t.Fatal(err)
	}
	check(t, f.Prog, []tcase{
		{"x86_64 read", amd64, nr64("read"), [6]uint64{}, allow},
		{"x32 read is bad arch", amd64, nrx32("read"), [6]uint64{}, bad},
		{"x32 bit with unknown nr", amd64, x32Bit | 1000, [6]uint64{}, bad},
		{"i386 not listed", i386, nr32("read"), [6]uint64{}, bad},
	})
	f, err = Compile(testSpec(specs.ArchX32))
	if err != nil {
		t.Fatal(err)
	}
	check(t, f.Prog, []tcase{
		{"only x32: x86_64 read is bad arch", amd64, nr64("read"), [6]uint64{}, bad},
		{"only x32: x32 read", amd64, nrx32("read"), [6]uint64{}, allow},
	})
}

func TestCompileARM(t *testing.T) {
	f, err := Compile(testSpec(specs.ArchAARCH64, specs.ArchARM, specs.ArchS390X))
	if err != nil {
		t.Fatal(err)
	}
	s := testSpec(specs.ArchARM)
	s.Syscalls = append(s.Syscalls, sys(specs.ActAllow, nil, []string{"cacheflush"}))
	farm, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	check(t, f.Prog, []tcase{
		{"aarch64 read", a64, sysAArch64()["read"], [6]uint64{}, allow},
		{"aarch64 64-bit eq", a64, sysAArch64()["getpriority"], [6]uint64{0x1_0000_0002}, retErrno | 11},
		{"aarch64 above max", a64, 2000, [6]uint64{}, nosys},
		{"arm read", arm32, sysARM()["read"], [6]uint64{}, allow},
		{"arm ignored s390x means x86_64 is bad", amd64, nr64("read"), [6]uint64{}, bad},
	})
	check(t, farm.Prog, []tcase{
		{"arm cacheflush", arm32, 0x0f0002, [6]uint64{}, allow},
		{"arm private unknown below max", arm32, 0x0f0001, [6]uint64{}, deny},
		{"arm private above max", arm32, 0x0f0100, [6]uint64{}, nosys},
		{"arm between blocks", arm32, 0x1000, [6]uint64{}, nosys},
	})
}

func TestCompileNoEnosysWithoutErrnoDefault(t *testing.T) {
	for _, def := range []specs.LinuxSeccompAction{specs.ActAllow, specs.ActKillProcess, specs.ActLog} {
		f, err := Compile(&specs.LinuxSeccomp{
			DefaultAction: def,
			Architectures: []specs.Arch{specs.ArchX86_64},
			Syscalls:      []specs.LinuxSyscall{sys(specs.ActErrno, uptr(5), []string{"mkdirat"})},
		})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := action(def, nil)
		check(t, f.Prog, []tcase{
			{string(def) + " high nr", amd64, 1000, [6]uint64{}, want},
			{string(def) + " listed", amd64, nr64("mkdirat"), [6]uint64{}, retErrno | 5},
			{string(def) + " unlisted", amd64, nr64("openat"), [6]uint64{}, want},
		})
	}
}

func TestCompileNativeArchWhenNoneListed(t *testing.T) {
	native := nativeArch()
	if native == "" {
		t.Skip("no native arch support")
	}
	f, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow})
	if err != nil {
		t.Fatal(err)
	}
	ai := archs[native]
	check(t, f.Prog, []tcase{
		{"native", ai.audit, ai.table()["read"], [6]uint64{}, allow},
		{"other arch", 0x1234, 0, [6]uint64{}, bad},
	})
}

// Many distinct argument rules make blocks longer than a conditional jump
// can span; every syscall must still be reached.
func TestCompileLongJumps(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86_64}}
	var cases []tcase
	for name, nr := range sysX86_64() {
		v := uint64(nr)*3 + 1<<40
		s.Syscalls = append(s.Syscalls, sys(specs.ActErrno, uptr(uint(nr%4000)+1), []string{name}, arg(uint(nr%6), specs.OpEqualTo, v, 0)))
		var args [6]uint64
		args[nr%6] = v
		cases = append(cases, tcase{name, amd64, nr, args, retErrno | (nr%4000 + 1)})
		cases = append(cases, tcase{name + " no match", amd64, nr, [6]uint64{}, deny})
	}
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Prog) < 1000 {
		t.Fatalf("program has only %d instructions; the test needs long ones", len(f.Prog))
	}
	check(t, f.Prog, cases)
}

func TestCompileFlags(t *testing.T) {
	for _, tc := range []struct {
		flags  []specs.LinuxSeccompFlag
		notify bool
		want   uint
	}{
		{nil, false, 0},
		{[]specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}, false, unix.SECCOMP_FILTER_FLAG_TSYNC},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}, false,
			unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}, false, 0},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}, true, unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
	} {
		t.Run(fmt.Sprint(tc.flags, tc.notify), func(t *testing.T) {
			s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: tc.flags}
			if tc.notify {
				s.Syscalls = []specs.LinuxSyscall{sys(specs.ActNotify, nil, []string{"mkdirat"})}
			}
			f, err := Compile(s)
			if err != nil {
				t.Fatal(err)
			}
			if f.Flags != tc.want || f.Notify != tc.notify {
				t.Errorf("flags %#x notify %v, want %#x %v", f.Flags, f.Notify, tc.want, tc.notify)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	ok := func(mod func(s *specs.LinuxSeccomp)) *specs.LinuxSeccomp {
		s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86_64}}
		mod(s)
		return s
	}
	for _, tc := range []struct {
		name string
		spec *specs.LinuxSeccomp
		want string
	}{
		{"nil", nil, "seccomp: no seccomp section"},
		{"no default", ok(func(s *specs.LinuxSeccomp) { s.DefaultAction = "" }), "defaultAction: missing action"},
		{"bad default", ok(func(s *specs.LinuxSeccomp) { s.DefaultAction = "SCMP_ACT_NOPE" }), `defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{"notify default", ok(func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActNotify }), "defaultAction SCMP_ACT_NOTIFY is not allowed"},
		{"default errno too big", ok(func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = uptr(5000) }), "errnoRet 5000 above 4095"},
		{"default errnoRet with allow", ok(func(s *specs.LinuxSeccomp) { s.DefaultAction, s.DefaultErrnoRet = specs.ActAllow, uptr(1) }), "errnoRet is only valid"},
		{"flag", ok(func(s *specs.LinuxSeccomp) { s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"} }), `unknown flag "SECCOMP_FILTER_FLAG_BOGUS"`},
		{"arch", ok(func(s *specs.LinuxSeccomp) { s.Architectures = []specs.Arch{"SCMP_ARCH_VAX"} }), `unknown architecture "SCMP_ARCH_VAX"`},
		{"only unsupported arches", ok(func(s *specs.LinuxSeccomp) { s.Architectures = []specs.Arch{specs.ArchS390X} }), "none of the architectures"},
		{"operator", ok(func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{sys(specs.ActAllow, nil, []string{"foo"}, arg(0, "SCMP_CMP_XX", 0, 0))}
		}), `seccomp: syscall "foo": unknown operator "SCMP_CMP_XX"`},
		{"index", ok(func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{sys(specs.ActAllow, nil, []string{"read"}, arg(6, specs.OpEqualTo, 0, 0))}
		}), `syscall "read": argument index 6 out of range`},
		{"action", ok(func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{sys("SCMP_ACT_MAYBE", nil, []string{"read"})}
		}), `syscall "read": unknown action "SCMP_ACT_MAYBE"`},
		{"errnoRet on allow", ok(func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{sys(specs.ActAllow, uptr(3), []string{"read"})}
		}), `syscall "read": errnoRet is only valid`},
		{"empty name", ok(func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{sys(specs.ActAllow, nil, []string{"read", ""})}
		}), `syscall name "" in syscalls [read ] is malformed`},
		{"garbage name", ok(func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{sys(specs.ActAllow, nil, []string{"read; rm"})}
		}), `syscall name "read; rm"`},
		{"no names", ok(func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{sys(specs.ActAllow, nil, nil)}
		}), "has no names"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.spec)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q, want it to contain %q and wrap ErrInvalid", err, tc.want)
			}
		})
	}
}

// The generated tables agree with golang.org/x/sys for the native arch and
// with the kernel's x32 header when it is installed.
func TestTables(t *testing.T) {
	if ai := archs[nativeArch()]; ai != nil {
		for name, want := range map[string]uint32{
			"read": unix.SYS_READ, "openat": unix.SYS_OPENAT, "clone": unix.SYS_CLONE,
			"getpriority": unix.SYS_GETPRIORITY, "seccomp": unix.SYS_SECCOMP,
		} {
			if got := ai.table()[name]; got != want {
				t.Errorf("%s %s = %d, want %d", ai.name, name, got, want)
			}
		}
	}
	f, err := os.Open("/usr/include/x86_64-linux-gnu/asm/unistd_x32.h")
	if err != nil {
		t.Log("no unistd_x32.h; skipping the x32 cross-check")
		return
	}
	defer f.Close()
	re := regexp.MustCompile(`^#define __NR_(\w+) \(__X32_SYSCALL_BIT \+ (\d+)\)`)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[2])
		n++
		if got, ok := sysX32()[m[1]]; !ok || got != x32Bit|uint32(v) {
			t.Errorf("x32 %s = %#x (known %v), header says %#x", m[1], got, ok, x32Bit|v)
		}
	}
	if n < 300 {
		t.Errorf("only %d x32 syscalls read from the header", n)
	}
}
