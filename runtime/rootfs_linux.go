package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/runtime/cgroup"
)

// prepareRootfs sets up the container's mount namespace: propagation, the
// rootfs bind, the spec's mounts in order and /dev. It runs before pivot_root,
// with host paths still visible.
func prepareRootfs(c *initConfig) error {
	spec := c.Spec
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p := spec.Linux.RootfsPropagation; p != "" {
		o := mount.ParseOptions([]string{p})
		if len(o.Propagation) != 1 {
			return fmt.Errorf("rootfsPropagation %q: unknown propagation", p)
		}
		prop = o.Propagation[0]
	}
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("set propagation of / : %w", err)
	}
	if err := makeParentMountPrivate(c.Rootfs); err != nil {
		return err
	}
	if err := unix.Mount(c.Rootfs, c.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount rootfs %s: %w", c.Rootfs, err)
	}
	rootFD, err := unix.Open(c.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", c.Rootfs, err)
	}
	c.rootFD = rootFD
	defer func() { unix.Close(rootFD); c.rootFD = -1 }()
	// A working directory the image lacks is made (0755), as runc and
	// docker do, before the mounts that may go on or under it.
	if spec.Process != nil && spec.Process.Cwd != "" && filepath.Clean(spec.Process.Cwd) != "/" {
		if err := makeMountpoint(rootFD, spec.Process.Cwd, true); err != nil {
			return fmt.Errorf("create cwd %s: %w", spec.Process.Cwd, err)
		}
	}
	setupDev := true
	for _, m := range spec.Mounts {
		if err := mountInRootfs(c, m); err != nil {
			return err
		}
		if filepath.Clean(m.Destination) == "/dev" && (m.Type == "bind" || mount.ParseOptions(m.Options).Flags&unix.MS_BIND != 0) {
			setupDev = false // the host's /dev, or a prepared one: leave it as it is
		}
	}
	if setupDev {
		if err := createDevices(c); err != nil {
			return err
		}
		if err := devSymlinks(c); err != nil {
			return err
		}
	}
	return nil
}

// makeParentMountPrivate makes the mount that holds rootfs private when it is
// shared: pivot_root refuses shared parents, and nothing the container mounts
// should propagate back to the host.
func makeParentMountPrivate(rootfs string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	best, shared := "", false
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 7 {
			continue
		}
		mp := mount.Unescape(fields[4])
		if (rootfs == mp || strings.HasPrefix(rootfs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, shared = mp, false
			for _, opt := range fields[6:] {
				if opt == "-" {
					break
				}
				if strings.HasPrefix(opt, "shared:") {
					shared = true
				}
			}
		}
	}
	if best != "" && shared {
		if err := unix.Mount("", best, "", unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make %s private: %w", best, err)
		}
	}
	return nil
}

