package compose

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/engine"
)

const richCompose = `name: rich
services:
  web:
    image: busybox:latest
    command: ["httpd", "-f"]
    entrypoint: /bin/sh -c
    environment:
      A: "1"
      B: ${B:-dflt}
    env_file: [web.env]
    ports:
      - "127.0.0.1:8081:80"
      - "9000-9001:9000-9001/udp"
      - "53"
    expose: ["3000", "4000-4001/udp"]
    volumes:
      - data:/data
      - ./html:/html:ro
      - type: tmpfs
        target: /scratch
        tmpfs:
          size: 1048576
      - /anon
      - shared:/shared
    tmpfs: ["/run:size=64k"]
    networks:
      front:
        aliases: [www]
        ipv4_address: 172.30.0.10
      back: {}
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
      timeout: 3s
      retries: 4
      start_period: 5s
    restart: on-failure:3
    deploy:
      replicas: 2
      resources:
        limits:
          cpus: "0.5"
          memory: 64M
          pids: 100
        reservations:
          memory: 32M
    secrets:
      - key
      - source: stored
        target: /etc/stored.txt
        mode: 0440
    configs:
      - conf
      - source: storedconf
        target: /etc/app.conf
    labels:
      team: a
    hostname: webhost
    user: "1000:1000"
    working_dir: /srv
    stop_signal: SIGINT
    stop_grace_period: 7s
    init: true
    privileged: false
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    read_only: true
    extra_hosts: ["db.local:10.0.0.5"]
    dns: [1.1.1.1]
    sysctls:
      net.core.somaxconn: "1024"
    ulimits:
      nofile:
        soft: 1024
        hard: 2048
      nproc: 512
    shm_size: 128m
    tty: true
    stdin_open: true
    depends_on:
      db:
        condition: service_healthy
  db:
    image: busybox:latest
    network_mode: "none"
  side:
    image: busybox:latest
    network_mode: service:web
    healthcheck:
      disable: true
    entrypoint: []
volumes:
  data: {}
  shared:
    external: true
    name: the-shared
networks:
  front:
    ipam:
      config:
        - subnet: 172.30.0.0/24
  back:
    name: custom-back
secrets:
  key:
    file: ./key.pem
  stored:
    external: true
configs:
  conf:
    file: ./app.conf
  storedconf:
    name: site-conf
    external: true
`

