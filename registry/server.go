package registry

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/content"
)

// Server is an OCI distribution (v1.1) registry over a content.Local: an
// http.Handler for /v2/ and docker's /v1/search. See the package doc for
// what it stores where and how it decides.
type Server struct {
	root  string
	cfg   serverConfig
	store *content.Local
	db    *bolt.DB

	mu      sync.Mutex
	uploads map[string]*uploadState // open upload writers, by upload id

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
}

// ServerOption configures a Server.
type ServerOption func(*serverConfig)

type serverConfig struct {
	authorizer  Authorizer
	logf        func(format string, args ...any)
	uploadTTL   time.Duration
	maxManifest int64
	maxBlob     int64
	readOnly    bool
}

// Defaults of the server's limits.
const (
	DefaultUploadTTL       = 24 * time.Hour
	DefaultMaxManifestSize = 4 << 20
)

// WithAuthorizer makes every request ask a for the access it needs.
// Without one, everything is allowed.
func WithAuthorizer(a Authorizer) ServerOption {
	return func(c *serverConfig) { c.authorizer = a }
}

// WithServerLogf logs server errors (5xx answers) and the janitor's work
// through logf. (The client's WithLogf has the shorter name.)
func WithServerLogf(logf func(format string, args ...any)) ServerOption {
	return func(c *serverConfig) { c.logf = logf }
}

// WithUploadTTL sets how long an upload may sit idle before the janitor
// removes it (DefaultUploadTTL).
func WithUploadTTL(d time.Duration) ServerOption {
	return func(c *serverConfig) { c.uploadTTL = d }
}

// WithMaxManifestSize sets the largest manifest a PUT may send
// (DefaultMaxManifestSize); larger ones are refused with 413.
func WithMaxManifestSize(n int64) ServerOption {
	return func(c *serverConfig) { c.maxManifest = n }
}

// WithMaxBlobSize sets the largest blob an upload may grow to; 0 (the
// default) is no limit. Larger uploads are refused with 413 SIZE_INVALID.
func WithMaxBlobSize(n int64) ServerOption {
	return func(c *serverConfig) { c.maxBlob = n }
}

// WithReadOnly makes every write answer 405 UNSUPPORTED.
func WithReadOnly(ro bool) ServerOption {
	return func(c *serverConfig) { c.readOnly = ro }
}

// ErrStorageLocked is returned by NewServer and GarbageCollect for storage
// that another server (in this process or another) holds.
var ErrStorageLocked = errors.New("registry storage is in use")

type storageLockedError struct{ root string }

func (e *storageLockedError) Error() string {
	return fmt.Sprintf("registry storage %s is in use (is \"berth registry serve\" running?)", e.root)
}

func (e *storageLockedError) Is(target error) bool { return target == ErrStorageLocked }

// storageLockTimeout is how long opening the storage waits for another
// holder to let go.
var storageLockTimeout = time.Second

// dbName is the metadata file under the storage root.
const dbName = "registry.db"

// openStorage opens the content store and the metadata database under
// root, creating them if needed.
func openStorage(root string) (*content.Local, *bolt.DB, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, nil, fmt.Errorf("open registry storage %s: %w", root, err)
	}
	store, err := content.NewLocal(root)
	if err != nil {
		return nil, nil, fmt.Errorf("open registry storage %s: %w", root, err)
	}
	db, err := bolt.Open(filepath.Join(root, dbName), 0o600, &bolt.Options{Timeout: storageLockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, nil, &storageLockedError{root: root}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open registry storage %s: %w", root, err)
	}
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open registry storage %s: %w", root, err)
	}
	return store, db, nil
}

