package registry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/berth-project/berth/internal/lazyre"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/content"
)

// Uploads. A session (POST without a digest) is a record in the database
// and, once data arrives, an ingest in the content store. Its writer stays
// open in memory between requests, so a chunked upload hashes each byte
// once; an idle writer is closed after writerIdle, and a server that
// restarted opens it again, which rehashes what is there. The ingest's
// length, not the record, is the upload's offset: a request cut off
// mid-chunk leaves the bytes that arrived, and the client learns where to
// go on from the status (GET) or a 416.

// writerIdle is how long an upload's writer stays open without a request.
var writerIdle = 5 * time.Minute

// uploadState is a session's open writer. Its mutex serialises the
// session's requests.
type uploadState struct {
	mu   sync.Mutex
	id   string
	repo string
	w    content.Writer // nil when closed
	used time.Time
	gone bool // finished, cancelled or purged: the session is no more
}

func (st *uploadState) closeWriter() {
	if st.w != nil {
		st.w.Close()
		st.w = nil
	}
}

var uploadIDRE = lazyre.New(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// newUploadID returns a random (version 4) UUID.
func newUploadID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func uploadUnknown(id string) *apiError {
	return apiErrorf(codeBlobUploadUnknown, "blob upload unknown to registry").withDetail(map[string]string{"uuid": id})
}

// uploadLocation is the URL path of a session.
func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

// rangeHeader is the Range of an upload holding offset bytes ("0-0" for
// none, as docker-registry says).
func rangeHeader(offset int64) string {
	if offset == 0 {
		return "0-0"
	}
	return "0-" + strconv.FormatInt(offset-1, 10)
}

func setUploadHeaders(w http.ResponseWriter, name, id string, offset int64) {
	h := w.Header()
	h.Set("Location", uploadLocation(name, id))
	h.Set("Range", rangeHeader(offset))
	h.Set("Docker-Upload-UUID", id)
}

// bufPool holds the buffers request bodies are copied through.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// startUpload answers POST /v2/<name>/blobs/uploads/: a cross-repository
// mount (?mount=), a whole blob in one request (?digest=) or a new session.
func (s *Server) startUpload(w http.ResponseWriter, r *http.Request, rt route) {
	q := r.URL.Query()
	if q.Has("mount") {
		s.mount(w, r, rt, q.Get("mount"), q.Get("from"))
		return
	}
	if !s.allow(w, r, RepositoryAccess(rt.name, ActionPull, ActionPush)) {
		return
	}
	if q.Has("digest") {
		s.postBlob(w, r, rt, q.Get("digest"))
		return
	}
	s.newSession(w, r, rt)
}

// newSession records a session and answers 202 with its location.
func (s *Server) newSession(w http.ResponseWriter, r *http.Request, rt route) {
	id := newUploadID()
	now := time.Now().UTC()
	err := s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketUploads), []byte(id), uploadRecord{Repo: rt.name, Started: now, Touched: now})
	})
	if err != nil {
		s.fail(w, r, fmt.Errorf("start upload to %s: %w", rt.name, err))
		return
	}
	setUploadHeaders(w, rt.name, id, 0)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

