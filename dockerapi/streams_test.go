package dockerapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/engine"
)

func httptestTLS(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// echoThrough writes msg to s, half-closes it, and expects msg back and
// then the end of the stream: the half-close crossed the socket as the
// end of stdin (the fake's echo ends its output there).
func echoThrough(t *testing.T, s engine.Stream, msg string) {
	t.Helper()
	if _, err := io.WriteString(s, msg); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var got []byte
	within(t, "read the echo to its end", func() { got, _ = io.ReadAll(s) })
	if string(got) != msg {
		t.Errorf("echo %q, want %q", got, msg)
	}
}

func TestAttachHijack(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		o := engine.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true, Logs: true, DetachKeys: "ctrl-p,ctrl-q"}
		s, err := c.ContainerAttach(t.Context(), "web", o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Several writes, then the half-close.
		if _, err := io.WriteString(s, "one\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(s)
		var line string
		within(t, "first line back", func() { line, _ = br.ReadString('\n') })
		if line != "one\n" {
			t.Fatalf("got %q", line)
		}
		echoThrough(t, bufStream{br, s}, "two\nthree\n")
		sameJSON(t, "arguments", fake.called("ContainerAttach")[0].Args, []any{"web", o})
	})
}

// bufStream reads a Stream through a bufio.Reader already in use.
type bufStream struct {
	br *bufio.Reader
	engine.Stream
}

func (b bufStream) Read(p []byte) (int, error) { return b.br.Read(p) }

func TestExecStartHijack(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		req := container.ExecStartRequest{Tty: true, ConsoleSize: &[2]uint{24, 80}}
		s, err := c.ExecStart(t.Context(), "exec1", req)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		echoThrough(t, s, "ls\n")
		sameJSON(t, "arguments", fake.called("ExecStart")[0].Args, []any{"exec1", req})
	})
}

// TestHijackResponse checks the upgrade answer on the wire: 101 with the
// output's content type, or 200 and the raw stream without Upgrade.
func TestHijackResponse(t *testing.T) {
	tests := []struct {
		name, path, body string
		upgrade          bool
		tty              bool
		status           string
		ct               string
	}{
		{"attach upgrade", "/v1.50/containers/web/attach?stream=1&stdin=1&stdout=1", "", true, false, "HTTP/1.1 101 UPGRADED", "application/vnd.docker.multiplexed-stream"},
		{"attach tty", "/v1.50/containers/web/attach?stream=1&stdin=1&stdout=1", "", true, true, "HTTP/1.1 101 UPGRADED", "application/vnd.docker.raw-stream"},
		{"attach plain", "/v1.50/containers/web/attach?stream=1&stdin=1&stdout=1", "", false, false, "HTTP/1.1 200 OK", "application/vnd.docker.multiplexed-stream"},
		{"exec upgrade", "/v1.50/exec/e1/start", `{"Tty":false}`, true, false, "HTTP/1.1 101 UPGRADED", "application/vnd.docker.multiplexed-stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			fake.set("ContainerInspect", container.InspectResponse{Config: &container.Config{Tty: tc.tty}})
			_, srv := tcpServer(t, NewHandler(fake))
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req, _ := http.NewRequest("POST", "http://x"+tc.path, strings.NewReader(tc.body))
			if tc.body == "" {
				req.Body, req.ContentLength = nil, 0
			} else {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.upgrade {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "tcp")
			}
			// Bytes sent right behind the request must reach stdin too.
			var raw strings.Builder
			req.Write(&raw)
			raw.WriteString("early")
			if _, err := io.WriteString(conn, raw.String()); err != nil {
				t.Fatal(err)
			}
			conn.(*net.TCPConn).CloseWrite()
			br := bufio.NewReader(conn)
			var status string
			within(t, "the answer", func() { status, _ = br.ReadString('\n') })
			if strings.TrimSpace(status) != tc.status {
				t.Fatalf("status line %q, want %q", status, tc.status)
			}
			hdr := map[string]string{}
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if l == "\r\n" {
					break
				}
				k, v, _ := strings.Cut(strings.TrimSpace(l), ": ")
				hdr[k] = v
			}
			if hdr["Content-Type"] != tc.ct {
				t.Errorf("Content-Type %q, want %q", hdr["Content-Type"], tc.ct)
			}
			if hdr["Api-Version"] != APIVersion {
				t.Errorf("Api-Version %q", hdr["Api-Version"])
			}
			if tc.upgrade && (hdr["Upgrade"] != "tcp" || hdr["Connection"] != "Upgrade") {
				t.Errorf("upgrade headers %v", hdr)
			}
			var rest []byte
			within(t, "the echo", func() { rest, _ = io.ReadAll(br) })
			if string(rest) != "early" {
				t.Errorf("echo %q", rest)
			}
		})
	}
}

