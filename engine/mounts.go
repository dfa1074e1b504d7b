package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/volume"
)

// ctrMount is one resolved mount of a container: what inspect shows
// (docker's MountPoint) and what start needs to mount it again.
type ctrMount struct {
	container.MountPoint
	// Anonymous: a volume made for this container (an image VOLUME, or
	// -v /path, or --mount type=volume without source): rm -v removes it.
	Anonymous bool `json:"anonymous,omitempty"`
	// Tmpfs holds --tmpfs / --mount type=tmpfs options.
	Tmpfs *mount.TmpfsOptions `json:"tmpfs,omitempty"`
	// Options are extra mount options (nocopy, subpath, ...).
	Options []string `json:"options,omitempty"`
	// Subpath is the directory of the volume that is mounted, relative to
	// the volume's root ("" for all of it).
	Subpath string `json:"subpath,omitempty"`
	// TmpfsData is a --tmpfs mount's options as the user wrote them
	// ("size=64m,mode=1777"); HostTmpfs marks such a mount, which docker's
	// inspect does not list among the Mounts.
	TmpfsData string `json:"tmpfsData,omitempty"`
	HostTmpfs bool   `json:"hostTmpfs,omitempty"`
	// Created: this container's create made the volume (undone when the
	// create fails).
	Created bool `json:"created,omitempty"`
}

// Values of ctrMount.Options.
const (
	optNoCopy       = "nocopy"          // do not fill a new volume from the image
	optNonRecursive = "nonrecursive"    // bind without the mounts below the source
	optRONonRec     = "ro-nonrecursive" // read-only, the mounts below the source not
)

func (m *ctrMount) has(opt string) bool { return slices.Contains(m.Options, opt) }

// mountPlan is a mount as parsed from the request, before its volume or
// bind source exists.
type mountPlan struct {
	ctrMount
	mkdir      bool // a bind source to create when missing
	inherited  bool // from --volumes-from: the volume exists already
	driver     string
	driverOpts map[string]string
	labels     map[string]string
}

// Docker's errors for a bad mount.
func errInvalidSpec(raw string) error {
	return fmt.Errorf("invalid volume specification: '%s'", raw)
}

func errMountConfig(typ mount.Type, err error) error {
	return fmt.Errorf("invalid mount config for type %q: %v", typ, err)
}

func duplicateMountPoint(dst string) error { return Invalid("Duplicate mount point: %s", dst) }

var (
	rwModes          = map[string]bool{"ro": true, "rw": true}
	labelModes       = map[string]bool{"z": true, "Z": true}
	copyModes        = map[string]bool{"nocopy": true}
	consistencyModes = map[string]bool{"consistent": true, "cached": true, "delegated": true}
	propagationModes = map[mount.Propagation]bool{
		mount.PropagationPrivate: true, mount.PropagationRPrivate: true,
		mount.PropagationSlave: true, mount.PropagationRSlave: true,
		mount.PropagationShared: true, mount.PropagationRShared: true,
	}
)

// validMode checks a -v mode ("ro,Z,rslave"): known words, at most one of
// each kind, as docker's parser.
func validMode(mode string) bool {
	if mode == "" {
		return true
	}
	var rw, label, prop, cp, cons int
	for _, o := range strings.Split(mode, ",") {
		switch {
		case rwModes[o]:
			rw++
		case labelModes[o]:
			label++
		case propagationModes[mount.Propagation(o)]:
			prop++
		case copyModes[o]:
			cp++
		case consistencyModes[o]:
			cons++
		default:
			return false
		}
	}
	return rw <= 1 && label <= 1 && prop <= 1 && cp <= 1 && cons <= 1
}

func modeHas(mode, word string) bool { return slices.Contains(strings.Split(mode, ","), word) }

func modePropagation(mode string) mount.Propagation {
	for _, o := range strings.Split(mode, ",") {
		if propagationModes[mount.Propagation(o)] {
			return mount.Propagation(o)
		}
	}
	return ""
}

