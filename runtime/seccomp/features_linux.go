package seccomp

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features describes what Compile and Load support, for `runtime features`.
func Features() *features.Seccomp {
	enabled := true
	f := &features.Seccomp{Enabled: &enabled}
	for _, a := range []specs.LinuxSeccompAction{
		specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap, specs.ActErrno,
		specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
	} {
		f.Actions = append(f.Actions, string(a))
	}
	for op := range ops {
		f.Operators = append(f.Operators, string(op))
	}
	for a := range archs {
		f.Archs = append(f.Archs, string(a))
	}
	for fl := range flagBits {
		f.KnownFlags = append(f.KnownFlags, string(fl))
		f.SupportedFlags = append(f.SupportedFlags, string(fl))
	}
	for _, l := range [][]string{f.Operators, f.Archs, f.KnownFlags, f.SupportedFlags} {
		sort.Strings(l)
	}
	return f
}