// mountInRootfs performs one mount of the spec inside the container's
// rootfs. The mountpoint is created and opened inside the rootfs (see
// inroot_linux.go) and the mount made on that descriptor; the operations on
// the new mount (remount, propagation, attributes) go through a descriptor
// of it opened the same way.
func mountInRootfs(c *initConfig, m specs.Mount) error {
	dest := m.Destination
	if !filepath.IsAbs(dest) {
		dest = "/" + dest
	}
	o := mount.ParseOptions(m.Options)
	typ := m.Type
	isBind := typ == "bind" || typ == "rbind" || o.Flags&unix.MS_BIND != 0
	if typ == "rbind" {
		o.Flags |= unix.MS_REC
	}
	wrap := func(err error) error {
		return fmt.Errorf("mount %s (%s) on %s: %w", m.Source, typ, dest, err)
	}
	dir := true
	if isBind {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return wrap(err)
		}
		dir = fi.IsDir()
	}
	if err := makeMountpoint(c.rootFD, dest, dir); err != nil {
		return wrap(err)
	}
	var resolve uint64
	if typ == "proc" || typ == "sysfs" {
		// procfs and sysfs go where the config says, not through a
		// symlink the image put there, even one inside the root.
		resolve = unix.RESOLVE_NO_SYMLINKS
	}
	fd, err := openInRoot(c.rootFD, dest, resolve)
	if err == unix.ELOOP && resolve != 0 {
		return wrap(errors.New("destination is a symlink"))
	}
	if err != nil {
		return wrap(err)
	}
	defer unix.Close(fd)
	target := procPath(fd)
	// reopen gives the path of what is mounted at dest now.
	reopen := func() (string, error) {
		unix.Close(fd)
		if fd, err = openInRoot(c.rootFD, dest, 0); err != nil {
			return "", err
		}
		return procPath(fd), nil
	}
	switch {
	case isBind:
		if err := unix.Mount(m.Source, target, "", unix.MS_BIND|(o.Flags&unix.MS_REC), ""); err != nil {
			return wrap(err)
		}
		if extra := o.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); extra != 0 {
			if target, err = reopen(); err == nil {
				err = remountBind(target, extra)
			}
			if err != nil {
				return wrap(err)
			}
		}
	case typ == "cgroup" || typ == "cgroup2":
		// Mounted from inside the cgroup namespace, so it shows the container's own cgroup.
		if err := c.waitCgroup(); err != nil {
			return err
		}
		if err := mountCgroup(c, target, typ, o, reopen); err != nil {
			return wrap(err)
		}
	default:
		err := unix.Mount(m.Source, target, typ, o.Flags, o.Data)
		if err == unix.EPERM && (typ == "sysfs" || typ == "mqueue") {
			// Without its own network (or ipc) namespace a container may not
			// mount a new sysfs (mqueue): bind the host's, as runc does.
			host := "/sys"
			if typ == "mqueue" {
				host = "/dev/mqueue"
			}
			if err = unix.Mount(host, target, "", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				if extra := o.Flags &^ (unix.MS_BIND | unix.MS_REC); extra != 0 {
					if target, err = reopen(); err == nil {
						err = remountBind(target, extra)
					}
				}
			}
		}
		if err != nil {
			return wrap(err)
		}
	}
	if len(o.Propagation) > 0 || o.RecAttrSet != 0 || o.RecAttrClr != 0 {
		if target, err = reopen(); err != nil {
			return wrap(err)
		}
	}
	for _, p := range o.Propagation {
		if err := unix.Mount("", target, "", p, ""); err != nil {
			return wrap(fmt.Errorf("set propagation: %w", err))
		}
	}
	if o.RecAttrSet != 0 || o.RecAttrClr != 0 {
		attr := &unix.MountAttr{Attr_set: o.RecAttrSet, Attr_clr: o.RecAttrClr}
		if err := unix.MountSetattr(unix.AT_FDCWD, target, unix.AT_RECURSIVE, attr); err != nil {
			return wrap(fmt.Errorf("mount_setattr: %w", err))
		}
	}
	return nil
}

// remountBind changes the flags of a bind mount. Flags that the kernel locks
// on a mount inherited into a user namespace (nosuid, nodev, noexec, atime
// settings) are kept when the plain remount is refused.
func remountBind(target string, flags uintptr) error {
	err := unix.Mount("", target, "", flags|unix.MS_BIND|unix.MS_REMOUNT, "")
	if err != unix.EPERM {
		return err
	}
	var st unix.Statfs_t
	if serr := unix.Statfs(target, &st); serr != nil {
		return err
	}
	locked := uintptr(0)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			locked |= f.ms
		}
	}
	return unix.Mount("", target, "", flags|locked|unix.MS_BIND|unix.MS_REMOUNT, "")
}

