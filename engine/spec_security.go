package engine

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/runtime/seccomp"
)

// secOpts is what --security-opt asks for.
type secOpts struct {
	noNewPrivs bool
	// seccomp is "" (the default profile), "builtin" (the same),
	// "unconfined" or a profile's JSON (docker's CLI sends the file's
	// content, not its name).
	seccomp  string
	apparmor string
	labels   []string
}

// securityOpts reads --security-opt as docker's daemon does:
// no-new-privileges[=true|false], seccomp=unconfined|builtin|PROFILE-JSON,
// apparmor=PROFILE and label=... (with "=" or the old ":" separator).
func securityOpts(opts []string) (secOpts, error) {
	var so secOpts
	for _, o := range opts {
		if o == "no-new-privileges" {
			so.noNewPrivs = true
			continue
		}
		if o == "disable" {
			so.labels = append(so.labels, "disable")
			continue
		}
		var k, v string
		var ok bool
		if strings.Contains(o, "=") {
			k, v, ok = strings.Cut(o, "=")
		} else if strings.Contains(o, ":") {
			k, v, ok = strings.Cut(o, ":")
		}
		if !ok {
			return secOpts{}, Invalid("invalid --security-opt 1: %q", o)
		}
		switch k {
		case "no-new-privileges":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return secOpts{}, Invalid("invalid --security-opt 2: %q", o)
			}
			so.noNewPrivs = b
		case "seccomp":
			so.seccomp = v
		case "apparmor":
			so.apparmor = v
		case "label":
			so.labels = append(so.labels, v)
		default:
			return secOpts{}, Invalid("invalid --security-opt 2: %q", o)
		}
	}
	return so, nil
}

// seccompProfile is the container's seccomp profile: none when privileged
// or unconfined, docker's default, or the user's profile (docker's
// format) resolved against caps. A profile that does not read or compile
// is an invalid-parameter error.
func (so secOpts) seccompProfile(privileged bool, caps []string) (*specs.LinuxSeccomp, error) {
	switch so.seccomp {
	case "unconfined":
		return nil, nil
	case "", "builtin":
		if privileged {
			return nil, nil
		}
		return seccomp.Default(caps), nil
	}
	if privileged {
		return nil, nil // docker: a privileged container is unconfined
	}
	s, err := seccomp.LoadProfile([]byte(so.seccomp), caps)
	if err != nil {
		return nil, Invalid("%v", err)
	}
	if _, err := seccomp.Compile(s); err != nil {
		return nil, Invalid("seccomp profile: %v", err)
	}
	return s, nil
}

// hostAppArmor reports whether the host's kernel enforces AppArmor.
func hostAppArmor() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

// hostSELinux reports whether SELinux is enabled on the host.
func hostSELinux() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}

// sysctl groups: the ones in the IPC namespace (docker's list), the
// network namespace (net.*) and the UTS namespace.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// checkSysctls allows only namespaced sysctls, and only when the container
// has the namespace of its own: docker's "sysctl 'K=V' is not allowed" and
// "--sysctl K is not allowed in host network namespace".
func checkSysctls(hc *container.HostConfig) error {
	for k, v := range hc.Sysctls {
		switch {
		case ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
			if hc.IpcMode.IsHost() {
				return Invalid("--sysctl %s is not allowed in host IPC namespace", k)
			}
		case strings.HasPrefix(k, "net."):
			if hc.NetworkMode.IsHost() {
				return Invalid("--sysctl %s is not allowed in host network namespace", k)
			}
		case k == "kernel.domainname" || k == "kernel.hostname":
			if hc.UTSMode.IsHost() {
				return Invalid("--sysctl %s is not allowed in host UTS namespace", k)
			}
		default:
			return Invalid("sysctl '%s=%s' is not allowed", k, v)
		}
	}
	return nil
}

// cgroupRule is docker's --device-cgroup-rule format.
var cgroupRule = regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)

