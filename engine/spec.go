package engine

import (
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/engine/logfile"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/runtime"
)

// initPath is where --init's reaper (the berth binary) is mounted in the
// container, docker's path for its docker-init.
const initPath = "/sbin/docker-init"

// defaultCaps are the capabilities docker gives a container.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// mergeConfig fills the user's config with the image's, as docker does at
// create (and then keeps in the container's Config): user, env (the
// user's win by key), labels, ports, volumes, working dir, stop signal,
// and the command unless the user set an entrypoint.
func mergeConfig(c *container.Config, img ocispec.ImageConfig) {
	if c.User == "" {
		c.User = img.User
	}
	if len(img.ExposedPorts) > 0 {
		if c.ExposedPorts == nil {
			c.ExposedPorts = network.PortSet{}
		}
		for p := range img.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				c.ExposedPorts[port] = struct{}{}
			}
		}
	}
	if len(c.Env) == 0 {
		c.Env = slices.Clone(img.Env)
	} else {
		have := map[string]bool{}
		for _, kv := range c.Env {
			k, _, _ := strings.Cut(kv, "=")
			have[k] = true
		}
		for _, kv := range img.Env {
			if k, _, _ := strings.Cut(kv, "="); !have[k] {
				c.Env = append(c.Env, kv)
			}
		}
	}
	if len(img.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range img.Labels {
			if _, ok := c.Labels[k]; !ok {
				c.Labels[k] = v
			}
		}
	}
	if len(c.Entrypoint) == 0 {
		if len(c.Cmd) == 0 {
			c.Cmd = slices.Clone(img.Cmd)
		}
		if c.Entrypoint == nil {
			c.Entrypoint = slices.Clone(img.Entrypoint)
		}
	}
	if len(c.Entrypoint) == 1 && c.Entrypoint[0] == "" {
		// --entrypoint "": no entrypoint at all.
		c.Entrypoint = []string{}
	}
	if c.WorkingDir == "" {
		c.WorkingDir = img.WorkingDir
	}
	if len(img.Volumes) > 0 {
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		maps.Copy(c.Volumes, img.Volumes)
	}
	if c.StopSignal == "" {
		c.StopSignal = img.StopSignal
	}
}

// processArgs is the container's argv from its merged config.
func processArgs(c *container.Config) ([]string, error) {
	args, err := image.ProcessArgs(ocispec.ImageConfig{Entrypoint: c.Entrypoint, Cmd: c.Cmd}, image.SpecOptions{})
	if err != nil {
		return nil, Invalid("no command specified")
	}
	return args, nil
}

// logSetup is a container's resolved log configuration.
type logSetup struct {
	Config   container.LogConfig
	MaxSize  int64
	MaxFiles int
}

// resolveLogConfig checks a container's log config, taking dflt (the
// engine's, json-file when empty) when the container names no driver.
// berth has the json-file driver and none.
func resolveLogConfig(c, dflt container.LogConfig) (logSetup, error) {
	if c.Type == "" {
		c = dflt
		if c.Type == "" {
			c.Type = "json-file"
		}
	}
	out := logSetup{Config: container.LogConfig{Type: c.Type, Config: maps.Clone(c.Config)}}
	if out.Config.Config == nil {
		out.Config.Config = map[string]string{}
	}
	switch c.Type {
	case "json-file":
		size, files, err := logfile.ParseLogOpts(c.Config)
		if err != nil {
			return logSetup{}, Invalid("%v", err)
		}
		out.MaxSize, out.MaxFiles = size, files
	case "none":
		if len(c.Config) > 0 {
			for k := range c.Config {
				return logSetup{}, Invalid("unknown log opt '%s' for none log driver", k)
			}
		}
	case "local", "journald", "syslog", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries":
		return logSetup{}, Invalid("log driver %q is not supported by berth: use json-file or none", c.Type)
	default:
		return logSetup{}, Invalid("logger: no log driver named '%s' is registered", c.Type)
	}
	return out, nil
}

// capName normalises a capability as docker accepts it ("net_admin",
// "CAP_NET_ADMIN", "ALL").
func capName(s string) string {
	s = strings.ToUpper(s)
	if s == "ALL" || strings.HasPrefix(s, "CAP_") {
		return s
	}
	return "CAP_" + s
}

