package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/gate"
	"github.com/berth-project/berth/internal/imagetest"
)

// The real third-party client: Debian's docker-compose 1.29 (Python,
// docker-py 5, which negotiates its own API version) drives berth's daemon
// through the compose files of the compose tests.

// composeV1 is one docker-compose 1.29 project on a test's daemon: its
// folder, its name (-p) and its environment.
type composeV1 struct {
	t    *testing.T
	d    *daemon
	dir  string
	name string
	env  []string
}

// newComposeV1 sets up project name in dir against d; whatever the test
// leaves is taken down (containers, networks, volumes) before the daemon
// stops.
func newComposeV1(t *testing.T, d *daemon, dir, name string, env ...string) *composeV1 {
	t.Helper()
	p := &composeV1{t: t, d: d, dir: dir, name: name}
	p.env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock, "DOCKER_CONFIG="+filepath.Join(d.c.root, "..", "docker"),
		// Builds go through the API (docker-py), not through a docker CLI.
		"COMPOSE_DOCKER_CLI_BUILD=0", "DOCKER_BUILDKIT=0")
	p.env = append(p.env, env...)
	t.Cleanup(func() { p.run("down", "-v", "-t", "0", "--remove-orphans") })
	return p
}

// run runs docker-compose -p NAME args in the project's folder.
func (p *composeV1) run(args ...string) result {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-p", p.name}, args...)...)
	cmd.Dir, cmd.Env = p.dir, p.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatalf("docker-compose %s: %v", strings.Join(args, " "), err)
	}
	return result{out.String(), errb.String(), code}
}

// ok runs docker-compose and fails the test unless it exits 0; it returns
// stdout and stderr together (docker-compose reports progress on stderr).
func (p *composeV1) ok(args ...string) string {
	p.t.Helper()
	r := p.run(args...)
	if r.code != 0 {
		p.t.Fatalf("docker-compose %s: exit %d\nstdout: %s\nstderr: %s\ndaemon:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr, lastN(p.d.logs.String(), 30))
	}
	return r.stdout + r.stderr
}

// ids are the full IDs of the project's containers (of one service if
// given), sorted.
func (p *composeV1) ids(service ...string) []string {
	p.t.Helper()
	r := p.run(append([]string{"ps", "-q"}, service...)...)
	if r.code != 0 {
		p.t.Fatalf("docker-compose ps -q: exit %d: %s", r.code, r.stderr)
	}
	ids := strings.Fields(r.stdout)
	slices.Sort(ids)
	return ids
}

// dcImage is a busybox image in a fresh registry, with the applets
// the compose files use beyond the fixture's (httpd, od).
func dcImage(t *testing.T) string {
	t.Helper()
	reg := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{})
	ref := reg.Host + "/lecture/busybox:httpd"
	pushImage(t, reg, ref, imagetest.LayoutOptions{ExtraLayers: []imagetest.Layer{{Entries: []imagetest.Entry{
		imagetest.Symlink("bin/httpd", "busybox"), imagetest.Symlink("bin/od", "busybox"),
	}}}})
	return ref
}

// dcWaitHTTP polls url until it answers 200 with want in the body.
func dcWaitHTTP(t *testing.T, url, want string) {
	t.Helper()
	eventually(t, "GET "+url, func() (bool, string) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains(string(b), want), fmt.Sprintf("%d %q", resp.StatusCode, b)
	})
}

// dcLabels are the labels of a container, network or volume, through berth.
func (c *cli) dcLabels(kind, name string) map[string]string {
	c.t.Helper()
	format := "{{json .Config.Labels}}"
	if kind != "container" {
		format = "{{json .Labels}}"
	}
	var l map[string]string
	if err := json.Unmarshal([]byte(c.ok(kind, "inspect", "--format", format, name)), &l); err != nil {
		c.t.Fatalf("%s %s labels: %v", kind, name, err)
	}
	return l
}

// dcWantLabels fails unless got has every label of want.
func dcWantLabels(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: label %s = %q, want %q (all: %v)", what, k, got[k], v, got)
		}
	}
}

// dcGone fails unless berth's daemon no longer knows kind name.
func (c *cli) dcGone(kind, name string) {
	c.t.Helper()
	if r := c.run(nil, kind, "inspect", name); r.code == 0 {
		c.t.Errorf("%s %s still exists after down", kind, name)
	}
}

