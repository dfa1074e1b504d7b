// Package snapshottest is the conformance suite every snapshot.Snapshotter
// passes: Run checks the metadata rules without privileges and, as root,
// mounts what the snapshotter returns to check what the trees show.
package snapshottest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/snapshot"
	"golang.org/x/sys/unix"
)

// Run runs the suite. newSnapshotter opens a snapshotter rooted at root, a
// directory of the test's own; it is called again on the same root to
// check that state survives reopening and is shared between instances, as
// between two berth processes. Run closes what it opens.
func Run(t *testing.T, newSnapshotter func(t *testing.T, root string) snapshot.Snapshotter) {
	s := &suite{newSnapshotter: newSnapshotter}
	t.Cleanup(func() { s.checkNothingMounted(t) })
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"Empty", testEmpty},
		{"KindsAndInfo", testKindsAndInfo},
		{"Labels", testLabels},
		{"Collisions", testCollisions},
		{"BadParents", testBadParents},
		{"CommitOnlyActive", testCommitOnlyActive},
		{"Remove", testRemove},
		{"Walk", testWalk},
		{"Reopen", testReopen},
		{"Concurrent", testConcurrent},
		{"SameKeyRace", testSameKeyRace},
		{"Cancelled", testCancelled},
		{"Usage", testUsage},
		{"LayersMounted", testLayersMounted},
		{"ViewReadOnly", testViewReadOnly},
		{"SpecialFiles", testSpecialFiles},
		{"LongChain", testLongChain},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s.env(t)) })
	}
}

type suite struct {
	newSnapshotter func(t *testing.T, root string) snapshot.Snapshotter
	mu             sync.Mutex
	dirs           []string // roots and mount targets, which nothing may stay mounted on
}

func (s *suite) remember(dir string) {
	s.mu.Lock()
	s.dirs = append(s.dirs, dir)
	s.mu.Unlock()
}

// env is one test's snapshotter on its own root.
type env struct {
	s    *suite
	ctx  context.Context
	root string
	sn   snapshot.Snapshotter
}

func (s *suite) env(t *testing.T) *env {
	root := t.TempDir()
	s.remember(root)
	e := &env{s: s, ctx: context.Background(), root: root}
	e.sn = e.open(t)
	return e
}

// open opens another snapshotter on the env's root.
func (e *env) open(t *testing.T) snapshot.Snapshotter {
	t.Helper()
	sn := e.s.newSnapshotter(t, e.root)
	t.Cleanup(func() {
		if err := sn.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return sn
}

// mountAt mounts ms on a new directory and returns it with a function
// that unmounts it (also run at the end of the test).
func (e *env) mountAt(t *testing.T, ms []mount.Mount) (string, func()) {
	t.Helper()
	gate.Root(t)
	target := t.TempDir()
	e.s.remember(target)
	if err := mount.All(ms, target); err != nil {
		t.Fatalf("mount %+v: %v", ms, err)
	}
	var once sync.Once
	unmount := func() {
		once.Do(func() {
			if err := mount.Unmount(target); err != nil {
				t.Errorf("unmount: %v", err)
			}
		})
	}
	t.Cleanup(unmount)
	return target, unmount
}

// checkNothingMounted fails if a mount point lies under a root or target
// of the suite, or a mount names one of their paths (an overlay's layers).
func (s *suite) checkNothingMounted(t *testing.T) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("read mountinfo: %v", err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := mount.Unescape(sc.Text())
		for _, d := range s.dirs {
			if strings.Contains(line, d+"/") || strings.Contains(line, d+" ") {
				t.Errorf("left mounted: %s", line)
				break
			}
		}
	}
}

func prepare(t *testing.T, sn snapshot.Snapshotter, key, parent string, opts ...snapshot.Opt) []mount.Mount {
	t.Helper()
	ms, err := sn.Prepare(context.Background(), key, parent, opts...)
	ok(t, err)
	return ms
}

func view(t *testing.T, sn snapshot.Snapshotter, key, parent string, opts ...snapshot.Opt) []mount.Mount {
	t.Helper()
	ms, err := sn.View(context.Background(), key, parent, opts...)
	ok(t, err)
	return ms
}

func mounts(t *testing.T, sn snapshot.Snapshotter, key string) []mount.Mount {
	t.Helper()
	ms, err := sn.Mounts(context.Background(), key)
	ok(t, err)
	return ms
}

func stat(t *testing.T, sn snapshot.Snapshotter, key string) snapshot.Info {
	t.Helper()
	info, err := sn.Stat(context.Background(), key)
	ok(t, err)
	return info
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err wraps want and names key.
func wantErr(t *testing.T, what string, err, want error, key string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
		return
	}
	if key != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
		t.Errorf("%s: error %q does not name %q", what, err, key)
	}
}

