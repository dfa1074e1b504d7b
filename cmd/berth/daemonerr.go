package main

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/engine"
)

// daemonErrors marks every error of the engine.API it wraps as the
// daemon's, so that the in-process engine and the daemon over the socket
// print the same "Error response from daemon: ..." lines.
type daemonErrors struct{ api engine.API }

var _ engine.API = daemonErrors{}

func (d daemonErrors) Ping(ctx context.Context) (engine.Ping, error) {
	r, err := d.api.Ping(ctx)
	return r, fromDaemon(err)
}

func (d daemonErrors) Version(ctx context.Context) (system.VersionResponse, error) {
	r, err := d.api.Version(ctx)
	return r, fromDaemon(err)
}

func (d daemonErrors) Info(ctx context.Context) (system.Info, error) {
	r, err := d.api.Info(ctx)
	return r, fromDaemon(err)
}

func (d daemonErrors) DiskUsage(ctx context.Context) (system.DiskUsage, error) {
	r, err := d.api.DiskUsage(ctx)
	return r, fromDaemon(err)
}

func (d daemonErrors) Events(ctx context.Context, o engine.EventsOptions) (<-chan events.Message, <-chan error) {
	msgs, errs := d.api.Events(ctx, o)
	return msgs, markErrors(errs)
}

// markErrors passes the values of errs on, marked as the daemon's.
func markErrors(errs <-chan error) <-chan error {
	if errs == nil {
		return nil
	}
	out := make(chan error, 1)
	go func() {
		defer close(out)
		for err := range errs {
			out <- fromDaemon(err)
		}
	}()
	return out
}

func (d daemonErrors) ContainerCreate(ctx context.Context, name string, req engine.CreateRequest) (container.CreateResponse, error) {
	r, err := d.api.ContainerCreate(ctx, name, req)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerStart(ctx context.Context, id string) error {
	return fromDaemon(d.api.ContainerStart(ctx, id))
}

func (d daemonErrors) ContainerStop(ctx context.Context, id string, o engine.StopOptions) error {
	return fromDaemon(d.api.ContainerStop(ctx, id, o))
}

func (d daemonErrors) ContainerRestart(ctx context.Context, id string, o engine.StopOptions) error {
	return fromDaemon(d.api.ContainerRestart(ctx, id, o))
}

func (d daemonErrors) ContainerKill(ctx context.Context, id, signal string) error {
	return fromDaemon(d.api.ContainerKill(ctx, id, signal))
}

func (d daemonErrors) ContainerPause(ctx context.Context, id string) error {
	return fromDaemon(d.api.ContainerPause(ctx, id))
}

func (d daemonErrors) ContainerUnpause(ctx context.Context, id string) error {
	return fromDaemon(d.api.ContainerUnpause(ctx, id))
}

func (d daemonErrors) ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	res, errs := d.api.ContainerWait(ctx, id, cond)
	return res, markErrors(errs)
}

func (d daemonErrors) ContainerRemove(ctx context.Context, id string, o engine.RemoveOptions) error {
	return fromDaemon(d.api.ContainerRemove(ctx, id, o))
}

