package main

import (
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// CONTRACT STUB (issue 8): --cap-add and the other security flags of run and create.
type securityFlags struct{}

func (o *securityFlags) add(f *pflag.FlagSet) {}

func (o *securityFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error { return nil }
