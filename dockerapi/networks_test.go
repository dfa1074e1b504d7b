package dockerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
)

func boolp(b bool) *bool { return &b }

// testNetwork is a network as the engine would describe it.
func testNetwork() network.Network {
	return network.Network{
		Name: "web", ID: "5e4f0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab",
		Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Scope: "local", Driver: "bridge", EnableIPv4: true,
		IPAM: network.IPAM{Driver: "default", Config: []network.IPAMConfig{{
			Subnet: netip.MustParsePrefix("172.18.0.0/16"), Gateway: netip.MustParseAddr("172.18.0.1"),
		}}},
		Options: map[string]string{"com.docker.network.bridge.name": "br-5e4f01234567"},
		Labels:  map[string]string{"tier": "front"},
	}
}

// networkRoundTrips are the network calls: the client's arguments must
// reach the fake as they left, the fake's answer come back as it left.
var networkRoundTrips = []struct {
	name, method string
	out          any
	call         func(ctx context.Context, c *Client) (any, error)
	args         []any
}{
	{
		name: "NetworkCreate", method: "NetworkCreate",
		out: network.CreateResponse{ID: "5e4f", Warning: "careful"},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.NetworkCreate(ctx, network.CreateRequest{
				Name: "web", Driver: "bridge", EnableIPv4: boolp(true), Internal: true, Attachable: true,
				IPAM: &network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{{
					Subnet: netip.MustParsePrefix("10.5.0.0/16"), IPRange: netip.MustParsePrefix("10.5.1.0/24"),
					Gateway: netip.MustParseAddr("10.5.0.1"), AuxAddress: map[string]netip.Addr{"router": netip.MustParseAddr("10.5.0.2")},
				}}},
				Options: map[string]string{"com.docker.network.bridge.name": "br0"}, Labels: map[string]string{"a": "b"},
			})
		},
		args: []any{network.CreateRequest{
			Name: "web", Driver: "bridge", EnableIPv4: boolp(true), Internal: true, Attachable: true,
			IPAM: &network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{{
				Subnet: netip.MustParsePrefix("10.5.0.0/16"), IPRange: netip.MustParsePrefix("10.5.1.0/24"),
				Gateway: netip.MustParseAddr("10.5.0.1"), AuxAddress: map[string]netip.Addr{"router": netip.MustParseAddr("10.5.0.2")},
			}}},
			Options: map[string]string{"com.docker.network.bridge.name": "br0"}, Labels: map[string]string{"a": "b"},
		}},
	},
	{
		name: "NetworkList", method: "NetworkList",
		out: []network.Summary{{Network: testNetwork()}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.NetworkList(ctx, engine.Filters{"driver": {"bridge"}, "label": {"tier=front"}, "dangling": {"false"}})
		},
		args: []any{engine.Filters{"driver": {"bridge"}, "label": {"tier=front"}, "dangling": {"false"}}},
	},
	{
		name: "NetworkList/no filters", method: "NetworkList",
		out:  []network.Summary{{Network: testNetwork()}},
		call: func(ctx context.Context, c *Client) (any, error) { return c.NetworkList(ctx, nil) },
		args: []any{nil},
	},
	{
		name: "NetworkInspect", method: "NetworkInspect",
		out: network.Inspect{Network: testNetwork(), Containers: map[string]network.EndpointResource{
			"c0ffee": {Name: "app", EndpointID: "e1", MacAddress: network.HardwareAddr{2, 0x42, 0xac, 0x12, 0, 2}, IPv4Address: netip.MustParsePrefix("172.18.0.2/16")},
		}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.NetworkInspect(ctx, "web", engine.NetworkInspectOptions{Verbose: true, Scope: "local"})
		},
		args: []any{"web", engine.NetworkInspectOptions{Verbose: true, Scope: "local"}},
	},
	{
		name: "NetworkInspect/defaults", method: "NetworkInspect",
		out: network.Inspect{Network: testNetwork(), Containers: map[string]network.EndpointResource{}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.NetworkInspect(ctx, "5e4f", engine.NetworkInspectOptions{})
		},
		args: []any{"5e4f", engine.NetworkInspectOptions{}},
	},
	{
		name: "NetworkRemove", method: "NetworkRemove",
		call: func(ctx context.Context, c *Client) (any, error) { return nil, c.NetworkRemove(ctx, "web") },
		args: []any{"web"},
	},
	{
		name: "NetworkConnect", method: "NetworkConnect",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.NetworkConnect(ctx, "web", network.ConnectRequest{Container: "app", EndpointConfig: &network.EndpointSettings{
				IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.18.0.9")},
				Aliases:    []string{"db", "primary"}, MacAddress: network.HardwareAddr{2, 0x42, 0xac, 0x12, 0, 9},
			}})
		},
		args: []any{"web", network.ConnectRequest{Container: "app", EndpointConfig: &network.EndpointSettings{
			IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.18.0.9")},
			Aliases:    []string{"db", "primary"}, MacAddress: network.HardwareAddr{2, 0x42, 0xac, 0x12, 0, 9},
		}}},
	},
	{
		name: "NetworkConnect/plain", method: "NetworkConnect",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.NetworkConnect(ctx, "web", network.ConnectRequest{Container: "app"})
		},
		args: []any{"web", network.ConnectRequest{Container: "app"}},
	},
	{
		name: "NetworkDisconnect", method: "NetworkDisconnect",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.NetworkDisconnect(ctx, "web", network.DisconnectRequest{Container: "app", Force: true})
		},
		args: []any{"web", network.DisconnectRequest{Container: "app", Force: true}},
	},
	{
		name: "NetworksPrune", method: "NetworksPrune",
		out: network.PruneReport{NetworksDeleted: []string{"old", "older"}},
		call: func(ctx context.Context, c *Client) (any, error) {
			return c.NetworksPrune(ctx, engine.Filters{"until": {"24h"}, "label": {"tmp"}})
		},
		args: []any{engine.Filters{"until": {"24h"}, "label": {"tmp"}}},
	},
}

