package dockerapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/berth-project/berth/engine"
)

// DefaultHost is where the berth daemon listens unless told otherwise.
const DefaultHost = "unix:///run/berth/berth.sock"

// HostEnv names the environment variable NewClient("") reads for the
// daemon's address; it takes DOCKER_HOST's forms.
const HostEnv = "BERTH_HOST"

// ErrNoDaemon matches (errors.Is) the error of a client that could not
// reach the daemon at all, so the CLI can fall back to the in-process
// engine.
var ErrNoDaemon = errors.New("no berth daemon")

// NoDaemonError is the dial failure behind ErrNoDaemon.
type NoDaemonError struct {
	Host string
	Err  error
}

func (e *NoDaemonError) Error() string {
	return fmt.Sprintf("Cannot connect to the berth daemon at %s. Is the berth daemon running?", e.Host)
}
func (e *NoDaemonError) Unwrap() error        { return e.Err }
func (e *NoDaemonError) Is(target error) bool { return target == ErrNoDaemon }

// ClientOption configures NewClient.
type ClientOption func(*Client)

// WithTLS makes a tcp:// client speak TLS with cfg.
func WithTLS(cfg *tls.Config) ClientOption {
	return func(c *Client) { c.tls = cfg }
}

// WithAPIVersion pins the API version instead of negotiating it.
func WithAPIVersion(v string) ClientOption {
	return func(c *Client) { c.version = v }
}

// Client is engine.API over the Docker Engine API of a berth daemon (or of
// anything that speaks it).
type Client struct {
	host          string // as given, for messages
	network, addr string
	tls           *tls.Config
	hc            *http.Client
	base          url.URL // scheme and host of request URLs

	mu      sync.Mutex
	version string // negotiated (or pinned) API version
}

var _ engine.API = (*Client)(nil)

// NewClient makes a client of the daemon at host: "unix:///path",
// "tcp://host:port" (TLS with WithTLS), "http://" or "https://" as docker
// takes them. An empty host is $BERTH_HOST, else DefaultHost. Nothing is
// dialed until the first call, which negotiates the API version as
// docker's client does: the lower of the server's and APIVersion.
func NewClient(host string, o ...ClientOption) (*Client, error) {
	if host == "" {
		host = os.Getenv(HostEnv)
	}
	if host == "" {
		host = DefaultHost
	}
	c := &Client{host: host}
	for _, opt := range o {
		opt(c)
	}
	network, addr, https, err := parseHost(host, c.tls != nil)
	if err != nil {
		return nil, err
	}
	c.network, c.addr = network, addr
	if https && c.tls == nil {
		c.tls = &tls.Config{}
	}
	c.base = url.URL{Scheme: "http", Host: addr}
	if network == "unix" {
		c.base.Host = "berth" // any name: the dialer ignores it
	}
	if c.tls != nil {
		c.base.Scheme = "https"
		if c.tls.ServerName == "" {
			cfg := c.tls.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
			c.tls = cfg
		}
	}
	tr := &http.Transport{
		DialContext:       c.dialRaw,
		TLSClientConfig:   c.tls,
		ForceAttemptHTTP2: false,
		Proxy:             nil,
	}
	c.hc = &http.Client{Transport: tr}
	return c, nil
}

// parseHost splits a DOCKER_HOST-style address into a network and an
// address to dial, and whether it asks for TLS.
func parseHost(host string, withTLS bool) (network, addr string, https bool, err error) {
	scheme, rest, ok := strings.Cut(host, "://")
	if !ok {
		// "/run/berth.sock" or "host:port".
		if strings.HasPrefix(host, "/") {
			return "unix", host, false, nil
		}
		scheme, rest = "tcp", host
	}
	switch scheme {
	case "unix":
		if rest == "" {
			return "", "", false, fmt.Errorf("daemon address %q: no socket path", host)
		}
		return "unix", rest, false, nil
	case "tcp", "http", "https":
		https = scheme == "https"
		rest = strings.TrimSuffix(rest, "/")
		if rest == "" || strings.Contains(rest, "/") {
			return "", "", false, fmt.Errorf("daemon address %q: want %s://host:port", host, scheme)
		}
		if _, _, err := net.SplitHostPort(rest); err != nil {
			port := "2375"
			if https || withTLS {
				port = "2376"
			}
			rest = net.JoinHostPort(strings.Trim(rest, "[]"), port)
		}
		return "tcp", rest, https, nil
	}
	return "", "", false, fmt.Errorf("daemon address %q: unsupported protocol %q (unix, tcp, http or https)", host, scheme)
}

