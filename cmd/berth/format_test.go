package main

import (
	"encoding/json"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/engine"
)

func psFixture(now time.Time) []container.Summary {
	return []container.Summary{
		{
			ID: fullID, Names: []string{"/web"}, Image: "docker.io/library/nginx:latest", ImageID: "sha256:" + strings.Repeat("a", 64),
			Command: "nginx -g 'daemon off;' --and-more", Created: now.Add(-3 * time.Hour).Unix(),
			State: "running", Status: "Up 3 hours", Labels: map[string]string{"tier": "front", "app": "shop"},
			Ports: []container.PortSummary{
				{PrivatePort: 80, PublicPort: 8080, IP: netip.MustParseAddr("0.0.0.0"), Type: "tcp"},
				{PrivatePort: 443, Type: "tcp"}, {PrivatePort: 444, Type: "tcp"},
			},
			SizeRw: 2, SizeRootFs: 21500000,
		},
		{
			ID: strings.Repeat("f", 64), Names: []string{"/db"}, Image: "sha256:" + strings.Repeat("b", 64), ImageID: "sha256:" + strings.Repeat("b", 64),
			Command: "postgres", Created: now.Add(-90 * time.Second).Unix(), State: "exited", Status: "Exited (0) 1 second ago",
		},
	}
}

func TestPsFormat(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"default", []string{"ps"},
			"CONTAINER ID   IMAGE          COMMAND                  CREATED              STATUS                    PORTS                               NAMES\n" +
				"0123456789ab   nginx:latest   \"nginx -g 'daemon of…\"   3 hours ago          Up 3 hours                443-444/tcp, 0.0.0.0:8080->80/tcp   web\n" +
				"ffffffffffff   bbbbbbbbbbbb   \"postgres\"               About a minute ago   Exited (0) 1 second ago                                       db\n"},
		{"quiet", []string{"ps", "-q"}, "0123456789ab\nffffffffffff\n"},
		{"quiet no-trunc", []string{"ps", "-q", "--no-trunc"}, fullID + "\n" + strings.Repeat("f", 64) + "\n"},
		{"table template", []string{"ps", "--format", `table {{.ID}}\t{{.Names}}`},
			"CONTAINER ID   NAMES\n0123456789ab   web\nffffffffffff   db\n"},
		{"plain template", []string{"ps", "--format", `{{.Names}} {{.State}} {{.Label "tier"}}|{{.Labels}}`},
			"web running front|app=shop,tier=front\ndb exited |\n"},
		{"size", []string{"ps", "--format", "{{.Size}}"}, "2B (virtual 21.5MB)\n0B\n"},
		{"no-trunc image and command", []string{"ps", "--no-trunc", "--format", "{{.Image}} {{.Command}}"},
			"docker.io/library/nginx:latest \"nginx -g 'daemon off;' --and-more\"\n" +
				"sha256:" + strings.Repeat("b", 64) + " \"postgres\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{list: psFixture(now)}
			r := berth(t, f, "", tt.args...)
			if r.code != 0 || r.stdout != tt.want {
				t.Errorf("exit %d, stderr %q, stdout\n%s\nwant\n%s", r.code, r.stderr, r.stdout, tt.want)
			}
		})
	}
}