// upper returns the directory an active snapshot's writes go to.
func upper(t *testing.T, ms []mount.Mount) string {
	t.Helper()
	d, found := snapshot.UpperDir(ms)
	if !found {
		t.Fatalf("no upper dir in %+v", ms)
	}
	return d
}

// committed makes a committed snapshot called name on parent, holding files.
func (e *env) committed(t *testing.T, name, parent string, files map[string]string) {
	t.Helper()
	key := "extract-" + name
	up := upper(t, prepare(t, e.sn, key, parent))
	writeFiles(t, up, files)
	ok(t, e.sn.Commit(e.ctx, name, key))
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		ok(t, os.MkdirAll(filepath.Dir(p), 0o755))
		ok(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// checkFiles checks that dir has the files of want with their contents
// and none of absent.
func checkFiles(t *testing.T, dir string, want map[string]string, absent ...string) {
	t.Helper()
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != content {
			t.Errorf("%s: got %q, %v; want %q", name, b, err, content)
		}
	}
	for _, name := range absent {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: want it absent, lstat says %v", name, err)
		}
	}
}

func infos(t *testing.T, e *env, sn snapshot.Snapshotter) []snapshot.Info {
	t.Helper()
	var out []snapshot.Info
	ok(t, sn.Walk(e.ctx, func(i snapshot.Info) error {
		out = append(out, i)
		return nil
	}))
	return out
}

func testEmpty(t *testing.T, e *env) {
	if got := infos(t, e, e.sn); len(got) != 0 {
		t.Errorf("walk of a new root: %+v", got)
	}
	_, err := e.sn.Stat(e.ctx, "x")
	wantErr(t, "stat", err, snapshot.ErrNotFound, "x")
	_, err = e.sn.Mounts(e.ctx, "x")
	wantErr(t, "mounts", err, snapshot.ErrNotFound, "x")
	wantErr(t, "remove", e.sn.Remove(e.ctx, "x"), snapshot.ErrNotFound, "x")
	wantErr(t, "commit", e.sn.Commit(e.ctx, "y", "x"), snapshot.ErrNotFound, "x")
	_, err = e.sn.Prepare(e.ctx, "", "")
	wantErr(t, "prepare with an empty key", err, snapshot.ErrInvalid, "")
	_, err = e.sn.View(e.ctx, "", "")
	wantErr(t, "view with an empty key", err, snapshot.ErrInvalid, "")
}

