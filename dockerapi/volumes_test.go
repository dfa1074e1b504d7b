package dockerapi

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
)

func testVolume() volume.Volume {
	return volume.Volume{
		Name: "data", Driver: "local", Mountpoint: "/var/lib/berth/volumes/data/_data", CreatedAt: "2026-11-28T15:00:00Z",
		Labels: map[string]string{"team": "core"}, Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}, Scope: "local",
	}
}

var volumeRoundTrips = []struct {
	name   string
	method string
	out    any
	call   func(ctx context.Context, c *Client) (any, error)
	args   []any
}{
	{
		name: "VolumeCreate", method: "VolumeCreate", out: testVolume(),
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.VolumeCreate(ctx, volume.CreateRequest{Name: "data", Driver: "local", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs"}, Labels: map[string]string{"team": "core"}})
		},
		args: []any{volume.CreateRequest{Name: "data", Driver: "local", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs"}, Labels: map[string]string{"team": "core"}}},
	},
	{
		name: "VolumeList", method: "VolumeList", out: volume.ListResponse{Volumes: []volume.Volume{testVolume()}, Warnings: []string{}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.VolumeList(ctx, engine.Filters{"dangling": {"true"}, "label": {"team=core"}})
		},
		args: []any{engine.Filters{"dangling": {"true"}, "label": {"team=core"}}},
	},
	{
		name: "VolumeInspect", method: "VolumeInspect", out: testVolume(),
		call: func(ctx context.Context, c *Client) (any, error) { return c.VolumeInspect(ctx, "data") },
		args: []any{"data"},
	},
	{
		name: "VolumeRemove", method: "VolumeRemove",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.VolumeRemove(ctx, "data", false) },
		args: []any{"data", false},
	},
	{
		name: "VolumeRemove/force", method: "VolumeRemove",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.VolumeRemove(ctx, "data", true) },
		args: []any{"data", true},
	},
	{
		name: "VolumesPrune", method: "VolumesPrune", out: volume.PruneReport{VolumesDeleted: []string{"a", "b"}, SpaceReclaimed: 4096},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.VolumesPrune(ctx, engine.Filters{"all": {"true"}, "label!": {"keep"}})
		},
		args: []any{engine.Filters{"all": {"true"}, "label!": {"keep"}}},
	},
}

func TestVolumeRoundTrip(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		for _, tc := range volumeRoundTrips {
			t.Run(tc.name, func(t *testing.T) {
				fake.reset()
				if tc.out != nil {
					fake.set(tc.method, tc.out)
				}
				got, err := tc.call(t.Context(), c)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				sameJSON(t, "result", got, tc.out)
				calls := fake.called(tc.method)
				if len(calls) != 1 {
					t.Fatalf("%s called %d times, want once (calls: %+v)", tc.method, len(calls), fake.calls)
				}
				sameJSON(t, "arguments", calls[0].Args, tc.args)
			})
		}
	})
}

// TestVolumeErrors: the engine's errors come back with kind and message.
func TestVolumeErrors(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		fake.fail("VolumeInspect", engine.NotFound("get nope: no such volume"))
		fake.fail("VolumeRemove", engine.Conflict("remove data: volume is in use - [abc]"))
		fake.fail("VolumeCreate", engine.Invalid(`create a/b: "a/b" includes invalid characters for a local volume name`))
		tests := []struct {
			err  error
			kind engine.Kind
			msg  string
		}{
			{func() error { _, err := c.VolumeInspect(t.Context(), "nope"); return err }(), engine.KindNotFound, "get nope: no such volume"},
			{c.VolumeRemove(t.Context(), "data", true), engine.KindConflict, "remove data: volume is in use - [abc]"},
			{func() error { _, err := c.VolumeCreate(t.Context(), volume.CreateRequest{Name: "a/b"}); return err }(), engine.KindInvalid, "includes invalid characters"},
			{c.VolumeRemove(t.Context(), " ", false), engine.KindInvalid, "invalid volume name or ID: value is empty"},
			{func() error { _, err := c.VolumeInspect(t.Context(), ""); return err }(), engine.KindInvalid, "invalid volume name or ID: value is empty"},
		}
		for _, tc := range tests {
			if tc.err == nil || engine.KindOf(tc.err) != tc.kind || !strings.Contains(tc.err.Error(), tc.msg) {
				t.Errorf("error %v (kind %v), want kind %v saying %q", tc.err, engine.KindOf(tc.err), tc.kind, tc.msg)
			}
		}
	})
}

