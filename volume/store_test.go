package volume

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateGetListRemove(t *testing.T) {
	s := openStore(t)
	v, created, err := s.Create("data", "", nil, map[string]string{"a": "b"}, false)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	if v.Name != "data" || v.Driver != "local" || v.Mountpoint != filepath.Join(s.Root(), "data", "_data") ||
		v.Labels["a"] != "b" || v.Anonymous || v.CreatedAt.IsZero() || v.NeedsMount() {
		t.Fatalf("created %+v", v)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
		t.Fatalf("mountpoint: %v", err)
	}
	if _, _, err := s.Create("other", "local", nil, nil, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("data")
	if err != nil || got.Name != "data" || got.Labels["a"] != "b" || !got.CreatedAt.Equal(v.CreatedAt) {
		t.Fatalf("get %+v %v", got, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].Name != "data" || list[1].Name != "other" {
		t.Fatalf("list %+v %v", list, err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(v.Mountpoint, "d"), 0o755)
	os.WriteFile(filepath.Join(v.Mountpoint, "d", "g"), make([]byte, 24), 0o644)
	os.Link(filepath.Join(v.Mountpoint, "f"), filepath.Join(v.Mountpoint, "hard"))
	if n, err := s.Usage("data"); err != nil || n != 1024 {
		t.Fatalf("usage %d %v, want 1024", n, err)
	}
	// Mount of a plain volume is its directory, and keeps no refs.
	if p, err := s.Mount("data", "c1"); err != nil || p != v.Mountpoint {
		t.Fatalf("mount %q %v", p, err)
	}
	if err := s.Unmount("data", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "data")); !os.IsNotExist(err) {
		t.Fatalf("data left: %v", err)
	}
	_, err = s.Get("data")
	if !errors.Is(err, ErrNotFound) || err.Error() != "get data: no such volume" {
		t.Fatalf("get after remove: %v", err)
	}
	if err := s.Remove("data"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := s.Usage("data"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("usage after remove: %v", err)
	}
	ents, _ := os.ReadDir(s.Root())
	for _, e := range ents {
		if e.Name() != "other" && e.Name() != lockName {
			t.Errorf("left in root: %s", e.Name())
		}
	}
}

func TestCreateExisting(t *testing.T) {
	s := openStore(t)
	first, _, err := s.Create("v1", "", map[string]string{"type": "tmpfs", "device": "tmpfs"}, map[string]string{"x": "1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	// docker: the one that exists, whatever the labels; no options asked
	// (a container's -v v1:/x) is the same volume too.
	for _, opts := range []map[string]string{nil, {"type": "tmpfs", "device": "tmpfs"}} {
		v, created, err := s.Create("v1", "local", opts, map[string]string{"y": "2"}, false)
		if err != nil || created || v.Labels["x"] != "1" || v.Labels["y"] != "" || !v.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("create again (%v): %+v created=%v %v", opts, v, created, err)
		}
	}
	_, _, err = s.Create("v1", "", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}, nil, false)
	if !errors.Is(err, ErrConflict) || !strings.HasPrefix(err.Error(), "create v1: ") {
		t.Fatalf("other options: %v", err)
	}
}

func TestCreateAnonymous(t *testing.T) {
	s := openStore(t)
	// No name makes an anonymous volume, asked or not (docker's rule).
	v, created, err := s.Create("", "", nil, nil, false)
	if err != nil || !created {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(v.Name) || !v.Anonymous {
		t.Fatalf("anonymous %+v", v)
	}
	if l, ok := v.Labels[AnonymousLabel]; !ok || l != "" {
		t.Fatalf("labels %v", v.Labels)
	}
	got, err := s.Get(v.Name)
	if err != nil || !got.Anonymous {
		t.Fatalf("get %+v %v", got, err)
	}
}

func TestCreateInvalid(t *testing.T) {
	s := openStore(t)
	for _, tc := range []struct {
		name, driver string
		opts         map[string]string
		want         string
	}{
		{"a", "", nil, `create a: volume name is too short, names should be at least two alphanumeric characters`},
		{"a/b", "", nil, `create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{".hidden", "", nil, `includes invalid characters`},
		{"-x", "", nil, `includes invalid characters`},
		{"..", "", nil, `includes invalid characters`},
		{"v", "", nil, `too short`},
		{"vv", "foo", nil, `create vv: error looking up volume plugin foo: plugin "foo" not found`},
		{"vv", "", map[string]string{"x": "1"}, `create vv: invalid option: "x"`},
		{"vv", "", map[string]string{"type": "tmpfs"}, `create vv: missing required option: "device"`},
		{"vv", "", map[string]string{"o": "size=1m"}, `missing required option: "device"`},
		{"vv", "", map[string]string{"size": "1g"}, `create vv: quota size requested but no quota support`},
		{"vv", "", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=lots"}, `invalid tmpfs option "size=lots"`},
		{"vv", "", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "mode=999"}, `invalid tmpfs option "mode=999"`},
		{"vv", "", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "uid=root"}, `invalid tmpfs option "uid=root"`},
		{"vv", "", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "color=red"}, `invalid tmpfs option "color=red"`},
		{"vv", "", map[string]string{"type": "none", "device": "rel/dir", "o": "bind"}, `device "rel/dir" is not an absolute path`},
		{"vv", "", map[string]string{"type": "none", "device": "/srv", "o": "ro"}, `a bind volume needs o=bind`},
	} {
		t.Run(tc.name+"/"+tc.want, func(t *testing.T) {
			_, _, err := s.Create(tc.name, tc.driver, tc.opts, nil, false)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Fatalf("list after failed creates: %v %v", l, err)
	}
	// Good options pass.
	for _, o := range []string{"size=64m,mode=1777,uid=1000,gid=1000", "size=10%,noexec,nosuid", "nr_inodes=1k,ro"} {
		if _, _, err := s.Create("t"+strings.Repeat("x", len(o)), "", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": o}, nil, false); err != nil {
			t.Errorf("o=%s: %v", o, err)
		}
	}
}

func TestGetInvalidName(t *testing.T) {
	s := openStore(t)
	for _, n := range []string{"../x", "a/b", ""} {
		if _, err := s.Get(n); !errors.Is(err, ErrNotFound) {
			t.Errorf("get %q: %v", n, err)
		}
	}
}

// Two Stores on one root are what two processes are: each sees the
// other's changes, and concurrent creates of one name make one volume.
func TestTwoStores(t *testing.T) {
	root := filepath.Join(t.TempDir(), "volumes")
	a, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	// A removal a crash interrupted is finished by the next Open.
	if err := os.MkdirAll(filepath.Join(root, ".rm-old-123", "old", "_data"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".rm-old-123")); !os.IsNotExist(err) {
		t.Fatalf("interrupted removal left: %v", err)
	}
	if _, _, err := a.Create("shared", "", nil, map[string]string{"k": "v"}, false); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get("shared"); err != nil || v.Labels["k"] != "v" {
		t.Fatalf("b sees %+v %v", v, err)
	}
	if err := b.Remove("shared"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get("shared"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a after b's remove: %v", err)
	}

	var wg sync.WaitGroup
	results := make(chan bool, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			_, created, err := s.Create("race", "", nil, nil, false)
			if err != nil {
				t.Error(err)
			}
			results <- created
		}()
	}
	wg.Wait()
	close(results)
	n := 0
	for c := range results {
		if c {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d creates made the volume, want 1", n)
	}
}