func testKindsAndInfo(t *testing.T, e *env) {
	start := time.Now().Add(-time.Second)
	ms := prepare(t, e.sn, "a", "")
	info := stat(t, e.sn, "a")
	if info.Kind != snapshot.KindActive || info.Name != "a" || info.Parent != "" || info.Created.Before(start) || info.Created.After(time.Now()) {
		t.Errorf("stat of active: %+v", info)
	}
	if again := mounts(t, e.sn, "a"); !reflect.DeepEqual(again, ms) {
		t.Errorf("Mounts = %+v, Prepare returned %+v", again, ms)
	}
	upper(t, ms)
	ok(t, e.sn.Commit(e.ctx, "sha256:base", "a"))
	_, err := e.sn.Stat(e.ctx, "a")
	wantErr(t, "stat of a committed key", err, snapshot.ErrNotFound, "a")
	info = stat(t, e.sn, "sha256:base")
	if info.Kind != snapshot.KindCommitted || info.Name != "sha256:base" || info.Parent != "" {
		t.Errorf("stat of committed: %+v", info)
	}
	_, err = e.sn.Mounts(e.ctx, "sha256:base")
	wantErr(t, "mounts of committed", err, snapshot.ErrInvalid, "sha256:base")

	vms := view(t, e.sn, "v", "sha256:base")
	if _, found := snapshot.UpperDir(vms); found {
		t.Errorf("a view has an upper dir: %+v", vms)
	}
	if again := mounts(t, e.sn, "v"); !reflect.DeepEqual(again, vms) {
		t.Errorf("Mounts = %+v, View returned %+v", again, vms)
	}
	info = stat(t, e.sn, "v")
	if info.Kind != snapshot.KindView || info.Parent != "sha256:base" {
		t.Errorf("stat of view: %+v", info)
	}
	cms := prepare(t, e.sn, "container 1/with:odd,chars", "sha256:base")
	upper(t, cms)
	info = stat(t, e.sn, "container 1/with:odd,chars")
	if info.Kind != snapshot.KindActive || info.Parent != "sha256:base" {
		t.Errorf("stat of child: %+v", info)
	}
	for _, k := range []snapshot.Kind{snapshot.KindView, snapshot.KindActive, snapshot.KindCommitted} {
		if s := k.String(); s == "" || strings.HasPrefix(s, "Kind(") {
			t.Errorf("Kind %d has no name: %q", int(k), s)
		}
	}
}

func testLabels(t *testing.T, e *env) {
	_, err := e.sn.Prepare(e.ctx, "a", "", snapshot.WithLabels(map[string]string{"x": "1"}), snapshot.WithLabels(map[string]string{"y": "2"}))
	ok(t, err)
	if got := stat(t, e.sn, "a").Labels; !reflect.DeepEqual(got, map[string]string{"x": "1", "y": "2"}) {
		t.Errorf("labels of active: %v", got)
	}
	// The caller's map is not the snapshotter's.
	info := stat(t, e.sn, "a")
	info.Labels["x"] = "changed"
	if got := stat(t, e.sn, "a").Labels["x"]; got != "1" {
		t.Errorf("changing a returned label map changed the snapshot: %q", got)
	}
	ok(t, e.sn.Commit(e.ctx, "c", "a", snapshot.WithLabels(map[string]string{"z": "3"})))
	if got := stat(t, e.sn, "c").Labels; !reflect.DeepEqual(got, map[string]string{"z": "3"}) {
		t.Errorf("labels of committed (Commit's own): %v", got)
	}
	_, err = e.sn.View(e.ctx, "v", "c", snapshot.WithLabels(map[string]string{"": "x"}))
	wantErr(t, "empty label key", err, snapshot.ErrInvalid, "v")
	if _, err := e.sn.Stat(e.ctx, "v"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("a refused view exists: %v", err)
	}
}

func testCollisions(t *testing.T, e *env) {
	prepare(t, e.sn, "a", "")
	_, err := e.sn.Prepare(e.ctx, "a", "")
	wantErr(t, "prepare of an active key", err, snapshot.ErrAlreadyExists, "a")
	_, err = e.sn.View(e.ctx, "a", "")
	wantErr(t, "view of an active key", err, snapshot.ErrAlreadyExists, "a")
	ok(t, e.sn.Commit(e.ctx, "c", "a"))
	_, err = e.sn.Prepare(e.ctx, "c", "")
	wantErr(t, "prepare of a committed name", err, snapshot.ErrAlreadyExists, "c")
	view(t, e.sn, "v", "c")
	_, err = e.sn.Prepare(e.ctx, "v", "c")
	wantErr(t, "prepare of a view key", err, snapshot.ErrAlreadyExists, "v")

	up := upper(t, prepare(t, e.sn, "b", "c"))
	writeFiles(t, up, map[string]string{"f": "b"})
	wantErr(t, "commit onto a committed name", e.sn.Commit(e.ctx, "c", "b"), snapshot.ErrAlreadyExists, "c")
	wantErr(t, "commit onto a view key", e.sn.Commit(e.ctx, "v", "b"), snapshot.ErrAlreadyExists, "v")
	if info := stat(t, e.sn, "b"); info.Kind != snapshot.KindActive {
		t.Errorf("a refused commit changed the active snapshot: %+v", info)
	}
	checkFiles(t, up, map[string]string{"f": "b"})
}

