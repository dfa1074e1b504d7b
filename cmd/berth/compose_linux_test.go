package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/imagetest"
)

// This file drives `berth compose` as a user does: the lecture's compose
// example (a service built from ./nginx, a named volume, an interpolated
// bind mount, a published port, file secrets) in-process and through the
// daemon, each command's key flags, and bad input.

// composeNotYet skips the test when a part of compose it needs is not
// written yet (the library's "not implemented yet").
func composeNotYet(t *testing.T, r result) {
	t.Helper()
	if strings.Contains(r.stderr, "compose: not implemented yet") {
		t.Skipf("compose is not complete yet: %s", strings.TrimSpace(r.stderr))
	}
}

// compose runs `berth compose ARGS` and fails the test unless it exits 0
// (or skips it when compose cannot do it yet); it returns stdout.
func (c *cli) compose(args ...string) string {
	c.t.Helper()
	r := c.run(nil, append([]string{"compose"}, args...)...)
	composeNotYet(c.t, r)
	if r.code != 0 {
		c.t.Fatalf("berth compose %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// composeRun is compose with the whole result.
func (c *cli) composeRun(args ...string) result {
	c.t.Helper()
	r := c.run(nil, append([]string{"compose"}, args...)...)
	composeNotYet(c.t, r)
	return r
}

const lectureCompose = `services:
  web:
    build:
      context: ./nginx
      dockerfile: Dockerfile
    ports:
      - "${WEB_PORT}:80"
    volumes:
      - www:/var/www
      - ${NGINX_LOG_PATH}:/var/log/nginx
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
`

// lectureDockerfile is the lecture's nginx image on busybox: httpd
// serves /var/www (the named volume), a line goes to the log folder.
// The shell stays PID 1 and ends on TERM (httpd as PID 1 ignores it, and
// each stop would wait out its 10 s).
const lectureDockerfile = `FROM %s
RUN mkdir -p /var/www /var/log/nginx
CMD ["sh", "-c", "trap 'exit 0' TERM; echo '<h1>hello from compose</h1>' > /var/www/index.html; echo started >> /var/log/nginx/access.log; echo web started; httpd -f -p 80 -h /var/www & wait"]
`

// lectureProject writes the lecture's project in a folder named lecture
// and returns the folder and the port web publishes.
func lectureProject(t *testing.T, img string) (string, int) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lecture")
	port := freePort(t)
	writeFile(t, filepath.Join(dir, "compose.yaml"), lectureCompose)
	writeFile(t, filepath.Join(dir, ".env"), fmt.Sprintf("WEB_PORT=%d\nNGINX_LOG_PATH=./logs\n", port))
	writeFile(t, filepath.Join(dir, "nginx", "Dockerfile"), fmt.Sprintf(lectureDockerfile, img))
	writeFile(t, filepath.Join(dir, "secrets", "key.pem"), "the key\n")
	writeFile(t, filepath.Join(dir, "secrets", "cert.pem"), "the cert\n")
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, port
}

// composeCleanup takes the project down (volumes too) when the test ends.
func (c *cli) composeCleanup(project string) {
	c.t.Cleanup(func() {
		c.run(nil, "compose", "-p", project, "down", "-v", "-t", "0")
		if ids := strings.Fields(c.run(nil, "ps", "-aq").stdout); len(ids) > 0 {
			c.run(nil, append([]string{"rm", "-f"}, ids...)...)
		}
		c.run(nil, "network", "prune", "-f")
	})
}

func TestComposeLecture(t *testing.T) {
	c := newCLI(t)
	composeLecture(t, c)
}

func TestComposeLectureDaemon(t *testing.T) {
	c := newCLI(t)
	startDaemon(t, c)
	composeLecture(t, c)
}

func composeLecture(t *testing.T, c *cli) {
	img := busyboxImage(t)
	dir, port := lectureProject(t, img)
	c.composeCleanup("lecture")
	f := filepath.Join(dir, "compose.yaml")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	hello := func(what string) {
		t.Helper()
		eventually(t, what+": GET "+url, func() (bool, string) {
			body, err := httpGet(url)
			return err == nil && body == "<h1>hello from compose</h1>\n", fmt.Sprint(body, err)
		})
	}

	// config: the resolved model, interpolated from .env.
	cfg := c.compose("-f", f, "config")
	for _, want := range []string{"name: lecture", "published: \"" + fmt.Sprint(port) + "\"", "source: " + filepath.Join(dir, "logs"), "target: /var/log/nginx", "file: " + filepath.Join(dir, "secrets", "key.pem")} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if got := c.compose("-f", f, "config", "--services"); got != "web\n" {
		t.Errorf("config --services: %q", got)
	}
	if got := c.compose("-f", f, "config", "--volumes"); got != "www\n" {
		t.Errorf("config --volumes: %q", got)
	}
	var model map[string]any
	if err := json.Unmarshal([]byte(c.compose("-f", f, "config", "--format", "json")), &model); err != nil || model["name"] != "lecture" {
		t.Errorf("config --format json: %v %v", err, model["name"])
	}

	// up -d --build: the image is built, the service answers.
	r := c.composeRun("-f", f, "up", "-d", "--build")
	if r.code != 0 {
		t.Fatalf("up -d --build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout+r.stderr, "Successfully tagged lecture-web") {
		t.Errorf("up --build shows no build:\n%s%s", r.stdout, r.stderr)
	}
	hello("after up")
	if b, err := os.ReadFile(filepath.Join(dir, "logs", "access.log")); err != nil || string(b) != "started\n" {
		t.Errorf("the interpolated bind mount: %q %v", b, err)
	}

	// ps: compose v2's columns, the published port.
	ps := c.compose("-f", f, "ps")
	lines := strings.Split(strings.TrimSpace(ps), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^NAME\s+IMAGE\s+COMMAND\s+SERVICE\s+CREATED\s+STATUS\s+PORTS$`).MatchString(lines[0]) {
		t.Fatalf("ps:\n%s", ps)
	}
	if !regexp.MustCompile(fmt.Sprintf(`^lecture-web-1\s+lecture-web\s+".*"\s+web\s+.* ago\s+Up .*0\.0\.0\.0:%d->80/tcp$`, port)).MatchString(lines[1]) {
		t.Errorf("ps row: %q", lines[1])
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(c.compose("-f", f, "ps", "--format", "json")), &row); err != nil || row["Service"] != "web" || row["State"] != "running" || row["Name"] != "lecture-web-1" || row["Project"] != "lecture" {
		t.Errorf("ps --format json: %v %v", err, row)
	}
	if got := c.compose("-f", f, "ps", "--services"); got != "web\n" {
		t.Errorf("ps --services: %q", got)
	}
	if got := c.compose("-f", f, "ps", "--format", "{{.Service}} {{.State}}"); got != "web running\n" {
		t.Errorf("ps --format template: %q", got)
	}
	if ids := strings.Fields(c.compose("-f", f, "ps", "-q")); len(ids) != 1 || len(ids[0]) != 64 {
		t.Errorf("ps -q: %v", ids)
	}

	// logs: service-prefixed.
	if got := c.compose("-f", f, "logs"); got != "web-1  | web started\n" {
		t.Errorf("logs: %q", got)
	}
	if got := c.compose("-f", f, "logs", "--no-log-prefix", "web"); got != "web started\n" {
		t.Errorf("logs --no-log-prefix: %q", got)
	}
	if got := c.compose("-f", f, "logs", "-t"); !regexp.MustCompile(`^web-1  \| \d{4}-\d\d-\d\dT\S+ web started\n$`).MatchString(got) {
		t.Errorf("logs -t: %q", got)
	}

	// exec: the file secrets at /run/secrets, read-only.
	if got := c.compose("-f", f, "exec", "-T", "web", "cat", "/run/secrets/key_file", "/run/secrets/cert_file"); got != "the key\nthe cert\n" {
		t.Errorf("exec cat secrets: %q", got)
	}
	if r := c.composeRun("-f", f, "exec", "-T", "web", "sh", "-c", "echo x > /run/secrets/key_file"); r.code == 0 {
		t.Errorf("a secret could be written")
	}
	if r := c.composeRun("-f", f, "exec", "-T", "web", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exec exit 7: exit %d", r.code)
	}
	if got := c.compose("-f", f, "exec", "-T", "-e", "X=from-exec", "-w", "/var/www", "web", "sh", "-c", "echo $X $(pwd)"); got != "from-exec /var/www\n" {
		t.Errorf("exec -e -w: %q", got)
	}

	if got := c.compose("-f", f, "exec", "-d", "web", "sh", "-c", "echo detached > /tmp/d"); got != "" {
		t.Errorf("exec -d printed %q", got)
	}
	eventually(t, "exec -d's file", func() (bool, string) {
		r := c.composeRun("-f", f, "exec", "-T", "web", "cat", "/tmp/d")
		return r.stdout == "detached\n", r.stdout + r.stderr
	})

	// run --rm: a one-off container with the service's mounts, gone after.
	if got := c.compose("-f", f, "run", "--rm", "-T", "web", "sh", "-c", "cat /run/secrets/cert_file; ls /var/www"); got != "the cert\nindex.html\n" {
		t.Errorf("run --rm: %q", got)
	}
	if r := c.composeRun("-f", f, "run", "--rm", "-T", "web", "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("run exit 3: exit %d %s", r.code, r.stderr)
	}
	if ids := strings.Fields(c.ok("ps", "-aq")); len(ids) != 1 {
		t.Errorf("%d containers after run --rm, want 1", len(ids))
	}

	// port, top, images, ls.
	if got := c.compose("-f", f, "port", "web", "80"); got != fmt.Sprintf("0.0.0.0:%d\n", port) {
		t.Errorf("port web 80: %q", got)
	}
	if r := c.composeRun("-f", f, "port", "web", "81"); r.code == 0 || !strings.Contains(r.stderr, "no port 81/tcp") {
		t.Errorf("port web 81: exit %d %q", r.code, r.stderr)
	}
	if got := c.compose("-f", f, "top"); !strings.HasPrefix(got, "lecture-web-1\n") || !strings.Contains(got, "httpd") {
		t.Errorf("top:\n%s", got)
	}
	images := c.compose("-f", f, "images")
	if !regexp.MustCompile(`(?m)^CONTAINER\s+REPOSITORY\s+TAG\s+IMAGE ID\s+SIZE\n^lecture-web-1\s+lecture-web\s+latest\s+[0-9a-f]{12}\s+\S+`).MatchString(images) {
		t.Errorf("images:\n%s", images)
	}
	ls := c.compose("ls")
	if !regexp.MustCompile(`(?m)^NAME\s+STATUS\s+CONFIG FILES\n^lecture\s+running\(1\)\s+` + regexp.QuoteMeta(f) + `$`).MatchString(ls) {
		t.Errorf("ls:\n%s", ls)
	}

	// stop, start, restart: by -p alone, no file.
	c.compose("-p", "lecture", "stop", "-t", "1")
	if got := c.compose("-p", "lecture", "ps", "-a", "--format", "{{.State}}"); got != "exited\n" {
		t.Errorf("after stop: %q", got)
	}
	if got := c.compose("ls"); strings.Contains(got, "lecture") {
		t.Errorf("ls shows a stopped project:\n%s", got)
	}
	if got := c.compose("ls", "-a", "-q"); got != "lecture\n" {
		t.Errorf("ls -a -q: %q", got)
	}
	c.compose("-p", "lecture", "start")
	hello("after start")
	c.compose("-p", "lecture", "restart", "-t", "1")
	hello("after restart")

	// rm: nothing while it runs; -s -f stops and removes.
	if r := c.composeRun("-p", "lecture", "rm", "-f"); r.code != 0 || !strings.Contains(r.stderr, "No stopped containers") {
		t.Errorf("rm -f of a running project: exit %d %q", r.code, r.stderr)
	}
	c.compose("-p", "lecture", "rm", "-s", "-f")
	if ids := strings.Fields(c.ok("ps", "-aq")); len(ids) != 0 {
		t.Errorf("%d containers after rm -s -f", len(ids))
	}

	// The named volume keeps what was written across a new up; down -v
	// takes it and the network.
	c.compose("-f", f, "up", "-d")
	hello("after the second up")
	c.compose("-f", f, "exec", "-T", "web", "sh", "-c", "echo kept > /var/www/kept")
	c.compose("-f", f, "down")
	c.compose("-f", f, "up", "-d")
	if got := c.compose("-f", f, "exec", "-T", "web", "cat", "/var/www/kept"); got != "kept\n" {
		t.Errorf("the named volume across down/up: %q", got)
	}
	if !strings.Contains(c.ok("volume", "ls", "-q"), "lecture_www") {
		t.Errorf("no lecture_www volume: %s", c.ok("volume", "ls"))
	}
	c.compose("-p", "lecture", "down", "-v", "-t", "1")
	if got := c.ok("volume", "ls", "-q"); strings.Contains(got, "lecture_www") {
		t.Errorf("down -v left the volume: %s", got)
	}
	if got := c.ok("network", "ls", "--format", "{{.Name}}"); strings.Contains(got, "lecture_") {
		t.Errorf("down left a network: %s", got)
	}
	if got := c.compose("-p", "lecture", "ps", "-a", "-q"); got != "" {
		t.Errorf("ps after down: %q", got)
	}
}

// TestComposeBadInput: clear errors and nothing left behind.
func TestComposeBadInput(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	c.composeCleanup("bad")
	dir := filepath.Join(t.TempDir(), "bad")
	writeFile(t, filepath.Join(dir, "compose.yaml"), fmt.Sprintf("services:\n  ok:\n    image: %s\n    command: sleep 100\n  web:\n    build: ./nginx\n    depends_on: [ok]\n", img))
	f := filepath.Join(dir, "compose.yaml")
	nothingLeft := func(what string) {
		t.Helper()
		if ids := strings.Fields(c.ok("ps", "-aq")); len(ids) > 0 {
			t.Errorf("%s: %d containers left", what, len(ids))
		}
		if got := c.ok("network", "ls", "--format", "{{.Name}}"); strings.Contains(got, "bad_") {
			t.Errorf("%s: a network left: %s", what, got)
		}
		if got := c.ok("volume", "ls", "-q"); got != "" {
			t.Errorf("%s: volumes left: %s", what, got)
		}
	}
	r := c.composeRun("-f", f, "build")
	if r.code == 0 || !strings.Contains(r.stderr, `service "web"`) || !strings.Contains(r.stderr, filepath.Join(dir, "nginx")) {
		t.Errorf("build with a missing context: exit %d %q", r.code, r.stderr)
	}
	nothingLeft("build")
	r = c.composeRun("-f", f, "up", "-d", "--build")
	if r.code == 0 || !strings.Contains(r.stderr, "nginx") {
		t.Errorf("up --build with a missing context: exit %d %q", r.code, r.stderr)
	}
	nothingLeft("up --build")

	// No file: the project commands need -p.
	empty := t.TempDir()
	r = c.run(nil, "compose", "--project-directory", empty, "ps")
	if r.code == 0 || !strings.Contains(r.stderr, "no configuration file provided: not found") {
		t.Errorf("ps without a file: exit %d %q", r.code, r.stderr)
	}
	r = c.run(nil, "compose", "-f", f, "up", "-d", "--scale", "web")
	if r.code == 0 || !strings.Contains(r.stderr, "invalid --scale") {
		t.Errorf("--scale web: exit %d %q", r.code, r.stderr)
	}
	r = c.run(nil, "compose", "-f", f, "up", "-d", "--build", "--no-build")
	if r.code == 0 || !strings.Contains(r.stderr, "incompatible") {
		t.Errorf("--build --no-build: exit %d %q", r.code, r.stderr)
	}
	r = c.run(nil, "compose", "-f", f, "down", "--rmi", "some")
	if r.code == 0 || !strings.Contains(r.stderr, "--rmi") {
		t.Errorf("down --rmi some: exit %d %q", r.code, r.stderr)
	}
	r = c.run(nil, "compose", "-f", f, "ps", "--status", "sleeping")
	if r.code == 0 || !strings.Contains(r.stderr, `invalid status "sleeping"`) {
		t.Errorf("ps --status sleeping: exit %d %q", r.code, r.stderr)
	}
	r = c.run(nil, "compose", "-f", f, "exec", "-T", "ok", "true")
	if r.code == 0 || !strings.Contains(r.stderr, `service "ok" is not running`) {
		t.Errorf("exec in a service not running: exit %d %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"logs", "nope"}, {"ps", "nope"}, {"stop", "nope"}, {"exec", "nope", "true"}, {"port", "nope", "80"}, {"down", "nope"}} {
		r = c.run(nil, append([]string{"compose", "-f", f}, args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "no such service: nope") {
			t.Errorf("%s of an unknown service: exit %d %q", args[0], r.code, r.stderr)
		}
	}
	nothingLeft("the rest")
}

// TestComposeRunFlags: compose run's flags on a one-off container.
func TestComposeRunFlags(t *testing.T) {
	c := newCLI(t)
	composeRunFlags(t, c)
}

func TestComposeRunFlagsDaemon(t *testing.T) {
	c := newCLI(t)
	startDaemon(t, c)
	composeRunFlags(t, c)
}

func composeRunFlags(t *testing.T, c *cli) {
	img := busyboxImage(t)
	c.composeCleanup("runf")
	dir := filepath.Join(t.TempDir(), "runf")
	port := freePort(t)
	writeFile(t, filepath.Join(dir, "compose.yaml"), fmt.Sprintf(`services:
  db:
    image: %[1]s
    command: ["sh", "-c", "mkdir -p /w && echo db > /w/index.html && exec httpd -f -p 5000 -h /w"]
  tool:
    image: %[1]s
    depends_on: [db]
    environment:
      FROM_FILE: "yes"
    ports:
      - "%[2]d:80"
    command: ["echo", "default command"]
`, img, port))
	writeFile(t, filepath.Join(dir, "data", "in.txt"), "from the host\n")
	f := filepath.Join(dir, "compose.yaml")

	// The default command; depends_on starts db; the one-off's name.
	if got := c.compose("-f", f, "run", "--rm", "-T", "tool"); got != "default command\n" {
		t.Errorf("run tool: %q", got)
	}
	if got := c.compose("-f", f, "ps", "--services"); got != "db\n" {
		t.Errorf("run did not start db: %q", got)
	}
	// The one-off reaches db by name on the project network.
	if got := c.compose("-f", f, "run", "--rm", "-T", "tool", "sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 db 5000 | tail -n 1"); got != "db\n" {
		t.Errorf("run reaching db: %q", got)
	}
	// -e, -u, -w, --entrypoint, -v.
	got := c.compose("-f", f, "run", "--rm", "-T", "-e", "X=1", "-u", "1000", "-w", "/tmp", "-v", "./data:/data:ro", "--entrypoint", "sh", "tool", "-c", "echo $X $FROM_FILE $(id -u) $(pwd) $(cat /data/in.txt)")
	if got != "1 yes 1000 /tmp from the host\n" {
		t.Errorf("run -e -u -w -v --entrypoint: %q", got)
	}
	// Without --service-ports the port is not published; with it, it is.
	name := strings.TrimSpace(c.compose("-f", f, "run", "-d", "--name", "runf-probe", "tool", "sleep", "100"))
	if name != "runf-probe" {
		t.Errorf("run -d --name prints %q", name)
	}
	if got := c.ok("port", "runf-probe"); got != "" {
		t.Errorf("run published ports without --service-ports: %q", got)
	}
	labels := c.ok("inspect", "-f", `{{index .Config.Labels "com.docker.compose.oneoff"}} {{index .Config.Labels "com.docker.compose.service"}}`, "runf-probe")
	if labels != "True tool\n" {
		t.Errorf("one-off labels: %q", labels)
	}
	c.compose("-f", f, "run", "-d", "--service-ports", "--name", "runf-ports", "tool", "sh", "-c", "exec httpd -f -p 80 -h /")
	if got := c.ok("port", "runf-ports", "80"); got != fmt.Sprintf("0.0.0.0:%d\n", port) {
		t.Errorf("run --service-ports: %q", got)
	}
	c.ok("rm", "-f", "runf-ports")
	port2 := freePort(t)
	c.compose("-f", f, "run", "-d", "-p", fmt.Sprintf("%d:80", port2), "--name", "runf-p", "tool", "sh", "-c", "exec httpd -f -p 80 -h /")
	if got := c.ok("port", "runf-p", "80"); got != fmt.Sprintf("0.0.0.0:%d\n", port2) {
		t.Errorf("run -p: %q", got)
	}
	c.ok("rm", "-f", "runf-p")
	// A generated name: PROJECT-SERVICE-run-<12 hex>.
	c.compose("-f", f, "run", "-d", "tool", "sleep", "100")
	all := c.ok("ps", "-a", "--format", "{{.Names}}")
	if !regexp.MustCompile(`(?m)^runf-tool-run-[0-9a-f]{12}$`).MatchString(all) {
		t.Errorf("no runf-tool-run-<slug> container:\n%s", all)
	}
	// --no-deps: db is not started.
	c.compose("-f", f, "down", "-t", "0")
	if got := c.compose("-f", f, "run", "--rm", "--no-deps", "-T", "tool", "echo", "alone"); got != "alone\n" {
		t.Errorf("run --no-deps: %q", got)
	}
	if got := c.compose("-f", f, "ps", "-a", "--services"); got != "" {
		t.Errorf("run --no-deps started %q", got)
	}
}

// app3 is the shared 3-service app (compose/testdata/app3) for the
// test's busybox image and a free port.
func app3(t *testing.T, c *cli) (file string, port int) {
	t.Helper()
	img := busyboxImage(t)
	port = freePort(t)
	dir := filepath.Join(t.TempDir(), "app3")
	b, err := os.ReadFile("../../compose/testdata/app3/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "compose.yaml"), string(b))
	c.env = append(c.env, "IMAGE="+img, fmt.Sprintf("WEB_PORT=%d", port))
	c.composeCleanup("app3")
	return filepath.Join(dir, "compose.yaml"), port
}

// TestComposeApp3 drives the 3-service app through the CLI: up --wait,
// --scale, exec --index, logs -f following a restart, an attached up
// stopped by ^C, --abort-on-container-exit.
func TestComposeApp3(t *testing.T) {
	c := newCLI(t)
	composeApp3(t, c)
}

func TestComposeApp3Daemon(t *testing.T) {
	c := newCLI(t)
	startDaemon(t, c)
	composeApp3(t, c)
}

func composeApp3(t *testing.T, c *cli) {
	f, port := app3(t, c)
	url := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/value", port)
	value := regexp.MustCompile(`^[0-9a-f]{16}$`)

	// up --wait returns once everything runs and db is healthy.
	c.compose("-f", f, "up", "--wait", "--scale", "app=3")
	if got := c.compose("-f", f, "ps", "--format", "{{.Name}} {{.State}} {{.Health}}"); got != "app3-app-1 running \napp3-app-2 running \napp3-app-3 running \napp3-db-1 running healthy\napp3-web-1 running \n" {
		t.Errorf("ps after up --wait --scale app=3:\n%s", got)
	}
	eventually(t, "GET "+url, func() (bool, string) {
		body, err := httpGet(url)
		return err == nil && value.MatchString(strings.TrimSpace(body)), fmt.Sprint(body, err)
	})
	hosts := map[string]bool{}
	for i := 1; i <= 3; i++ {
		hosts[c.compose("-f", f, "exec", "-T", "--index", fmt.Sprint(i), "app", "hostname")] = true
	}
	if len(hosts) != 3 {
		t.Errorf("exec --index 1..3 reached %d containers", len(hosts))
	}
	if r := c.composeRun("-f", f, "exec", "-T", "--index", "4", "app", "true"); r.code == 0 || !strings.Contains(r.stderr, `service "app" is not running container #4`) {
		t.Errorf("exec --index 4: exit %d %q", r.code, r.stderr)
	}
	if got := c.compose("-f", f, "logs", "--tail", "1", "db"); got != "" && !strings.HasPrefix(got, "db-1  | ") {
		t.Errorf("logs --tail 1 db: %q", got)
	}

	// logs -f: follows web through a restart, ends when it stops.
	follow := exec.Command(berthBin, "compose", "-f", f, "logs", "-f", "--no-log-prefix", "web")
	follow.Env = c.env
	var fout syncBuffer
	follow.Stdout, follow.Stderr = &fout, &fout
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	followed := make(chan error, 1)
	go func() { followed <- follow.Wait() }()
	c.compose("-f", f, "restart", "-t", "1", "web")
	c.compose("-f", f, "stop", "-t", "1")
	select {
	case err := <-followed:
		if err != nil {
			t.Errorf("logs -f: %v\n%s", err, fout.String())
		}
	case <-time.After(20 * time.Second):
		follow.Process.Kill()
		t.Errorf("logs -f did not end when the project stopped:\n%s", fout.String())
	}

	// An attached up: prefixed logs until ^C, which stops everything.
	c.compose("-f", f, "rm", "-f")
	up := exec.Command(berthBin, "compose", "-f", f, "up")
	up.Env = c.env
	var uout, uerr syncBuffer
	up.Stdout, up.Stderr = &uout, &uerr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	upDone := make(chan error, 1)
	go func() { upDone <- up.Wait() }()
	eventually(t, "GET "+url+" from an attached up", func() (bool, string) {
		body, err := httpGet(url)
		return err == nil && value.MatchString(strings.TrimSpace(body)), fmt.Sprint(body, err, uerr.String())
	})
	up.Process.Signal(syscall.SIGINT)
	select {
	case err := <-upDone:
		if err != nil {
			t.Errorf("attached up after ^C: %v\n%s", err, uerr.String())
		}
	case <-time.After(60 * time.Second):
		up.Process.Kill()
		t.Fatalf("attached up did not end on ^C:\n%s\n%s", uout.String(), uerr.String())
	}
	if !strings.Contains(uout.String(), "Gracefully stopping...") {
		t.Errorf("attached up output:\n%s", uout.String())
	}
	if got := c.compose("-f", f, "ps", "-q"); got != "" {
		t.Errorf("running after ^C: %q", got)
	}
	if got := c.compose("-f", f, "ps", "-a", "--format", "{{.State}}"); strings.Count(got, "exited") != 3 {
		t.Errorf("after ^C: %q", got)
	}

	// rm asks first: no keeps them, yes removes them.
	r := c.run([]byte("n\n"), "compose", "-f", f, "rm")
	if r.code != 0 || !strings.Contains(r.stderr, "Going to remove app3-app-1, app3-db-1, app3-web-1") {
		t.Errorf("rm answered n: exit %d %q", r.code, r.stderr)
	}
	if got := c.compose("-f", f, "ps", "-a", "-q"); len(strings.Fields(got)) != 3 {
		t.Errorf("rm answered n removed containers: %q", got)
	}
	if r := c.run([]byte("y\n"), "compose", "-f", f, "rm"); r.code != 0 || !strings.Contains(r.stderr, "Container app3-db-1  Removed") {
		t.Errorf("rm answered y: exit %d %q", r.code, r.stderr)
	}
	if got := c.compose("-f", f, "ps", "-a", "-q"); got != "" {
		t.Errorf("rm answered y left %q", got)
	}

	// --abort-on-container-exit: a one-shot service ends the whole up.
	writeFile(t, f+".override", "services:\n  once:\n    image: ${IMAGE}\n    command: [\"sh\", \"-c\", \"echo once done\"]\n")
	r = c.composeRun("-f", f, "-f", f+".override", "up", "--abort-on-container-exit")
	if r.code != 0 || !strings.Contains(r.stdout, "once-1  | once done") || !strings.Contains(r.stdout, "Aborting on container exit...") {
		t.Errorf("up --abort-on-container-exit: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := c.compose("-f", f, "-f", f+".override", "ps", "-q"); got != "" {
		t.Errorf("running after --abort-on-container-exit: %q", got)
	}
	writeFile(t, f+".override", "services:\n  once:\n    image: ${IMAGE}\n    command: [\"sh\", \"-c\", \"exit 5\"]\n")
	r = c.composeRun("-f", f, "-f", f+".override", "up", "--exit-code-from", "once")
	if r.code != 5 {
		t.Errorf("up --exit-code-from once: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	c.compose("-f", f, "-f", f+".override", "down", "-v", "-t", "0")
}

// TestComposeImageCommands: build (--build-arg, -q, --no-cache), push,
// pull, images, down --rmi, through the CLI and a registry.
func TestComposeImageCommands(t *testing.T) {
	c := newCLI(t)
	reg := imagetest.StartBerthRegistry(t, berthBin, imagetest.RegistryOptions{})
	base := reg.Host + "/lecture/busybox:1"
	pushImage(t, reg, base, imagetest.LayoutOptions{})
	c.composeCleanup("imgs")
	dir := filepath.Join(t.TempDir(), "imgs")
	writeFile(t, filepath.Join(dir, "compose.yaml"), fmt.Sprintf(`services:
  app:
    build:
      context: .
      args:
        GREETING: from-the-file
    image: %[1]s/imgs/app:1
    command: ["sleep", "100"]
  base:
    image: %[2]s
    command: ["sleep", "100"]
  local:
    build: .
    command: ["sleep", "100"]
`, reg.Host, base))
	writeFile(t, filepath.Join(dir, "Dockerfile"), fmt.Sprintf("FROM %s\nARG GREETING=none\nRUN echo $GREETING > /greeting\nLABEL greeting=$GREETING\n", base))
	f := filepath.Join(dir, "compose.yaml")

	r := c.composeRun("-f", f, "build", "--build-arg", "GREETING=from-the-flag", "app")
	if r.code != 0 || !regexp.MustCompile(`Step 1/\d+ : FROM `+regexp.QuoteMeta(base)).MatchString(r.stderr) || strings.Count(r.stderr, "Downloading") > 1 {
		t.Fatalf("build app: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := c.inspectImage(reg.Host + "/imgs/app:1").Config.Labels["greeting"]; got != "from-the-flag" {
		t.Errorf("--build-arg: label %q", got)
	}
	r = c.composeRun("-f", f, "build", "-q")
	if r.code != 0 || r.stdout != "" || strings.Contains(r.stderr, "Step ") {
		t.Errorf("build -q: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if got := c.inspectImage("imgs-local").Config.Labels["greeting"]; got != "none" {
		t.Errorf("build of local: label %q", got)
	}
	if got := c.inspectImage(reg.Host + "/imgs/app:1").Config.Labels["greeting"]; got != "from-the-file" {
		t.Errorf("build of app without --build-arg: label %q", got)
	}
	r = c.composeRun("-f", f, "build", "--no-cache", "local")
	if r.code != 0 || strings.Contains(r.stderr, "Using cache") {
		t.Errorf("build --no-cache: exit %d\n%s", r.code, r.stderr)
	}

	// push: app only (build and image:).
	r = c.composeRun("-f", f, "push")
	if r.code != 0 || !strings.Contains(r.stderr, "Service app  Pushed") || strings.Contains(r.stderr, "Service base  Push") {
		t.Errorf("push: exit %d\n%s", r.code, r.stderr)
	}
	// pull: app and base come back from the registry.
	c.ok("rmi", reg.Host+"/imgs/app:1", base)
	r = c.composeRun("-f", f, "pull")
	if r.code != 0 || !strings.Contains(r.stderr, "Service local  Skipped - No image to be pulled") {
		t.Errorf("pull: exit %d\n%s", r.code, r.stderr)
	}
	if got := c.inspectImage(reg.Host + "/imgs/app:1").Config.Labels["greeting"]; got != "from-the-file" {
		t.Errorf("pulled app: label %q", got)
	}
	c.inspectImage(base)
	r = c.composeRun("-f", f, "pull", "nope")
	if r.code == 0 || !strings.Contains(r.stderr, "no such service: nope") {
		t.Errorf("pull nope: exit %d %q", r.code, r.stderr)
	}

	// images: what the containers run.
	c.compose("-f", f, "up", "-d")
	images := c.compose("-f", f, "images")
	for _, want := range []string{`(?m)^imgs-app-1\s+` + regexp.QuoteMeta(reg.Host+"/imgs/app") + `\s+1\s+[0-9a-f]{12}\s+`, `(?m)^imgs-local-1\s+imgs-local\s+latest\s+`, `(?m)^imgs-base-1\s+` + regexp.QuoteMeta(reg.Host+"/lecture/busybox") + `\s+1\s+`} {
		if !regexp.MustCompile(want).MatchString(images) {
			t.Errorf("images lacks %s:\n%s", want, images)
		}
	}
	if ids := strings.Fields(c.compose("-f", f, "images", "-q")); len(ids) != 3 {
		t.Errorf("images -q: %v", ids)
	}
	var stacks []map[string]string
	if err := json.Unmarshal([]byte(c.compose("ls", "--format", "json")), &stacks); err != nil || len(stacks) != 1 || stacks[0]["Name"] != "imgs" || stacks[0]["Status"] != "running(3)" || stacks[0]["ConfigFiles"] != f {
		t.Errorf("ls --format json: %v %v", err, stacks)
	}
	// down --rmi local: the image built without a tag of its own goes.
	c.compose("-f", f, "down", "--rmi", "local", "-t", "0")
	if r := c.run(nil, "image", "inspect", "imgs-local"); r.code == 0 {
		t.Errorf("down --rmi local kept imgs-local")
	}
	c.inspectImage(reg.Host + "/imgs/app:1")
}

// TestComposeGlobalFlags: -f merged in order, -p, the folder's name by
// default, --project-directory, --profile, --env-file, through config.
func TestComposeGlobalFlags(t *testing.T) {
	c := newCLI(t)
	dir := filepath.Join(t.TempDir(), "My_Project")
	writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  a:\n    image: ${IMG:-busybox}\n  b:\n    image: busybox\n    profiles: [extra]\n")
	writeFile(t, filepath.Join(dir, "override.yaml"), "services:\n  a:\n    environment:\n      FROM: override\n")
	writeFile(t, filepath.Join(dir, ".env"), "IMG=from-dot-env\n")
	writeFile(t, filepath.Join(dir, "other.env"), "IMG=from-other-env\n")
	f := filepath.Join(dir, "compose.yaml")
	if got := c.compose("-f", f, "config", "--services"); got != "a\n" {
		t.Errorf("services without the profile: %q", got)
	}
	if got := c.compose("-f", f, "--profile", "extra", "config", "--services"); got != "a\nb\n" {
		t.Errorf("--profile extra: %q", got)
	}
	cfg := c.compose("-f", f, "config")
	if !strings.Contains(cfg, "name: my_project\n") || !strings.Contains(cfg, "image: from-dot-env\n") {
		t.Errorf("default name and .env:\n%s", cfg)
	}
	cfg = c.compose("-f", f, "--env-file", filepath.Join(dir, "other.env"), "-p", "named", "config")
	if !strings.Contains(cfg, "name: named\n") || !strings.Contains(cfg, "image: from-other-env\n") {
		t.Errorf("-p and --env-file:\n%s", cfg)
	}
	cfg = c.compose("-f", f, "-f", filepath.Join(dir, "override.yaml"), "config")
	if !strings.Contains(cfg, "FROM: override") {
		t.Errorf("-f merged:\n%s", cfg)
	}
	if got := c.compose("--project-directory", dir, "config", "--services"); got != "a\n" {
		t.Errorf("--project-directory: %q", got)
	}
	if got := c.compose("-f", f, "config", "-q"); got != "" {
		t.Errorf("config -q: %q", got)
	}
	if got := c.compose("version", "--short"); !regexp.MustCompile(`^\d+\.\d+\.\d+\n$`).MatchString(got) {
		t.Errorf("version --short: %q", got)
	}
	r := c.run(nil, "compose", "nope")
	if r.code == 0 || !strings.Contains(r.stderr, `unknown docker command: "compose nope"`) {
		t.Errorf("compose nope: exit %d %q", r.code, r.stderr)
	}
}

// TestComposeRunPs: ps leaves run containers out unless -a, and
// --orphans=false the containers of services the file does not have;
// run's --entrypoint is split as a shell would, and a one-off that cannot
// start leaves nothing with --rm; flags berth cannot honour are refused.
func TestComposeRunPs(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	c.composeCleanup("runps")
	dir := filepath.Join(t.TempDir(), "runps")
	const loop = `["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]`
	writeFile(t, filepath.Join(dir, "compose.yaml"), fmt.Sprintf("services:\n  web:\n    image: %s\n    command: %s\n", img, loop))
	writeFile(t, filepath.Join(dir, "old.yaml"), fmt.Sprintf("name: runps\nservices:\n  old:\n    image: %s\n    command: %s\n", img, loop))
	f, old := filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "old.yaml")

	c.compose("-f", f, "up", "-d")
	c.compose("-f", old, "up", "-d")
	c.compose("-f", f, "run", "-d", "--name", "runps-oneoff", "web", "sleep", "100")
	if got := c.compose("-f", f, "ps", "--format", "{{.Name}}"); got != "runps-old-1\nrunps-web-1\n" {
		t.Errorf("ps: %q", got)
	}
	if got := c.compose("-f", f, "ps", "-a", "--format", "{{.Name}}"); !strings.Contains(got, "runps-oneoff\n") {
		t.Errorf("ps -a leaves the one-off out: %q", got)
	}
	if got := c.compose("-f", f, "ps", "--orphans=false", "--format", "{{.Name}}"); got != "runps-web-1\n" {
		t.Errorf("ps --orphans=false: %q", got)
	}

	if got := c.compose("-f", f, "run", "--rm", "-T", "--entrypoint", "sh -c", "web", "echo split"); got != "split\n" {
		t.Errorf("run --entrypoint 'sh -c': %q", got)
	}
	if r := c.composeRun("-f", f, "run", "--rm", "-T", "--entrypoint", "/no/such", "web"); r.code == 0 {
		t.Errorf("run of a missing entrypoint: exit 0")
	}
	if got := c.ok("ps", "-a", "--format", "{{.Names}}"); strings.Contains(got, "runps-web-run-") {
		t.Errorf("run --rm that could not start left its container:\n%s", got)
	}

	for _, args := range [][]string{
		// (a service that does not exist: were the flag taken, up would
		// fail rather than stay attached)
		{"up", "--timestamps", "nosuchservice"},
		{"up", "--no-log-prefix", "nosuchservice"},
		{"build", "--ssh", "default"},
		{"pull", "--policy", "sometimes"},
	} {
		r := c.composeRun(append([]string{"-f", f}, args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, args[1]) {
			t.Errorf("%v: exit %d %q", args, r.code, r.stderr)
		}
	}
}

// TestComposeRestartDependents: restart SERVICE restarts what depends on
// it too, unless --no-deps, as compose v2.
func TestComposeRestartDependents(t *testing.T) {
	c := newCLI(t)
	img := busyboxImage(t)
	c.composeCleanup("restartdeps")
	dir := filepath.Join(t.TempDir(), "restartdeps")
	const loop = `["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]`
	writeFile(t, filepath.Join(dir, "compose.yaml"), fmt.Sprintf("services:\n  db:\n    image: %[1]s\n    command: %[2]s\n  web:\n    image: %[1]s\n    command: %[2]s\n    depends_on: [db]\n", img, loop))
	f := filepath.Join(dir, "compose.yaml")
	c.compose("-f", f, "up", "-d")
	started := func() string { return c.ok("inspect", "-f", "{{.State.StartedAt}}", "restartdeps-web-1") }
	before := started()
	c.compose("-f", f, "restart", "--no-deps", "-t", "0", "db")
	if got := started(); got != before {
		t.Errorf("restart --no-deps db restarted web")
	}
	c.compose("-f", f, "restart", "-t", "0", "db")
	if got := started(); got == before {
		t.Errorf("restart db did not restart web, which depends on it")
	}
}