// NewServer opens (creating if needed) the registry storage under root and
// returns a Server over it. It removes uploads that outlived the upload
// TTL and writes that no upload owns before it returns, and keeps doing so
// in the background until Close.
func NewServer(root string, opts ...ServerOption) (*Server, error) {
	cfg := serverConfig{
		logf:        func(string, ...any) {},
		uploadTTL:   DefaultUploadTTL,
		maxManifest: DefaultMaxManifestSize,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.uploadTTL <= 0 {
		cfg.uploadTTL = DefaultUploadTTL
	}
	if cfg.maxManifest <= 0 {
		cfg.maxManifest = DefaultMaxManifestSize
	}
	store, db, err := openStorage(root)
	if err != nil {
		return nil, err
	}
	s := &Server{
		root:    root,
		cfg:     cfg,
		store:   store,
		db:      db,
		uploads: map[string]*uploadState{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.purge(time.Now())
	go s.janitor()
	return s, nil
}

// Close stops the janitor, lets go of open upload writers and closes the
// database. Uploads in progress stay resumable by a later Server. Close
// does not wait for requests: one still busy with a session lets go of
// its writer when it ends, and later requests are answered 503. (Shut the
// http.Server down first to finish them.)
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		s.mu.Lock()
		states := s.uploads
		s.uploads = map[string]*uploadState{}
		s.mu.Unlock()
		for _, st := range states {
			if st.mu.TryLock() {
				st.closeWriter()
				st.mu.Unlock()
			}
		}
		err = s.db.Close()
	})
	return err
}

// routeKind is what a request path names.
type routeKind int

const (
	routeUnknown routeKind = iota
	routePing
	routeCatalog
	routeSearch
	routeTags
	routeManifest
	routeBlob
	routeUploads // POST /v2/<name>/blobs/uploads/
	routeUpload  // /v2/<name>/blobs/uploads/<id>
	routeReferrers
)

// route is a parsed request path: the repository name and the reference
// (tag or digest, upload id) that follows the endpoint's keyword.
type route struct {
	kind routeKind
	name string
	ref  string
}

// maxNameLength caps repository names: the spec's "less than 256".
const maxNameLength = 255

// parseRoute splits a request path into its route. Keywords are matched
// from the end, so a repository may have components named "blobs" or
// "manifests". A path of the right shape with a bad repository name
// returns an error.
func parseRoute(path string) (route, error) {
	switch path {
	case "/v2", "/v2/":
		return route{kind: routePing}, nil
	case "/v2/_catalog":
		return route{kind: routeCatalog}, nil
	case "/v1/search":
		return route{kind: routeSearch}, nil
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}, nil
	}
	parts := strings.Split(rest, "/")
	n := len(parts)
	var rt route
	var nameParts []string
	switch {
	case n >= 3 && parts[n-2] == "tags" && parts[n-1] == "list":
		rt, nameParts = route{kind: routeTags}, parts[:n-2]
	case n >= 3 && parts[n-2] == "manifests":
		rt, nameParts = route{kind: routeManifest, ref: parts[n-1]}, parts[:n-2]
	case n >= 3 && parts[n-2] == "referrers":
		rt, nameParts = route{kind: routeReferrers, ref: parts[n-1]}, parts[:n-2]
	case n >= 4 && parts[n-3] == "blobs" && parts[n-2] == "uploads":
		if parts[n-1] == "" {
			rt = route{kind: routeUploads}
		} else {
			rt = route{kind: routeUpload, ref: parts[n-1]}
		}
		nameParts = parts[:n-3]
	case n >= 3 && parts[n-2] == "blobs" && parts[n-1] == "uploads":
		rt, nameParts = route{kind: routeUploads}, parts[:n-2]
	case n >= 3 && parts[n-2] == "blobs":
		rt, nameParts = route{kind: routeBlob, ref: parts[n-1]}, parts[:n-2]
	default:
		return route{}, nil
	}
	rt.name = strings.Join(nameParts, "/")
	if err := checkName(rt.name); err != nil {
		return route{}, err
	}
	return rt, nil
}

// checkName validates a repository name against the spec's grammar.
func checkName(name string) error {
	if len(name) > maxNameLength {
		return apiErrorf(codeNameInvalid, "repository name is %d characters long, over the limit of %d", len(name), maxNameLength).withDetail(map[string]string{"name": name})
	}
	if !repoRE.MatchString(name) {
		return apiErrorf(codeNameInvalid, "invalid repository name %q", name).withDetail(map[string]string{"name": name})
	}
	return nil
}

