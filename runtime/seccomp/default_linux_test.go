package seccomp

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Headline facts from Docker's documentation ("Seccomp security profiles
// for Docker": significant syscalls blocked by the default profile).
func TestDefaultProfileFacts(t *testing.T) {
	const (
		cloneNewUser = 0x10000000
		sigchld      = 17
	)
	for _, goarch := range []string{"amd64", "arm64"} {
		aname := goarchToArch(goarch)
		ai := archs[aname]
		nr := func(name string) uint32 {
			n, ok := ai.table()[name]
			if !ok {
				t.Fatalf("%s has no %s", aname, name)
			}
			return n
		}
		type fact struct {
			name string
			caps []string
			sys  string
			args [6]uint64
			want uint32
		}
		facts := []fact{
			{"read", nil, "read", [6]uint64{}, allow},
			{"write", nil, "write", [6]uint64{}, allow},
			{"execve", nil, "execve", [6]uint64{}, allow},
			{"openat", nil, "openat", [6]uint64{}, allow},
			{"getpid", nil, "getpid", [6]uint64{}, allow},
			{"clone thread", nil, "clone", [6]uint64{0x3d0f00}, allow},
			{"clone fork", nil, "clone", [6]uint64{sigchld}, allow},
			{"clone newuser", nil, "clone", [6]uint64{cloneNewUser | sigchld}, deny},
			{"clone newuser with CAP_SYS_ADMIN", []string{"CAP_SYS_ADMIN"}, "clone", [6]uint64{cloneNewUser}, allow},
			{"clone3 ENOSYS", nil, "clone3", [6]uint64{}, nosys},
			{"clone3 with CAP_SYS_ADMIN", []string{"CAP_SYS_ADMIN"}, "clone3", [6]uint64{}, allow},
			{"keyctl", nil, "keyctl", [6]uint64{}, deny},
			{"add_key", nil, "add_key", [6]uint64{}, deny},
			{"request_key", nil, "request_key", [6]uint64{}, deny},
			{"bpf", nil, "bpf", [6]uint64{}, deny},
			{"bpf with CAP_BPF", []string{"CAP_BPF"}, "bpf", [6]uint64{}, allow},
			{"kexec_load", nil, "kexec_load", [6]uint64{}, deny},
			{"mount", nil, "mount", [6]uint64{}, deny},
			{"mount with SYS_ADMIN", []string{"sys_admin"}, "mount", [6]uint64{}, allow},
			{"umount2", nil, "umount2", [6]uint64{}, deny},
			{"unshare", nil, "unshare", [6]uint64{cloneNewUser}, deny},
			{"setns", nil, "setns", [6]uint64{}, deny},
			{"reboot", nil, "reboot", [6]uint64{}, deny},
			{"reboot with CAP_SYS_BOOT", []string{"CAP_SYS_BOOT"}, "reboot", [6]uint64{}, allow},
			{"userfaultfd", nil, "userfaultfd", [6]uint64{}, deny},
			{"perf_event_open", nil, "perf_event_open", [6]uint64{}, deny},
			{"perf_event_open with CAP_PERFMON", []string{"CAP_PERFMON"}, "perf_event_open", [6]uint64{}, allow},
			{"ptrace (kernel >= 4.8)", nil, "ptrace", [6]uint64{}, allow},
			{"init_module", nil, "init_module", [6]uint64{}, deny},
			{"init_module with CAP_SYS_MODULE", []string{"CAP_SYS_MODULE"}, "init_module", [6]uint64{}, allow},
			{"settimeofday", nil, "settimeofday", [6]uint64{}, deny},
			{"clock_settime with CAP_SYS_TIME", []string{"CAP_SYS_TIME"}, "clock_settime", [6]uint64{}, allow},
			{"chroot", nil, "chroot", [6]uint64{}, deny},
			{"chroot with CAP_SYS_CHROOT", []string{"CAP_SYS_CHROOT"}, "chroot", [6]uint64{}, allow},
			{"acct", nil, "acct", [6]uint64{}, deny},
			{"vhangup", nil, "vhangup", [6]uint64{}, deny},
			{"syslog with CAP_SYSLOG", []string{"CAP_SYSLOG"}, "syslog", [6]uint64{}, allow},
			{"mbind", nil, "mbind", [6]uint64{}, deny},
			{"mbind with CAP_SYS_NICE", []string{"CAP_SYS_NICE"}, "mbind", [6]uint64{}, allow},
			{"kcmp with CAP_SYS_PTRACE", []string{"CAP_SYS_PTRACE"}, "kcmp", [6]uint64{}, allow},
			{"open_by_handle_at", nil, "open_by_handle_at", [6]uint64{}, deny},
			{"io_uring_setup", nil, "io_uring_setup", [6]uint64{}, deny},
			{"socket AF_INET", nil, "socket", [6]uint64{2}, allow},
			{"socket AF_VSOCK", nil, "socket", [6]uint64{40}, deny},
			{"personality PER_LINUX", nil, "personality", [6]uint64{0}, allow},
			{"personality query", nil, "personality", [6]uint64{0xffffffff}, allow},
			{"personality other", nil, "personality", [6]uint64{0x0040000}, deny},
			{"swapon", nil, "swapon", [6]uint64{}, deny},
		}
		if goarch == "amd64" {
			facts = append(facts,
				fact{"arch_prctl", nil, "arch_prctl", [6]uint64{}, allow},
				fact{"iopl", nil, "iopl", [6]uint64{}, deny},
				fact{"iopl with CAP_SYS_RAWIO", []string{"CAP_SYS_RAWIO"}, "iopl", [6]uint64{}, allow},
			)
		}
		for _, f := range facts {
			t.Run(goarch+"/"+f.name, func(t *testing.T) {
				prog, err := Compile(defaultProfile(goarch, f.caps, [2]int{6, 1}))
				if err != nil {
					t.Fatal(err)
				}
				got := run(t, prog.Prog, data{nr: int32(nr(f.sys)), arch: ai.audit, args: f.args})
				if got != f.want {
					t.Errorf("%s(%#x) with %v: got %#x, want %#x", f.sys, f.args[0], f.caps, got, f.want)
				}
			})
		}
	}
}

