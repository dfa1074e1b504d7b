package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The lecture's compose example, adapted to busybox: a service built from
// ./nginx with its Dockerfile, a named volume at /var/www, the log folder
// bound from ${NGINX_LOG_PATH}, a published port and two file secrets.
const lectureCompose = `version: "3.9"
services:
  web:
    build:
      context: ./nginx
      dockerfile: Dockerfile
    init: true
    volumes:
      - www:/var/www
      - ${NGINX_LOG_PATH}:/var/log/nginx
    ports:
      - "${WEB_PORT:-8080}:80"
    secrets:
      - key_file
      - source: cert_file
        target: cert.pem
volumes:
  www:
secrets:
  key_file:
    file: ./secrets/key.pem
  cert_file:
    file: ./secrets/cert.pem
`

const lectureDockerfile = `FROM busybox
COPY index.html /var/www/index.html
COPY secrets.cgi /var/www/cgi-bin/secrets
RUN chmod +x /var/www/cgi-bin/secrets
CMD ["sh", "-c", "mkdir -p /var/log/nginx && echo started >> /var/log/nginx/access.log && exec httpd -f -p 80 -h /var/www"]
`

const lectureCGI = `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
cat /run/secrets/key_file /run/secrets/cert.pem
`

func TestLectureExample(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	port := freePort(t)
	files := map[string]string{
		"compose.yaml":        lectureCompose,
		"nginx/Dockerfile":    lectureDockerfile,
		"nginx/index.html":    "<h1>lecture</h1>\n",
		"nginx/secrets.cgi":   lectureCGI,
		"secrets/key.pem":     "KEY-123\n",
		"secrets/cert.pem":    "CERT-456\n",
		".env":                fmt.Sprintf("WEB_PORT=%d\n", port),
		"nginx/.dockerignore": "",
	}
	for name, data := range files {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	p, err := Load(ctx, LoadOptions{ConfigFiles: []string{filepath.Join(dir, "compose.yaml")}, Environ: []string{"NGINX_LOG_PATH=" + logs}})
	must(t, err)
	if p.Name != filepath.Base(dir) && p.Name != strings.ToLower(filepath.Base(dir)) {
		t.Errorf("project name %q, want the folder's", p.Name)
	}
	var progress syncBuffer
	c := New(e, &progress)
	err = c.Up(ctx, p, UpOptions{Detach: true})
	if err != nil && strings.Contains(err.Error(), "not implemented yet") {
		t.Skip("compose build is not on this branch yet (helper cmds): ", err)
	}
	must(t, err)
	defer c.Down(ctx, p.Name, p, DownOptions{Volumes: true, Images: "local"})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if got := fetch(t, base+"/index.html", 20*time.Second); got != "<h1>lecture</h1>\n" {
		t.Errorf("index: %q (the image's /var/www copied into the named volume)", got)
	}
	if got := fetch(t, base+"/cgi-bin/secrets", 10*time.Second); got != "KEY-123\nCERT-456\n" {
		t.Errorf("secrets at /run/secrets: %q", got)
	}
	b, err := os.ReadFile(filepath.Join(logs, "access.log"))
	if err != nil || !strings.Contains(string(b), "started") {
		t.Errorf("the log at ${NGINX_LOG_PATH}: %q %v", b, err)
	}
	vol := p.Name + "_www"
	if v, err := e.VolumeInspect(ctx, vol); err != nil || v.Labels[LabelProject] != p.Name || v.Labels[LabelVolume] != "www" {
		t.Errorf("volume %s: %v %v", vol, v.Labels, err)
	}
	if _, err := e.ImageInspect(ctx, p.Name+"-web"); err != nil {
		t.Errorf("the built image is not tagged %s-web: %v", p.Name, err)
	}
	// The secrets are read-only binds of the files.
	list, err := c.Containers(ctx, p.Name, OneoffExclude, false, "web")
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("%d web containers", len(list))
	}
	insp, err := e.ContainerInspect(ctx, list[0].ID, false)
	must(t, err)
	found := 0
	for _, m := range insp.Mounts {
		if m.Destination == "/run/secrets/key_file" || m.Destination == "/run/secrets/cert.pem" {
			found++
			if m.RW {
				t.Errorf("secret %s is writable", m.Destination)
			}
		}
	}
	if found != 2 {
		t.Errorf("secret mounts: %+v", insp.Mounts)
	}

	// A second up (no --build) reuses the built image and the container.
	before := state(t, c, p.Name)
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	if after := state(t, c, p.Name); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("second up changed %v -> %v", before, after)
	}
	must(t, c.Down(ctx, p.Name, p, DownOptions{Volumes: true, Images: "local"}))
	if l := leftovers(t, e, p.Name); len(l) != 0 {
		t.Errorf("after down -v: %v", l)
	}
	if _, err := e.ImageInspect(ctx, p.Name+"-web"); err == nil {
		t.Errorf("--rmi local left %s-web", p.Name)
	}
}
