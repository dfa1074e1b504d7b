package engine

import (
	"context"
	"io"
	"os"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
)

// API is what the Docker Engine API exposes. *Engine implements it
// in-process and *dockerapi.Client over the socket, so the CLI, build,
// compose and tests run the same code against either.
//
// Shapes are those of moby's API types module. Streams carry Docker's wire
// formats, so the handler copies bytes and the client hands the body back:
//   - logs and attach/exec output: stdcopy multiplexing (8-byte headers)
//     unless the container/exec has a TTY, then raw bytes;
//   - pull, push, load: newline-delimited jsonstream.Message;
//   - stats: newline-delimited container.StatsResponse;
//   - export, save, archive GET: tar.
//
// Errors are *Error values (see errors.go) with docker's messages.
type API interface {
	// System.
	Ping(ctx context.Context) (Ping, error)
	Version(ctx context.Context) (system.VersionResponse, error)
	Info(ctx context.Context) (system.Info, error)
	DiskUsage(ctx context.Context) (system.DiskUsage, error)
	// Events streams events matching f from since (zero: now) until ctx
	// ends or until (when set); the error channel gets one value at the end.
	Events(ctx context.Context, o EventsOptions) (<-chan events.Message, <-chan error)

	// Containers.
	ContainerCreate(ctx context.Context, name string, req CreateRequest) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string) error
	ContainerStop(ctx context.Context, id string, o StopOptions) error
	ContainerRestart(ctx context.Context, id string, o StopOptions) error
	ContainerKill(ctx context.Context, id, signal string) error
	ContainerPause(ctx context.Context, id string) error
	ContainerUnpause(ctx context.Context, id string) error
	// ContainerWait returns once the condition is reached (or the
	// registration failed: error) — the registration happens before it
	// returns, so a start that follows cannot race past it. The result
	// channel then gets one value.
	ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerRemove(ctx context.Context, id string, o RemoveOptions) error
	ContainerList(ctx context.Context, o ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string, size bool) (container.InspectResponse, error)
	ContainerLogs(ctx context.Context, id string, o LogsOptions) (io.ReadCloser, error)
	ContainerAttach(ctx context.Context, id string, o AttachOptions) (Stream, error)
	ContainerResize(ctx context.Context, id string, height, width uint) error
	ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error)
	ContainerStats(ctx context.Context, id string, stream bool) (io.ReadCloser, error)
	ContainerRename(ctx context.Context, id, newName string) error
	ContainerUpdate(ctx context.Context, id string, u container.UpdateConfig) (container.UpdateResponse, error)
	ContainerChanges(ctx context.Context, id string) ([]container.FilesystemChange, error)
	ContainerExport(ctx context.Context, id string) (io.ReadCloser, error)
	ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error)
	CopyFromContainer(ctx context.Context, id, path string) (io.ReadCloser, container.PathStat, error)
	CopyToContainer(ctx context.Context, id, path string, tar io.Reader, o CopyToOptions) error
	ContainersPrune(ctx context.Context, f Filters) (container.PruneReport, error)

	// Exec.
	ExecCreate(ctx context.Context, id string, req container.ExecCreateRequest) (container.ExecCreateResponse, error)
	// ExecStart runs the exec; with req.Detach it returns a nil Stream once
	// the process started.
	ExecStart(ctx context.Context, execID string, req container.ExecStartRequest) (Stream, error)
	ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error)
	ExecResize(ctx context.Context, execID string, height, width uint) error

	// Images.
	ImagePull(ctx context.Context, ref string, o PullRequest) (io.ReadCloser, error)
	ImageList(ctx context.Context, o ImageListOptions) ([]image.Summary, error)
	ImageInspect(ctx context.Context, name string) (image.InspectResponse, error)
	ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error)
	ImageTag(ctx context.Context, source, target string) error
	ImagePush(ctx context.Context, ref string, o PushRequest) (io.ReadCloser, error)
	ImageRemove(ctx context.Context, name string, o ImageRemoveOptions) ([]image.DeleteResponse, error)
	ImagesPrune(ctx context.Context, f Filters) (image.PruneReport, error)
	ImageSave(ctx context.Context, names []string) (io.ReadCloser, error)
	ImageLoad(ctx context.Context, tar io.Reader, quiet bool) (io.ReadCloser, error)
	ImageSearch(ctx context.Context, term string, o SearchRequest) ([]registry.SearchResult, error)
	// ImageBuild builds the context tar (docker's POST /build, classic
	// builder): newline-delimited jsonstream.Message, {"stream": ...}
	// lines, {"aux": {"ID": ...}} with the image ID, an errorDetail line
	// (with the RUN's exit code as code) when the build fails.
	ImageBuild(ctx context.Context, buildContext io.Reader, o BuildOptions) (io.ReadCloser, error)
	BuildCachePrune(ctx context.Context, o BuildCachePruneOptions) (build.CachePruneReport, error)
	// ContainerCommit makes an image of a container's changes (docker commit).
	ContainerCommit(ctx context.Context, id string, o CommitOptions) (container.CommitResponse, error)

	// Networks. A ref is a full or unique partial ID, or a name.
	NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	NetworkList(ctx context.Context, f Filters) ([]network.Summary, error)
	NetworkInspect(ctx context.Context, ref string, o NetworkInspectOptions) (network.Inspect, error)
	NetworkRemove(ctx context.Context, ref string) error
	NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error
	NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error
	NetworksPrune(ctx context.Context, f Filters) (network.PruneReport, error)

	// Volumes. Docker's local driver: a directory under the data root,
	// or (driver options type, device, o) a filesystem mounted while a
	// container uses it.
	VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error)
	VolumeList(ctx context.Context, f Filters) (volume.ListResponse, error)
	VolumeInspect(ctx context.Context, name string) (volume.Volume, error)
	// VolumeRemove refuses a volume any container uses (docker's 409),
	// force or not; force only makes a missing volume no error (docker's
	// volume rm -f).
	VolumeRemove(ctx context.Context, name string, force bool) error
	VolumesPrune(ctx context.Context, f Filters) (volume.PruneReport, error)

	// Secrets and configs of the standalone engine, on docker's swarm
	// routes and shapes. A secret's Data is stored encrypted and never
	// returned; a config's is stored plain and returned by inspect. A ref
	// is a full or unique partial ID, or a name.
	SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error)
	SecretList(ctx context.Context, f Filters) ([]swarm.Secret, error)
	SecretInspect(ctx context.Context, ref string) (swarm.Secret, error)
	SecretRemove(ctx context.Context, ref string) error
	ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error)
	ConfigList(ctx context.Context, f Filters) ([]swarm.Config, error)
	ConfigInspect(ctx context.Context, ref string) (swarm.Config, error)
	ConfigRemove(ctx context.Context, ref string) error
}

