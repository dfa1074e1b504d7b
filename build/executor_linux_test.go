package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/engine"
)

// fakeBackend is a Backend whose images are directories and whose RUN
// containers print their command and exit with the code "exit N" asks.
type fakeBackend struct {
	engine.API // unused methods panic
	t          *testing.T
	dir        string

	mu       sync.Mutex
	images   map[digest.Digest]engine.BuildImage
	roots    map[digest.Digest]string
	cache    map[string]digest.Digest
	commits  int
	created  map[string]container.Config
	removed  []string
	named    map[string]digest.Digest
	mounts   int
	nextCtr  int
	runFails map[string]int // command substring -> exit code
}

func newFakeBackend(t *testing.T) *fakeBackend {
	f := &fakeBackend{
		t: t, dir: t.TempDir(),
		images: map[digest.Digest]engine.BuildImage{}, roots: map[digest.Digest]string{},
		cache: map[string]digest.Digest{}, created: map[string]container.Config{},
		named: map[string]digest.Digest{},
	}
	// busybox: a base image with a user database.
	root := filepath.Join(f.dir, "busybox")
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1001:\nstaff:x:50:\n"), 0o644))
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var cfg dockerspec.DockerOCIImage
	cfg.Created = &created
	cfg.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Cmd = []string{"sh"}
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("busybox layer")}}
	cfg.History = []ocispec.History{
		{Created: &created, CreatedBy: "/bin/sh -c #(nop) ADD file:abc in / "},
		{Created: &created, CreatedBy: "/bin/sh -c #(nop)  CMD [\"sh\"]", EmptyLayer: true},
	}
	img := f.record(cfg, root)
	f.named["busybox"] = img.ID
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fakeBackend) record(cfg dockerspec.DockerOCIImage, root string) engine.BuildImage {
	b, _ := json.Marshal(cfg)
	id := digest.FromBytes(b)
	img := engine.BuildImage{ID: id, Config: cfg}
	f.images[id] = img
	f.roots[id] = root
	return img
}

func (f *fakeBackend) BuildBase(ctx context.Context, ref string, o engine.BuildBaseOptions) (engine.BuildImage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.named[ref]
	if !ok {
		if img, ok := f.images[digest.Digest(ref)]; ok {
			return img, nil
		}
		return engine.BuildImage{}, engine.NotFound("pull access denied for %s, repository does not exist or may require 'docker login'", ref)
	}
	return f.images[id], nil
}

func (f *fakeBackend) BuildImageByID(ctx context.Context, id digest.Digest) (engine.BuildImage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.images[id], nil
}

func (f *fakeBackend) BuildCommit(ctx context.Context, parent engine.BuildImage, cfg dockerspec.DockerOCIImage, src engine.LayerSource, o engine.BuildCommitOptions) (engine.BuildImage, error) {
	f.mu.Lock()
	f.commits++
	n := f.commits
	f.mu.Unlock()
	root := filepath.Join(f.dir, fmt.Sprintf("img%d", n))
	must(f.t, os.MkdirAll(root, 0o755))
	if parent.ID != "" {
		if out, err := exec.Command("cp", "-a", f.roots[parent.ID]+"/.", root).CombinedOutput(); err != nil {
			f.t.Fatalf("cp: %v %s", err, out)
		}
	}
	if src.Fill != nil {
		if err := src.Fill(ctx, root); err != nil {
			return engine.BuildImage{}, err
		}
	}
	if src.Fill != nil || src.Container != "" {
		cfg.RootFS.DiffIDs = append(slices.Clone(parent.Config.RootFS.DiffIDs), digest.FromString(root))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.record(cfg, root)
	if o.CacheKey != "" {
		f.cache[o.CacheKey] = img.ID
	}
	return img, nil
}

func (f *fakeBackend) BuildCacheGet(ctx context.Context, key string) (engine.BuildImage, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.cache[key]
	return f.images[id], ok, nil
}

func (f *fakeBackend) BuildName(ctx context.Context, img engine.BuildImage, tags []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range tags {
		f.named[t] = img.ID
	}
	return nil
}

func (f *fakeBackend) BuildMount(ctx context.Context, img engine.BuildImage) (string, func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mounts++
	if img.ID == "" {
		d, _ := os.MkdirTemp(f.dir, "scratch")
		return d, func() { f.mu.Lock(); f.mounts--; f.mu.Unlock() }, nil
	}
	return f.roots[img.ID], func() { f.mu.Lock(); f.mounts--; f.mu.Unlock() }, nil
}

func (f *fakeBackend) BuildCacheList(ctx context.Context) ([]engine.BuildCacheEntry, error) {
	return nil, nil
}
func (f *fakeBackend) BuildCacheRemove(ctx context.Context, keys []string) (int64, error) {
	return 0, nil
}

func (f *fakeBackend) BuildLease(ctx context.Context) (context.Context, func()) {
	return ctx, func() {}
}

func (f *fakeBackend) ContainerCreate(ctx context.Context, name string, req engine.CreateRequest) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextCtr++
	id := fmt.Sprintf("%064x", sha256.Sum256([]byte(fmt.Sprint(f.nextCtr))))
	f.created[id] = *req.Config
	return container.CreateResponse{ID: id}, nil
}

