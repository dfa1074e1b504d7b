package image

import (
	"errors"
	"fmt"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/oci"
)

// AnnotationStopSignal carries the image's StopSignal into the runtime spec,
// as the image-spec's conversion rules name it.
const AnnotationStopSignal = "org.opencontainers.image.stopSignal"

// DefaultPath is the PATH of a container whose image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var (
	// ErrNoCommand is returned when neither image nor options give a command.
	ErrNoCommand = errors.New("no command specified")
	// ErrInvalidSignal is wrapped by ParseSignal's errors.
	ErrInvalidSignal = errors.New("invalid signal")
)

// SpecOptions are what a `docker run` user can put over the image config.
type SpecOptions struct {
	// Cmd replaces the image's Cmd; nil means not given. An empty, non-nil
	// Cmd runs the entrypoint without the image's default arguments.
	Cmd []string
	// Entrypoint replaces the image's Entrypoint when EntrypointSet (docker
	// run --entrypoint); the image's Cmd is then dropped too. An empty
	// Entrypoint (or [""], as `--entrypoint ""` sends it) clears it.
	Entrypoint    []string
	EntrypointSet bool
	// Env entries "KEY=value" are added or replace the image's; a bare
	// "KEY" removes it.
	Env []string
	// WorkingDir replaces the image's; it must be absolute.
	WorkingDir string
	// User replaces the image's ("name", "uid", "uid:gid", "name:group", ...).
	User     string
	Hostname string // default: the one of oci.DefaultSpec
	Tty      bool   // a terminal for the process, and TERM=xterm
	ReadOnly bool   // the rootfs mounted read-only
}

// Spec builds the runtime spec for a container of an image: oci.DefaultSpec
// with the process (args, env, cwd, user) taken from the image config and
// the options as Docker does, the rootfs at rootfs (where it is also read
// for the image's users and groups), and the stop signal as an annotation.
// Labels, exposed ports and volumes stay out: see ConfigInfoOf. ArgsEscaped
// only matters on Windows and is ignored.
func Spec(cfg ocispec.Image, rootfs string, o SpecOptions) (*specs.Spec, error) {
	if cfg.OS != "" && cfg.OS != "linux" {
		return nil, fmt.Errorf("image operating system %q cannot be used on this platform", cfg.OS)
	}
	args, err := ProcessArgs(cfg.Config, o)
	if err != nil {
		return nil, err
	}
	cwd := "/"
	if o.WorkingDir != "" {
		if !path.IsAbs(o.WorkingDir) {
			return nil, fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", o.WorkingDir)
		}
		cwd = path.Clean(o.WorkingDir)
	} else if cfg.Config.WorkingDir != "" {
		cwd = path.Join("/", cfg.Config.WorkingDir)
	}
	userSpec := cfg.Config.User
	if o.User != "" {
		userSpec = o.User
	}
	u, err := LookupUser(rootfs, userSpec)
	if err != nil {
		return nil, err
	}

	s := oci.DefaultSpec()
	s.Root.Path = rootfs
	s.Root.Readonly = o.ReadOnly
	if o.Hostname != "" {
		s.Hostname = o.Hostname
	}
	s.Process.Terminal = o.Tty
	s.Process.Args = args
	s.Process.Cwd = cwd
	s.Process.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}

	env := []string{"PATH=" + DefaultPath, "HOSTNAME=" + s.Hostname}
	if o.Tty {
		env = append(env, "TERM=xterm")
	}
	env = mergeEnv(env, cfg.Config.Env)
	env = mergeEnv(env, o.Env)
	if _, ok := lookupEnv(env, "HOME"); !ok {
		env = append(env, "HOME="+u.Home)
	}
	s.Process.Env = env

	if sig := cfg.Config.StopSignal; sig != "" {
		if _, err := ParseSignal(sig); err == nil {
			s.Annotations = map[string]string{AnnotationStopSignal: sig}
		}
	}
	return s, nil
}

// ProcessArgs is the process's argv as Docker builds it: the entrypoint
// followed by the command, where the user's --entrypoint drops the image's
// Cmd as well, and the user's Cmd replaces the image's. ErrNoCommand when
// nothing is left.
func ProcessArgs(cfg ocispec.ImageConfig, o SpecOptions) ([]string, error) {
	entrypoint, cmd := cfg.Entrypoint, cfg.Cmd
	if o.EntrypointSet {
		entrypoint, cmd = o.Entrypoint, nil
	}
	if o.Cmd != nil {
		cmd = o.Cmd
	}
	if len(entrypoint) == 1 && entrypoint[0] == "" {
		entrypoint = nil
	}
	args := make([]string, 0, len(entrypoint)+len(cmd))
	args = append(append(args, entrypoint...), cmd...)
	if len(args) == 0 || args[0] == "" {
		return nil, ErrNoCommand
	}
	return args, nil
}