// deviceCgroupRules converts --device-cgroup-rule values.
func deviceCgroupRules(rules []string) ([]specs.LinuxDeviceCgroup, error) {
	var out []specs.LinuxDeviceCgroup
	for _, r := range rules {
		m := cgroupRule.FindStringSubmatch(r)
		if m == nil {
			return nil, Invalid("invalid device cgroup rule format: '%s'", r)
		}
		d := specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Access: m[4]}
		num := func(s string) *int64 {
			if s == "*" {
				return nil
			}
			n, _ := strconv.ParseInt(s, 10, 64)
			return &n
		}
		d.Major, d.Minor = num(m[2]), num(m[3])
		out = append(out, d)
	}
	return out, nil
}

// checkSecurity checks at create what does not need the image: security
// options (a seccomp profile is read and compiled), sysctls, device
// cgroup rules, the user namespace mode and the namespace modes.
func (e *Engine) checkSecurity(hc *container.HostConfig, caps []string) error {
	so, err := securityOpts(hc.SecurityOpt)
	if err != nil {
		return err
	}
	if _, err := so.seccompProfile(hc.Privileged, caps); err != nil {
		return err
	}
	if len(so.labels) > 0 && hostSELinux() {
		return Invalid("SELinux labels (--security-opt label=...) are not supported by berth yet")
	}
	if err := checkSysctls(hc); err != nil {
		return err
	}
	if _, err := deviceCgroupRules(hc.DeviceCgroupRules); err != nil {
		return err
	}
	for _, d := range hc.Devices {
		if d.PathOnHost == "" {
			return Invalid("invalid device mapping: no host path")
		}
		if d.CgroupPermissions == "" {
			continue
		}
		for _, c := range d.CgroupPermissions {
			if !strings.ContainsRune("rwm", c) {
				return Invalid("invalid device cgroup permissions %q for %s: use r, w and m", d.CgroupPermissions, d.PathOnHost)
			}
		}
	}
	if !hc.UsernsMode.Valid() {
		return Invalid("invalid USER mode: %q: use host or leave it empty", hc.UsernsMode)
	}
	if !hc.CgroupnsMode.Valid() {
		return Invalid("invalid cgroup namespace mode: %q: use host or private", hc.CgroupnsMode)
	}
	if e.remap != nil && !hc.UsernsMode.IsHost() {
		switch {
		case hc.Privileged:
			return Invalid("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode")
		case hc.NetworkMode.IsHost():
			return Invalid("cannot share the host's network namespace when user namespaces are enabled")
		case hc.PidMode.IsHost():
			return Invalid("cannot share the host PID namespace when user namespaces are enabled")
		}
	}
	return nil
}

// deviceFromPath is the device node at p (a symlink followed once, as
// docker does), as the spec's device at ctrPath and its cgroup rule.
func deviceFromPath(p, ctrPath, perms string) (specs.LinuxDevice, specs.LinuxDeviceCgroup, bool) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, false
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, false
	}
	major, minor := int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	mode := fs.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	d := specs.LinuxDevice{Path: ctrPath, Type: typ, Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid}
	return d, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: perms}, true
}

// devicesFor resolves one --device: a device node, or a directory whose
// device nodes are all added under the container path. Docker's error
// when it is neither.
func devicesFor(m container.DeviceMapping) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	src := m.PathOnHost
	if fi, err := os.Lstat(src); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if p, err := filepath.EvalSymlinks(src); err == nil {
			src = p
		}
	}
	dst, perms := m.PathInContainer, m.CgroupPermissions
	if dst == "" {
		dst = m.PathOnHost
	}
	if perms == "" {
		perms = "rwm"
	}
	if d, r, ok := deviceFromPath(src, dst, perms); ok {
		return []specs.LinuxDevice{d}, []specs.LinuxDeviceCgroup{r}, nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, nil, Invalid("error gathering device information while adding custom device %q: %v", m.PathOnHost, err)
	}
	var devs []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	if fi.IsDir() {
		_ = filepath.WalkDir(src, func(p string, _ fs.DirEntry, _ error) error {
			if d, r, ok := deviceFromPath(p, strings.Replace(p, src, dst, 1), perms); ok {
				devs, rules = append(devs, d), append(rules, r)
			}
			return nil
		})
	}
	if len(devs) == 0 {
		return nil, nil, Invalid("error gathering device information while adding custom device %q: not a device node", m.PathOnHost)
	}
	return devs, rules, nil
}

