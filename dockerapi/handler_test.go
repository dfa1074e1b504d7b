package dockerapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

// do sends a raw request to h and returns the recorded response.
func do(t *testing.T, h http.Handler, method, target, contentType, body string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestVersionNegotiation(t *testing.T) {
	fake := newFake()
	fake.set("Version", struct{}{})
	h := NewHandler(fake, WithServerVersion("1.2.3"))
	tests := []struct {
		path   string
		status int
		msg    string
	}{
		{"/version", http.StatusOK, ""},
		{"/v1.50/version", http.StatusOK, ""},
		{"/v1.24/version", http.StatusOK, ""},
		{"/v1.41/version", http.StatusOK, ""},
		{"/v1.23/version", http.StatusBadRequest, "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"},
		{"/v1.12/containers/json", http.StatusBadRequest, "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"},
		{"/v1.51/version", http.StatusBadRequest, "client version 1.51 is too new. Maximum supported API version is 1.50"},
		{"/v2.0/version", http.StatusBadRequest, "client version 2.0 is too new. Maximum supported API version is 1.50"},
		{"/v1.50/nothing/here", http.StatusNotFound, "page not found"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := do(t, h, http.MethodGet, tc.path, "", "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			for k, v := range map[string]string{
				"Api-Version": "1.50", "Docker-Experimental": "false", "Ostype": "linux", "Server": "berth/1.2.3",
			} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tc.msg != "" {
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("error Content-Type %q", ct)
				}
				if got := errorBody(t, resp); got != tc.msg {
					t.Errorf("message %q, want %q", got, tc.msg)
				}
			}
		})
	}
}

func TestPingRoute(t *testing.T) {
	h := NewHandler(newFake())
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			for _, path := range []string{"/_ping", "/v1.44/_ping"} {
				resp := do(t, h, method, path, "", "")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s %s: status %d", method, path, resp.StatusCode)
				}
				want := map[string]string{
					"Api-Version": "1.50", "Builder-Version": "1", "Ostype": "linux",
					"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
				}
				for k, v := range want {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s %s: header %s = %q, want %q", method, path, k, got, v)
					}
				}
				body := readAll(resp.Body)
				if method == http.MethodGet && body != "OK" {
					t.Errorf("GET body %q", body)
				}
				if method == http.MethodHead && body != "" {
					t.Errorf("HEAD body %q", body)
				}
			}
		})
	}
}

func TestFiltersBothShapes(t *testing.T) {
	tests := []struct {
		name, filters string
		want          engine.Filters
	}{
		{"current", `{"status":{"running":true,"exited":true},"label":{"a=b":true}}`, engine.Filters{"status": {"exited", "running"}, "label": {"a=b"}}},
		{"legacy", `{"status":["running","exited"],"label":["a=b"]}`, engine.Filters{"status": {"running", "exited"}, "label": {"a=b"}}},
		{"empty", `{}`, nil},
		{"absent", ``, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			h := NewHandler(fake)
			target := "/v1.50/containers/json?all=1"
			if tc.filters != "" {
				target += "&filters=" + url.QueryEscape(tc.filters)
			}
			resp := do(t, h, http.MethodGet, target, "", "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, readAll(resp.Body))
			}
			calls := fake.called("ContainerList")
			if len(calls) != 1 {
				t.Fatalf("ContainerList called %d times", len(calls))
			}
			o := calls[0].Args[0].(engine.ListOptions)
			if !o.All {
				t.Error("all=1 did not arrive")
			}
			sameJSON(t, "filters", o.Filters, tc.want)
			if body := strings.TrimSpace(readAll(resp.Body)); body != "[]" {
				t.Errorf("an empty list answers %q, want []", body)
			}
		})
	}
}

