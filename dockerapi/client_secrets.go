package dockerapi

import (
	"context"

	"github.com/moby/moby/api/types/swarm"

	"github.com/berth-project/berth/engine"
)

// CONTRACT STUB (issue 8): owned by the secrets helper.

func (c *Client) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	return swarm.SecretCreateResponse{}, engine.ErrNotImplemented
}

func (c *Client) SecretList(ctx context.Context, f engine.Filters) ([]swarm.Secret, error) {
	return nil, engine.ErrNotImplemented
}

func (c *Client) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	return swarm.Secret{}, engine.ErrNotImplemented
}

func (c *Client) SecretRemove(ctx context.Context, ref string) error {
	return engine.ErrNotImplemented
}

func (c *Client) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	return swarm.ConfigCreateResponse{}, engine.ErrNotImplemented
}

func (c *Client) ConfigList(ctx context.Context, f engine.Filters) ([]swarm.Config, error) {
	return nil, engine.ErrNotImplemented
}

func (c *Client) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	return swarm.Config{}, engine.ErrNotImplemented
}

func (c *Client) ConfigRemove(ctx context.Context, ref string) error {
	return engine.ErrNotImplemented
}