// hostDevices are the host's device nodes a privileged container gets, as
// runc lists them: /dev without pts, shm, fd, mqueue, console and ptmx.
func hostDevices() []specs.LinuxDevice {
	var out []specs.LinuxDevice
	_ = filepath.WalkDir("/dev", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if de.IsDir() {
			switch de.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if de.Name() == "console" || de.Name() == "ptmx" {
			return nil
		}
		if d, _, ok := deviceFromPath(p, p, "rwm"); ok {
			out = append(out, d)
		}
		return nil
	})
	return out
}

// specSecurity puts into s what the security flags ask for that buildSpec
// has not: devices (and their cgroup rules), a privileged container's
// host devices, masked and read-only paths (docker's CLI sends empty lists
// for systempaths=unconfined), additional groups, AppArmor, the cgroup and
// user namespaces.
func (e *Engine) specSecurity(r *ctrRecord, s *specs.Spec, so secOpts, rootfs string) error {
	hc := r.HostConfig
	if err := checkSysctls(hc); err != nil {
		return err
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	if hc.Privileged {
		s.Linux.Devices = append(s.Linux.Devices, hostDevices()...)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Access: "rwm"})
	} else {
		for _, m := range hc.Devices {
			devs, rules, err := devicesFor(m)
			if err != nil {
				return err
			}
			s.Linux.Devices = append(s.Linux.Devices, devs...)
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
		}
		rules, err := deviceCgroupRules(hc.DeviceCgroupRules)
		if err != nil {
			return err
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
	}
	if !hc.Privileged && hc.MaskedPaths != nil {
		s.Linux.MaskedPaths = hc.MaskedPaths
	}
	if !hc.Privileged && hc.ReadonlyPaths != nil {
		s.Linux.ReadonlyPaths = hc.ReadonlyPaths
	}
	for _, g := range hc.GroupAdd {
		gid, err := image.LookupGroup(rootfs, g)
		if err != nil {
			return Invalid("%v", err)
		}
		s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, gid)
	}
	// Docker sets a profile only where AppArmor is enabled, and ignores
	// apparmor= elsewhere; berth does the same, but loads no default
	// profile of its own (docker's "docker-default"): only the one asked for.
	if so.apparmor != "" && hostAppArmor() {
		s.Process.ApparmorProfile = so.apparmor
	}
	switch {
	case hc.CgroupnsMode.IsHost():
		s.Linux.Namespaces = deleteNamespace(s.Linux.Namespaces, specs.CgroupNamespace)
	case hc.CgroupnsMode.IsPrivate():
		if !hasNamespace(s.Linux.Namespaces, specs.CgroupNamespace) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
		}
	}
	if r.Userns != nil {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = r.Userns.UID, r.Userns.GID
	}
	return nil
}

func hasNamespace(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, ns := range nss {
		if ns.Type == t {
			return true
		}
	}
	return false
}

func deleteNamespace(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) []specs.LinuxNamespace {
	out := nss[:0]
	for _, ns := range nss {
		if ns.Type != t {
			out = append(out, ns)
		}
	}
	return out
}

// securityInfo is what info's SecurityOptions says beyond the kernel's
// features: AppArmor where the host enforces it, userns when remapping.
func (e *Engine) securityInfo() []string {
	var out []string
	if hostAppArmor() {
		out = append(out, "name=apparmor")
	}
	if e.remap != nil {
		out = append(out, "name=userns")
	}
	return out
}
