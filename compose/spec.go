package compose

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/engine"
)

// createSpec turns service s of p into the engine's create request and
// the container's name: image, command, environment, ports, mounts,
// networks with aliases, healthcheck, restart, limits, secrets, configs,
// labels (docker compose's, the config hash among them).
func (c *Compose) createSpec(ctx context.Context, p *types.Project, s types.ServiceConfig, o CreateOptions) (string, engine.CreateRequest, error) {
	img, err := c.API.ImageInspect(ctx, ImageName(p, s))
	if err != nil {
		return "", engine.CreateRequest{}, fmt.Errorf("service %q: image %s: %w", s.Name, ImageName(p, s), err)
	}
	name, req, inject, err := c.specOf(ctx, p, s, o, img.ID, nil)
	if err == nil && len(inject) > 0 {
		return "", engine.CreateRequest{}, fmt.Errorf("service %q: %s %s comes from environment or content: it is copied in by compose up, not here", s.Name, inject[0].kind, inject[0].source)
	}
	return name, req, err
}

// injected is a secret or config from environment: or content:, which
// no file or store holds: it is copied into the container once created,
// before it starts (as docker compose does).
type injected struct {
	kind, source string
	target       string
	data         []byte
	uid, gid     int
	mode         os.FileMode
}

// peers resolves network_mode/volumes_from "service:X" to a container of
// X; nil looks X's first container up on the engine.
type peers func(service string) (string, error)