// dcApp3 is a folder with compose/testdata/app3's file without its
// top-level name: docker-compose 1.29 predates the key (the project name
// comes from -p).
func dcApp3(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("../../compose/testdata/app3/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(src), "\n") {
		if !strings.HasPrefix(l, "name:") {
			lines = append(lines, l)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDockerComposeApp3: the shared 3-service app, driven by
// docker-compose 1.29 against berth's daemon: db healthy on a named
// volume, app waiting for it and reaching it by name, web publishing a
// port; a second up touches nothing; --scale up and down; a changed
// service is recreated and only it; the volume keeps its data across down
// and up; down -v leaves nothing.
func TestDockerComposeApp3(t *testing.T) {
	gate.Command(t, "docker-compose")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := dcImage(t)

	dir := dcApp3(t)
	port := freePort(t)
	const name = "dcapp3"
	p := newComposeV1(t, d, dir, name, "IMAGE="+img, "WEB_PORT="+strconv.Itoa(port))

	if out := p.ok("pull"); !strings.Contains(out, "Pulling db") {
		t.Fatalf("pull said:\n%s", out)
	}
	out := p.ok("up", "-d")
	for _, want := range []string{"Creating network \"" + name + "_default\"", "Creating volume \"" + name + "_data\"", "Creating " + name + "_db_1", "Creating " + name + "_app_1", "Creating " + name + "_web_1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("up -d: no %q in:\n%s", want, out)
		}
	}
	// db made a value; web answers it through app, by name, on the
	// published port.
	value := strings.TrimSpace(p.ok("exec", "-T", "db", "cat", "/data/value"))
	if len(value) != 16 {
		t.Fatalf("db's value %q", value)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/value", port)
	dcWaitHTTP(t, url, value)

	ps := p.ok("ps")
	for _, want := range []string{name + "_db_1", "Up (healthy)", name + "_app_1", name + "_web_1", fmt.Sprintf("0.0.0.0:%d->80/tcp", port)} {
		if !strings.Contains(ps, want) {
			t.Fatalf("ps: no %q in:\n%s", want, ps)
		}
	}
	if out := p.ok("logs", "--no-color"); !strings.Contains(out, "Attaching to") {
		t.Fatalf("logs:\n%s", out)
	}

	// Labelled as docker compose labels them, so both tools see them.
	for _, svc := range []string{"db", "app", "web"} {
		dcWantLabels(t, svc, c.dcLabels("container", name+"_"+svc+"_1"), map[string]string{
			"com.docker.compose.project": name, "com.docker.compose.service": svc,
			"com.docker.compose.container-number": "1", "com.docker.compose.oneoff": "False",
		})
	}
	dcWantLabels(t, "network", c.dcLabels("network", name+"_default"), map[string]string{"com.docker.compose.project": name, "com.docker.compose.network": "default"})
	dcWantLabels(t, "volume", c.dcLabels("volume", name+"_data"), map[string]string{"com.docker.compose.project": name, "com.docker.compose.volume": "data"})
	if got := c.ok("ps", "--filter", "label=com.docker.compose.project="+name, "--format", "{{.Names}}"); len(strings.Fields(got)) != 3 {
		t.Fatalf("berth ps by the project label:\n%s", got)
	}

	// A second up with nothing changed touches nothing.
	before := p.ids()
	if out := p.ok("up", "-d"); strings.Count(out, "is up-to-date") != 3 {
		t.Fatalf("second up:\n%s", out)
	}
	if after := p.ids(); !slices.Equal(before, after) {
		t.Fatalf("second up changed the containers: %v -> %v", before, after)
	}

	// Three replicas of app, all behind the name app; the others stay.
	p.ok("up", "-d", "--scale", "app=3")
	apps := p.ids("app")
	if len(apps) != 3 {
		t.Fatalf("--scale app=3 gave %d app containers", len(apps))
	}
	for _, n := range []string{"1", "2", "3"} {
		if l := c.dcLabels("container", name+"_app_"+n); l["com.docker.compose.container-number"] != n {
			t.Fatalf("%s_app_%s: container-number %q", name, n, l["com.docker.compose.container-number"])
		}
	}
	if all := p.ids(); len(all) != 5 || !slices.Contains(all, before[0]) {
		t.Fatalf("after --scale: %v (before: %v)", all, before)
	}
	lookup := p.ok("exec", "-T", "web", "nslookup", "app")
	n := 0
	for _, l := range strings.Split(lookup, "\n") {
		if strings.HasPrefix(l, "Address: ") && !strings.HasSuffix(l, ":53") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("app resolves to %d addresses, want 3:\n%s", n, lookup)
	}
	dcWaitHTTP(t, url, value)
	p.ok("up", "-d", "--scale", "app=1", "-t", "1")
	if apps := p.ids("app"); len(apps) != 1 || !slices.Contains(before, apps[0]) {
		t.Fatalf("--scale app=1 left %v (the first was among %v)", apps, before)
	}

	// A changed service (web's published port) is recreated, and only it.
	dbApp := append(p.ids("db"), p.ids("app")...)
	oldWeb := p.ids("web")
	port2 := freePort(t)
	p.env = append(p.env, "WEB_PORT="+strconv.Itoa(port2))
	if out := p.ok("up", "-d", "-t", "1"); !strings.Contains(out, "Recreating "+name+"_web_1") || strings.Contains(out, "Recreating "+name+"_db_1") {
		t.Fatalf("up after a change of web:\n%s", out)
	}
	if got := append(p.ids("db"), p.ids("app")...); !slices.Equal(got, dbApp) {
		t.Fatalf("changing web recreated db or app: %v -> %v", dbApp, got)
	}
	if got := p.ids("web"); len(got) != 1 || got[0] == oldWeb[0] {
		t.Fatalf("web was not recreated: %v -> %v", oldWeb, got)
	}
	url = fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/value", port2)
	dcWaitHTTP(t, url, value)

	// down keeps the named volume: up again serves the same value.
	p.ok("down", "-t", "1")
	if ids := p.ids(); len(ids) != 0 {
		t.Fatalf("after down: %v", ids)
	}
	c.dcGone("network", name+"_default")
	c.dcLabels("volume", name+"_data")
	p.ok("up", "-d")
	dcWaitHTTP(t, url, value)

	// down -v: no container, network or volume left.
	out = p.ok("down", "-v", "-t", "1")
	if !strings.Contains(out, "Removing volume "+name+"_data") {
		t.Fatalf("down -v:\n%s", out)
	}
	if got := c.ok("ps", "-a", "--filter", "label=com.docker.compose.project="+name, "-q"); strings.TrimSpace(got) != "" {
		t.Fatalf("containers left after down -v: %s", got)
	}
	c.dcGone("network", name+"_default")
	c.dcGone("volume", name+"_data")
}

// TestDockerComposeLecture: the lecture's compose example with a build
// (./nginx's Dockerfile FROM the busybox image, busybox httpd), a named
// volume at /var/www, ${NGINX_LOG_PATH}:/var/log/nginx, a published port
// and file secrets at /run/secrets, driven by docker-compose 1.29 with
// --build; an unchanged rebuild keeps the container, a changed one
// recreates it; down -v --rmi all leaves nothing.
func TestDockerComposeLecture(t *testing.T) {
	gate.Command(t, "docker-compose")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := dcImage(t)

	dir := t.TempDir()
	logDir := filepath.Join(t.TempDir(), "nginx-logs")
	files := map[string]string{
		"compose.yaml": `version: "3.8"
services:
  web:
    build:
      context: ./nginx
      dockerfile: Dockerfile
      args:
        GREETING: ${GREETING:-hello}
    image: lecture/web:dev
    volumes:
      - www:/var/www
      - ${NGINX_LOG_PATH}:/var/log/nginx
    ports:
      - "${WEB_PORT}:80"
    secrets:
      - key_file
      - cert_file
volumes:
  www:
secrets:
  key_file:
    file: ./secrets/key.pem
  cert_file:
    file: ./secrets/cert.pem
`,
		"nginx/Dockerfile": "FROM " + img + `
ARG GREETING=none
RUN mkdir -p /var/www/cgi-bin /var/log/nginx && echo "$GREETING from the image" > /var/www/index.html
COPY secret.cgi /var/www/cgi-bin/secret
CMD ["sh", "-c", "echo web started | tee -a /var/log/nginx/access.log; exec httpd -f -vv -p 80 -h /var/www"]
`,
		"nginx/secret.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\ncat /run/secrets/key_file /run/secrets/cert_file\n",
		"secrets/key.pem":  "KEY-0123\n",
		"secrets/cert.pem": "CERT-4567\n",
	}
	for f, s := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasSuffix(f, ".cgi") {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	const name = "dclecture"
	env := []string{"NGINX_LOG_PATH=" + logDir, "WEB_PORT=" + strconv.Itoa(port)}
	p := newComposeV1(t, d, dir, name, append(env, "GREETING=bonjour")...)

	out := p.ok("up", "-d", "--build")
	for _, want := range []string{"Building web", "Successfully tagged lecture/web:dev", "Creating " + name + "_web_1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("up -d --build: no %q in:\n%s", want, out)
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	// The named volume starts with the image's /var/www; the build arg
	// made its page.
	dcWaitHTTP(t, base+"/", "bonjour from the image")
	dcWaitHTTP(t, base+"/cgi-bin/secret", "KEY-0123\nCERT-4567\n")
	// The interpolated bind: the container's log is on the host.
	eventually(t, "log on the host", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(logDir, "access.log"))
		return string(b) == "web started\n", string(b)
	})
	// File secrets are read-only binds.
	if r := p.run("exec", "-T", "web", "sh", "-c", "echo x > /run/secrets/key_file"); r.code == 0 {
		t.Fatal("a secret file was writable")
	}
	if got := p.ok("exec", "-T", "web", "cat", "/run/secrets/cert_file"); got != "CERT-4567\n" {
		t.Fatalf("exec cat secret: %q", got)
	}
	eventually(t, "logs", func() (bool, string) {
		r := p.run("logs", "--no-color", "web")
		return strings.Contains(r.stdout, "web_1  | web started") && strings.Contains(r.stdout, "url:/cgi-bin/secret"), r.stdout
	})
	if got := p.ok("port", "web", "80"); strings.TrimSpace(got) != "0.0.0.0:"+strconv.Itoa(port) {
		t.Fatalf("port: %q", got)
	}
	if got := p.ok("top"); !strings.Contains(got, "httpd -f -vv -p 80 -h /var/www") {
		t.Fatalf("top:\n%s", got)
	}
	if got := p.ok("images"); !strings.Contains(got, name+"_web_1") || !strings.Contains(got, "lecture/web") {
		t.Fatalf("images:\n%s", got)
	}
	// A one-off container: the service's config (secrets too), its own
	// name, removed after.
	if got := p.ok("run", "--rm", "-T", "web", "cat", "/run/secrets/key_file"); !strings.Contains(got, "KEY-0123") {
		t.Fatalf("run --rm: %q", got)
	}
	if got := c.ok("ps", "-a", "--format", "{{.Names}}"); strings.TrimSpace(got) != name+"_web_1" {
		t.Fatalf("after run --rm, containers: %q", got)
	}
	dcWantLabels(t, "web", c.dcLabels("container", name+"_web_1"), map[string]string{
		"com.docker.compose.project": name, "com.docker.compose.service": "web", "com.docker.compose.container-number": "1",
	})
	dcWantLabels(t, "volume", c.dcLabels("volume", name+"_www"), map[string]string{"com.docker.compose.project": name, "com.docker.compose.volume": "www"})

	// The same build again: every step cached, the same image, the
	// container kept.
	before := p.ids()
	if out := p.ok("up", "-d", "--build"); !strings.Contains(out, "is up-to-date") {
		t.Fatalf("second up --build:\n%s", out)
	}
	if after := p.ids(); !slices.Equal(before, after) {
		t.Fatalf("an unchanged build recreated the container: %v -> %v", before, after)
	}

	// A changed build arg: a new image, the container recreated on it
	// (docker-compose reads the old image's ContainerConfig to carry its
	// volumes over); the named volume keeps its content.
	p.env = append(p.env, "GREETING=hallo")
	if out := p.ok("up", "-d", "--build"); !strings.Contains(out, "Recreating "+name+"_web_1") {
		t.Fatalf("up --build after a change:\n%s", out)
	}
	after := p.ids()
	if len(after) != 1 || after[0] == before[0] {
		t.Fatalf("a changed build kept the container: %v -> %v", before, after)
	}
	newImage := strings.TrimSpace(c.ok("image", "inspect", "--format", "{{.Id}}", "lecture/web:dev"))
	if got := strings.TrimSpace(c.ok("inspect", "--format", "{{.Image}}", after[0])); got != newImage {
		t.Fatalf("the recreated container runs %s, not the new image %s", got, newImage)
	}
	dcWaitHTTP(t, base+"/", "bonjour from the image")
	if got := p.ok("exec", "-T", "web", "cat", "/run/secrets/key_file"); got != "KEY-0123\n" {
		t.Fatalf("secret after recreate: %q", got)
	}

	out = p.ok("down", "-v", "--rmi", "all", "-t", "1")
	if !strings.Contains(out, "Removing image lecture/web:dev") {
		t.Fatalf("down -v --rmi all:\n%s", out)
	}
	if got := c.ok("ps", "-a", "-q"); strings.TrimSpace(got) != "" {
		t.Fatalf("containers left after down: %s", got)
	}
	c.dcGone("network", name+"_default")
	c.dcGone("volume", name+"_www")
	c.dcGone("image", "lecture/web:dev")
}

// TestDockerComposeAndBerthCompose: the two tools see each other's
// projects through docker compose's labels: docker-compose 1.29 lists,
// reads the logs of and takes down what `berth compose up` made, and
// `berth compose` does the same with what docker-compose made.
func TestDockerComposeAndBerthCompose(t *testing.T) {
	gate.Command(t, "docker-compose")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := dcImage(t)
	dir := dcApp3(t)
	file := filepath.Join(dir, "compose.yaml")
	port := freePort(t)
	env := []string{"IMAGE=" + img, "WEB_PORT=" + strconv.Itoa(port)}
	c.env = append(c.env, env...)
	url := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/value", port)

	const bname = "madebyberth"
	t.Cleanup(func() { c.run(nil, "compose", "-f", file, "-p", bname, "down", "-v", "-t", "0") })
	c.ok("compose", "-f", file, "-p", bname, "up", "-d")
	p := newComposeV1(t, d, dir, bname, env...)
	ps := p.ok("ps")
	for _, svc := range []string{"db", "app", "web"} {
		if !strings.Contains(ps, bname+"-"+svc+"-1") {
			t.Fatalf("docker-compose ps of berth compose's project: no %s:\n%s", svc, ps)
		}
	}
	if !strings.Contains(ps, "Up (healthy)") {
		t.Fatalf("docker-compose ps: db not healthy:\n%s", ps)
	}
	value := strings.TrimSpace(p.ok("exec", "-T", "db", "cat", "/data/value"))
	dcWaitHTTP(t, url, value)
	out := p.ok("down", "-v")
	for _, want := range []string{"Removing " + bname + "-web-1", "Removing network " + bname + "_default", "Removing volume " + bname + "_data"} {
		if !strings.Contains(out, want) {
			t.Fatalf("docker-compose down -v of berth compose's project: no %q in:\n%s", want, out)
		}
	}
	if got := c.ok("ps", "-aq"); strings.TrimSpace(got) != "" {
		t.Fatalf("left after docker-compose down -v: %s", got)
	}
	c.dcGone("network", bname+"_default")
	c.dcGone("volume", bname+"_data")

	const dname = "madebydc"
	q := newComposeV1(t, d, dir, dname, env...)
	q.ok("up", "-d")
	dcWaitHTTP(t, url, strings.TrimSpace(q.ok("exec", "-T", "db", "cat", "/data/value")))
	ps = c.ok("compose", "-f", file, "-p", dname, "ps", "--format", "{{.Name}} {{.Service}} {{.State}}")
	for _, svc := range []string{"db", "app", "web"} {
		if !strings.Contains(ps, dname+"_"+svc+"_1 "+svc+" running") {
			t.Fatalf("berth compose ps of docker-compose's project: no %s:\n%s", svc, ps)
		}
	}
	c.ok("compose", "-f", file, "-p", dname, "down", "-v")
	if got := c.ok("ps", "-aq"); strings.TrimSpace(got) != "" {
		t.Fatalf("left after berth compose down -v: %s", got)
	}
	c.dcGone("network", dname+"_default")
	c.dcGone("volume", dname+"_data")
}
