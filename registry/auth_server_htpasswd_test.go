package registry

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-project/berth/internal/gate"
)

// htpasswdLine is a bcrypt htpasswd entry, at the lowest cost to keep the
// tests fast.
func htpasswdLine(t testing.TB, user, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// As htpasswd -B writes it.
	return user + ":$2y$" + strings.TrimPrefix(string(h), "$2a$") + "\n"
}

// writeHtpasswd writes an htpasswd file of user/password pairs to path
// (in a temporary dir when path is "") and returns its path.
func writeHtpasswd(t testing.TB, path string, pairs ...string) string {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "htpasswd")
	}
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		b.WriteString(htpasswdLine(t, pairs[i], pairs[i+1]))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// countCompares makes h count its bcrypt compares.
func countCompares(h *Htpasswd) *atomic.Int64 {
	var n atomic.Int64
	next := h.compare
	h.compare = func(hash, pass []byte) error {
		n.Add(1)
		return next(hash, pass)
	}
	return &n
}

func TestHtpasswdCheck(t *testing.T) {
	path := writeHtpasswd(t, "", "alice", "wonderland", "bob", "b:with:colons", "carol", "")
	h, err := LoadHtpasswd(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, pass string
		want             bool
	}{
		{"right password", "alice", "wonderland", true},
		{"colons in password", "bob", "b:with:colons", true},
		{"empty password entry", "carol", "", true},
		{"wrong password", "alice", "Wonderland", false},
		{"another user's password", "bob", "wonderland", false},
		{"empty password", "alice", "", false},
		{"unknown user", "mallory", "wonderland", false},
		{"user names are case-sensitive", "Alice", "wonderland", false},
		{"empty user", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.Check(tc.user, tc.pass); got != tc.want {
				t.Errorf("Check(%q, %q) = %v, want %v", tc.user, tc.pass, got, tc.want)
			}
		})
	}
}

func TestHtpasswdRefusesOtherFormats(t *testing.T) {
	good := htpasswdLine(t, "alice", "pw")
	for _, tc := range []struct {
		name, content string
		wantLine      string // "line N"
		wantUser      string
	}{
		{"apr1 md5", good + "bob:$apr1$Tb5Fj9nd$p2I1ttyyLd3oD1Ff8kH6h/\n", "line 2", `"bob"`},
		{"sha1", "# comment\n\n" + good + "carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "line 4", `"carol"`},
		{"crypt", "dave:rqXexS6ZhobKA\n", "line 1", `"dave"`},
		{"plain text", "erin:secret\n" + good, "line 1", `"erin"`},
		{"broken bcrypt", "frank:$2y$05$tooshort\n", "line 1", `"frank"`},
		{"no colon", good + "justaname\n", "line 2", ""},
		{"duplicate user", good + good, "line 2", `"alice"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "htpasswd")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadHtpasswd(path)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, want := range []string{path, tc.wantLine, tc.wantUser} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope")
		if _, err := LoadHtpasswd(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestHtpasswdReload(t *testing.T) {
	dir := t.TempDir()
	path := writeHtpasswd(t, filepath.Join(dir, "htpasswd"), "alice", "one", "bob", "bob")
	h, err := LoadHtpasswd(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(user, pass string, want bool) {
		t.Helper()
		if got := h.Check(user, pass); got != want {
			t.Errorf("Check(%q, %q) = %v, want %v", user, pass, got, want)
		}
	}
	check("alice", "one", true)
	check("bob", "bob", true)

	// Rewritten in place, same size (bcrypt hashes have one length), at
	// once: the coarse file clock may not have moved.
	writeHtpasswd(t, path, "alice", "two", "bob", "bob")
	check("alice", "one", false)
	check("alice", "two", true)

	// Replaced by a rename, as editors and config managers do; bob is gone.
	tmp := writeHtpasswd(t, filepath.Join(dir, "new"), "alice", "three")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	check("alice", "three", true)
	check("bob", "bob", false)

	// A bad edit locks everyone out rather than keep stale entries, and
	// Reload says why; the next good version is picked up.
	if err := os.WriteFile(path, []byte("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("alice", "three", false)
	if err := h.Reload(); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("Reload = %v", err)
	}
	writeHtpasswd(t, path, "alice", "four")
	check("alice", "four", true)

	// A removed file too.
	os.Remove(path)
	check("alice", "four", false)
	writeHtpasswd(t, path, "alice", "five")
	check("alice", "five", true)
}

func TestHtpasswdCache(t *testing.T) {
	path := writeHtpasswd(t, "", "alice", "pw", "bob", "pw", "carol", "pw")
	h, err := LoadHtpasswd(path)
	if err != nil {
		t.Fatal(err)
	}
	n := countCompares(h)
	steps := []struct {
		name, user, pass string
		want             bool
		compares         int64 // bcrypt compares the step costs
	}{
		{"first check", "alice", "pw", true, 1},
		{"cache hit", "alice", "pw", true, 0},
		{"cache hit again", "alice", "pw", true, 0},
		{"wrong password is not cached", "alice", "nope", false, 1},
		{"wrong password again", "alice", "nope", false, 1},
		{"unknown user costs a compare", "mallory", "pw", false, 1},
		{"other user", "bob", "pw", true, 1},
		{"other user cached", "bob", "pw", true, 0},
	}
	for _, s := range steps {
		before := n.Load()
		if got := h.Check(s.user, s.pass); got != s.want {
			t.Errorf("%s: Check = %v", s.name, got)
		}
		if got := n.Load() - before; got != s.compares {
			t.Errorf("%s: %d bcrypt compares, want %d", s.name, got, s.compares)
		}
	}

	t.Run("file change empties the cache", func(t *testing.T) {
		writeHtpasswd(t, path, "alice", "pw", "bob", "new")
		before := n.Load()
		if !h.Check("alice", "pw") || h.Check("bob", "pw") {
			t.Fatal("wrong answers after the change")
		}
		if got := n.Load() - before; got != 2 {
			t.Errorf("%d compares, want 2", got)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		writeHtpasswd(t, path, "alice", "pw", "bob", "pw", "carol", "pw")
		h.Reload()
		h.cacheMax = 2
		for _, u := range []string{"alice", "bob", "carol", "alice", "bob", "carol"} {
			if !h.Check(u, "pw") {
				t.Fatalf("Check(%s) failed", u)
			}
			h.mu.RLock()
			size := len(h.cache)
			h.mu.RUnlock()
			if size > 2 {
				t.Fatalf("cache holds %d entries, bound is 2", size)
			}
		}
	})
}

// TestHtpasswdApacheTool reads entries written by Apache's htpasswd.
func TestHtpasswdApacheTool(t *testing.T) {
	gate.Command(t, "htpasswd") // apache2-utils
	out, err := exec.Command("htpasswd", "-Bbn", "alice", "s3cret!").Output()
	if err != nil {
		t.Fatalf("htpasswd -Bbn: %v", err)
	}
	md5, err := exec.Command("htpasswd", "-mbn", "bob", "pw").Output()
	if err != nil {
		t.Fatalf("htpasswd -mbn: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := LoadHtpasswd(path)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Check("alice", "s3cret!") || h.Check("alice", "s3cret") {
		t.Error("htpasswd -B entry not checked right")
	}
	if err := os.WriteFile(path, append(out, md5...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHtpasswd(path); err == nil || !strings.Contains(err.Error(), `line 3: user "bob"`) { // -n ends with a blank line
		t.Errorf("an MD5 entry: err = %v", err)
	}
}
