package seccomp

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// dockerProfile is Docker's seccomp profile format (moby
// profiles/seccomp): the runtime-spec fields, plus archMap and syscall
// rules with include/exclude conditions on capabilities, architectures and
// kernel version.
type dockerProfile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures    []specs.Arch             `json:"architectures,omitempty"`
	ArchMap          []dockerArch             `json:"archMap,omitempty"`
	Flags            []specs.LinuxSeccompFlag `json:"flags,omitempty"`
	ListenerPath     string                   `json:"listenerPath,omitempty"`
	ListenerMetadata string                   `json:"listenerMetadata,omitempty"`
	Syscalls         []dockerSyscall          `json:"syscalls"`
}

type dockerArch struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

type dockerSyscall struct {
	Name     string                   `json:"name,omitempty"`
	Names    []string                 `json:"names,omitempty"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []specs.LinuxSeccompArg  `json:"args"`
	Includes *dockerFilter            `json:"includes,omitempty"`
	Excludes *dockerFilter            `json:"excludes,omitempty"`
}

type dockerFilter struct {
	Caps      []string   `json:"caps,omitempty"`
	Arches    []string   `json:"arches,omitempty"`
	MinKernel *minKernel `json:"minKernel,omitempty"`
}

// minKernel is "MAJOR.MINOR" in a profile.
type minKernel [2]int

func (k *minKernel) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("minKernel: %w", err)
	}
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b2, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil || a < 0 || b2 < 0 {
		return fmt.Errorf("invalid kernel version %q: use MAJOR.MINOR", s)
	}
	*k = minKernel{a, b2}
	return nil
}

// LoadProfile reads a seccomp profile in Docker's format (what
// `--security-opt seccomp=PROFILE.json` sends) and resolves it for
// runtime.GOARCH, the running kernel and caps, the container's
// capabilities (names like "CAP_SYS_ADMIN"), as Docker does: archMap
// gives the native architecture and its sub-architectures; a syscall rule
// is kept when its includes hold (all caps held, GOARCH among the arches,
// kernel at least minKernel) and its excludes do not (any cap held, GOARCH
// among the arches, kernel at least minKernel). The result still has to
// pass Compile.
func LoadProfile(data []byte, caps []string) (*specs.LinuxSeccomp, error) {
	return loadProfile(data, caps, runtime.GOARCH, kernelVersion())
}

func loadProfile(data []byte, caps []string, goarch string, kernel [2]int) (*specs.LinuxSeccomp, error) {
	var p dockerProfile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("Decoding seccomp profile failed: %v", err)
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return nil, fmt.Errorf("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'")
	}
	if p.DefaultAction == "" {
		return nil, fmt.Errorf("seccomp profile: defaultAction is missing")
	}
	held := map[string]bool{}
	for _, c := range caps {
		c = strings.ToUpper(c)
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		held[c] = true
	}
	s := &specs.LinuxSeccomp{
		DefaultAction: p.DefaultAction, DefaultErrnoRet: p.DefaultErrnoRet,
		Architectures: p.Architectures, Flags: p.Flags,
		ListenerPath: p.ListenerPath, ListenerMetadata: p.ListenerMetadata,
	}
	native := goarchToArch(goarch)
	for _, a := range p.ArchMap {
		if a.Arch == native {
			s.Architectures = append(s.Architectures, a.Arch)
			s.Architectures = append(s.Architectures, a.SubArches...)
		}
	}
	atLeast := func(v minKernel) bool {
		return kernel[0] > v[0] || kernel[0] == v[0] && kernel[1] >= v[1]
	}
	for i, sc := range p.Syscalls {
		if sc.Name != "" && len(sc.Names) > 0 {
			return nil, fmt.Errorf("'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'")
		}
		if x := sc.Excludes; x != nil {
			if slices.Contains(x.Arches, goarch) || x.MinKernel != nil && atLeast(*x.MinKernel) ||
				slices.ContainsFunc(x.Caps, func(c string) bool { return held[c] }) {
				continue
			}
		}
		if in := sc.Includes; in != nil {
			if len(in.Arches) > 0 && !slices.Contains(in.Arches, goarch) || in.MinKernel != nil && !atLeast(*in.MinKernel) ||
				slices.ContainsFunc(in.Caps, func(c string) bool { return !held[c] }) {
				continue
			}
		}
		names := sc.Names
		if sc.Name != "" {
			names = []string{sc.Name}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("seccomp profile: syscall rule %d has no names", i)
		}
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: names, Action: sc.Action, ErrnoRet: sc.ErrnoRet, Args: sc.Args})
	}
	return s, nil
}