// TestBadRequests: bad JSON bodies and query values are 400s with a clear
// message, and the engine is not called.
func TestBadRequests(t *testing.T) {
	tests := []struct {
		name, method, target, ct, body string
		msg                            string // the message contains this
		engine                         string // the engine method that must not run
	}{
		{"create/not json", "POST", "/containers/create?name=x", "application/json", "x", "invalid character 'x' looking for beginning of value", "ContainerCreate"},
		{"create/broken json", "POST", "/containers/create", "application/json", `{"Image":`, "invalid JSON", "ContainerCreate"},
		{"create/bad key", "POST", "/v1.50/containers/create", "application/json", `{x}`, "invalid character 'x' looking for beginning of object key string", "ContainerCreate"},
		{"create/two values", "POST", "/containers/create", "application/json", `{"Image":"a"} {}`, "unexpected content after JSON", "ContainerCreate"},
		{"create/wrong type", "POST", "/containers/create", "application/json", `{"Image":7}`, "cannot unmarshal number", "ContainerCreate"},
		{"create/empty", "POST", "/containers/create", "", "", "config cannot be empty in order to create a container", "ContainerCreate"},
		{"create/no config", "POST", "/containers/create", "application/json", `{"HostConfig":{}}`, "config cannot be empty in order to create a container", "ContainerCreate"},
		{"create/content type", "POST", "/containers/create", "text/plain", `{"Image":"a"}`, "unsupported Content-Type header (text/plain): must be 'application/json'", "ContainerCreate"},
		{"exec/no command", "POST", "/containers/web/exec", "application/json", `{"AttachStdout":true}`, "No exec command specified", "ExecCreate"},
		{"update/bad json", "POST", "/containers/web/update", "application/json", `[`, "invalid JSON", "ContainerUpdate"},
		{"list/bad bool", "GET", "/containers/json?all=maybe", "", "", `invalid boolean value "maybe" for query parameter "all"`, "ContainerList"},
		{"list/bad limit", "GET", "/containers/json?limit=ten", "", "", `invalid value "ten" for query parameter "limit"`, "ContainerList"},
		{"list/bad filters", "GET", "/containers/json?filters=" + url.QueryEscape(`{"status":"running"}`), "", "", "invalid filter", "ContainerList"},
		{"stop/bad timeout", "POST", "/containers/web/stop?t=soon", "", "", `invalid value "soon" for query parameter "t"`, "ContainerStop"},
		{"wait/bad condition", "POST", "/containers/web/wait?condition=later", "", "", `invalid condition: "later"`, "ContainerWait"},
		{"resize/bad height", "POST", "/containers/web/resize?h=x&w=80", "", "", `invalid resize height "x"`, "ContainerResize"},
		{"resize/no width", "POST", "/containers/web/resize?h=24", "", "", `invalid resize width ""`, "ContainerResize"},
		{"exec resize/negative", "POST", "/exec/e1/resize?h=-1&w=80", "", "", `invalid resize height "-1"`, "ExecResize"},
		{"logs/no stream", "GET", "/containers/web/logs", "", "", "Bad parameters: you must choose at least one stream", "ContainerLogs"},
		{"logs/bad tail", "GET", "/containers/web/logs?stdout=1&tail=some", "", "", `invalid value "some" for query parameter "tail"`, "ContainerLogs"},
		{"logs/bad since", "GET", "/containers/web/logs?stdout=1&since=yesterday", "", "", `invalid value "yesterday" for query parameter "since"`, "ContainerLogs"},
		{"events/bad until", "GET", "/events?until=later", "", "", `invalid value "later" for query parameter "until"`, "Events"},
		{"archive/no path", "GET", "/containers/web/archive", "", "", "bad parameter: path cannot be empty", "CopyFromContainer"},
		{"archive put/no path", "PUT", "/containers/web/archive", "application/x-tar", "t", "bad parameter: path cannot be empty", "CopyToContainer"},
		{"pull/nothing", "POST", "/images/create", "", "", "fromImage or fromSrc is required", "ImagePull"},
		{"tag/no repo", "POST", "/images/a/tag", "", "", "bad parameter: repo cannot be empty", "ImageTag"},
		{"push/bad platform", "POST", "/images/a/push?tag=1&platform=" + url.QueryEscape(`{"os":`), "", "", "failed to parse platform", "ImagePush"},
		{"search/negative limit", "GET", "/images/search?term=a&limit=-1", "", "", "invalid limit specified", "ImageSearch"},
		{"load/bad quiet", "POST", "/images/load?quiet=loud", "application/x-tar", "t", `invalid boolean value "loud" for query parameter "quiet"`, "ImageLoad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			resp := do(t, NewHandler(fake), tc.method, tc.target, tc.ct, tc.body)
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

func TestImportNotImplemented(t *testing.T) {
	fake := newFake()
	resp := do(t, NewHandler(fake), "POST", "/images/create?fromSrc=-&repo=a", "application/x-tar", "t")
	if resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("status %d, want 501", resp.StatusCode)
	}
	resp = do(t, NewHandler(fake), "GET", "/containers/web/attach/ws", "", "")
	if resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("attach/ws: status %d, want 501", resp.StatusCode)
	}
}

// TestErrorStatuses: each engine error kind answers its status with the
// engine's message (no body for 304).
func TestErrorStatuses(t *testing.T) {
	tests := []struct {
		kind   engine.Kind
		status int
	}{
		{engine.KindNotFound, 404},
		{engine.KindConflict, 409},
		{engine.KindInvalid, 400},
		{engine.KindNotModified, 304},
		{engine.KindUnauthorized, 401},
		{engine.KindForbidden, 403},
		{engine.KindUnavailable, 503},
		{engine.KindNotImplemented, 501},
		{engine.KindUnknown, 500},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			fake := newFake()
			fake.fail("ContainerStart", engine.Errorf(tc.kind, "No such container: web (kind %d)", tc.kind))
			resp := do(t, NewHandler(fake), "POST", "/v1.50/containers/web/start", "", "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusNotModified {
				if b := readAll(resp.Body); b != "" {
					t.Errorf("304 with a body: %q", b)
				}
				return
			}
			want := fmt.Sprintf("No such container: web (kind %d)", tc.kind)
			if msg := errorBody(t, resp); msg != want {
				t.Errorf("message %q, want %q", msg, want)
			}
		})
	}
	t.Run("lower sentinels", func(t *testing.T) {
		fake := newFake()
		fake.fail("ContainerInspect", fmt.Errorf("%w: web", engine.ErrNoSuchContainer))
		resp := do(t, NewHandler(fake), "GET", "/containers/web/json", "", "")
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
	})
}