// specOf is createSpec once the image's ID is known (Up resolves it once
// per service, not once per container).
func (c *Compose) specOf(ctx context.Context, p *types.Project, s types.ServiceConfig, o CreateOptions, imageID string, peer peers) (string, engine.CreateRequest, []injected, error) {
	fail := func(format string, a ...any) (string, engine.CreateRequest, []injected, error) {
		return "", engine.CreateRequest{}, nil, fmt.Errorf("service %q: %s", s.Name, fmt.Sprintf(format, a...))
	}
	if peer == nil {
		peer = func(service string) (string, error) {
			list, err := c.Containers(ctx, p.Name, OneoffExclude, true, service)
			if err != nil {
				return "", err
			}
			if len(list) == 0 {
				return "", fmt.Errorf("service %q has no container", service)
			}
			return list[0].ID, nil
		}
	}
	if err := unsupported(s); err != nil {
		return fail("%v", err)
	}
	number := o.Number
	if number == 0 {
		number = 1
	}
	name, slug := o.Name, ""
	if o.Oneoff {
		slug = randomSlug()
	}
	if name == "" {
		if o.Oneoff {
			name = p.Name + "-" + s.Name + "-run-" + slug[:12]
		} else {
			name = ContainerName(p.Name, s, number)
		}
	}
	hash, err := configHash(p, s)
	if err != nil {
		return fail("%v", err)
	}

	cfg := &container.Config{
		Image:      ImageName(p, s),
		Hostname:   s.Hostname,
		Domainname: s.DomainName,
		User:       s.User,
		WorkingDir: s.WorkingDir,
		Tty:        s.Tty,
		OpenStdin:  s.StdinOpen,
		StopSignal: s.StopSignal,
		Env:        envList(s.Environment),
		Labels:     map[string]string{},
	}
	if s.Command != nil {
		cfg.Cmd = []string(s.Command)
	}
	if s.Entrypoint != nil {
		cfg.Entrypoint = []string(s.Entrypoint)
		if len(s.Entrypoint) == 0 {
			cfg.Entrypoint = []string{""} // docker's way of clearing the image's
		}
	}
	if s.StopGracePeriod != nil {
		t := int(time.Duration(*s.StopGracePeriod).Seconds())
		cfg.StopTimeout = &t
	}
	if cfg.Healthcheck, err = healthConfig(s.HealthCheck); err != nil {
		return fail("%v", err)
	}

	// Labels: the service's, then docker compose's own.
	for k, v := range s.Labels {
		cfg.Labels[k] = v
	}
	for k, v := range s.CustomLabels {
		cfg.Labels[k] = v
	}
	oneoff := "False"
	if o.Oneoff {
		oneoff = "True"
	}
	cfg.Labels[LabelProject] = p.Name
	cfg.Labels[LabelService] = s.Name
	cfg.Labels[LabelNumber] = strconv.Itoa(number)
	cfg.Labels[LabelOneoff] = oneoff
	cfg.Labels[LabelConfigHash] = hash
	cfg.Labels[LabelVersion] = Version
	cfg.Labels[LabelWorkingDir] = p.WorkingDir
	cfg.Labels[LabelConfigFiles] = strings.Join(p.ComposeFiles, ",")
	cfg.Labels[LabelDependsOn] = dependsOnLabel(s)
	if imageID != "" {
		cfg.Labels[LabelImage] = imageID
	}
	if o.Oneoff {
		cfg.Labels[LabelSlug] = slug
	}

	hc := &container.HostConfig{
		Privileged:     s.Privileged,
		CapAdd:         s.CapAdd,
		CapDrop:        s.CapDrop,
		ReadonlyRootfs: s.ReadOnly,
		SecurityOpt:    s.SecurityOpt,
		Init:           s.Init,
		ShmSize:        int64(s.ShmSize),
		Sysctls:        map[string]string(s.Sysctls),
		GroupAdd:       s.GroupAdd,
		DNSOptions:     s.DNSOpts,
		DNSSearch:      []string(s.DNSSearch),
		PidMode:        container.PidMode(s.Pid),
		IpcMode:        container.IpcMode(s.Ipc),
		UTSMode:        container.UTSMode(s.Uts),
		UsernsMode:     container.UsernsMode(s.UserNSMode),
		Cgroup:         container.CgroupSpec(s.Cgroup),
		OomScoreAdj:    int(s.OomScoreAdj),
		StorageOpt:     s.StorageOpt,
		Runtime:        s.Runtime,
		Isolation:      container.Isolation(s.Isolation),
		Umask:          s.Umask,
		Annotations:    map[string]string(s.Annotations),
	}
	// links: on the project's networks a service is reached by its name
	// already, so a link to it by that name needs nothing; another alias
	// would need a per-container name the engine does not keep.
	for _, l := range s.Links {
		svc, alias, _ := strings.Cut(l, ":")
		if alias != "" && alias != svc {
			return fail("links: %q: a link alias is not supported by berth; give %s the network alias %s instead", l, svc, alias)
		}
	}
	if len(s.ExternalLinks) > 0 {
		hc.Links = append(hc.Links, s.ExternalLinks...)
	}
	// pid, ipc, uts: service:X shares X's container's namespace.
	for _, ns := range []struct {
		mode *string
		key  string
	}{{(*string)(&hc.PidMode), "pid"}, {(*string)(&hc.IpcMode), "ipc"}, {(*string)(&hc.UTSMode), "uts"}} {
		if svc, ok := strings.CutPrefix(*ns.mode, types.ServicePrefix); ok {
			id, err := peer(svc)
			if err != nil {
				return fail("%s %s: %v", ns.key, *ns.mode, err)
			}
			*ns.mode = "container:" + id
		}
	}
	if len(s.ExtraHosts) > 0 {
		hc.ExtraHosts = s.ExtraHosts.AsList(":")
		sort.Strings(hc.ExtraHosts)
	}
	for _, d := range s.DNS {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return fail("dns: %q is not an IP address", d)
		}
		hc.DNS = append(hc.DNS, a)
	}
	if hc.RestartPolicy, err = restartPolicy(s); err != nil {
		return fail("%v", err)
	}
	if err := resources(s, hc); err != nil {
		return fail("%v", err)
	}
	if s.Logging != nil {
		hc.LogConfig = container.LogConfig{Type: s.Logging.Driver, Config: s.Logging.Options}
	} else if s.LogDriver != "" || len(s.LogOpt) > 0 {
		hc.LogConfig = container.LogConfig{Type: s.LogDriver, Config: s.LogOpt}
	}
	for _, v := range s.VolumesFrom {
		switch {
		case strings.HasPrefix(v, "container:"):
			hc.VolumesFrom = append(hc.VolumesFrom, strings.TrimPrefix(v, "container:"))
		default:
			svc, mode, _ := strings.Cut(v, ":")
			id, err := peer(svc)
			if err != nil {
				return fail("volumes_from %s: %v", v, err)
			}
			if mode != "" {
				id += ":" + mode
			}
			hc.VolumesFrom = append(hc.VolumesFrom, id)
		}
	}

	if err := ports(s, cfg, hc); err != nil {
		return fail("%v", err)
	}
	if err := mounts(p, s, hc); err != nil {
		return fail("%v", err)
	}
	req := engine.CreateRequest{CreateRequest: container.CreateRequest{Config: cfg, HostConfig: hc}}
	var inject, more []injected
	if req.Secrets, inject, err = fileRefs(p, s, hc, true); err != nil {
		return fail("%v", err)
	}
	if req.Configs, more, err = fileRefs(p, s, hc, false); err != nil {
		return fail("%v", err)
	}
	inject = append(inject, more...)
	if len(inject) > 0 && s.ReadOnly {
		return fail("%s %s from environment or content cannot be copied into a read_only container", inject[0].kind, inject[0].source)
	}
	if req.NetworkingConfig, err = networking(p, s, hc, peer); err != nil {
		return fail("%v", err)
	}
	return name, req, inject, nil
}