func testBadParents(t *testing.T, e *env) {
	_, err := e.sn.Prepare(e.ctx, "a", "missing")
	wantErr(t, "prepare on a missing parent", err, snapshot.ErrNotFound, "a")
	_, err = e.sn.View(e.ctx, "v", "missing")
	wantErr(t, "view on a missing parent", err, snapshot.ErrNotFound, "v")
	if err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("error does not name the parent: %v", err)
	}
	prepare(t, e.sn, "active", "")
	view(t, e.sn, "view", "")
	for _, p := range []string{"active", "view"} {
		_, err = e.sn.Prepare(e.ctx, "child", p)
		wantErr(t, "prepare on a "+p, err, snapshot.ErrInvalid, "child")
		_, err = e.sn.View(e.ctx, "child", p)
		wantErr(t, "view on a "+p, err, snapshot.ErrInvalid, "child")
	}
	for _, k := range []string{"a", "v", "child"} {
		if _, err := e.sn.Stat(e.ctx, k); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("refused snapshot %q exists: %v", k, err)
		}
	}
}

func testCommitOnlyActive(t *testing.T, e *env) {
	e.committed(t, "base", "", nil)
	view(t, e.sn, "v", "base")
	wantErr(t, "commit of committed", e.sn.Commit(e.ctx, "x", "base"), snapshot.ErrInvalid, "base")
	wantErr(t, "commit of view", e.sn.Commit(e.ctx, "x", "v"), snapshot.ErrInvalid, "v")
	wantErr(t, "commit with an empty name", e.sn.Commit(e.ctx, "", "v"), snapshot.ErrInvalid, "v")
	if _, err := e.sn.Stat(e.ctx, "x"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("refused commit made x: %v", err)
	}
}

func testRemove(t *testing.T, e *env) {
	e.committed(t, "base", "", map[string]string{"f": "base"})
	e.committed(t, "mid", "base", nil)
	cms := prepare(t, e.sn, "c", "mid")
	view(t, e.sn, "v", "mid")
	wantErr(t, "remove of a grandparent", e.sn.Remove(e.ctx, "base"), snapshot.ErrConflict, "base")
	wantErr(t, "remove of a parent", e.sn.Remove(e.ctx, "mid"), snapshot.ErrConflict, "mid")
	ok(t, e.sn.Remove(e.ctx, "v"))
	wantErr(t, "remove of a parent of an active", e.sn.Remove(e.ctx, "mid"), snapshot.ErrConflict, "mid")

	up := upper(t, cms)
	writeFiles(t, up, map[string]string{"data/f": "discard me"})
	ok(t, e.sn.Remove(e.ctx, "c"))
	if _, err := os.Lstat(up); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the removed active snapshot's directory %s is still there: %v", up, err)
	}
	wantErr(t, "second remove", e.sn.Remove(e.ctx, "c"), snapshot.ErrNotFound, "c")
	_, err := e.sn.Mounts(e.ctx, "c")
	wantErr(t, "mounts of removed", err, snapshot.ErrNotFound, "c")
	ok(t, e.sn.Remove(e.ctx, "mid"))
	ok(t, e.sn.Remove(e.ctx, "base"))
	if got := infos(t, e, e.sn); len(got) != 0 {
		t.Errorf("left after removing everything: %+v", got)
	}
	// The names are free again.
	e.committed(t, "base", "", map[string]string{"f": "new"})
	up = upper(t, prepare(t, e.sn, "c", "base"))
	if _, err := os.Lstat(filepath.Join(up, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new snapshot under a removed one's key sees its data: %v", err)
	}
}

func testWalk(t *testing.T, e *env) {
	e.committed(t, "base", "", nil)
	prepare(t, e.sn, "b", "base")
	view(t, e.sn, "a", "base")
	var names []string
	var kinds []snapshot.Kind
	for _, i := range infos(t, e, e.sn) {
		names = append(names, i.Name)
		kinds = append(kinds, i.Kind)
	}
	if want := []string{"a", "b", "base"}; !slices.Equal(names, want) {
		t.Errorf("walk: %q, want %q", names, want)
	}
	if want := []snapshot.Kind{snapshot.KindView, snapshot.KindActive, snapshot.KindCommitted}; !slices.Equal(kinds, want) {
		t.Errorf("walk kinds: %v, want %v", kinds, want)
	}
	stop := errors.New("stop")
	n := 0
	err := e.sn.Walk(e.ctx, func(snapshot.Info) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("walk did not stop at fn's error: %v after %d calls", err, n)
	}
	// fn may call the snapshotter.
	ok(t, e.sn.Walk(e.ctx, func(i snapshot.Info) error {
		_, err := e.sn.Stat(e.ctx, i.Name)
		return err
	}))
}