// mountCgroup mounts the cgroup filesystem at target: cgroup2 on a unified
// host, otherwise a tmpfs with each v1 hierarchy below it (and the unified
// one of a hybrid host). With its own cgroup namespace the container mounts
// the hierarchies itself and sees its cgroup as the root; without one it gets
// bind mounts of its own cgroup directories. reopen gives the path of what
// is mounted at target afterwards.
func mountCgroup(c *initConfig, target, typ string, o mount.Options, reopen func() (string, error)) error {
	hier, err := cgroup.Hierarchies()
	if err != nil {
		return err
	}
	flags := o.Flags &^ unix.MS_RDONLY
	if len(hier) == 1 && hier[0].V2 && hier[0].Mountpoint == "/sys/fs/cgroup" || typ == "cgroup2" {
		return mountOneHierarchy(c, cgroup.Hierarchy{V2: true, Mountpoint: unifiedMountpoint(hier)}, target, o.Flags, reopen)
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", flags, "mode=755"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	// From here on, target is the new tmpfs, which is the runtime's own.
	target, err = reopen()
	if err != nil {
		return err
	}
	for _, h := range hier {
		name := filepath.Base(h.Mountpoint)
		sub := filepath.Join(target, name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		// sub is a plain path below the tmpfs: a walk that crosses the new mount.
		if err := mountOneHierarchy(c, h, sub, o.Flags, nil); err != nil {
			return err
		}
		if strings.Contains(name, ",") {
			for _, part := range strings.Split(name, ",") {
				os.Symlink(name, filepath.Join(target, part))
			}
		}
	}
	if o.Flags&unix.MS_RDONLY != 0 {
		return remountBindOrTmpfs(target, flags|unix.MS_RDONLY)
	}
	return nil
}

func remountBindOrTmpfs(target string, flags uintptr) error {
	return unix.Mount("", target, "", flags|unix.MS_REMOUNT, "")
}

func unifiedMountpoint(hier []cgroup.Hierarchy) string {
	for _, h := range hier {
		if h.V2 {
			return h.Mountpoint
		}
	}
	return "/sys/fs/cgroup"
}

// mountOneHierarchy mounts one hierarchy on target; reopen, when target is
// a descriptor's path, gives the path of the new mount for the remount.
func mountOneHierarchy(c *initConfig, h cgroup.Hierarchy, target string, flags uintptr, reopen func() (string, error)) error {
	if c.NewCgroupNS {
		var err error
		if h.V2 {
			err = unix.Mount("cgroup2", target, "cgroup2", flags, "")
		} else {
			err = unix.Mount("cgroup", target, "cgroup", flags, h.Options)
		}
		if err == nil {
			return nil
		}
		if err != unix.EPERM && err != unix.EBUSY {
			return fmt.Errorf("mount cgroup %s: %w", h.Options, err)
		}
	}
	// Bind the container's own cgroup directory of this hierarchy.
	src := h.Mountpoint
	for _, p := range c.CgroupPaths {
		if strings.HasPrefix(p, h.Mountpoint+"/") || p == h.Mountpoint {
			src = p
			break
		}
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind cgroup %s: %w", src, err)
	}
	if extra := flags &^ (unix.MS_BIND | unix.MS_REC); extra != 0 {
		if reopen != nil {
			var err error
			if target, err = reopen(); err != nil {
				return err
			}
		}
		return remountBind(target, extra)
	}
	return nil
}

var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// createDevices makes the default devices and the spec's devices, with
// mknod, or by binding the host's node inside a user namespace where mknod
// is not allowed.
func createDevices(c *initConfig) error {
	devs := append([]specs.LinuxDevice(nil), defaultDevices...)
	for _, d := range c.Spec.Linux.Devices {
		replaced := false
		for i := range devs {
			if devs[i].Path == d.Path {
				devs[i], replaced = d, true
			}
		}
		if !replaced {
			devs = append(devs, d)
		}
	}
	for _, d := range devs {
		if err := makeDevice(c, d); err != nil {
			return err
		}
	}
	return nil
}

// makeDevice makes one device node through a descriptor of its directory
// opened inside the rootfs, so that no swapped symlink puts a device node
// on the host. In a user namespace, where mknod is not allowed, the host's
// node is bound instead.
func makeDevice(c *initConfig, d specs.LinuxDevice) error {
	dir, base, err := openParentInRoot(c.rootFD, d.Path)
	if err != nil {
		return fmt.Errorf("device %s: %w", d.Path, err)
	}
	defer unix.Close(dir)
	if c.UserNS {
		f, err := unix.Openat(dir, base, unix.O_CREAT|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("create mountpoint for device %s: %w", d.Path, err)
		}
		unix.Close(f)
		fd, err := openInRoot(c.rootFD, d.Path, unix.RESOLVE_NO_SYMLINKS)
		if err != nil {
			return fmt.Errorf("open mountpoint for device %s: %w", d.Path, err)
		}
		defer unix.Close(fd)
		if err := unix.Mount(d.Path, procPath(fd), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount device %s: %w", d.Path, err)
		}
		return nil
	}
	return mknodDevice(dir, base, d)
}

// openParentInRoot creates (inside the rootfs) and opens the directory of
// path, returning it and the last component.
func openParentInRoot(root int, path string) (int, string, error) {
	dir, base := filepath.Split(filepath.Clean("/" + path))
	if err := makeMountpoint(root, dir, true); err != nil {
		return -1, "", err
	}
	fd, err := openInRoot(root, dir, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open %s in rootfs: %w", dir, err)
	}
	return fd, base, nil
}

func mknodDevice(dir int, name string, d specs.LinuxDevice) error {
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(*d.FileMode & 0o7777)
	}
	switch d.Type {
	case "c", "u":
		mode |= unix.S_IFCHR
	case "b":
		mode |= unix.S_IFBLK
	case "p":
		mode |= unix.S_IFIFO
	default:
		return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
	}
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if err := unix.Mknodat(dir, name, mode, int(dev)); err != nil {
		if err != unix.EEXIST {
			return fmt.Errorf("mknod %s: %w", d.Path, err)
		}
		// Replace whatever is there with the device the config asks for.
		if err := unix.Unlinkat(dir, name, 0); err != nil {
			return fmt.Errorf("replace %s: %w", d.Path, err)
		}
		if err := unix.Mknodat(dir, name, mode, int(dev)); err != nil {
			return fmt.Errorf("mknod %s: %w", d.Path, err)
		}
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Fchownat(dir, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", d.Path, err)
	}
	return nil
}

// devSymlinks adds /dev/fd, /dev/std{in,out,err}, /dev/core and, with a
// devpts of its own, /dev/ptmx pointing into it.
func devSymlinks(c *initConfig) error {
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	for _, m := range c.Spec.Mounts {
		if filepath.Clean(m.Destination) == "/dev/pts" && m.Type == "devpts" {
			links = append(links, [2]string{"pts/ptmx", "/dev/ptmx"})
		}
	}
	for _, l := range links {
		dir, base, err := openParentInRoot(c.rootFD, l[1])
		if err != nil {
			return fmt.Errorf("symlink %s: %w", l[1], err)
		}
		if l[1] == "/dev/ptmx" {
			if err := unix.Unlinkat(dir, base, 0); err != nil && err != unix.ENOENT {
				unix.Close(dir)
				return fmt.Errorf("remove /dev/ptmx: %w", err)
			}
		}
		err = unix.Symlinkat(l[0], dir, base)
		unix.Close(dir)
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("symlink %s -> %s: %w", l[1], l[0], err)
		}
	}
	return nil
}

// enterRootfs makes the rootfs the container's /: pivot_root, or chroot after
// moving the mount with --no-pivot.
func enterRootfs(c *initConfig) error {
	if c.NoPivot {
		if err := unix.Chdir(c.Rootfs); err != nil {
			return fmt.Errorf("chdir to rootfs: %w", err)
		}
		if err := unix.Mount(c.Rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move rootfs to /: %w", err)
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot: %w", err)
		}
		if err := unix.Chdir("/"); err != nil {
			return err
		}
		return applyRootPropagation(c)
	}
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(c.Rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one, where
	// it can be unmounted without a directory in the container to hold it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", c.Rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// Keep the unmount of the old root from propagating to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return applyRootPropagation(c)
}

// applyRootPropagation gives the new / the rootfsPropagation the config asks
// for, as runc does after pivot_root: the rootfs bind was made from a parent
// kept private for pivot_root, so a shared setting must be applied again.
func applyRootPropagation(c *initConfig) error {
	p := c.Spec.Linux.RootfsPropagation
	if p == "" {
		return nil
	}
	o := mount.ParseOptions([]string{p})
	if err := unix.Mount("", "/", "", o.Propagation[0], ""); err != nil {
		return fmt.Errorf("set rootfsPropagation %s on /: %w", p, err)
	}
	return nil
}

// finalizeRootfs runs inside the new root: masked and read-only paths, then
// a read-only root if the spec asks.
func finalizeRootfs(spec *specs.Spec) error {
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return err
		}
	}
	var null devNull
	defer null.close()
	for _, p := range spec.Linux.MaskedPaths {
		if err := maskPath(p, &null); err != nil {
			return err
		}
	}
	if spec.Root.Readonly {
		if err := remountBind("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("remount root read-only: %w", err)
		}
	}
	return nil
}

