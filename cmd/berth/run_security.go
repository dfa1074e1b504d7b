package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// securityFlags are the security and namespace flags of run and create:
// --cap-add, --cap-drop, --privileged, --security-opt, --device,
// --device-cgroup-rule, --sysctl, --userns, --group-add, --ipc, --pid,
// --uts and --cgroupns. They are checked here as docker's CLI checks them;
// the engine checks them again (a docker CLI talks to it too).
type securityFlags struct {
	capAdd, capDrop []string
	privileged      bool
	securityOpts    []string
	devices         []string
	cgroupRules     []string
	sysctls         []string
	userns          string
	groupAdd        []string
	ipc, pid, uts   string
	cgroupns        string
}

func (o *securityFlags) add(f *pflag.FlagSet) {
	f.StringArrayVar(&o.capAdd, "cap-add", nil, "Add Linux capabilities")
	f.StringArrayVar(&o.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	f.StringArrayVar(&o.securityOpts, "security-opt", nil, "Security Options")
	f.StringArrayVar(&o.devices, "device", nil, "Add a host device to the container")
	f.StringArrayVar(&o.cgroupRules, "device-cgroup-rule", nil, "Add a rule to the cgroup allowed devices list")
	f.StringArrayVar(&o.sysctls, "sysctl", nil, "Sysctl options")
	f.StringVar(&o.userns, "userns", "", "User namespace to use")
	f.StringArrayVar(&o.groupAdd, "group-add", nil, "Add additional groups to join")
	f.StringVar(&o.ipc, "ipc", "", "IPC mode to use")
	f.StringVar(&o.pid, "pid", "", "PID namespace to use")
	f.StringVar(&o.uts, "uts", "", "UTS namespace to use")
	f.StringVar(&o.cgroupns, "cgroupns", "", `Cgroup namespace to use (host|private)`)
}

func (o *securityFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error {
	hc := req.HostConfig
	hc.CapAdd, hc.CapDrop = o.capAdd, o.capDrop
	hc.Privileged = o.privileged
	var opts []string
	for _, opt := range o.securityOpts {
		// As docker's CLI: not an option of the daemon, but no masked
		// and no read-only paths in the HostConfig.
		if opt == "systempaths=unconfined" {
			hc.MaskedPaths, hc.ReadonlyPaths = []string{}, []string{}
			continue
		}
		opts = append(opts, opt)
	}
	opts, err := parseSecurityOpts(opts)
	if err != nil {
		return err
	}
	hc.SecurityOpt = opts
	for _, d := range o.devices {
		m, err := parseDevice(d)
		if err != nil {
			return err
		}
		hc.Devices = append(hc.Devices, m)
	}
	for _, r := range o.cgroupRules {
		if !deviceCgroupRule.MatchString(r) {
			return fmt.Errorf("invalid argument %q for \"--device-cgroup-rule\" flag: invalid device cgroup format '%s'", r, r)
		}
		hc.DeviceCgroupRules = append(hc.DeviceCgroupRules, r)
	}
	for _, kv := range o.sysctls {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("invalid argument %q for \"--sysctl\" flag: sysctl '%s' is not allowed", kv, kv)
		}
		if hc.Sysctls == nil {
			hc.Sysctls = map[string]string{}
		}
		hc.Sysctls[k] = v
	}
	hc.UsernsMode = container.UsernsMode(o.userns)
	if o.userns != "" && o.userns != "host" {
		return fmt.Errorf("--userns: invalid USER mode")
	}
	hc.GroupAdd = o.groupAdd
	hc.IpcMode = container.IpcMode(o.ipc)
	if !hc.IpcMode.Valid() {
		return fmt.Errorf("--ipc: invalid IPC mode")
	}
	hc.PidMode = container.PidMode(o.pid)
	if !hc.PidMode.Valid() {
		return fmt.Errorf("--pid: invalid PID mode")
	}
	hc.UTSMode = container.UTSMode(o.uts)
	if !hc.UTSMode.Valid() {
		return fmt.Errorf("--uts: invalid UTS mode")
	}
	hc.CgroupnsMode = container.CgroupnsMode(o.cgroupns)
	if !hc.CgroupnsMode.Valid() {
		return fmt.Errorf("--cgroupns: invalid CGROUP mode")
	}
	return nil
}

// parseSecurityOpts checks --security-opt as docker's CLI does and, for
// seccomp=FILE, reads the profile and sends its (compacted) JSON instead
// of the file's name: the daemon may not see the client's files.
func parseSecurityOpts(opts []string) ([]string, error) {
	out := make([]string, 0, len(opts))
	for _, opt := range opts {
		k, v, ok := strings.Cut(opt, "=")
		if !ok && k != "no-new-privileges" {
			k, v, ok = strings.Cut(opt, ":")
		}
		if (!ok || v == "") && k != "no-new-privileges" {
			return nil, fmt.Errorf("Invalid --security-opt: %q", opt)
		}
		if k == "seccomp" && v != "unconfined" && v != "builtin" {
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %v", v, err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, b); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %v", v, err)
			}
			opt = "seccomp=" + buf.String()
		}
		out = append(out, opt)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// deviceCgroupRule is docker's format of --device-cgroup-rule.
var deviceCgroupRule = regexp.MustCompile(`^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$`)

// validDeviceMode reports whether mode is a set of r, w and m.
func validDeviceMode(mode string) bool {
	if mode == "" || len(mode) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range mode {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// parseDevice reads --device HOST[:CONTAINER][:PERMISSIONS] as docker's
// CLI does.
func parseDevice(spec string) (container.DeviceMapping, error) {
	bad := func(format string, a ...any) (container.DeviceMapping, error) {
		return container.DeviceMapping{}, fmt.Errorf("invalid argument %q for \"--device\" flag: "+format, append([]any{spec}, a...)...)
	}
	arr := strings.Split(spec, ":")
	if arr[0] == "" {
		return bad("bad format for path: %s", spec)
	}
	src, dst, perms := arr[0], "", "rwm"
	switch len(arr) {
	case 3:
		if !validDeviceMode(arr[2]) {
			return bad("bad mode specified: %s", arr[2])
		}
		dst, perms = arr[1], arr[2]
	case 2:
		if validDeviceMode(arr[1]) {
			perms = arr[1]
		} else {
			dst = arr[1]
		}
	case 1:
	default:
		return bad("bad format for path: %s", spec)
	}
	if dst == "" {
		dst = src
	}
	if !path.IsAbs(dst) {
		return bad("%s is not an absolute path", dst)
	}
	return container.DeviceMapping{PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms}, nil
}
