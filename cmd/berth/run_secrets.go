package main

import (
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// CONTRACT STUB (issue 8): --secret, --config of run and create.
type secretFlags struct{}

func (o *secretFlags) add(f *pflag.FlagSet) {}

func (o *secretFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error { return nil }
