package dockerapi

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/engine"
)

func intp(n int) *int { return &n }

func buildOpts() engine.BuildOptions {
	v := "1"
	return engine.BuildOptions{
		Tags: []string{"a:1", "b:2"}, Dockerfile: "sub/Dockerfile", BuildArgs: map[string]*string{"V": &v, "NIL": nil},
		Labels: map[string]string{"l": "x"}, Target: "final", NoCache: true, Pull: true, Quiet: true, Remove: true,
		NetworkMode: "none", ExtraHosts: []string{"h:1.2.3.4"}, ShmSize: 1 << 20,
	}
}

// roundTrips is every engine.API method that is a plain request and
// answer: the client's arguments must reach the fake as they left, and the
// fake's answer come back as it left.
var roundTrips = []struct {
	name   string
	method string // the fake's method that must be called
	out    any    // what the fake answers
	call   func(ctx context.Context, c *Client) (any, error)
	args   []any // what the fake must receive
	want   any   // what the client must return, when not out
}{
	{
		name: "Version", method: "Version",
		out:  system.VersionResponse{Version: "0.6", APIVersion: "1.50", MinAPIVersion: "1.24", Os: "linux", Arch: "amd64", Components: []system.ComponentVersion{{Name: "Engine", Version: "0.6"}}},
		call: func(ctx context.Context, c *Client) (any, error) { return c.Version(ctx) },
	},
	{
		name: "Info", method: "Info",
		out:  system.Info{ID: "X", Containers: 3, ContainersRunning: 1, Images: 2, Driver: "overlay", Name: "host", OSType: "linux"},
		call: func(ctx context.Context, c *Client) (any, error) { return c.Info(ctx) },
	},
	{
		name: "DiskUsage", method: "DiskUsage",
		out:  system.DiskUsage{ImageUsage: &image.DiskUsage{ActiveCount: 1, TotalCount: 2, TotalSize: 1000}},
		call: func(ctx context.Context, c *Client) (any, error) { return c.DiskUsage(ctx) },
	},
	{
		name: "ContainerCreate", method: "ContainerCreate",
		out: container.CreateResponse{ID: "abc123", Warnings: []string{"careful"}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ContainerCreate(ctx, "web", engine.CreateRequest{CreateRequest: container.CreateRequest{
				Config:     &container.Config{Image: "busybox", Cmd: []string{"sh", "-c", "echo hi"}, Env: []string{"A=1"}, Labels: map[string]string{"k": "v"}},
				HostConfig: &container.HostConfig{AutoRemove: true, NetworkMode: "none"},
			}, Secrets: []engine.FileRef{{Name: "db", Target: "/run/secrets/db", Mode: 0o400}}})
		},
		args: []any{"web", engine.CreateRequest{CreateRequest: container.CreateRequest{
			Config:     &container.Config{Image: "busybox", Cmd: []string{"sh", "-c", "echo hi"}, Env: []string{"A=1"}, Labels: map[string]string{"k": "v"}},
			HostConfig: &container.HostConfig{AutoRemove: true, NetworkMode: "none"},
		}, Secrets: []engine.FileRef{{Name: "db", Target: "/run/secrets/db", Mode: 0o400}}}},
	},
	{
		name: "ContainerStart", method: "ContainerStart",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.ContainerStart(ctx, "web") },
		args: []any{"web"},
	},
	{
		name: "ContainerStop", method: "ContainerStop",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.ContainerStop(ctx, "web", engine.StopOptions{Signal: "SIGINT", Timeout: intp(3)})
		},
		args: []any{"web", engine.StopOptions{Signal: "SIGINT", Timeout: intp(3)}},
	},
	{
		name: "ContainerStop/defaults", method: "ContainerStop",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.ContainerStop(ctx, "web", engine.StopOptions{})
		},
		args: []any{"web", engine.StopOptions{}},
	},
	{
		name: "ContainerRestart", method: "ContainerRestart",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.ContainerRestart(ctx, "web", engine.StopOptions{Timeout: intp(-1)})
		},
		args: []any{"web", engine.StopOptions{Timeout: intp(-1)}},
	},
	{
		name: "ContainerKill", method: "ContainerKill",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.ContainerKill(ctx, "web", "HUP") },
		args: []any{"web", "HUP"},
	},
	{
		name: "ContainerPause", method: "ContainerPause",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.ContainerPause(ctx, "web") },
		args: []any{"web"},
	},
	{
		name: "ContainerUnpause", method: "ContainerUnpause",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.ContainerUnpause(ctx, "web") },
		args: []any{"web"},
	},
	{
		name: "ContainerRemove", method: "ContainerRemove",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.ContainerRemove(ctx, "web", engine.RemoveOptions{Force: true, RemoveVolumes: true, RemoveLinks: true})
		},
		args: []any{"web", engine.RemoveOptions{Force: true, RemoveVolumes: true, RemoveLinks: true}},
	},
	{
		name: "ContainerList", method: "ContainerList",
		out: []container.Summary{{ID: "abc", Names: []string{"/web"}, Image: "busybox", State: container.StateRunning, Status: "Up 2 seconds", Labels: map[string]string{}}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ContainerList(ctx, engine.ListOptions{All: true, Limit: 3, Size: true, Filters: engine.Filters{"status": {"exited", "running"}, "name": {"web"}}})
		},
		args: []any{engine.ListOptions{All: true, Limit: 3, Size: true, Filters: engine.Filters{"status": {"exited", "running"}, "name": {"web"}}}},
	},
	{
		name: "ContainerInspect", method: "ContainerInspect",
		out: container.InspectResponse{ID: "abc", Name: "/web", State: &container.State{Status: container.StateRunning, Running: true, Pid: 42}, Config: &container.Config{Image: "busybox", Tty: true}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ContainerInspect(ctx, "web", true)
		},
		args: []any{"web", true},
	},
	{
		name: "ContainerLogs", method: "ContainerLogs",
		out: "\x01\x00\x00\x00\x00\x00\x00\x03hi\n",
		call: func(ctx context.Context, c *Client) (any, error) {
			rc, err := c.ContainerLogs(ctx, "web", engine.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true, Since: "1700000000", Until: "10m", Tail: "5", Details: true})
			return streamText(rc, err)
		},
		args: []any{"web", engine.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true, Since: "1700000000", Until: "10m", Tail: "5", Details: true}},
	},
	{
		name: "ContainerResize", method: "ContainerResize",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.ContainerResize(ctx, "web", 24, 80) },
		args: []any{"web", uint(24), uint(80)},
	},
	{
		name: "ContainerTop", method: "ContainerTop",
		out:  container.TopResponse{Titles: []string{"PID", "CMD"}, Processes: [][]string{{"1", "sh"}}},
		call: func(ctx context.Context, c *Client) (any, error) { return c.ContainerTop(ctx, "web", "-ef") },
		args: []any{"web", "-ef"},
	},
	{
		name: "ContainerStats", method: "ContainerStats",
		out: "{\"read\":\"2024-01-01T00:00:00Z\"}\n",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ContainerStats(ctx, "web", false))
		},
		args: []any{"web", false},
	},
	{
		name: "ContainerStats/stream", method: "ContainerStats",
		out: "{}\n{}\n",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ContainerStats(ctx, "web", true))
		},
		args: []any{"web", true},
	},
	{
		name: "ContainerRename", method: "ContainerRename",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.ContainerRename(ctx, "web", "web2") },
		args: []any{"web", "web2"},
	},
	{
		name: "ContainerUpdate", method: "ContainerUpdate",
		out: container.UpdateResponse{Warnings: []string{"w"}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ContainerUpdate(ctx, "web", container.UpdateConfig{Resources: container.Resources{Memory: 1 << 20}, RestartPolicy: container.RestartPolicy{Name: "always"}})
		},
		args: []any{"web", container.UpdateConfig{Resources: container.Resources{Memory: 1 << 20}, RestartPolicy: container.RestartPolicy{Name: "always"}}},
	},
	{
		name: "ContainerChanges", method: "ContainerChanges",
		out:  []container.FilesystemChange{{Kind: container.ChangeAdd, Path: "/tmp/x"}},
		call: func(ctx context.Context, c *Client) (any, error) { return c.ContainerChanges(ctx, "web") },
		args: []any{"web"},
	},
	{
		name: "ContainerExport", method: "ContainerExport",
		out:  "tar bytes",
		call: func(ctx context.Context, c *Client) (any, error) { return streamText(c.ContainerExport(ctx, "web")) },
		args: []any{"web"},
	},
	{
		name: "ContainerStatPath", method: "ContainerStatPath",
		out: container.PathStat{Name: "hosts", Size: 12, Mode: 0o644, Mtime: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), LinkTarget: ""},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ContainerStatPath(ctx, "web", "/etc/hosts")
		},
		args: []any{"web", "/etc/hosts"},
	},
	{
		name: "CopyToContainer", method: "CopyToContainer",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.CopyToContainer(ctx, "web", "/tmp", strings.NewReader("a tar"), engine.CopyToOptions{CopyUIDGID: true})
		},
		args: []any{"web", "/tmp", "a tar", engine.CopyToOptions{CopyUIDGID: true}},
	},
	{
		name: "CopyToContainer/overwrite", method: "CopyToContainer",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.CopyToContainer(ctx, "web", "/tmp", strings.NewReader("t"), engine.CopyToOptions{AllowOverwriteDirWithFile: true})
		},
		args: []any{"web", "/tmp", "t", engine.CopyToOptions{AllowOverwriteDirWithFile: true}},
	},
	{
		name: "ContainersPrune", method: "ContainersPrune",
		out: container.PruneReport{ContainersDeleted: []string{"a", "b"}, SpaceReclaimed: 10},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ContainersPrune(ctx, engine.Filters{"until": {"24h"}})
		},
		args: []any{engine.Filters{"until": {"24h"}}},
	},
	{
		name: "ExecCreate", method: "ExecCreate",
		out: container.ExecCreateResponse{ID: "exec1"},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ExecCreate(ctx, "web", container.ExecCreateRequest{Cmd: []string{"ls", "/"}, AttachStdout: true, Tty: true, Env: []string{"X=1"}, WorkingDir: "/tmp", User: "1:1"})
		},
		args: []any{"web", container.ExecCreateRequest{Cmd: []string{"ls", "/"}, AttachStdout: true, Tty: true, Env: []string{"X=1"}, WorkingDir: "/tmp", User: "1:1"}},
	},
	{
		name: "ExecStart/detach", method: "ExecStart",
		call: func(ctx context.Context, c *Client) (any, error) {
			s, err := c.ExecStart(ctx, "exec1", container.ExecStartRequest{Detach: true})
			if s != nil {
				return "a stream", err
			}
			return nil, err
		},
		args: []any{"exec1", container.ExecStartRequest{Detach: true}},
	},
	{
		name: "ExecInspect", method: "ExecInspect",
		out:  container.ExecInspectResponse{ID: "exec1", Running: false, ExitCode: intp(3), ContainerID: "abc", Pid: 7},
		call: func(ctx context.Context, c *Client) (any, error) { return c.ExecInspect(ctx, "exec1") },
		args: []any{"exec1"},
	},
	{
		name: "ExecResize", method: "ExecResize",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.ExecResize(ctx, "exec1", 50, 132) },
		args: []any{"exec1", uint(50), uint(132)},
	},
	{
		name: "ImagePull", method: "ImagePull",
		out: "{\"status\":\"Pulling from a/b\"}\n",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImagePull(ctx, "localhost:5000/a/b:v1", engine.PullRequest{Platform: "linux/arm64/v8", RegistryAuth: "e30="}))
		},
		args: []any{"localhost:5000/a/b:v1", engine.PullRequest{Platform: "linux/arm64/v8", RegistryAuth: "e30="}},
	},
	{
		name: "ImagePull/untagged", method: "ImagePull",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImagePull(ctx, "busybox", engine.PullRequest{}))
		},
		args: []any{"busybox:latest", engine.PullRequest{}},
		want: "",
	},
	{
		name: "ImagePull/digest", method: "ImagePull",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImagePull(ctx, "localhost:5000/a@sha256:0123456789012345678901234567890123456789012345678901234567890123", engine.PullRequest{}))
		},
		args: []any{"localhost:5000/a@sha256:0123456789012345678901234567890123456789012345678901234567890123", engine.PullRequest{}},
		want: "",
	},
	{
		name: "ImagePull/all", method: "ImagePull",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImagePull(ctx, "localhost:5000/a", engine.PullRequest{All: true}))
		},
		args: []any{"localhost:5000/a", engine.PullRequest{All: true}},
		want: "",
	},
	{
		name: "ImageList", method: "ImageList",
		out: []image.Summary{{ID: "sha256:1", RepoTags: []string{"busybox:latest"}, RepoDigests: []string{}, Size: 100, Containers: 1, Labels: map[string]string{}}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ImageList(ctx, engine.ImageListOptions{All: true, Digests: true, Filters: engine.Filters{"dangling": {"false"}}})
		},
		args: []any{engine.ImageListOptions{All: true, Digests: true, Filters: engine.Filters{"dangling": {"false"}}}},
	},
	{
		name: "ImageInspect", method: "ImageInspect",
		out:  image.InspectResponse{ID: "sha256:1", RepoTags: []string{"localhost:5000/a/b:v1"}, RepoDigests: []string{}, Os: "linux", Architecture: "amd64", Size: 5},
		call: func(ctx context.Context, c *Client) (any, error) { return c.ImageInspect(ctx, "localhost:5000/a/b:v1") },
		args: []any{"localhost:5000/a/b:v1"},
	},
	{
		name: "ImageHistory", method: "ImageHistory",
		out:  []image.HistoryResponseItem{{ID: "sha256:1", Created: 1700000000, CreatedBy: "/bin/sh", Tags: []string{"a:b"}, Size: 3}},
		call: func(ctx context.Context, c *Client) (any, error) { return c.ImageHistory(ctx, "a/b:c") },
		args: []any{"a/b:c"},
	},
	{
		name: "ImageTag", method: "ImageTag",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.ImageTag(ctx, "sha256:1", "localhost:5000/team/app:v2")
		},
		args: []any{"sha256:1", "localhost:5000/team/app:v2"},
	},
	{
		name: "ImagePush", method: "ImagePush",
		out: "{\"status\":\"Pushed\"}\n",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImagePush(ctx, "localhost:5000/a/b:v1", engine.PushRequest{RegistryAuth: "e30=", Platform: "linux/amd64"}))
		},
		args: []any{"localhost:5000/a/b:v1", engine.PushRequest{RegistryAuth: "e30=", Platform: "linux/amd64"}},
	},
	{
		name: "ImagePush/all", method: "ImagePush",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImagePush(ctx, "localhost:5000/a/b", engine.PushRequest{All: true}))
		},
		args: []any{"localhost:5000/a/b", engine.PushRequest{All: true}},
		want: "",
	},
	{
		name: "ImageRemove", method: "ImageRemove",
		out: []image.DeleteResponse{{Untagged: "a:b"}, {Deleted: "sha256:1"}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ImageRemove(ctx, "localhost:5000/a:b", engine.ImageRemoveOptions{Force: true, NoPrune: true})
		},
		args: []any{"localhost:5000/a:b", engine.ImageRemoveOptions{Force: true, NoPrune: true}},
	},
	{
		name: "ImagesPrune", method: "ImagesPrune",
		out: image.PruneReport{ImagesDeleted: []image.DeleteResponse{{Deleted: "sha256:2"}}, SpaceReclaimed: 99},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ImagesPrune(ctx, engine.Filters{"dangling": {"true"}})
		},
		args: []any{engine.Filters{"dangling": {"true"}}},
	},
	{
		name: "ImageSave", method: "ImageSave",
		out: "a tar of two images",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImageSave(ctx, []string{"a:1", "b/c:2"}))
		},
		args: []any{[]string{"a:1", "b/c:2"}},
	},
	{
		name: "ImageLoad", method: "ImageLoad",
		out: "{\"stream\":\"Loaded image: a:1\\n\"}\n",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImageLoad(ctx, strings.NewReader("the tar"), false))
		},
		args: []any{"the tar", false},
	},
	{
		name: "ImageLoad/quiet", method: "ImageLoad",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImageLoad(ctx, strings.NewReader("t"), true))
		},
		args: []any{"t", true},
		want: "",
	},
	{
		name: "ImageBuild", method: "ImageBuild",
		out: "{\"stream\":\"Step 1/1 : FROM busybox\\n\"}\n",
		call: func(ctx context.Context, c *Client) (any, error) {
			return streamText(c.ImageBuild(ctx, strings.NewReader("the context"), buildOpts()))
		},
		args: []any{"the context", buildOpts()},
	},
	{
		name: "BuildCachePrune", method: "BuildCachePrune",
		out: build.CachePruneReport{CachesDeleted: []string{"k1"}, SpaceReclaimed: 42},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.BuildCachePrune(ctx, engine.BuildCachePruneOptions{All: true, Filters: engine.Filters{"until": {"24h"}}, KeepStorage: 7})
		},
		args: []any{engine.BuildCachePruneOptions{All: true, Filters: engine.Filters{"until": {"24h"}}, KeepStorage: 7}},
	},
	{
		name: "ContainerCommit", method: "ContainerCommit",
		out: container.CommitResponse{ID: "sha256:abc"},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ContainerCommit(ctx, "web", engine.CommitOptions{Reference: "localhost:5000/app:v1", Comment: "c", Author: "a", Changes: []string{"CMD [\"sh\"]", "ENV A=1"}, Pause: true, Config: &container.Config{User: "nobody"}})
		},
		args: []any{"web", engine.CommitOptions{Reference: "localhost:5000/app:v1", Comment: "c", Author: "a", Changes: []string{"CMD [\"sh\"]", "ENV A=1"}, Pause: true, Config: &container.Config{User: "nobody"}}},
	},
	{
		name: "ImageSearch", method: "ImageSearch",
		out: []registry.SearchResult{{Name: "busybox", Description: "tiny", StarCount: 3, IsOfficial: true}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.ImageSearch(ctx, "busy", engine.SearchRequest{Limit: 5, Filters: engine.Filters{"is-official": {"true"}}, RegistryAuth: "e30="})
		},
		args: []any{"busy", engine.SearchRequest{Limit: 5, Filters: engine.Filters{"is-official": {"true"}}, RegistryAuth: "e30="}},
	},
}

