package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/runtime"
)

func pauseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pause <container-id>",
		Short: "pause suspends all processes inside the container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			return c.Pause()
		},
	}
}

func resumeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resume <container-id>",
		Short: "resumes all processes that have been previously paused",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			return c.Resume()
		},
	}
}

// updateFlags are `runc update`'s resource flags, kept as strings so that an
// unset flag stays distinguishable from a zero.
type updateFlags struct {
	resources                                string
	blkioWeight                              string
	cpuPeriod, cpuQuota, cpuShare, cpuBurst  string
	cpuRtPeriod, cpuRtRuntime, cpuIdle       string
	cpusetCpus, cpusetMems                   string
	memory, memoryReservation, memorySwap    string
	kernelMemory, kernelMemoryTCP, pidsLimit string
	l3CacheSchema, memBwSchema               string
}

func updateCmd() *cobra.Command {
	var u updateFlags
	cmd := &cobra.Command{
		Use:   "update [flags] <container-id>",
		Short: "update container resource constraints",
		Long: `update changes the resource limits of a running (or created, or paused)
container. With --resources the limits come as JSON (the "resources" object
of an OCI config.json; "-" reads stdin), otherwise from the flags. Fields
left unset keep their values.`,
		Args: oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			r, err := u.parse(cmd.InOrStdin(), cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return c.Update(r)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&u.resources, "resources", "r", "", `path to the file containing the resources to update or '-' to read from the standard input`)
	f.StringVar(&u.blkioWeight, "blkio-weight", "", "specifies per cgroup weight, range is from 10 to 1000")
	f.StringVar(&u.cpuPeriod, "cpu-period", "", "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default")
	f.StringVar(&u.cpuQuota, "cpu-quota", "", "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period")
	f.StringVar(&u.cpuBurst, "cpu-burst", "", "CPU CFS hardcap burst limit (in usecs). Allowed accumulated cpu time additionally for burst a given period")
	f.StringVar(&u.cpuShare, "cpu-share", "", "CPU shares (relative weight vs. other containers)")
	f.StringVar(&u.cpuRtPeriod, "cpu-rt-period", "", "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default")
	f.StringVar(&u.cpuRtRuntime, "cpu-rt-runtime", "", "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period")
	f.StringVar(&u.cpuIdle, "cpu-idle", "", "set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE")
	f.StringVar(&u.cpusetCpus, "cpuset-cpus", "", "CPU(s) to use")
	f.StringVar(&u.cpusetMems, "cpuset-mems", "", "Memory node(s) to use")
	f.StringVar(&u.memory, "memory", "", "Memory limit (in bytes, or with a unit: 64m)")
	f.StringVar(&u.memoryReservation, "memory-reservation", "", "Memory reservation or soft_limit (in bytes)")
	f.StringVar(&u.memorySwap, "memory-swap", "", "Total memory usage (memory + swap); set '-1' to enable unlimited swap")
	f.StringVar(&u.kernelMemory, "kernel-memory", "", "(obsoleted; do not use)")
	f.StringVar(&u.kernelMemoryTCP, "kernel-memory-tcp", "", "(obsoleted; do not use)")
	f.StringVar(&u.pidsLimit, "pids-limit", "", "Maximum number of pids allowed in the container")
	f.StringVar(&u.l3CacheSchema, "l3-cache-schema", "", "The string of Intel RDT/CAT L3 cache schema")
	f.StringVar(&u.memBwSchema, "mem-bw-schema", "", "The string of Intel RDT/MBA memory bandwidth schema")
	return cmd
}

func (u *updateFlags) parse(stdin io.Reader, changed func(string) bool) (*specs.LinuxResources, error) {
	if u.resources != "" {
		var data []byte
		var err error
		if u.resources == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(u.resources)
		}
		if err != nil {
			return nil, fmt.Errorf("read resources: %w", err)
		}
		r := new(specs.LinuxResources)
		if err := json.Unmarshal(data, r); err != nil {
			return nil, fmt.Errorf("parse resources JSON: %w", err)
		}
		return r, nil
	}
	if changed("l3-cache-schema") || changed("mem-bw-schema") {
		return nil, fmt.Errorf("update: Intel RDT is not supported by berth")
	}
	if changed("kernel-memory") || changed("kernel-memory-tcp") {
		// runc ignores kernel memory limits since cgroup v1 kmem was deprecated.
		fmt.Fprintln(os.Stderr, "kernel memory settings are ignored")
	}
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{}, CPU: &specs.LinuxCPU{}}
	var errs []string
	uintFlag := func(name, v string, dst **uint64) {
		if !changed(name) {
			return
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("invalid value for %s: %s", name, v))
			return
		}
		*dst = &n
	}
	intFlag := func(name, v string, dst **int64) {
		if !changed(name) {
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("invalid value for %s: %s", name, v))
			return
		}
		*dst = &n
	}
	bytesFlag := func(name, v string, dst **int64) {
		if !changed(name) {
			return
		}
		n, err := ramInBytes(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("invalid value for %s: %v", name, err))
			return
		}
		*dst = &n
	}
	uintFlag("cpu-period", u.cpuPeriod, &r.CPU.Period)
	intFlag("cpu-quota", u.cpuQuota, &r.CPU.Quota)
	uintFlag("cpu-burst", u.cpuBurst, &r.CPU.Burst)
	uintFlag("cpu-share", u.cpuShare, &r.CPU.Shares)
	uintFlag("cpu-rt-period", u.cpuRtPeriod, &r.CPU.RealtimePeriod)
	intFlag("cpu-rt-runtime", u.cpuRtRuntime, &r.CPU.RealtimeRuntime)
	intFlag("cpu-idle", u.cpuIdle, &r.CPU.Idle)
	r.CPU.Cpus, r.CPU.Mems = u.cpusetCpus, u.cpusetMems
	bytesFlag("memory", u.memory, &r.Memory.Limit)
	bytesFlag("memory-reservation", u.memoryReservation, &r.Memory.Reservation)
	bytesFlag("memory-swap", u.memorySwap, &r.Memory.Swap)
	if changed("blkio-weight") {
		w, err := strconv.ParseUint(u.blkioWeight, 10, 16)
		if err != nil {
			errs = append(errs, "invalid value for blkio-weight: "+u.blkioWeight)
		} else {
			w16 := uint16(w)
			r.BlockIO = &specs.LinuxBlockIO{Weight: &w16}
		}
	}
	if changed("pids-limit") {
		n, err := strconv.ParseInt(u.pidsLimit, 10, 64)
		if err != nil {
			errs = append(errs, "invalid value for pids-limit: "+u.pidsLimit)
		} else {
			r.Pids = &specs.LinuxPids{Limit: &n}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("update: %s", strings.Join(errs, "; "))
	}
	return r, nil
}

var ramPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$`)
})

// ramInBytes parses a size as docker and runc write it: bytes, or a number
// with a binary unit (64m, 1.5g, 512KiB); -1 means unlimited.
func ramInBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	m := ramPattern().FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size: %q", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size: %q", s)
	}
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}[strings.ToLower(m[2])]
	return int64(n * mult), nil
}

// event is what `events` prints, one JSON object a line, as runc does.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func eventsCmd() *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events [flags] <container-id>",
		Short: "display container events such as OOM notifications and cpu, memory, and IO usage statistics",
		Long: `events prints the container's resource usage every --interval as a
"stats" event, and an "oom" event whenever it runs out of memory, until the
container stops. With --stats it prints the usage once and exits.`,
		Args: oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			if interval <= 0 {
				return errors.New("duration interval must be greater than 0")
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			if stats {
				s, err := c.Stats()
				if err != nil {
					return err
				}
				return enc.Encode(event{Type: "stats", ID: c.ID(), Data: s})
			}
			if st := c.Status(); st == runtime.Stopped || st == runtime.Creating {
				return fmt.Errorf("container with id %s is not running", c.ID())
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			ooms, err := c.OOMEvents(ctx)
			if err != nil {
				return err
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case _, ok := <-ooms:
					if !ok {
						ooms = nil
						continue
					}
					if err := enc.Encode(event{Type: "oom", ID: c.ID()}); err != nil {
						return err
					}
				case <-tick.C:
					s, err := c.Stats()
					if err != nil {
						if c.Status() == runtime.Stopped {
							return nil
						}
						fmt.Fprintln(os.Stderr, err)
						continue
					}
					if err := enc.Encode(event{Type: "stats", ID: c.ID(), Data: s}); err != nil {
						return err
					}
				}
			}
		},
	}
	cmd.Flags().BoolVar(&stats, "stats", false, "display the container's stats then exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "set the stats collection interval")
	return cmd
}