func testReopen(t *testing.T, e *env) {
	e.committed(t, "base", "", map[string]string{"f": "base"})
	ams := prepare(t, e.sn, "a", "base", snapshot.WithLabels(map[string]string{"l": "v"}))
	writeFiles(t, upper(t, ams), map[string]string{"g": "a"})
	vms := view(t, e.sn, "v", "base")
	before := infos(t, e, e.sn)
	ok(t, e.sn.Close())

	sn := e.open(t)
	after := infos(t, e, sn)
	if len(after) != len(before) {
		t.Fatalf("after reopening: %+v, before: %+v", after, before)
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.Name != b.Name || a.Kind != b.Kind || a.Parent != b.Parent || !a.Created.Equal(b.Created) || !reflect.DeepEqual(a.Labels, b.Labels) {
			t.Errorf("after reopening: %+v, before: %+v", a, b)
		}
	}
	if got := mounts(t, sn, "a"); !reflect.DeepEqual(got, ams) {
		t.Errorf("mounts of a after reopening: %+v, before %+v", got, ams)
	}
	if got := mounts(t, sn, "v"); !reflect.DeepEqual(got, vms) {
		t.Errorf("mounts of v after reopening: %+v, before %+v", got, vms)
	}
	checkFiles(t, upper(t, ams), map[string]string{"g": "a"})
	ok(t, sn.Commit(e.ctx, "top", "a"))
	ok(t, sn.Remove(e.ctx, "v"))
}