// checkTarget is docker's check of a mount's destination.
func checkTarget(typ mount.Type, target string) error {
	if target == "" {
		return errMountConfig(typ, errors.New("field Target must not be empty"))
	}
	if path.Clean(target) == "/" {
		return errMountConfig(typ, errors.New("invalid specification: destination can't be '/'"))
	}
	if !path.IsAbs(target) {
		return errMountConfig(typ, fmt.Errorf("invalid mount path: '%s' mount path must be absolute", target))
	}
	return nil
}

// parseBind parses one HostConfig.Binds entry, SRC:DST[:MODE] or DST
// (an anonymous volume), as docker does.
func parseBind(raw, volumeDriver string) (mountPlan, error) {
	arr := strings.SplitN(raw, ":", 4)
	if arr[0] == "" {
		return mountPlan{}, Invalid("%v", errInvalidSpec(raw))
	}
	var src, dst, mode string
	switch len(arr) {
	case 1:
		dst = arr[0]
	case 2:
		if validMode(arr[1]) {
			return mountPlan{}, Invalid("%v", errInvalidSpec(raw))
		}
		src, dst = arr[0], arr[1]
	case 3:
		src, dst, mode = arr[0], arr[1], arr[2]
	default:
		return mountPlan{}, Invalid("%v", errInvalidSpec(raw))
	}
	if !validMode(mode) {
		return mountPlan{}, Invalid("invalid mode: %s", mode)
	}
	typ := mount.TypeVolume
	if path.IsAbs(src) {
		typ = mount.TypeBind
	}
	if err := checkTarget(typ, dst); err != nil {
		return mountPlan{}, Invalid("%v: %v", errInvalidSpec(raw), err)
	}
	p := mountPlan{}
	p.Type, p.Destination, p.Mode, p.RW = typ, path.Clean(dst), mode, !modeHas(mode, "ro")
	if typ == mount.TypeBind {
		p.Source, p.mkdir = path.Clean(src), true
		p.Propagation = modePropagation(mode)
		if p.Propagation == "" {
			p.Propagation = mount.PropagationRPrivate
		}
		return p, nil
	}
	if prop := modePropagation(mode); prop != "" {
		return mountPlan{}, Invalid("%v: %v", errInvalidSpec(raw), errMountConfig(typ, errors.New("field BindOptions must not be specified")))
	}
	p.Name, p.Anonymous = src, src == ""
	p.driver = volumeDriver
	if modeHas(mode, "nocopy") {
		p.Options = append(p.Options, optNoCopy)
	}
	if p.Name != "" && p.Mode == "" {
		p.Mode = "z" // docker's default for a named local volume given by -v
	}
	return p, nil
}