// TestPsJSON: {{json .}} (and --format json) is docker's object of
// placeholders, strings all.
func TestPsJSON(t *testing.T) {
	for _, format := range []string{"{{json .}}", "json"} {
		t.Run(format, func(t *testing.T) {
			f := &fakeAPI{list: psFixture(time.Now())[:1]}
			r := berth(t, f, "", "ps", "--format", format)
			var got map[string]string
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("%v: %q", err, r.stdout)
			}
			want := map[string]string{"ID": "0123456789ab", "Names": "web", "Image": "nginx:latest", "State": "running",
				"Status": "Up 3 hours", "Labels": "app=shop,tier=front", "LocalVolumes": "0", "Mounts": "", "Networks": "",
				"Ports": "443-444/tcp, 0.0.0.0:8080->80/tcp", "Size": "2B (virtual 21.5MB)", "RunningFor": "3 hours ago",
				"Command": `"nginx -g 'daemon of…"`, "CreatedAt": got["CreatedAt"]}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

// TestPsOptions: flags become list options; a template with .Size asks
// for sizes as -s does.
func TestPsOptions(t *testing.T) {
	tests := []struct {
		args []string
		want engine.ListOptions
	}{
		{[]string{"ps"}, engine.ListOptions{}},
		{[]string{"ps", "-a"}, engine.ListOptions{All: true}},
		{[]string{"ps", "-n", "3"}, engine.ListOptions{Limit: 3}},
		{[]string{"ps", "-l"}, engine.ListOptions{Limit: 1}},
		{[]string{"ps", "-s"}, engine.ListOptions{Size: true}},
		{[]string{"ps", "--format", "{{.Size}}"}, engine.ListOptions{Size: true}},
		{[]string{"ps", "-f", "status=exited", "--filter", "label=a=b", "-f", "status=created"},
			engine.ListOptions{Filters: engine.Filters{"status": {"exited", "created"}, "label": {"a=b"}}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := &fakeAPI{}
			if r := berth(t, f, "", tt.args...); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !reflect.DeepEqual(f.listOpts[0], tt.want) {
				t.Errorf("got %+v, want %+v", f.listOpts[0], tt.want)
			}
		})
	}
	if r := berth(t, &fakeAPI{}, "", "ps", "--format", "{{.Nope"); r.code != 1 || !strings.Contains(r.stderr, "template parsing error") {
		t.Errorf("bad template: exit %d, %q", r.code, r.stderr)
	}
}

func imagesFixture(now time.Time) []image.Summary {
	return []image.Summary{
		{ID: "sha256:" + strings.Repeat("1", 64), Created: now.Add(-49 * time.Hour).Unix(), Size: 4_400_000,
			RepoTags:    []string{"busybox:latest", "docker.io/library/busybox:1.36", "localhost:5000/team/box:v1"},
			RepoDigests: []string{"busybox@sha256:" + strings.Repeat("d", 64)}},
		{ID: "sha256:" + strings.Repeat("2", 64), Created: now.Add(-2 * time.Minute).Unix(), Size: 1234},
	}
}

func TestImagesFormat(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"default", []string{"images"},
			"REPOSITORY             TAG       IMAGE ID       CREATED         SIZE\n" +
				"busybox                1.36      111111111111   2 days ago      4.4MB\n" +
				"busybox                latest    111111111111   2 days ago      4.4MB\n" +
				"localhost:5000/team/box   v1     111111111111   2 days ago      4.4MB\n" +
				"<none>                 <none>    222222222222   2 minutes ago   1.23kB\n"},
		{"quiet", []string{"images", "-q"}, "111111111111\n111111111111\n111111111111\n222222222222\n"},
		{"digests", []string{"images", "--digests", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}"},
			"busybox:1.36 sha256:" + strings.Repeat("d", 64) + "\nbusybox:latest sha256:" + strings.Repeat("d", 64) +
				"\nlocalhost:5000/team/box:v1 <none>\n<none>:<none> <none>\n"},
		{"template", []string{"image", "ls", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"},
			"sha256:" + strings.Repeat("1", 64) + " busybox:1.36\nsha256:" + strings.Repeat("1", 64) + " busybox:latest\n" +
				"sha256:" + strings.Repeat("1", 64) + " localhost:5000/team/box:v1\nsha256:" + strings.Repeat("2", 64) + " <none>:<none>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{imageList: imagesFixture(now)}
			r := berth(t, f, "", tt.args...)
			got, want := r.stdout, tt.want
			if tt.name == "default" {
				// Column widths aside, the cells in order.
				got, want = collapse(got), collapse(want)
			}
			if r.code != 0 || got != want {
				t.Errorf("exit %d, stderr %q, stdout\n%s\nwant\n%s", r.code, r.stderr, r.stdout, tt.want)
			}
		})
	}
	f := &fakeAPI{}
	berth(t, f, "", "images", "-a", "-f", "dangling=true", "busybox")
	want := engine.ImageListOptions{All: true, Filters: engine.Filters{"dangling": {"true"}, "reference": {"busybox"}}}
	if !reflect.DeepEqual(f.imageListOpts[0], want) {
		t.Errorf("list options %+v, want %+v", f.imageListOpts[0], want)
	}
}

// collapse squeezes runs of spaces, for comparing tables by their cells.
func collapse(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// TestTableAlignment: docker's table writer (minimum width 10, padding 3).
func TestTableAlignment(t *testing.T) {
	f := &fakeAPI{imageList: imagesFixture(time.Now())[1:]}
	r := berth(t, f, "", "images", "--format", `table {{.Repository}}\t{{.Tag}}\t{{.Size}}`)
	want := "REPOSITORY   TAG       SIZE\n<none>       <none>    1.23kB\n"
	if r.stdout != want {
		t.Errorf("got\n%q\nwant\n%q", r.stdout, want)
	}
}

func TestInspect(t *testing.T) {
	ctr := container.InspectResponse{ID: fullID, Name: "/web", State: &container.State{Status: "running", Pid: 42},
		Config: &container.Config{Image: "busybox", Env: []string{"A=1"}}}
	img := image.InspectResponse{ID: "sha256:" + strings.Repeat("1", 64), RepoTags: []string{"busybox:latest"}}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"container format", []string{"inspect", "-f", "{{.State.Pid}} {{.Name}} {{json .Config.Env}}", "web"}, 0, "42 /web [\"A=1\"]\n", ""},
		{"raw field name", []string{"container", "inspect", "--format", "{{.Id}}", "web"}, 0, fullID + "\n", ""},
		{"image by fallback", []string{"inspect", "-f", "{{.Id}} {{index .RepoTags 0}}", "busybox"}, 0, img.ID + " busybox:latest\n", ""},
		{"type image", []string{"inspect", "--type", "image", "-f", "{{.ID}}", "web"}, 1, "", "Error response from daemon: No such image: web\n"},
		{"missing", []string{"inspect", "nosuch"}, 1, "[]\n", "Error: No such object: nosuch\n"},
		{"image inspect missing", []string{"image", "inspect", "nosuch"}, 1, "[]\n", "Error response from daemon: No such image: nosuch\n"},
		{"one of two", []string{"container", "inspect", "-f", "{{.Name}}", "web", "nosuch"}, 1, "/web\n", "Error response from daemon: No such container: nosuch\n"},
		{"bad type", []string{"inspect", "--type", "plugin", "x"}, 1, "", "\"plugin\" is not a valid value for --type\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{inspect: map[string]container.InspectResponse{"web": ctr}, images: map[string]image.InspectResponse{"busybox": img}}
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	// Without a format: an indented JSON array of the objects.
	f := &fakeAPI{inspect: map[string]container.InspectResponse{"web": ctr}}
	r := berth(t, f, "", "container", "inspect", "web")
	var got []container.InspectResponse
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].ID != fullID {
		t.Errorf("inspect JSON %q: %v", r.stdout, err)
	}
	if !strings.HasPrefix(r.stdout, "[\n    {\n        \"Id\": ") {
		t.Errorf("not docker's indentation:\n%s", r.stdout)
	}
}

func TestVersion(t *testing.T) {
	f := &fakeAPI{version: system.VersionResponse{Version: "0.6.0", APIVersion: "1.50", MinAPIVersion: "1.24",
		Os: "linux", Arch: "amd64", GoVersion: "go1.26.8", GitCommit: "abc1234", BuildTime: "2026-01-02T03:04:05Z"}}
	r := berth(t, f, "", "version")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"Client:\n Version:           ", "\n API version:       1.50\n", "\n OS/Arch:           linux/",
		"\n Context:           default\n\nServer:\n Engine:\n  Version:          0.6.0\n",
		"\n  API version:      1.50 (minimum version 1.24)\n", "\n  Built:            Fri Jan  2 03:04:05 2026\n",
		"\n  OS/Arch:          linux/amd64\n  Experimental:     false\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version lacks %q:\n%s", want, r.stdout)
		}
	}
	r = berth(t, f, "", "version", "-f", "{{.Server.Version}} {{.Client.APIVersion}}")
	if r.stdout != "0.6.0 1.50\n" {
		t.Errorf("version -f: %q", r.stdout)
	}
	// Without a server: the client part, then the error.
	f.errs = map[string]error{"Version": engine.Errorf(engine.KindUnavailable, "engine is shutting down")}
	r = berth(t, f, "", "version")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "Client:\n") || strings.Contains(r.stdout, "Server:") ||
		r.stderr != "Error response from daemon: engine is shutting down\n" {
		t.Errorf("version without a server: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestInfo(t *testing.T) {
	f := &fakeAPI{info: system.Info{
		Containers: 3, ContainersRunning: 1, ContainersPaused: 0, ContainersStopped: 2, Images: 4,
		ServerVersion: "0.6.0", Driver: "overlayfs", DriverStatus: [][2]string{{"Backing Filesystem", "extfs"}},
		LoggingDriver: "json-file", CgroupDriver: "cgroupfs", CgroupVersion: "1",
		Plugins:  system.PluginsInfo{Log: []string{"json-file"}},
		Runtimes: map[string]system.RuntimeWithStatus{"berth": {}}, DefaultRuntime: "berth",
		OSType: "linux", SecurityOptions: []string{"name=seccomp,profile=builtin"},
		KernelVersion: "6.18.0", OperatingSystem: "Debian", Architecture: "x86_64", NCPU: 2, MemTotal: 2097152000,
		Name: "host", ID: "ID1", DockerRootDir: "/var/lib/berth", Warnings: []string{"WARNING: no swap limit support"},
	}}
	r := berth(t, f, "", "info")
	want := []string{
		"Client:\n Version:    ", "\n Context:    default\n Debug Mode: false\n\nServer:\n Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 4\n Server Version: 0.6.0\n Storage Driver: overlayfs\n  Backing Filesystem: extfs\n Logging Driver: json-file\n Cgroup Driver: cgroupfs\n Cgroup Version: 1\n Plugins:\n  Volume: \n  Network: \n  Log: json-file\n Swarm: inactive\n Runtimes: berth\n Default Runtime: berth\n",
		"\n Security Options:\n  seccomp\n   Profile: builtin\n Kernel Version: 6.18.0\n",
		"\n CPUs: 2\n Total Memory: 1.953GiB\n Name: host\n ID: ID1\n Docker Root Dir: /var/lib/berth\n Debug Mode: false\n Experimental: false\n Live Restore Enabled: false\n\n",
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("info lacks %q:\n%s", w, r.stdout)
		}
	}
	if r.stderr != "WARNING: no swap limit support\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	r = berth(t, f, "", "system", "info", "--format", "{{.Containers}} {{.ClientInfo.Context}}")
	if r.stdout != "3 default\n" {
		t.Errorf("info --format: %q", r.stdout)
	}
}

