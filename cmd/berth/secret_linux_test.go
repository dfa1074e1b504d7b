package main

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/gate"
)

// TestSecretsDaemonless: berth's own commands, with the engine in-process:
// a secret from stdin reaches a container, and only there.
func TestSecretsDaemonless(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	const value = "daemonless-s3cret-value"
	sum := md5.Sum([]byte(value))
	if r := c.run([]byte(value), "secret", "create", "--label", "team=a", "pw", "-"); r.code != 0 || len(strings.TrimSpace(r.stdout)) != 25 {
		t.Fatalf("secret create: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := c.run([]byte("name=web\n"), "config", "create", "app.conf", "-"); r.code != 0 {
		t.Fatalf("config create: %s", r.stderr)
	}
	if out := c.ok("secret", "ls", "--format", "{{.Name}} {{.Label \"team\"}}"); out != "pw a\n" {
		t.Errorf("secret ls: %q", out)
	}
	out := c.ok("run", "--name", "reader", "--network", "none", "--secret", "pw", "--secret", "source=pw,target=/etc/pw,uid=7,mode=0440",
		"--config", "app.conf", img, "sh", "-c", "stat -c '%n %a %u' /run/secrets/pw /etc/pw /app.conf; md5sum /etc/pw; cat /app.conf")
	for _, want := range []string{"/run/secrets/pw 400 0\n", "/etc/pw 440 7\n", "/app.conf 444 0\n", hex.EncodeToString(sum[:]), "name=web\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("run printed %q, lacking %q", out, want)
		}
	}
	for _, args := range [][]string{{"inspect", "reader"}, {"logs", "reader"}, {"secret", "inspect", "pw"}, {"secret", "inspect", "--pretty", "pw"}, {"export", "reader"}} {
		if r := c.run(nil, args...); r.code != 0 || strings.Contains(r.stdout+r.stderr, value) {
			t.Errorf("berth %s: exit %d, or shows the value", strings.Join(args, " "), r.code)
		}
	}
	if out := c.ok("config", "inspect", "--pretty", "app.conf"); !strings.Contains(out, "Data:\nname=web\n") {
		t.Errorf("config inspect --pretty: %q", out)
	}
	c.fails("secret 'pw' is in use by the following container: reader", "secret", "rm", "pw")
	c.fails("secret not found: nope", "create", "--name", "never", "--secret", "nope", img)
	if out := c.ok("ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, "never") {
		t.Errorf("a create with a missing secret made a container: %q", out)
	}
	// Nothing readable on disk holds the value; the key is root's alone.
	filepath.Walk(c.root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(value)) {
				t.Errorf("%s holds the value", p)
			}
		}
		return nil
	})
	if fi, err := os.Stat(filepath.Join(c.root, "secrets", "key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	c.ok("rm", "reader")
	if out := c.ok("secret", "rm", "pw"); out != "pw\n" {
		t.Errorf("secret rm: %q", out)
	}
	c.ok("config", "rm", "app.conf")
	if out := c.ok("secret", "ls", "-q"); out != "" {
		t.Errorf("secret ls after rm: %q", out)
	}
}

// TestDockerCLISecretsDaemon: docker's CLI manages secrets on berth's
// daemon, and berth run --secret through the daemon gets the file.
func TestDockerCLISecretsDaemon(t *testing.T) {
	gate.Command(t, "docker")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	d.dockerOK("pull", "-q", img)
	const value = "daemon-s3cret-value"
	r := d.docker(strings.NewReader(value), "secret", "create", "-l", "k=v", "pw", "-")
	if r.code != 0 || len(strings.TrimSpace(r.stdout)) != 25 {
		t.Fatalf("docker secret create: %d %q %q", r.code, r.stdout, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if out := d.dockerOK("secret", "ls"); !strings.Contains(out, id) || !strings.Contains(out, "pw") || !strings.HasPrefix(out, "ID") {
		t.Errorf("docker secret ls:\n%s", out)
	}
	if out := d.dockerOK("secret", "ls", "-q", "--filter", "label=k=v"); out != id+"\n" {
		t.Errorf("docker secret ls -q: %q", out)
	}
	if out := d.dockerOK("secret", "inspect", "--format", "{{.Spec.Name}} {{.Spec.Labels}}", "pw"); out != "pw map[k:v]\n" {
		t.Errorf("docker secret inspect: %q", out)
	}
	if r := d.docker(strings.NewReader("x"), "secret", "create", "pw", "-"); r.code == 0 || !strings.Contains(r.stderr, "secret pw already exists") {
		t.Errorf("docker secret create twice: %d %q", r.code, r.stderr)
	}
	out := c.ok("run", "--rm", "--network", "none", "--secret", "pw", img, "sh", "-c", "wc -c < /run/secrets/pw; stat -c %a /run/secrets/pw")
	if strings.Fields(out)[0] != "19" || !strings.HasSuffix(out, "400\n") {
		t.Errorf("run through the daemon: %q", out)
	}
	if out := d.dockerOK("secret", "rm", "pw"); out != "pw\n" {
		t.Errorf("docker secret rm: %q", out)
	}
	if r := d.docker(nil, "secret", "inspect", "pw"); r.code == 0 || !strings.Contains(r.stderr, "secret pw not found") {
		t.Errorf("inspect after rm: %d %q", r.code, r.stderr)
	}
	if r := d.docker(strings.NewReader("a=1\n"), "config", "create", "cfg", "-"); r.code != 0 {
		t.Fatalf("docker config create: %s", r.stderr)
	}
	if out := d.dockerOK("config", "inspect", "--pretty", "cfg"); !strings.Contains(out, "a=1") {
		t.Errorf("docker config inspect --pretty:\n%s", out)
	}
	d.dockerOK("config", "rm", "cfg")
}