func TestStatusCodes(t *testing.T) {
	tests := []struct {
		method, target, ct, body string
		status                   int
	}{
		{"POST", "/containers/create?name=web", "application/json", `{"Image":"busybox"}`, 201},
		{"POST", "/containers/web/start", "", "", 204},
		{"POST", "/containers/web/stop?t=1", "", "", 204},
		{"POST", "/containers/web/restart?t=1&signal=TERM", "", "", 204},
		{"POST", "/containers/web/kill?signal=KILL", "", "", 204},
		{"POST", "/containers/web/pause", "", "", 204},
		{"POST", "/containers/web/unpause", "", "", 204},
		{"POST", "/containers/web/rename?name=w", "", "", 204},
		{"DELETE", "/containers/web?force=1&v=1", "", "", 204},
		{"POST", "/containers/web/resize?h=24&w=80", "", "", 200},
		{"POST", "/containers/web/exec", "application/json", `{"Cmd":["ls"]}`, 201},
		{"POST", "/exec/e1/start", "application/json", `{"Detach":true}`, 200},
		{"PUT", "/containers/web/archive?path=/tmp", "application/x-tar", "tar", 200},
		{"POST", "/images/busybox/tag?repo=b&tag=1", "", "", 201},
		{"DELETE", "/images/localhost:5000/a/b:c", "", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			resp := do(t, NewHandler(newFake()), tc.method, tc.target, tc.ct, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, readAll(resp.Body))
			}
		})
	}
}

