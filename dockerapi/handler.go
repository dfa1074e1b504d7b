package dockerapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/berth-project/berth/engine"
)

// Option configures NewHandler.
type Option func(*handler)

// WithLogf logs one line per request (method, path, status, duration)
// through logf. Off by default.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(h *handler) { h.logf = logf }
}

// WithServerVersion sets the version in the Server header
// ("berth/VERSION"); the binary's module version by default.
func WithServerVersion(v string) Option {
	return func(h *handler) { h.serverVersion = v }
}

// NewHandler serves the Docker Engine API over api: every route with and
// without the /vX.Y prefix, for versions MinAPIVersion to APIVersion.
func NewHandler(api engine.API, o ...Option) http.Handler {
	h := &handler{api: api, serverVersion: buildVersion()}
	for _, opt := range o {
		opt(h)
	}
	h.routes = h.routeTable()
	return h
}

type handler struct {
	api           engine.API
	logf          func(format string, args ...any)
	serverVersion string
	routes        []route
}

// call is one request as a route sees it.
type call struct {
	w       *response
	r       *http.Request
	ctx     context.Context
	name    string // the {name} of the path: container, image or exec
	version string // the API version the client asked for
	q       *query
}

type route struct {
	method string
	re     *regexp.Regexp
	h      func(*call) error
}

// newRoute compiles a docker route pattern: {name} matches greedily, any
// characters including '/', as moby's {name:.*} does, so image names like
// localhost:5000/a/b:tag work.
func newRoute(method, pattern string, h func(*call) error) route {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\{name\}`, "(.*)") + "$"
	return route{method: method, re: regexp.MustCompile(re), h: h}
}

var versionPrefix = regexp.MustCompile(`^/v([0-9.]+)(/.*)$`)

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &response{ResponseWriter: rw}
	hdr := w.Header()
	hdr.Set("Api-Version", APIVersion)
	hdr.Set("Docker-Experimental", "false")
	hdr.Set("Ostype", "linux")
	hdr.Set("Server", "berth/"+h.serverVersion)

	err := h.serve(w, r)
	if err != nil {
		h.writeError(w, r, err)
	}
	if h.logf != nil {
		status := w.status
		if status == 0 {
			status = http.StatusOK
		}
		if err != nil && status >= 500 {
			h.logf("%s %s %d %s: %v", r.Method, r.URL.Path, status, time.Since(start), err)
		} else {
			h.logf("%s %s %d %s", r.Method, r.URL.Path, status, time.Since(start))
		}
	}
}

func (h *handler) serve(w *response, r *http.Request) error {
	path, version := r.URL.Path, APIVersion
	if m := versionPrefix.FindStringSubmatch(path); m != nil {
		version, path = m[1], m[2]
		if compareVersions(version, MinAPIVersion) < 0 {
			return engine.Invalid("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, MinAPIVersion)
		}
		if compareVersions(version, APIVersion) > 0 {
			return engine.Invalid("client version %s is too new. Maximum supported API version is %s", version, APIVersion)
		}
	}
	for _, rt := range h.routes {
		if rt.method != r.Method {
			continue
		}
		m := rt.re.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		c := &call{w: w, r: r, ctx: r.Context(), version: version, q: newQuery(r.URL)}
		if len(m) > 1 {
			c.name = m[1]
		}
		return rt.h(c)
	}
	return engine.NotFound("page not found")
}

// writeError answers err with its kind's status and docker's JSON body,
// unless the response has started (a stream that failed midway: the
// client sees it end).
func (h *handler) writeError(w *response, r *http.Request, err error) {
	if w.wrote || w.hijacked {
		return
	}
	status := statusOf(engine.KindOf(err))
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		Message string `json:"message"`
	}{err.Error()})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// readJSON decodes the request body into v. An absent or empty body is
// not an error (present is false); anything else must be one JSON value.
func readJSON(r *http.Request, v any) (present bool, err error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && r.ContentLength != 0 {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return false, engine.Invalid("malformed Content-Type header (%s): %v", ct, err)
		}
		if mt != "application/json" {
			return false, engine.Invalid("unsupported Content-Type header (%s): must be 'application/json'", ct)
		}
	}
	if r.Body == nil || r.ContentLength == 0 {
		return false, nil
	}
	br := bufio.NewReader(r.Body)
	if _, err := br.Peek(1); err == io.EOF {
		return false, nil
	}
	dec := json.NewDecoder(br)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, engine.Invalid("invalid JSON: got EOF while reading request body")
		}
		return false, engine.Invalid("invalid JSON: %v", err)
	}
	if dec.More() {
		return false, engine.Invalid("unexpected content after JSON")
	}
	return true, nil
}

// response records the status for the log and whether the response has
// started, and passes Flush and Hijack through.
type response struct {
	http.ResponseWriter
	status   int
	wrote    bool
	hijacked bool
}

func (w *response) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *response) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends what is buffered, headers first.
func (w *response) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes the connection over (attach, exec start).
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, brw, err
}

func (w *response) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// flushWriter flushes after every write, so a stream's client sees each
// piece (a log line, a progress message, a stats sample) as it comes.
type flushWriter struct{ w *response }

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err == nil {
		f.w.Flush()
	}
	return n, err
}

// stream answers with the body of rc, flushed as it comes; headers go out
// at once, so a client waiting for a slow first piece is not kept waiting
// for the status.
func stream(w *response, contentType string, rc io.ReadCloser) error {
	defer rc.Close()
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.WriteHeader(http.StatusOK)
	w.Flush()
	_, err := io.Copy(flushWriter{w}, rc)
	return err
}
