package dockerapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/engine"
)

func (c *Client) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	var resp network.CreateResponse
	err := c.call(ctx, request{method: http.MethodPost, path: "/networks/create", json: req}, &resp)
	return resp, err
}

func (c *Client) NetworkList(ctx context.Context, f engine.Filters) ([]network.Summary, error) {
	var list []network.Summary
	err := c.call(ctx, request{method: http.MethodGet, path: "/networks", query: url.Values(values{}.filters(f))}, &list)
	return list, err
}

// networkPath is the path of the network ref (and what follows it), or
// docker's client error for an empty ref, which would name another route.
func networkPath(ref, rest string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", engine.Invalid("invalid network name or ID: value is empty")
	}
	return "/networks/" + ref + rest, nil
}

func (c *Client) NetworkInspect(ctx context.Context, ref string, o engine.NetworkInspectOptions) (network.Inspect, error) {
	var nw network.Inspect
	path, err := networkPath(ref, "")
	if err != nil {
		return nw, err
	}
	q := values{}.bool("verbose", o.Verbose).str("scope", o.Scope)
	err = c.call(ctx, request{method: http.MethodGet, path: path, query: url.Values(q)}, &nw)
	return nw, err
}

func (c *Client) NetworkRemove(ctx context.Context, ref string) error {
	path, err := networkPath(ref, "")
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: http.MethodDelete, path: path}, nil)
}

func (c *Client) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	path, err := networkPath(ref, "/connect")
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: http.MethodPost, path: path, json: req}, nil)
}

func (c *Client) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	path, err := networkPath(ref, "/disconnect")
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: http.MethodPost, path: path, json: req}, nil)
}

func (c *Client) NetworksPrune(ctx context.Context, f engine.Filters) (network.PruneReport, error) {
	var rep network.PruneReport
	err := c.call(ctx, request{method: http.MethodPost, path: "/networks/prune", query: url.Values(values{}.filters(f))}, &rep)
	return rep, err
}
