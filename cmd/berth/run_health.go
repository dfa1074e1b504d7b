package main

import (
	"errors"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// healthFlags are --health-cmd and friends of run and create: the
// container's Healthcheck, which overrides the image's HEALTHCHECK field
// by field (the engine merges them).
type healthFlags struct {
	cmd           string
	interval      time.Duration
	timeout       time.Duration
	startPeriod   time.Duration
	startInterval time.Duration
	retries       int
	none          bool
}

func (o *healthFlags) add(f *pflag.FlagSet) {
	f.StringVar(&o.cmd, "health-cmd", "", "Command to run to check health")
	f.DurationVar(&o.interval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	f.DurationVar(&o.timeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	f.DurationVar(&o.startPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	f.DurationVar(&o.startInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	f.IntVar(&o.retries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	f.BoolVar(&o.none, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
}

// apply sets req's Config.Healthcheck as docker's CLI does: nothing when
// no flag is given (the image's applies), Test ["NONE"] for
// --no-healthcheck, else the fields given (--health-cmd as CMD-SHELL).
func (o *healthFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error {
	have := o.cmd != "" || o.interval != 0 || o.timeout != 0 || o.startPeriod != 0 || o.startInterval != 0 || o.retries != 0
	if o.none {
		if have {
			return errors.New("--no-healthcheck conflicts with --health-* options")
		}
		req.Config.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	if !have {
		return nil
	}
	for _, c := range []struct {
		bad  bool
		flag string
	}{
		{o.interval < 0, "--health-interval"},
		{o.timeout < 0, "--health-timeout"},
		{o.retries < 0, "--health-retries"},
		{o.startPeriod < 0, "--health-start-period"},
		{o.startInterval < 0, "--health-start-interval"},
	} {
		if c.bad {
			return errors.New(c.flag + " cannot be negative")
		}
	}
	h := &container.HealthConfig{
		Interval: o.interval, Timeout: o.timeout, StartPeriod: o.startPeriod,
		StartInterval: o.startInterval, Retries: o.retries,
	}
	if o.cmd != "" {
		h.Test = []string{"CMD-SHELL", o.cmd}
	}
	req.Config.Healthcheck = h
	return nil
}