func TestNetworkRoundTrip(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		for _, tc := range networkRoundTrips {
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

// TestNetworkErrors: the engine's errors come back to the client with
// their kind and message.
func TestNetworkErrors(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		fake.fail("NetworkInspect", engine.NotFound("network nosuch not found"))
		fake.fail("NetworkRemove", engine.Errorf(engine.KindForbidden, "bridge is a pre-defined network and cannot be removed"))
		fake.fail("NetworkCreate", engine.Conflict("network with name web already exists"))
		fake.fail("NetworkConnect", engine.Invalid("container sharing network namespace with another container or host cannot be connected to any other network"))
		tests := []struct {
			err  error
			kind engine.Kind
			msg  string
		}{
			{func() error {
				_, err := c.NetworkInspect(t.Context(), "nosuch", engine.NetworkInspectOptions{})
				return err
			}(), engine.KindNotFound, "network nosuch not found"},
			{c.NetworkRemove(t.Context(), "bridge"), engine.KindForbidden, "bridge is a pre-defined network and cannot be removed"},
			{func() error { _, err := c.NetworkCreate(t.Context(), network.CreateRequest{Name: "web"}); return err }(), engine.KindConflict, "network with name web already exists"},
			{c.NetworkConnect(t.Context(), "web", network.ConnectRequest{Container: "x"}), engine.KindInvalid, "container sharing network namespace"},
			// An empty ref would name another route: refused before sending.
			{c.NetworkRemove(t.Context(), " "), engine.KindInvalid, "invalid network name or ID: value is empty"},
			{func() error { _, err := c.NetworkInspect(t.Context(), "", engine.NetworkInspectOptions{}); return err }(), engine.KindInvalid, "invalid network name or ID: value is empty"},
		}
		for _, tc := range tests {
			if tc.err == nil || engine.KindOf(tc.err) != tc.kind || !strings.Contains(tc.err.Error(), tc.msg) {
				t.Errorf("error %v (kind %v), want kind %v saying %q", tc.err, engine.KindOf(tc.err), tc.kind, tc.msg)
			}
		}
	})
}

