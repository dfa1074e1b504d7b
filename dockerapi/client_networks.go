package dockerapi

import (
	"context"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/engine"
)

// Stubs until the network routes land (owner: helper "api").

func (c *Client) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	panic("dockerapi: NetworkCreate not implemented")
}

func (c *Client) NetworkList(ctx context.Context, f engine.Filters) ([]network.Summary, error) {
	panic("dockerapi: NetworkList not implemented")
}

func (c *Client) NetworkInspect(ctx context.Context, ref string, o engine.NetworkInspectOptions) (network.Inspect, error) {
	panic("dockerapi: NetworkInspect not implemented")
}

func (c *Client) NetworkRemove(ctx context.Context, ref string) error {
	panic("dockerapi: NetworkRemove not implemented")
}

func (c *Client) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	panic("dockerapi: NetworkConnect not implemented")
}

func (c *Client) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	panic("dockerapi: NetworkDisconnect not implemented")
}

func (c *Client) NetworksPrune(ctx context.Context, f engine.Filters) (network.PruneReport, error) {
	panic("dockerapi: NetworksPrune not implemented")
}
