package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/internal/gate"
)

// Tests of `berth build` end to end: real containers for RUN, real layers,
// the cache, and docker's classic builder as the reference.

func TestBuildArgsMap(t *testing.T) {
	t.Setenv("BERTH_TEST_FROM_ENV", "env value")
	os.Unsetenv("BERTH_TEST_UNSET")
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		in   []string
		want map[string]*string
		err  string
	}{
		{in: nil, want: nil},
		{in: []string{"A=1", "B=", "C=x=y"}, want: map[string]*string{"A": str("1"), "B": str(""), "C": str("x=y")}},
		{in: []string{"BERTH_TEST_FROM_ENV"}, want: map[string]*string{"BERTH_TEST_FROM_ENV": str("env value")}},
		{in: []string{"BERTH_TEST_UNSET"}, want: map[string]*string{"BERTH_TEST_UNSET": nil}},
		{in: []string{"=x"}, err: "invalid environment variable"},
	} {
		t.Run(strings.Join(tc.in, ","), func(t *testing.T) {
			got, err := buildArgsMap(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
	if got := labelsMap([]string{"a=1", "b"}); !reflect.DeepEqual(got, map[string]string{"a": "1", "b": ""}) {
		t.Errorf("labels: %v", got)
	}
}

// writeContext writes files (path -> content) under a new directory.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		writeFile(t, filepath.Join(dir, p), content)
	}
	return dir
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// build runs `berth build` and fails the test unless it succeeds; a
// build the engine cannot do yet skips the test.
func (c *cli) build(args ...string) string {
	c.t.Helper()
	r := c.run(nil, append([]string{"build"}, args...)...)
	if r.code != 0 {
		c.t.Fatalf("berth build %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// buildStep is one "Step N/M : INSTR" of a build's output.
type buildStep struct {
	instr  string
	cached bool
	text   string
}

var stepLine = regexp.MustCompile(`(?m)^Step (\d+)/(\d+) : (.*)$`)

// buildSteps splits a build's output into its steps.
func buildSteps(t *testing.T, out string) []buildStep {
	t.Helper()
	idx := stepLine.FindAllStringSubmatchIndex(out, -1)
	var steps []buildStep
	for i, m := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		text := out[m[0]:end]
		steps = append(steps, buildStep{instr: out[m[6]:m[7]], cached: strings.Contains(text, " ---> Using cache\n"), text: text})
		if n := fmt.Sprint(i + 1); out[m[2]:m[3]] != n {
			t.Errorf("step %d is numbered %s:\n%s", i+1, out[m[2]:m[3]], out)
		}
	}
	if len(steps) == 0 {
		t.Fatalf("no steps in the build's output:\n%s", out)
	}
	return steps
}

var successLine = regexp.MustCompile(`(?m)^Successfully built ([0-9a-f]{12})$`)

// builtID is the short ID of "Successfully built ID".
func builtID(t *testing.T, out string) string {
	t.Helper()
	m := successLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no \"Successfully built\" in:\n%s", out)
	}
	return m[1]
}

// inspectImage reads `berth image inspect NAME`.
func (c *cli) inspectImage(name string) engine.ImageInspect {
	c.t.Helper()
	var ins []engine.ImageInspect
	if err := json.Unmarshal([]byte(c.ok("image", "inspect", name)), &ins); err != nil || len(ins) != 1 {
		c.t.Fatalf("image inspect %s: %v", name, err)
	}
	return ins[0]
}

// activeSnapshots are the snapshots that are not committed layers: what
// a container or a step in progress holds.
func (c *cli) activeSnapshots() []string {
	c.t.Helper()
	var out []string
	for name, s := range c.snapshots() {
		if s.Kind != "committed" {
			out = append(out, name)
		}
	}
	return out
}

const nginxStyle = `FROM %s
LABEL maintainer="berth lecture <lecture@example.com>"
ENV NGINX_VERSION=1.0
# busybox httpd stands in for nginx
RUN mkdir -p /var/log/nginx /www \
    && echo "<h1>hello from a built image $NGINX_VERSION</h1>" > /www/index.html \
    && ln -s /bin/busybox /bin/httpd \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGTERM
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
`

// TestBuildNginxStyle is the lecture's nginx Dockerfile on busybox: built,
// run with a published port, serving its page.
func TestBuildNginxStyle(t *testing.T) {
	c := newCLI(t)
	c.cleanupContainers()
	img := busyboxImage(t)
	dir := writeContext(t, map[string]string{"Dockerfile": fmt.Sprintf(nginxStyle, img)})
	out := c.build("-t", "lecture/web:1", dir)
	if !strings.HasPrefix(out, "Sending build context to Docker daemon ") {
		t.Errorf("output does not start with the context's size:\n%s", out)
	}
	steps := buildSteps(t, out)
	want := []string{"FROM " + img, `LABEL maintainer="berth lecture <lecture@example.com>"`, "ENV NGINX_VERSION=1.0",
		"RUN mkdir -p /var/log/nginx /www     && echo \"<h1>hello from a built image $NGINX_VERSION</h1>\" > /www/index.html     && ln -s /bin/busybox /bin/httpd     && ln -sf /dev/stdout /var/log/nginx/access.log     && ln -sf /dev/stderr /var/log/nginx/error.log",
		"EXPOSE 80", "STOPSIGNAL SIGTERM", `CMD ["httpd", "-f", "-p", "80", "-h", "/www"]`}
	if len(steps) != len(want) {
		t.Fatalf("%d steps, want %d:\n%s", len(steps), len(want), out)
	}
	for i, s := range steps {
		if s.instr != want[i] {
			t.Errorf("step %d: %q, want %q", i+1, s.instr, want[i])
		}
	}
	if !strings.Contains(steps[3].text, " ---> Running in ") {
		t.Errorf("the RUN step shows no container:\n%s", steps[3].text)
	}
	id := builtID(t, out)
	if !strings.HasSuffix(out, "Successfully tagged lecture/web:1\n") {
		t.Errorf("output does not end with the tag:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("terminal control in output to a pipe: %q", out)
	}

	ins := c.inspectImage("lecture/web:1")
	if !strings.HasPrefix(ins.ID, "sha256:"+id) {
		t.Errorf("image %s, build said %s", ins.ID, id)
	}
	cfg := ins.Config
	if _, ok := cfg.ExposedPorts["80/tcp"]; !ok || len(cfg.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v", cfg.ExposedPorts)
	}
	if cfg.StopSignal != "SIGTERM" {
		t.Errorf("StopSignal %q", cfg.StopSignal)
	}
	if cfg.Labels["maintainer"] != "berth lecture <lecture@example.com>" {
		t.Errorf("Labels %v", cfg.Labels)
	}
	if !slices.Contains(cfg.Env, "NGINX_VERSION=1.0") {
		t.Errorf("Env %v", cfg.Env)
	}
	if want := []string{"httpd", "-f", "-p", "80", "-h", "/www"}; !reflect.DeepEqual([]string(cfg.Cmd), want) {
		t.Errorf("Cmd %q", cfg.Cmd)
	}
	// FROM's layer plus the RUN's: config-only steps add none.
	if base := c.inspectImage(img); len(ins.RootFS.Layers) != len(base.RootFS.Layers)+1 {
		t.Errorf("%d layers on a base of %d, want one more", len(ins.RootFS.Layers), len(base.RootFS.Layers))
	}

	port := freePort(t)
	c.ok("run", "-d", "--name", "web", "-p", fmt.Sprintf("%d:80", port), "lecture/web:1")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	eventually(t, "GET "+url, func() (bool, string) {
		body, err := httpGet(url)
		return err == nil && body == "<h1>hello from a built image 1.0</h1>\n", fmt.Sprint(body, err)
	})
	if got := c.ok("exec", "web", "sh", "-c", "readlink /var/log/nginx/access.log; readlink /var/log/nginx/error.log"); got != "/dev/stdout\n/dev/stderr\n" {
		t.Errorf("log links: %q", got)
	}
}

// TestBuildMultiStage copies a static binary from one stage into a
// scratch final stage. (It keeps busybox's name: busybox picks its applet
// by argv[0].)
func TestBuildMultiStage(t *testing.T) {
	c := newCLI(t)
	c.cleanupContainers()
	img := busyboxImage(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM ` + img + ` AS build
RUN mkdir /out && cp /bin/busybox /out/busybox && echo intermediate > /out/not-copied
FROM scratch
COPY --from=build /out/busybox /busybox
ENTRYPOINT ["/busybox", "echo"]
CMD ["hi"]
`})
	out := c.build("-t", "tool:1", dir)
	if n := len(buildSteps(t, out)); n != 6 {
		t.Errorf("%d steps, want 6:\n%s", n, out)
	}
	if got := c.ok("run", "--rm", "tool:1"); got != "hi\n" {
		t.Errorf("run said %q", got)
	}
	if got := c.ok("run", "--rm", "tool:1", "from", "args"); got != "from args\n" {
		t.Errorf("run with args said %q", got)
	}
	ins := c.inspectImage("tool:1")
	if len(ins.RootFS.Layers) != 1 {
		t.Errorf("scratch + one COPY has %d layers, want 1", len(ins.RootFS.Layers))
	}
	// The runtime adds dev, etc (hosts, resolv.conf), proc and sys; the
	// image holds /busybox alone.
	if got := strings.Fields(c.ok("run", "--rm", "--entrypoint", "/busybox", "tool:1", "ls", "/")); !slices.Contains(got, "busybox") ||
		slices.Contains(got, "out") || slices.Contains(got, "bin") {
		t.Errorf("the scratch stage's root: %v", got)
	}
	// The build stage is not tagged.
	if got := c.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); strings.Count(got, "\n") != 2 {
		t.Errorf("images after a multi-stage build:\n%s", got)
	}
}

const cacheDockerfile = `FROM %s
ENV APP=cache
RUN echo one > /one
COPY a.txt /app/a.txt
RUN cat /app/a.txt > /app/copy.txt
COPY b.txt /app/b.txt
CMD ["cat", "/app/b.txt"]
`

// TestBuildCache: a rebuild is all cache hits and the same image; a
// changed file rebuilds from its COPY on; --no-cache rebuilds all.
func TestBuildCache(t *testing.T) {
	c := newCLI(t)
	c.cleanupContainers()
	img := busyboxImage(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": fmt.Sprintf(cacheDockerfile, img),
		"a.txt":      "a first\n", "b.txt": "b first\n",
	})
	first := c.build("-t", "cache:1", dir)
	for i, s := range buildSteps(t, first) {
		if s.cached {
			t.Errorf("cold build: step %d (%s) used the cache", i+1, s.instr)
		}
	}
	id1 := builtID(t, first)

	again := c.build("-t", "cache:1", dir)
	for i, s := range buildSteps(t, again)[1:] {
		if !s.cached {
			t.Errorf("rebuild: step %d (%s) did not use the cache:\n%s", i+2, s.instr, s.text)
		}
	}
	if id := builtID(t, again); id != id1 {
		t.Errorf("rebuild made %s, the first build %s", id, id1)
	}
	if strings.Contains(again, "Running in") {
		t.Errorf("a fully cached rebuild ran a container:\n%s", again)
	}
	if q := strings.TrimSpace(c.build("-q", dir)); !strings.HasPrefix(q, "sha256:"+id1) {
		t.Errorf("-q printed %q, want the ID %s", q, id1)
	}

	// a.txt changes: steps 1-3 cached, 4 on rebuilt.
	writeFile(t, filepath.Join(dir, "a.txt"), "a second\n")
	changed := c.build("-t", "cache:2", dir)
	for i, s := range buildSteps(t, changed)[1:] {
		if want := i+2 < 4; s.cached != want {
			t.Errorf("after a.txt changed: step %d (%s) cached=%v, want %v", i+2, s.instr, s.cached, want)
		}
	}
	if got := c.ok("run", "--rm", "cache:2", "cat", "/app/copy.txt"); got != "a second\n" {
		t.Errorf("rebuilt image has %q", got)
	}
	// Only b.txt: the last COPY and CMD.
	writeFile(t, filepath.Join(dir, "b.txt"), "b second\n")
	last := c.build("-t", "cache:3", dir)
	for i, s := range buildSteps(t, last)[1:] {
		if want := i+2 < 6; s.cached != want {
			t.Errorf("after b.txt changed: step %d (%s) cached=%v, want %v", i+2, s.instr, s.cached, want)
		}
	}
	if got := c.ok("run", "--rm", "cache:3"); got != "b second\n" {
		t.Errorf("rebuilt image says %q", got)
	}
	// A file's mode is content too.
	if err := os.Chmod(filepath.Join(dir, "b.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s := buildSteps(t, c.build(dir)); s[5].cached {
		t.Errorf("a chmod of b.txt still hit the cache for its COPY")
	}

	noCache := c.build("--no-cache", "-t", "cache:4", dir)
	for i, s := range buildSteps(t, noCache) {
		if s.cached {
			t.Errorf("--no-cache: step %d (%s) used the cache", i+1, s.instr)
		}
	}
	// A build arg in scope is part of the key: none declared here, so an
	// unused --build-arg changes nothing but warns as docker does.
	warned := c.build("--build-arg", "UNUSED=1", dir)
	if !strings.Contains(warned, "[Warning] One or more build-args [UNUSED] were not consumed") {
		t.Errorf("no warning for an unconsumed build arg:\n%s", warned)
	}
}

// TestBuildCacheDaemonRestart: the cache lives in the daemon's store and
// survives a restart.
func TestBuildCacheDaemonRestart(t *testing.T) {
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": fmt.Sprintf(cacheDockerfile, img),
		"a.txt":      "a\n", "b.txt": "b\n",
	})
	id := builtID(t, c.build("-t", "restart:1", dir))
	d.stop()
	d.start()
	again := c.build("-t", "restart:1", dir)
	for i, s := range buildSteps(t, again)[1:] {
		if !s.cached {
			t.Errorf("after a restart: step %d (%s) did not use the cache", i+2, s.instr)
		}
	}
	if got := builtID(t, again); got != id {
		t.Errorf("after a restart the build made %s, before %s", got, id)
	}
	// The cache entries stay out of docker's image list.
	if got := d.dockerOK("images", "-a", "--format", "{{.Repository}}:{{.Tag}}"); strings.Contains(got, "<none>") {
		t.Errorf("build cache shows in images -a:\n%s", got)
	}
}

// TestBuildDockerignore: an excluded large file is not sent and not in
// the image; an exception to a pattern is.
func TestBuildDockerignore(t *testing.T) {
	c := newCLI(t)
	c.cleanupContainers()
	img := busyboxImage(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile":    "FROM " + img + "\nCOPY . /ctx/\nCMD [\"find\", \"/ctx\", \"-type\", \"f\"]\n",
		".dockerignore": "# big things stay home\nbig.bin\n*.log\n!keep.log\nsecret/\n",
		"app.txt":       "app\n", "debug.log": "noise\n", "keep.log": "kept\n", "secret/key": "k\n",
		"sub/nested.log": "nested\n",
	})
	f, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := c.build("-t", "ignore:1", dir)
	m := regexp.MustCompile(`Sending build context to Docker daemon +([0-9.]+)(B|kB|MB|GB)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no context size in:\n%s", out)
	}
	if m[2] != "B" && m[2] != "kB" {
		t.Errorf("context of %s%s sent with a 50 MB file excluded", m[1], m[2])
	}
	got := strings.Fields(c.ok("run", "--rm", "ignore:1"))
	want := []string{"/ctx/Dockerfile", "/ctx/.dockerignore", "/ctx/app.txt", "/ctx/keep.log", "/ctx/sub/nested.log"}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s missing from the image: %v", w, got)
		}
	}
	for _, no := range []string{"/ctx/big.bin", "/ctx/debug.log", "/ctx/secret/key"} {
		if slices.Contains(got, no) {
			t.Errorf("%s excluded by .dockerignore is in the image", no)
		}
	}
	if len(got) != len(want) {
		t.Errorf("image's /ctx holds %v, want %v", got, want)
	}
}

// TestBuildArgEnv: ARG and ENV substitution as docker does it.
func TestBuildArgEnv(t *testing.T) {
	c := newCLI(t)
	c.cleanupContainers()
	img := busyboxImage(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `ARG BASE=` + img + `
ARG GLOBAL=global-default
FROM ${BASE}
ARG WITH_DEFAULT=default-value
ARG OVERRIDDEN=not-overridden
ARG EMPTY
ENV FROM_ARG=${WITH_DEFAULT} DASH=${EMPTY:-fallback} PLUS=${WITH_DEFAULT:+set} PLUS_EMPTY=${EMPTY:+set}
ENV ESCAPED=\$WITH_DEFAULT LATER=$FROM_ARG-later
WORKDIR /out/${WITH_DEFAULT}
RUN { echo "with default=$WITH_DEFAULT"; \
      echo "overridden=$OVERRIDDEN"; \
      echo "global=[$GLOBAL]"; \
      echo "from arg=$FROM_ARG"; \
      echo "dash=$DASH"; \
      echo "plus=$PLUS"; \
      echo "plus empty=[$PLUS_EMPTY]"; \
      echo "escaped=$ESCAPED"; \
      echo "later=$LATER"; \
      echo "pwd=$(pwd)"; } > /result
CMD ["cat", "/result"]
`})
	c.build("-t", "args:1", "--build-arg", "OVERRIDDEN=from-cli", dir)
	want := `with default=default-value
overridden=from-cli
global=[]
from arg=default-value
dash=fallback
plus=set
plus empty=[]
escaped=$WITH_DEFAULT
later=default-value-later
pwd=/out/default-value
`
	if got := c.ok("run", "--rm", "args:1"); got != want {
		t.Errorf("substitutions:\n%s\nwant:\n%s", got, want)
	}
	// ARGs are not in the image's env; ENVs are.
	env := c.inspectImage("args:1").Config.Env
	for _, e := range env {
		if strings.HasPrefix(e, "WITH_DEFAULT=") || strings.HasPrefix(e, "OVERRIDDEN=") {
			t.Errorf("ARG %s in the image's Env", e)
		}
	}
	if !slices.Contains(env, "ESCAPED=$WITH_DEFAULT") || !slices.Contains(env, "DASH=fallback") {
		t.Errorf("Env %v", env)
	}
	// A build arg changes the RUN's cache key; the same one hits it.
	steps := buildSteps(t, c.build("-t", "args:2", "--build-arg", "OVERRIDDEN=other", dir))
	if last := steps[len(steps)-2]; last.cached {
		t.Errorf("a changed --build-arg hit the cache for %s", last.instr)
	}
	steps = buildSteps(t, c.build("-t", "args:3", "--build-arg", "OVERRIDDEN=other", dir))
	if last := steps[len(steps)-2]; !last.cached {
		t.Errorf("the same --build-arg missed the cache for %s", last.instr)
	}
	// --build-arg K takes K from the environment.
	c.env = append(c.env, "OVERRIDDEN=from-env")
	c.build("-t", "args:4", "--build-arg", "OVERRIDDEN", dir)
	if got := c.ok("run", "--rm", "args:4"); !strings.Contains(got, "overridden=from-env\n") {
		t.Errorf("--build-arg from the environment:\n%s", got)
	}
}

