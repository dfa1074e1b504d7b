package registry

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// getBlob answers GET and HEAD of a blob linked in the repository, with
// Range support. The file goes out through http.ServeContent, so the
// kernel copies it (sendfile) straight from the page cache.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, rt route) {
	if !s.allow(w, r, RepositoryAccess(rt.name, ActionPull)) {
		return
	}
	d, err := checkServerDigest(rt.ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.linkedBlob(rt.name, d); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.store.BlobPath(d)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		// Linked, but gone from the store (removed by hand).
		s.fail(w, r, blobUnknown(d))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Etag", `"`+d.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	http.ServeContent(w, r, "", time.Time{}, f)
}

// deleteBlob unlinks a blob from the repository. Its bytes stay in the
// store, where other repositories may link them, until GarbageCollect
// finds nothing that refers to them.
func (s *Server) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) {
	if !s.allow(w, r, RepositoryAccess(rt.name, ActionDelete)) {
		return
	}
	d, err := checkServerDigest(rt.ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		rb := openRepo(tx, rt.name)
		if rb == nil {
			return nameUnknown(rt.name)
		}
		if _, ok := rb.blobSize(d); !ok {
			return blobUnknown(d)
		}
		if err := rb.blobs.Delete([]byte(d)); err != nil {
			return err
		}
		return pruneRepo(tx, rt.name)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

// linkedBlob returns the size of blob d when repository name links it.
func (s *Server) linkedBlob(name string, d digest.Digest) (int64, error) {
	var size int64
	err := s.db.View(func(tx *bolt.Tx) error {
		rb := openRepo(tx, name)
		if rb == nil {
			return nameUnknown(name)
		}
		n, ok := rb.blobSize(d)
		if !ok {
			return blobUnknown(d)
		}
		size = n
		return nil
	})
	return size, err
}

func blobUnknown(d digest.Digest) *apiError {
	return apiErrorf(codeBlobUnknown, "blob unknown to registry").withDetail(map[string]string{"digest": d.String()})
}

func nameUnknown(name string) *apiError {
	return apiErrorf(codeNameUnknown, "repository name not known to registry").withDetail(map[string]string{"name": name})
}