// unsupported names the service fields berth cannot honour, rather than
// dropping them silently.
func unsupported(s types.ServiceConfig) error {
	var bad []string
	if len(s.Gpus) > 0 {
		bad = append(bad, "gpus")
	}
	if s.Deploy != nil {
		if s.Deploy.Resources.Limits != nil && len(s.Deploy.Resources.Limits.Devices) > 0 ||
			s.Deploy.Resources.Reservations != nil && len(s.Deploy.Resources.Reservations.Devices) > 0 {
			bad = append(bad, "deploy.resources devices")
		}
		if s.Deploy.Mode == "global" {
			bad = append(bad, "deploy.mode: global")
		}
	}
	if s.Provider != nil {
		bad = append(bad, "provider")
	}
	if len(s.Models) > 0 {
		bad = append(bad, "models")
	}
	if len(s.PreStart) > 0 || len(s.PostStart) > 0 || len(s.PreStop) > 0 {
		bad = append(bad, "lifecycle hooks (pre_start, post_start, pre_stop)")
	}
	if s.UseAPISocket {
		bad = append(bad, "use_api_socket")
	}
	if s.CredentialSpec != nil {
		bad = append(bad, "credential_spec")
	}
	if len(s.DeviceCgroupRules) > 0 {
		bad = append(bad, "device_cgroup_rules")
	}
	if len(bad) > 0 {
		return fmt.Errorf("not supported by berth: %s", strings.Join(bad, ", "))
	}
	return nil
}

// envList is the environment as docker takes it, sorted; a variable
// without a value (unset in the environment) is passed by name alone.
func envList(m types.MappingWithEquals) []string {
	env := make([]string, 0, len(m))
	for k, v := range m {
		if v == nil {
			env = append(env, k)
		} else {
			env = append(env, k+"="+*v)
		}
	}
	sort.Strings(env)
	return env
}