// capabilities applies --cap-add and --cap-drop to docker's defaults
// (--privileged: all of them).
func capabilities(hc *container.HostConfig) ([]string, error) {
	all := runtime.CapabilityNames()
	sort.Strings(all)
	known := map[string]bool{"ALL": true}
	for _, c := range all {
		known[c] = true
	}
	for _, c := range append(slices.Clone(hc.CapAdd), hc.CapDrop...) {
		if !known[capName(c)] {
			return nil, Invalid("unknown capability: %q", capName(c))
		}
	}
	if hc.Privileged {
		held := runtime.BoundingCapabilities()
		sort.Strings(held)
		return held, nil
	}
	set := map[string]bool{}
	for _, c := range defaultCaps {
		set[c] = true
	}
	for _, c := range hc.CapDrop {
		if c = capName(c); c == "ALL" {
			clear(set)
		} else {
			delete(set, c)
		}
	}
	for _, c := range hc.CapAdd {
		if c = capName(c); c == "ALL" {
			for _, a := range all {
				set[a] = true
			}
		} else {
			set[c] = true
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// linuxResources converts docker's resources to the runtime's; unset
// (zero) fields stay unset.
func linuxResources(r container.Resources) *specs.LinuxResources {
	out := &specs.LinuxResources{}
	mem := &specs.LinuxMemory{}
	if r.Memory > 0 {
		mem.Limit = ptr(r.Memory)
	}
	if r.MemoryReservation > 0 {
		mem.Reservation = ptr(r.MemoryReservation)
	}
	if r.MemorySwap != 0 {
		mem.Swap = ptr(r.MemorySwap)
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness >= 0 {
		mem.Swappiness = ptr(uint64(*r.MemorySwappiness))
	}
	if r.OomKillDisable != nil {
		mem.DisableOOMKiller = ptr(*r.OomKillDisable)
	}
	if *mem != (specs.LinuxMemory{}) {
		out.Memory = mem
	}
	cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
	if r.CPUShares > 0 {
		cpu.Shares = ptr(uint64(r.CPUShares))
	}
	if r.NanoCPUs > 0 {
		const period = 100000
		cpu.Period = ptr(uint64(period))
		cpu.Quota = ptr(r.NanoCPUs * period / 1e9)
	}
	if r.CPUPeriod > 0 {
		cpu.Period = ptr(uint64(r.CPUPeriod))
	}
	if r.CPUQuota != 0 {
		cpu.Quota = ptr(r.CPUQuota)
	}
	if r.CPURealtimePeriod > 0 {
		cpu.RealtimePeriod = ptr(uint64(r.CPURealtimePeriod))
	}
	if r.CPURealtimeRuntime > 0 {
		cpu.RealtimeRuntime = ptr(r.CPURealtimeRuntime)
	}
	if cpu.Shares != nil || cpu.Quota != nil || cpu.Period != nil || cpu.Cpus != "" || cpu.Mems != "" ||
		cpu.RealtimePeriod != nil || cpu.RealtimeRuntime != nil {
		out.CPU = cpu
	}
	if r.PidsLimit != nil && *r.PidsLimit != 0 {
		out.Pids = &specs.LinuxPids{Limit: ptr(*r.PidsLimit)}
	}
	if r.BlkioWeight > 0 {
		out.BlockIO = &specs.LinuxBlockIO{Weight: ptr(r.BlkioWeight)}
	}
	return out
}

// mergeResources sets in dst the fields u sets (docker update).
func mergeResources(dst *container.Resources, u container.Resources) {
	set := func(d *int64, v int64) {
		if v != 0 {
			*d = v
		}
	}
	set(&dst.Memory, u.Memory)
	set(&dst.MemoryReservation, u.MemoryReservation)
	set(&dst.MemorySwap, u.MemorySwap)
	set(&dst.CPUShares, u.CPUShares)
	set(&dst.CPUPeriod, u.CPUPeriod)
	set(&dst.CPUQuota, u.CPUQuota)
	set(&dst.CPURealtimePeriod, u.CPURealtimePeriod)
	set(&dst.CPURealtimeRuntime, u.CPURealtimeRuntime)
	if u.NanoCPUs != 0 {
		dst.NanoCPUs, dst.CPUQuota, dst.CPUPeriod = u.NanoCPUs, 0, 0
	}
	if u.CpusetCpus != "" {
		dst.CpusetCpus = u.CpusetCpus
	}
	if u.CpusetMems != "" {
		dst.CpusetMems = u.CpusetMems
	}
	if u.BlkioWeight != 0 {
		dst.BlkioWeight = u.BlkioWeight
	}
	if u.PidsLimit != nil {
		dst.PidsLimit = ptr(*u.PidsLimit)
	}
}

func ptr[T any](v T) *T { return &v }

// buildSpec makes the runtime spec of container r, whose root filesystem
// is mounted at rootfs (image.Spec reads its users from there): the
// process from the merged Config, and what HostConfig asks for.
func (e *Engine) buildSpec(r *ctrRecord, rootfs string) (*specs.Spec, error) {
	c, hc := r.Config, r.HostConfig
	if c.WorkingDir != "" && !path.IsAbs(c.WorkingDir) {
		return nil, Invalid("the working directory '%s' is invalid, it needs to be an absolute path", c.WorkingDir)
	}
	img := ocispec.Image{Platform: ocispec.Platform{OS: "linux"}, Config: ocispec.ImageConfig{
		User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
		WorkingDir: c.WorkingDir, StopSignal: c.StopSignal,
	}}
	s, err := image.Spec(img, rootfs, image.SpecOptions{
		WorkingDir: c.WorkingDir, Hostname: c.Hostname, Tty: c.Tty, ReadOnly: hc.ReadonlyRootfs,
	})
	if err != nil {
		return nil, Invalid("%v", err)
	}
	s.Root.Path = "rootfs"
	if c.Domainname != "" {
		s.Domainname = c.Domainname
	}
	if hc.Init != nil && *hc.Init {
		s.Process.Args = append([]string{initPath, "--"}, s.Process.Args...)
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: initPath, Type: "bind", Source: e.opts.Self,
			Options: []string{"rbind", "ro", "nosuid", "nodev"},
		})
	}
	if c.Tty && hc.ConsoleSize[0] > 0 && hc.ConsoleSize[1] > 0 {
		s.Process.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}
	caps, err := capabilities(hc)
	if err != nil {
		return nil, err
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	so, err := securityOpts(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}
	s.Process.NoNewPrivileges = so.noNewPrivs
	if err := specResources(hc, s); err != nil {
		return nil, err
	}
	if s.Linux.Seccomp, err = so.seccompProfile(hc.Privileged, caps); err != nil {
		return nil, err
	}
	if hc.Privileged {
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		for i := range s.Mounts {
			if s.Mounts[i].Destination == "/sys" || s.Mounts[i].Destination == "/sys/fs/cgroup" {
				s.Mounts[i].Options = slices.DeleteFunc(s.Mounts[i].Options, func(o string) bool { return o == "ro" })
			}
		}
	}
	hostNS := map[specs.LinuxNamespaceType]bool{
		specs.PIDNamespace: hc.PidMode.IsHost(),
		specs.IPCNamespace: hc.IpcMode.IsHost(),
		specs.UTSNamespace: hc.UTSMode.IsHost(),
	}
	switch p := e.netNamespacePath(r); p {
	case "-":
		hostNS[specs.NetworkNamespace] = true
	case "":
	default:
		for i := range s.Linux.Namespaces {
			if s.Linux.Namespaces[i].Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = p
			}
		}
	}
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return hostNS[ns.Type] })
	for _, f := range []struct{ name, dst string }{{hostsFile, "/etc/hosts"}, {resolvFile, "/etc/resolv.conf"}, {hostnameFile, "/etc/hostname"}} {
		src := filepath.Join(r.Dir, f.name)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		opts := []string{"rbind", "rprivate", "nosuid", "nodev", "noexec"}
		if hc.ReadonlyRootfs {
			opts = append(opts, "ro")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: src, Options: opts})
	}
	if hc.UTSMode.IsHost() {
		s.Hostname, s.Domainname = "", ""
	}
	if len(hc.Sysctls) > 0 {
		s.Linux.Sysctl = maps.Clone(hc.Sysctls)
	}
	if len(hc.Annotations) > 0 {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		maps.Copy(s.Annotations, hc.Annotations)
	}
	if hc.OomScoreAdj != 0 {
		s.Process.OOMScoreAdj = ptr(hc.OomScoreAdj)
	}
	if err := e.specSecurity(r, s, so, rootfs); err != nil {
		return nil, err
	}
	if err := e.specMounts(r, s); err != nil {
		return nil, err
	}
	if err := e.specSecrets(r, s); err != nil {
		return nil, err
	}
	return s, nil
}

// checkStopSignal validates a container's StopSignal.
func checkStopSignal(sig string) error {
	if sig == "" {
		return nil
	}
	if _, err := image.ParseSignal(sig); err != nil {
		return Invalid("invalid signal: %s", sig)
	}
	return nil
}