// frame writes p as one stdout frame of docker's multiplexed stream.
func frame(w io.Writer, p string) {
	h := make([]byte, 8)
	h[0] = byte(stdcopy.Stdout)
	binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
	w.Write(h)
	io.WriteString(w, p)
}

// fakeStream is an attach stream that carries a container's output once
// it starts.
type fakeStream struct {
	io.Reader
}

func (fakeStream) Write(p []byte) (int, error) { return len(p), nil }
func (fakeStream) Close() error                { return nil }
func (fakeStream) CloseWrite() error           { return nil }

func (f *fakeBackend) ContainerAttach(ctx context.Context, id string, o engine.AttachOptions) (engine.Stream, error) {
	f.mu.Lock()
	cfg := f.created[id]
	f.mu.Unlock()
	var b bytes.Buffer
	frame(&b, fmt.Sprintf("ran %s\n", strings.Join(cfg.Cmd, " ")))
	return fakeStream{&b}, nil
}

func (f *fakeBackend) exitCode(id string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	cmd := strings.Join(f.created[id].Cmd, " ")
	var code int64
	if i := strings.Index(cmd, "exit "); i >= 0 {
		fmt.Sscanf(cmd[i+5:], "%d", &code)
	}
	return code
}

func (f *fakeBackend) ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	c := make(chan container.WaitResponse, 1)
	c <- container.WaitResponse{StatusCode: f.exitCode(id)}
	return c, make(chan error)
}

func (f *fakeBackend) ContainerStart(ctx context.Context, id string) error { return nil }

func (f *fakeBackend) ContainerRemove(ctx context.Context, id string, o engine.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return nil
}

// recorder is a BuildOutput that keeps the text.
type recorder struct {
	mu   sync.Mutex
	text strings.Builder
	aux  []any
}

func (r *recorder) Stream(s string)                                { r.mu.Lock(); r.text.WriteString(s); r.mu.Unlock() }
func (r *recorder) Aux(v any)                                      { r.mu.Lock(); r.aux = append(r.aux, v); r.mu.Unlock() }
func (r *recorder) Update(id, status string, current, total int64) {}
func (r *recorder) String() string                                 { r.mu.Lock(); defer r.mu.Unlock(); return r.text.String() }

// ctxTar is a context tar of name -> content.
func ctxTar(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		must(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}))
		_, err := tw.Write([]byte(files[name]))
		must(t, err)
	}
	must(t, tw.Close())
	return &b
}

func (f *fakeBackend) build(t *testing.T, files map[string]string, o engine.BuildOptions) (engine.BuildImage, string, error) {
	t.Helper()
	bd := NewOn(f, t.TempDir())
	out := &recorder{}
	err := bd.Build(context.Background(), ctxTar(t, files), o, out)
	var img engine.BuildImage
	if err == nil {
		for _, a := range out.aux {
			if m, ok := a.(map[string]string); ok {
				f.mu.Lock()
				img = f.images[digest.Digest(m["ID"])]
				f.mu.Unlock()
			}
		}
	}
	if f.mounts != 0 {
		t.Errorf("%d mounts left", f.mounts)
	}
	for id := range f.created {
		if !slices.Contains(f.removed, id) {
			t.Errorf("container %s left", id[:12])
		}
	}
	return img, out.String(), err
}

const nginxDockerfile = `FROM busybox
LABEL maintainer="NGINX Docker Maintainers <docker-maint@nginx.com>"
ENV NGINX_VERSION 1.25.3
# the log links
RUN mkdir -p /var/log/nginx \
	&& ln -sf /dev/stdout /var/log/nginx/access.log \
	&& ln -sf /dev/stderr /var/log/nginx/error.log
COPY index.html /usr/share/nginx/html/
EXPOSE 80
STOPSIGNAL SIGTERM
CMD ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]
`

