package dockerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
)

var (
	testSecretTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	testSecret     = swarm.Secret{ID: "k2j3h4g5f6d7s8a9q0w1e2r3t", Meta: swarm.Meta{Version: swarm.Version{Index: 1}, CreatedAt: testSecretTime, UpdatedAt: testSecretTime},
		Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db_pass", Labels: map[string]string{"env": "prod"}}}}
	testConfig = swarm.Config{ID: "a1b2c3d4e5f6g7h8i9j0k1l2m", Meta: swarm.Meta{Version: swarm.Version{Index: 1}, CreatedAt: testSecretTime, UpdatedAt: testSecretTime},
		Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.conf", Labels: map[string]string{}}, Data: []byte("listen 80\n")}}
)

func TestSecretRoundTrip(t *testing.T) {
	tests := []struct {
		name, method string
		out          any
		call         func(ctx context.Context, c *Client) (any, error)
		args         []any
	}{
		{"SecretCreate", "SecretCreate", swarm.SecretCreateResponse{ID: testSecret.ID}, func(ctx context.Context, c *Client) (any, error) {
			return c.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db_pass"}, Data: []byte("pw\x00\xff")})
		}, []any{swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db_pass"}, Data: []byte("pw\x00\xff")}}},
		{"SecretList", "SecretList", []swarm.Secret{testSecret}, func(ctx context.Context, c *Client) (any, error) {
			return c.SecretList(ctx, engine.Filters{"name": {"db"}})
		}, []any{engine.Filters{"name": {"db"}}}},
		{"SecretInspect", "SecretInspect", testSecret, func(ctx context.Context, c *Client) (any, error) {
			return c.SecretInspect(ctx, "db_pass")
		}, []any{"db_pass"}},
		{"SecretRemove", "SecretRemove", nil, func(ctx context.Context, c *Client) (any, error) {
			return nil, c.SecretRemove(ctx, "db_pass")
		}, []any{"db_pass"}},
		{"ConfigCreate", "ConfigCreate", swarm.ConfigCreateResponse{ID: testConfig.ID}, func(ctx context.Context, c *Client) (any, error) {
			return c.ConfigCreate(ctx, testConfig.Spec)
		}, []any{testConfig.Spec}},
		{"ConfigList", "ConfigList", []swarm.Config{testConfig}, func(ctx context.Context, c *Client) (any, error) {
			return c.ConfigList(ctx, engine.Filters{"label": {"a=b"}})
		}, []any{engine.Filters{"label": {"a=b"}}}},
		{"ConfigInspect", "ConfigInspect", testConfig, func(ctx context.Context, c *Client) (any, error) {
			return c.ConfigInspect(ctx, testConfig.ID)
		}, []any{testConfig.ID}},
		{"ConfigRemove", "ConfigRemove", nil, func(ctx context.Context, c *Client) (any, error) {
			return nil, c.ConfigRemove(ctx, "app.conf")
		}, []any{"app.conf"}},
	}
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		for _, tc := range tests {
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
					t.Fatalf("%s called %d times, want once", tc.method, len(calls))
				}
				sameJSON(t, "arguments", calls[0].Args, tc.args)
			})
		}
	})
}

// TestSecretDataNeverSent: even an engine that returned a secret's data
// does not get it onto the wire; errors come back with their kind.
func TestSecretDataNeverSent(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		leaky := testSecret
		leaky.Spec.Data = []byte("the-value")
		fake.set("SecretInspect", leaky)
		fake.set("SecretList", []swarm.Secret{leaky})
		s, err := c.SecretInspect(t.Context(), "db_pass")
		if err != nil || s.Spec.Data != nil {
			t.Errorf("inspect: %v %q", err, s.Spec.Data)
		}
		list, err := c.SecretList(t.Context(), nil)
		if err != nil || len(list) != 1 || list[0].Spec.Data != nil {
			t.Errorf("list: %v %+v", err, list)
		}
		fake.fail("SecretRemove", engine.Conflict("secret 'db_pass' is in use by the following container: web"))
		if err := c.SecretRemove(t.Context(), "db_pass"); engine.KindOf(err) != engine.KindConflict || !strings.Contains(err.Error(), "in use") {
			t.Errorf("remove: %v", err)
		}
		fake.fail("ConfigInspect", engine.NotFound("config nope not found"))
		if _, err := c.ConfigInspect(t.Context(), "nope"); engine.KindOf(err) != engine.KindNotFound || !strings.Contains(err.Error(), "config nope not found") {
			t.Errorf("inspect missing: %v", err)
		}
		if err := c.SecretRemove(t.Context(), " "); engine.KindOf(err) != engine.KindInvalid {
			t.Errorf("empty ref: %v", err)
		}
	})
}