// postBlob takes a whole blob in the POST: written to an ingest that no
// session owns (the janitor removes it if the server dies on the way),
// verified, linked.
func (s *Server) postBlob(w http.ResponseWriter, r *http.Request, rt route, digestParam string) {
	d, err := checkServerDigest(digestParam)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ref := uploadRef(newUploadID())
	cw, err := s.store.Writer(r.Context(), ref, ocispec.Descriptor{})
	if err != nil {
		s.fail(w, r, fmt.Errorf("upload to %s: %w", rt.name, err))
		return
	}
	if err := s.receive(cw, r.Body, r.ContentLength); err != nil {
		cw.Close()
		s.abortIngest(ref)
		s.fail(w, r, err)
		return
	}
	size := cw.Offset()
	if err := s.commitUpload(cw, d); err != nil {
		s.abortIngest(ref)
		s.fail(w, r, err)
		return
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		rb, err := createRepo(tx, rt.name)
		if err != nil {
			return err
		}
		return rb.linkBlob(d, size)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	blobCreated(w, rt.name, d)
}

// mount links blob d of repository from (or, without from, of any
// repository the caller may pull it from) into the target repository.
// When it cannot (the blob is not there, or the caller may not read the
// source) it starts an ordinary session instead, as the spec asks.
func (s *Server) mount(w http.ResponseWriter, r *http.Request, rt route, mountParam, from string) {
	target := RepositoryAccess(rt.name, ActionPull, ActionPush)
	d, err := checkServerDigest(mountParam)
	if err != nil {
		if s.allow(w, r, target) {
			s.fail(w, r, err)
		}
		return
	}
	var sources []string
	if from != "" {
		if err := checkName(from); err != nil {
			if s.allow(w, r, target) {
				s.fail(w, r, err)
			}
			return
		}
		if err := s.authorize(r, target, RepositoryAccess(from, ActionPull)); err != nil {
			// Perhaps only the source is out of reach: then this is
			// an ordinary upload, if the target is allowed.
			if !s.allow(w, r, target) {
				return
			}
			// Unless the Authorizer asks the client to authenticate
			// again: a bearer token holds only the scopes its client
			// asked for, so ask for the source's too, as distribution
			// does. A caller known and refused the source uploads.
			var ch *Challenge
			if errors.As(err, &ch) {
				s.fail(w, r, authError(err))
				return
			}
			s.newSession(w, r, rt)
			return
		}
		sources = []string{from}
	} else {
		if !s.allow(w, r, target) {
			return
		}
		repos, err := s.reposLinking(d)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, name := range repos {
			if name == rt.name || s.authorize(r, RepositoryAccess(name, ActionPull)) == nil {
				sources = append(sources, name)
				break
			}
		}
	}
	mounted := false
	if len(sources) > 0 {
		if _, err := s.store.Info(r.Context(), d); err == nil {
			err = s.db.Update(func(tx *bolt.Tx) error {
				src := openRepo(tx, sources[0])
				if src == nil {
					return nil
				}
				size, ok := src.blobSize(d)
				if !ok {
					return nil
				}
				dst, err := createRepo(tx, rt.name)
				if err != nil {
					return err
				}
				mounted = true
				return dst.linkBlob(d, size)
			})
			if err != nil {
				s.fail(w, r, err)
				return
			}
		}
	}
	if !mounted {
		s.newSession(w, r, rt)
		return
	}
	blobCreated(w, rt.name, d)
}

// maxMountSources caps how many repositories a mount without a source
// looks at.
const maxMountSources = 100

// reposLinking lists (up to maxMountSources) repositories that link d.
func (s *Server) reposLinking(d digest.Digest) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEachBucket(func(k []byte) error {
			if len(out) >= maxMountSources {
				return nil
			}
			if rb := openRepo(tx, string(k)); rb != nil {
				if _, ok := rb.blobSize(d); ok {
					out = append(out, string(k))
				}
			}
			return nil
		})
	})
	return out, err
}

func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// acquire returns the session id of repository name, locked, with its
// last use stamped. release unlocks it.
func (s *Server) acquire(name, id string) (*uploadState, error) {
	if !uploadIDRE.MatchString(id) {
		return nil, uploadUnknown(id)
	}
	s.mu.Lock()
	st := s.uploads[id]
	s.mu.Unlock()
	if st == nil {
		var rec uploadRecord
		var ok bool
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			rec, ok, err = getJSON[uploadRecord](tx.Bucket(bucketUploads), []byte(id))
			return err
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, uploadUnknown(id)
		}
		s.mu.Lock()
		if st = s.uploads[id]; st == nil {
			st = &uploadState{id: id, repo: rec.Repo}
			s.uploads[id] = st
		}
		s.mu.Unlock()
	}
	if st.repo != name {
		return nil, uploadUnknown(id)
	}
	st.mu.Lock()
	if st.gone {
		st.mu.Unlock()
		return nil, uploadUnknown(id)
	}
	st.used = time.Now()
	return st, nil
}

func (s *Server) release(st *uploadState) {
	st.used = time.Now()
	if s.closed.Load() {
		// Close skipped this busy session: let go of its ingest now.
		st.closeWriter()
	}
	st.mu.Unlock()
}

// forget ends session st (locked): it leaves memory and the database.
func (s *Server) forget(st *uploadState) error {
	st.gone = true
	st.closeWriter()
	s.mu.Lock()
	if s.uploads[st.id] == st {
		delete(s.uploads, st.id)
	}
	s.mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUploads).Delete([]byte(st.id))
	})
}