// TestBuildStdin: a bare Dockerfile on stdin (no context), and a tar.
func TestBuildStdin(t *testing.T) {
	c := newCLI(t)
	c.cleanupContainers()
	img := busyboxImage(t)
	r := c.run([]byte("FROM "+img+"\nRUN echo from stdin > /f\n"), "build", "-t", "stdin:1", "-")
	if r.code != 0 {
		t.Fatalf("build -: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := c.ok("run", "--rm", "stdin:1", "cat", "/f"); got != "from stdin\n" {
		t.Errorf("stdin build: %q", got)
	}
	tarball := tarOf(t, map[string]string{"Dockerfile": "FROM " + img + "\nCOPY x /x\n", "x": "from a tar\n"})
	if r := c.run(tarball, "build", "-q", "-t", "stdin:2", "-"); r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Fatalf("build - < tar: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if got := c.ok("run", "--rm", "stdin:2", "cat", "/x"); got != "from a tar\n" {
		t.Errorf("tar build: %q", got)
	}
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b strings.Builder
	tw := tar.NewWriter(&b)
	for name, content := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		io.WriteString(tw, content)
	}
	tw.Close()
	return []byte(b.String())
}

// TestBuildBadInput: each mistake gets a clear error, exit status as
// docker's CLI gives it, and leaves no container, tag, mount or active
// snapshot.
func TestBuildBadInput(t *testing.T) {
	c := newCLI(t)
	c.cleanupContainers()
	img := busyboxImage(t)
	c.ok("pull", "-q", img)
	imagesBefore := c.ok("images", "-a", "--format", "{{.Repository}}:{{.Tag}}")
	for _, tc := range []struct {
		name, dockerfile string
		args             []string
		code             int
		want             []string
	}{
		{name: "unknown instruction", dockerfile: "FROM " + img + "\nFOO bar\n",
			code: 1, want: []string{"line 2", "unknown instruction: FOO"}},
		{name: "missing FROM", dockerfile: "ENV A=b\nRUN true\n",
			code: 1, want: []string{"no build stage in current context"}},
		{name: "COPY outside the context", dockerfile: "FROM " + img + "\nENV X=1\nCOPY ../outside /x\n",
			code: 1, want: []string{"Dockerfile:3", "forbidden path outside the build context: ../outside"}},
		{name: "failing RUN", dockerfile: "FROM " + img + "\nRUN echo boom && exit 3\n",
			// docker's CLI exits with the code of the RUN that failed.
			code: 3, want: []string{"The command '/bin/sh -c echo boom && exit 3' returned a non-zero code: 3"}},
		{name: "bad target", dockerfile: "FROM " + img + " AS base\nRUN true\n", args: []string{"--target", "nosuch"},
			code: 1, want: []string{"failed to reach build target nosuch in Dockerfile"}},
		{name: "empty Dockerfile", dockerfile: "",
			code: 1, want: []string{"the Dockerfile (Dockerfile) cannot be empty"}},
		{name: "only comments", dockerfile: "\n# nothing\n",
			code: 1, want: []string{"file with no instructions"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeContext(t, map[string]string{"Dockerfile": tc.dockerfile})
			mountsBefore := mountsUnder(t, c.root)
			r := c.run(nil, append(append([]string{"build", "-t", "bad:1"}, tc.args...), dir)...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not say %q", r.stderr, w)
				}
			}
			if tc.name == "failing RUN" && !strings.Contains(r.stdout, "boom\n") {
				t.Errorf("the RUN's output is not shown:\n%s", r.stdout)
			}
			if got := c.ok("ps", "-aq"); got != "" {
				t.Errorf("containers left: %q", got)
			}
			if got := c.ok("images", "-a", "--format", "{{.Repository}}:{{.Tag}}"); got != imagesBefore {
				t.Errorf("images after a failed build:\n%s\nbefore:\n%s", got, imagesBefore)
			}
			if got := mountsUnder(t, c.root); len(got) != len(mountsBefore) {
				t.Errorf("mounts left: %v (before %v)", got, mountsBefore)
			}
			if got := c.activeSnapshots(); len(got) != 0 {
				t.Errorf("active snapshots left: %v", got)
			}
		})
	}
	// A context that is not there.
	r := c.run(nil, "build", filepath.Join(t.TempDir(), "nope"))
	if r.code != 1 || !strings.Contains(r.stderr, "unable to prepare context: path") {
		t.Errorf("missing context: exit %d, %q", r.code, r.stderr)
	}
	// -q on failure shows what was hidden, on stderr.
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + img + "\nRUN echo quiet boom; exit 2\n"})
	r = c.run(nil, "build", "-q", dir)
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "quiet boom") {
		t.Errorf("-q failure: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestBuilderPrune: prune -a -f reclaims the cache; the next build
// misses it.
func TestBuilderPrune(t *testing.T) {
	c := newCLI(t)
	c.cleanupContainers()
	img := busyboxImage(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": fmt.Sprintf(cacheDockerfile, img),
		"a.txt":      "a\n", "b.txt": strings.Repeat("b", 1<<20),
	})
	c.build(dir) // untagged: everything is unused cache
	out := c.ok("builder", "prune", "-a", "-f")
	if !strings.HasPrefix(out, "Deleted build cache objects:\n") {
		t.Errorf("prune said:\n%s", out)
	}
	m := regexp.MustCompile(`(?m)^Total reclaimed space: ([0-9.]+)(B|kB|MB|GB)$`).FindStringSubmatch(out)
	if m == nil || m[2] == "B" {
		t.Errorf("prune reclaimed little or nothing:\n%s", out)
	}
	for i, s := range buildSteps(t, c.build(dir)) {
		if s.cached {
			t.Errorf("after prune: step %d (%s) used the cache", i+1, s.instr)
		}
	}
	// Prompted without -f; "n" keeps everything.
	r := c.run([]byte("n\n"), "builder", "prune", "-a")
	if !strings.Contains(r.stdout, "WARNING! This will remove all build cache.\nAre you sure you want to continue? [y/N] ") || strings.Contains(r.stdout, "Deleted") {
		t.Errorf("prune without -f: %q", r.stdout)
	}
	if out := c.ok("builder", "prune", "-a", "-f"); out == "Total reclaimed space: 0B\n" {
		t.Errorf("the answer n pruned the cache")
	}
	if out := c.ok("builder", "prune", "-f"); out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune of nothing: %q", out)
	}
}