// TestPullStreamFlushed: each progress line reaches the client before the
// engine writes the next one, so a line that was not flushed would block
// the test (caught by the hang guard).
func TestPullStreamFlushed(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		pr, pw := io.Pipe()
		fake.set("ImagePull", io.ReadCloser(pr))
		var rc io.ReadCloser
		var err error
		// The headers come before any progress.
		within(t, "ImagePull's answer", func() { rc, err = c.ImagePull(t.Context(), "busybox:1", engine.PullRequest{}) })
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		br := bufio.NewReader(rc)
		lines := []string{`{"status":"Pulling from library/busybox","id":"1"}`, `{"status":"Downloading","id":"abc"}`, `{"status":"Digest: sha256:00"}`}
		for _, l := range lines {
			go io.WriteString(pw, l+"\n")
			var got string
			within(t, "line "+l, func() { got, _ = br.ReadString('\n') })
			if got != l+"\n" {
				t.Fatalf("got %q, want %q", got, l)
			}
		}
		pw.Close()
		if rest, _ := io.ReadAll(br); len(rest) != 0 {
			t.Errorf("more after the end: %q", rest)
		}
	})
}

// TestWaitEarlyHeaders: ContainerWait returns once the daemon has
// registered the wait, before the condition is met; a client that starts
// the container only then does not deadlock.
func TestWaitEarlyHeaders(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		fake.wait = make(chan container.WaitResponse)
		var res <-chan container.WaitResponse
		var errs <-chan error
		within(t, "ContainerWait's return", func() {
			res, errs = c.ContainerWait(t.Context(), "web", container.WaitConditionNextExit)
		})
		if calls := fake.called("ContainerWait"); len(calls) != 1 || calls[0].Args[1] != container.WaitConditionNextExit {
			t.Fatalf("wait calls %+v", calls)
		}
		// Now the "start", and the exit.
		go func() { fake.wait <- container.WaitResponse{StatusCode: 3} }()
		within(t, "the wait's result", func() {
			select {
			case r := <-res:
				if r.StatusCode != 3 || r.Error != nil {
					t.Errorf("result %+v", r)
				}
			case err := <-errs:
				t.Errorf("error %v", err)
			}
		})
	})
}

func TestWaitError(t *testing.T) {
	// An engine wait that ends in an error (not an exit) arrives as that
	// error, as in-process.
	fake := newFake()
	h := NewHandler(&waitFails{fakeAPI: fake})
	c, _ := tcpServer(t, h)
	res, errs := c.ContainerWait(t.Context(), "web", "")
	select {
	case r := <-res:
		t.Fatalf("result %+v, want an error", r)
	case err := <-errs:
		if err == nil || err.Error() != "container web was removed while waiting" {
			t.Errorf("error %v", err)
		}
	}
}

type waitFails struct{ *fakeAPI }

func (w *waitFails) ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	errs := make(chan error)
	go func() { errs <- errors.New("container " + id + " was removed while waiting") }()
	return make(chan container.WaitResponse), errs
}

