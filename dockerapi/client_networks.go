package dockerapi

import (
	"context"
	"net/http"
	"net/url"

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

func (c *Client) NetworkInspect(ctx context.Context, ref string, o engine.NetworkInspectOptions) (network.Inspect, error) {
	q := values{}.bool("verbose", o.Verbose).str("scope", o.Scope)
	var nw network.Inspect
	err := c.call(ctx, request{method: http.MethodGet, path: "/networks/" + ref, query: url.Values(q)}, &nw)
	return nw, err
}

func (c *Client) NetworkRemove(ctx context.Context, ref string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/networks/" + ref}, nil)
}

func (c *Client) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	return c.call(ctx, request{method: http.MethodPost, path: "/networks/" + ref + "/connect", json: req}, nil)
}

func (c *Client) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	return c.call(ctx, request{method: http.MethodPost, path: "/networks/" + ref + "/disconnect", json: req}, nil)
}

func (c *Client) NetworksPrune(ctx context.Context, f engine.Filters) (network.PruneReport, error) {
	var rep network.PruneReport
	err := c.call(ctx, request{method: http.MethodPost, path: "/networks/prune", query: url.Values(values{}.filters(f))}, &rep)
	return rep, err
}