// TestBuildDockerCLI: docker's own CLI with the classic builder builds
// against berth's daemon, and commits.
func TestBuildDockerCLI(t *testing.T) {
	gate.Command(t, "docker")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + img + "\nCOPY msg /msg\nRUN cat /msg > /msg2\nCMD [\"cat\", \"/msg2\"]\n",
		"msg":        "built by docker's CLI\n",
	})
	t.Setenv("DOCKER_BUILDKIT", "0") // the classic builder
	run := func(args ...string) result {
		t.Helper()
		return d.docker(nil, append([]string{"build"}, args...)...)
	}
	r := run("-t", "fromdocker:1", dir)
	if r.code != 0 {
		t.Fatalf("docker build: exit %d\n%s\n%s\ndaemon:\n%s", r.code, r.stdout, r.stderr, lastN(d.logs.String(), 30))
	}
	if !strings.Contains(r.stdout, "Successfully tagged fromdocker:1") || !strings.Contains(r.stdout, "Step 4/4 : CMD") {
		t.Errorf("docker build said:\n%s", r.stdout)
	}
	if got := d.dockerOK("run", "--rm", "fromdocker:1"); got != "built by docker's CLI\n" {
		t.Errorf("docker run of the built image: %q", got)
	}
	// The same build through berth's CLI hits the cache docker's made.
	again := c.build("-t", "fromdocker:1", dir)
	for i, s := range buildSteps(t, again)[1:] {
		if !s.cached {
			t.Errorf("berth after docker: step %d (%s) missed the cache", i+2, s.instr)
		}
	}
	// docker's exit code and message for a failing RUN match berth's.
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM " + img + "\nRUN echo boom && exit 3\n"})
	dr, br := run(bad), c.run(nil, "build", bad)
	if dr.code != br.code || !strings.Contains(dr.stderr, "returned a non-zero code: 3") || !strings.Contains(br.stderr, "returned a non-zero code: 3") {
		t.Errorf("failing RUN: docker exit %d %q, berth exit %d %q", dr.code, dr.stderr, br.code, br.stderr)
	}
	dr = run(writeContext(t, map[string]string{"Dockerfile": "FROM " + img + "\nFOO bar\n"}))
	if dr.code != 1 || !strings.Contains(dr.stderr, "unknown instruction: FOO") {
		t.Errorf("unknown instruction through docker: exit %d %q", dr.code, dr.stderr)
	}

	// docker commit of a changed container.
	d.dockerOK("run", "--name", "tocommit", img, "sh", "-c", "echo committed > /c")
	id := strings.TrimSpace(d.dockerOK("commit", "-c", "CMD [\"cat\", \"/c\"]", "-m", "a message", "tocommit", "committed:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("docker commit printed %q", id)
	}
	if got := d.dockerOK("run", "--rm", "committed:1"); got != "committed\n" {
		t.Errorf("run of the committed image: %q", got)
	}
	if got := c.ok("commit", "tocommit", "committed:2"); !strings.HasPrefix(got, "sha256:") {
		t.Errorf("berth commit printed %q", got)
	}
}

