package engine

import (
	"archive/tar"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
)

const secretValue = "s3cr3t-VALUE-0f-the-test"

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// runWith creates and runs a busybox container (no network) with the
// secrets and configs, returning its ID, exit code and output.
func runWith(t *testing.T, e *Engine, secrets, configs []FileRef, cmd ...string) (string, int, string) {
	t.Helper()
	id := createWith(t, e, secrets, configs, cmd...)
	code := startWait(t, e, id)
	return id, code, logsOf(t, e, id)
}

func createWith(t *testing.T, e *Engine, secrets, configs []FileRef, cmd ...string) string {
	t.Helper()
	cfg := container.Config{Image: "busybox", Cmd: cmd}
	hc := container.HostConfig{NetworkMode: "none"}
	resp, err := e.ContainerCreate(ctx(t), "", CreateRequest{
		CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &hc}, Secrets: secrets, Configs: configs,
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return resp.ID
}

func TestContainerSecrets(t *testing.T) {
	e := newTestEngine(t, false)
	c := ctx(t)
	if _, err := e.SecretCreate(c, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw"}, Data: []byte(secretValue)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ConfigCreate(c, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.conf"}, Data: []byte("listen 80\n")}); err != nil {
		t.Fatal(err)
	}

	t.Run("defaults", func(t *testing.T) {
		_, code, out := runWith(t, e, []FileRef{{Name: "pw"}}, []FileRef{{Name: "app.conf"}}, "sh", "-c",
			`stat -c '%n %a %u %g' /run/secrets/pw /app.conf && md5sum /run/secrets/pw && cat /app.conf && `+
				`! echo x > /run/secrets/pw 2>/dev/null && grep ' /run/secrets ' /proc/mounts | cut -d' ' -f3`)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		for _, want := range []string{"/run/secrets/pw 400 0 0\n", "/app.conf 444 0 0\n", md5hex(secretValue) + "  /run/secrets/pw\n", "listen 80\n", "tmpfs\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("output %q lacks %q", out, want)
			}
		}
	})

	t.Run("custom", func(t *testing.T) {
		_, code, out := runWith(t, e,
			[]FileRef{{Name: "pw", Target: "/etc/app/pw", UID: "1000", GID: "1001", Mode: 0o440}, {Name: "pw", Target: "again"}},
			[]FileRef{{Name: "app.conf", Target: "/etc/app.conf", Mode: 0o600}},
			"sh", "-c", `stat -c '%n %a %u %g' /etc/app/pw /run/secrets/again /etc/app.conf && md5sum /run/secrets/again`)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		for _, want := range []string{"/etc/app/pw 440 1000 1001\n", "/run/secrets/again 400 0 0\n", "/etc/app.conf 600 0 0\n", md5hex(secretValue)} {
			if !strings.Contains(out, want) {
				t.Errorf("output %q lacks %q", out, want)
			}
		}
	})

	t.Run("read-only rootfs", func(t *testing.T) {
		cfg := container.Config{Image: "busybox", Cmd: []string{"sh", "-c", "md5sum /run/secrets/pw /etc/pw; ! touch /x 2>/dev/null"}}
		hc := container.HostConfig{NetworkMode: "none", ReadonlyRootfs: true}
		resp, err := e.ContainerCreate(c, "", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &hc},
			Secrets: []FileRef{{Name: "pw"}, {Name: "pw", Target: "/etc/pw"}}})
		if err != nil {
			t.Fatal(err)
		}
		res, errc := e.ContainerWait(c, resp.ID, container.WaitConditionNextExit)
		if err := e.ContainerStart(c, resp.ID); err != nil {
			t.Fatalf("start: %v", err)
		}
		select {
		case r := <-res:
			if r.StatusCode != 0 {
				t.Errorf("exit %d", r.StatusCode)
			}
		case err := <-errc:
			t.Fatal(err)
		}
	})

	t.Run("not found", func(t *testing.T) {
		before := leftovers(t, e)
		cfg := container.Config{Image: "busybox"}
		_, err := e.ContainerCreate(c, "nosecret", CreateRequest{CreateRequest: container.CreateRequest{Config: &cfg, HostConfig: &container.HostConfig{}},
			Secrets: []FileRef{{Name: "missing"}}})
		if KindOf(err) != KindNotFound || err.Error() != "secret not found: missing" {
			t.Fatalf("create: %v", err)
		}
		if after := leftovers(t, e); len(after) != len(before) {
			t.Errorf("a failed create left %v (before %v)", after, before)
		}
	})

	t.Run("never shown", func(t *testing.T) {
		id := createWith(t, e, []FileRef{{Name: "pw"}, {Name: "pw", Target: "/etc/pw"}}, []FileRef{{Name: "app.conf"}}, "sleep", "1000")
		if err := e.ContainerStart(c, id); err != nil {
			t.Fatal(err)
		}
		r, err := e.load(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(mountsUnder(t, r.secretsHostDir())) != 1 {
			t.Errorf("no tmpfs at %s while the container runs", r.secretsHostDir())
		}
		noValue := func(what string, b []byte) {
			t.Helper()
			if bytes.Contains(b, []byte(secretValue)) {
				t.Errorf("%s shows the secret's value", what)
			}
		}
		ins := inspect(t, e, id)
		b, _ := json.Marshal(ins)
		noValue("inspect", b)
		// export: the container's filesystem as the host sees it.
		rc, err := e.ContainerExport(c, id)
		if err != nil {
			t.Fatal(err)
		}
		exported := readAll(t, rc)
		rc.Close()
		noValue("export", exported)
		tr := tar.NewReader(bytes.NewReader(exported))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if strings.HasPrefix(h.Name, "run/secrets/") || h.Name == "etc/pw" {
				if h.Size != 0 {
					t.Errorf("export has %s of %d bytes", h.Name, h.Size)
				}
			}
		}
		// The container's own layer (what a commit or diff reads).
		ms, err := e.Images.Snapshots.Mounts(c, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if upper, _ := overlayDirs(m); upper != "" {
				filepath.Walk(upper, func(p string, fi os.FileInfo, err error) error {
					if err == nil && fi.Mode().IsRegular() {
						b, _ := os.ReadFile(p)
						noValue("the upper file "+p, b)
					}
					return nil
				})
			}
		}
		if _, err := e.ContainerChanges(c, id); err != nil {
			t.Errorf("changes: %v", err)
		}
		// Records, key directory, container directory (but the tmpfs).
		for _, root := range []string{e.opts.Root, e.opts.RuntimeRoot, e.opts.ExecRoot} {
			filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
				if err != nil {
					return nil
				}
				if fi.IsDir() && (p == r.secretsHostDir() || p == r.rootfsDir()) {
					return filepath.SkipDir // the tmpfs itself; the rootfs is the export above
				}
				if fi.Mode().IsRegular() {
					b, _ := os.ReadFile(p)
					noValue(p, b)
				}
				return nil
			})
		}
		// In use: not removable.
		if err := e.SecretRemove(c, "pw"); KindOf(err) != KindConflict || !strings.Contains(err.Error(), ins.Name[1:]) {
			t.Errorf("remove a secret in use: %v", err)
		}
		if err := e.ConfigRemove(c, "app.conf"); KindOf(err) != KindConflict {
			t.Errorf("remove a config in use: %v", err)
		}
		// Stopped: the tmpfs is gone.
		if err := e.ContainerStop(c, id, StopOptions{Timeout: intPtr(0)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the secrets tmpfs to go", func() bool { return len(mountsUnder(t, r.secretsHostDir())) == 0 })
		if _, err := os.Stat(r.secretsHostDir()); !os.IsNotExist(err) {
			t.Errorf("%s after the stop: %v", r.secretsHostDir(), err)
		}
		// Start again: the files are back.
		if err := e.ContainerStart(c, id); err != nil {
			t.Fatal(err)
		}
		if len(mountsUnder(t, r.secretsHostDir())) != 1 {
			t.Errorf("no tmpfs after a second start")
		}
		if err := e.ContainerRemove(c, id, RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		if len(mountsUnder(t, r.secretsHostDir())) != 0 {
			t.Errorf("the tmpfs outlived the container")
		}
	})

	// Every container gone: the secret can go.
	all, _ := e.ContainerList(c, ListOptions{All: true})
	for _, x := range all {
		e.ContainerRemove(c, x.ID, RemoveOptions{Force: true})
	}
	if err := e.SecretRemove(c, "pw"); err != nil {
		t.Errorf("remove an unused secret: %v", err)
	}
	for _, m := range mountsUnder(t, e.opts.Root) {
		t.Errorf("mount left: %s", m)
	}
}