// parseMountSpec checks one HostConfig.Mounts entry as docker does.
func parseMountSpec(m mount.Mount) (mountPlan, error) {
	bad := func(err error) (mountPlan, error) { return mountPlan{}, Invalid("%v", errMountConfig(m.Type, err)) }
	extra := func(name string) (mountPlan, error) { return bad(fmt.Errorf("field %s must not be specified", name)) }
	switch m.Type {
	case mount.TypeBind, mount.TypeVolume, mount.TypeTmpfs:
	case "":
		return bad(errors.New("mount type unknown"))
	default:
		return bad(errors.New("mount type unknown"))
	}
	if err := checkTarget(m.Type, m.Target); err != nil {
		return mountPlan{}, Invalid("%v", err)
	}
	if m.ImageOptions != nil {
		return extra("ImageOptions")
	}
	p := mountPlan{}
	p.Type, p.Destination, p.RW = m.Type, path.Clean(m.Target), !m.ReadOnly
	switch m.Type {
	case mount.TypeBind:
		if m.Source == "" {
			return bad(errors.New("field Source must not be empty"))
		}
		if m.VolumeOptions != nil {
			return extra("VolumeOptions")
		}
		if m.TmpfsOptions != nil {
			return extra("TmpfsOptions")
		}
		if !path.IsAbs(m.Source) {
			return bad(fmt.Errorf("invalid mount path: '%s' mount path must be absolute", m.Source))
		}
		p.Source, p.Propagation = path.Clean(m.Source), mount.PropagationRPrivate
		if o := m.BindOptions; o != nil {
			if o.Propagation != "" {
				if !propagationModes[o.Propagation] {
					return bad(fmt.Errorf("invalid propagation mode: %s", o.Propagation))
				}
				p.Propagation = o.Propagation
			}
			if o.NonRecursive {
				p.Options = append(p.Options, optNonRecursive)
			}
			if o.ReadOnlyNonRecursive {
				if !m.ReadOnly {
					return bad(errors.New("must not set ReadOnlyNonRecursive when ReadOnly is false"))
				}
				p.Options = append(p.Options, optRONonRec)
			}
			if o.ReadOnlyForceRecursive && !m.ReadOnly {
				return bad(errors.New("must not set ReadOnlyForceRecursive when ReadOnly is false"))
			}
			p.mkdir = o.CreateMountpoint
		}
		if _, err := os.Stat(p.Source); err != nil {
			if !os.IsNotExist(err) {
				return bad(err)
			}
			if !p.mkdir {
				return bad(fmt.Errorf("bind source path does not exist: %s", p.Source))
			}
		}
	case mount.TypeVolume:
		if m.BindOptions != nil {
			return extra("BindOptions")
		}
		if m.TmpfsOptions != nil {
			return extra("TmpfsOptions")
		}
		p.Name, p.Anonymous = m.Source, m.Source == ""
		if o := m.VolumeOptions; o != nil {
			if o.Subpath != "" {
				if p.Anonymous {
					return bad(errors.New("must not set Subpath when using anonymous volumes"))
				}
				if !filepath.IsLocal(o.Subpath) {
					return bad(errors.New("subpath must be a relative path within the volume"))
				}
				p.Subpath = path.Clean(o.Subpath)
			}
			if o.NoCopy {
				p.Options = append(p.Options, optNoCopy)
			}
			if o.DriverConfig != nil {
				p.driver, p.driverOpts = o.DriverConfig.Name, o.DriverConfig.Options
			}
			p.labels = o.Labels
		}
	case mount.TypeTmpfs:
		if m.BindOptions != nil {
			return extra("BindOptions")
		}
		if m.VolumeOptions != nil {
			return extra("VolumeOptions")
		}
		if m.Source != "" {
			return extra("Source")
		}
		if _, err := tmpfsData(m.TmpfsOptions); err != nil {
			return bad(err)
		}
		if m.TmpfsOptions != nil {
			o := *m.TmpfsOptions
			p.Tmpfs = &o
		}
	}
	return p, nil
}

// tmpfsData is the mount data of a --mount type=tmpfs: mode= and size=
// as docker writes them (size with the largest unit that divides it).
func tmpfsData(o *mount.TmpfsOptions) (string, error) {
	if o == nil {
		return "", nil
	}
	var opts []string
	if o.Mode != 0 {
		opts = append(opts, fmt.Sprintf("mode=%o", uint32(o.Mode)))
	}
	if o.SizeBytes < 0 {
		return "", fmt.Errorf("invalid tmpfs size: %d", o.SizeBytes)
	}
	if size := o.SizeBytes; size != 0 {
		suffix := ""
		for _, u := range []struct {
			s string
			d int64
		}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
			if size%u.d == 0 {
				size, suffix = size/u.d, u.s
				break
			}
		}
		opts = append(opts, fmt.Sprintf("size=%d%s", size, suffix))
	}
	for _, kv := range o.Options {
		if len(kv) < 1 || len(kv) > 2 {
			return "", errors.New("invalid option array length")
		}
		if kv[0] != "exec" && kv[0] != "noexec" {
			return "", errors.New("invalid option: " + kv[0])
		}
		opts = append(opts, strings.Join(kv, "="))
	}
	return strings.Join(opts, ","), nil
}