// TestEvents: the subscription is in place when Events returns, each
// event arrives as it happens, filters and times cross, and cancelling
// ends the stream.
func TestEvents(t *testing.T) {
	transports(t, func(t *testing.T, fake *fakeAPI, c *Client) {
		fake.events = make(chan events.Message)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		o := engine.EventsOptions{Since: "1700000000", Until: "", Filters: engine.Filters{"type": {"container"}, "event": {"die", "start"}}}
		var msgs <-chan events.Message
		var errs <-chan error
		within(t, "Events' return", func() { msgs, errs = c.Events(ctx, o) })
		sameJSON(t, "options", fake.called("Events")[0].Args, []any{o})
		sent := []events.Message{
			{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "abc", Attributes: map[string]string{"name": "web", "image": "busybox"}}, Scope: "local", Time: 1700000001, TimeNano: 1700000001000000000},
			{Type: events.ImageEventType, Action: events.ActionPull, Actor: events.Actor{ID: "busybox:latest", Attributes: map[string]string{}}, Scope: "local", Time: 1700000002, TimeNano: 1700000002000000000},
		}
		for _, m := range sent {
			go func() { fake.events <- m }()
			within(t, "event "+string(m.Action), func() {
				select {
				case got := <-msgs:
					sameJSON(t, "event", got, m)
				case err := <-errs:
					t.Errorf("error %v", err)
				}
			})
		}
		cancel()
		within(t, "the end of the stream", func() {
			if err := <-errs; !errors.Is(err, context.Canceled) {
				t.Errorf("end: %v", err)
			}
		})
	})
}

func TestEventsEnd(t *testing.T) {
	// The engine ends the stream (until passed): the client's error
	// channel gets nil after the last event.
	fake := newFake()
	fake.events = make(chan events.Message, 1)
	fake.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "abc"}}
	close(fake.events)
	c, _ := tcpServer(t, NewHandler(fake))
	msgs, errs := c.Events(t.Context(), engine.EventsOptions{Until: "1700000000"})
	within(t, "the events", func() {
		if m := <-msgs; m.Action != events.ActionDie {
			t.Errorf("event %+v", m)
		}
		if err := <-errs; err != nil {
			t.Errorf("end: %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		fake := newFake()
		fake.fail("Events", engine.Invalid("`since` time (2) cannot be after `until` time (1)"))
		c, _ := tcpServer(t, NewHandler(fake))
		_, errs := c.Events(t.Context(), engine.EventsOptions{Since: "2", Until: "1"})
		if err := <-errs; !errors.Is(err, engine.ErrInvalid) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("legacy fields", func(t *testing.T) {
		fake := newFake()
		fake.events = make(chan events.Message, 1)
		fake.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "abc", Attributes: map[string]string{"image": "busybox"}}}
		close(fake.events)
		resp := do(t, NewHandler(fake), "GET", "/v1.50/events", "", "")
		body := readAll(resp.Body)
		for _, want := range []string{`"status":"start"`, `"id":"abc"`, `"from":"busybox"`, `"Action":"start"`} {
			if !strings.Contains(body, want) {
				t.Errorf("event %s lacks %s", body, want)
			}
		}
	})
}

// TestServeShutdown: cancelling Serve's context ends it and the streams
// that follow the daemon, while a hijacked attach keeps working.
func TestServeShutdown(t *testing.T) {
	fake := newFake()
	fake.events = make(chan events.Message)
	sock := unixServerNoCleanup(t, NewHandler(fake))
	c, err := NewClient("unix://" + sock.path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.ContainerAttach(t.Context(), "web", engine.AttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, errs := c.Events(t.Context(), engine.EventsOptions{})
	sock.cancel()
	within(t, "Serve's return", func() {
		if err := <-sock.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	within(t, "the events' end", func() { <-errs })
	echoThrough(t, s, "still here\n")
	if _, err := c.Ping(t.Context()); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("after shutdown: %v", err)
	}
}

type served struct {
	path   string
	cancel context.CancelFunc
	done   chan error
}

func unixServerNoCleanup(t *testing.T, h http.Handler) served {
	t.Helper()
	path := t.TempDir() + "/s.sock"
	if len(path) > 100 {
		t.Skip("temporary directory too deep for a unix socket path")
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h) }()
	return served{path: path, cancel: cancel, done: done}
}
