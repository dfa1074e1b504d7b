package engine

// Stubs until each owner lands its part; an owner deletes the lines of the
// methods it implements (the groups say who owns what).

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
)

var errNI = ErrNotImplemented

// ---- extras (exec.go, top.go, stats.go, changes.go, ctrarchive.go, images_api.go, system.go)

func (e *Engine) Ping(ctx context.Context) (Ping, error) { return Ping{}, errNI }
func (e *Engine) Version(ctx context.Context) (system.VersionResponse, error) {
	return system.VersionResponse{}, errNI
}
func (e *Engine) Info(ctx context.Context) (system.Info, error) { return system.Info{}, errNI }
func (e *Engine) DiskUsage(ctx context.Context) (system.DiskUsage, error) {
	return system.DiskUsage{}, errNI
}
func (e *Engine) ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error) {
	return container.TopResponse{}, errNI
}
func (e *Engine) ContainerStats(ctx context.Context, id string, stream bool) (io.ReadCloser, error) {
	return nil, errNI
}
func (e *Engine) ContainerChanges(ctx context.Context, id string) ([]container.FilesystemChange, error) {
	return nil, errNI
}
func (e *Engine) ContainerExport(ctx context.Context, id string) (io.ReadCloser, error) {
	return nil, errNI
}
func (e *Engine) ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error) {
	return container.PathStat{}, errNI
}
func (e *Engine) CopyFromContainer(ctx context.Context, id, path string) (io.ReadCloser, container.PathStat, error) {
	return nil, container.PathStat{}, errNI
}
func (e *Engine) CopyToContainer(ctx context.Context, id, path string, tar io.Reader, o CopyToOptions) error {
	return errNI
}
func (e *Engine) ExecCreate(ctx context.Context, id string, req container.ExecCreateRequest) (container.ExecCreateResponse, error) {
	return container.ExecCreateResponse{}, errNI
}
func (e *Engine) ExecStart(ctx context.Context, execID string, req container.ExecStartRequest) (Stream, error) {
	return nil, errNI
}
func (e *Engine) ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error) {
	return container.ExecInspectResponse{}, errNI
}
func (e *Engine) ExecResize(ctx context.Context, execID string, height, width uint) error {
	return errNI
}
func (e *Engine) ImagePull(ctx context.Context, ref string, o PullRequest) (io.ReadCloser, error) {
	return nil, errNI
}
func (e *Engine) ImageList(ctx context.Context, o ImageListOptions) ([]image.Summary, error) {
	return nil, errNI
}
func (e *Engine) ImageInspect(ctx context.Context, name string) (image.InspectResponse, error) {
	return image.InspectResponse{}, errNI
}
func (e *Engine) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	return nil, errNI
}
func (e *Engine) ImageTag(ctx context.Context, source, target string) error { return errNI }
func (e *Engine) ImagePush(ctx context.Context, ref string, o PushRequest) (io.ReadCloser, error) {
	return nil, errNI
}
func (e *Engine) ImageRemove(ctx context.Context, name string, o ImageRemoveOptions) ([]image.DeleteResponse, error) {
	return nil, errNI
}
func (e *Engine) ImagesPrune(ctx context.Context, f Filters) (image.PruneReport, error) {
	return image.PruneReport{}, errNI
}
func (e *Engine) ImageSave(ctx context.Context, names []string) (io.ReadCloser, error) {
	return nil, errNI
}
func (e *Engine) ImageLoad(ctx context.Context, tar io.Reader, quiet bool) (io.ReadCloser, error) {
	return nil, errNI
}
func (e *Engine) ImageSearch(ctx context.Context, term string, o SearchRequest) ([]registry.SearchResult, error) {
	return nil, errNI
}
