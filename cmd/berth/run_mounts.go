package main

import (
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
)

// CONTRACT STUB (issue 8): -v, --mount, --tmpfs, --volumes-from of run and create.
type mountFlags struct{}

func (o *mountFlags) add(f *pflag.FlagSet) {}

func (o *mountFlags) apply(flags *pflag.FlagSet, req *engine.CreateRequest) error { return nil }
