package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"
)

// storeOnlyEngine is an engine with only its records file: enough for the
// secret and config store, no root needed.
func storeOnlyEngine(t *testing.T) *Engine {
	t.Helper()
	root := t.TempDir()
	e := &Engine{opts: Options{Root: root}}
	var err error
	if e.core.store, err = openStore(filepath.Join(root, "engine.db"), false); err != nil {
		t.Fatal(err)
	}
	return e
}

func secretSpec(name, data string, labels map[string]string) swarm.SecretSpec {
	return swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: []byte(data)}
}

func TestSecretStore(t *testing.T) {
	e := storeOnlyEngine(t)
	c := context.Background()
	const value = "hunter2-the-secret-value"
	resp, err := e.SecretCreate(c, secretSpec("db_pass", value, map[string]string{"env": "prod"}))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-z]{25}$`).MatchString(resp.ID) {
		t.Errorf("ID %q is not like swarm's", resp.ID)
	}
	if _, err := e.SecretCreate(c, secretSpec("db_pass", "other", nil)); KindOf(err) != KindConflict || err.Error() != "secret db_pass already exists" {
		t.Errorf("duplicate create: %v", err)
	}
	if _, err := e.SecretCreate(c, secretSpec("other", "x", nil)); err != nil {
		t.Fatal(err)
	}

	s, err := e.SecretInspect(c, "db_pass")
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != resp.ID || s.Spec.Name != "db_pass" || s.Spec.Labels["env"] != "prod" || s.Spec.Data != nil ||
		s.Version.Index != 1 || s.CreatedAt.IsZero() || !s.UpdatedAt.Equal(s.CreatedAt) {
		t.Errorf("inspect: %+v", s)
	}
	for _, ref := range []string{resp.ID, resp.ID[:6]} {
		if s, err := e.SecretInspect(c, ref); err != nil || s.ID != resp.ID {
			t.Errorf("inspect %s: %v %v", ref, s.ID, err)
		}
	}
	if _, err := e.SecretInspect(c, "nope"); KindOf(err) != KindNotFound || err.Error() != "secret nope not found" {
		t.Errorf("inspect missing: %v", err)
	}

	// The value is nowhere in the records file or the key directory.
	db, _ := os.ReadFile(filepath.Join(e.opts.Root, "engine.db"))
	if len(db) == 0 || bytes.Contains(db, []byte(value)) {
		t.Errorf("engine.db holds the value in clear (or is empty: %d bytes)", len(db))
	}
	filepath.Walk(e.secretsDir(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte(value)) {
				t.Errorf("%s holds the value in clear", p)
			}
		}
		return nil
	})
	for p, want := range map[string]os.FileMode{e.secretsDir(): os.ModeDir | 0o700, filepath.Join(e.secretsDir(), "key"): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", p, fi.Mode(), want, err)
		}
	}
	// But it opens back.
	var o *fileObj
	e.core.store.read(func(tx *bolt.Tx) error { o, err = findFileObj(tx, kindSecret, "db_pass"); return err })
	if got, err := e.fileData(kindSecret, o); err != nil || string(got) != value {
		t.Errorf("decrypt: %q %v", got, err)
	}
	// Sealed under one ID, it does not open under another.
	if _, err := openSecret(mustKey(t, e), "x"+o.ID[1:], o.Data); err == nil {
		t.Errorf("a sealed value opened under another secret's ID")
	}

	// Filters.
	for _, tc := range []struct {
		f    Filters
		want string
	}{
		{nil, "db_pass,other"},
		{Filters{"name": {"db"}}, "db_pass"},
		{Filters{"names": {"db"}}, ""},
		{Filters{"names": {"other"}}, "other"},
		{Filters{"label": {"env=prod"}}, "db_pass"},
		{Filters{"label": {"env"}}, "db_pass"},
		{Filters{"id": {resp.ID[:5]}}, "db_pass"},
	} {
		list, err := e.SecretList(c, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range list {
			if s.Spec.Data != nil {
				t.Errorf("list returned a secret's data")
			}
			names = append(names, s.Spec.Name)
		}
		if got := strings.Join(names, ","); got != tc.want {
			t.Errorf("list %v = %q, want %q", tc.f, got, tc.want)
		}
	}
	if _, err := e.SecretList(c, Filters{"driver": {"x"}}); KindOf(err) != KindInvalid {
		t.Errorf("bad filter: %v", err)
	}

	// Remove: refused while a container lists it.
	err = e.core.store.update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketContainers); err != nil {
			return err
		}
		return putRecord(tx, &ctrRecord{ID: strings.Repeat("a", 64), Name: "web", Secrets: []FileRef{{Name: "db_pass"}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SecretRemove(c, "db_pass"); KindOf(err) != KindConflict || !strings.Contains(err.Error(), "web") {
		t.Errorf("remove in use: %v", err)
	}
	if err := e.SecretRemove(c, "other"); err != nil {
		t.Fatal(err)
	}
	if err := e.SecretRemove(c, "other"); KindOf(err) != KindNotFound {
		t.Errorf("remove twice: %v", err)
	}
}

func mustKey(t *testing.T, e *Engine) []byte {
	k, err := e.secretKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSecretCreateChecks(t *testing.T) {
	e := storeOnlyEngine(t)
	c := context.Background()
	for _, tc := range []struct {
		name, data string
		want       string
	}{
		{"", "x", "invalid name"},
		{"-lead", "x", "invalid name"},
		{"trail.", "x", "invalid name"},
		{"sp ace", "x", "invalid name"},
		{strings.Repeat("a", 65), "x", "invalid name"},
		{"ok", "", "secret data must be larger than 0 and less than 500 KB"},
		{"ok", strings.Repeat("x", 500*1024), "secret data must be larger than 0 and less than 500 KB"},
	} {
		if _, err := e.SecretCreate(c, secretSpec(tc.name, tc.data, nil)); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("create %q (%d bytes): %v, want %q", tc.name, len(tc.data), err, tc.want)
		}
	}
	for _, name := range []string{"a", "a.b-c_d", strings.Repeat("a", 64), "A1"} {
		if _, err := e.SecretCreate(c, secretSpec(name, "x", nil)); err != nil {
			t.Errorf("create %q: %v", name, err)
		}
	}
	spec := secretSpec("driven", "x", nil)
	spec.Driver = &swarm.Driver{Name: "vault"}
	if _, err := e.SecretCreate(c, spec); KindOf(err) != KindInvalid {
		t.Errorf("driver: %v", err)
	}
	big := swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "big"}, Data: bytes.Repeat([]byte("x"), 900*1024)}
	if _, err := e.ConfigCreate(c, big); err != nil {
		t.Errorf("a 900 KiB config: %v", err)
	}
	big.Name, big.Data = "bigger", bytes.Repeat([]byte("x"), 1000*1024)
	if _, err := e.ConfigCreate(c, big); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "less than 1000 KB") {
		t.Errorf("a 1000 KiB config: %v", err)
	}
}

func TestConfigStore(t *testing.T) {
	e := storeOnlyEngine(t)
	c := context.Background()
	resp, err := e.ConfigCreate(c, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.conf"}, Data: []byte("listen 80\n")})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := e.ConfigInspect(c, "app.conf")
	if err != nil || cfg.ID != resp.ID || string(cfg.Spec.Data) != "listen 80\n" || cfg.Spec.Labels == nil {
		t.Errorf("inspect: %+v %v", cfg, err)
	}
	if _, err := e.ConfigCreate(c, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.conf"}, Data: []byte("x")}); err == nil || err.Error() != "config app.conf already exists" {
		t.Errorf("duplicate: %v", err)
	}
	// A config and a secret of one name are two things.
	if _, err := e.SecretCreate(c, secretSpec("app.conf", "x", nil)); err != nil {
		t.Errorf("secret named like a config: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.secretsDir(), "key")); err != nil {
		t.Errorf("key after a secret: %v", err)
	}
	if err := e.ConfigRemove(c, resp.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ConfigInspect(c, "app.conf"); KindOf(err) != KindNotFound || err.Error() != "config app.conf not found" {
		t.Errorf("after remove: %v", err)
	}
}

func TestFileRefDefaults(t *testing.T) {
	for _, tc := range []struct {
		k    fileKind
		in   FileRef
		want FileRef
		err  string
	}{
		{kindSecret, FileRef{Name: "pw"}, FileRef{Name: "pw", Target: "/run/secrets/pw", UID: "0", GID: "0", Mode: 0o400}, ""},
		{kindSecret, FileRef{Name: "pw", Target: "sub/x"}, FileRef{Name: "pw", Target: "/run/secrets/sub/x", UID: "0", GID: "0", Mode: 0o400}, ""},
		{kindSecret, FileRef{Name: "pw", Target: "/etc/pw", UID: "1000", GID: "10", Mode: 0o440}, FileRef{Name: "pw", Target: "/etc/pw", UID: "1000", GID: "10", Mode: 0o440}, ""},
		{kindConfig, FileRef{Name: "app.conf"}, FileRef{Name: "app.conf", Target: "/app.conf", UID: "0", GID: "0", Mode: 0o444}, ""},
		{kindConfig, FileRef{Name: "c", Target: "etc/c"}, FileRef{Name: "c", Target: "/etc/c", UID: "0", GID: "0", Mode: 0o444}, ""},
		{kindSecret, FileRef{Name: "pw", UID: "root"}, FileRef{}, "must be a number"},
		{kindSecret, FileRef{Name: "pw", Mode: 0o4755}, FileRef{}, "only permission bits"},
		{kindSecret, FileRef{Name: "pw", Target: "/"}, FileRef{}, "must name a file"},
		{kindSecret, FileRef{Name: "pw", Target: "/run/secrets/"}, FileRef{}, "must name a file"},
	} {
		got, err := completeFileRef(tc.k, tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestResolveSecrets(t *testing.T) {
	e := storeOnlyEngine(t)
	c := context.Background()
	resp, _ := e.SecretCreate(c, secretSpec("pw", "x", nil))
	e.ConfigCreate(c, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "cfg"}, Data: []byte("y")})
	r := &ctrRecord{}
	if err := e.resolveSecrets(c, r, []FileRef{{Name: resp.ID}}, []FileRef{{Name: "cfg"}}); err != nil {
		t.Fatal(err)
	}
	if len(r.Secrets) != 1 || r.Secrets[0].Name != "pw" || r.Secrets[0].Target != "/run/secrets/pw" || len(r.Configs) != 1 || r.Configs[0].Target != "/cfg" {
		t.Errorf("resolved: %+v %+v", r.Secrets, r.Configs)
	}
	if err := e.resolveSecrets(c, &ctrRecord{}, []FileRef{{Name: "nope"}}, nil); KindOf(err) != KindNotFound || err.Error() != "secret not found: nope" {
		t.Errorf("missing secret: %v", err)
	}
	if err := e.resolveSecrets(c, &ctrRecord{}, nil, []FileRef{{Name: "pw"}}); err == nil || err.Error() != "config not found: pw" {
		t.Errorf("a secret asked for as a config: %v", err)
	}
	err := e.resolveSecrets(c, &ctrRecord{}, []FileRef{{Name: "pw", Target: "/x"}}, []FileRef{{Name: "cfg", Target: "/x"}})
	if KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "Duplicate mount point: /x") {
		t.Errorf("duplicate target: %v", err)
	}
}

// TestSecretEvents: create and remove are events of type secret and
// config, with the name, never the data.
func TestSecretEvents(t *testing.T) {
	e := storeOnlyEngine(t)
	c := context.Background()
	resp, _ := e.SecretCreate(c, secretSpec("pw", "value", nil))
	e.SecretRemove(c, "pw")
	cfg, _ := e.ConfigCreate(c, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "cfg"}, Data: []byte("x")})
	msgs, errs := e.Events(c, EventsOptions{Since: "1", Until: strconv.FormatInt(time.Now().Unix()+1, 10)})
	var got []string
	for done := false; !done; {
		select {
		case m := <-msgs:
			got = append(got, string(m.Type)+" "+string(m.Action)+" "+m.Actor.ID+" "+m.Actor.Attributes["name"])
		case <-errs:
			done = true
		}
	}
	want := []string{"secret create " + resp.ID + " pw", "secret remove " + resp.ID + " pw", "config create " + cfg.ID + " cfg"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHostID(t *testing.T) {
	ms := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}, {ContainerID: 1000, HostID: 5000, Size: 1}}
	for _, tc := range []struct {
		in, want uint32
		ok       bool
	}{{0, 100000, true}, {999, 100999, true}, {1000, 5000, true}, {1001, 0, false}} {
		if got, ok := hostID(ms, tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("hostID(%d) = %d %v, want %d %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