// comparedDockerfile covers the instructions whose results land in the
// image config, for a field-by-field comparison with docker's builder.
const comparedDockerfile = `ARG BASE
FROM ${BASE}
ARG VERSION=1.2
ENV APP_VERSION=$VERSION PATH=/usr/local/bin:/usr/bin:/bin:/app
LABEL org.example.name="demo" org.example.version="${VERSION}"
SHELL ["/bin/sh", "-c"]
WORKDIR /app
COPY app.sh /app/
COPY conf /etc/app/
RUN chmod +x /app/app.sh && mkdir -p /data && echo built > /data/stamp
USER 1000:1000
VOLUME ["/data"]
EXPOSE 8080/tcp 9090/udp
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["/app/app.sh", "health"]
STOPSIGNAL SIGINT
ONBUILD RUN echo child
MAINTAINER someone@example.com
ENTRYPOINT ["/app/app.sh"]
CMD ["serve"]
`

// TestBuildComparedWithDocker builds one Dockerfile with docker's classic
// builder (Debian's dockerd, private) and with berth, and compares the
// images' configs, layers and history.
func TestBuildComparedWithDocker(t *testing.T) {
	gate.Command(t, "docker")
	c := newCLI(t)
	d := startDaemon(t, c)
	img := busyboxImage(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile":      comparedDockerfile,
		"app.sh":          "#!/bin/sh\necho \"app $APP_VERSION: $*\"\n",
		"conf/a.conf":     "a=1\n",
		"conf/sub/b.conf": "b=2\n",
	})
	c.build("-t", "compared:berth", "--build-arg", "BASE="+img, dir)

	dd := startInteropDockerd(t)
	saved := filepath.Join(t.TempDir(), "base.tar")
	c.ok("save", "-o", saved, img)
	dd.ok("load", "-i", saved)
	dd.env = append(dd.env, "DOCKER_BUILDKIT=0")
	dd.ok("build", "-t", "compared:docker", "--build-arg", "BASE="+img, dir)

	var bi, di []struct {
		Config       dockerspec.DockerOCIImageConfig
		RootFS       struct{ Layers []string }
		Architecture string
		Os           string
		Author       string
	}
	if err := json.Unmarshal([]byte(d.dockerOK("image", "inspect", "compared:berth")), &bi); err != nil || len(bi) != 1 {
		t.Fatalf("inspect berth's image: %v", err)
	}
	if err := json.Unmarshal([]byte(dd.ok("image", "inspect", "compared:docker")), &di); err != nil || len(di) != 1 {
		t.Fatalf("inspect docker's image: %v", err)
	}
	b, w := bi[0], di[0]
	same := func(field string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: berth %s, docker %s", field, interopMustJSON(t, got), interopMustJSON(t, want))
		}
	}
	same("Config.Cmd", b.Config.Cmd, w.Config.Cmd)
	same("Config.Entrypoint", b.Config.Entrypoint, w.Config.Entrypoint)
	same("Config.Env", b.Config.Env, w.Config.Env)
	same("Config.Labels", b.Config.Labels, w.Config.Labels)
	same("Config.ExposedPorts", b.Config.ExposedPorts, w.Config.ExposedPorts)
	same("Config.Volumes", b.Config.Volumes, w.Config.Volumes)
	same("Config.WorkingDir", b.Config.WorkingDir, w.Config.WorkingDir)
	same("Config.User", b.Config.User, w.Config.User)
	same("Config.StopSignal", b.Config.StopSignal, w.Config.StopSignal)
	same("Config.Healthcheck", b.Config.Healthcheck, w.Config.Healthcheck)
	same("Config.OnBuild", b.Config.OnBuild, w.Config.OnBuild)
	same("Config.Shell", b.Config.Shell, w.Config.Shell)
	same("len(RootFS.Layers)", len(b.RootFS.Layers), len(w.RootFS.Layers))
	// The base's layers are the same blobs on both sides.
	if len(b.RootFS.Layers) > 0 && len(w.RootFS.Layers) > 0 {
		same("RootFS.Layers[0]", b.RootFS.Layers[0], w.RootFS.Layers[0])
	}
	same("Author", b.Author, w.Author)
	same("Architecture", b.Architecture, w.Architecture)
	same("Os", b.Os, w.Os)

	// History: created_by, empty_layer and author per entry, from the
	// saved configs (docker history hides empty_layer).
	bh := savedHistory(t, func(out string) { d.dockerOK("save", "-o", out, "compared:berth") })
	dh := savedHistory(t, func(out string) { dd.ok("save", "-o", out, "compared:docker") })
	if len(bh) != len(dh) {
		t.Errorf("history: berth %d entries, docker %d", len(bh), len(dh))
	}
	for i := 0; i < len(bh) && i < len(dh); i++ {
		if healthcheckVersionSkew(bh[i].CreatedBy, dh[i].CreatedBy) {
			t.Logf("history[%d]: docker before 25 writes HEALTHCHECK without StartInterval: berth %q, docker %q", i, bh[i].CreatedBy, dh[i].CreatedBy)
			continue
		}
		if bh[i].CreatedBy != dh[i].CreatedBy {
			t.Errorf("history[%d].created_by: berth %q, docker %q", i, bh[i].CreatedBy, dh[i].CreatedBy)
		}
		if bh[i].EmptyLayer != dh[i].EmptyLayer {
			t.Errorf("history[%d].empty_layer (%s): berth %v, docker %v", i, dh[i].CreatedBy, bh[i].EmptyLayer, dh[i].EmptyLayer)
		}
	}
	// And docker history's view of it, line by line.
	format := "{{.CreatedBy}}|{{.Comment}}"
	bl := strings.Split(d.dockerOK("history", "--no-trunc", "--format", format, "compared:berth"), "\n")
	dl := strings.Split(dd.ok("history", "--no-trunc", "--format", format, "compared:docker"), "\n")
	if len(bl) != len(dl) {
		t.Errorf("docker history: berth %d lines, docker %d", len(bl), len(dl))
	}
	for i := 0; i < len(bl) && i < len(dl); i++ {
		if bl[i] != dl[i] && !healthcheckVersionSkew(bl[i], dl[i]) {
			t.Errorf("docker history line %d: berth %q, docker %q", i+1, bl[i], dl[i])
		}
	}

	// Both images run the same.
	want := dd.ok("run", "--rm", "--network", "none", "compared:docker", "x")
	if got := d.dockerOK("run", "--rm", "compared:berth", "x"); got != want {
		t.Errorf("run: berth's image says %q, docker's %q", got, want)
	}
}