// TestDockerCLISecrets: docker's own CLI manages secrets and configs on
// berth's daemon (the routes are swarm's; the CLI sends them whatever the
// daemon's swarm state).
func TestDockerCLISecrets(t *testing.T) {
	docker := gate.Command(t, "docker")
	fake := newFake()
	sock := unixServer(t, NewHandler(cliFake{fake}))
	run := func(stdin string, wantErr bool, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(docker, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_CONFIG=" + t.TempDir(), "DOCKER_HOST=unix://" + sock}
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); (err != nil) != wantErr {
			t.Fatalf("docker %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String())
	}

	fake.set("SecretCreate", swarm.SecretCreateResponse{ID: testSecret.ID})
	out, _ := run("pw-from-stdin", false, "secret", "create", "--label", "env=prod", "db_pass", "-")
	if out != testSecret.ID {
		t.Errorf("create printed %q", out)
	}
	spec := fake.called("SecretCreate")[0].Args[0].(swarm.SecretSpec)
	if spec.Name != "db_pass" || string(spec.Data) != "pw-from-stdin" || spec.Labels["env"] != "prod" {
		t.Errorf("create sent %+v", spec)
	}
	file := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(file, []byte("from-a-file"), 0o600)
	fake.reset()
	fake.set("SecretCreate", swarm.SecretCreateResponse{ID: testSecret.ID})
	run("", false, "secret", "create", "other", file)
	if spec := fake.called("SecretCreate")[0].Args[0].(swarm.SecretSpec); string(spec.Data) != "from-a-file" {
		t.Errorf("create from a file sent %q", spec.Data)
	}

	fake.set("SecretList", []swarm.Secret{testSecret})
	out, _ = run("", false, "secret", "ls", "--format", "{{.ID}} {{.Name}} {{.Driver}}|", "--filter", "name=db")
	if out != testSecret.ID+" db_pass |" {
		t.Errorf("ls printed %q", out)
	}
	sameJSON(t, "ls filters", fake.called("SecretList")[0].Args[0], engine.Filters{"name": {"db"}})
	out, _ = run("", false, "secret", "ls")
	if lines := strings.Split(out, "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "UPDATED") || !strings.HasPrefix(lines[1], testSecret.ID) {
		t.Errorf("ls table %q", out)
	}

	fake.set("SecretInspect", testSecret)
	out, _ = run("", false, "secret", "inspect", "db_pass")
	var got []swarm.Secret
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 || got[0].ID != testSecret.ID || got[0].Spec.Data != nil {
		t.Errorf("inspect printed %s (%v)", out, err)
	}

	fake.fail("SecretRemove", engine.Conflict("secret 'db_pass' is in use by the following container: web"))
	_, errOut := run("", true, "secret", "rm", "db_pass")
	if !strings.Contains(errOut, "is in use by the following container: web") {
		t.Errorf("rm in use said %q", errOut)
	}
	fake.reset()
	out, _ = run("", false, "secret", "rm", "db_pass")
	if out != "db_pass" || fake.called("SecretRemove")[0].Args[0] != "db_pass" {
		t.Errorf("rm printed %q", out)
	}

	fake.set("ConfigCreate", swarm.ConfigCreateResponse{ID: testConfig.ID})
	run("listen 80\n", false, "config", "create", "app.conf", "-")
	if spec := fake.called("ConfigCreate")[0].Args[0].(swarm.ConfigSpec); spec.Name != "app.conf" || string(spec.Data) != "listen 80\n" {
		t.Errorf("config create sent %+v", spec)
	}
	fake.set("ConfigInspect", testConfig)
	out, _ = run("", false, "config", "inspect", "--format", "{{printf \"%s\" .Spec.Data}}", "app.conf")
	if out != "listen 80" {
		t.Errorf("config inspect printed %q", out)
	}
}