// dialError marks a failure to reach the daemon, as opposed to an error of
// a request it received.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (c *Client) dialRaw(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err // the caller gave up; the daemon may be fine
		}
		return nil, &dialError{err}
	}
	return conn, nil
}

// dial connects for a hijacked request, with TLS when configured.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	conn, err := c.dialRaw(ctx, "", "")
	if err != nil {
		return nil, c.connError(err)
	}
	if c.tls == nil {
		return conn, nil
	}
	tc := tls.Client(conn, c.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake with the berth daemon at %s: %w", c.host, err)
	}
	return tc, nil
}

// connError turns a dial failure into ErrNoDaemon (or, for a socket the
// caller may not use, a permission error: falling back would not help).
func (c *Client) connError(err error) error {
	var de *dialError
	if !errors.As(err, &de) {
		return err
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("permission denied while trying to connect to the berth daemon socket at %s: %w", c.host, de.err)
	}
	return &NoDaemonError{Host: c.host, Err: de.err}
}

// request is one API call.
type request struct {
	method, path string
	query        url.Values
	header       http.Header
	body         io.Reader
	contentType  string
	json         any // when set, the JSON body
	// noBody is the message of an error answered without a body (304,
	// HEAD); a generic one when empty.
	noBody string
	// unversioned sends the path without /vX.Y (ping).
	unversioned bool
}

// negotiate settles the API version once: the server's (from /_ping)
// when older than ours, else ours.
func (c *Client) negotiate(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != "" {
		return c.version, nil
	}
	p, err := c.Ping(ctx)
	if err != nil {
		return "", err
	}
	v := p.APIVersion
	if v == "" {
		v = MinAPIVersion // what docker assumes of a server that does not say
	}
	if compareVersions(v, APIVersion) > 0 {
		v = APIVersion
	}
	c.version = v
	return v, nil
}

// APIVersion is the API version the client speaks, negotiating it first
// if needed.
func (c *Client) APIVersion(ctx context.Context) (string, error) { return c.negotiate(ctx) }

// Host is the daemon's address as given.
func (c *Client) Host() string { return c.host }

func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	u := c.base
	u.Path = r.path
	if !r.unversioned {
		v, err := c.negotiate(ctx)
		if err != nil {
			return nil, err
		}
		u.Path = "/v" + v + r.path
	}
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	body, ct := r.body, r.contentType
	if r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", r.method, r.path, err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("User-Agent", "berth-client/"+buildVersion())
	return req, nil
}

// send makes the call and returns the response of a success (2xx, 101);
// an error status becomes an *engine.Error of the status's kind with the
// server's message.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ce := c.connError(err); ce != err {
			return nil, ce
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, responseError(resp, r)
	}
	return resp, nil
}

// responseError reads an error response: docker's {"message": ...}, or
// the text of a server that answered otherwise.
func responseError(resp *http.Response, r request) error {
	kind := kindOfStatus(resp.StatusCode)
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body struct {
		Message string `json:"message"`
	}
	msg := ""
	if json.Unmarshal(b, &body) == nil && body.Message != "" {
		msg = body.Message
	} else {
		msg = strings.TrimSpace(string(b))
	}
	switch {
	case msg != "":
	case r.noBody != "":
		msg = r.noBody
	default:
		msg = fmt.Sprintf("%s %s: %s", r.method, r.path, strings.ToLower(http.StatusText(resp.StatusCode)))
	}
	if kind == engine.KindUnknown && resp.StatusCode < 500 && resp.StatusCode >= 400 {
		kind = engine.KindInvalid
	}
	return &engine.Error{Kind: kind, Msg: msg}
}

// call makes the call and decodes a JSON answer into out (if not nil).
func (c *Client) call(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", r.method, r.path, err)
	}
	return nil
}

// stream makes the call and hands the body back.
func (c *Client) stream(ctx context.Context, r request) (io.ReadCloser, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// values builds a query, leaving out empty strings and false booleans, as
// docker's client does.
type values url.Values

func (v values) str(k, s string) values {
	if s != "" {
		url.Values(v).Set(k, s)
	}
	return v
}

func (v values) bool(k string, b bool) values {
	if b {
		url.Values(v).Set(k, "1")
	}
	return v
}

func (v values) filters(f engine.Filters) values { return v.str("filters", encodeFilters(f)) }
