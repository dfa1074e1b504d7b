package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// hangGuard bounds a step that would hang (not fail) if the code under
// test were wrong, such as a read of a stream that was never flushed. It
// is no timing assertion: a healthy run takes a tiny fraction of it.
const hangGuard = 30 * time.Second

// within runs f and fails the test if it has not returned within the
// hang guard.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("%s: still blocked after %s", what, hangGuard)
	}
}

// tcpServer serves h on an httptest server and returns a client of it.
func tcpServer(t *testing.T, h http.Handler, o ...ClientOption) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewClient("tcp://"+srv.Listener.Addr().String(), o...)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// unixServer serves h with Serve on a unix socket in a temporary directory
// and returns the socket's path.
func unixServer(t *testing.T, h http.Handler) string {
	t.Helper()
	// Short: a unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "dapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sock
}

func unixClient(t *testing.T, h http.Handler, o ...ClientOption) *Client {
	t.Helper()
	c, err := NewClient("unix://"+unixServer(t, h), o...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// transports runs f against a client over TCP (httptest) and over a unix
// socket (Serve), each with its own fake.
func transports(t *testing.T, f func(t *testing.T, fake *fakeAPI, c *Client)) {
	t.Run("tcp", func(t *testing.T) {
		fake := newFake()
		c, _ := tcpServer(t, NewHandler(fake))
		f(t, fake, c)
	})
	t.Run("unix", func(t *testing.T) {
		fake := newFake()
		f(t, fake, unixClient(t, NewHandler(fake)))
	})
}

// sameJSON fails unless got and want have the same JSON encoding: what
// crossed the wire came back as it left.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// errorBody decodes docker's error body.
func errorBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e struct {
		Message string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("error body of %d: %v", resp.StatusCode, err)
	}
	return e.Message
}
