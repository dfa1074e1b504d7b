package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/engine"
)

// fakeAPI is an engine.API for the CLI's tests: it records what the
// commands ask and answers what the test set. Calls nobody set up fail
// with ErrNotImplemented.
type fakeAPI struct {
	mu    sync.Mutex
	calls []string

	// ContainerCreate answers these in turn (the last one repeats).
	createErrs []error
	createID   string
	createReqs []engine.CreateRequest
	createName string

	pullBody string
	pulls    []string
	pullReqs []engine.PullRequest

	startErr error
	started  []string

	attachOut   []byte // what the attach stream says (framed unless TTY)
	attachOpts  []engine.AttachOptions
	attachInput bytes.Buffer

	waitStatus int64
	waitConds  []container.WaitCondition

	list     []container.Summary
	listOpts []engine.ListOptions

	inspect map[string]container.InspectResponse
	images  map[string]image.InspectResponse

	imageList     []image.Summary
	imageListOpts []engine.ImageListOptions

	stopOpts   []engine.StopOptions
	killSigs   []string
	removeOpts []engine.RemoveOptions
	errs       map[string]error // by "Method ref": that call fails

	logs     []byte
	logsOpts []engine.LogsOptions

	execReqs []container.ExecCreateRequest
	execOut  []byte
	execCode int

	version system.VersionResponse
	info    system.Info
	du      system.DiskUsage
	events  []events.Message
	evOpts  []engine.EventsOptions
	evEnd   error // what ends the events stream

	history []image.HistoryResponseItem
	removed []image.DeleteResponse

	pruneImages     image.PruneReport
	pruneContainers container.PruneReport
	pruneFilters    []engine.Filters

	updates []container.UpdateConfig
	changes []container.FilesystemChange
	top     container.TopResponse
	topArgs []string

	stats    map[string]container.PathStat // ContainerStatPath by path
	copied   []copyCall
	fromTar  []byte // what CopyFromContainer sends
	fromStat container.PathStat

	fakeNetworks
	fakeVolumes
}

// copyCall is one CopyToContainer: where, and the tar's entry names.
type copyCall struct {
	path    string
	entries []string
	opts    engine.CopyToOptions
}

var _ engine.API = (*fakeAPI)(nil)

func (f *fakeAPI) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.errs[call]
}

func (f *fakeAPI) Ping(ctx context.Context) (engine.Ping, error) {
	return engine.Ping{APIVersion: "1.50", OSType: "linux"}, f.record("Ping")
}

func (f *fakeAPI) Version(ctx context.Context) (system.VersionResponse, error) {
	return f.version, f.record("Version")
}

func (f *fakeAPI) Info(ctx context.Context) (system.Info, error) { return f.info, f.record("Info") }

func (f *fakeAPI) DiskUsage(ctx context.Context) (system.DiskUsage, error) {
	return f.du, f.record("DiskUsage")
}

func (f *fakeAPI) Events(ctx context.Context, o engine.EventsOptions) (<-chan events.Message, <-chan error) {
	f.record("Events")
	f.evOpts = append(f.evOpts, o)
	msgs, errs := make(chan events.Message, len(f.events)), make(chan error, 1)
	for _, m := range f.events {
		msgs <- m
	}
	errs <- f.evEnd
	return msgs, errs
}

func (f *fakeAPI) ContainerCreate(ctx context.Context, name string, req engine.CreateRequest) (container.CreateResponse, error) {
	f.record("ContainerCreate " + req.Image)
	f.createReqs = append(f.createReqs, req)
	f.createName = name
	n := len(f.createReqs) - 1
	var err error
	if len(f.createErrs) > 0 {
		err = f.createErrs[min(n, len(f.createErrs)-1)]
	}
	if err != nil {
		return container.CreateResponse{}, err
	}
	return container.CreateResponse{ID: f.createID}, nil
}

func (f *fakeAPI) ContainerStart(ctx context.Context, id string) error {
	if err := f.record("ContainerStart " + id); err != nil {
		return err
	}
	f.started = append(f.started, id)
	return f.startErr
}

func (f *fakeAPI) ContainerStop(ctx context.Context, id string, o engine.StopOptions) error {
	f.stopOpts = append(f.stopOpts, o)
	return f.record("ContainerStop " + id)
}

func (f *fakeAPI) ContainerRestart(ctx context.Context, id string, o engine.StopOptions) error {
	f.stopOpts = append(f.stopOpts, o)
	return f.record("ContainerRestart " + id)
}

