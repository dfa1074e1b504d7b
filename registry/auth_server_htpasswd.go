package registry

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// htpasswdCacheSize bounds the cache of successful checks: enough for the
// users of a registry, small enough not to matter.
const htpasswdCacheSize = 1024

// Htpasswd is an Apache htpasswd file of bcrypt entries ("user:$2y$..."),
// as `htpasswd -B` writes it. It rereads the file when the file changes
// (checked by a stat on each Check) and is safe for concurrent use.
//
// bcrypt is slow on purpose (tens of milliseconds at the usual costs) and
// docker sends basic credentials with every request of a push, so Check
// remembers the pairs it accepted until the file changes.
type Htpasswd struct {
	path string

	// compare is bcrypt.CompareHashAndPassword; tests count calls.
	compare func(hash, pass []byte) error

	mu      sync.RWMutex
	stat    fileStamp             // of the file last read, good or bad
	gen     uint64                // bumped on every reload
	sum     [32]byte              // SHA-256 of the content last read
	users   map[string][]byte     // user -> bcrypt hash
	dummy   []byte                // a hash to compare against for unknown users
	loadErr error                 // why the file last read was refused
	cache   map[[32]byte]struct{} // HMAC(cacheKey, gen, user, pass) of accepted pairs

	cacheKey []byte // random per Htpasswd, so cache keys are not password hashes
	cacheMax int
}

// fileStamp is what tells that a file changed: size, modification time and
// identity (a rename over it makes a new file).
type fileStamp struct {
	fi    os.FileInfo
	size  int64
	mtime time.Time
	// fresh: the file was modified so shortly before it was read that a
	// second write in the same clock tick (file times are coarse) could
	// leave the stamp unchanged; such a file is read again until it is not.
	fresh bool
}

// stampFile is the stamp of fi, read now.
func stampFile(fi os.FileInfo) fileStamp {
	return fileStamp{fi: fi, size: fi.Size(), mtime: fi.ModTime(), fresh: time.Since(fi.ModTime()) < 2*time.Second}
}

func (s fileStamp) same(fi os.FileInfo) bool {
	return s.fi != nil && fi != nil && !s.fresh && s.size == fi.Size() && s.mtime.Equal(fi.ModTime()) && os.SameFile(s.fi, fi)
}

// LoadHtpasswd reads the htpasswd file at path. Every entry must be a
// bcrypt hash ($2y$, $2a$ or $2b$); blank lines and lines starting with
// '#' are skipped.
func LoadHtpasswd(path string) (*Htpasswd, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("load htpasswd %s: %w", path, err)
	}
	h := &Htpasswd{path: path, compare: bcrypt.CompareHashAndPassword, cacheKey: key, cacheMax: htpasswdCacheSize}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// Reload rereads the file now. While the file is unreadable or has a bad