// dependsOnLabel is compose v2's "svc:condition:restart" list.
func dependsOnLabel(s types.ServiceConfig) string {
	var l []string
	for name, d := range s.DependsOn {
		l = append(l, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	sort.Strings(l)
	return strings.Join(l, ",")
}

func healthConfig(h *types.HealthCheckConfig) (*container.HealthConfig, error) {
	if h == nil {
		return nil, nil
	}
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	hc := &container.HealthConfig{Test: []string(h.Test)}
	if h.Interval != nil {
		hc.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		hc.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		hc.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil {
		hc.StartInterval = time.Duration(*h.StartInterval)
	}
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	return hc, nil
}

// restartPolicy is restart:, overridden by deploy.restart_policy, each
// condition mapped as compose v2 maps it (none/no, on-failure,
// unless-stopped, any/always; none given is no).
func restartPolicy(s types.ServiceConfig) (container.RestartPolicy, error) {
	rp := container.RestartPolicy{Name: container.RestartPolicyDisabled}
	if s.Restart != "" {
		name, max, _ := strings.Cut(s.Restart, ":")
		mode, ok := restartMode(name)
		if !ok {
			return rp, fmt.Errorf("restart %q: must be no, always, on-failure[:N] or unless-stopped", s.Restart)
		}
		rp = container.RestartPolicy{Name: mode}
		if max != "" {
			n, err := strconv.Atoi(max)
			if err != nil {
				return rp, fmt.Errorf("restart %q: bad maximum retry count", s.Restart)
			}
			rp.MaximumRetryCount = n
		}
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		d := s.Deploy.RestartPolicy
		mode, ok := restartMode(d.Condition)
		if !ok {
			return rp, fmt.Errorf("deploy.restart_policy.condition %q: must be none, on-failure, any, no, always or unless-stopped", d.Condition)
		}
		rp = container.RestartPolicy{Name: mode}
		if d.MaxAttempts != nil {
			rp.MaximumRetryCount = int(*d.MaxAttempts)
		}
	}
	return rp, nil
}

// restartMode maps a restart or deploy.restart_policy condition to the
// engine's policy, as compose v2 does.
func restartMode(cond string) (container.RestartPolicyMode, bool) {
	switch cond {
	case "", "none", "no":
		return container.RestartPolicyDisabled, true
	case "on-failure":
		return container.RestartPolicyOnFailure, true
	case "unless-stopped":
		return container.RestartPolicyUnlessStopped, true
	case "any", "always":
		return container.RestartPolicyAlways, true
	}
	return "", false
}

// resources are the limits: the service's own keys, overridden by
// deploy.resources as compose v2 does.
func resources(s types.ServiceConfig, hc *container.HostConfig) error {
	r := &hc.Resources
	r.Memory = int64(s.MemLimit)
	r.MemoryReservation = int64(s.MemReservation)
	r.MemorySwap = int64(s.MemSwapLimit)
	if s.MemSwappiness != 0 {
		v := int64(s.MemSwappiness)
		r.MemorySwappiness = &v
	}
	if s.OomKillDisable {
		t := true
		r.OomKillDisable = &t
	}
	if s.CPUS > 0 {
		r.NanoCPUs = int64(float64(s.CPUS) * 1e9)
	}
	r.CPUShares = s.CPUShares
	r.CPUQuota = s.CPUQuota
	r.CPUPeriod = s.CPUPeriod
	r.CPURealtimePeriod = s.CPURTPeriod
	r.CPURealtimeRuntime = s.CPURTRuntime
	r.CpusetCpus = s.CPUSet
	r.CgroupParent = s.CgroupParent
	if s.PidsLimit != 0 {
		v := s.PidsLimit
		r.PidsLimit = &v
	}
	if s.CPUCount != 0 || s.CPUPercent != 0 {
		return fmt.Errorf("cpu_count and cpu_percent are Windows options, not supported by berth")
	}
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			if l.MemoryBytes != 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.NanoCPUs != 0 {
				r.NanoCPUs = int64(float64(l.NanoCPUs) * 1e9)
			}
			if l.Pids != 0 {
				v := l.Pids
				r.PidsLimit = &v
			}
		}
		if rv := s.Deploy.Resources.Reservations; rv != nil && rv.MemoryBytes != 0 {
			r.MemoryReservation = int64(rv.MemoryBytes)
		}
	}
	for _, d := range s.Devices {
		perms := d.Permissions
		if perms == "" {
			perms = "rwm"
		}
		target := d.Target
		if target == "" {
			target = d.Source
		}
		r.Devices = append(r.Devices, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: target, CgroupPermissions: perms})
	}
	names := make([]string, 0, len(s.Ulimits))
	for n := range s.Ulimits {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := s.Ulimits[n]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		r.Ulimits = append(r.Ulimits, &container.Ulimit{Name: n, Soft: soft, Hard: hard})
	}
	if b := s.BlkioConfig; b != nil {
		if b.Weight != 0 || len(b.WeightDevice) > 0 || len(b.DeviceReadBps) > 0 || len(b.DeviceWriteBps) > 0 ||
			len(b.DeviceReadIOps) > 0 || len(b.DeviceWriteIOps) > 0 {
			return fmt.Errorf("blkio_config is not supported by berth's compose yet")
		}
	}
	return nil
}