func (f *fakeAPI) ContainerKill(ctx context.Context, id, signal string) error {
	f.killSigs = append(f.killSigs, signal)
	return f.record("ContainerKill " + id)
}

func (f *fakeAPI) ContainerPause(ctx context.Context, id string) error {
	return f.record("ContainerPause " + id)
}

func (f *fakeAPI) ContainerUnpause(ctx context.Context, id string) error {
	return f.record("ContainerUnpause " + id)
}

func (f *fakeAPI) ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	res, errs := make(chan container.WaitResponse, 1), make(chan error, 1)
	if err := f.record("ContainerWait " + id); err != nil {
		errs <- err
		return res, errs
	}
	f.waitConds = append(f.waitConds, cond)
	res <- container.WaitResponse{StatusCode: f.waitStatus}
	return res, errs
}

func (f *fakeAPI) ContainerRemove(ctx context.Context, id string, o engine.RemoveOptions) error {
	f.removeOpts = append(f.removeOpts, o)
	return f.record("ContainerRemove " + id)
}

func (f *fakeAPI) ContainerList(ctx context.Context, o engine.ListOptions) ([]container.Summary, error) {
	f.listOpts = append(f.listOpts, o)
	return f.list, f.record("ContainerList")
}

func (f *fakeAPI) ContainerInspect(ctx context.Context, id string, size bool) (container.InspectResponse, error) {
	if err := f.record("ContainerInspect " + id); err != nil {
		return container.InspectResponse{}, err
	}
	ins, ok := f.inspect[id]
	if !ok {
		return ins, engine.NotFound("No such container: %s", id)
	}
	return ins, nil
}

func (f *fakeAPI) ContainerLogs(ctx context.Context, id string, o engine.LogsOptions) (io.ReadCloser, error) {
	f.logsOpts = append(f.logsOpts, o)
	return io.NopCloser(bytes.NewReader(f.logs)), f.record("ContainerLogs " + id)
}

func (f *fakeAPI) ContainerAttach(ctx context.Context, id string, o engine.AttachOptions) (engine.Stream, error) {
	if err := f.record("ContainerAttach " + id); err != nil {
		return nil, err
	}
	f.attachOpts = append(f.attachOpts, o)
	return &fakeStream{r: bytes.NewReader(f.attachOut), w: &f.attachInput}, nil
}

func (f *fakeAPI) ContainerResize(ctx context.Context, id string, height, width uint) error {
	return f.record("ContainerResize " + id)
}

func (f *fakeAPI) ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error) {
	f.topArgs = append(f.topArgs, psArgs)
	return f.top, f.record("ContainerTop " + id)
}

func (f *fakeAPI) ContainerStats(ctx context.Context, id string, stream bool) (io.ReadCloser, error) {
	if err := f.record("ContainerStats " + id); err != nil {
		return nil, err
	}
	s := container.StatsResponse{ID: id + strings.Repeat("0", 64-len(id)), Name: "/" + id}
	s.CPUStats.CPUUsage.TotalUsage, s.PreCPUStats.CPUUsage.TotalUsage = 300, 100
	s.CPUStats.SystemUsage, s.PreCPUStats.SystemUsage = 2000, 1000
	s.CPUStats.OnlineCPUs = 2
	s.MemoryStats = container.MemoryStats{Usage: 3 << 20, Limit: 8 << 20, Stats: map[string]uint64{"total_inactive_file": 1 << 20}}
	s.Networks = map[string]container.NetworkStats{"eth0": {RxBytes: 1500, TxBytes: 500}}
	s.BlkioStats.IoServiceBytesRecursive = []container.BlkioStatEntry{{Op: "Read", Value: 4096}, {Op: "Write", Value: 1024}}
	s.PidsStats.Current = 3
	b, _ := json.Marshal(s)
	return io.NopCloser(bytes.NewReader(append(b, '\n'))), nil
}

func (f *fakeAPI) ContainerRename(ctx context.Context, id, newName string) error {
	return f.record("ContainerRename " + id + " " + newName)
}

func (f *fakeAPI) ContainerUpdate(ctx context.Context, id string, u container.UpdateConfig) (container.UpdateResponse, error) {
	f.updates = append(f.updates, u)
	return container.UpdateResponse{}, f.record("ContainerUpdate " + id)
}