func readonlyPath(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return fmt.Errorf("bind %s read-only: %w", p, err)
	}
	if err := remountBind(p, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		return fmt.Errorf("remount %s read-only: %w", p, err)
	}
	return nil
}

// maskPath hides p: a read-only empty tmpfs over a directory, the
// container's /dev/null over a file. null is that /dev/null, checked to be
// the null device.
func maskPath(p string, null *devNull) error {
	fi, err := os.Stat(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("mask %s: %w", p, err)
	}
	if fi.IsDir() {
		err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0,mode=0555")
	} else {
		var src string
		if src, err = null.source(); err == nil {
			err = unix.Mount(src, p, "", unix.MS_BIND, "")
		}
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// devNull is the container's /dev/null, opened once and checked: were it a
// symlink or another file (put there by the image, or swapped in by a
// process racing the runtime), binding "/dev/null" over a masked path would
// bind that file instead, unmasking it or exposing something worse
// (CVE-2025-31133). The bind is made from the checked descriptor.
type devNull struct {
	fd  int
	err error
}

func (n *devNull) source() (string, error) {
	if n.fd == 0 && n.err == nil {
		n.fd, n.err = openNoSymlinks("/dev/null")
		if n.err == nil {
			var st unix.Stat_t
			n.err = unix.Fstat(n.fd, &st)
			if n.err == nil && (st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3)) {
				n.err = errors.New("/dev/null in the container is not the null device (c 1:3)")
			}
		}
	}
	if n.err != nil {
		return "", n.err
	}
	if src, err := procFD(n.fd); err == nil {
		return src, nil
	}
	// No procfs in the container: the path, checked just now, has to do.
	return "/dev/null", nil
}

func (n *devNull) close() {
	if n.fd > 0 {
		unix.Close(n.fd)
	}
}

// openNoSymlinks opens path as an O_PATH descriptor, refusing symlinks
// anywhere on the way.
func openNoSymlinks(path string) (int, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	return fd, nil
}

// procFD names fd through /proc/self/fd, for mount(2), after checking that
// /proc is a real procfs (the magic link is only meaningful there).
func procFD(fd int) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs("/proc/self/fd", &st); err != nil {
		return "", fmt.Errorf("statfs /proc: %w", err)
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return "", errors.New("/proc in the container is not procfs")
	}
	return procPath(fd), nil
}

// bindDevConsole binds the pty slave over /dev/console without following a
// symlink there: whatever the image left at /dev/console that is not a plain
// file or device is replaced, and the bind goes to the checked file
// (CVE-2025-52565: a /dev/console symlink carried the bind onto /proc).
func bindDevConsole(slave string) error {
	var st unix.Stat_t
	if err := unix.Lstat("/dev/console", &st); err == nil {
		if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFCHR {
			if err := unix.Unlink("/dev/console"); err != nil {
				return fmt.Errorf("remove /dev/console (a %o): %w", t, err)
			}
		}
	}
	dev, err := openNoSymlinks("/dev")
	if err != nil {
		return err
	}
	f, err := unix.Openat(dev, "console", unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o600)
	unix.Close(dev)
	if err == nil {
		unix.Close(f)
	} else if err != unix.EEXIST {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	fd, err := openNoSymlinks("/dev/console")
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	target, err := procFD(fd)
	if err != nil {
		target = "/dev/console" // no procfs: the path, checked just now
	}
	if err := unix.Mount(slave, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s to /dev/console: %w", slave, err)
	}
	return nil
}