// entry every Check fails (an edit must not open the registry), and Reload
// says why; the next good version of the file is picked up by Check.
func (h *Htpasswd) Reload() error {
	fi, err := os.Stat(h.path)
	if err != nil {
		err = fmt.Errorf("load htpasswd %s: %w", h.path, err)
		h.mu.Lock()
		h.setBroken(fileStamp{}, err)
		h.mu.Unlock()
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.load(fi)
}

// current rereads the file if it changed since it was last read.
func (h *Htpasswd) current() {
	fi, err := os.Stat(h.path)
	h.mu.RLock()
	same := err == nil && h.stat.same(fi)
	broken := err != nil && h.loadErr != nil && h.stat.fi == nil
	h.mu.RUnlock()
	if same || broken {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.setBroken(fileStamp{}, fmt.Errorf("load htpasswd %s: %w", h.path, err))
		return
	}
	if !h.stat.same(fi) {
		h.load(fi)
	}
}

// setBroken forgets every user: the file is gone or bad. h.mu is held.
func (h *Htpasswd) setBroken(stamp fileStamp, err error) {
	h.stat = stamp
	h.sum = [32]byte{}
	h.gen++
	h.users = nil
	h.loadErr = err
	clear(h.cache)
}

// load reads the file whose stat is fi. h.mu is held.
func (h *Htpasswd) load(fi os.FileInfo) error {
	stamp := stampFile(fi)
	b, err := os.ReadFile(h.path)
	if err != nil {
		err = fmt.Errorf("load htpasswd %s: %w", h.path, err)
		h.setBroken(stamp, err)
		return err
	}
	sum := sha256.Sum256(b)
	if h.users != nil && sum == h.sum {
		h.stat = stamp // the same users: keep the cache
		return nil
	}
	users, maxCost, err := parseHtpasswd(h.path, b)
	if err != nil {
		h.setBroken(stamp, err)
		return err
	}
	dummy := h.dummy
	if c, _ := bcrypt.Cost(dummy); dummy == nil || c != maxCost {
		// Unknown users cost one compare at the file's highest cost, so
		// that timing does not tell which users exist.
		dummy, err = bcrypt.GenerateFromPassword([]byte("berth: no such user"), maxCost)
		if err != nil {
			err = fmt.Errorf("load htpasswd %s: %w", h.path, err)
			h.setBroken(stamp, err)
			return err
		}
	}
	h.stat = stamp
	h.sum = sum
	h.gen++
	h.users = users
	h.dummy = dummy
	h.loadErr = nil
	clear(h.cache)
	return nil
}

// parseHtpasswd parses the file's content; path names it in errors. It
// returns the users and the highest bcrypt cost among them.
func parseHtpasswd(path string, b []byte) (map[string][]byte, int, error) {
	users := map[string][]byte{}
	maxCost := bcrypt.MinCost
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			return nil, 0, fmt.Errorf("load htpasswd %s: line %d: no ':' between user and password hash", path, n)
		case user == "":
			return nil, 0, fmt.Errorf("load htpasswd %s: line %d: empty user name", path, n)
		case users[user] != nil:
			return nil, 0, fmt.Errorf("load htpasswd %s: line %d: user %q: listed twice", path, n, user)
		}
		hash = strings.TrimSpace(hash)
		if !strings.HasPrefix(hash, "$2y$") && !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") {
			return nil, 0, fmt.Errorf("load htpasswd %s: line %d: user %q: not a bcrypt hash (only bcrypt is accepted: create entries with htpasswd -B)", path, n, user)
		}
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, 0, fmt.Errorf("load htpasswd %s: line %d: user %q: bad bcrypt hash: %w", path, n, user, err)
		}
		maxCost = max(maxCost, cost)
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("load htpasswd %s: %w", path, err)
	}
	return users, maxCost, nil
}

// Check reports whether pass is user's password. As with every bcrypt
// implementation (Apache's too), only its first 72 bytes count.
func (h *Htpasswd) Check(user, pass string) bool {
	_, ok := h.check(user, pass)
	return ok
}

// check is Check that also returns the generation of the file that
// accepted the pair.
func (h *Htpasswd) check(user, pass string) (uint64, bool) {
	h.current()
	h.mu.RLock()
	gen, hash, dummy, broken := h.gen, h.users[user], h.dummy, h.users == nil
	key := h.cacheEntry(gen, user, pass)
	_, cached := h.cache[key]
	h.mu.RUnlock()
	if broken {
		return 0, false
	}
	if cached {
		return gen, true
	}
	known := hash != nil
	if !known {
		hash = dummy
	}
	ok := h.compare(hash, []byte(pass)) == nil && known
	if !ok {
		return 0, false
	}
	h.mu.Lock()
	if h.gen == gen {
		if h.cache == nil {
			h.cache = map[[32]byte]struct{}{}
		}
		if len(h.cache) >= h.cacheMax {
			for k := range h.cache { // drop an arbitrary entry
				delete(h.cache, k)
				break
			}
		}
		h.cache[key] = struct{}{}
	}
	h.mu.Unlock()
	return gen, true
}

// cacheEntry is the cache key of a pair: an HMAC under a per-process
// random key of the generation, user and password, unambiguously framed.
func (h *Htpasswd) cacheEntry(gen uint64, user, pass string) [32]byte {
	m := hmac.New(sha256.New, h.cacheKey)
	fmt.Fprintf(m, "%d\x00%d:%s\x00%s", gen, len(user), user, pass)
	var k [32]byte
	m.Sum(k[:0])
	return k
}

// entryTag is a short digest of user's current entry, "" when there is
// none: a refresh token carries it, so that changing a password (or
// removing the user) revokes the user's refresh tokens.
func (h *Htpasswd) entryTag(user string) string {
	h.current()
	h.mu.RLock()
	hash := h.users[user]
	h.mu.RUnlock()
	if hash == nil {
		return ""
	}
	sum := sha256.Sum256(hash)
	return fmt.Sprintf("%x", sum[:12])
}

// sameTag compares entry tags in constant time.
func sameTag(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
