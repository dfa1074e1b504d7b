package dockerapi

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/engine"
)

// fakeAPI is a test engine.API: it records every call with its arguments
// (readers read into strings) and answers what the test put in out/errs
// under the method's name. Streams: a string becomes a reader of it, an
// io.ReadCloser is handed out as is.
type fakeAPI struct {
	mu    sync.Mutex
	calls []fakeCall
	out   map[string]any
	errs  map[string]error

	// wait and events, when set, are the channels ContainerWait and
	// Events hand out.
	wait   chan container.WaitResponse
	events chan events.Message
}

type fakeCall struct {
	Method string
	Args   []any
}

func newFake() *fakeAPI { return &fakeAPI{out: map[string]any{}, errs: map[string]error{}} }

var _ engine.API = (*fakeAPI)(nil)

func (f *fakeAPI) record(method string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{method, args})
}

// called returns the calls of method.
func (f *fakeAPI) called(method string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// reset forgets the calls and answers.
func (f *fakeAPI) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.out, f.errs = nil, map[string]any{}, map[string]error{}
}

func (f *fakeAPI) set(method string, v any) { f.mu.Lock(); f.out[method] = v; f.mu.Unlock() }
func (f *fakeAPI) fail(method string, err error) {
	f.mu.Lock()
	f.errs[method] = err
	f.mu.Unlock()
}

func result[T any](f *fakeAPI, method string) (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, _ := f.out[method].(T)
	return v, f.errs[method]
}

func (f *fakeAPI) body(method string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[method]; err != nil {
		return nil, err
	}
	switch v := f.out[method].(type) {
	case io.ReadCloser:
		return v, nil
	case string:
		return io.NopCloser(strings.NewReader(v)), nil
	}
	return io.NopCloser(strings.NewReader("")), nil
}

func readAll(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}

