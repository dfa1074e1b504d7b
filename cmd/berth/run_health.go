package main

import (
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// CONTRACT STUB (issue 8): --health-cmd and friends of run and create.
type healthFlags struct{}

func (o *healthFlags) add(f *pflag.FlagSet) {}

func (o *healthFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error { return nil }