// endSession ends session st (locked) and discards its data.
func (s *Server) endSession(st *uploadState) error {
	st.closeWriter()
	s.abortIngest(uploadRef(st.id))
	return s.forget(st)
}

// openWriter opens st's writer if it is closed, resuming its ingest.
func (s *Server) openWriter(ctx context.Context, st *uploadState) error {
	if st.w != nil {
		return nil
	}
	w, err := s.store.Writer(ctx, uploadRef(st.id), ocispec.Descriptor{})
	if err != nil {
		return fmt.Errorf("open upload %s: %w", st.id, err)
	}
	st.w = w
	return nil
}

// abortIngest discards the ingest of ref, unless someone holds it.
func (s *Server) abortIngest(ref string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.store.Abort(ctx, ref); err != nil {
		s.cfg.logf("registry: discard upload data %s: %v", ref, err)
	}
}

// parseContentRange reads a chunk's Content-Range: "<start>-<end>", as
// the spec writes it, or "bytes <start>-<end>/<total>", as some clients do.
func parseContentRange(v string) (start, end int64, err error) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "bytes ")
	v = strings.TrimPrefix(v, "bytes=")
	v, _, _ = strings.Cut(v, "/")
	a, b, ok := strings.Cut(v, "-")
	if ok {
		start, err = strconv.ParseInt(a, 10, 64)
		if err == nil {
			end, err = strconv.ParseInt(b, 10, 64)
		}
	}
	if !ok || err != nil || start < 0 || end < start {
		return 0, 0, fmt.Errorf("bad Content-Range %q", v)
	}
	return start, end, nil
}

// bodyReader remembers whether a copy failed reading (the client) or
// writing (the server).
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// receive copies a request body of length bytes (-1: unknown, read to
// the end) into w, within the blob size limit. It never writes more than
// length bytes; a stream over the limit is written to one byte past it,
// and the caller ends the session (errors with status 413).
func (s *Server) receive(w content.Writer, body io.Reader, length int64) error {
	room := int64(-1)
	if s.cfg.maxBlob > 0 {
		room = s.cfg.maxBlob - w.Offset()
		if length > room {
			return s.tooLarge(w.Offset() + length)
		}
	}
	src := body
	switch {
	case length >= 0:
		src = io.LimitReader(body, length)
	case room >= 0:
		src = io.LimitReader(body, room+1)
	}
	br := &bodyReader{r: src}
	bp := bufPool.Get().(*[]byte)
	n, err := io.CopyBuffer(w, br, *bp)
	bufPool.Put(bp)
	switch {
	case br.err != nil:
		return apiErrorf(codeBlobUploadInvalid, "upload cut off after %d bytes: %v", n, br.err)
	case err != nil:
		return fmt.Errorf("write upload: %w", err)
	case length < 0 && room >= 0 && n > room:
		return s.tooLarge(w.Offset())
	case length >= 0 && n != length:
		return apiErrorf(codeBlobUploadInvalid, "upload cut off after %d of %d bytes", n, length)
	}
	return nil
}

// isTooLarge reports whether err is receive's refusal of a blob over the
// size limit.
func isTooLarge(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusRequestEntityTooLarge
}

func (s *Server) tooLarge(size int64) *apiError {
	return apiErrorf(codeSizeInvalid, "blob of %d bytes or more is over the limit of %d bytes", size, s.cfg.maxBlob).withStatus(http.StatusRequestEntityTooLarge)
}

// receiveChunk takes the body of a PATCH or closing PUT into st: the
// chunk must start where the upload stands (416 otherwise), and a chunk
// without Content-Range (a stream) is appended.
func (s *Server) receiveChunk(r *http.Request, st *uploadState) error {
	length := r.ContentLength
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, err := parseContentRange(cr)
		if err != nil || start != st.w.Offset() {
			msg := fmt.Sprintf("chunk %s does not start at %d, where the upload stands", cr, st.w.Offset())
			if err != nil {
				msg = err.Error()
			}
			return apiErrorf(codeBlobUploadInvalid, "%s", msg).
				withStatus(http.StatusRequestedRangeNotSatisfiable).
				withHeader("Location", uploadLocation(st.repo, st.id)).
				withHeader("Range", rangeHeader(st.w.Offset())).
				withHeader("Docker-Upload-UUID", st.id)
		}
		if length >= 0 && length != end-start+1 {
			return apiErrorf(codeSizeInvalid, "Content-Length %d does not match Content-Range %s", length, cr)
		}
		length = end - start + 1
	}
	return s.receive(st.w, r.Body, length)
}