func (f *fakeAPI) Ping(ctx context.Context) (engine.Ping, error) {
	f.record("Ping")
	return result[engine.Ping](f, "Ping")
}
func (f *fakeAPI) Version(ctx context.Context) (system.VersionResponse, error) {
	f.record("Version")
	return result[system.VersionResponse](f, "Version")
}
func (f *fakeAPI) Info(ctx context.Context) (system.Info, error) {
	f.record("Info")
	return result[system.Info](f, "Info")
}
func (f *fakeAPI) DiskUsage(ctx context.Context) (system.DiskUsage, error) {
	f.record("DiskUsage")
	return result[system.DiskUsage](f, "DiskUsage")
}
func (f *fakeAPI) Events(ctx context.Context, o engine.EventsOptions) (<-chan events.Message, <-chan error) {
	f.record("Events", o)
	errs := make(chan error, 1)
	f.mu.Lock()
	err, msgs := f.errs["Events"], f.events
	f.mu.Unlock()
	if err != nil {
		errs <- err
		return nil, errs
	}
	out := make(chan events.Message)
	go func() {
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					errs <- nil
					return
				}
				select {
				case out <- m:
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	return out, errs
}

func (f *fakeAPI) ContainerCreate(ctx context.Context, name string, req engine.CreateRequest) (container.CreateResponse, error) {
	f.record("ContainerCreate", name, req)
	return result[container.CreateResponse](f, "ContainerCreate")
}
func (f *fakeAPI) ContainerStart(ctx context.Context, id string) error {
	f.record("ContainerStart", id)
	_, err := result[any](f, "ContainerStart")
	return err
}
func (f *fakeAPI) ContainerStop(ctx context.Context, id string, o engine.StopOptions) error {
	f.record("ContainerStop", id, o)
	_, err := result[any](f, "ContainerStop")
	return err
}
func (f *fakeAPI) ContainerRestart(ctx context.Context, id string, o engine.StopOptions) error {
	f.record("ContainerRestart", id, o)
	_, err := result[any](f, "ContainerRestart")
	return err
}
func (f *fakeAPI) ContainerKill(ctx context.Context, id, signal string) error {
	f.record("ContainerKill", id, signal)
	_, err := result[any](f, "ContainerKill")
	return err
}
func (f *fakeAPI) ContainerPause(ctx context.Context, id string) error {
	f.record("ContainerPause", id)
	_, err := result[any](f, "ContainerPause")
	return err
}
func (f *fakeAPI) ContainerUnpause(ctx context.Context, id string) error {
	f.record("ContainerUnpause", id)
	_, err := result[any](f, "ContainerUnpause")
	return err
}
func (f *fakeAPI) ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	f.record("ContainerWait", id, cond)
	errs := make(chan error, 1)
	f.mu.Lock()
	err, wait := f.errs["ContainerWait"], f.wait
	r, _ := f.out["ContainerWait"].(container.WaitResponse)
	f.mu.Unlock()
	if err != nil {
		errs <- err
		return nil, errs
	}
	if wait == nil {
		wait = make(chan container.WaitResponse, 1)
		wait <- r
	}
	return wait, errs
}
func (f *fakeAPI) ContainerRemove(ctx context.Context, id string, o engine.RemoveOptions) error {
	f.record("ContainerRemove", id, o)
	_, err := result[any](f, "ContainerRemove")
	return err
}
func (f *fakeAPI) ContainerList(ctx context.Context, o engine.ListOptions) ([]container.Summary, error) {
	f.record("ContainerList", o)
	return result[[]container.Summary](f, "ContainerList")
}
func (f *fakeAPI) ContainerInspect(ctx context.Context, id string, size bool) (container.InspectResponse, error) {
	f.record("ContainerInspect", id, size)
	return result[container.InspectResponse](f, "ContainerInspect")
}
func (f *fakeAPI) ContainerLogs(ctx context.Context, id string, o engine.LogsOptions) (io.ReadCloser, error) {
	f.record("ContainerLogs", id, o)
	return f.body("ContainerLogs")
}
func (f *fakeAPI) ContainerAttach(ctx context.Context, id string, o engine.AttachOptions) (engine.Stream, error) {
	f.record("ContainerAttach", id, o)
	if _, err := result[any](f, "ContainerAttach"); err != nil {
		return nil, err
	}
	return newEcho(), nil
}
func (f *fakeAPI) ContainerResize(ctx context.Context, id string, height, width uint) error {
	f.record("ContainerResize", id, height, width)
	_, err := result[any](f, "ContainerResize")
	return err
}
func (f *fakeAPI) ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error) {
	f.record("ContainerTop", id, psArgs)
	return result[container.TopResponse](f, "ContainerTop")
}
func (f *fakeAPI) ContainerStats(ctx context.Context, id string, stream bool) (io.ReadCloser, error) {
	f.record("ContainerStats", id, stream)
	return f.body("ContainerStats")
}
func (f *fakeAPI) ContainerRename(ctx context.Context, id, newName string) error {
	f.record("ContainerRename", id, newName)
	_, err := result[any](f, "ContainerRename")
	return err
}
func (f *fakeAPI) ContainerUpdate(ctx context.Context, id string, u container.UpdateConfig) (container.UpdateResponse, error) {
	f.record("ContainerUpdate", id, u)
	return result[container.UpdateResponse](f, "ContainerUpdate")
}
func (f *fakeAPI) ContainerChanges(ctx context.Context, id string) ([]container.FilesystemChange, error) {
	f.record("ContainerChanges", id)
	return result[[]container.FilesystemChange](f, "ContainerChanges")
}
func (f *fakeAPI) ContainerExport(ctx context.Context, id string) (io.ReadCloser, error) {
	f.record("ContainerExport", id)
	return f.body("ContainerExport")
}
func (f *fakeAPI) ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error) {
	f.record("ContainerStatPath", id, path)
	return result[container.PathStat](f, "ContainerStatPath")
}
func (f *fakeAPI) CopyFromContainer(ctx context.Context, id, path string) (io.ReadCloser, container.PathStat, error) {
	f.record("CopyFromContainer", id, path)
	st, err := result[container.PathStat](f, "ContainerStatPath")
	if err != nil {
		return nil, st, err
	}
	rc, err := f.body("CopyFromContainer")
	return rc, st, err
}
func (f *fakeAPI) CopyToContainer(ctx context.Context, id, path string, tar io.Reader, o engine.CopyToOptions) error {
	f.record("CopyToContainer", id, path, readAll(tar), o)
	_, err := result[any](f, "CopyToContainer")
	return err
}
func (f *fakeAPI) ContainersPrune(ctx context.Context, fl engine.Filters) (container.PruneReport, error) {
	f.record("ContainersPrune", fl)
	return result[container.PruneReport](f, "ContainersPrune")
}
func (f *fakeAPI) ExecCreate(ctx context.Context, id string, req container.ExecCreateRequest) (container.ExecCreateResponse, error) {
	f.record("ExecCreate", id, req)
	return result[container.ExecCreateResponse](f, "ExecCreate")
}
func (f *fakeAPI) ExecStart(ctx context.Context, execID string, req container.ExecStartRequest) (engine.Stream, error) {
	f.record("ExecStart", execID, req)
	if _, err := result[any](f, "ExecStart"); err != nil {
		return nil, err
	}
	if req.Detach {
		return nil, nil
	}
	return newEcho(), nil
}
func (f *fakeAPI) ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error) {
	f.record("ExecInspect", execID)
	return result[container.ExecInspectResponse](f, "ExecInspect")
}
func (f *fakeAPI) ExecResize(ctx context.Context, execID string, height, width uint) error {
	f.record("ExecResize", execID, height, width)
	_, err := result[any](f, "ExecResize")
	return err
}
func (f *fakeAPI) ImagePull(ctx context.Context, ref string, o engine.PullRequest) (io.ReadCloser, error) {
	f.record("ImagePull", ref, o)
	return f.body("ImagePull")
}
func (f *fakeAPI) ImageList(ctx context.Context, o engine.ImageListOptions) ([]image.Summary, error) {
	f.record("ImageList", o)
	return result[[]image.Summary](f, "ImageList")
}
func (f *fakeAPI) ImageInspect(ctx context.Context, name string) (image.InspectResponse, error) {
	f.record("ImageInspect", name)
	return result[image.InspectResponse](f, "ImageInspect")
}
func (f *fakeAPI) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	f.record("ImageHistory", name)
	return result[[]image.HistoryResponseItem](f, "ImageHistory")
}
func (f *fakeAPI) ImageTag(ctx context.Context, source, target string) error {
	f.record("ImageTag", source, target)
	_, err := result[any](f, "ImageTag")
	return err
}
func (f *fakeAPI) ImagePush(ctx context.Context, ref string, o engine.PushRequest) (io.ReadCloser, error) {
	f.record("ImagePush", ref, o)
	return f.body("ImagePush")
}
func (f *fakeAPI) ImageRemove(ctx context.Context, name string, o engine.ImageRemoveOptions) ([]image.DeleteResponse, error) {
	f.record("ImageRemove", name, o)
	return result[[]image.DeleteResponse](f, "ImageRemove")
}
func (f *fakeAPI) ImagesPrune(ctx context.Context, fl engine.Filters) (image.PruneReport, error) {
	f.record("ImagesPrune", fl)
	return result[image.PruneReport](f, "ImagesPrune")
}
func (f *fakeAPI) ImageSave(ctx context.Context, names []string) (io.ReadCloser, error) {
	f.record("ImageSave", names)
	return f.body("ImageSave")
}
func (f *fakeAPI) ImageLoad(ctx context.Context, tar io.Reader, quiet bool) (io.ReadCloser, error) {
	f.record("ImageLoad", readAll(tar), quiet)
	return f.body("ImageLoad")
}
func (f *fakeAPI) ImageSearch(ctx context.Context, term string, o engine.SearchRequest) ([]registry.SearchResult, error) {
	f.record("ImageSearch", term, o)
	return result[[]registry.SearchResult](f, "ImageSearch")
}