// ports are ports: (published, with host_ip and protocol; a published
// range stays a range) and expose:.
func ports(s types.ServiceConfig, cfg *container.Config, hc *container.HostConfig) error {
	for _, pc := range s.Ports {
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := network.ParsePort(fmt.Sprintf("%d/%s", pc.Target, proto))
		if err != nil {
			return fmt.Errorf("ports: %v", err)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		cfg.ExposedPorts[port] = struct{}{}
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		b := network.PortBinding{HostPort: pc.Published}
		if pc.HostIP != "" {
			if b.HostIP, err = netip.ParseAddr(pc.HostIP); err != nil {
				return fmt.Errorf("ports: host_ip %q is not an IP address", pc.HostIP)
			}
		}
		hc.PortBindings[port] = append(hc.PortBindings[port], b)
	}
	for _, e := range s.Expose {
		num, proto, _ := strings.Cut(e, "/")
		if proto == "" {
			proto = "tcp"
		}
		lo, hi, isRange := strings.Cut(num, "-")
		start, err := strconv.ParseUint(lo, 10, 16)
		end := start
		if err == nil && isRange {
			end, err = strconv.ParseUint(hi, 10, 16)
		}
		if err != nil || end < start {
			return fmt.Errorf("expose: %q is not a port or a range of ports", e)
		}
		for n := start; n <= end; n++ {
			port, err := network.ParsePort(fmt.Sprintf("%d/%s", n, proto))
			if err != nil {
				return fmt.Errorf("expose %q: %v", e, err)
			}
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = network.PortSet{}
			}
			cfg.ExposedPorts[port] = struct{}{}
		}
	}
	return nil
}

// mounts are volumes: and tmpfs:. A bind whose host path may be created
// (compose's default) goes as a Binds entry, so the engine makes the
// missing directory as docker does; everything else as a Mount.
func mounts(p *types.Project, s types.ServiceConfig, hc *container.HostConfig) error {
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			create := v.Bind == nil || bool(v.Bind.CreateHostPath)
			if create && (v.Bind == nil || v.Bind.Recursive == "") {
				var opts []string
				if v.ReadOnly {
					opts = append(opts, "ro")
				}
				if v.Bind != nil && v.Bind.SELinux != "" {
					opts = append(opts, v.Bind.SELinux)
				}
				if v.Bind != nil && v.Bind.Propagation != "" {
					opts = append(opts, v.Bind.Propagation)
				}
				b := v.Source + ":" + v.Target
				if len(opts) > 0 {
					b += ":" + strings.Join(opts, ",")
				}
				hc.Binds = append(hc.Binds, b)
				continue
			}
			m := mount.Mount{Type: mount.TypeBind, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Bind != nil {
				m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(v.Bind.Propagation)}
				switch v.Bind.Recursive {
				case "", "enabled":
				case "disabled":
					m.BindOptions.NonRecursive = true
				case "writable":
					m.BindOptions.ReadOnlyNonRecursive = true
				case "readonly":
					m.BindOptions.ReadOnlyForceRecursive = true
				default:
					return fmt.Errorf("volumes: bind.recursive %q: must be enabled, disabled, writable or readonly", v.Bind.Recursive)
				}
			}
			hc.Mounts = append(hc.Mounts, m)
		case types.VolumeTypeVolume:
			m := mount.Mount{Type: mount.TypeVolume, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Source != "" {
				top, ok := p.Volumes[v.Source]
				if !ok {
					return fmt.Errorf("service %q refers to undefined volume %s: invalid compose project", s.Name, v.Source)
				}
				m.Source = top.Name
			}
			if v.Volume != nil {
				m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy, Subpath: v.Volume.Subpath, Labels: map[string]string(v.Volume.Labels)}
			}
			hc.Mounts = append(hc.Mounts, m)
		case types.VolumeTypeTmpfs:
			m := mount.Mount{Type: mount.TypeTmpfs, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Tmpfs != nil && (v.Tmpfs.Size != 0 || v.Tmpfs.Mode != 0) {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
			}
			hc.Mounts = append(hc.Mounts, m)
		case types.VolumeTypeImage:
			return fmt.Errorf("volumes: image mounts (%s) are not supported by berth", v.Target)
		default:
			return fmt.Errorf("volumes: type %q (%s) is not supported by berth", v.Type, v.Target)
		}
	}
	for _, t := range s.Tmpfs {
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		target, opts, _ := strings.Cut(t, ":")
		hc.Tmpfs[target] = opts
	}
	return nil
}