// touch records where session st stands.
func (s *Server) touch(st *uploadState) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUploads)
		rec, ok, err := getJSON[uploadRecord](b, []byte(st.id))
		if err != nil {
			return err
		}
		if !ok {
			return uploadUnknown(st.id)
		}
		rec.Touched = time.Now().UTC()
		rec.Offset = st.w.Offset()
		return putJSON(b, []byte(st.id), rec)
	})
}

// session authorizes a request on upload session rt.ref and takes the
// session (and, with open, its writer), or answers the request itself.
// The caller releases the session.
func (s *Server) session(w http.ResponseWriter, r *http.Request, rt route, open bool) (*uploadState, bool) {
	if !s.allow(w, r, RepositoryAccess(rt.name, ActionPull, ActionPush)) {
		return nil, false
	}
	st, err := s.acquire(rt.name, rt.ref)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	if open {
		if err := s.openWriter(r.Context(), st); err != nil {
			s.release(st)
			s.fail(w, r, err)
			return nil, false
		}
	}
	return st, true
}

// patchUpload appends a chunk (or a stream) to a session.
func (s *Server) patchUpload(w http.ResponseWriter, r *http.Request, rt route) {
	st, ok := s.session(w, r, rt, true)
	if !ok {
		return
	}
	defer s.release(st)
	recvErr := s.receiveChunk(r, st)
	if isTooLarge(recvErr) {
		s.endSession(st)
		s.fail(w, r, recvErr)
		return
	}
	if err := s.touch(st); err != nil && recvErr == nil {
		recvErr = err
	}
	if recvErr != nil {
		s.fail(w, r, recvErr)
		return
	}
	setUploadHeaders(w, rt.name, st.id, st.w.Offset())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

// putUpload closes a session: the last chunk, if the body has one, then
// the digest check, then the link.
func (s *Server) putUpload(w http.ResponseWriter, r *http.Request, rt route) {
	st, ok := s.session(w, r, rt, true)
	if !ok {
		return
	}
	defer s.release(st)
	d, err := checkServerDigest(r.URL.Query().Get("digest"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.ContentLength != 0 || r.Header.Get("Content-Range") != "" {
		if err := s.receiveChunk(r, st); err != nil {
			if isTooLarge(err) {
				s.endSession(st)
			} else {
				s.touch(st)
			}
			s.fail(w, r, err)
			return
		}
	}
	size := st.w.Offset()
	cw := st.w
	st.w = nil // Commit lets go of it, whatever the outcome
	if err := s.commitUpload(cw, d); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			// The data did not match: Commit discarded it, so the
			// session is over.
			s.forget(st)
		}
		s.fail(w, r, err)
		return
	}
	st.gone = true
	s.mu.Lock()
	delete(s.uploads, st.id)
	s.mu.Unlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketUploads).Delete([]byte(st.id)); err != nil {
			return err
		}
		rb, err := createRepo(tx, rt.name)
		if err != nil {
			return err
		}
		return rb.linkBlob(d, size)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	blobCreated(w, rt.name, d)
}

// commitUpload makes the data of cw the blob d. A blob that is already
// there is fine: the data matched it.
func (s *Server) commitUpload(cw content.Writer, d digest.Digest) error {
	err := cw.Commit(context.Background(), 0, d)
	switch {
	case err == nil, errors.Is(err, content.ErrAlreadyExists):
		return nil
	case errors.Is(err, content.ErrInvalid):
		return apiErrorf(codeDigestInvalid, "provided digest did not match uploaded content").withDetail(map[string]string{"digest": d.String()})
	}
	return fmt.Errorf("commit upload as %s: %w", d, err)
}

// uploadStatus answers where a session stands.
func (s *Server) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) {
	// The ingest is the truth; after a restart, opening it is what the
	// next PATCH would do anyway.
	st, ok := s.session(w, r, rt, true)
	if !ok {
		return
	}
	defer s.release(st)
	setUploadHeaders(w, rt.name, st.id, st.w.Offset())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}

// cancelUpload ends a session and discards its data.
func (s *Server) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) {
	st, ok := s.session(w, r, rt, false)
	if !ok {
		return
	}
	defer s.release(st)
	if err := s.endSession(st); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}