func TestBuildNginxStyle(t *testing.T) {
	f := newFakeBackend(t)
	files := map[string]string{"Dockerfile": nginxDockerfile, "index.html": "<h1>hi</h1>\n"}
	img, out, err := f.build(t, files, engine.BuildOptions{Tags: []string{"web"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"Step 1/8 : FROM busybox\n",
		"Step 4/8 : RUN mkdir -p /var/log/nginx \t&& ln -sf /dev/stdout /var/log/nginx/access.log \t&& ln -sf /dev/stderr /var/log/nginx/error.log\n",
		" ---> Running in ",
		"ran /bin/sh -c mkdir -p /var/log/nginx",
		" ---> Removed intermediate container ",
		"Step 8/8 : CMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/usr/share/nginx/html\"]\n",
		"Successfully built " + shortID(img.ID) + "\n",
		"Successfully tagged web:latest\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if f.named["web:latest"] != img.ID {
		t.Errorf("web:latest is %s, want %s", f.named["web:latest"], img.ID)
	}
	c := img.Config.Config
	if !slices.Equal(c.Cmd, []string{"httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"}) {
		t.Errorf("Cmd %q", c.Cmd)
	}
	if c.StopSignal != "SIGTERM" || c.Labels["maintainer"] != "NGINX Docker Maintainers <docker-maint@nginx.com>" {
		t.Errorf("StopSignal %q Labels %v", c.StopSignal, c.Labels)
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v", c.ExposedPorts)
	}
	if !slices.Equal(c.Env, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.25.3"}) {
		t.Errorf("Env %q", c.Env)
	}
	var hist []string
	for _, h := range img.Config.History[2:] {
		hist = append(hist, fmt.Sprintf("%v %s", h.EmptyLayer, h.CreatedBy))
	}
	// docker's sum of the file (tarsum_linux.go): the history's, not the cache key's.
	sum, _ := dockerSourceSum(writeDir(t, files), "index.html")
	want := []string{
		`true /bin/sh -c #(nop)  LABEL maintainer=NGINX Docker Maintainers <docker-maint@nginx.com>`,
		`true /bin/sh -c #(nop)  ENV NGINX_VERSION=1.25.3`,
		"false /bin/sh -c mkdir -p /var/log/nginx \t&& ln -sf /dev/stdout /var/log/nginx/access.log \t&& ln -sf /dev/stderr /var/log/nginx/error.log",
		`false /bin/sh -c #(nop) COPY ` + sum + ` in /usr/share/nginx/html/ `,
		`true /bin/sh -c #(nop)  EXPOSE 80`,
		`true /bin/sh -c #(nop)  STOPSIGNAL SIGTERM`,
		`true /bin/sh -c #(nop)  CMD ["httpd" "-f" "-p" "80" "-h" "/usr/share/nginx/html"]`,
	}
	if !slices.Equal(hist, want) {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(hist, "\n"), strings.Join(want, "\n"))
	}
	if n := len(img.Config.RootFS.DiffIDs); n != 3 {
		t.Errorf("%d layers, want 3 (base, RUN, COPY)", n)
	}
	if b, err := os.ReadFile(filepath.Join(f.roots[img.ID], "usr/share/nginx/html/index.html")); err != nil || string(b) != "<h1>hi</h1>\n" {
		t.Errorf("copied file: %q %v", b, err)
	}

	// A rebuild hits the cache for every step.
	commits := f.commits
	img2, out2, err := f.build(t, files, engine.BuildOptions{Tags: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	if img2.ID != img.ID || f.commits != commits || strings.Count(out2, " ---> Using cache\n") != 7 || strings.Contains(out2, "Running in") {
		t.Errorf("rebuild: id %s (want %s), %d new commits, output:\n%s", img2.ID, img.ID, f.commits-commits, out2)
	}

	// A changed copied file rebuilds from the COPY on.
	files["index.html"] = "<h1>changed</h1>\n"
	img3, out3, err := f.build(t, files, engine.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img3.ID == img.ID || strings.Count(out3, " ---> Using cache\n") != 3 || f.commits != commits+4 {
		t.Errorf("after a change: %d cache hits, %d commits, output:\n%s", strings.Count(out3, " ---> Using cache\n"), f.commits-commits, out3)
	}

	// --no-cache runs every step again.
	_, out4, err := f.build(t, files, engine.BuildOptions{NoCache: true})
	if err != nil || strings.Contains(out4, "Using cache") {
		t.Errorf("--no-cache: %v\n%s", err, out4)
	}
}

func writeDir(t *testing.T, files map[string]string) string {
	d := t.TempDir()
	for k, v := range files {
		must(t, os.WriteFile(filepath.Join(d, k), []byte(v), 0o644))
	}
	return d
}

func TestBuildMultiStageScratch(t *testing.T) {
	f := newFakeBackend(t)
	df := `FROM busybox AS builder
WORKDIR /src
RUN echo build > app
FROM scratch
COPY --from=builder /bin /bin
COPY --from=0 /etc/passwd /etc/
ENTRYPOINT ["/bin/app"]
`
	// the fake RUN writes nothing; give the builder stage a file to copy
	must(t, os.WriteFile(filepath.Join(f.roots[f.named["busybox"]], "bin", "app"), []byte("binary"), 0o755))
	img, out, err := f.build(t, map[string]string{"Dockerfile": df}, engine.BuildOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Step 4/7 : FROM scratch\n ---> \n") {
		t.Errorf("scratch step:\n%s", out)
	}
	c := img.Config
	if len(c.History) != 3 || len(c.RootFS.DiffIDs) != 2 {
		t.Errorf("history %d, layers %d: %+v", len(c.History), len(c.RootFS.DiffIDs), c.History)
	}
	if !slices.Equal(c.Config.Env, []string{"PATH=" + defaultPath}) || c.Config.Cmd != nil || !slices.Equal(c.Config.Entrypoint, []string{"/bin/app"}) {
		t.Errorf("config %+v", c.Config)
	}
	if c.OS != "linux" || c.Architecture == "" {
		t.Errorf("platform %+v", c.Platform)
	}
	if b, err := os.ReadFile(filepath.Join(f.roots[img.ID], "bin/app")); err != nil || string(b) != "binary" {
		t.Errorf("copied binary %q %v", b, err)
	}
	// the WORKDIR made a layer (it created /src) with docker's entry
	var builder engine.BuildImage
	for _, a := range f.images {
		if n := len(a.Config.History); n == 4 && strings.Contains(a.Config.History[2].CreatedBy, "WORKDIR") {
			builder = a
		}
	}
	if h := builder.Config.History; len(h) != 4 || h[2].CreatedBy != "/bin/sh -c #(nop) WORKDIR /src" || h[2].EmptyLayer {
		t.Errorf("WORKDIR history %+v", h)
	}
}

func TestBuildArgsAndSubstitution(t *testing.T) {
	str := func(s string) *string { return &s }
	cases := []struct {
		name      string
		df        string
		args      map[string]*string
		wantEnv   []string // extra Env entries after PATH
		wantLabel map[string]string
		wantOut   []string
		wantRun   string // a RUN's created_by
	}{
		{
			name:      "global ARG in FROM, not in the stage unless declared",
			df:        "ARG BASE=busybox\nFROM ${BASE}\nLABEL a=\"[${BASE}]\"\nARG BASE\nLABEL b=\"[${BASE}]\"\n",
			wantLabel: map[string]string{"a": "[]", "b": "[busybox]"},
		},
		{
			name:      "build-arg overrides default, ENV overrides ARG",
			df:        "FROM busybox\nARG V=def\nARG W=w\nLABEL v=$V\nENV W=env\nLABEL w=$W\n",
			args:      map[string]*string{"V": str("cli")},
			wantEnv:   []string{"W=env"},
			wantLabel: map[string]string{"v": "cli", "w": "env"},
		},
		{
			name:      "default and alternative forms",
			df:        "FROM busybox\nARG SET=x\nENV A=${UNSET:-dflt} B=${SET:+alt} C=${UNSET:+alt} D=${SET:-no}\n",
			wantEnv:   []string{"A=dflt", "B=alt", "C=", "D=x"},
			wantLabel: nil,
		},
		{
			name:      "unused build-arg warning, nil value unset",
			df:        "FROM busybox\nARG USED\nLABEL u=\"[$USED]\"\n",
			args:      map[string]*string{"USED": nil, "EXTRA": str("1"), "HTTP_PROXY": str("p")},
			wantOut:   []string{"[Warning] One or more build-args [EXTRA] were not consumed\n"},
			wantLabel: map[string]string{"u": "[]"},
		},
		{
			name:    "RUN history carries the args in scope, not an unreferenced proxy",
			df:      "FROM busybox\nARG B=2\nARG A=1\nRUN echo $A\n",
			args:    map[string]*string{"HTTP_PROXY": str("http://p")},
			wantRun: "|2 A=1 B=2 /bin/sh -c echo $A",
		},
		{
			name:    "ENV sees the values before the instruction",
			df:      "FROM busybox\nENV X=1\nENV X=2 Y=$X\n",
			wantEnv: []string{"X=2", "Y=1"},
		},
		{
			name:    "escape directive",
			df:      "# escape=`\nFROM busybox\nENV P=a\\b `\n  Q=c\n",
			wantEnv: []string{"P=a\\b", "Q=c"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBackend(t)
			img, out, err := f.build(t, map[string]string{"Dockerfile": tc.df}, engine.BuildOptions{BuildArgs: tc.args})
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			env := img.Config.Config.Env[1:]
			if tc.wantEnv != nil && !slices.Equal(env, tc.wantEnv) {
				t.Errorf("Env %q, want %q", env, tc.wantEnv)
			}
			for k, v := range tc.wantLabel {
				if got := img.Config.Config.Labels[k]; got != v {
					t.Errorf("label %s = %q, want %q", k, got, v)
				}
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.wantRun != "" {
				h := img.Config.History
				if got := h[len(h)-1].CreatedBy; got != tc.wantRun {
					t.Errorf("RUN created_by %q, want %q", got, tc.wantRun)
				}
			}
		})
	}
}

func TestBuildConfigInstructions(t *testing.T) {
	f := newFakeBackend(t)
	df := `FROM busybox
MAINTAINER someone
CMD echo hi
ENTRYPOINT ["/entry"]
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
ENTRYPOINT exec run
HEALTHCHECK --interval=5s --retries=3 CMD true
USER app:staff
VOLUME /data /logs
EXPOSE 53/udp 8000-8001
ONBUILD RUN echo child
WORKDIR rel
WORKDIR /etc
`
	img, out, err := f.build(t, map[string]string{"Dockerfile": df}, engine.BuildOptions{Labels: map[string]string{"b": "2", "a": "1"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c := img.Config
	if c.Author != "someone" || c.History[len(c.History)-1].Author != "someone" {
		t.Errorf("author %q", c.Author)
	}
	cc := c.Config
	if !slices.Equal(cc.Cmd, []string{"/bin/sh", "-c", "echo hi"}) {
		t.Errorf("Cmd %q: the stage's own CMD stays when ENTRYPOINT is set", cc.Cmd)
	}
	if !slices.Equal(cc.Entrypoint, []string{"/bin/ash", "-eo", "pipefail", "-c", "exec run"}) {
		t.Errorf("Entrypoint %q", cc.Entrypoint)
	}
	if h := cc.Healthcheck; h == nil || !slices.Equal(h.Test, []string{"CMD-SHELL", "true"}) || h.Interval != 5*time.Second || h.Retries != 3 {
		t.Errorf("Healthcheck %+v", cc.Healthcheck)
	}
	if cc.User != "app:staff" || len(cc.Volumes) != 2 || len(cc.ExposedPorts) != 3 || cc.WorkingDir != "/etc" {
		t.Errorf("config %+v", cc)
	}
	if !slices.Equal(cc.OnBuild, []string{"RUN echo child"}) || cc.Labels["a"] != "1" || cc.Labels["b"] != "2" {
		t.Errorf("OnBuild %q Labels %v", cc.OnBuild, cc.Labels)
	}
	if !strings.Contains(out, "Step 15/15 : LABEL b=2\n") {
		t.Errorf("--label steps:\n%s", out)
	}
	var hist []string
	for _, h := range c.History[2:] {
		hist = append(hist, h.CreatedBy)
	}
	for _, want := range []string{
		`/bin/sh -c #(nop)  MAINTAINER someone`,
		`/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo hi"]`,
		`/bin/sh -c #(nop)  ENTRYPOINT ["/entry"]`,
		`/bin/ash -eo pipefail -c #(nop)  SHELL [/bin/ash -eo pipefail -c]`,
		`/bin/ash -eo pipefail -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x03'}`,
		`/bin/ash -eo pipefail -c #(nop)  USER app:staff`,
		`/bin/ash -eo pipefail -c #(nop)  VOLUME [/data /logs]`,
		`/bin/ash -eo pipefail -c #(nop)  EXPOSE 53/udp 8000-8001`,
		`/bin/ash -eo pipefail -c #(nop)  ONBUILD RUN echo child`,
		`/bin/ash -eo pipefail -c #(nop) WORKDIR /rel`,
		`/bin/ash -eo pipefail -c #(nop) WORKDIR /etc`,
	} {
		if !slices.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, strings.Join(hist, "\n"))
		}
	}

	// A child runs the trigger right after its FROM.
	df2 := "FROM parent\nLABEL x=y\n"
	f.named["parent"] = img.ID
	child, out, err := f.build(t, map[string]string{"Dockerfile": df2}, engine.BuildOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "# Executing 1 build trigger\n") || !strings.Contains(out, "ran /bin/ash -eo pipefail -c echo child") {
		t.Errorf("trigger output:\n%s", out)
	}
	if child.Config.Config.OnBuild != nil {
		t.Errorf("child OnBuild %q", child.Config.Config.OnBuild)
	}
}

func TestBuildEntrypointKeepsStageCmd(t *testing.T) {
	f := newFakeBackend(t)
	img, out, err := f.build(t, map[string]string{"Dockerfile": "FROM busybox\nCMD [\"a\"]\nENTRYPOINT [\"e\"]\n"}, engine.BuildOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !slices.Equal(img.Config.Config.Cmd, []string{"a"}) {
		t.Errorf("Cmd %q", img.Config.Config.Cmd)
	}
	img, _, _ = f.build(t, map[string]string{"Dockerfile": "FROM busybox\nENTRYPOINT [\"e\"]\n"}, engine.BuildOptions{})
	if img.Config.Config.Cmd != nil {
		t.Errorf("inherited Cmd %q kept", img.Config.Config.Cmd)
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		o     engine.BuildOptions
		want  string
		kind  engine.Kind
		code  int
	}{
		{"unknown instruction", map[string]string{"Dockerfile": "FROM busybox\nLABEL a=b\nFOO bar\n"}, engine.BuildOptions{}, "dockerfile parse error on line 3: unknown instruction: FOO", engine.KindInvalid, 0},
		{"missing FROM", map[string]string{"Dockerfile": "# c\nRUN true\n"}, engine.BuildOptions{}, "no build stage in current context", engine.KindInvalid, 0},
		{"only ARG", map[string]string{"Dockerfile": "ARG X=1\n"}, engine.BuildOptions{}, "no build stage in current context", engine.KindInvalid, 0},
		{"bad target", map[string]string{"Dockerfile": "FROM busybox AS a\n"}, engine.BuildOptions{Target: "nope"}, "failed to reach build target nope in Dockerfile", engine.KindInvalid, 0},
		{"failing RUN", map[string]string{"Dockerfile": "FROM busybox\nRUN true\nRUN exit 3\n"}, engine.BuildOptions{Tags: []string{"t"}}, "Dockerfile:3: The command '/bin/sh -c exit 3' returned a non-zero code: 3", engine.KindUnknown, 3},
		{"COPY outside the context", map[string]string{"Dockerfile": "FROM busybox\nCOPY ../x /x\n"}, engine.BuildOptions{Tags: []string{"t"}}, "Dockerfile:2: ", engine.KindInvalid, 0},
		{"COPY of nothing", map[string]string{"Dockerfile": "FROM busybox\nCOPY missing /x\n"}, engine.BuildOptions{Tags: []string{"t"}}, "Dockerfile:2: ", engine.KindInvalid, 0},
		{"bad tag", map[string]string{"Dockerfile": "FROM busybox\n"}, engine.BuildOptions{Tags: []string{"Bad:tag"}}, "invalid tag", engine.KindInvalid, 0},
		{"bad stop signal", map[string]string{"Dockerfile": "FROM busybox\nSTOPSIGNAL SIGNOPE\n"}, engine.BuildOptions{}, "Dockerfile:2: Invalid signal: SIGNOPE", engine.KindInvalid, 0},
		{"missing base", map[string]string{"Dockerfile": "FROM nothere\n"}, engine.BuildOptions{}, "Dockerfile:1: pull access denied", engine.KindNotFound, 0},
		{"bad substitution", map[string]string{"Dockerfile": "FROM busybox\nENV A=\"${B:?must be set}\"\n"}, engine.BuildOptions{}, "Dockerfile:2: ", engine.KindInvalid, 0},
		{"RUN --mount", map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=cache,target=/x true\n"}, engine.BuildOptions{}, "requires BuildKit", engine.KindInvalid, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBackend(t)
			named := len(f.named)
			_, out, err := f.build(t, tc.files, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q\n%s", err, tc.want, out)
			}
			if k := engine.KindOf(err); k != tc.kind {
				t.Errorf("kind %v, want %v", k, tc.kind)
			}
			if tc.code != 0 {
				var coded interface{ ExitCode() int }
				if !asCoded(err, &coded) || coded.ExitCode() != tc.code {
					t.Errorf("no exit code %d in %v", tc.code, err)
				}
				if !strings.Contains(out, "ran /bin/sh -c exit 3\n") {
					t.Errorf("RUN output not shown:\n%s", out)
				}
			}
			if len(f.named) != named {
				t.Errorf("a tag was set: %v", f.named)
			}
		})
	}
}

func asCoded(err error, target *interface{ ExitCode() int }) bool {
	for e := err; e != nil; {
		if c, ok := e.(interface{ ExitCode() int }); ok {
			*target = c
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func TestBuildQuiet(t *testing.T) {
	f := newFakeBackend(t)
	img, out, err := f.build(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo hi\n"}, engine.BuildOptions{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if out != img.ID.String()+"\n" {
		t.Errorf("quiet output %q", out)
	}
}

func TestBuildTargetStopsEarly(t *testing.T) {
	f := newFakeBackend(t)
	df := "FROM busybox AS a\nLABEL s=a\nFROM a AS b\nLABEL s=b\nFROM busybox\nRUN exit 1\n"
	img, out, err := f.build(t, map[string]string{"Dockerfile": df}, engine.BuildOptions{Target: "B"})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if img.Config.Config.Labels["s"] != "b" || !strings.Contains(out, "Step 4/4 : LABEL s=b") {
		t.Errorf("labels %v\n%s", img.Config.Config.Labels, out)
	}
}

func TestPruneSelect(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	entries := []engine.BuildCacheEntry{
		{Key: "aaa", Created: now.Add(-48 * time.Hour), Size: 10},
		{Key: "bbb", Created: now.Add(-time.Hour), Size: 10, InUse: true},
		{Key: "ccc", Created: now.Add(-time.Minute), Size: 10},
	}
	cases := []struct {
		name string
		o    engine.BuildCachePruneOptions
		want []string
	}{
		{"unused", engine.BuildCachePruneOptions{}, []string{"aaa", "ccc"}},
		{"all", engine.BuildCachePruneOptions{All: true}, []string{"aaa", "bbb", "ccc"}},
		{"until duration", engine.BuildCachePruneOptions{All: true, Filters: engine.Filters{"until": {"24h"}}}, []string{"aaa"}},
		{"until timestamp", engine.BuildCachePruneOptions{Filters: engine.Filters{"until": {fmt.Sprint(now.Add(-30 * time.Minute).Unix())}}}, []string{"aaa"}},
		{"id", engine.BuildCachePruneOptions{All: true, Filters: engine.Filters{"id": {"bb"}}}, []string{"bbb"}},
		{"keep storage", engine.BuildCachePruneOptions{KeepStorage: 10}, []string{"aaa"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pruneSelect(entries, tc.o, now)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
	if _, err := pruneSelect(entries, engine.BuildCachePruneOptions{Filters: engine.Filters{"bogus": {"x"}}}, now); engine.KindOf(err) != engine.KindInvalid {
		t.Errorf("bad filter: %v", err)
	}
}

func TestParsePortsAndSignals(t *testing.T) {
	got, err := parsePorts([]string{"80", "53/UDP", "8000-8002/tcp", "127.0.0.1:9000:90"})
	want := []string{"80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp", "90/tcp"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ports %v %v", got, err)
	}
	for _, bad := range []string{"x", "80/foo", "9-1"} {
		if _, err := parsePorts([]string{bad}); err == nil {
			t.Errorf("port %q accepted", bad)
		}
	}
	for s, n := range map[string]int{"SIGTERM": 15, "term": 15, "9": 9, "SIGRTMIN+3": 37} {
		if got, err := parseSignal(s); err != nil || got != n {
			t.Errorf("signal %s: %d %v", s, got, err)
		}
	}
}