// checkServerDigest parses a digest of a request: sha256 or sha512 only.
func checkServerDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err == nil && d.Algorithm() != digest.SHA256 && d.Algorithm() != digest.SHA512 {
		err = fmt.Errorf("algorithm %s is not supported", d.Algorithm())
	}
	if err != nil {
		return "", apiErrorf(codeDigestInvalid, "invalid digest %q: %v", s, err).withDetail(map[string]string{"digest": s})
	}
	return d, nil
}

// handler answers one method on one kind of route.
type handler func(s *Server, w http.ResponseWriter, r *http.Request, rt route)

// endpoint is what a route kind answers: a handler per method, and which
// methods write.
type endpoint struct {
	methods map[string]handler
	writes  map[string]bool
}

var endpoints = map[routeKind]endpoint{
	routePing:    {methods: map[string]handler{http.MethodGet: (*Server).ping}},
	routeCatalog: {methods: map[string]handler{http.MethodGet: (*Server).catalog}},
	routeSearch:  {methods: map[string]handler{http.MethodGet: (*Server).search}},
	routeTags:    {methods: map[string]handler{http.MethodGet: (*Server).tagsList}},
	routeManifest: {
		methods: map[string]handler{http.MethodGet: (*Server).getManifest, http.MethodPut: (*Server).putManifest, http.MethodDelete: (*Server).deleteManifest},
		writes:  map[string]bool{http.MethodPut: true, http.MethodDelete: true},
	},
	routeBlob: {
		methods: map[string]handler{http.MethodGet: (*Server).getBlob, http.MethodDelete: (*Server).deleteBlob},
		writes:  map[string]bool{http.MethodDelete: true},
	},
	routeUploads: {
		methods: map[string]handler{http.MethodPost: (*Server).startUpload},
		writes:  map[string]bool{http.MethodPost: true},
	},
	routeUpload: {
		methods: map[string]handler{
			http.MethodGet: (*Server).uploadStatus, http.MethodPatch: (*Server).patchUpload,
			http.MethodPut: (*Server).putUpload, http.MethodDelete: (*Server).cancelUpload,
		},
		writes: map[string]bool{http.MethodPatch: true, http.MethodPut: true, http.MethodDelete: true},
	},
	routeReferrers: {methods: map[string]handler{http.MethodGet: (*Server).referrers}},
}

// ServeHTTP answers the distribution API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if s.closed.Load() {
		s.fail(w, r, apiErrorf(codeUnknown, "registry is shutting down").withStatus(http.StatusServiceUnavailable))
		return
	}
	rt, err := parseRoute(r.URL.Path)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ep, ok := endpoints[rt.kind]
	if !ok {
		s.fail(w, r, apiErrorf(codeUnsupported, "%s is not an endpoint of this registry", r.URL.Path).withStatus(http.StatusNotFound))
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet // GET handlers answer HEAD without a body
	}
	h, ok := ep.methods[method]
	if !ok {
		var allow []string
		for m := range ep.methods {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		w.Header().Set("Allow", strings.Join(sortedStrings(allow), ", "))
		s.fail(w, r, apiErrorf(codeUnsupported, "method %s is not allowed on %s", r.Method, r.URL.Path).withStatus(http.StatusMethodNotAllowed))
		return
	}
	if ep.writes[method] && s.cfg.readOnly {
		s.fail(w, r, apiErrorf(codeUnsupported, "registry is read-only").withStatus(http.StatusMethodNotAllowed))
		return
	}
	h(s, w, r, rt)
}

// authorize asks the Authorizer, if any, for access.
func (s *Server) authorize(r *http.Request, access ...Access) error {
	if s.cfg.authorizer == nil {
		return nil
	}
	return s.cfg.authorizer.Authorize(r, access)
}

// allow authorizes access for r and answers the request itself (401 or
// 403) when it is not allowed.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, access ...Access) bool {
	if err := s.authorize(r, access...); err != nil {
		s.fail(w, r, authError(err))
		return false
	}
	return true
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request, _ route) {
	if !s.allow(w, r) {
		return
	}
	writeJSON(w, r, http.StatusOK, "application/json", struct{}{})
}
