package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/mount"
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// mountFlags are -v, --mount, --tmpfs, --volumes-from and --volume-driver
// of run and create.
type mountFlags struct {
	volumes     []string
	mounts      mountValue
	tmpfs       []string
	volumesFrom []string
	driver      string
}

func (o *mountFlags) add(f *pflag.FlagSet) {
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "Bind mount a volume")
	f.Var(&o.mounts, "mount", "Attach a filesystem mount to the container")
	f.StringArrayVar(&o.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	f.StringArrayVar(&o.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s)")
	f.StringVar(&o.driver, "volume-driver", "", "Optional volume driver for the container")
}

// apply puts the mounts into the request as docker's CLI does: -v with a
// source goes to Binds (a source starting with "." made absolute), -v
// with only a path to Config.Volumes (an anonymous volume).
func (o *mountFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error {
	hc, cfg := req.HostConfig, req.Config
	for _, v := range o.volumes {
		bind, anon, err := parseVolumeFlag(v)
		if err != nil {
			return err
		}
		if anon != "" {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[anon] = struct{}{}
			continue
		}
		hc.Binds = append(hc.Binds, bind)
	}
	hc.Mounts = append(hc.Mounts, o.mounts.values...)
	for _, t := range o.tmpfs {
		dst, opts, _ := strings.Cut(t, ":")
		if dst == "" {
			return fmt.Errorf("invalid argument %q for \"--tmpfs\" flag: the destination must not be empty", t)
		}
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		hc.Tmpfs[dst] = opts
	}
	hc.VolumesFrom = append(hc.VolumesFrom, o.volumesFrom...)
	hc.VolumeDriver = o.driver
	return nil
}

// parseVolumeFlag splits one -v: it returns the Binds entry, or the
// container path of an anonymous volume.
func parseVolumeFlag(v string) (bind, anon string, err error) {
	parts := strings.Split(v, ":")
	for _, p := range parts {
		if p == "" {
			return "", "", fmt.Errorf("invalid spec: %s: empty section between colons", v)
		}
	}
	if len(parts) > 3 {
		return "", "", fmt.Errorf("invalid spec: %s: too many colons", v)
	}
	if len(parts) == 1 {
		return "", v, nil
	}
	src, rest, _ := strings.Cut(v, ":")
	if !filepath.IsAbs(src) && strings.HasPrefix(src, ".") {
		if abs, aerr := filepath.Abs(src); aerr == nil {
			src = abs
		}
	}
	return src + ":" + rest, "", nil
}

// mountValue is --mount: docker's CSV of key=value fields, one mount per
// flag.
type mountValue struct{ values []mount.Mount }

func (m *mountValue) Type() string { return "mount" }

func (m *mountValue) String() string {
	var out []string
	for _, v := range m.values {
		out = append(out, fmt.Sprintf("%s:%s:%s", v.Type, v.Source, v.Target))
	}
	return strings.Join(out, ", ")
}

func (m *mountValue) Set(value string) error {
	r := csv.NewReader(strings.NewReader(value))
	fields, err := r.Read()
	if err != nil {
		return err
	}
	mt := mount.Mount{Type: mount.TypeVolume}
	volume := func() *mount.VolumeOptions {
		if mt.VolumeOptions == nil {
			mt.VolumeOptions = &mount.VolumeOptions{}
		}
		return mt.VolumeOptions
	}
	driver := func() *mount.Driver {
		if volume().DriverConfig == nil {
			mt.VolumeOptions.DriverConfig = &mount.Driver{}
		}
		return mt.VolumeOptions.DriverConfig
	}
	bind := func() *mount.BindOptions {
		if mt.BindOptions == nil {
			mt.BindOptions = &mount.BindOptions{}
		}
		return mt.BindOptions
	}
	tmpfs := func() *mount.TmpfsOptions {
		if mt.TmpfsOptions == nil {
			mt.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return mt.TmpfsOptions
	}
	setKV := func(m *map[string]string, kv string) {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[k] = v
	}
	parseBool := func(key, val string) (bool, error) {
		b, err := strconv.ParseBool(val)
		if err != nil {
			return false, fmt.Errorf("invalid value for %s: %s", key, val)
		}
		return b, nil
	}
	for _, field := range fields {
		key, val, ok := strings.Cut(field, "=")
		key = strings.ToLower(key)
		if !ok {
			switch key {
			case "readonly", "ro":
				mt.ReadOnly = true
			case "volume-nocopy":
				volume().NoCopy = true
			case "bind-nonrecursive":
				bind().NonRecursive = true
			default:
				return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
			continue
		}
		switch key {
		case "type":
			mt.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			mt.Source = val
			if val == "." || strings.HasPrefix(val, "./") {
				if abs, err := filepath.Abs(val); err == nil {
					mt.Source = abs
				}
			}
		case "target", "dst", "destination":
			mt.Target = val
		case "readonly", "ro":
			if mt.ReadOnly, err = parseBool(key, val); err != nil {
				return err
			}
		case "consistency":
			mt.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bind().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			if bind().NonRecursive, err = parseBool(key, val); err != nil {
				return err
			}
		case "bind-recursive":
			switch strings.ToLower(val) {
			case "enabled":
			case "disabled":
				bind().NonRecursive = true
			case "writable":
				bind().ReadOnlyNonRecursive = true
			case "readonly":
				bind().ReadOnlyForceRecursive = true
			default:
				return fmt.Errorf(`invalid value for %s: %s (must be "enabled", "disabled", "writable", or "readonly")`, key, val)
			}
		case "bind-create-mountpoint":
			if bind().CreateMountpoint, err = parseBool(key, val); err != nil {
				return err
			}
		case "volume-nocopy":
			if volume().NoCopy, err = parseBool(key, val); err != nil {
				return err
			}
		case "volume-label":
			setKV(&volume().Labels, val)
		case "volume-driver":
			driver().Name = val
		case "volume-opt":
			setKV(&driver().Options, val)
		case "volume-subpath":
			volume().Subpath = val
		case "tmpfs-size":
			n, err := parseBytes(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfs().SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfs().Mode = os.FileMode(n)
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	if mt.Type == "" {
		return errors.New("type is required")
	}
	if mt.Target == "" {
		return errors.New("target is required")
	}
	if mt.VolumeOptions != nil && mt.Type != mount.TypeVolume {
		return fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", mt.Type)
	}
	if mt.BindOptions != nil && mt.Type != mount.TypeBind {
		return fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", mt.Type)
	}
	if mt.TmpfsOptions != nil && mt.Type != mount.TypeTmpfs {
		return fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", mt.Type)
	}
	m.values = append(m.values, mt)
	return nil
}