// mergeEnv applies overrides to env by key: "K=v" replaces K in place or is
// appended, a bare "K" removes K.
func mergeEnv(env, overrides []string) []string {
	out := append([]string(nil), env...)
	for _, kv := range overrides {
		key, _, set := strings.Cut(kv, "=")
		i := envIndex(out, key)
		switch {
		case set && i >= 0:
			out[i] = kv
		case set:
			out = append(out, kv)
		case i >= 0:
			out = append(out[:i], out[i+1:]...)
		}
	}
	return out
}

func envIndex(env []string, key string) int {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return i
		}
	}
	return -1
}

func lookupEnv(env []string, key string) (string, bool) {
	if i := envIndex(env, key); i >= 0 {
		_, v, _ := strings.Cut(env[i], "=")
		return v, true
	}
	return "", false
}

// ConfigInfo is what the engine needs of an image config beyond the spec.
type ConfigInfo struct {
	ExposedPorts []string          // "80/tcp", "53/udp", sorted
	Volumes      []string          // container paths, sorted
	Labels       map[string]string // the image's labels (a copy)
	StopSignal   syscall.Signal    // SIGTERM unless the image names a valid one
}

// ConfigInfoOf extracts ConfigInfo from an image config. A port without a
// protocol is tcp. An invalid StopSignal falls back to SIGTERM, as Docker
// does; StopSignal reports it.
func ConfigInfoOf(cfg ocispec.Image) ConfigInfo {
	var info ConfigInfo
	for p := range cfg.Config.ExposedPorts {
		port, proto, ok := strings.Cut(p, "/")
		if !ok || proto == "" {
			proto = "tcp"
		}
		info.ExposedPorts = append(info.ExposedPorts, port+"/"+strings.ToLower(proto))
	}
	sort.Strings(info.ExposedPorts)
	for v := range cfg.Config.Volumes {
		info.Volumes = append(info.Volumes, v)
	}
	sort.Strings(info.Volumes)
	if len(cfg.Config.Labels) > 0 {
		info.Labels = make(map[string]string, len(cfg.Config.Labels))
		for k, v := range cfg.Config.Labels {
			info.Labels[k] = v
		}
	}
	info.StopSignal = unix.SIGTERM
	if sig, err := StopSignal(cfg); err == nil {
		info.StopSignal = sig
	}
	return info
}

// StopSignal is the signal that asks a container of the image to stop:
// the config's StopSignal, or SIGTERM when it names none.
func StopSignal(cfg ocispec.Image) (syscall.Signal, error) {
	if cfg.Config.StopSignal == "" {
		return unix.SIGTERM, nil
	}
	return ParseSignal(cfg.Config.StopSignal)
}

// ParseSignal parses a signal as Docker accepts it: a number ("15"), a
// name with or without SIG in any case ("SIGTERM", "term"), or a realtime
// signal relative to its bounds ("SIGRTMIN+3", "RTMAX-1"; RTMIN is 34 as
// glibc counts it, RTMAX 64, 127 on mips).
func ParseSignal(s string) (syscall.Signal, error) {
	bad := func() (syscall.Signal, error) {
		return 0, fmt.Errorf("%w: %s", ErrInvalidSignal, s)
	}
	const rtmin = 34
	rtmax := 64
	if strings.HasPrefix(runtime.GOARCH, "mips") {
		rtmax = 127
	}
	if n, err := strconv.Atoi(s); err == nil && s[0] >= '0' && s[0] <= '9' {
		if n < 1 || n > rtmax {
			return bad()
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	// rt reads a realtime signal: base, or base moved by "+n" (sign '+')
	// or "-n" (sign '-').
	rt := func(base int, rest string, sign byte) (syscall.Signal, error) {
		n := base
		if rest != "" {
			digits := rest[1:]
			k, err := strconv.Atoi(digits)
			if rest[0] != sign || err != nil || digits[0] < '0' || digits[0] > '9' {
				return bad()
			}
			if sign == '+' {
				n += k
			} else {
				n -= k
			}
		}
		if n < rtmin || n > rtmax {
			return bad()
		}
		return syscall.Signal(n), nil
	}
	if rest, ok := strings.CutPrefix(name, "RTMIN"); ok {
		return rt(rtmin, rest, '+')
	}
	if rest, ok := strings.CutPrefix(name, "RTMAX"); ok {
		return rt(rtmax, rest, '-')
	}
	switch name {
	case "IOT":
		name = "ABRT"
	case "POLL":
		name = "IO"
	case "CLD":
		name = "CHLD"
	}
	if sig := unix.SignalNum("SIG" + name); sig != 0 {
		return sig, nil
	}
	return bad()
}
