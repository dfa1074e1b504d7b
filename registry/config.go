package registry

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is everything `berth registry serve` needs: where to listen, where
// to keep data, who may do what, and the limits. It reads from a JSON file
// (LoadConfig) whose keys are the json names below; flags override it.
type Config struct {
	Addr     string     `json:"addr,omitempty"`
	Root     string     `json:"root,omitempty"`
	ReadOnly bool       `json:"readOnly,omitempty"`
	Auth     AuthConfig `json:"auth,omitempty"`
	TLS      TLSConfig  `json:"tls,omitempty"`
	Limits   Limits     `json:"limits,omitempty"`
}

// AuthConfig chooses authentication. With no htpasswd file, anyone may
// pull and push (docker-registry's default). With one, clients log in with
// basic auth, or, when Token is set, get tokens from the registry's own
// token endpoint (/token) with those credentials.
type AuthConfig struct {
	Htpasswd string `json:"htpasswd,omitempty"`
	// AnonymousRead lets anyone pull; pushing and deleting still need a
	// login.
	AnonymousRead bool `json:"anonymousRead,omitempty"`
	// ACL limits what each account may do; without it a logged-in user
	// may do everything.
	ACL   ACL          `json:"acl,omitempty"`
	Token *TokenConfig `json:"token,omitempty"`
}

// TokenConfig turns on bearer-token auth with the built-in issuer.
type TokenConfig struct {
	// Realm is the token endpoint's URL as clients reach it; empty means
	// /token on the host and scheme the client used.
	Realm string `json:"realm,omitempty"`
	// Service names this registry in tokens (default "berth-registry").
	Service string `json:"service,omitempty"`
	// Issuer names the token issuer (default "berth-registry-token").
	Issuer string `json:"issuer,omitempty"`
	// Key is the ECDSA P-256 signing key's PEM file, created when missing
	// (default ROOT/token.key).
	Key string `json:"key,omitempty"`
	// Expiry of issued tokens (default 5m).
	Expiry Duration `json:"expiry,omitempty"`
}

// TLSConfig serves HTTPS when Cert and Key are set; ClientCA requires
// client certificates signed by it.
type TLSConfig struct {
	Cert     string `json:"cert,omitempty"`
	Key      string `json:"key,omitempty"`
	ClientCA string `json:"clientCA,omitempty"`
}

// Limits bound what a client may send.
type Limits struct {
	MaxManifestSize int64    `json:"maxManifestSize,omitempty"`
	MaxBlobSize     int64    `json:"maxBlobSize,omitempty"`
	UploadTTL       Duration `json:"uploadTTL,omitempty"`
}

// Duration is a time.Duration written as "90s" or "24h" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"24h\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// LoadConfig reads a JSON config file. Unknown keys are errors: a typo
// must not silently turn auth off.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("registry config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("registry config %s: %w", path, err)
	}
	return c, nil
}

// Validate reports settings that cannot work together.
func (c *Config) Validate() error {
	if c.Root == "" {
		return fmt.Errorf("registry config: no storage root")
	}
	if c.Addr == "" {
		return fmt.Errorf("registry config: no listen address")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("registry config: listen address %q: %w", c.Addr, err)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return fmt.Errorf("registry config: TLS needs both a certificate and a key")
	}
	if c.TLS.ClientCA != "" && c.TLS.Cert == "" {
		return fmt.Errorf("registry config: a client CA needs TLS (certificate and key)")
	}
	a := c.Auth
	if a.Htpasswd == "" {
		switch {
		case a.Token != nil:
			return fmt.Errorf("registry config: token auth needs an htpasswd file for the accounts")
		case a.AnonymousRead:
			return fmt.Errorf("registry config: anonymous read-only mode needs an htpasswd file for those who may push")
		case len(a.ACL) > 0:
			return fmt.Errorf("registry config: an ACL needs an htpasswd file for the accounts")
		}
	}
	if err := a.ACL.Validate(); err != nil {
		return fmt.Errorf("registry config: acl: %w", err)
	}
	if c.Limits.MaxManifestSize < 0 || c.Limits.MaxBlobSize < 0 || c.Limits.UploadTTL < 0 {
		return fmt.Errorf("registry config: limits cannot be negative")
	}
	return nil
}