// healthcheckVersionSkew: berth writes HEALTHCHECK's history as docker
// 25 and later do, with StartInterval among the durations; docker 20.10
// has one duration fewer. Anything else differing is a difference.
func healthcheckVersionSkew(berth, docker string) bool {
	return strings.Contains(docker, "HEALTHCHECK &{") && strings.Replace(berth, `"0s" "0s" '`, `"0s" '`, 1) == docker
}

type historyEntry struct {
	CreatedBy  string `json:"created_by"`
	EmptyLayer bool   `json:"empty_layer"`
	Author     string `json:"author"`
}

// savedHistory saves an image with save (a function writing a docker
// archive to its argument) and reads its config's history.
func savedHistory(t *testing.T, save func(out string)) []historyEntry {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img.tar")
	save(p)
	files := map[string][]byte{}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && (h.Name == "manifest.json" || strings.HasSuffix(h.Name, ".json") || strings.HasPrefix(h.Name, "blobs/")) && h.Size < 1<<20 {
			b, _ := io.ReadAll(tr)
			files[h.Name] = b
		}
	}
	var manifest []struct{ Config string }
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("saved archive's manifest.json: %v", err)
	}
	var cfg struct{ History []historyEntry }
	if err := json.Unmarshal(files[manifest[0].Config], &cfg); err != nil {
		t.Fatalf("saved config %s: %v", manifest[0].Config, err)
	}
	return cfg.History
}

