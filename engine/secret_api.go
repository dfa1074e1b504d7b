package engine

import (
	"context"

	"github.com/moby/moby/api/types/swarm"
)

// CONTRACT STUB (issue 8): owned by the secrets helper.

func (e *Engine) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	return swarm.SecretCreateResponse{}, Errorf(KindNotImplemented, "secrets: not implemented yet")
}

func (e *Engine) SecretList(ctx context.Context, f Filters) ([]swarm.Secret, error) {
	return nil, Errorf(KindNotImplemented, "secrets: not implemented yet")
}

func (e *Engine) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	return swarm.Secret{}, Errorf(KindNotImplemented, "secrets: not implemented yet")
}

func (e *Engine) SecretRemove(ctx context.Context, ref string) error {
	return Errorf(KindNotImplemented, "secrets: not implemented yet")
}

func (e *Engine) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	return swarm.ConfigCreateResponse{}, Errorf(KindNotImplemented, "configs: not implemented yet")
}

func (e *Engine) ConfigList(ctx context.Context, f Filters) ([]swarm.Config, error) {
	return nil, Errorf(KindNotImplemented, "configs: not implemented yet")
}

func (e *Engine) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	return swarm.Config{}, Errorf(KindNotImplemented, "configs: not implemented yet")
}

func (e *Engine) ConfigRemove(ctx context.Context, ref string) error {
	return Errorf(KindNotImplemented, "configs: not implemented yet")
}