// Open builds the registry's handler from c: the distribution API, the
// token endpoint when token auth is on, and the storage under c.Root. The
// caller closes the returned Server when done serving.
func (c *Config) Open(logf func(string, ...any)) (http.Handler, *Server, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	opts := []ServerOption{WithReadOnly(c.ReadOnly)}
	if logf != nil {
		opts = append(opts, WithServerLogf(logf))
	}
	if c.Limits.MaxManifestSize > 0 {
		opts = append(opts, WithMaxManifestSize(c.Limits.MaxManifestSize))
	}
	if c.Limits.MaxBlobSize > 0 {
		opts = append(opts, WithMaxBlobSize(c.Limits.MaxBlobSize))
	}
	if c.Limits.UploadTTL > 0 {
		opts = append(opts, WithUploadTTL(time.Duration(c.Limits.UploadTTL)))
	}
	mux := http.NewServeMux()
	if a := c.Auth; a.Htpasswd != "" {
		users, err := LoadHtpasswd(a.Htpasswd)
		if err != nil {
			return nil, nil, err
		}
		if t := a.Token; t != nil {
			authz, issuer, err := c.tokenAuth(users)
			if err != nil {
				return nil, nil, err
			}
			opts = append(opts, WithAuthorizer(authz))
			mux.Handle("/token", issuer)
		} else {
			opts = append(opts, WithAuthorizer(NewBasicAuthorizer(users,
				WithRealm("berth-registry"), WithAnonymousPull(a.AnonymousRead), WithACL(a.ACL))))
		}
	}
	if err := os.MkdirAll(c.Root, 0o700); err != nil {
		return nil, nil, fmt.Errorf("registry storage: %w", err)
	}
	srv, err := NewServer(c.Root, opts...)
	if err != nil {
		return nil, nil, err
	}
	mux.Handle("/", srv)
	return mux, srv, nil
}

func (c *Config) tokenAuth(users *Htpasswd) (Authorizer, http.Handler, error) {
	t := *c.Auth.Token
	if t.Service == "" {
		t.Service = "berth-registry"
	}
	if t.Issuer == "" {
		t.Issuer = "berth-registry-token"
	}
	if t.Key == "" {
		t.Key = filepath.Join(c.Root, "token.key")
	}
	if err := os.MkdirAll(filepath.Dir(t.Key), 0o700); err != nil {
		return nil, nil, fmt.Errorf("token key: %w", err)
	}
	key, err := LoadOrCreateSigningKey(t.Key)
	if err != nil {
		return nil, nil, err
	}
	issuer, err := NewTokenIssuer(TokenIssuerOptions{
		Issuer: t.Issuer, Service: t.Service, Key: key, Users: users,
		ACL: c.Auth.ACL, AnonymousPull: c.Auth.AnonymousRead, Expiry: time.Duration(t.Expiry),
	})
	if err != nil {
		return nil, nil, err
	}
	authz := NewTokenAuthorizer(TokenAuthOptions{
		Realm: t.Realm, Service: t.Service, Issuer: t.Issuer, Keys: []*ecdsa.PublicKey{&key.PublicKey},
	})
	return authz, issuer, nil
}

// ListenAndServe serves c until ctx ends, then shuts down gracefully.
// ready, when not nil, is called with the bound address once listening.
func (c *Config) ListenAndServe(ctx context.Context, logf func(string, ...any), ready func(addr net.Addr)) error {
	// Everything that can fail goes before the storage is made, so a
	// refused start leaves nothing behind.
	if err := c.Validate(); err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if c.TLS.Cert != "" {
		var err error
		if tlsConfig, err = LoadTLSConfig(c.TLS.Cert, c.TLS.Key, c.TLS.ClientCA); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("registry: listen on %s: %w", c.Addr, err)
	}
	h, srv, err := c.Open(logf)
	if err != nil {
		ln.Close()
		return err
	}
	defer srv.Close()
	if ready != nil {
		ready(ln.Addr())
	}
	err = Serve(ctx, ln, h, tlsConfig)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil && strings.Contains(err.Error(), "use of closed network connection") {
		return nil
	}
	return err
}
