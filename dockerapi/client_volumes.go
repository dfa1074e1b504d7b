package dockerapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
)

func (c *Client) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	var v volume.Volume
	err := c.call(ctx, request{method: http.MethodPost, path: "/volumes/create", json: req}, &v)
	return v, err
}

func (c *Client) VolumeList(ctx context.Context, f engine.Filters) (volume.ListResponse, error) {
	var resp volume.ListResponse
	err := c.call(ctx, request{method: http.MethodGet, path: "/volumes", query: url.Values(values{}.filters(f))}, &resp)
	return resp, err
}

// volumePath is the path of volume name, or docker's client error for an
// empty name, which would name another route.
func volumePath(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", engine.Invalid("invalid volume name or ID: value is empty")
	}
	return "/volumes/" + name, nil
}

func (c *Client) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	var v volume.Volume
	path, err := volumePath(name)
	if err != nil {
		return v, err
	}
	err = c.call(ctx, request{method: http.MethodGet, path: path}, &v)
	return v, err
}

func (c *Client) VolumeRemove(ctx context.Context, name string, force bool) error {
	path, err := volumePath(name)
	if err != nil {
		return err
	}
	q := values{}.bool("force", force)
	return c.call(ctx, request{method: http.MethodDelete, path: path, query: url.Values(q)}, nil)
}

func (c *Client) VolumesPrune(ctx context.Context, f engine.Filters) (volume.PruneReport, error) {
	var rep volume.PruneReport
	err := c.call(ctx, request{method: http.MethodPost, path: "/volumes/prune", query: url.Values(values{}.filters(f))}, &rep)
	return rep, err
}