// TestShowBuildStream: the classic builder's stream as docker's CLI shows
// it, and the exit status an error line gives.
func TestShowBuildStream(t *testing.T) {
	for _, tc := range []struct {
		name, stream, out, err string
		code                   int
		aux                    string
	}{
		{name: "steps", stream: `{"stream":"Step 1/2 : FROM x\n"}
{"stream":" ---\u003e 4518b075f7fa\n"}
{"aux":{"ID":"sha256:abc"}}
{"stream":"Successfully built abc\n"}
`, out: "Sending build context to Docker daemon  2.048kB\nStep 1/2 : FROM x\n ---> 4518b075f7fa\nSuccessfully built abc\n", aux: "sha256:abc"},
		{name: "failed RUN", stream: `{"stream":"boom\n"}
{"errorDetail":{"code":3,"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"},"error":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"}
`, out: "Sending build context to Docker daemon  2.048kB\nboom\n", err: "The command '/bin/sh -c exit 3' returned a non-zero code: 3", code: 3},
		{name: "error without code", stream: `{"errorDetail":{"message":"COPY failed: x"},"error":"COPY failed: x"}
`, out: "Sending build context to Docker daemon  2.048kB\n", err: "COPY failed: x", code: 1},
		{name: "empty", stream: "", out: "Sending build context to Docker daemon  2.048kB\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			s := &contextSender{r: strings.NewReader(strings.Repeat("x", 2048)), out: &out}
			// The context is read only partly before the reply comes: the
			// size shown is what was read by then.
			io.Copy(io.Discard, s)
			var aux string
			err := showBuildStream(strings.NewReader(tc.stream), &out, s.finish, func(raw json.RawMessage) {
				var v struct{ ID string }
				json.Unmarshal(raw, &v)
				aux = v.ID
			})
			if out.String() != tc.out {
				t.Errorf("out %q, want %q", out.String(), tc.out)
			}
			if aux != tc.aux {
				t.Errorf("aux %q, want %q", aux, tc.aux)
			}
			if tc.err == "" {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				return
			}
			se, ok := err.(*statusError)
			if !ok || se.msg != tc.err || se.code != tc.code {
				t.Fatalf("err %#v, want status %d %q", err, tc.code, tc.err)
			}
		})
	}
}