// TestNetworkRoutes: every route answers with and without the version
// prefix, with docker's status, and hands the engine the network ref.
func TestNetworkRoutes(t *testing.T) {
	tests := []struct {
		method, path, body string
		status             int
		engine             string
		ref                string // the engine's first argument, when a ref
	}{
		{"GET", "/networks", "", 200, "NetworkList", ""},
		{"GET", "/networks/", "", 200, "NetworkList", ""},
		{"GET", "/networks/web", "", 200, "NetworkInspect", "web"},
		{"GET", "/networks/5e4f01?verbose=1&scope=local", "", 200, "NetworkInspect", "5e4f01"},
		{"POST", "/networks/create", `{"Name":"web"}`, 201, "NetworkCreate", ""},
		{"POST", "/networks/prune", "", 200, "NetworksPrune", ""},
		{"POST", "/networks/web/connect", `{"Container":"app"}`, 200, "NetworkConnect", "web"},
		{"POST", "/networks/web/disconnect", `{"Container":"app","Force":true}`, 200, "NetworkDisconnect", "web"},
		{"DELETE", "/networks/web", "", 204, "NetworkRemove", "web"},
	}
	for _, tc := range tests {
		for _, prefix := range []string{"", "/v1.50", "/v1.41"} {
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
				if tc.ref != "" && calls[0].Args[0] != tc.ref {
					t.Errorf("ref %v, want %q", calls[0].Args[0], tc.ref)
				}
			})
		}
	}
}

