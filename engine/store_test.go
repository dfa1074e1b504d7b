package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestStoreResolve(t *testing.T) {
	for _, daemon := range []bool{false, true} {
		name := "daemonless"
		if daemon {
			name = "daemon"
		}
		t.Run(name, func(t *testing.T) {
			s, err := openStore(filepath.Join(t.TempDir(), "engine.db"), daemon)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			recs := []*ctrRecord{
				{ID: "abc123" + strings.Repeat("0", 58), Name: "web"},
				{ID: "abd456" + strings.Repeat("0", 58), Name: "db"},
				{ID: "fff789" + strings.Repeat("0", 58), Name: "abc123"}, // a name that looks like an ID prefix
			}
			if err := s.update(func(tx *bolt.Tx) error {
				for _, r := range recs {
					if err := putRecord(tx, r); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				ref, want string
				kind      Kind
				msg       string
			}{
				{ref: recs[0].ID, want: recs[0].ID},
				{ref: "web", want: recs[0].ID},
				{ref: "/web", want: recs[0].ID},
				{ref: "abd", want: recs[1].ID},
				{ref: "abc123", want: recs[2].ID}, // the name wins over the prefix, as in docker
				{ref: "ab", kind: KindInvalid, msg: "multiple IDs found with provided prefix: ab"},
				{ref: "nosuch", kind: KindNotFound, msg: "No such container: nosuch"},
				{ref: "0123", kind: KindNotFound, msg: "No such container: 0123"},
				{ref: "", kind: KindInvalid, msg: "No container name or ID supplied"},
			} {
				t.Run(tc.ref, func(t *testing.T) {
					var got string
					err := s.read(func(tx *bolt.Tx) error {
						var err error
						got, err = resolve(tx, tc.ref)
						return err
					})
					if tc.msg != "" {
						if err == nil || err.Error() != tc.msg || KindOf(err) != tc.kind {
							t.Fatalf("resolve(%q) = %q, %v; want %q", tc.ref, got, err, tc.msg)
						}
						return
					}
					if err != nil || got != tc.want {
						t.Fatalf("resolve(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
					}
				})
			}
			t.Run("delete", func(t *testing.T) {
				if err := s.update(func(tx *bolt.Tx) error { return deleteRecord(tx, recs[0]) }); err != nil {
					t.Fatal(err)
				}
				s.read(func(tx *bolt.Tx) error {
					if r, _ := getRecord(tx, recs[0].ID); r != nil || nameOwner(tx, "web") != "" {
						t.Errorf("record or name left: %v %q", r, nameOwner(tx, "web"))
					}
					return nil
				})
			})
		})
	}
}

// TestStoreShared: daemonless stores of several engines share the file,
// transaction by transaction; a daemon's store keeps the others out, with
// an error that says why.
func TestStoreShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engine.db")
	a, err := openStore(path, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openStore(path, false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, s := range []*store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				r := &ctrRecord{ID: strings.Repeat(string(rune('a'+i)), 10) + string(rune('a'+j)), Name: "n" + string(rune('a'+i)) + string(rune('a'+j))}
				if err := s.update(func(tx *bolt.Tx) error { return putRecord(tx, r) }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var n int
	a.read(func(tx *bolt.Tx) error {
		recs, err := allRecords(tx)
		n = len(recs)
		return err
	})
	if n != 40 {
		t.Errorf("%d records, want 40", n)
	}
	d, err := openStore(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	c := &store{path: path, timeout: 50 * time.Millisecond}
	_, err = c.open(false)
	if err == nil || !strings.Contains(err.Error(), "still locked by another process") || !strings.Contains(err.Error(), path) {
		t.Errorf("open beside a daemon: %v", err)
	}
}

func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := tryLockFile(path); ok || err != nil {
		t.Errorf("second lock: ok %v, %v", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lockFile(ctx, path); err != context.Canceled {
		t.Errorf("lock with a cancelled context: %v", err)
	}
	unlock()
	f, ok, err := tryLockFile(path)
	if !ok || err != nil {
		t.Fatalf("lock after unlock: ok %v, %v", ok, err)
	}
	f.Close()
	if _, err := lockFile(context.Background(), filepath.Join(t.TempDir(), "gone", "lock")); err == nil {
		t.Error("lock in a missing directory worked")
	}
}

func TestOpenRefusesLongExecRoot(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(context.Background(), Options{
		Root: dir, RuntimeRoot: filepath.Join(dir, "rt"), ExecRoot: "/run/" + strings.Repeat("x", 40), Self: "/bin/true",
	})
	if err == nil || !strings.Contains(err.Error(), "too long for the monitors' sockets") {
		t.Errorf("Open with a long exec root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "engine.db")); !os.IsNotExist(err) {
		t.Errorf("a refused Open left engine.db: %v", err)
	}
}