// CreateRequest is docker's container create request plus berth's own
// extension: the secrets and configs the container gets as files (docker
// offers those to swarm services only). On the wire they are the fields
// BerthSecrets and BerthConfigs of the create body, which docker's
// clients never send.
type CreateRequest struct {
	container.CreateRequest
	Secrets []FileRef `json:"BerthSecrets,omitempty"`
	Configs []FileRef `json:"BerthConfigs,omitempty"`
}

// FileRef is a secret or config a container gets as a file: --secret
// NAME[,target=PATH][,uid=][,gid=][,mode=]. Target defaults to
// /run/secrets/NAME (a relative target is taken under /run/secrets) for a
// secret and /NAME for a config; Mode to 0400 for a secret and 0444 for a
// config; UID and GID to "0".
type FileRef struct {
	Name   string      `json:"Name"`
	Target string      `json:"Target,omitempty"`
	UID    string      `json:"UID,omitempty"`
	GID    string      `json:"GID,omitempty"`
	Mode   os.FileMode `json:"Mode,omitempty"`
}

// NetworkInspectOptions are GET /networks/{id}'s query: verbose and scope
// (accepted; a local engine has only the local scope).
type NetworkInspectOptions struct {
	Verbose bool
	Scope   string
}

// Ping is the answer to /_ping.
type Ping struct {
	APIVersion string
	OSType     string
}

// Filters are docker's filters: key -> values (a value matches if any of
// the values of its key does; all keys must match).
type Filters map[string][]string

// EventsOptions filter the events stream. Since and Until are unix times
// as docker takes them ("1700000000", "1700000000.5", or a Go duration
// like "10m" meaning that long ago); empty means unset.
type EventsOptions struct {
	Since, Until string
	Filters      Filters
}

// StopOptions: Signal is the signal to send first (the container's
// StopSignal when empty), Timeout the seconds to wait before SIGKILL (the
// container's StopTimeout, else 10, when nil; -1 waits forever).
type StopOptions struct {
	Signal  string
	Timeout *int
}

// RemoveOptions of ContainerRemove.
type RemoveOptions struct {
	Force         bool // kill a running container first
	RemoveVolumes bool // -v: also the container's anonymous volumes
	RemoveLinks   bool
}

// ListOptions of ContainerList (docker ps).
type ListOptions struct {
	All     bool
	Limit   int // >0: that many newest, implies All
	Size    bool
	Filters Filters
}

// LogsOptions of ContainerLogs.
type LogsOptions struct {
	ShowStdout, ShowStderr bool
	Follow                 bool
	Timestamps             bool
	Since, Until           string // as EventsOptions
	Tail                   string // "all" or a number
	Details                bool
}

// AttachOptions of ContainerAttach.
type AttachOptions struct {
	Stream                bool // attach to the live streams
	Stdin, Stdout, Stderr bool
	Logs                  bool // first replay the logs
	DetachKeys            string
}

// Stream is a hijacked connection: reads give the output (multiplexed
// unless TTY), writes go to stdin, CloseWrite closes stdin.
type Stream interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// CopyToOptions of CopyToContainer.
type CopyToOptions struct {
	AllowOverwriteDirWithFile bool
	CopyUIDGID                bool
}

// PullRequest of ImagePull. Platform is "os/arch[/variant]" or empty.
// RegistryAuth is the base64url JSON registry.AuthConfig (X-Registry-Auth).
type PullRequest struct {
	Platform     string
	RegistryAuth string
	All          bool
}

// PushRequest of ImagePush.
type PushRequest struct {
	All          bool
	RegistryAuth string
	Platform     string
}

// ImageListOptions of ImageList.
type ImageListOptions struct {
	All     bool
	Filters Filters
	Digests bool
}

// ImageRemoveOptions of ImageRemove.
type ImageRemoveOptions struct {
	Force, NoPrune bool
}

// SearchRequest of ImageSearch.
type SearchRequest struct {
	Limit        int
	Filters      Filters
	RegistryAuth string
}