// TestVolumeRoutes: docker's routes and statuses, with and without the
// version prefix.
func TestVolumeRoutes(t *testing.T) {
	tests := []struct {
		method, path, body string
		status             int
		engine             string
		args               []any
	}{
		{"GET", "/volumes", "", 200, "VolumeList", []any{engine.Filters(nil)}},
		{"GET", "/volumes?filters=" + url.QueryEscape(`{"dangling":{"true":true}}`), "", 200, "VolumeList", []any{engine.Filters{"dangling": {"true"}}}},
		{"POST", "/volumes/create", `{"Name":"data","DriverOpts":{"type":"tmpfs"}}`, 201, "VolumeCreate", []any{volume.CreateRequest{Name: "data", DriverOpts: map[string]string{"type": "tmpfs"}}}},
		{"POST", "/volumes/create", "", 201, "VolumeCreate", []any{volume.CreateRequest{}}},
		{"GET", "/volumes/data", "", 200, "VolumeInspect", []any{"data"}},
		{"DELETE", "/volumes/data", "", 204, "VolumeRemove", []any{"data", false}},
		{"DELETE", "/volumes/data?force=1", "", 204, "VolumeRemove", []any{"data", true}},
		{"DELETE", "/volumes/data?force=true", "", 204, "VolumeRemove", []any{"data", true}},
	}
	for _, tc := range tests {
		for _, prefix := range []string{"", "/v1.50", "/v1.44"} {
			t.Run(tc.method+" "+prefix+tc.path, func(t *testing.T) {
				fake := newFake()
				ct := ""
				if tc.body != "" {
					ct = "application/json"
				}
				resp := do(t, NewHandler(fake), tc.method, prefix+tc.path, ct, tc.body)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, readAll(resp.Body))
				}
				calls := fake.called(tc.engine)
				if len(calls) != 1 {
					t.Fatalf("%s called %d times (calls %+v)", tc.engine, len(calls), fake.calls)
				}
				sameJSON(t, "arguments", calls[0].Args, tc.args)
			})
		}
	}
}

// TestVolumeHandler: docker's empty lists, prune's all for old clients,
// and bad requests refused before the engine.
func TestVolumeHandler(t *testing.T) {
	t.Run("empty list", func(t *testing.T) {
		resp := do(t, NewHandler(newFake()), "GET", "/volumes", "", "")
		if body := strings.TrimSpace(readAll(resp.Body)); body != `{"Volumes":[],"Warnings":[]}` {
			t.Errorf("an empty list answers %s", body)
		}
		resp = do(t, NewHandler(newFake()), "POST", "/volumes/prune", "", "")
		if body := strings.TrimSpace(readAll(resp.Body)); body != `{"VolumesDeleted":[],"SpaceReclaimed":0}` {
			t.Errorf("an empty prune answers %s", body)
		}
	})
	t.Run("prune all for old clients", func(t *testing.T) {
		for prefix, want := range map[string]engine.Filters{
			"/v1.41": {"all": {"true"}, "label": {"x"}},
			"/v1.42": {"label": {"x"}},
			"":       {"label": {"x"}},
		} {
			fake := newFake()
			resp := do(t, NewHandler(fake), "POST", prefix+"/volumes/prune?filters="+url.QueryEscape(`{"label":["x"]}`), "", "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d", prefix, resp.StatusCode)
			}
			sameJSON(t, prefix+" filters", fake.called("VolumesPrune")[0].Args[0], want)
		}
		fake := newFake()
		do(t, NewHandler(fake), "POST", "/v1.41/volumes/prune?filters="+url.QueryEscape(`{"all":["false"]}`), "", "")
		sameJSON(t, "explicit all", fake.called("VolumesPrune")[0].Args[0], engine.Filters{"all": {"false"}})
	})
	bad := []struct {
		name, method, target, body, msg, engine string
	}{
		{"bad list filters", "GET", "/volumes?filters=x", "", "invalid filter", "VolumeList"},
		{"bad prune filters", "POST", "/volumes/prune?filters=x", "", "invalid filter", "VolumesPrune"},
		{"bad create body", "POST", "/volumes/create", `{"Name":`, "invalid JSON", "VolumeCreate"},
		{"bad force", "DELETE", "/volumes/data?force=maybe", "", `invalid boolean value "maybe" for query parameter "force"`, "VolumeRemove"},
		{"blank remove", "DELETE", "/volumes/%20", "", "invalid volume name or ID: value is empty", "VolumeRemove"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			ct := ""
			if tc.body != "" {
				ct = "application/json"
			}
			resp := do(t, NewHandler(fake), tc.method, tc.target, ct, tc.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, readAll(resp.Body))
			}
			if msg := errorBody(t, resp); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not say %q", msg, tc.msg)
			}
			if calls := fake.called(tc.engine); len(calls) != 0 {
				t.Errorf("%s was called: %+v", tc.engine, calls)
			}
		})
	}
}

