package engine

import (
	"context"

	"github.com/moby/moby/api/types/network"
)

// Stubs until the engine's network part lands (owner: the lead).

func (e *Engine) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	return network.CreateResponse{}, Errorf(KindNotImplemented, "networks are not implemented yet")
}

func (e *Engine) NetworkList(ctx context.Context, f Filters) ([]network.Summary, error) {
	return nil, Errorf(KindNotImplemented, "networks are not implemented yet")
}

func (e *Engine) NetworkInspect(ctx context.Context, ref string, o NetworkInspectOptions) (network.Inspect, error) {
	return network.Inspect{}, Errorf(KindNotImplemented, "networks are not implemented yet")
}

func (e *Engine) NetworkRemove(ctx context.Context, ref string) error {
	return Errorf(KindNotImplemented, "networks are not implemented yet")
}

func (e *Engine) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	return Errorf(KindNotImplemented, "networks are not implemented yet")
}

func (e *Engine) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	return Errorf(KindNotImplemented, "networks are not implemented yet")
}

func (e *Engine) NetworksPrune(ctx context.Context, f Filters) (network.PruneReport, error) {
	return network.PruneReport{}, Errorf(KindNotImplemented, "networks are not implemented yet")
}
