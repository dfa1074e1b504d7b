package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Client talks to registries. It is safe for concurrent use; it caches
// credentials, auth challenges, tokens and HTTP transports per host.
type Client struct {
	dockerConfig string
	insecure     []string
	insecureNets []*net.IPNet
	certsDir     string
	base         *http.Client
	userAgent    string
	logf         func(format string, args ...any)

	mu         sync.Mutex
	clients    map[string]*http.Client // by host
	challenges map[string]challenge    // by host, the last one seen
	tokens     map[string]token        // by host and scopes
	creds      map[string]credsResult  // by host

	tokenMu sync.Mutex // one token request at a time, so a burst shares one

	configOnce sync.Once
	config     *dockerConfigFile
	configErr  error
}

// Option configures a Client.
type Option func(*Client)

// WithDockerConfig reads credentials from the docker config.json at path
// instead of $DOCKER_CONFIG/config.json or ~/.docker/config.json.
func WithDockerConfig(path string) Option {
	return func(c *Client) { c.dockerConfig = path }
}

// WithInsecureRegistries makes the client use plain HTTP for these hosts.
// An entry is "host:port", a host name or IP (any port), or a CIDR.
func WithInsecureRegistries(hosts ...string) Option {
	return func(c *Client) {
		for _, h := range hosts {
			if _, n, err := net.ParseCIDR(h); err == nil {
				c.insecureNets = append(c.insecureNets, n)
				continue
			}
			c.insecure = append(c.insecure, h)
		}
	}
}

// WithCertsDir sets the directory of per-host TLS material, laid out as
// docker's /etc/docker/certs.d (the default): <dir>/<host:port>/ca.crt and
// any other *.crt are trusted CAs, <name>.cert with <name>.key a client
// certificate.
func WithCertsDir(dir string) Option {
	return func(c *Client) { c.certsDir = dir }
}

// WithHTTPClient makes the client send through hc: its Transport (cloned,
// when it is an *http.Transport, to add per-host TLS material), Jar,
// Timeout and CheckRedirect are kept.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.base = hc }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// WithLogf logs each request, auth step and retry through logf.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *Client) { c.logf = logf }
}