// tmpfsKnown are the --tmpfs options docker accepts besides size=,
// mode=, uid=, gid=, nr_inodes=, nr_blocks=, mpol=.
var tmpfsKnown = map[string]bool{
	"ro": true, "rw": true, "exec": true, "noexec": true, "suid": true, "nosuid": true,
	"dev": true, "nodev": true, "sync": true, "async": true, "dirsync": true,
	"atime": true, "noatime": true, "diratime": true, "nodiratime": true,
	"relatime": true, "norelatime": true, "strictatime": true, "nostrictatime": true,
	"mand": true, "nomand": true, "remount": true, "defaults": true,
	"private": true, "rprivate": true, "shared": true, "rshared": true, "slave": true, "rslave": true,
}

// parseHostTmpfs checks one HostConfig.Tmpfs entry.
func parseHostTmpfs(dst, data string) (mountPlan, error) {
	if err := checkTarget(mount.TypeTmpfs, dst); err != nil {
		return mountPlan{}, Invalid("%v", err)
	}
	ro := false
	if data != "" {
		for _, o := range strings.Split(data, ",") {
			k, _, hasV := strings.Cut(o, "=")
			switch {
			case hasV && slices.Contains([]string{"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "huge"}, k):
			case !hasV && tmpfsKnown[o]:
				if o == "ro" {
					ro = true
				} else if o == "rw" {
					ro = false
				}
			default:
				return mountPlan{}, Invalid("invalid tmpfs option %q for %s", o, dst)
			}
		}
	}
	p := mountPlan{}
	p.Type, p.Destination, p.RW = mount.TypeTmpfs, path.Clean(dst), !ro
	p.TmpfsData, p.HostTmpfs = data, true
	return p, nil
}

// parseVolumesFrom splits "ctr[:mode]" as docker does.
func parseVolumesFrom(spec string) (ref, mode string, err error) {
	if spec == "" {
		return "", "", Invalid("volumes-from specification cannot be an empty string")
	}
	ref, mode, _ = strings.Cut(spec, ":")
	if mode == "" {
		return ref, "rw", nil
	}
	if !validMode(mode) || modePropagation(mode) != "" || modeHas(mode, "nocopy") {
		return "", "", Invalid("invalid mode: %s", mode)
	}
	return ref, mode, nil
}

// planMounts resolves the mounts a create asks for, in docker's order:
// --volumes-from first (overridden by the rest), then -v, --mount,
// --tmpfs, and the image's VOLUMEs not covered by any of them. It checks
// everything and changes nothing.
func (e *Engine) planMounts(r *ctrRecord) ([]mountPlan, error) {
	hc := r.HostConfig
	byDst := map[string]int{} // index in plans
	var plans []mountPlan
	put := func(p mountPlan) {
		if i, ok := byDst[p.Destination]; ok {
			plans[i] = p
			return
		}
		byDst[p.Destination] = len(plans)
		plans = append(plans, p)
	}
	for _, spec := range hc.VolumesFrom {
		ref, mode, err := parseVolumesFrom(spec)
		if err != nil {
			return nil, err
		}
		from, err := e.current(ref)
		if err != nil {
			return nil, err
		}
		for _, m := range from.Mounts {
			if m.Type == mount.TypeTmpfs {
				continue
			}
			p := mountPlan{ctrMount: m}
			p.Created, p.Options = false, slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == optNoCopy })
			p.Options = append(p.Options, optNoCopy)
			p.RW = m.RW && !modeHas(mode, "ro")
			p.inherited = true
			put(p)
		}
	}
	taken := map[string]bool{} // destinations of this request's own mounts
	claim := func(dst string) error {
		if taken[dst] {
			return duplicateMountPoint(dst)
		}
		taken[dst] = true
		return nil
	}
	for _, b := range hc.Binds {
		p, err := parseBind(b, hc.VolumeDriver)
		if err != nil {
			return nil, err
		}
		if _, ok := hc.Tmpfs[p.Destination]; ok {
			return nil, duplicateMountPoint(p.Destination)
		}
		if err := claim(p.Destination); err != nil {
			return nil, err
		}
		put(p)
	}
	for _, m := range hc.Mounts {
		p, err := parseMountSpec(m)
		if err != nil {
			return nil, err
		}
		if err := claim(p.Destination); err != nil {
			return nil, err
		}
		put(p)
	}
	tmpfsDsts := make([]string, 0, len(hc.Tmpfs))
	for d := range hc.Tmpfs {
		tmpfsDsts = append(tmpfsDsts, d)
	}
	slices.Sort(tmpfsDsts)
	for _, d := range tmpfsDsts {
		p, err := parseHostTmpfs(d, hc.Tmpfs[d])
		if err != nil {
			return nil, err
		}
		if err := claim(p.Destination); err != nil {
			return nil, err
		}
		put(p)
	}
	var imgVols []string
	for v := range r.Config.Volumes {
		imgVols = append(imgVols, v)
	}
	slices.Sort(imgVols)
	for _, v := range imgVols {
		d := path.Clean(v)
		if !path.IsAbs(d) || d == "/" {
			return nil, Invalid("invalid volume %q: the image's volumes must be absolute paths, not /", v)
		}
		if _, ok := byDst[d]; ok {
			continue
		}
		p := mountPlan{}
		p.Type, p.Destination, p.RW, p.Anonymous = mount.TypeVolume, d, true, true
		put(p)
	}
	return plans, nil
}

