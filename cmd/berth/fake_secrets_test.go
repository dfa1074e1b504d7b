package main

import (
	"context"

	"github.com/moby/moby/api/types/swarm"

	"github.com/berth-project/berth/engine"
)

// CONTRACT STUB (issue 8): the fake's secret and config side, owned by the secrets helper.

func (f *fakeAPI) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	return swarm.SecretCreateResponse{}, engine.ErrNotImplemented
}

func (f *fakeAPI) SecretList(ctx context.Context, fl engine.Filters) ([]swarm.Secret, error) {
	return nil, engine.ErrNotImplemented
}

func (f *fakeAPI) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	return swarm.Secret{}, engine.ErrNotImplemented
}

func (f *fakeAPI) SecretRemove(ctx context.Context, ref string) error {
	return engine.ErrNotImplemented
}

func (f *fakeAPI) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	return swarm.ConfigCreateResponse{}, engine.ErrNotImplemented
}

func (f *fakeAPI) ConfigList(ctx context.Context, fl engine.Filters) ([]swarm.Config, error) {
	return nil, engine.ErrNotImplemented
}

func (f *fakeAPI) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	return swarm.Config{}, engine.ErrNotImplemented
}

func (f *fakeAPI) ConfigRemove(ctx context.Context, ref string) error {
	return engine.ErrNotImplemented
}
