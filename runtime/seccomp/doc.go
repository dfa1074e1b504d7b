// Package seccomp compiles the seccomp section of an OCI runtime spec into a
// classic BPF program and loads it into the kernel, in pure Go (no libseccomp,
// no cgo); it also provides Docker's default profile.
//
// # Program shape
//
// The program first checks seccomp_data.arch against each listed
// architecture (the native one first) and then the syscall number. For
// AUDIT_ARCH_X86_64 numbers with the x32 bit (0x40000000) set go to the x32
// section when SCMP_ARCH_X32 is listed and get the bad-arch action
// otherwise, so x32 calls never pass as x86_64 ones. Within an architecture
// the syscall number is found by a binary search over number ranges; each
// range ends in a return or in the syscall's argument rules.
//
// # Semantics
//
//   - Conditions of one rule are AND-ed (also several on the same argument).
//     Rules for one syscall are tried in spec order, rules with conditions
//     before the unconditional one, and the first that matches decides; if
//     none matches the default action applies. This is what libseccomp does
//     when the rules agree and gives "allow socket, but deny AF_VSOCK" its
//     intuitive meaning when they do not.
//   - Arguments are compared as 64-bit values on x86_64, x32 and aarch64.
//     On the 32-bit x86 and arm the kernel zero-extends arguments, so the
//     high word is treated as 0: a condition that can never hold drops its
//     rule for that arch, one that always holds is left out.
//   - SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD. SCMP_ACT_ERRNO returns errnoRet
//     (default EPERM); SCMP_ACT_TRACE passes errnoRet (default EPERM) as the
//     tracer's message, as runc does. errnoRet on other actions is an error.
//   - Architectures: SCMP_ARCH_X86_64, X86, X32, AARCH64 and ARM are
//     compiled. Other valid SCMP_ARCH_* names are ignored (profiles list
//     many); their calls, like those of any arch not listed, get the
//     bad-arch action SECCOMP_RET_KILL_PROCESS. An unknown name is an error.
//     With no architectures listed only the native one (runtime.GOARCH) is
//     allowed, as libseccomp and runc do; compat arches must be listed.
//   - Syscall names unknown on an arch are skipped for that arch (profiles
//     name syscalls of many kernels and arches); an empty or malformed name
//     is an error.
//   - When the default action is SCMP_ACT_ERRNO, numbers above the highest
//     syscall this package knows for the arch return ENOSYS instead (as
//     runc's patchbpf does), so that libc falls back from syscalls newer than
//     the profile, such as clone3. Numbers are counted per block: x32 has
//     the common block (up to 511) and its own (512 and up); arm has the
//     normal block and the private one at 0x0f0000.
//
// # Loading
//
// Filter.Load applies the filter to the calling thread (all threads with
// SECCOMP_FILTER_FLAG_TSYNC), so call it from a goroutine locked with
// runtime.LockOSThread, after prctl(PR_SET_NO_NEW_PRIVS, 1) unless the
// caller holds CAP_SYS_ADMIN, and as late as possible: everything the
// process does afterwards, including the runtime's own work before
// execve, passes through the filter. With a NOTIFY rule Load returns the
// listener fd, which must reach a supervisor that does not itself run
// under the filter (or the notified calls block forever).
//
// As with libseccomp, arguments are compared as the full 64-bit register
// on 64-bit arches, even for syscalls whose argument is a C int, so a rule
// on an int argument can be sidestepped by setting the high bits; treat
// argument rules (Docker's AF_VSOCK rule, for instance) as hardening, not
// as a boundary.
//
// The syscall tables in zsyscalls.go are generated from golang.org/x/sys;
// see internal/mksyscalls.
package seccomp

//go:generate go run ./internal/mksyscalls -o zsyscalls.go