// createMounts resolves r's HostConfig.Binds, Mounts, Tmpfs, VolumesFrom
// and the image's VOLUMEs into r.Mounts, creating the volumes it names
// that do not exist yet (and anonymous ones). r's rootfs is mounted.
// A failure undoes what it did: no volume or directory is left.
func (e *Engine) createMounts(ctx context.Context, r *ctrRecord, img *image.Image) (err error) {
	plans, err := e.planMounts(r)
	if err != nil {
		return err
	}
	r.Mounts = nil
	if len(plans) == 0 {
		return nil
	}
	var madeDirs []string
	defer func() {
		if err == nil {
			return
		}
		e.dropCreatedVolumes(context.WithoutCancel(ctx), r)
		r.Mounts = nil
		for i := len(madeDirs) - 1; i >= 0; i-- {
			os.Remove(madeDirs[i])
		}
	}()
	for i := range plans {
		p := &plans[i]
		switch p.Type {
		case mount.TypeBind:
			if !p.mkdir {
				break
			}
			if _, serr := os.Stat(p.Source); serr == nil || !os.IsNotExist(serr) {
				break
			}
			made, merr := mkdirAllTrack(p.Source)
			madeDirs = append(madeDirs, made...)
			if merr != nil {
				return fmt.Errorf("error while creating mount source path '%s': %w", p.Source, merr)
			}
		case mount.TypeVolume:
			if p.inherited {
				// --volumes-from: the volume exists; check it still does.
				if _, gerr := e.volumes().Get(p.Name); gerr != nil {
					return volumeErr(p.Name, gerr)
				}
				break
			}
			driver := p.driver
			if driver == "" {
				driver = volume.DriverLocal
			}
			v, created, cerr := e.volumes().Create(p.Name, driver, p.driverOpts, p.labels, p.Anonymous)
			if cerr != nil {
				return volumeErr(p.Name, cerr)
			}
			p.Name, p.Source, p.Driver, p.Created = v.Name, v.Mountpoint, v.Driver, created
			if created {
				e.emit(events.VolumeEventType, events.ActionCreate, v.Name, map[string]string{"driver": v.Driver})
			}
		}
		r.Mounts = append(r.Mounts, p.ctrMount)
	}
	// Fill the volumes from the image, now that each exists.
	for i := range r.Mounts {
		m := &r.Mounts[i]
		if m.Type != mount.TypeVolume {
			continue
		}
		if err := checkNotFile(r.rootfsDir(), m.Destination); err != nil {
			return err
		}
		if m.has(optNoCopy) || m.Subpath != "" {
			continue
		}
		if err := e.populate(r, m); err != nil {
			return err
		}
	}
	return nil
}

// volumes is the engine's volume store.
func (e *Engine) volumes() *volume.Store { return e.Volumes }