// fileRefs are the service's secrets (or configs): a file one is a
// read-only bind of the file at its target, as docker compose mounts it;
// an external or named one is a file from the engine's own store.
func fileRefs(p *types.Project, s types.ServiceConfig, hc *container.HostConfig, secrets bool) ([]engine.FileRef, []injected, error) {
	kind := "secret"
	refs := make([]types.FileReferenceConfig, 0, len(s.Secrets))
	if secrets {
		for _, r := range s.Secrets {
			refs = append(refs, types.FileReferenceConfig(r))
		}
	} else {
		kind = "config"
		for _, r := range s.Configs {
			refs = append(refs, types.FileReferenceConfig(r))
		}
	}
	var out []engine.FileRef
	var inject []injected
	for _, r := range refs {
		var top types.FileObjectConfig
		var ok bool
		if secrets {
			var t types.SecretConfig
			t, ok = p.Secrets[r.Source]
			top = types.FileObjectConfig(t)
		} else {
			var t types.ConfigObjConfig
			t, ok = p.Configs[r.Source]
			top = types.FileObjectConfig(t)
		}
		if !ok {
			return nil, nil, fmt.Errorf("service %q refers to undefined %s %s: invalid compose project", s.Name, kind, r.Source)
		}
		target := r.Target
		if target == "" {
			target = r.Source
		}
		if secrets && !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		} else if !secrets && !path.IsAbs(target) {
			target = "/" + target
		}
		switch {
		case top.File != "":
			if _, err := os.Stat(top.File); err != nil {
				return nil, nil, fmt.Errorf("%s %s: %v", kind, r.Source, err)
			}
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: top.File, Target: target, ReadOnly: true})
		case top.Environment != "" || top.Content != "":
			in := injected{kind: kind, source: r.Source, target: target, data: []byte(top.Content), mode: 0o444}
			if top.Environment != "" {
				v, ok := p.Environment[top.Environment]
				if !ok {
					return nil, nil, fmt.Errorf("environment variable %q required by %s %q is not set", top.Environment, kind, r.Source)
				}
				in.data = []byte(v)
			}
			if r.Mode != nil {
				in.mode = os.FileMode(*r.Mode)
			}
			var err error
			if r.UID != "" {
				if in.uid, err = strconv.Atoi(r.UID); err != nil {
					return nil, nil, fmt.Errorf("%s %s: uid %q is not a number", kind, r.Source, r.UID)
				}
			}
			if r.GID != "" {
				if in.gid, err = strconv.Atoi(r.GID); err != nil {
					return nil, nil, fmt.Errorf("%s %s: gid %q is not a number", kind, r.Source, r.GID)
				}
			}
			inject = append(inject, in)
		default:
			ref := engine.FileRef{Name: top.Name, Target: target, UID: r.UID, GID: r.GID}
			if r.Mode != nil {
				ref.Mode = os.FileMode(*r.Mode)
			}
			out = append(out, ref)
		}
	}
	return out, inject, nil
}

// ignoredFileModes are compose's warnings for s's file secrets and
// configs that set uid, gid or mode: a file one is a bind mount of the
// host's file, whose owner and mode the container sees, as compose
// mounts it.
func ignoredFileModes(p *types.Project, s types.ServiceConfig) []string {
	var out []string
	for _, r := range s.Secrets {
		if p.Secrets[r.Source].File != "" && (r.UID != "" || r.GID != "" || r.Mode != nil) {
			out = append(out, "secrets `uid`, `gid` and `mode` are not supported, they will be ignored")
			break
		}
	}
	for _, r := range s.Configs {
		if p.Configs[r.Source].File != "" && (r.UID != "" || r.GID != "" || r.Mode != nil) {
			out = append(out, "config `uid`, `gid` and `mode` are not supported, they will be ignored")
			break
		}
	}
	return out
}