func TestHistory(t *testing.T) {
	now := time.Now()
	f := &fakeAPI{history: []image.HistoryResponseItem{
		{ID: "sha256:" + strings.Repeat("1", 64), Created: now.Add(-time.Hour).Unix(), CreatedBy: "/bin/sh -c #(nop) CMD [\"sh\"]\tand a very long tail of words", Size: 0, Comment: "buildkit"},
		{ID: "<missing>", Created: now.Add(-50 * time.Hour).Unix(), CreatedBy: "ADD file:abc in /", Size: 4400000},
	}}
	r := berth(t, f, "", "history", "busybox")
	want := "IMAGE          CREATED          CREATED BY                                      SIZE      COMMENT\n" +
		"111111111111   About an hour ago   /bin/sh -c #(nop) CMD [\"sh\"] and a very long…   0B        buildkit\n" +
		"<missing>      2 days ago       ADD file:abc in /                               4.4MB     \n"
	if collapse(r.stdout) != collapse(want) {
		t.Errorf("history\n%s\nwant\n%s", r.stdout, want)
	}
	r = berth(t, f, "", "image", "history", "--no-trunc", "-q", "busybox")
	if r.stdout != "sha256:"+strings.Repeat("1", 64)+"\n<missing>\n" {
		t.Errorf("history -q --no-trunc: %q", r.stdout)
	}
}