func loadRich(t *testing.T, environ ...string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"compose.yaml": richCompose, "web.env": "FROM_FILE=yes\n", "key.pem": "k", "app.conf": "c",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load(context.Background(), LoadOptions{ConfigFiles: []string{filepath.Join(dir, "compose.yaml")}, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpecOf(t *testing.T) {
	p := loadRich(t)
	c := New(nil, nil)
	peer := func(s string) (string, error) { return "ID-" + s, nil }
	name, req, _, err := c.specOf(context.Background(), p, p.Services["web"], CreateOptions{Number: 2}, "sha256:img", peer)
	if err != nil {
		t.Fatal(err)
	}
	if name != "rich-web-2" {
		t.Errorf("name %q", name)
	}
	cfg, hc := req.Config, req.HostConfig
	check := func(what string, ok bool, got any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: got %#v", what, got)
		}
	}
	check("image", cfg.Image == "busybox:latest", cfg.Image)
	check("cmd", slices.Equal(cfg.Cmd, []string{"httpd", "-f"}), cfg.Cmd)
	check("entrypoint", slices.Equal(cfg.Entrypoint, []string{"/bin/sh", "-c"}), cfg.Entrypoint)
	check("env", slices.Equal(cfg.Env, []string{"A=1", "B=dflt", "FROM_FILE=yes"}), cfg.Env)
	check("hostname", cfg.Hostname == "webhost", cfg.Hostname)
	check("user", cfg.User == "1000:1000", cfg.User)
	check("workdir", cfg.WorkingDir == "/srv", cfg.WorkingDir)
	check("stop signal", cfg.StopSignal == "SIGINT", cfg.StopSignal)
	check("stop timeout", cfg.StopTimeout != nil && *cfg.StopTimeout == 7, cfg.StopTimeout)
	check("tty", cfg.Tty && cfg.OpenStdin, cfg)
	check("health", cfg.Healthcheck != nil && slices.Equal(cfg.Healthcheck.Test, []string{"CMD", "true"}) &&
		cfg.Healthcheck.Interval == 2*time.Second && cfg.Healthcheck.Timeout == 3*time.Second &&
		cfg.Healthcheck.Retries == 4 && cfg.Healthcheck.StartPeriod == 5*time.Second, cfg.Healthcheck)
	for k, v := range map[string]string{
		"team": "a", LabelProject: "rich", LabelService: "web", LabelNumber: "2", LabelOneoff: "False",
		LabelImage: "sha256:img", LabelVersion: Version, LabelDependsOn: "db:service_healthy:false",
	} {
		check("label "+k, cfg.Labels[k] == v, cfg.Labels[k])
	}
	hash, _ := ConfigHash(p.Services["web"])
	check("config hash", cfg.Labels[LabelConfigHash] == hash && len(hash) == 64, cfg.Labels[LabelConfigHash])
	check("working_dir label", cfg.Labels[LabelWorkingDir] == p.WorkingDir, cfg.Labels[LabelWorkingDir])
	check("config_files label", strings.HasSuffix(cfg.Labels[LabelConfigFiles], "compose.yaml"), cfg.Labels[LabelConfigFiles])

	// Ports: host_ip, ranges, protocols, an unpublished one; expose.
	pb := hc.PortBindings
	p80 := network.MustParsePort("80/tcp")
	check("port 80", len(pb[p80]) == 1 && pb[p80][0].HostPort == "8081" && pb[p80][0].HostIP.String() == "127.0.0.1", pb[p80])
	check("udp range", pb[network.MustParsePort("9001/udp")] != nil && pb[network.MustParsePort("9001/udp")][0].HostPort == "9001", pb)
	check("unpublished 53", pb[network.MustParsePort("53/tcp")] != nil && pb[network.MustParsePort("53/tcp")][0].HostPort == "", pb)
	for _, e := range []string{"80/tcp", "3000/tcp", "4000/udp", "4001/udp", "53/tcp"} {
		_, ok := cfg.ExposedPorts[network.MustParsePort(e)]
		check("exposed "+e, ok, cfg.ExposedPorts)
	}

	// Mounts: named volume by its project name, an external one by its
	// name, a bind as Binds (ro), tmpfs, anonymous, the file secret and
	// config as read-only binds.
	want := map[string]mount.Mount{
		"/data":            {Type: mount.TypeVolume, Source: "rich_data", Target: "/data"},
		"/shared":          {Type: mount.TypeVolume, Source: "the-shared", Target: "/shared"},
		"/anon":            {Type: mount.TypeVolume, Target: "/anon"},
		"/run/secrets/key": {Type: mount.TypeBind, Source: filepath.Join(p.WorkingDir, "key.pem"), Target: "/run/secrets/key", ReadOnly: true},
		"/conf":            {Type: mount.TypeBind, Source: filepath.Join(p.WorkingDir, "app.conf"), Target: "/conf", ReadOnly: true},
	}
	got := map[string]mount.Mount{}
	for _, m := range hc.Mounts {
		got[m.Target] = m
	}
	for target, w := range want {
		g := got[target]
		if g.Type != w.Type || g.Source != w.Source || g.ReadOnly != w.ReadOnly {
			t.Errorf("mount %s: %+v, want %+v", target, g, w)
		}
	}
	if m := got["/scratch"]; m.Type != mount.TypeTmpfs || m.TmpfsOptions == nil || m.TmpfsOptions.SizeBytes != 1<<20 {
		t.Errorf("tmpfs: %+v", m)
	}
	check("binds", slices.Equal(hc.Binds, []string{filepath.Join(p.WorkingDir, "html") + ":/html:ro"}), hc.Binds)
	check("tmpfs:", hc.Tmpfs["/run"] == "size=64k", hc.Tmpfs)

	// Store secrets and configs as the engine's FileRefs.
	check("secrets", len(req.Secrets) == 1 && req.Secrets[0] == engine.FileRef{Name: "stored", Target: "/etc/stored.txt", Mode: 0o440}, req.Secrets)
	check("configs", len(req.Configs) == 1 && req.Configs[0] == engine.FileRef{Name: "site-conf", Target: "/etc/app.conf"}, req.Configs)

	// Networks: the first by name is the mode; aliases with the service.
	check("network mode", hc.NetworkMode == "custom-back", hc.NetworkMode)
	eps := req.NetworkingConfig.EndpointsConfig
	front := eps["rich_front"]
	check("front", front != nil && slices.Equal(front.Aliases, []string{"web", "www"}) && front.IPAMConfig != nil && front.IPAMConfig.IPv4Address.String() == "172.30.0.10", front)
	check("back", eps["custom-back"] != nil && slices.Equal(eps["custom-back"].Aliases, []string{"web"}), eps)

	check("restart", hc.RestartPolicy == container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}, hc.RestartPolicy)
	check("memory", hc.Memory == 64<<20 && hc.MemoryReservation == 32<<20, hc.Resources)
	check("cpus", hc.NanoCPUs == 5e8, hc.NanoCPUs)
	check("pids", hc.PidsLimit != nil && *hc.PidsLimit == 100, hc.PidsLimit)
	check("init", hc.Init != nil && *hc.Init, hc.Init)
	check("caps", slices.Equal(hc.CapAdd, []string{"NET_ADMIN"}) && slices.Equal(hc.CapDrop, []string{"MKNOD"}), hc.CapAdd)
	check("read only", hc.ReadonlyRootfs, hc.ReadonlyRootfs)
	check("extra hosts", slices.Equal(hc.ExtraHosts, []string{"db.local:10.0.0.5"}), hc.ExtraHosts)
	check("dns", len(hc.DNS) == 1 && hc.DNS[0].String() == "1.1.1.1", hc.DNS)
	check("sysctls", hc.Sysctls["net.core.somaxconn"] == "1024", hc.Sysctls)
	check("shm", hc.ShmSize == 128<<20, hc.ShmSize)
	check("ulimits", len(hc.Ulimits) == 2 && hc.Ulimits[0].Name == "nofile" && hc.Ulimits[0].Soft == 1024 && hc.Ulimits[0].Hard == 2048 &&
		hc.Ulimits[1].Name == "nproc" && hc.Ulimits[1].Soft == 512 && hc.Ulimits[1].Hard == 512, hc.Ulimits)

	// network_mode service:X joins X's container; none stays none; a
	// disabled healthcheck is NONE; entrypoint: [] clears the image's.
	_, side, _, err := c.specOf(context.Background(), p, p.Services["side"], CreateOptions{}, "", peer)
	if err != nil {
		t.Fatal(err)
	}
	check("service network mode", side.HostConfig.NetworkMode == "container:ID-web" && side.NetworkingConfig == nil, side.HostConfig.NetworkMode)
	check("health disabled", side.Config.Healthcheck != nil && slices.Equal(side.Config.Healthcheck.Test, []string{"NONE"}), side.Config.Healthcheck)
	check("empty entrypoint", slices.Equal(side.Config.Entrypoint, []string{""}), side.Config.Entrypoint)
	_, db, _, err := c.specOf(context.Background(), p, p.Services["db"], CreateOptions{Oneoff: true}, "", peer)
	if err != nil {
		t.Fatal(err)
	}
	check("none", db.HostConfig.NetworkMode == "none", db.HostConfig.NetworkMode)
	check("oneoff", db.Config.Labels[LabelOneoff] == "True" && db.Config.Labels[LabelSlug] != "", db.Config.Labels)
}

// TestConfigHash: stable across loads, blind to scale and build, moved
// by what needs a new container.
func TestConfigHash(t *testing.T) {
	a, b := loadRich(t), loadRich(t)
	ha, _ := ConfigHash(a.Services["web"])
	hb, _ := ConfigHash(b.Services["web"])
	// The two loads differ in their folder (a bind's source), so compare
	// a service without binds.
	hs1, _ := ConfigHash(a.Services["side"])
	hs2, _ := ConfigHash(b.Services["side"])
	if hs1 != hs2 {
		t.Errorf("hash of side differs across loads: %s %s", hs1, hs2)
	}
	if ha == hb {
		t.Log("(web's hashes equal although its folders differ)")
	}
	again, _ := ConfigHash(a.Services["web"])
	if again != ha {
		t.Error("hash not stable")
	}
	s := a.Services["web"]
	n := 5
	s.Scale = &n
	d := *s.Deploy
	d.Replicas = &n
	s.Deploy = &d
	s.Build = &types.BuildConfig{Context: "/elsewhere"}
	s.PullPolicy = "always"
	s.DependsOn = nil
	if h, _ := ConfigHash(s); h != ha {
		t.Error("scale, replicas, build, pull_policy or depends_on moved the hash")
	}
	if r := a.Services["web"].Deploy.Replicas; r == nil || *r != 2 {
		t.Error("ConfigHash changed the service's deploy")
	}
	v := "2"
	s.Environment = types.MappingWithEquals{"A": &v}
	if h, _ := ConfigHash(s); h == ha {
		t.Error("the environment did not move the hash")
	}
}

func TestSpecUnsupported(t *testing.T) {
	p := loadRich(t)
	s := p.Services["db"]
	s.PostStart = []types.ServiceHook{{Command: []string{"true"}}}
	_, _, _, err := New(nil, nil).specOf(context.Background(), p, s, CreateOptions{}, "", nil)
	if err == nil || !strings.Contains(err.Error(), `service "db": not supported by berth: lifecycle hooks`) {
		t.Errorf("post_start: %v", err)
	}
	s = p.Services["db"]
	s.Links = []string{"web"}
	_, req, _, err := New(nil, nil).specOf(context.Background(), p, s, CreateOptions{}, "", nil)
	if err != nil || len(req.HostConfig.Links) != 0 {
		t.Errorf("links: [web]: %v %v", err, req.HostConfig.Links)
	}
	s.Links = []string{"web:www"}
	if _, _, _, err := New(nil, nil).specOf(context.Background(), p, s, CreateOptions{}, "", nil); err == nil || !strings.Contains(err.Error(), "link alias is not supported") {
		t.Errorf("links: [web:www]: %v", err)
	}
}

// TestSelectProject: a named service of an inactive profile is enabled
// (with what it depends on); --no-deps leaves the dependencies out.
func TestSelectProject(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte("services:\n  a:\n    image: busybox\n  b:\n    image: busybox\n    depends_on: [a]\n  tool:\n    image: busybox\n    profiles: [tools]\n    depends_on: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), LoadOptions{ConfigFiles: []string{f}, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["tool"]; ok {
		t.Fatal("tool enabled without its profile")
	}
	sel, err := selectProject(p, []string{"tool"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := sel.ServiceNames(); !slices.Equal(got, []string{"a", "tool"}) {
		t.Errorf("up tool: %v", got)
	}
	sel, err = selectProject(p, []string{"b"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := sel.ServiceNames(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("up --no-deps b: %v", got)
	}
	if _, err := selectProject(p, []string{"nope"}, false); err == nil {
		t.Error("an unknown service was selected")
	}
}