// TestNetworkHandler checks what the handler itself does: docker's empty
// values for what the engine left nil, the legacy CheckDuplicate field,
// EnableIPv4 for old clients, filters and query values.
func TestNetworkHandler(t *testing.T) {
	t.Run("empty list", func(t *testing.T) {
		resp := do(t, NewHandler(newFake()), "GET", "/networks", "", "")
		if body := strings.TrimSpace(readAll(resp.Body)); body != "[]" {
			t.Errorf("an empty list answers %q, want []", body)
		}
	})
	t.Run("empty maps", func(t *testing.T) {
		fake := newFake()
		fake.set("NetworkList", []network.Summary{{Network: network.Network{Name: "n", ID: "1"}}})
		fake.set("NetworkInspect", network.Inspect{Network: network.Network{Name: "n", ID: "1"}})
		for _, target := range []string{"/networks", "/networks/n"} {
			resp := do(t, NewHandler(fake), "GET", target, "", "")
			body := readAll(resp.Body)
			for _, want := range []string{`"Options":{}`, `"Labels":{}`} {
				if !strings.Contains(body, want) {
					t.Errorf("%s: %s does not have %s", target, body, want)
				}
			}
			if target == "/networks/n" && !strings.Contains(body, `"Containers":{}`) {
				t.Errorf("inspect %s has no empty Containers", body)
			}
		}
	})
	t.Run("CheckDuplicate", func(t *testing.T) {
		fake := newFake()
		fake.set("NetworkCreate", network.CreateResponse{ID: "abc"})
		resp := do(t, NewHandler(fake), "POST", "/v1.43/networks/create", "application/json",
			`{"Name":"web","CheckDuplicate":true,"Driver":"bridge","Internal":true}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d: %s", resp.StatusCode, readAll(resp.Body))
		}
		var got network.CreateResponse
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.ID != "abc" {
			t.Errorf("response %+v, %v", got, err)
		}
		sameJSON(t, "request", fake.called("NetworkCreate")[0].Args[0], network.CreateRequest{Name: "web", Driver: "bridge", Internal: true})
	})
	t.Run("EnableIPv4", func(t *testing.T) {
		for prefix, want := range map[string]*bool{"/v1.47": nil, "/v1.48": boolp(false), "": boolp(false)} {
			fake := newFake()
			resp := do(t, NewHandler(fake), "POST", prefix+"/networks/create", "application/json", `{"Name":"web","EnableIPv4":false}`)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("%s: status %d", prefix, resp.StatusCode)
			}
			got := fake.called("NetworkCreate")[0].Args[0].(network.CreateRequest).EnableIPv4
			if (got == nil) != (want == nil) || (got != nil && *got != *want) {
				t.Errorf("%s: EnableIPv4 %v, want %v", prefix, got, want)
			}
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, f := range []string{`{"type":{"custom":true},"name":{"web":true}}`, `{"type":["custom"],"name":["web"]}`} {
			fake := newFake()
			for _, target := range []string{"/networks?filters=", "/networks/prune?filters="} {
				method := "GET"
				if strings.Contains(target, "prune") {
					method = "POST"
				}
				resp := do(t, NewHandler(fake), method, target+url.QueryEscape(f), "", "")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", target, resp.StatusCode)
				}
			}
			want := engine.Filters{"type": {"custom"}, "name": {"web"}}
			sameJSON(t, "list filters", fake.called("NetworkList")[0].Args[0], want)
			sameJSON(t, "prune filters", fake.called("NetworksPrune")[0].Args[0], want)
		}
	})
	bad := []struct {
		name, method, target, body, msg, engine string
	}{
		{"bad scope", "GET", "/networks/web?scope=galaxy", "", `invalid scope value: "galaxy"`, "NetworkInspect"},
		{"bad verbose", "GET", "/networks/web?verbose=very", "", `invalid boolean value "very" for query parameter "verbose"`, "NetworkInspect"},
		{"bad list filters", "GET", "/networks?filters=" + url.QueryEscape(`{"name":"web"}`), "", "invalid filter", "NetworkList"},
		{"bad prune filters", "POST", "/networks/prune?filters=x", "", "invalid filter", "NetworksPrune"},
		{"bad create body", "POST", "/networks/create", `{"Name":`, "invalid JSON", "NetworkCreate"},
		{"bad subnet", "POST", "/networks/create", `{"Name":"n","IPAM":{"Config":[{"Subnet":"10.0.0.1"}]}}`, "invalid JSON", "NetworkCreate"},
		{"bad connect body", "POST", "/networks/web/connect", `{"Container":7}`, "cannot unmarshal number", "NetworkConnect"},
		{"bad disconnect body", "POST", "/networks/web/disconnect", `[`, "invalid JSON", "NetworkDisconnect"},
		{"blank remove", "DELETE", "/networks/", "", "invalid network name or ID: value is empty", "NetworkRemove"},
		{"blank connect", "POST", "/networks/%20/connect", `{"Container":"a"}`, "invalid network name or ID: value is empty", "NetworkConnect"},
		{"blank disconnect", "POST", "/networks//disconnect", `{"Container":"a"}`, "invalid network name or ID: value is empty", "NetworkDisconnect"},
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
				t.Fatalf("status %d, want 400", resp.StatusCode)
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

// TestDockerCLINetworks has the real docker CLI drive the network routes
// (and run's networking flags) and checks what reaches the engine.
func TestDockerCLINetworks(t *testing.T) {
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
	nw := testNetwork()
	tests := []struct {
		name    string
		args    []string
		setup   func()
		wantErr bool
		stdout  string
		stderr  string
		check   func(t *testing.T)
	}{
		{name: "create", args: []string{"network", "create", "--subnet", "10.5.0.0/16", "--gateway", "10.5.0.1", "--internal", "--label", "a=b", "web"},
			setup:  func() { fake.set("NetworkCreate", network.CreateResponse{ID: nw.ID}) },
			stdout: nw.ID, check: func(t *testing.T) {
				req := fake.called("NetworkCreate")[0].Args[0].(network.CreateRequest)
				want := []network.IPAMConfig{{Subnet: netip.MustParsePrefix("10.5.0.0/16"), Gateway: netip.MustParseAddr("10.5.0.1")}}
				if req.Name != "web" || req.Driver != "bridge" || !req.Internal || req.Labels["a"] != "b" || req.IPAM == nil {
					t.Fatalf("request %+v", req)
				}
				sameJSON(t, "IPAM config", req.IPAM.Config, want)
			}},
		{name: "create conflict", args: []string{"network", "create", "web"}, wantErr: true,
			setup:  func() { fake.fail("NetworkCreate", engine.Conflict("network with name web already exists")) },
			stderr: "Error response from daemon: network with name web already exists"},
		{name: "ls", args: []string{"network", "ls"},
			setup:  func() { fake.set("NetworkList", []network.Summary{{Network: nw}}) },
			stdout: "NETWORK ID     NAME      DRIVER    SCOPE\n5e4f01234567   web       bridge    local"},
		{name: "ls filter", args: []string{"network", "ls", "-q", "--filter", "driver=bridge"},
			setup:  func() { fake.set("NetworkList", []network.Summary{{Network: nw}}) },
			stdout: "5e4f01234567", check: func(t *testing.T) {
				sameJSON(t, "filters", fake.called("NetworkList")[0].Args[0], engine.Filters{"driver": {"bridge"}})
			}},
		{name: "inspect", args: []string{"network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{len .Containers}}", "web"},
			setup:  func() { fake.set("NetworkInspect", network.Inspect{Network: nw}) },
			stdout: "web 172.18.0.0/16 0"},
		{name: "inspect missing", args: []string{"network", "inspect", "nosuch"}, wantErr: true,
			setup:  func() { fake.fail("NetworkInspect", engine.NotFound("network nosuch not found")) },
			stdout: "[]", stderr: "Error response from daemon: network nosuch not found"},
		{name: "connect", args: []string{"network", "connect", "--alias", "db", "--ip", "10.5.0.9", "web", "app"}, check: func(t *testing.T) {
			args := fake.called("NetworkConnect")[0].Args
			req := args[1].(network.ConnectRequest)
			if args[0] != "web" || req.Container != "app" || req.EndpointConfig == nil || req.EndpointConfig.IPAMConfig == nil ||
				req.EndpointConfig.IPAMConfig.IPv4Address != netip.MustParseAddr("10.5.0.9") || len(req.EndpointConfig.Aliases) != 1 {
				t.Errorf("connect %+v", args)
			}
		}},
		{name: "disconnect", args: []string{"network", "disconnect", "-f", "web", "app"}, check: func(t *testing.T) {
			sameJSON(t, "disconnect", fake.called("NetworkDisconnect")[0].Args, []any{"web", network.DisconnectRequest{Container: "app", Force: true}})
		}},
		{name: "rm", args: []string{"network", "rm", "web"}, stdout: "web", check: func(t *testing.T) {
			if calls := fake.called("NetworkRemove"); len(calls) != 1 || calls[0].Args[0] != "web" {
				t.Errorf("rm calls %+v", calls)
			}
		}},
		{name: "prune", args: []string{"network", "prune", "-f"},
			setup:  func() { fake.set("NetworksPrune", network.PruneReport{NetworksDeleted: []string{"old"}}) },
			stdout: "Deleted Networks:\nold"},
		{name: "run with ports and network", args: []string{"create", "--network", "web", "--network-alias", "api", "-p", "127.0.0.1:8000:80", "--dns", "10.5.0.1", "busybox"},
			setup:  func() { fake.set("ContainerCreate", container.CreateResponse{ID: "c1"}) },
			stdout: "c1", check: func(t *testing.T) {
				req := fake.called("ContainerCreate")[0].Args[1].(engine.CreateRequest)
				if req.HostConfig.NetworkMode != "web" || req.NetworkingConfig == nil || req.NetworkingConfig.EndpointsConfig["web"] == nil ||
					len(req.NetworkingConfig.EndpointsConfig["web"].Aliases) != 1 {
					t.Errorf("network settings %+v %+v", req.HostConfig.NetworkMode, req.NetworkingConfig)
				}
				sameJSON(t, "port bindings", req.HostConfig.PortBindings, network.PortMap{
					network.MustParsePort("80/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8000"}},
				})
				sameJSON(t, "dns", req.HostConfig.DNS, []netip.Addr{netip.MustParseAddr("10.5.0.1")})
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
