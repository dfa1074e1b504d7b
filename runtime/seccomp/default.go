package seccomp

import (
	"runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// profileRule is one entry of the default profile with Docker's
// include/exclude conditions. A rule is used when the GOARCH is in arches
// (if any), every cap in caps is held, the kernel is at least minKernel,
// no cap in exceptCaps is held and the GOARCH is not in exceptArches.
type profileRule struct {
	names        []string
	action       specs.LinuxSeccompAction
	errnoRet     uint
	args         []specs.LinuxSeccompArg
	arches       []string
	caps         []string
	minKernel    [2]int
	exceptCaps   []string
	exceptArches []string
}

const (
	afVsock = 40

	// CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWCGROUP
	cloneNamespaceFlags = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000
)

// defaultAllowed is Docker's unconditional allow list (moby
// profiles/seccomp/default.json), without io_uring_* which Docker 25
// removed (moby#46762), plus the later additions fchmodat2, futex_wake,
// futex_wait, futex_requeue, map_shadow_stack, cachestat, mseal, statmount
// and listmount. socket and personality are allowed by the argument rules
// below.
var defaultAllowed = []string{
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk",
	"cachestat", "capget", "capset", "chdir", "chmod", "chown", "chown32",
	"clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
	"clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
	"close", "close_range", "connect", "copy_file_range", "creat",
	"dup", "dup2", "dup3",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
	"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
	"execve", "execveat", "exit", "exit_group",
	"faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
	"fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
	"fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
	"fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
	"fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
	"futex_wait", "futex_waitv", "futex_wake", "futimesat",
	"getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid",
	"geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
	"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
	"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
	"getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
	"gettimeofday", "getuid", "getuid32", "getxattr",
	"inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
	"io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
	"io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
	"ipc", "kill",
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
	"lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr",
	"llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
	"madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
	"mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
	"mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
	"mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
	"mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
	"munlockall", "munmap",
	"name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
	"open", "openat", "openat2",
	"pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
	"pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
	"preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64",
	"pwrite64", "pwritev", "pwritev2",
	"read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
	"recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
	"renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
	"rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
	"sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
	"sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
	"sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
	"semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
	"sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
	"setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
	"setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
	"setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
	"setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
	"shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
	"signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice",
	"stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat",
	"sync", "sync_file_range", "syncfs", "sysinfo",
	"tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
	"timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
	"timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
	"timerfd_settime64", "times", "tkill", "truncate", "truncate64",
	"ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
	"utimensat_time64", "utimes",
	"vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
}

func argEq(index uint, v uint64) []specs.LinuxSeccompArg {
	return []specs.LinuxSeccompArg{{Index: index, Value: v, Op: specs.OpEqualTo}}
}

// defaultRules are the conditional parts of Docker's default profile.
var defaultRules = []profileRule{
	{names: []string{"process_vm_readv", "process_vm_writev", "ptrace"}, minKernel: [2]int{4, 8}},
	{names: []string{"socket"}, args: []specs.LinuxSeccompArg{{Index: 0, Value: afVsock, Op: specs.OpNotEqual}}},
	// personality: PER_LINUX, UNAME26, PER_LINUX32, UNAME26|PER_LINUX32, and the query 0xffffffff.
	{names: []string{"personality"}, args: argEq(0, 0x0)},
	{names: []string{"personality"}, args: argEq(0, 0x0008)},
	{names: []string{"personality"}, args: argEq(0, 0x20000)},
	{names: []string{"personality"}, args: argEq(0, 0x20008)},
	{names: []string{"personality"}, args: argEq(0, 0xffffffff)},
	{names: []string{"sync_file_range2", "swapcontext"}, arches: []string{"ppc64le"}},
	{names: []string{"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"}, arches: []string{"arm", "arm64"}},
	{names: []string{"arch_prctl"}, arches: []string{"amd64", "x32"}},
	{names: []string{"modify_ldt"}, arches: []string{"amd64", "x32", "x86"}},
	{names: []string{"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"}, arches: []string{"s390", "s390x"}},
	{names: []string{"riscv_flush_icache"}, arches: []string{"riscv64"}},
	{names: []string{"open_by_handle_at"}, caps: []string{"CAP_DAC_READ_SEARCH"}},
	{names: []string{
		"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
		"lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
		"quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog",
		"umount", "umount2", "unshare",
	}, caps: []string{"CAP_SYS_ADMIN"}},
	// Without CAP_SYS_ADMIN, clone may not create namespaces.
	{names: []string{"clone"}, args: []specs.LinuxSeccompArg{{Index: 0, Value: cloneNamespaceFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}},
		exceptCaps: []string{"CAP_SYS_ADMIN"}, exceptArches: []string{"s390", "s390x"}},
	{names: []string{"clone"}, args: []specs.LinuxSeccompArg{{Index: 1, Value: cloneNamespaceFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}},
		arches: []string{"s390", "s390x"}, exceptCaps: []string{"CAP_SYS_ADMIN"}},
	// clone3's flags are behind a pointer: make libc fall back to clone.
	{names: []string{"clone3"}, action: specs.ActErrno, errnoRet: enosys, exceptCaps: []string{"CAP_SYS_ADMIN"}},
	{names: []string{"reboot"}, caps: []string{"CAP_SYS_BOOT"}},
	{names: []string{"chroot"}, caps: []string{"CAP_SYS_CHROOT"}},
	{names: []string{"delete_module", "init_module", "finit_module"}, caps: []string{"CAP_SYS_MODULE"}},
	{names: []string{"acct"}, caps: []string{"CAP_SYS_PACCT"}},
	{names: []string{"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"}, caps: []string{"CAP_SYS_PTRACE"}},
	{names: []string{"iopl", "ioperm"}, caps: []string{"CAP_SYS_RAWIO"}},
	{names: []string{"settimeofday", "stime", "clock_settime", "clock_settime64"}, caps: []string{"CAP_SYS_TIME"}},
	{names: []string{"vhangup"}, caps: []string{"CAP_SYS_TTY_CONFIG"}},
	{names: []string{"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}, caps: []string{"CAP_SYS_NICE"}},
	{names: []string{"syslog"}, caps: []string{"CAP_SYSLOG"}},
	{names: []string{"bpf"}, caps: []string{"CAP_BPF"}},
	{names: []string{"perf_event_open"}, caps: []string{"CAP_PERFMON"}},
}

// defaultArches is Docker's archMap: the native arch and its compat arches.
func defaultArches(goarch string) []specs.Arch {
	switch goarch {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	}
	if a := goarchToArch(goarch); a != "" {
		return []specs.Arch{a}
	}
	return nil
}

// Default returns Docker's default seccomp profile for runtime.GOARCH and
// the running kernel, with the capability-conditional rules resolved
// against caps (names like "CAP_SYS_ADMIN"; the "CAP_" prefix and case are
// optional). Its default action is SCMP_ACT_ERRNO with EPERM.
func Default(caps []string) *specs.LinuxSeccomp {
	return defaultProfile(runtime.GOARCH, caps, kernelVersion())
}

// defaultProfile is Default for a given GOARCH and kernel version.
func defaultProfile(goarch string, caps []string, kernel [2]int) *specs.LinuxSeccomp {
	held := map[string]bool{}
	for _, c := range caps {
		c = strings.ToUpper(c)
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		held[c] = true
	}
	eperm := uint(eperm)
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Architectures:   defaultArches(goarch),
		Syscalls: []specs.LinuxSyscall{{
			Names:  slices.Clone(defaultAllowed),
			Action: specs.ActAllow,
		}},
	}
rules:
	for _, r := range defaultRules {
		if len(r.arches) > 0 && !slices.Contains(r.arches, goarch) || slices.Contains(r.exceptArches, goarch) {
			continue
		}
		for _, c := range r.caps {
			if !held[c] {
				continue rules
			}
		}
		for _, c := range r.exceptCaps {
			if held[c] {
				continue rules
			}
		}
		if kernel[0] < r.minKernel[0] || kernel[0] == r.minKernel[0] && kernel[1] < r.minKernel[1] {
			continue
		}
		sc := specs.LinuxSyscall{Names: slices.Clone(r.names), Action: r.action, Args: slices.Clone(r.args)}
		if sc.Action == "" {
			sc.Action = specs.ActAllow
		}
		if sc.Action == specs.ActErrno {
			e := r.errnoRet
			sc.ErrnoRet = &e
		}
		s.Syscalls = append(s.Syscalls, sc)
	}
	return s
}