// volumeErr gives a store error (which names the operation and the
// volume, as docker's do) its kind.
func volumeErr(name string, err error) error {
	switch {
	case errors.Is(err, volume.ErrNotFound):
		return NotFound("%v", err)
	case errors.Is(err, volume.ErrInvalid):
		return Invalid("%v", err)
	case errors.Is(err, volume.ErrConflict):
		return Conflict("%v", err)
	}
	return fmt.Errorf("volume %s: %w", name, err)
}

// mkdirAllTrack makes dir and its missing parents (0755, as docker),
// returning those it made, parents first.
func mkdirAllTrack(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if d == "/" || d == "." {
			break
		}
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			if os.IsExist(err) {
				continue
			}
			return made, err
		}
		made = append(made, missing[i])
	}
	return made, nil
}

// dropCreatedVolumes removes the volumes createMounts made for r, when
// the create failed after it.
func (e *Engine) dropCreatedVolumes(ctx context.Context, r *ctrRecord) {
	for i := range r.Mounts {
		m := &r.Mounts[i]
		if m.Type != mount.TypeVolume || !m.Created {
			continue
		}
		if err := e.volumes().Remove(m.Name); err == nil {
			e.emit(events.VolumeEventType, events.ActionDestroy, m.Name, map[string]string{"driver": m.Driver})
		}
		m.Created = false
	}
}

// specMounts adds r.Mounts to the runtime spec.
func (e *Engine) specMounts(r *ctrRecord, s *specs.Spec) error {
	if len(r.Mounts) == 0 {
		return nil
	}
	user := map[string]bool{}
	for _, m := range r.Mounts {
		user[m.Destination] = true
	}
	// A user mount replaces the default (or generated) one at its place,
	// and one on /dev the default mounts below it, as docker.
	s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool {
		d := path.Clean(m.Destination)
		return user[d] || user["/dev"] && strings.HasPrefix(d, "/dev/")
	})
	for i, m := range r.Mounts {
		sm := specs.Mount{Destination: m.Destination}
		switch m.Type {
		case mount.TypeBind, mount.TypeVolume:
			src := m.Source
			if m.Type == mount.TypeVolume {
				v, err := e.volumes().Get(m.Name)
				if err != nil {
					return fmt.Errorf("container %s: volume %s: %w", r.ID, m.Name, err)
				}
				src = v.Mountpoint
				if m.Subpath != "" {
					src = e.subpathDir(r, i)
				}
			}
			bind := "rbind"
			if m.has(optNonRecursive) {
				bind = "bind"
			}
			sm.Type, sm.Source, sm.Options = "bind", src, []string{bind}
			if !m.RW {
				sm.Options = append(sm.Options, "ro")
				// Recursively read-only, as docker makes it where the kernel can.
				if bind == "rbind" && !m.has(optRONonRec) {
					sm.Options = append(sm.Options, "rro")
				}
			}
			prop := m.Propagation
			if prop == "" {
				prop = mount.PropagationRPrivate
			}
			sm.Options = append(sm.Options, string(prop))
			switch prop {
			case mount.PropagationShared, mount.PropagationRShared:
				s.Linux.RootfsPropagation = "rshared"
			case mount.PropagationSlave, mount.PropagationRSlave:
				if s.Linux.RootfsPropagation != "rshared" {
					s.Linux.RootfsPropagation = "rslave"
				}
			}
		case mount.TypeTmpfs:
			sm.Type, sm.Source = "tmpfs", "tmpfs"
			sm.Options = []string{"noexec", "nosuid", "nodev"}
			data := m.TmpfsData
			if !m.HostTmpfs {
				d, err := tmpfsData(m.Tmpfs)
				if err != nil {
					return Invalid("%v", errMountConfig(mount.TypeTmpfs, err))
				}
				data = d
			}
			if data != "" {
				sm.Options = append(sm.Options, strings.Split(data, ",")...)
			}
			if !m.RW && !slices.Contains(sm.Options, "ro") {
				sm.Options = append(sm.Options, "ro")
			}
		default:
			return fmt.Errorf("container %s: mount on %s: unknown type %q", r.ID, m.Destination, m.Type)
		}
		s.Mounts = append(s.Mounts, sm)
	}
	// Parents before children (a stable sort keeps the order of equals).
	slices.SortStableFunc(s.Mounts, func(a, b specs.Mount) int {
		return depth(a.Destination) - depth(b.Destination)
	})
	return nil
}

