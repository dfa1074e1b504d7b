package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
)

// Credentials for a registry: a username and password, or an identity
// token (an OAuth2 refresh token) that stands for them.
type Credentials struct {
	Username      string
	Password      string
	IdentityToken string
}

func (c Credentials) empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == ""
}

// dockerHubServer is the key under which docker keeps Docker Hub's
// credentials, and what it asks credential helpers for.
const dockerHubServer = "https://index.docker.io/v1/"

// dockerConfigFile is the part of docker's config.json about credentials.
type dockerConfigFile struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

type credsResult struct {
	creds Credentials
	err   error
}

// credentials returns what the docker config has for host (none is not an
// error), looked up once per client.
func (c *Client) credentials(ctx context.Context, host string) (Credentials, error) {
	c.mu.Lock()
	r, ok := c.creds[host]
	c.mu.Unlock()
	if ok {
		return r.creds, r.err
	}
	creds, err := c.lookupCredentials(ctx, host)
	if err == nil && ctx.Err() != nil {
		return creds, ctx.Err() // a helper killed by the context: do not cache that
	}
	c.mu.Lock()
	c.creds[host] = credsResult{creds, err}
	c.mu.Unlock()
	return creds, err
}

func (c *Client) loadConfig() (*dockerConfigFile, error) {
	c.configOnce.Do(func() {
		c.config = &dockerConfigFile{}
		if c.dockerConfig == "" {
			return
		}
		b, err := os.ReadFile(c.dockerConfig)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err == nil {
			err = json.Unmarshal(b, c.config)
		}
		if err != nil {
			c.configErr = fmt.Errorf("read docker config %s: %w", c.dockerConfig, err)
		}
	})
	return c.config, c.configErr
}

// configKey reduces a key of "auths" or "credHelpers" to a host:
// "https://host:port/v1/" and "host:port" both give "host:port".
func configKey(k string) string {
	k = strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
	if i := strings.IndexByte(k, '/'); i >= 0 {
		k = k[:i]
	}
	return strings.ToLower(k)
}

// sameRegistry reports whether a config key names host.
func sameRegistry(key, host string) bool {
	k := configKey(key)
	if isDockerHub(host) {
		return isDockerHub(k)
	}
	return k == strings.ToLower(host)
}

func (c *Client) lookupCredentials(ctx context.Context, host string) (Credentials, error) {
	cfg, err := c.loadConfig()
	if err != nil {
		return Credentials{}, err
	}
	server := host
	if isDockerHub(host) {
		server = dockerHubServer
	}
	helper := cfg.CredsStore
	for k, h := range cfg.CredHelpers {
		if sameRegistry(k, host) {
			helper = h
			break
		}
	}
	if helper != "" {
		creds, err := runCredentialHelper(ctx, helper, server)
		switch {
		case errors.Is(err, exec.ErrNotFound):
			// A config copied from another machine ("credsStore":
			// "desktop"): go on without, as for a public image.
			c.logf("registry: credentials for %s: %v", host, err)
		case err != nil:
			return Credentials{}, fmt.Errorf("credentials for %s: %w", host, err)
		case !creds.empty():
			c.logf("registry: credentials for %s from docker-credential-%s", host, helper)
			return creds, nil
		}
	}
	for k, a := range cfg.Auths {
		if !sameRegistry(k, host) {
			continue
		}
		creds := Credentials{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a.Auth))
			if err != nil {
				return Credentials{}, fmt.Errorf("credentials for %s in %s: auth is not base64: %w", host, c.dockerConfig, err)
			}
			user, pass, ok := strings.Cut(string(b), ":")
			if !ok {
				return Credentials{}, fmt.Errorf("credentials for %s in %s: auth is not user:password", host, c.dockerConfig)
			}
			creds.Username, creds.Password = user, pass
		}
		if !creds.empty() {
			c.logf("registry: credentials for %s from %s", host, c.dockerConfig)
			return creds, nil
		}
	}
	return Credentials{}, nil
}

// runCredentialHelper asks docker-credential-<helper> for server's
// credentials, as docker does: "get" with the server on stdin, JSON on
// stdout. A helper that has none says so, which is no error.
func runCredentialHelper(ctx context.Context, helper, server string) (Credentials, error) {
	if strings.ContainsAny(helper, `/\`) {
		return Credentials{}, fmt.Errorf("bad credential helper name %q", helper)
	}
	name := "docker-credential-" + helper
	cmd := exec.CommandContext(ctx, name, "get")
	cmd.Stdin = strings.NewReader(server)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String() + " " + stderr.String())
		if strings.Contains(strings.ToLower(msg), "credentials not found") {
			return Credentials{}, nil
		}
		return Credentials{}, fmt.Errorf("%s get: %w: %s", name, err, msg)
	}
	var out struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return Credentials{}, fmt.Errorf("%s get: bad output: %w", name, err)
	}
	if out.Username == "<token>" {
		return Credentials{IdentityToken: out.Secret}, nil
	}
	return Credentials{Username: out.Username, Password: out.Secret}, nil
}