// TestImageNames: names with registries, ports, slashes and tags reach
// the engine whole, as docker's greedy {name:.*} matches them.
func TestImageNames(t *testing.T) {
	tests := []struct {
		target, method, want string
	}{
		{"/images/localhost:5000/a/b:tag/json", "ImageInspect", "localhost:5000/a/b:tag"},
		{"/v1.50/images/busybox/json", "ImageInspect", "busybox"},
		{"/images/json/json", "ImageInspect", "json"},
		{"/images/registry.example.com/team/app@sha256:aa/history", "ImageHistory", "registry.example.com/team/app@sha256:aa"},
		{"/images/a/b/c:1/get", "ImageSave", "a/b/c:1"},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			fake := newFake()
			resp := do(t, NewHandler(fake), "GET", tc.target, "", "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, readAll(resp.Body))
			}
			calls := fake.called(tc.method)
			if len(calls) != 1 {
				t.Fatalf("%s called %d times", tc.method, len(calls))
			}
			got := calls[0].Args[0]
			if names, ok := got.([]string); ok {
				got = names[0]
			}
			if got != tc.want {
				t.Errorf("name %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPullAndPushRefs: fromImage+tag and push's tag become one reference;
// no tag anywhere means every tag.
func TestPullAndPushRefs(t *testing.T) {
	tests := []struct {
		target, method, ref string
		all                 bool
	}{
		{"/images/create?fromImage=busybox&tag=1.36", "ImagePull", "busybox:1.36", false},
		{"/images/create?fromImage=localhost:5000/a/b&tag=v1", "ImagePull", "localhost:5000/a/b:v1", false},
		{"/images/create?fromImage=busybox:1.36", "ImagePull", "busybox:1.36", false},
		{"/images/create?fromImage=busybox", "ImagePull", "busybox", true},
		{"/images/create?fromImage=busybox:", "ImagePull", "busybox", true},
		{"/images/create?fromImage=a&tag=sha256:0123", "ImagePull", "a@sha256:0123", false},
		{"/images/localhost:5000/a/push?tag=v2", "ImagePush", "localhost:5000/a:v2", false},
		{"/images/localhost:5000/a/push", "ImagePush", "localhost:5000/a", true},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			fake := newFake()
			resp := do(t, NewHandler(fake), "POST", tc.target, "", "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, readAll(resp.Body))
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			args := fake.called(tc.method)[0].Args
			var all bool
			switch o := args[1].(type) {
			case engine.PullRequest:
				all = o.All
			case engine.PushRequest:
				all = o.All
			}
			if args[0] != tc.ref || all != tc.all {
				t.Errorf("got %v all=%v, want %q all=%v", args[0], all, tc.ref, tc.all)
			}
		})
	}
}

// TestLogsContentType: logs are multiplexed unless the container has a
// TTY, and raw for clients before 1.42.
func TestLogsContentType(t *testing.T) {
	tests := []struct {
		name, path string
		tty        bool
		want       string
	}{
		{"no tty", "/v1.50", false, "application/vnd.docker.multiplexed-stream"},
		{"tty", "/v1.50", true, "application/vnd.docker.raw-stream"},
		{"old client", "/v1.41", false, "application/vnd.docker.raw-stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			fake.set("ContainerInspect", container.InspectResponse{Config: &container.Config{Tty: tc.tty}})
			fake.set("ContainerLogs", "out")
			resp := do(t, NewHandler(fake), "GET", tc.path+"/containers/web/logs?stdout=1&follow=1&tail=all", "", "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.want {
				t.Errorf("Content-Type %q, want %q", ct, tc.want)
			}
			if b := readAll(resp.Body); b != "out" {
				t.Errorf("body %q", b)
			}
		})
	}
}

func TestArchiveHead(t *testing.T) {
	fake := newFake()
	st := container.PathStat{Name: "hosts", Size: 7, Mode: 0o600, Mtime: time.Unix(1700000000, 0).UTC()}
	fake.set("ContainerStatPath", st)
	resp := do(t, NewHandler(fake), "HEAD", "/containers/web/archive?path=/etc/hosts", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	raw, err := base64.StdEncoding.DecodeString(resp.Header.Get("X-Docker-Container-Path-Stat"))
	if err != nil {
		t.Fatal(err)
	}
	var got container.PathStat
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "stat", got, st)
}

func TestRequestLog(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	h := NewHandler(newFake(), WithLogf(func(format string, args ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, args...))
		mu.Unlock()
	}))
	do(t, h, "POST", "/v1.50/containers/web/start", "", "")
	do(t, h, "GET", "/v1.50/nope", "", "")
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "POST /v1.50/containers/web/start 204 ") || !strings.HasPrefix(lines[1], "GET /v1.50/nope 404 ") {
		t.Errorf("log lines %q", lines)
	}
}
