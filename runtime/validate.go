package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsNames maps spec namespace types to their /proc/<pid>/ns names.
var nsNames = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace:     "pid",
	specs.NetworkNamespace: "net",
	specs.MountNamespace:   "mnt",
	specs.IPCNamespace:     "ipc",
	specs.UTSNamespace:     "uts",
	specs.UserNamespace:    "user",
	specs.CgroupNamespace:  "cgroup",
	specs.TimeNamespace:    "time",
}

var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

const nsfsMagic = 0x6e736673

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	if s.Linux == nil {
		return specs.LinuxNamespace{}, false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns, true
		}
	}
	return specs.LinuxNamespace{}, false
}

// validateSpec checks what the runtime needs before it starts anything, so
// that a bad config.json fails with a clear error and leaves nothing behind.
func validateSpec(s *specs.Spec, bundle string) (rootfs string, err error) {
	if s.Root == nil || s.Root.Path == "" {
		return "", errors.New("root.path is empty")
	}
	rootfs = s.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("rootfs (%s) does not exist", rootfs)
		}
		return "", fmt.Errorf("rootfs (%s): %w", rootfs, err)
	} else if !fi.IsDir() {
		return "", fmt.Errorf("rootfs (%s) is not a directory", rootfs)
	}
	if rootfs, err = filepath.EvalSymlinks(rootfs); err != nil {
		return "", fmt.Errorf("rootfs: %w", err)
	}
	if s.Process == nil {
		return "", errors.New("process is missing from config.json")
	}
	if err := validateProcess(s.Process); err != nil {
		return "", err
	}
	if s.Process.ApparmorProfile != "" && !appArmorEnabled() {
		return "", fmt.Errorf("apparmor profile %q is set, but AppArmor is not enabled on this host", s.Process.ApparmorProfile)
	}
	if s.Linux == nil {
		return "", errors.New("linux section is missing from config.json")
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		if _, ok := nsNames[ns.Type]; !ok {
			return "", fmt.Errorf("namespace %q: unknown namespace type", ns.Type)
		}
		if seen[ns.Type] {
			return "", fmt.Errorf("namespace %q listed twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" {
			var st unix.Statfs_t
			if err := unix.Statfs(ns.Path, &st); err != nil {
				return "", fmt.Errorf("namespace path %s for %s namespace: %w", ns.Path, ns.Type, err)
			}
			if st.Type != nsfsMagic && st.Type != unix.PROC_SUPER_MAGIC {
				return "", fmt.Errorf("namespace path %s for %s namespace: not a namespace file", ns.Path, ns.Type)
			}
		} else if ns.Type == specs.TimeNamespace {
			if _, err := os.Stat("/proc/self/ns/time"); err != nil {
				return "", errors.New("time namespaces are not supported by this kernel")
			}
		}
	}
	if _, ok := hasNamespace(s, specs.MountNamespace); !ok {
		return "", errors.New("a mount namespace is required (add {\"type\": \"mount\"} to linux.namespaces)")
	}
	if ns, ok := hasNamespace(s, specs.UserNamespace); ok && ns.Path == "" {
		if len(s.Linux.UIDMappings) == 0 || len(s.Linux.GIDMappings) == 0 {
			return "", errors.New("user namespace enabled, but no uid or gid mappings found")
		}
	} else if len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0 {
		return "", errors.New("uid/gid mappings given, but no new user namespace is requested")
	}
	if len(s.Linux.TimeOffsets) > 0 {
		if ns, ok := hasNamespace(s, specs.TimeNamespace); !ok || ns.Path != "" {
			return "", errors.New("time offsets need a new time namespace")
		}
	}
	if s.Hostname != "" || s.Domainname != "" {
		if _, ok := hasNamespace(s, specs.UTSNamespace); !ok {
			return "", errors.New("unable to set hostname or domainname without a private UTS namespace")
		}
	}
	for key := range s.Linux.Sysctl {
		if err := validateSysctl(s, key); err != nil {
			return "", err
		}
	}
	for _, m := range s.Mounts {
		if m.Destination == "" {
			return "", fmt.Errorf("mount of %s: destination is empty", m.Source)
		}
	}
	for _, r := range s.Process.Rlimits {
		if _, ok := rlimitNames[r.Type]; !ok {
			return "", fmt.Errorf("rlimit %q: unknown resource", r.Type)
		}
	}
	return rootfs, nil
}

func validateProcess(p *specs.Process) error {
	if len(p.Args) == 0 && p.CommandLine == "" {
		return errors.New("process.args must not be empty")
	}
	if p.Cwd != "" && !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q is not an absolute path", p.Cwd)
	}
	if p.Cwd == "" {
		return errors.New("process.cwd must not be empty")
	}
	return nil
}

// validateSysctl allows only sysctls that are namespaced, and only when the
// container has the namespace they belong to.
func validateSysctl(s *specs.Spec, key string) error {
	k := strings.ReplaceAll(key, "/", ".")
	need := func(t specs.LinuxNamespaceType) error {
		if ns, ok := hasNamespace(s, t); !ok {
			return fmt.Errorf("sysctl %q is not allowed as it conflicts with the host's %s namespace", key, nsNames[t])
		} else if ns.Path != "" {
			return nil
		}
		return nil
	}
	switch {
	case strings.HasPrefix(k, "fs.mqueue.") || strings.HasPrefix(k, "kernel.msg") || strings.HasPrefix(k, "kernel.sem") ||
		strings.HasPrefix(k, "kernel.shm") || k == "kernel.auto_msgmni":
		return need(specs.IPCNamespace)
	case strings.HasPrefix(k, "net."):
		return need(specs.NetworkNamespace)
	case k == "kernel.hostname" || k == "kernel.domainname":
		return need(specs.UTSNamespace)
	}
	return fmt.Errorf("sysctl %q is not in a separate kernel namespace", key)
}