func TestSystemDf(t *testing.T) {
	f := &fakeAPI{du: system.DiskUsage{
		ImageUsage:     &image.DiskUsage{TotalCount: 5, ActiveCount: 2, TotalSize: 16430000, Reclaimable: 11630000},
		ContainerUsage: &container.DiskUsage{TotalCount: 2, TotalSize: 212, Reclaimable: 212},
	}}
	r := berth(t, f, "", "system", "df")
	want := "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n" +
		"Images          5         2         16.43MB   11.63MB (70%)\n" +
		"Containers      2         0         212B      212B (100%)\n" +
		"Local Volumes   0         0         0B        0B\n" +
		"Build Cache     0         0         0B        0B\n"
	if r.stdout != want {
		t.Errorf("df\n%s\nwant\n%s", r.stdout, want)
	}
	r = berth(t, f, "", "system", "df", "--format", "{{.Type}}={{.Size}}")
	if r.stdout != "Images=16.43MB\nContainers=212B\nLocal Volumes=0B\nBuild Cache=0B\n" {
		t.Errorf("df --format: %q", r.stdout)
	}
	r = berth(t, f, "", "system", "df", "-v")
	for _, w := range []string{"Images space usage:\n\nREPOSITORY", "\nContainers space usage:\n\nCONTAINER ID", "\nLocal Volumes space usage:\n\nVOLUME NAME", "\nBuild cache usage: 0B\n\nCACHE ID"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("df -v lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestEvents(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	f := &fakeAPI{events: []events.Message{{Type: "container", Action: "start", TimeNano: at.UnixNano(),
		Actor: events.Actor{ID: fullID, Attributes: map[string]string{"name": "web", "image": "busybox"}}}}}
	r := berth(t, f, "", "events", "--since", "1700000000", "-f", "type=container")
	want := at.Local().Format("2006-01-02T15:04:05.000000000Z07:00") + " container start " + fullID + " (image=busybox, name=web)\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("exit %d, %q, want %q (stderr %q)", r.code, r.stdout, want, r.stderr)
	}
	if o := f.evOpts[0]; o.Since != "1700000000" || !reflect.DeepEqual(o.Filters, engine.Filters{"type": {"container"}}) {
		t.Errorf("options %+v", o)
	}
	// The engine ends an --until stream with io.EOF: the events still
	// buffered are shown, and that is no failure.
	f.evEnd = io.EOF
	r = berth(t, f, "", "system", "events", "--until", "0s", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	if r.code != 0 || r.stdout != "start web\n" {
		t.Errorf("events --format: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	f.evEnd = engine.Invalid("invalid filter 'nope'")
	if r := berth(t, f, "", "events"); r.code != 1 || r.stderr != "Error response from daemon: invalid filter 'nope'\n" {
		t.Errorf("events error: exit %d, %q", r.code, r.stderr)
	}
}

func TestDisplayPorts(t *testing.T) {
	ip := netip.MustParseAddr("0.0.0.0")
	tests := []struct {
		ports []container.PortSummary
		want  string
	}{
		{nil, ""},
		{[]container.PortSummary{{PrivatePort: 80, Type: "tcp"}}, "80/tcp"},
		{[]container.PortSummary{{PrivatePort: 81, Type: "tcp"}, {PrivatePort: 80, Type: "tcp"}, {PrivatePort: 53, Type: "udp"}}, "53/udp, 80-81/tcp"},
		{[]container.PortSummary{{PrivatePort: 80, PublicPort: 80, IP: ip, Type: "tcp"}, {PrivatePort: 81, PublicPort: 81, IP: ip, Type: "tcp"}}, "0.0.0.0:80-81->80-81/tcp"},
		{[]container.PortSummary{{PrivatePort: 80, PublicPort: 8080, IP: ip, Type: "tcp"}}, "0.0.0.0:8080->80/tcp"},
	}
	for _, tt := range tests {
		if got := displayPorts(tt.ports); got != tt.want {
			t.Errorf("displayPorts(%v) = %q, want %q", tt.ports, got, tt.want)
		}
	}
	var out strings.Builder
	pm := network.PortMap{network.MustParsePort("80/tcp"): {{HostIP: ip, HostPort: "8080"}}}
	if err := printPorts(&out, "web", pm, nil); err != nil || out.String() != "80/tcp -> 0.0.0.0:8080\n" {
		t.Errorf("port: %q, %v", out.String(), err)
	}
	if err := printPorts(&out, "web", pm, []string{"443"}); err == nil || err.Error() != "Error: No public port '443' published for web" {
		t.Errorf("port 443: %v", err)
	}
}

func TestHumanFormats(t *testing.T) {
	durations := []struct {
		d    time.Duration
		want string
	}{
		{0, "Less than a second"}, {time.Second, "1 second"}, {42 * time.Second, "42 seconds"},
		{time.Minute, "About a minute"}, {59 * time.Minute, "59 minutes"}, {time.Hour, "About an hour"},
		{47 * time.Hour, "47 hours"}, {3 * 24 * time.Hour, "3 days"}, {15 * 24 * time.Hour, "2 weeks"},
		{90 * 24 * time.Hour, "3 months"}, {800 * 24 * time.Hour, "2 years"},
	}
	for _, tt := range durations {
		if got := engine.HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	sizes := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true}, {"512m", 512 << 20, true}, {"1g", 1 << 30, true}, {"1.5k", 1536, true},
		{"2GiB", 2 << 30, true}, {"10b", 10, true}, {"x", 0, false}, {"-1", 0, false},
	}
	for _, tt := range sizes {
		got, err := parseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v", tt.in, got, err)
		}
	}
	if got := ellipsis("abcdef", 4); got != "abc…" {
		t.Errorf("ellipsis: %q", got)
	}
	if got := truncateID("sha256:" + strings.Repeat("a", 64)); got != strings.Repeat("a", 12) {
		t.Errorf("truncateID: %q", got)
	}
	if got := binarySize(2097152000); got != "1.953GiB" {
		t.Errorf("binarySize: %q", got)
	}
}