// TestBuildNetwork: RUN steps join the network the build asks for: the
// default bridge (eth0), none (only lo), host (the host's interfaces).
func TestBuildNetwork(t *testing.T) {
	c := newCLI(t)
	c.cleanupContainers()
	img := busyboxImage(t)
	hostNets, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		network string
		want    func(nets []string) bool
	}{
		{"default", func(n []string) bool { return slices.Equal(n, []string{"eth0", "lo"}) }},
		{"none", func(n []string) bool { return slices.Equal(n, []string{"lo"}) }},
		{"host", func(n []string) bool {
			// Every host interface that was there before and still is.
			for _, h := range hostNets {
				if _, err := os.Stat("/sys/class/net/" + h.Name()); err == nil && !slices.Contains(n, h.Name()) {
					return false
				}
			}
			return len(hostNets) > 0
		}},
	} {
		t.Run(tc.network, func(t *testing.T) {
			// The network is part of no cache key (as docker's): --no-cache.
			df := "FROM " + img + "\nRUN ls /sys/class/net > /nets\n"
			tag := "net-" + tc.network + ":1"
			if r := c.run([]byte(df), "build", "--no-cache", "--network", tc.network, "-t", tag, "-"); r.code != 0 {
				t.Fatalf("build --network %s: exit %d\n%s%s", tc.network, r.code, r.stdout, r.stderr)
			}
			nets := strings.Fields(c.ok("run", "--rm", "--network", "none", tag, "cat", "/nets"))
			if !tc.want(nets) {
				t.Errorf("RUN with --network %s saw %v", tc.network, nets)
			}
		})
	}
}