// testConcurrent runs snapshot operations from many goroutines through two
// snapshotters on one root, as two processes would.
func testConcurrent(t *testing.T, e *env) {
	e.committed(t, "base", "", map[string]string{"f": "base"})
	other := e.open(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	uppers := make([]string, n)
	for i := 0; i < n; i++ {
		sn := e.sn
		if i%2 == 1 {
			sn = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				key := fmt.Sprintf("c%d", i)
				ms, err := sn.Prepare(e.ctx, key, "base")
				if err != nil {
					return err
				}
				up, _ := snapshot.UpperDir(ms)
				if err := os.WriteFile(filepath.Join(up, "mine"), []byte(key), 0o644); err != nil {
					return err
				}
				if err := sn.Commit(e.ctx, fmt.Sprintf("done%d", i), key); err != nil {
					return err
				}
				if _, err := sn.View(e.ctx, fmt.Sprintf("v%d", i), fmt.Sprintf("done%d", i)); err != nil {
					return err
				}
				ms, err = sn.Prepare(e.ctx, fmt.Sprintf("p%d", i), fmt.Sprintf("done%d", i))
				if err != nil {
					return err
				}
				uppers[i], _ = snapshot.UpperDir(ms)
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, sn := range []snapshot.Snapshotter{e.sn, other} {
		got := map[string]snapshot.Info{}
		for _, i := range infos(t, e, sn) {
			got[i.Name] = i
		}
		if len(got) != 1+3*n {
			t.Errorf("walk has %d snapshots, want %d", len(got), 1+3*n)
		}
		for i := 0; i < n; i++ {
			done, v, p := got[fmt.Sprintf("done%d", i)], got[fmt.Sprintf("v%d", i)], got[fmt.Sprintf("p%d", i)]
			if done.Kind != snapshot.KindCommitted || done.Parent != "base" ||
				v.Kind != snapshot.KindView || v.Parent != done.Name ||
				p.Kind != snapshot.KindActive || p.Parent != done.Name {
				t.Errorf("%d: %+v %+v %+v", i, done, v, p)
			}
		}
	}
	seen := map[string]bool{}
	for _, u := range uppers {
		if u == "" || seen[u] {
			t.Errorf("upper dirs not distinct: %q", uppers)
			break
		}
		seen[u] = true
	}
}

// testSameKeyRace prepares one key from many goroutines: one wins.
func testSameKeyRace(t *testing.T, e *env) {
	e.committed(t, "base", "", map[string]string{"f": "base"})
	other := e.open(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		sn := e.sn
		if i%2 == 1 {
			sn = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = sn.Prepare(e.ctx, "same", "base")
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, snapshot.ErrAlreadyExists):
			t.Errorf("lost race: %v, want ErrAlreadyExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d Prepares of one key succeeded", won)
	}
	if got := infos(t, e, e.sn); len(got) != 2 {
		t.Errorf("walk: %+v", got)
	}
}

func testCancelled(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := e.sn.Prepare(ctx, "a", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("prepare with a cancelled context: %v", err)
	}
	if _, err := e.sn.Stat(e.ctx, "a"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("prepare with a cancelled context made a: %v", err)
	}
}

func testUsage(t *testing.T, e *env) {
	u, isUsager := e.sn.(snapshot.Usager)
	if !isUsager {
		t.Skip("not a Usager")
	}
	up := upper(t, prepare(t, e.sn, "a", ""))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i%251) + 1
	}
	ok(t, os.WriteFile(filepath.Join(up, "big"), data, 0o644))
	ok(t, os.Link(filepath.Join(up, "big"), filepath.Join(up, "big2")))
	got, err := u.Usage(e.ctx, "a")
	ok(t, err)
	if got.Size < 1<<20 || got.Size >= 2<<20 || got.Inodes < 2 {
		t.Errorf("usage of a 1 MiB file linked twice: %+v", got)
	}
	_, err = u.Usage(e.ctx, "missing")
	wantErr(t, "usage of missing", err, snapshot.ErrNotFound, "missing")
}

// testLayersMounted mounts a parent and child and checks what each shows.
func testLayersMounted(t *testing.T, e *env) {
	gate.Root(t)
	base := map[string]string{"keep": "base", "change": "base", "delete": "base", "dir/x": "base"}
	target, unmount := e.mountAt(t, prepare(t, e.sn, "a", ""))
	writeFiles(t, target, base)
	unmount()
	ok(t, e.sn.Commit(e.ctx, "base", "a"))

	target, unmount = e.mountAt(t, prepare(t, e.sn, "c", "base"))
	checkFiles(t, target, base)
	writeFiles(t, target, map[string]string{"change": "child", "new": "child"})
	ok(t, os.Remove(filepath.Join(target, "delete")))
	ok(t, os.RemoveAll(filepath.Join(target, "dir")))
	writeFiles(t, target, map[string]string{"dir/y": "child"})
	unmount()
	child := map[string]string{"keep": "base", "change": "child", "new": "child", "dir/y": "child"}
	target, unmount = e.mountAt(t, mounts(t, e.sn, "c"))
	checkFiles(t, target, child, "delete", "dir/x")
	unmount()
	ok(t, e.sn.Commit(e.ctx, "top", "c"))

	target, _ = e.mountAt(t, view(t, e.sn, "vbase", "base"))
	checkFiles(t, target, base, "new", "dir/y")
	target, _ = e.mountAt(t, view(t, e.sn, "vtop", "top"))
	checkFiles(t, target, child, "delete", "dir/x")
	target, _ = e.mountAt(t, prepare(t, e.sn, "sibling", "base"))
	checkFiles(t, target, base, "new", "dir/y")
	target, _ = e.mountAt(t, prepare(t, e.sn, "grandchild", "top"))
	checkFiles(t, target, child, "delete", "dir/x")
}

func testViewReadOnly(t *testing.T, e *env) {
	gate.Root(t)
	e.committed(t, "base", "", map[string]string{"f": "base"})
	e.committed(t, "top", "base", map[string]string{"g": "top"})
	for _, tc := range []struct{ key, parent string }{{"empty", ""}, {"one", "base"}, {"two", "top"}} {
		t.Run(tc.key, func(t *testing.T) {
			target, _ := e.mountAt(t, view(t, e.sn, tc.key, tc.parent))
			for _, op := range []struct {
				name string
				fn   func() error
			}{
				{"create", func() error { return os.WriteFile(filepath.Join(target, "new"), nil, 0o644) }},
				{"mkdir", func() error { return os.Mkdir(filepath.Join(target, "d"), 0o755) }},
				{"write", func() error {
					f, err := os.OpenFile(filepath.Join(target, "f"), os.O_WRONLY, 0)
					if err == nil {
						f.Close()
					}
					if tc.parent == "" && errors.Is(err, os.ErrNotExist) {
						return unix.EROFS // nothing there to write to
					}
					return err
				}},
			} {
				if err := op.fn(); !errors.Is(err, unix.EROFS) {
					t.Errorf("%s in a view: %v, want EROFS", op.name, err)
				}
			}
		})
	}
}

// testSpecialFiles checks that a child sees every kind of file and every
// attribute its parent holds: what image layers carry.
func testSpecialFiles(t *testing.T, e *env) {
	gate.Root(t)
	target, unmount := e.mountAt(t, prepare(t, e.sn, "a", ""))
	p := func(name string) string { return filepath.Join(target, name) }
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
	writeFiles(t, target, map[string]string{"h1": "linked", "setuid": "#!/bin/sh\n", "caps": "x", "xattr": "x"})
	ok(t, os.Link(p("h1"), p("h2")))
	ok(t, os.Mkdir(p("sub"), 0o755))
	ok(t, os.Link(p("h1"), p("sub/h3")))
	ok(t, unix.Mknod(p("null"), unix.S_IFCHR|0o640, int(unix.Mkdev(1, 3))))
	ok(t, unix.Mknod(p("blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))))
	ok(t, unix.Mkfifo(p("fifo"), 0o620))
	ok(t, os.Symlink("../does/not/exist", p("dangling")))
	ok(t, os.Symlink("h1", p("sym")))
	ok(t, os.Chown(p("setuid"), 1234, 5678))
	ok(t, os.Chmod(p("setuid"), 0o755|os.ModeSetuid|os.ModeSetgid))
	ok(t, os.Lchown(p("sym"), 42, 43))
	ok(t, os.Mkdir(p("tmp"), 0o755))
	ok(t, os.Chmod(p("tmp"), 0o777|os.ModeSticky))
	ok(t, unix.Setxattr(p("xattr"), "user.berth", []byte("value"), 0))
	ok(t, unix.Setxattr(p("xattr"), "trusted.berth", []byte("trusted"), 0))
	// cap_net_bind_service, effective: struct vfs_cap_data, revision 2.
	capv2 := []byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	ok(t, os.Chown(p("caps"), 1, 1))
	ok(t, unix.Setxattr(p("caps"), "security.capability", capv2, 0))
	ok(t, os.WriteFile(p("sparse"), nil, 0o644))
	ok(t, os.Truncate(p("sparse"), 64<<20))
	f, err := os.OpenFile(p("sparse"), os.O_WRONLY|os.O_APPEND, 0)
	ok(t, err)
	_, err = f.WriteString("end")
	ok(t, err)
	ok(t, f.Close())
	ok(t, os.Chown(target, 7, 8))
	ok(t, os.Chmod(target, 0o751))
	for _, name := range []string{"h1", "sub", "sparse", "null", "fifo", "tmp", "xattr"} {
		ok(t, os.Chtimes(p(name), mtime, mtime))
	}
	ok(t, unix.Lutimes(p("dangling"), []unix.Timeval{unix.NsecToTimeval(mtime.UnixNano()), unix.NsecToTimeval(mtime.UnixNano())}))
	names := []string{".", "h1", "h2", "sub", "sub/h3", "null", "blk", "fifo", "dangling", "sym", "setuid", "caps", "xattr", "tmp", "sparse"}
	want := map[string]fileState{}
	for _, name := range names {
		want[name] = stateOf(t, p(name))
	}
	unmount()
	ok(t, e.sn.Commit(e.ctx, "base", "a"))

	for _, tc := range []struct {
		name string
		ms   func() ([]mount.Mount, error)
	}{
		{"child", func() ([]mount.Mount, error) { return e.sn.Prepare(e.ctx, "child", "base") }},
		{"view", func() ([]mount.Mount, error) { return e.sn.View(e.ctx, "view", "base") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := tc.ms()
			ok(t, err)
			target, _ := e.mountAt(t, ms)
			got := map[string]fileState{}
			for _, name := range names {
				got[name] = stateOf(t, filepath.Join(target, name))
				if w := want[name]; !got[name].same(w) {
					t.Errorf("%s: got %+v\nwant %+v", name, got[name], w)
				}
			}
			if !(got["h1"].ino == got["h2"].ino && got["h1"].ino == got["sub/h3"].ino && got["h1"].nlink == 3) {
				t.Errorf("hardlinks not kept: %+v %+v %+v", got["h1"], got["h2"], got["sub/h3"])
			}
			if got["sparse"].blocks*512 > 1<<20 {
				t.Errorf("a 64 MiB sparse file takes %d bytes", got["sparse"].blocks*512)
			}
			checkFiles(t, target, map[string]string{"h1": "linked", "h2": "linked", "sym": "linked"})
		})
	}
}

type fileState struct {
	mode, uid, gid, nlink uint32
	rdev, ino             uint64
	size, blocks          int64
	mtime                 unix.Timespec
	link                  string
	xattrs                map[string]string
}

// same compares what a copy must keep: not the inode number, and for
// directories neither the times (an overlay's root is its upper dir's) nor
// the link count (overlayfs reports 1 for a merged directory).
func (f fileState) same(o fileState) bool {
	if f.mode != o.mode || f.uid != o.uid || f.gid != o.gid || !reflect.DeepEqual(f.xattrs, o.xattrs) {
		return false
	}
	if f.mode&unix.S_IFMT == unix.S_IFDIR {
		return true
	}
	return f.rdev == o.rdev && f.size == o.size && f.link == o.link && f.nlink == o.nlink && f.mtime == o.mtime
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	var st unix.Stat_t
	ok(t, unix.Lstat(path, &st))
	fs := fileState{mode: st.Mode, uid: st.Uid, gid: st.Gid, nlink: uint32(st.Nlink), rdev: st.Rdev, ino: st.Ino,
		size: st.Size, blocks: st.Blocks, mtime: st.Mtim}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		link, err := os.Readlink(path)
		ok(t, err)
		fs.link = link
	}
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(path, buf)
	if err != nil && !errors.Is(err, unix.ENOTSUP) {
		t.Fatalf("llistxattr %s: %v", path, err)
	}
	for _, name := range strings.Split(string(buf[:max(n, 0)]), "\x00") {
		if name == "" {
			continue
		}
		if fs.xattrs == nil {
			fs.xattrs = map[string]string{}
		}
		v := make([]byte, 4096)
		m, err := unix.Lgetxattr(path, name, v)
		if err != nil {
			t.Fatalf("lgetxattr %s %s: %v", path, name, err)
		}
		fs.xattrs[name] = string(v[:m])
	}
	return fs
}

// testLongChain stacks 130 layers, past the page that mount(2) takes for
// an overlay's options, and checks that the top layer's file wins.
func testLongChain(t *testing.T, e *env) {
	const n = 130
	parent := ""
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("sha256:%064x", i)
		key := fmt.Sprintf("extract-%d-%s", i, name)
		up := upper(t, prepare(t, e.sn, key, parent))
		writeFiles(t, up, map[string]string{"top": fmt.Sprint(i), fmt.Sprintf("layer%d", i): fmt.Sprint(i)})
		ok(t, e.sn.Commit(e.ctx, name, key))
		parent = name
	}
	info := stat(t, e.sn, parent)
	if info.Parent != fmt.Sprintf("sha256:%064x", n-2) {
		t.Errorf("top's parent: %q", info.Parent)
	}
	gate.Root(t)
	want := map[string]string{"top": fmt.Sprint(n - 1), "layer0": "0", "layer64": "64", fmt.Sprintf("layer%d", n-1): fmt.Sprint(n - 1)}
	target, _ := e.mountAt(t, view(t, e.sn, "view", parent))
	checkFiles(t, target, want)
	target, _ = e.mountAt(t, prepare(t, e.sn, "container", parent))
	checkFiles(t, target, want)
	writeFiles(t, target, map[string]string{"top": "container"})
	checkFiles(t, target, map[string]string{"top": "container"})
}
