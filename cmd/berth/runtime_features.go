package main

import (
	"encoding/json"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/runtime"
	"github.com/berth-project/berth/runtime/seccomp"
)

func featuresCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "show the enabled features",
		Long: `features prints what this runtime supports, as the OCI runtime spec's
features document (features.md) describes it; higher-level engines read it
to know what they may ask for.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			yes, no := true, false
			f := features.Features{
				OCIVersionMin: "1.0.0",
				OCIVersionMax: specs.Version,
				Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
				MountOptions:  mount.KnownOptions(),
				Linux: &features.Linux{
					Namespaces:      []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
					Capabilities:    runtime.CapabilityNames(),
					Cgroup:          &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &yes},
					Seccomp:         seccomp.Features(),
					Apparmor:        &features.Apparmor{Enabled: &no},
					Selinux:         &features.Selinux{Enabled: &no},
					IntelRdt:        &features.IntelRdt{Enabled: &no},
					MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &no}},
				},
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "    ")
			return enc.Encode(f)
		},
	}
}
