package main

import (
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// CONTRACT STUB (issue 8): --memory-reservation and the other resource flags of run and create.
type resourceFlags struct{}

func (o *resourceFlags) add(f *pflag.FlagSet) {}

func (o *resourceFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error { return nil }