func streamText(rc io.ReadCloser, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func TestRoundTrip(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		for _, tc := range roundTrips {
			t.Run(tc.name, func(t *testing.T) {
				fake.reset()
				if tc.out != nil {
					fake.set(tc.method, tc.out)
				}
				got, err := tc.call(t.Context(), c)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				want := tc.want
				if want == nil {
					want = tc.out
				}
				sameJSON(t, "result", got, want)
				calls := fake.called(tc.method)
				if len(calls) != 1 {
					t.Fatalf("%s called %d times, want once (calls: %+v)", tc.method, len(calls), fake.calls)
				}
				sameJSON(t, "arguments", calls[0].Args, tc.args)
			})
		}
	})
}

// TestRoundTripCopyFrom checks the archive GET: the tar and the stat
// header both come back.
func TestRoundTripCopyFrom(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		st := container.PathStat{Name: "etc", Size: 4096, Mode: os.ModeDir | 0o755, Mtime: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
		fake.set("ContainerStatPath", st)
		fake.set("CopyFromContainer", "tar of /etc")
		rc, gotSt, err := c.CopyFromContainer(t.Context(), "web", "/etc")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if body := readAll(rc); body != "tar of /etc" {
			t.Errorf("body %q", body)
		}
		sameJSON(t, "stat", gotSt, st)
		sameJSON(t, "arguments", fake.called("CopyFromContainer")[0].Args, []any{"web", "/etc"})
	})
}

func TestPing(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		p, err := c.Ping(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if p != (engine.Ping{APIVersion: APIVersion, OSType: "linux"}) {
			t.Errorf("Ping = %+v", p)
		}
	})
}
