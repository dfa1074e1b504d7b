package dockerapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/berth-project/berth/engine"
)

// objectPath is the path of a secret or config ref, or an error for an
// empty one, which would name another route.
func objectPath(kind, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", engine.Invalid("%s name or ID is empty", kind)
	}
	return "/" + kind + "s/" + ref, nil
}

func (c *Client) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	var resp swarm.SecretCreateResponse
	err := c.call(ctx, request{method: http.MethodPost, path: "/secrets/create", json: spec}, &resp)
	return resp, err
}

func (c *Client) SecretList(ctx context.Context, f engine.Filters) ([]swarm.Secret, error) {
	var list []swarm.Secret
	err := c.call(ctx, request{method: http.MethodGet, path: "/secrets", query: url.Values(values{}.filters(f))}, &list)
	return list, err
}

func (c *Client) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	var s swarm.Secret
	path, err := objectPath("secret", ref)
	if err != nil {
		return s, err
	}
	err = c.call(ctx, request{method: http.MethodGet, path: path}, &s)
	return s, err
}

func (c *Client) SecretRemove(ctx context.Context, ref string) error {
	path, err := objectPath("secret", ref)
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: http.MethodDelete, path: path}, nil)
}

func (c *Client) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	var resp swarm.ConfigCreateResponse
	err := c.call(ctx, request{method: http.MethodPost, path: "/configs/create", json: spec}, &resp)
	return resp, err
}

func (c *Client) ConfigList(ctx context.Context, f engine.Filters) ([]swarm.Config, error) {
	var list []swarm.Config
	err := c.call(ctx, request{method: http.MethodGet, path: "/configs", query: url.Values(values{}.filters(f))}, &list)
	return list, err
}

func (c *Client) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	var cfg swarm.Config
	path, err := objectPath("config", ref)
	if err != nil {
		return cfg, err
	}
	err = c.call(ctx, request{method: http.MethodGet, path: path}, &cfg)
	return cfg, err
}

func (c *Client) ConfigRemove(ctx context.Context, ref string) error {
	path, err := objectPath("config", ref)
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: http.MethodDelete, path: path}, nil)
}