func (f *fakeAPI) ContainerChanges(ctx context.Context, id string) ([]container.FilesystemChange, error) {
	return f.changes, f.record("ContainerChanges " + id)
}

func (f *fakeAPI) ContainerExport(ctx context.Context, id string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("tar of " + id)), f.record("ContainerExport " + id)
}

func (f *fakeAPI) ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error) {
	if err := f.record("ContainerStatPath " + id + " " + path); err != nil {
		return container.PathStat{}, err
	}
	st, ok := f.stats[path]
	if !ok {
		return st, engine.NotFound("Could not find the file %s in container %s", path, id)
	}
	return st, nil
}

func (f *fakeAPI) CopyFromContainer(ctx context.Context, id, path string) (io.ReadCloser, container.PathStat, error) {
	return io.NopCloser(bytes.NewReader(f.fromTar)), f.fromStat, f.record("CopyFromContainer " + id + " " + path)
}

func (f *fakeAPI) CopyToContainer(ctx context.Context, id, path string, r io.Reader, o engine.CopyToOptions) error {
	if err := f.record("CopyToContainer " + id + " " + path); err != nil {
		return err
	}
	call := copyCall{path: path, opts: o}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		call.entries = append(call.entries, h.Name)
	}
	f.copied = append(f.copied, call)
	return nil
}

func (f *fakeAPI) ContainersPrune(ctx context.Context, fl engine.Filters) (container.PruneReport, error) {
	f.pruneFilters = append(f.pruneFilters, fl)
	return f.pruneContainers, f.record("ContainersPrune")
}

func (f *fakeAPI) ExecCreate(ctx context.Context, id string, req container.ExecCreateRequest) (container.ExecCreateResponse, error) {
	f.execReqs = append(f.execReqs, req)
	return container.ExecCreateResponse{ID: "exec1"}, f.record("ExecCreate " + id)
}

func (f *fakeAPI) ExecStart(ctx context.Context, execID string, req container.ExecStartRequest) (engine.Stream, error) {
	if err := f.record("ExecStart " + execID); err != nil {
		return nil, err
	}
	if req.Detach {
		return nil, nil
	}
	return &fakeStream{r: bytes.NewReader(f.execOut), w: &f.attachInput}, nil
}

func (f *fakeAPI) ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error) {
	code := f.execCode
	return container.ExecInspectResponse{ID: execID, ExitCode: &code}, f.record("ExecInspect " + execID)
}

func (f *fakeAPI) ExecResize(ctx context.Context, execID string, height, width uint) error {
	return f.record("ExecResize " + execID)
}

func (f *fakeAPI) ImagePull(ctx context.Context, ref string, o engine.PullRequest) (io.ReadCloser, error) {
	if err := f.record("ImagePull " + ref); err != nil {
		return nil, err
	}
	f.pulls = append(f.pulls, ref)
	f.pullReqs = append(f.pullReqs, o)
	return io.NopCloser(strings.NewReader(f.pullBody)), nil
}

func (f *fakeAPI) ImageList(ctx context.Context, o engine.ImageListOptions) ([]image.Summary, error) {
	f.imageListOpts = append(f.imageListOpts, o)
	return f.imageList, f.record("ImageList")
}

func (f *fakeAPI) ImageInspect(ctx context.Context, name string) (image.InspectResponse, error) {
	if err := f.record("ImageInspect " + name); err != nil {
		return image.InspectResponse{}, err
	}
	ins, ok := f.images[name]
	if !ok {
		return ins, engine.NotFound("No such image: %s", name)
	}
	return ins, nil
}

func (f *fakeAPI) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	return f.history, f.record("ImageHistory " + name)
}

func (f *fakeAPI) ImageTag(ctx context.Context, source, target string) error {
	return f.record("ImageTag " + source + " " + target)
}

func (f *fakeAPI) ImagePush(ctx context.Context, ref string, o engine.PushRequest) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(f.pullBody)), f.record("ImagePush " + ref)
}

func (f *fakeAPI) ImageRemove(ctx context.Context, name string, o engine.ImageRemoveOptions) ([]image.DeleteResponse, error) {
	if err := f.record("ImageRemove " + name); err != nil {
		return nil, err
	}
	return f.removed, nil
}

func (f *fakeAPI) ImagesPrune(ctx context.Context, fl engine.Filters) (image.PruneReport, error) {
	f.pruneFilters = append(f.pruneFilters, fl)
	return f.pruneImages, f.record("ImagesPrune")
}