// echo is the fake's attach/exec Stream: what is written comes back out;
// CloseWrite ends the output once it has been read.
type echo struct {
	pr *io.PipeReader
	pw *io.PipeWriter
}

func newEcho() *echo {
	pr, pw := io.Pipe()
	return &echo{pr: pr, pw: pw}
}

func (e *echo) Read(p []byte) (int, error)  { return e.pr.Read(p) }
func (e *echo) Write(p []byte) (int, error) { return e.pw.Write(p) }
func (e *echo) CloseWrite() error           { return e.pw.Close() }
func (e *echo) Close() error {
	e.pw.Close()
	return e.pr.Close()
}

func (f *fakeAPI) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	f.record("NetworkCreate", req)
	return result[network.CreateResponse](f, "NetworkCreate")
}

func (f *fakeAPI) NetworkList(ctx context.Context, fl engine.Filters) ([]network.Summary, error) {
	f.record("NetworkList", fl)
	return result[[]network.Summary](f, "NetworkList")
}

func (f *fakeAPI) NetworkInspect(ctx context.Context, ref string, o engine.NetworkInspectOptions) (network.Inspect, error) {
	f.record("NetworkInspect", ref, o)
	return result[network.Inspect](f, "NetworkInspect")
}

func (f *fakeAPI) NetworkRemove(ctx context.Context, ref string) error {
	f.record("NetworkRemove", ref)
	_, err := result[any](f, "NetworkRemove")
	return err
}

func (f *fakeAPI) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	f.record("NetworkConnect", ref, req)
	_, err := result[any](f, "NetworkConnect")
	return err
}

func (f *fakeAPI) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	f.record("NetworkDisconnect", ref, req)
	_, err := result[any](f, "NetworkDisconnect")
	return err
}

func (f *fakeAPI) NetworksPrune(ctx context.Context, fl engine.Filters) (network.PruneReport, error) {
	f.record("NetworksPrune", fl)
	return result[network.PruneReport](f, "NetworksPrune")
}