func TestDefaultProfileShape(t *testing.T) {
	s := defaultProfile("amd64", nil, [2]int{6, 1})
	if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != 1 {
		t.Errorf("default action %s %v, want SCMP_ACT_ERRNO 1", s.DefaultAction, s.DefaultErrnoRet)
	}
	if want := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}; len(s.Architectures) != 3 || s.Architectures[0] != want[0] {
		t.Errorf("architectures %v, want %v", s.Architectures, want)
	}
	if a := defaultProfile("arm64", nil, [2]int{6, 1}).Architectures; len(a) != 2 || a[0] != specs.ArchAARCH64 || a[1] != specs.ArchARM {
		t.Errorf("arm64 architectures %v", a)
	}
	old, err := Compile(defaultProfile("amd64", nil, [2]int{4, 4}))
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, old.Prog, data{nr: int32(sysX86_64()["ptrace"]), arch: amd64}); got != deny {
		t.Errorf("ptrace on kernel 4.4: %#x, want EPERM", got)
	}
	for _, tc := range []struct {
		in   string
		want [2]int
	}{{"6.18.44-fc-v657", [2]int{6, 18}}, {"4.8.0", [2]int{4, 8}}, {"5.15", [2]int{5, 15}}, {"junk", [2]int{}}} {
		if got := parseKernelVersion(tc.in); got != tc.want {
			t.Errorf("parseKernelVersion(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	// Every name in the profile is a syscall on some supported arch or a
	// known arch-specific one, so a typo cannot hide.
	others := map[string]bool{"swapcontext": true, "s390_pci_mmio_read": true, "s390_pci_mmio_write": true,
		"s390_runtime_instr": true, "riscv_flush_icache": true, "sync_file_range2": true}
	names := append([]string{}, defaultAllowed...)
	for _, r := range defaultRules {
		names = append(names, r.names...)
	}
	for _, n := range names {
		found := others[n]
		for _, ai := range archs {
			_, ok := ai.table()[n]
			found = found || ok
		}
		if !found {
			t.Errorf("default profile names %q, which no table knows", n)
		}
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	s := Default(nil)
	var n int
	for b.Loop() {
		f, err := Compile(s)
		if err != nil {
			b.Fatal(err)
		}
		n = len(f.Prog)
	}
	b.ReportMetric(float64(n), "insns")
}