func (f *fakeAPI) ImageSave(ctx context.Context, names []string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("tar of " + strings.Join(names, ","))), f.record("ImageSave")
}

func (f *fakeAPI) ImageLoad(ctx context.Context, tar io.Reader, quiet bool) (io.ReadCloser, error) {
	b, _ := io.ReadAll(tar)
	return io.NopCloser(strings.NewReader(f.pullBody)), f.record("ImageLoad " + string(b))
}

func (f *fakeAPI) ImageSearch(ctx context.Context, term string, o engine.SearchRequest) ([]registry.SearchResult, error) {
	return nil, engine.ErrNotImplemented
}

// fakeStream is a hijacked stream: reads give out, writes are kept.
type fakeStream struct {
	r      io.Reader
	w      *bytes.Buffer
	closed bool
}

func (s *fakeStream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *fakeStream) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *fakeStream) Close() error                { s.closed = true; return nil }
func (s *fakeStream) CloseWrite() error           { return nil }

// framed builds a multiplexed stream, as the engine frames output without
// a TTY: pairs of (1 stdout | 2 stderr, text).
func framed(t *testing.T, parts ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	for i := 0; i < len(parts); i += 2 {
		text := parts[i+1].(string)
		hdr := [8]byte{byte(parts[i].(int))}
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(text)))
		b.Write(hdr[:])
		b.WriteString(text)
	}
	return b.Bytes()
}

// jsonLines is a jsonstream of messages.
func jsonLines(msgs ...jsonstream.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		j, _ := json.Marshal(m)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// runResult is what one in-process berth invocation did.
type runResult struct {
	stdout, stderr string
	code           int
}

// berth runs the CLI in-process against api with stdin, as main does.
func berth(t *testing.T, api engine.API, stdin string, args ...string) runResult {
	t.Helper()
	c := &client{connect: func(context.Context) (engine.API, func() error, error) {
		return api, func() error { return nil }, nil
	}}
	root := newRootCommand(c)
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	code := runCLI(root, c, &errb)
	return runResult{out.String(), errb.String(), code}
}

// fakeNetworks is the fake's network side: what the network commands
// asked, and what it answers.
type fakeNetworks struct {
	netCreates     []network.CreateRequest
	netCreateID    string
	netList        []network.Summary
	netListFilters []engine.Filters
	netInspect     map[string]network.Inspect // by ref; others are not found
	netInspectOpts []engine.NetworkInspectOptions
	netRemoved     []string
	netConnects    []network.ConnectRequest
	netDisconnects []network.DisconnectRequest
	netPrune       network.PruneReport
}

func (f *fakeAPI) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if err := f.record("NetworkCreate " + req.Name); err != nil {
		return network.CreateResponse{}, err
	}
	f.netCreates = append(f.netCreates, req)
	return network.CreateResponse{ID: f.netCreateID}, nil
}

func (f *fakeAPI) NetworkList(ctx context.Context, fl engine.Filters) ([]network.Summary, error) {
	f.netListFilters = append(f.netListFilters, fl)
	return f.netList, f.record("NetworkList")
}

func (f *fakeAPI) NetworkInspect(ctx context.Context, ref string, o engine.NetworkInspectOptions) (network.Inspect, error) {
	if err := f.record("NetworkInspect " + ref); err != nil {
		return network.Inspect{}, err
	}
	f.netInspectOpts = append(f.netInspectOpts, o)
	nw, ok := f.netInspect[ref]
	if !ok {
		return nw, engine.NotFound("network %s not found", ref)
	}
	return nw, nil
}

func (f *fakeAPI) NetworkRemove(ctx context.Context, ref string) error {
	if err := f.record("NetworkRemove " + ref); err != nil {
		return err
	}
	f.netRemoved = append(f.netRemoved, ref)
	return nil
}

func (f *fakeAPI) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	if err := f.record("NetworkConnect " + ref); err != nil {
		return err
	}
	f.netConnects = append(f.netConnects, req)
	return nil
}

func (f *fakeAPI) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	if err := f.record("NetworkDisconnect " + ref); err != nil {
		return err
	}
	f.netDisconnects = append(f.netDisconnects, req)
	return nil
}

func (f *fakeAPI) NetworksPrune(ctx context.Context, fl engine.Filters) (network.PruneReport, error) {
	f.pruneFilters = append(f.pruneFilters, fl)
	return f.netPrune, f.record("NetworksPrune")
}
