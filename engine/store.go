package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The records live in one bbolt file, Root/engine.db:
//
//	containers: ID -> JSON ctrRecord
//	names:      name (without "/") -> ID
//
// Every Update is committed with an fsync before it returns, so what an
// API call acknowledged survives a crash.
var (
	bucketContainers = []byte("containers")
	bucketNames      = []byte("names")
)

// storeLockTimeout is how long a transaction of a daemonless engine waits
// for the file lock another process holds.
const storeLockTimeout = 10 * time.Second

// store is the records file. A daemon holds it open (and so locked) for its
// whole life; a daemonless engine (the CLI's) opens it for each transaction
// only, so that several processes share it.
type store struct {
	path   string
	daemon bool
	// mu serialises a daemonless engine's transactions: two opens of
	// the file in one process would lock each other out.
	mu sync.Mutex
	db *bolt.DB // held open in daemon mode
	// timeout is how long an open waits for the file lock
	// (storeLockTimeout when zero).
	timeout time.Duration
}

// openStore opens (creating) the records file at path and its buckets.
func openStore(path string, daemon bool) (*store, error) {
	s := &store{path: path, daemon: daemon}
	db, err := s.open(false)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketContainers, bucketNames, bucketNetworks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create buckets in %s: %w", path, err)
	}
	if daemon {
		s.db = db
	} else if err := db.Close(); err != nil {
		return nil, fmt.Errorf("close %s: %w", path, err)
	}
	return s, nil
}

func (s *store) open(readOnly bool) (*bolt.DB, error) {
	timeout := s.timeout
	if timeout == 0 {
		timeout = storeLockTimeout
	}
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: readOnly})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open container records %s: still locked by another process after %v (is a berth daemon using this root? talk to it instead)", s.path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open container records %s: %w", s.path, err)
	}
	return db, nil
}

// update runs fn in a read-write transaction, committed (and synced)
// unless fn fails.
func (s *store) update(fn func(tx *bolt.Tx) error) error {
	if s.daemon {
		return s.db.Update(fn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db, err := s.open(false)
	if err != nil {
		return err
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", s.path, cerr)
	}
	return err
}

// read runs fn in a read-only transaction.
func (s *store) read(fn func(tx *bolt.Tx) error) error {
	if s.daemon {
		return s.db.View(fn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db, err := s.open(true)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(fn)
}

func (s *store) close() error {
	if s.db != nil {
		return s.db.Close()
	}
	return nil
}

// getRecord decodes the record of id; nil when there is none.
func getRecord(tx *bolt.Tx, id string) (*ctrRecord, error) {
	b := tx.Bucket(bucketContainers).Get([]byte(id))
	if b == nil {
		return nil, nil
	}
	r := new(ctrRecord)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("decode the record of container %s: %w", id, err)
	}
	return r, nil
}

// putRecord stores r and its name.
func putRecord(tx *bolt.Tx, r *ctrRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode the record of container %s: %w", r.ID, err)
	}
	if err := tx.Bucket(bucketContainers).Put([]byte(r.ID), b); err != nil {
		return err
	}
	return tx.Bucket(bucketNames).Put([]byte(r.Name), []byte(r.ID))
}

// deleteRecord removes the record of id and its name.
func deleteRecord(tx *bolt.Tx, r *ctrRecord) error {
	if err := tx.Bucket(bucketContainers).Delete([]byte(r.ID)); err != nil {
		return err
	}
	names := tx.Bucket(bucketNames)
	if string(names.Get([]byte(r.Name))) == r.ID {
		return names.Delete([]byte(r.Name))
	}
	return nil
}

// nameOwner returns the ID holding name ("" when free).
func nameOwner(tx *bolt.Tx, name string) string {
	return string(tx.Bucket(bucketNames).Get([]byte(name)))
}

// allRecords decodes every record.
func allRecords(tx *bolt.Tx) ([]*ctrRecord, error) {
	var out []*ctrRecord
	err := tx.Bucket(bucketContainers).ForEach(func(k, v []byte) error {
		r := new(ctrRecord)
		if err := json.Unmarshal(v, r); err != nil {
			return fmt.Errorf("decode the record of container %s: %w", k, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// resolve finds the container ref names as docker does: a full ID, then a
// name (with or without its "/"), then a unique ID prefix.
func resolve(tx *bolt.Tx, ref string) (string, error) {
	if ref == "" {
		return "", Invalid("No container name or ID supplied")
	}
	ctrs := tx.Bucket(bucketContainers)
	if ctrs.Get([]byte(ref)) != nil {
		return ref, nil
	}
	if id := nameOwner(tx, strings.TrimPrefix(ref, "/")); id != "" {
		return id, nil
	}
	if !isHexPrefix(ref) {
		return "", NotFound("No such container: %s", ref)
	}
	var found string
	c := ctrs.Cursor()
	p := []byte(ref)
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		if found != "" {
			return "", Invalid("multiple IDs found with provided prefix: %s", ref)
		}
		found = string(k)
	}
	if found == "" {
		return "", NotFound("No such container: %s", ref)
	}
	return found, nil
}

func isHexPrefix(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// errUnchanged, returned by a mutate function, leaves the record as it was
// without failing the call.
var errUnchanged = errors.New("unchanged")

// load returns a copy of the record ref names.
func (e *Engine) load(ref string) (*ctrRecord, error) {
	var r *ctrRecord
	err := e.core.store.read(func(tx *bolt.Tx) error {
		id, err := resolve(tx, ref)
		if err != nil {
			return err
		}
		r, err = getRecord(tx, id)
		if err == nil && r == nil {
			err = NotFound("No such container: %s", ref)
		}
		return err
	})
	return r, err
}

// mutate changes the record of id in one transaction: fn edits r, and
// returns errUnchanged to write nothing. The record as stored afterwards is
// returned, with whether fn changed it.
func (e *Engine) mutate(id string, fn func(r *ctrRecord) error) (*ctrRecord, bool, error) {
	var out *ctrRecord
	changed := false
	err := e.core.store.update(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if r == nil {
			return NotFound("No such container: %s", id)
		}
		out = r
		switch err := fn(r); {
		case errors.Is(err, errUnchanged):
			return nil
		case err != nil:
			return err
		}
		changed = true
		return putRecord(tx, r)
	})
	if err != nil {
		return nil, false, err
	}
	return out, changed, nil
}

// records returns every record.
func (e *Engine) records() ([]*ctrRecord, error) {
	var out []*ctrRecord
	err := e.core.store.read(func(tx *bolt.Tx) error {
		var err error
		out, err = allRecords(tx)
		return err
	})
	return out, err
}