// depth is the number of components of an absolute path ("/" is 0).
func depth(p string) int {
	p = path.Clean("/" + p)
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// subpathDir is where mountsUp binds the subpath of r's i-th mount: under
// the exec root, never under r.Dir, whose removal must not walk into a
// volume left bound there.
func (e *Engine) subpathDir(r *ctrRecord, i int) string {
	return filepath.Join(e.opts.ExecRoot, r.ID+"-subpaths", fmt.Sprint(i))
}

// mountsUp prepares r's mounts before its start (r's rootfs is mounted):
// volumes whose driver options need a mount are mounted (reference
// counted) and, when empty, filled from the image; a volume's subpath is
// resolved inside the volume and bound where the spec says.
func (e *Engine) mountsUp(ctx context.Context, r *ctrRecord) (err error) {
	defer func() {
		if err != nil {
			e.mountsDown(r)
		}
	}()
	for i, m := range r.Mounts {
		if m.Type != mount.TypeVolume {
			continue
		}
		v, gerr := e.volumes().Get(m.Name)
		if gerr != nil {
			return volumeErr(m.Name, gerr)
		}
		dir, merr := e.volumes().Mount(m.Name, r.ID)
		if merr != nil {
			return fmt.Errorf("start container %s: mount volume %s: %w", r.ID, m.Name, merr)
		}
		if v.NeedsMount() && !m.has(optNoCopy) && m.Subpath == "" {
			if err := e.populateInto(r, &m, dir); err != nil {
				return fmt.Errorf("start container %s: %w", r.ID, err)
			}
		}
		if m.Subpath != "" {
			if err := bindSubpath(dir, m.Subpath, e.subpathDir(r, i)); err != nil {
				return fmt.Errorf("start container %s: volume %s: %w", r.ID, m.Name, err)
			}
		}
	}
	return nil
}

// mountsDown releases what mountsUp took; safe to call twice.
func (e *Engine) mountsDown(r *ctrRecord) {
	for i, m := range r.Mounts {
		if m.Type != mount.TypeVolume {
			continue
		}
		if m.Subpath != "" {
			unbindSubpath(e.subpathDir(r, i))
		}
		e.volumes().Unmount(m.Name, r.ID)
	}
	os.Remove(filepath.Join(e.opts.ExecRoot, r.ID+"-subpaths"))
}

// removeAnonVolumes removes r's anonymous volumes (rm -v, --rm) that no
// other container uses.
func (e *Engine) removeAnonVolumes(ctx context.Context, r *ctrRecord) {
	var anon []string
	for _, m := range r.Mounts {
		if m.Type == mount.TypeVolume && m.Anonymous && !slices.Contains(anon, m.Name) {
			anon = append(anon, m.Name)
		}
	}
	if len(anon) == 0 {
		return
	}
	recs, err := e.records()
	if err != nil {
		return
	}
	used := map[string]bool{}
	for _, o := range recs {
		if o.ID == r.ID {
			continue
		}
		for _, m := range o.Mounts {
			if m.Type == mount.TypeVolume {
				used[m.Name] = true
			}
		}
	}
	for _, name := range anon {
		if used[name] {
			continue
		}
		if err := e.volumes().Remove(name); err == nil {
			e.emit(events.VolumeEventType, events.ActionDestroy, name, map[string]string{"driver": "local"})
		}
	}
}

// mountPoints is what inspect and ps show of r's mounts: docker leaves
// --tmpfs mounts out.
func mountPoints(r *ctrRecord) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range r.Mounts {
		if m.HostTmpfs {
			continue
		}
		out = append(out, m.MountPoint)
	}
	return out
}
