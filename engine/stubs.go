package engine

// Stubs until each owner lands its part; an owner deletes the lines of the
// methods it implements (the groups say who owns what).

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

var errNI = ErrNotImplemented

// ---- core (state.go, container*.go, ...)

func (e *Engine) ContainerCreate(ctx context.Context, name string, req container.CreateRequest) (container.CreateResponse, error) {
	return container.CreateResponse{}, errNI
}
func (e *Engine) ContainerStart(ctx context.Context, id string) error                  { return errNI }
func (e *Engine) ContainerStop(ctx context.Context, id string, o StopOptions) error    { return errNI }
func (e *Engine) ContainerRestart(ctx context.Context, id string, o StopOptions) error { return errNI }
func (e *Engine) ContainerKill(ctx context.Context, id, signal string) error           { return errNI }
func (e *Engine) ContainerPause(ctx context.Context, id string) error                  { return errNI }
func (e *Engine) ContainerUnpause(ctx context.Context, id string) error                { return errNI }
func (e *Engine) ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	return nil, nil
}
func (e *Engine) ContainerRemove(ctx context.Context, id string, o RemoveOptions) error { return errNI }
func (e *Engine) ContainerList(ctx context.Context, o ListOptions) ([]container.Summary, error) {
	return nil, errNI
}
func (e *Engine) ContainerInspect(ctx context.Context, id string, size bool) (container.InspectResponse, error) {
	return container.InspectResponse{}, errNI
}
func (e *Engine) ContainerLogs(ctx context.Context, id string, o LogsOptions) (io.ReadCloser, error) {
	return nil, errNI
}
func (e *Engine) ContainerAttach(ctx context.Context, id string, o AttachOptions) (Stream, error) {
	return nil, errNI
}
func (e *Engine) ContainerResize(ctx context.Context, id string, height, width uint) error {
	return errNI
}
func (e *Engine) ContainerRename(ctx context.Context, id, newName string) error { return errNI }
func (e *Engine) ContainerUpdate(ctx context.Context, id string, u container.UpdateConfig) (container.UpdateResponse, error) {
	return container.UpdateResponse{}, errNI
}
func (e *Engine) ContainersPrune(ctx context.Context, f Filters) (container.PruneReport, error) {
	return container.PruneReport{}, errNI
}

// ---- events (events.go)

func (e *Engine) Events(ctx context.Context, o EventsOptions) (<-chan events.Message, <-chan error) {
	return nil, nil
}
