package dockerapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-project/berth/engine"
)

// TestClientErrorKinds: an engine error crosses the socket with its kind
// (errors.Is with the sentinels works) and docker's message.
func TestClientErrorKinds(t *testing.T) {
	tests := []struct {
		sentinel *engine.Error
		msg      string
	}{
		{engine.ErrNotFound, "No such container: web"},
		{engine.ErrConflict, "cannot remove container \"/web\": container is running: stop the container before removing or force remove"},
		{engine.ErrInvalid, "invalid signal: SIGNOPE"},
		{engine.ErrUnauthorized, "authentication required"},
		{engine.ErrForbidden, "forbidden"},
		{engine.ErrUnavailable, "the engine is shutting down"},
		{engine.ErrNotImplemented, "not implemented"},
	}
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		for _, tc := range tests {
			t.Run(tc.sentinel.Msg, func(t *testing.T) {
				fake.reset()
				fake.fail("ContainerKill", engine.Errorf(tc.sentinel.Kind, "%s", tc.msg))
				err := c.ContainerKill(t.Context(), "web", "KILL")
				if !errors.Is(err, tc.sentinel) {
					t.Fatalf("error %v (%T) is not %v", err, err, tc.sentinel)
				}
				if err.Error() != tc.msg {
					t.Errorf("message %q, want %q", err.Error(), tc.msg)
				}
				if engine.KindOf(err) != tc.sentinel.Kind {
					t.Errorf("kind %v, want %v", engine.KindOf(err), tc.sentinel.Kind)
				}
			})
		}
		t.Run("unknown", func(t *testing.T) {
			fake.reset()
			fake.fail("ContainerPause", errors.New("cgroup freeze: device busy"))
			err := c.ContainerPause(t.Context(), "web")
			if engine.KindOf(err) != engine.KindUnknown || err.Error() != "cgroup freeze: device busy" {
				t.Errorf("error %v kind %v", err, engine.KindOf(err))
			}
		})
		t.Run("not modified", func(t *testing.T) {
			fake.reset()
			fake.fail("ContainerStart", engine.Errorf(engine.KindNotModified, "container already started"))
			err := c.ContainerStart(t.Context(), "web")
			if !errors.Is(err, engine.ErrNotModified) {
				t.Fatalf("error %v is not ErrNotModified", err)
			}
			if err.Error() != "container web is already started" {
				t.Errorf("message %q", err.Error())
			}
		})
		t.Run("HEAD not found", func(t *testing.T) {
			fake.reset()
			fake.fail("ContainerStatPath", engine.NotFound("Could not find the file /nope in container web"))
			_, err := c.ContainerStatPath(t.Context(), "web", "/nope")
			if !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("error %v is not ErrNotFound", err)
			}
		})
		t.Run("wait registration", func(t *testing.T) {
			fake.reset()
			fake.fail("ContainerWait", engine.NotFound("No such container: nope"))
			_, errs := c.ContainerWait(t.Context(), "nope", "")
			if err := <-errs; !errors.Is(err, engine.ErrNotFound) || err.Error() != "No such container: nope" {
				t.Errorf("wait error %v", err)
			}
		})
		t.Run("attach refused", func(t *testing.T) {
			fake.reset()
			fake.fail("ContainerAttach", engine.Conflict("You cannot attach to a stopped container, start it first"))
			_, err := c.ContainerAttach(t.Context(), "web", engine.AttachOptions{Stream: true, Stdout: true})
			if !errors.Is(err, engine.ErrConflict) || err.Error() != "You cannot attach to a stopped container, start it first" {
				t.Errorf("attach error %v", err)
			}
		})
	})
}

// pathRecorder records the paths a handler is asked for.
type pathRecorder struct {
	mu    sync.Mutex
	paths []string
	h     http.Handler
	// apiVersion, when set, is what /_ping claims.
	apiVersion string
}

func (p *pathRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.paths = append(p.paths, r.URL.Path)
	p.mu.Unlock()
	if r.URL.Path == "/_ping" && p.apiVersion != "" {
		w.Header().Set("Api-Version", p.apiVersion)
		w.Write([]byte("OK"))
		return
	}
	p.h.ServeHTTP(w, r)
}

func TestClientNegotiation(t *testing.T) {
	tests := []struct {
		name      string
		server    string // what the server's ping claims ("" = the handler's own)
		pin       string
		wantPaths []string
	}{
		{"same", "", "", []string{"/_ping", "/v1.50/containers/web/start", "/v1.50/containers/web/pause"}},
		{"older server", "1.41", "", []string{"/_ping", "/v1.41/containers/web/start", "/v1.41/containers/web/pause"}},
		{"newer server", "1.99", "", []string{"/_ping", "/v1.50/containers/web/start", "/v1.50/containers/web/pause"}},
		{"silent server", "", "", nil}, // set below: no Api-Version at all
		{"pinned", "", "1.44", []string{"/v1.44/containers/web/start", "/v1.44/containers/web/pause"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &pathRecorder{h: NewHandler(newFake()), apiVersion: tc.server}
			var h http.Handler = rec
			want := tc.wantPaths
			if tc.name == "silent server" {
				// A server that does not say is taken as the oldest.
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/_ping" {
						rec.mu.Lock()
						rec.paths = append(rec.paths, r.URL.Path)
						rec.mu.Unlock()
						w.Write([]byte("OK"))
						return
					}
					rec.ServeHTTP(w, r)
				})
				want = []string{"/_ping", "/v1.24/containers/web/start", "/v1.24/containers/web/pause"}
			}
			var opts []ClientOption
			if tc.pin != "" {
				opts = append(opts, WithAPIVersion(tc.pin))
			}
			c, _ := tcpServer(t, h, opts...)
			if err := c.ContainerStart(t.Context(), "web"); err != nil {
				t.Fatal(err)
			}
			if err := c.ContainerPause(t.Context(), "web"); err != nil {
				t.Fatal(err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if strings.Join(rec.paths, " ") != strings.Join(want, " ") {
				t.Errorf("paths %q, want %q", rec.paths, want)
			}
		})
	}
}