// TestDockerCLIVolumes has the real docker CLI drive the volume routes.
func TestDockerCLIVolumes(t *testing.T) {
	docker := gate.Command(t, "docker")
	fake := newFake()
	sock := unixServer(t, NewHandler(cliFake{fake}))
	run := func(wantErr bool, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(docker, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_CONFIG=" + t.TempDir(), "DOCKER_HOST=unix://" + sock}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); (err != nil) != wantErr {
			t.Fatalf("docker %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String())
	}
	v := testVolume()
	tests := []struct {
		name    string
		args    []string
		setup   func()
		wantErr bool
		stdout  string
		stderr  string
		check   func(t *testing.T)
	}{
		{name: "create", args: []string{"volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--label", "team=core", "data"},
			setup:  func() { fake.set("VolumeCreate", v) },
			stdout: "data", check: func(t *testing.T) {
				req := fake.called("VolumeCreate")[0].Args[0].(volume.CreateRequest)
				if req.Name != "data" || req.Driver != "local" || req.DriverOpts["type"] != "tmpfs" || req.DriverOpts["device"] != "tmpfs" || req.Labels["team"] != "core" {
					t.Errorf("request %+v", req)
				}
			}},
		{name: "create invalid", args: []string{"volume", "create", "-d", "nfs", "x1"}, wantErr: true,
			setup: func() {
				fake.fail("VolumeCreate", engine.Invalid(`create x1: error looking up volume plugin nfs: plugin "nfs" not found`))
			},
			stderr: `Error response from daemon: create x1: error looking up volume plugin nfs: plugin "nfs" not found`},
		{name: "ls", args: []string{"volume", "ls"},
			setup:  func() { fake.set("VolumeList", volume.ListResponse{Volumes: []volume.Volume{v}}) },
			stdout: "DRIVER    VOLUME NAME\nlocal     data"},
		{name: "ls filter", args: []string{"volume", "ls", "-q", "--filter", "dangling=true"},
			setup:  func() { fake.set("VolumeList", volume.ListResponse{Volumes: []volume.Volume{v}}) },
			stdout: "data", check: func(t *testing.T) {
				sameJSON(t, "filters", fake.called("VolumeList")[0].Args[0], engine.Filters{"dangling": {"true"}})
			}},
		{name: "inspect", args: []string{"volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Mountpoint}} {{.Options.type}} {{.Labels.team}}", "data"},
			setup:  func() { fake.set("VolumeInspect", v) },
			stdout: "data local /var/lib/berth/volumes/data/_data tmpfs core"},
		{name: "inspect missing", args: []string{"volume", "inspect", "nope"}, wantErr: true,
			setup:  func() { fake.fail("VolumeInspect", engine.NotFound("get nope: no such volume")) },
			stdout: "[]", stderr: "Error response from daemon: get nope: no such volume"},
		{name: "rm", args: []string{"volume", "rm", "-f", "data"}, stdout: "data", check: func(t *testing.T) {
			sameJSON(t, "rm", fake.called("VolumeRemove")[0].Args, []any{"data", true})
		}},
		{name: "rm in use", args: []string{"volume", "rm", "data"}, wantErr: true,
			setup:  func() { fake.fail("VolumeRemove", engine.Conflict("remove data: volume is in use - [abc]")) },
			stderr: "Error response from daemon: remove data: volume is in use - [abc]"},
		{name: "prune", args: []string{"volume", "prune", "-f", "-a"},
			setup: func() {
				fake.set("VolumesPrune", volume.PruneReport{VolumesDeleted: []string{"old"}, SpaceReclaimed: 2048})
			},
			stdout: "Deleted Volumes:\nold\n\nTotal reclaimed space: 2.048kB", check: func(t *testing.T) {
				sameJSON(t, "prune filters", fake.called("VolumesPrune")[0].Args[0], engine.Filters{"all": {"true"}})
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.reset()
			if tc.setup != nil {
				tc.setup()
			}
			stdout, stderr := run(tc.wantErr, tc.args...)
			if stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", stdout, tc.stdout)
			}
			if tc.stderr != "" && !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q does not say %q", stderr, tc.stderr)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}