// networking is the network mode and the endpoints: each of the
// service's networks by its real name, with the service's name and
// aliases as DNS names; the first by priority (then name) is the mode.
func networking(p *types.Project, s types.ServiceConfig, hc *container.HostConfig, peer peers) (*network.NetworkingConfig, error) {
	switch mode := s.NetworkMode; {
	case mode == "":
	case strings.HasPrefix(mode, "service:"):
		id, err := peer(strings.TrimPrefix(mode, "service:"))
		if err != nil {
			return nil, fmt.Errorf("network_mode %s: %v", mode, err)
		}
		hc.NetworkMode = container.NetworkMode("container:" + id)
		return nil, nil
	default:
		hc.NetworkMode = container.NetworkMode(mode)
		return nil, nil
	}
	keys := make([]string, 0, len(s.Networks))
	for k := range s.Networks {
		keys = append(keys, k)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		pi, pj := 0, 0
		if n := s.Networks[keys[i]]; n != nil {
			pi = n.Priority
		}
		if n := s.Networks[keys[j]]; n != nil {
			pj = n.Priority
		}
		if pi != pj {
			return pi > pj
		}
		return keys[i] < keys[j]
	})
	if len(keys) == 0 {
		return nil, nil
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	for i, k := range keys {
		top, ok := p.Networks[k]
		if !ok {
			return nil, fmt.Errorf("service %q refers to undefined network %s: invalid compose project", s.Name, k)
		}
		if i == 0 {
			hc.NetworkMode = container.NetworkMode(top.Name)
		}
		ep := &network.EndpointSettings{Aliases: []string{s.Name}}
		if sn := s.Networks[k]; sn != nil {
			if sn.UseServiceNameAlias != nil && !*sn.UseServiceNameAlias {
				ep.Aliases = nil
			}
			ep.Aliases = append(ep.Aliases, sn.Aliases...)
			ep.DriverOpts = map[string]string(sn.DriverOpts)
			ep.GwPriority = sn.GatewayPriority
			if sn.Ipv4Address != "" || sn.Ipv6Address != "" || len(sn.LinkLocalIPs) > 0 {
				ep.IPAMConfig = &network.EndpointIPAMConfig{}
				if sn.Ipv4Address != "" {
					a, err := netip.ParseAddr(sn.Ipv4Address)
					if err != nil {
						return nil, fmt.Errorf("networks.%s.ipv4_address %q is not an IP address", k, sn.Ipv4Address)
					}
					ep.IPAMConfig.IPv4Address = a
				}
				if sn.Ipv6Address != "" {
					a, err := netip.ParseAddr(sn.Ipv6Address)
					if err != nil {
						return nil, fmt.Errorf("networks.%s.ipv6_address %q is not an IP address", k, sn.Ipv6Address)
					}
					ep.IPAMConfig.IPv6Address = a
				}
				for _, l := range sn.LinkLocalIPs {
					a, err := netip.ParseAddr(l)
					if err != nil {
						return nil, fmt.Errorf("networks.%s.link_local_ips: %q is not an IP address", k, l)
					}
					ep.IPAMConfig.LinkLocalIPs = append(ep.IPAMConfig.LinkLocalIPs, a)
				}
			}
			mac := sn.MacAddress
			if mac == "" && i == 0 {
				mac = s.MacAddress
			}
			if mac != "" {
				if err := ep.MacAddress.UnmarshalText([]byte(mac)); err != nil {
					return nil, fmt.Errorf("networks.%s.mac_address %q: %v", k, mac, err)
				}
			}
		}
		nc.EndpointsConfig[top.Name] = ep
	}
	return nc, nil
}

// ConfigHash is the com.docker.compose.config-hash of a service: a digest
// of its model without what does not need a new container (scale,
// replicas, build, pull_policy, depends_on, profiles), as compose v2's.
func ConfigHash(s types.ServiceConfig) (string, error) {
	return configHash(nil, s)
}

// configHash is ConfigHash with, when p is given, the contents of the
// service's secrets and configs from content: or environment: (copied
// into the container once, so a changed value needs a new container, as
// newer compose hashes them). A service without any hashes as ConfigHash.
func configHash(p *types.Project, s types.ServiceConfig) (string, error) {
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	s.DependsOn = nil
	s.Profiles = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("config hash of %s: %w", s.Name, err)
	}
	if p != nil {
		b = append(b, injectedContents(p, s)...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// injectedContents are the data of s's content: and environment:
// secrets and configs, each behind its kind and name; nil when it has
// none.
func injectedContents(p *types.Project, s types.ServiceConfig) []byte {
	var b []byte
	add := func(kind, name string, top types.FileObjectConfig) {
		switch {
		case top.Content != "":
			b = fmt.Appendf(b, "\x00%s %s content %q", kind, name, top.Content)
		case top.Environment != "":
			b = fmt.Appendf(b, "\x00%s %s environment %q", kind, name, p.Environment[top.Environment])
		}
	}
	for _, r := range s.Secrets {
		add("secret", r.Source, types.FileObjectConfig(p.Secrets[r.Source]))
	}
	for _, r := range s.Configs {
		add("config", r.Source, types.FileObjectConfig(p.Configs[r.Source]))
	}
	return b
}

// randomSlug is a one-off container's com.docker.compose.slug; its first
// 12 digits end the container's name, as compose v2 names run containers.
func randomSlug() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