func TestClientNoDaemon(t *testing.T) {
	dir := t.TempDir()
	// A socket file nobody listens on, and a path with no socket at all.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := closed.Addr().String()
	closed.Close()

	tests := []string{
		"unix://" + filepath.Join(dir, "missing.sock"),
		"unix://" + stale,
		"tcp://" + tcpAddr,
	}
	for _, host := range tests {
		t.Run(host, func(t *testing.T) {
			c, err := NewClient(host)
			if err != nil {
				t.Fatal(err)
			}
			for name, call := range map[string]func() error{
				"ping":   func() error { _, err := c.Ping(t.Context()); return err },
				"list":   func() error { _, err := c.ContainerList(t.Context(), engine.ListOptions{}); return err },
				"attach": func() error { _, err := c.ContainerAttach(t.Context(), "x", engine.AttachOptions{}); return err },
			} {
				err := call()
				if !errors.Is(err, ErrNoDaemon) {
					t.Fatalf("%s: error %v is not ErrNoDaemon", name, err)
				}
				want := fmt.Sprintf("Cannot connect to the berth daemon at %s. Is the berth daemon running?", host)
				if err.Error() != want {
					t.Errorf("%s: message %q, want %q", name, err.Error(), want)
				}
			}
		})
	}
}

// TestClientGaveUp: a call whose context ended is not "no daemon", or the
// CLI would fall back to the in-process engine for a ^C.
func TestClientGaveUp(t *testing.T) {
	c, err := NewClient("unix://" + filepath.Join(t.TempDir(), "missing.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.ContainerList(ctx, engine.ListOptions{})
	if err == nil || errors.Is(err, ErrNoDaemon) || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled and not ErrNoDaemon", err)
	}
}

func TestClientPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may connect to any socket")
	}
	sock := unixServer(t, NewHandler(newFake()))
	if err := os.Chmod(sock, 0); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Ping(t.Context())
	if err == nil || errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("error %v, want a permission error that is not ErrNoDaemon", err)
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		host, network, addr string
		tls, https          bool
		bad                 bool
	}{
		{host: "unix:///run/berth/berth.sock", network: "unix", addr: "/run/berth/berth.sock"},
		{host: "/run/berth/berth.sock", network: "unix", addr: "/run/berth/berth.sock"},
		{host: "tcp://127.0.0.1:2375", network: "tcp", addr: "127.0.0.1:2375"},
		{host: "tcp://example.com", network: "tcp", addr: "example.com:2375"},
		{host: "tcp://example.com", tls: true, network: "tcp", addr: "example.com:2376"},
		{host: "tcp://[::1]:99", network: "tcp", addr: "[::1]:99"},
		{host: "tcp://[::1]", network: "tcp", addr: "[::1]:2375"},
		{host: "http://h:1/", network: "tcp", addr: "h:1"},
		{host: "https://h", network: "tcp", addr: "h:2376", https: true},
		{host: "h:5", network: "tcp", addr: "h:5"},
		{host: "unix://", bad: true},
		{host: "tcp://", bad: true},
		{host: "tcp://h:1/path", bad: true},
		{host: "ssh://me@h", bad: true},
		{host: "npipe:////./pipe/docker_engine", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			network, addr, https, err := parseHost(tc.host, tc.tls)
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed as %s %s", network, addr)
				}
				if !strings.Contains(err.Error(), tc.host) {
					t.Errorf("error %q does not name the address", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if network != tc.network || addr != tc.addr || https != tc.https {
				t.Errorf("got %s %s https=%v", network, addr, https)
			}
		})
	}
	t.Run("NewClient refuses", func(t *testing.T) {
		if _, err := NewClient("ssh://me@h"); err == nil {
			t.Error("NewClient took ssh://")
		}
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv(HostEnv, "tcp://10.0.0.1:4243")
		c, err := NewClient("")
		if err != nil {
			t.Fatal(err)
		}
		if c.Host() != "tcp://10.0.0.1:4243" {
			t.Errorf("host %q", c.Host())
		}
		t.Setenv(HostEnv, "")
		if c, _ := NewClient(""); c.Host() != DefaultHost {
			t.Errorf("default host %q", c.Host())
		}
	})
}

// TestClientTLS: a tcp:// client with WithTLS talks to a TLS server, for
// plain calls and hijacked ones.
func TestClientTLS(t *testing.T) {
	fake := newFake()
	srv := httptestTLS(t, NewHandler(fake))
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c, err := NewClient("tcp://"+srv.Listener.Addr().String(), WithTLS(&tls.Config{RootCAs: pool, ServerName: "example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, err := c.ContainerAttach(t.Context(), "web", engine.AttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	echoThrough(t, s, "over tls\n")
}