func intPtr(i int) *int { return &i }

// TestSecretsTmpfsNotLeaked: a secrets tmpfs that a start cut short left
// behind (the process died between secretsUp and the record) is gone once
// a daemon opens the data root.
func TestSecretsTmpfsNotLeaked(t *testing.T) {
	o := testOptions(t, false)
	e := openTest(t, o, false)
	c := ctx(t)
	if _, err := e.SecretCreate(c, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw"}, Data: []byte(secretValue)}); err != nil {
		t.Fatal(err)
	}
	id := createWith(t, e, []FileRef{{Name: "pw"}}, nil, "true")
	r, err := e.load(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.secretsUp(c, r); err != nil {
		t.Fatal(err)
	}
	if len(mountsUnder(t, r.secretsHostDir())) != 1 {
		t.Fatalf("no tmpfs after secretsUp")
	}
	b, err := os.ReadFile(filepath.Join(r.secretsHostDir(), fileRefFile(kindSecret, 0)))
	if err != nil || string(b) != secretValue {
		t.Fatalf("the file on the tmpfs: %v", err)
	}
	e.Close()
	o.Daemon = true
	d := openTest(t, o, true)
	if m := mountsUnder(t, r.secretsHostDir()); len(m) != 0 {
		t.Errorf("the tmpfs survived a daemon's start: %v", m)
	}
	if _, err := os.Stat(r.secretsHostDir()); !os.IsNotExist(err) {
		t.Errorf("%s: %v", r.secretsHostDir(), err)
	}
	d.secretsDown(r) // twice is fine
}