// NewClient returns a Client.
func NewClient(opts ...Option) *Client {
	c := &Client{
		certsDir:   "/etc/docker/certs.d",
		userAgent:  "berth",
		logf:       func(string, ...any) {},
		clients:    map[string]*http.Client{},
		challenges: map[string]challenge{},
		tokens:     map[string]token{},
		creds:      map[string]credsResult{},
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		c.dockerConfig = filepath.Join(d, "config.json")
	} else if home, err := os.UserHomeDir(); err == nil {
		c.dockerConfig = filepath.Join(home, ".docker", "config.json")
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// apiHost is the host that serves the registry API of host as references
// spell it.
func apiHost(host string) string {
	switch host {
	case "docker.io", "index.docker.io":
		return "registry-1.docker.io"
	}
	return host
}

// isDockerHub reports whether host is Docker Hub, whose credentials docker
// keeps under its historical key.
func isDockerHub(host string) bool {
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return true
	}
	return false
}

// plainHTTP reports whether the client speaks plain HTTP to host.
func (c *Client) plainHTTP(host string) bool {
	if c.hostCertsDir(host) != "" {
		return false
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(name)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	for _, h := range c.insecure {
		if h == host || h == name {
			return true
		}
	}
	for _, n := range c.insecureNets {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// hostCertsDir is the certs dir of host when it has one.
func (c *Client) hostCertsDir(host string) string {
	if c.certsDir == "" || host == "" || strings.ContainsAny(host, `/\`) || host == "." || host == ".." {
		return ""
	}
	d := filepath.Join(c.certsDir, host)
	if fi, err := os.Stat(d); err == nil && fi.IsDir() {
		return d
	}
	return ""
}

// baseURL is where the registry API of host is: scheme://host/v2/.
func (c *Client) baseURL(host string) string {
	scheme := "https"
	if c.plainHTTP(apiHost(host)) {
		scheme = "http"
	}
	return scheme + "://" + apiHost(host) + "/v2/"
}

// httpClient returns the http.Client for requests to host (an API host or
// a token realm's host), with host's TLS material from the certs dir.
func (c *Client) httpClient(host string) (*http.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc, ok := c.clients[host]; ok {
		return hc, nil
	}
	base := c.base
	if base == nil {
		base = &http.Client{}
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if dir := c.hostCertsDir(host); dir != "" {
		cfg, err := tlsConfig(dir)
		if err != nil {
			return nil, err
		}
		if t, ok := rt.(*http.Transport); ok {
			t = t.Clone()
			if t.TLSClientConfig != nil {
				cfg.InsecureSkipVerify = t.TLSClientConfig.InsecureSkipVerify
			}
			t.TLSClientConfig = cfg
			rt = t
		} else {
			c.logf("registry: %s: the HTTP client's transport is not an *http.Transport; %s not used", host, dir)
		}
	}
	next := base.CheckRedirect
	hc := &http.Client{
		Transport: rt,
		Jar:       base.Jar,
		Timeout:   base.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			// Blobs are often served from a storage host: it gets no
			// registry credentials (Go keeps them for the same domain on
			// any port; we keep them for the same host:port only).
			if req.URL.Host != via[0].URL.Host {
				req.Header.Del("Authorization")
			}
			c.logf("registry: redirected to %s://%s%s", req.URL.Scheme, req.URL.Host, req.URL.Path)
			if next != nil {
				return next(req, via)
			}
			return nil
		},
	}
	c.clients[host] = hc
	return hc, nil
}

// tlsConfig loads a docker certs.d directory.
func tlsConfig(dir string) (*tls.Config, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read certs dir %s: %w", dir, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch filepath.Ext(name) {
		case ".crt":
			if cfg.RootCAs == nil {
				pool, err := x509.SystemCertPool()
				if err != nil {
					pool = x509.NewCertPool()
				}
				cfg.RootCAs = pool
			}
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("read CA %s: %w", p, err)
			}
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("read CA %s: no PEM certificate in it", p)
			}
		case ".cert":
			key := strings.TrimSuffix(p, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(p, key)
			if err != nil {
				return nil, fmt.Errorf("load client certificate %s: %w", p, err)
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		case ".key":
			if _, err := os.Stat(strings.TrimSuffix(p, ".key") + ".cert"); err != nil {
				return nil, fmt.Errorf("client key %s has no .cert beside it", p)
			}
		}
	}
	return cfg, nil
}

// request is one registry API call of a repository, which the client may
// send twice (anonymous, then authenticated).
type request struct {
	method string
	host   string // registry host as references spell it
	repo   string
	path   string // below /v2/
	header http.Header
	// url, when set, is where to send instead of path: an upload's
	// Location, or an API outside /v2/. The registry's credentials go
	// only to the registry's own host.
	url string
	// scopes are the token scopes the request needs; nil means
	// "repository:REPO:pull".
	scopes []string
	// body, when set, opens the request body for each send (the client
	// may send twice); size is its length.
	body func() (io.ReadCloser, error)
	size int64
}

// maxErrorBody bounds what the client reads of an error response.
const maxErrorBody = 64 << 10

// do sends r, authenticating as the registry asks, and returns the
// response, whatever its status.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	u := c.baseURL(r.host) + r.path
	target, ownHost := apiHost(r.host), true
	if r.url != "" {
		pu, err := url.Parse(r.url)
		if err != nil {
			return nil, fmt.Errorf("bad URL %q: %w", r.url, err)
		}
		// Not to another host, nor in the clear to an HTTPS registry.
		ownHost = (pu.Host == apiHost(r.host) || pu.Host == r.host) && strings.HasPrefix(u, pu.Scheme+"://")
		u, target = r.url, pu.Host
	}
	hc, err := c.httpClient(target)
	if err != nil {
		return nil, err
	}
	scopes := r.scopes
	if scopes == nil {
		scopes = []string{"repository:" + r.repo + ":pull"}
	}
	send := func(authz string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, r.method, u, nil)
		if err != nil {
			return nil, err
		}
		if r.body != nil {
			if r.size == 0 {
				req.Body = http.NoBody
			} else if req.Body, err = r.body(); err != nil {
				return nil, err
			}
			req.ContentLength = r.size
			req.GetBody = r.body
		}
		for k, v := range r.header {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", c.userAgent)
		if authz != "" && ownHost {
			req.Header.Set("Authorization", authz)
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		c.logf("registry: %s %s: %s (%v)", r.method, u, resp.Status, time.Since(start).Round(time.Millisecond))
		return resp, nil
	}

	authz, err := c.knownAuthorization(ctx, r.host, r.repo, scopes)
	if err != nil {
		return nil, err
	}
	resp, err := send(authz)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	chs := parseChallenges(resp.Header.Values("Www-Authenticate"))
	ch, ok := pickChallenge(chs)
	if !ok {
		return resp, nil
	}
	// Keep the 401's body: it is the error to report if we cannot do better.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))

	c.mu.Lock()
	c.challenges[r.host] = ch
	c.mu.Unlock()
	c.logf("registry: %s asks for %s auth %v", r.host, ch.scheme, ch.params)
	next, err := c.authorize(ctx, r.host, r.repo, ch, scopes, authz != "")
	if err != nil {
		return nil, err
	}
	if next == "" || next == authz {
		return resp, nil
	}
	return send(next)
}

// familiarName is how docker names a repository in messages: without the
// docker.io/ and library/ that references imply.
func familiarName(host, repo string) string {
	if isDockerHub(host) {
		return strings.TrimPrefix(repo, "library/")
	}
	return host + "/" + repo
}