func TestTimestampArg(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"10m", "1767322445.000000000", true},
		{"1700000000", "1700000000", true},
		{"1700000000.5", "1700000000.5", true},
		{"2026-01-02T03:00:00Z", "1767322800.000000000", true},
		{"2026-01-02T03:00:00+01:00", "1767319200.000000000", true},
		{"yesterday", "", false},
	}
	for _, tt := range tests {
		got, err := timestampArg(tt.in, now)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("timestampArg(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestPsImage: the IMAGE column as docker shows it: familiar names, the
// tag kept only when the user gave one, digests dropped, IDs shortened.
func TestPsImage(t *testing.T) {
	id := "sha256:" + strings.Repeat("c", 64)
	tests := []struct{ image, want string }{
		{"busybox", "busybox"},
		{"busybox:1.36", "busybox:1.36"},
		{"docker.io/library/busybox:latest", "busybox:latest"},
		{"localhost:5000/team/app", "localhost:5000/team/app"},
		{"busybox@sha256:" + strings.Repeat("d", 64), "busybox"},
		{"busybox:1@sha256:" + strings.Repeat("d", 64), "busybox:1"},
		{id, "cccccccccccc"},
		{"", "<no image>"},
	}
	for _, tt := range tests {
		r := &psRow{s: container.Summary{Image: tt.image, ImageID: id}, trunc: true}
		if got := r.Image(); got != tt.want {
			t.Errorf("Image(%q) = %q, want %q", tt.image, got, tt.want)
		}
	}
}
