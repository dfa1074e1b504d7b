package registry

import (
	"context"
	"errors"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// janitorTick is how often the janitor wakes to close idle writers; it
// purges expired uploads every hour (or every TTL, when that is shorter).
var janitorTick = time.Minute

func (s *Server) janitor() {
	defer close(s.done)
	tick := min(janitorTick, s.cfg.uploadTTL)
	every := min(time.Hour, s.cfg.uploadTTL)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.closeIdleWriters(now)
			if now.Sub(last) >= every {
				s.purge(now)
				last = now
			}
		}
	}
}

// closeIdleWriters lets go of the writers of sessions nobody used for
// writerIdle; a later request reopens them.
func (s *Server) closeIdleWriters(now time.Time) {
	s.mu.Lock()
	states := make([]*uploadState, 0, len(s.uploads))
	for _, st := range s.uploads {
		states = append(states, st)
	}
	s.mu.Unlock()
	for _, st := range states {
		if !st.mu.TryLock() {
			continue // in use
		}
		if st.w != nil && now.Sub(st.used) > writerIdle {
			st.closeWriter()
		}
		st.mu.Unlock()
	}
}

// purge removes the uploads nobody touched for the upload TTL, and the
// content store's unfinished writes that no upload owns (left by a server
// that died, or by a single-request upload cut off). A write in progress
// holds its ingest's lock, so it is never removed under its writer.
func (s *Server) purge(now time.Time) {
	ingests, err := s.store.Ingests(context.Background())
	if err != nil {
		s.cfg.logf("registry: janitor: %v", err)
		return
	}
	live := map[string]bool{}
	var expired []string
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUploads).ForEach(func(k, v []byte) error {
			rec, _, err := getJSON[uploadRecord](tx.Bucket(bucketUploads), k)
			if err == nil && now.Sub(rec.Touched) <= s.cfg.uploadTTL {
				live[string(k)] = true
			} else {
				expired = append(expired, string(k))
			}
			return nil
		})
	})
	if err != nil {
		s.cfg.logf("registry: janitor: %v", err)
		return
	}
	for _, id := range expired {
		// Hold the session (a placeholder if it is not in memory) while
		// it goes, so that no request picks it up half-removed.
		s.mu.Lock()
		st := s.uploads[id]
		if st == nil {
			st = &uploadState{id: id}
			s.uploads[id] = st
		}
		s.mu.Unlock()
		if !st.mu.TryLock() {
			continue // a request is working on it right now
		}
		if st.gone || (!st.used.IsZero() && now.Sub(st.used) <= s.cfg.uploadTTL) {
			st.mu.Unlock()
			continue
		}
		st.gone = true
		st.closeWriter()
		s.mu.Lock()
		delete(s.uploads, id)
		s.mu.Unlock()
		s.discardIngest(uploadRef(id))
		err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketUploads).Delete([]byte(id)) })
		st.mu.Unlock()
		if err != nil {
			s.cfg.logf("registry: janitor: remove upload %s: %v", id, err)
			continue
		}
		s.cfg.logf("registry: janitor: removed upload %s, idle for over %s", id, s.cfg.uploadTTL)
	}
	for _, in := range ingests {
		if id, ok := strings.CutPrefix(in.Ref, "upload-"); ok && live[id] {
			continue
		}
		if s.discardIngest(in.Ref) {
			s.cfg.logf("registry: janitor: removed unfinished write %s (%d bytes) that no upload owns", in.Ref, in.Offset)
		}
	}
}

// discardIngest removes the unfinished write ref unless a writer holds
// it, and reports whether it did.
func (s *Server) discardIngest(ref string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.store.Abort(ctx, ref)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.cfg.logf("registry: janitor: discard %s: %v", ref, err)
	}
	return err == nil
}