func (d daemonErrors) ContainerList(ctx context.Context, o engine.ListOptions) ([]container.Summary, error) {
	r, err := d.api.ContainerList(ctx, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerInspect(ctx context.Context, id string, size bool) (container.InspectResponse, error) {
	r, err := d.api.ContainerInspect(ctx, id, size)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerLogs(ctx context.Context, id string, o engine.LogsOptions) (io.ReadCloser, error) {
	r, err := d.api.ContainerLogs(ctx, id, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerAttach(ctx context.Context, id string, o engine.AttachOptions) (engine.Stream, error) {
	r, err := d.api.ContainerAttach(ctx, id, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerResize(ctx context.Context, id string, height, width uint) error {
	return fromDaemon(d.api.ContainerResize(ctx, id, height, width))
}

func (d daemonErrors) ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error) {
	r, err := d.api.ContainerTop(ctx, id, psArgs)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerStats(ctx context.Context, id string, stream bool) (io.ReadCloser, error) {
	r, err := d.api.ContainerStats(ctx, id, stream)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerRename(ctx context.Context, id, newName string) error {
	return fromDaemon(d.api.ContainerRename(ctx, id, newName))
}

func (d daemonErrors) ContainerUpdate(ctx context.Context, id string, u container.UpdateConfig) (container.UpdateResponse, error) {
	r, err := d.api.ContainerUpdate(ctx, id, u)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerChanges(ctx context.Context, id string) ([]container.FilesystemChange, error) {
	r, err := d.api.ContainerChanges(ctx, id)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerExport(ctx context.Context, id string) (io.ReadCloser, error) {
	r, err := d.api.ContainerExport(ctx, id)
	return r, fromDaemon(err)
}

func (d daemonErrors) ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error) {
	r, err := d.api.ContainerStatPath(ctx, id, path)
	return r, fromDaemon(err)
}

func (d daemonErrors) CopyFromContainer(ctx context.Context, id, path string) (io.ReadCloser, container.PathStat, error) {
	r, st, err := d.api.CopyFromContainer(ctx, id, path)
	return r, st, fromDaemon(err)
}

func (d daemonErrors) CopyToContainer(ctx context.Context, id, path string, tar io.Reader, o engine.CopyToOptions) error {
	return fromDaemon(d.api.CopyToContainer(ctx, id, path, tar, o))
}

func (d daemonErrors) ContainersPrune(ctx context.Context, f engine.Filters) (container.PruneReport, error) {
	r, err := d.api.ContainersPrune(ctx, f)
	return r, fromDaemon(err)
}

func (d daemonErrors) ExecCreate(ctx context.Context, id string, req container.ExecCreateRequest) (container.ExecCreateResponse, error) {
	r, err := d.api.ExecCreate(ctx, id, req)
	return r, fromDaemon(err)
}

func (d daemonErrors) ExecStart(ctx context.Context, execID string, req container.ExecStartRequest) (engine.Stream, error) {
	r, err := d.api.ExecStart(ctx, execID, req)
	return r, fromDaemon(err)
}

func (d daemonErrors) ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error) {
	r, err := d.api.ExecInspect(ctx, execID)
	return r, fromDaemon(err)
}

func (d daemonErrors) ExecResize(ctx context.Context, execID string, height, width uint) error {
	return fromDaemon(d.api.ExecResize(ctx, execID, height, width))
}

func (d daemonErrors) ImagePull(ctx context.Context, ref string, o engine.PullRequest) (io.ReadCloser, error) {
	r, err := d.api.ImagePull(ctx, ref, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) ImageList(ctx context.Context, o engine.ImageListOptions) ([]image.Summary, error) {
	r, err := d.api.ImageList(ctx, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) ImageInspect(ctx context.Context, name string) (image.InspectResponse, error) {
	r, err := d.api.ImageInspect(ctx, name)
	return r, fromDaemon(err)
}

func (d daemonErrors) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	r, err := d.api.ImageHistory(ctx, name)
	return r, fromDaemon(err)
}

func (d daemonErrors) ImageTag(ctx context.Context, source, target string) error {
	return fromDaemon(d.api.ImageTag(ctx, source, target))
}

func (d daemonErrors) ImagePush(ctx context.Context, ref string, o engine.PushRequest) (io.ReadCloser, error) {
	r, err := d.api.ImagePush(ctx, ref, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) ImageRemove(ctx context.Context, name string, o engine.ImageRemoveOptions) ([]image.DeleteResponse, error) {
	r, err := d.api.ImageRemove(ctx, name, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) ImagesPrune(ctx context.Context, f engine.Filters) (image.PruneReport, error) {
	r, err := d.api.ImagesPrune(ctx, f)
	return r, fromDaemon(err)
}

func (d daemonErrors) ImageSave(ctx context.Context, names []string) (io.ReadCloser, error) {
	r, err := d.api.ImageSave(ctx, names)
	return r, fromDaemon(err)
}

func (d daemonErrors) ImageLoad(ctx context.Context, tar io.Reader, quiet bool) (io.ReadCloser, error) {
	r, err := d.api.ImageLoad(ctx, tar, quiet)
	return r, fromDaemon(err)
}

func (d daemonErrors) ImageSearch(ctx context.Context, term string, o engine.SearchRequest) ([]registry.SearchResult, error) {
	r, err := d.api.ImageSearch(ctx, term, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	r, err := d.api.NetworkCreate(ctx, req)
	return r, fromDaemon(err)
}

func (d daemonErrors) NetworkList(ctx context.Context, f engine.Filters) ([]network.Summary, error) {
	r, err := d.api.NetworkList(ctx, f)
	return r, fromDaemon(err)
}

func (d daemonErrors) NetworkInspect(ctx context.Context, ref string, o engine.NetworkInspectOptions) (network.Inspect, error) {
	r, err := d.api.NetworkInspect(ctx, ref, o)
	return r, fromDaemon(err)
}

func (d daemonErrors) NetworkRemove(ctx context.Context, ref string) error {
	return fromDaemon(d.api.NetworkRemove(ctx, ref))
}

func (d daemonErrors) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	return fromDaemon(d.api.NetworkConnect(ctx, ref, req))
}

func (d daemonErrors) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	return fromDaemon(d.api.NetworkDisconnect(ctx, ref, req))
}

func (d daemonErrors) NetworksPrune(ctx context.Context, f engine.Filters) (network.PruneReport, error) {
	r, err := d.api.NetworksPrune(ctx, f)
	return r, fromDaemon(err)
}
