package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := LoadConfig(write(`{"addr": "127.0.0.1:5000", "root": "/r",
		"auth": {"htpasswd": "/h", "anonymousRead": true, "token": {"expiry": "10m"},
			"acl": [{"account": "a", "name": "x/**", "actions": ["pull"]}]},
		"tls": {"cert": "/c", "key": "/k"},
		"limits": {"maxManifestSize": 1024, "uploadTTL": "2h"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:5000" || c.Auth.Token == nil || time.Duration(c.Auth.Token.Expiry) != 10*time.Minute ||
		time.Duration(c.Limits.UploadTTL) != 2*time.Hour || len(c.Auth.ACL) != 1 || c.TLS.Key != "/k" {
		t.Fatalf("read %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ json, want string }{
		{`{"auth": {"htpasswrd": "/h"}}`, `unknown field "htpasswrd"`},
		{`{"limits": {"uploadTTL": 5}}`, `duration must be a string`},
		{`{"limits": {"uploadTTL": "soon"}}`, `invalid duration`},
		{`{`, `unexpected EOF`},
	} {
		if _, err := LoadConfig(write(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.json, err, tc.want)
		}
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing config file is no error")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Addr: ":5000", Root: "/r"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no root", func(c *Config) { c.Root = "" }, "no storage root"},
		{"bad addr", func(c *Config) { c.Addr = "5000" }, `listen address "5000"`},
		{"cert without key", func(c *Config) { c.TLS.Cert = "/c" }, "both a certificate and a key"},
		{"client CA without TLS", func(c *Config) { c.TLS.ClientCA = "/ca" }, "client CA needs TLS"},
		{"token without accounts", func(c *Config) { c.Auth.Token = &TokenConfig{} }, "token auth needs an htpasswd"},
		{"anonymous read without accounts", func(c *Config) { c.Auth.AnonymousRead = true }, "anonymous read-only mode needs"},
		{"acl without accounts", func(c *Config) { c.Auth.ACL = ACL{{Account: "a", Name: "x", Actions: []string{"pull"}}} }, "an ACL needs"},
		{"bad acl", func(c *Config) {
			c.Auth.Htpasswd = "/h"
			c.Auth.ACL = ACL{{Account: "a", Name: "x"}}
		}, "rule 0: no actions"},
		{"negative limit", func(c *Config) { c.Limits.MaxBlobSize = -1 }, "cannot be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}
