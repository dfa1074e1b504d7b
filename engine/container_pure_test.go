package engine

import (
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"web", "web", true},
		{"/web", "web", true},
		{"a1", "a1", true},
		{"my_app.v2-x", "my_app.v2-x", true},
		{"0abc", "0abc", true},
		{"a", "", false}, // docker wants two characters at least
		{"_web", "", false},
		{".web", "", false},
		{"-web", "", false},
		{"we b", "", false},
		{"web/1", "", false},
		{"//web", "", false},
		{"wéb", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := checkName(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("checkName(%q) = %q, %v", tc.in, got, err)
			}
			if err != nil {
				want := "Invalid container name (" + tc.in + "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
				if err.Error() != want || KindOf(err) != KindInvalid {
					t.Errorf("error %q (kind %v), want %q", err, KindOf(err), want)
				}
			}
		})
	}
}

func TestGenerateName(t *testing.T) {
	shape := regexp.MustCompile(`^[a-z]+_[a-z]+$`)
	retry := regexp.MustCompile(`^[a-z]+_[a-z]+[0-9]$`)
	for i := 0; i < 200; i++ {
		if n := generateName(0); !shape.MatchString(n) || !validName(n) {
			t.Fatalf("generateName(0) = %q", n)
		}
		if n := generateName(1); !retry.MatchString(n) || !validName(n) {
			t.Fatalf("generateName(1) = %q", n)
		}
	}
}

func TestNameConflictMessage(t *testing.T) {
	err := nameConflict("web", "abc")
	want := `Conflict. The container name "/web" is already in use by container "abc". You have to remove (or rename) that container to be able to reuse that name.`
	if err.Error() != want || KindOf(err) != KindConflict {
		t.Errorf("got %q (kind %v)", err, KindOf(err))
	}
}

func TestStatusString(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name string
		s    ctrState
		want string
	}{
		{"created", ctrState{Status: container.StateCreated}, "Created"},
		{"created, failed start", ctrState{Status: container.StateCreated, ExitCode: 127}, "Created"},
		{"up", ctrState{Status: container.StateRunning, StartedAt: ago(5 * time.Second)}, "Up 5 seconds"},
		{"up just now", ctrState{Status: container.StateRunning, StartedAt: ago(100 * time.Millisecond)}, "Up Less than a second"},
		{"up a minute", ctrState{Status: container.StateRunning, StartedAt: ago(90 * time.Second)}, "Up About a minute"},
		{"paused", ctrState{Status: container.StatePaused, StartedAt: ago(2 * time.Second)}, "Up 2 seconds (Paused)"},
		{"exited", ctrState{Status: container.StateExited, StartedAt: ago(time.Hour), FinishedAt: ago(3 * time.Second)}, "Exited (0) 3 seconds ago"},
		{"exited 137", ctrState{Status: container.StateExited, ExitCode: 137, StartedAt: ago(time.Hour), FinishedAt: ago(3 * time.Hour)}, "Exited (137) 3 hours ago"},
		{"restarting", ctrState{Status: container.StateRestarting, ExitCode: 1, StartedAt: ago(time.Hour), FinishedAt: ago(2 * time.Second)}, "Restarting (1) 2 seconds ago"},
		{"removing", ctrState{Status: container.StateRemoving}, "Removal In Progress"},
		{"dead", ctrState{Status: container.StateDead}, "Dead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusString(tc.s, now); got != tc.want {
				t.Errorf("statusString = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "Less than a second"},
		{time.Second, "1 second"},
		{59 * time.Second, "59 seconds"},
		{60 * time.Second, "About a minute"},
		{2 * time.Minute, "2 minutes"},
		{59 * time.Minute, "59 minutes"},
		{time.Hour, "About an hour"},
		{47 * time.Hour, "47 hours"},
		{3 * 24 * time.Hour, "3 days"},
		{3 * 7 * 24 * time.Hour, "3 weeks"},
		{90 * 24 * time.Hour, "3 months"},
		{3 * 365 * 24 * time.Hour, "3 years"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := HumanDuration(tc.d); got != tc.want {
				t.Errorf("HumanDuration(%v) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		path string
		args []string
		want string
	}{
		{"sh", nil, "sh"},
		{"sh", []string{"-c", "echo hi"}, "sh -c 'echo hi'"},
		{"/bin/top", []string{"-b"}, "/bin/top -b"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := command(tc.path, tc.args); got != tc.want {
				t.Errorf("command = %q, want %q", got, tc.want)
			}
		})
	}
}

// filterRecords are the containers the filter tests list.
func filterRecords() []*ctrRecord {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id, name string, i int, st ctrState, labels map[string]string) *ctrRecord {
		return &ctrRecord{
			ID: id, Name: name, Created: t0.Add(time.Duration(i) * time.Minute), ImageID: "sha256:img" + name[:1],
			Config:     &container.Config{Labels: labels, ExposedPorts: network.PortSet{network.MustParsePort("80/tcp"): {}}},
			HostConfig: &container.HostConfig{NetworkMode: "bridge", Binds: []string{"/data:/srv"}},
			Mounts:     []ctrMount{{MountPoint: container.MountPoint{Type: "bind", Source: "/data", Destination: "/srv", RW: true}}},
			State:      st,
		}
	}
	started := t0.Add(time.Hour)
	return []*ctrRecord{
		mk("aaa111", "web", 0, ctrState{Status: container.StateRunning, StartedAt: started}, map[string]string{"app": "shop", "tier": "front"}),
		mk("aab222", "db", 1, ctrState{Status: container.StateExited, ExitCode: 0, StartedAt: started, FinishedAt: started}, map[string]string{"app": "shop"}),
		mk("bbb333", "job", 2, ctrState{Status: container.StateExited, ExitCode: 3, StartedAt: started, FinishedAt: started}, nil),
		mk("ccc444", "new", 3, ctrState{Status: container.StateCreated}, nil),
		mk("ddd555", "webtoo", 4, ctrState{Status: container.StatePaused, StartedAt: started}, nil),
	}
}

func TestListFilter(t *testing.T) {
	e := &Engine{Images: newImages(t)}
	recs := filterRecords()
	for _, tc := range []struct {
		name    string
		f       Filters
		want    []string
		all     bool
		errKind Kind
		errMsg  string
	}{
		{name: "none", f: nil, want: []string{"web", "db", "job", "new", "webtoo"}},
		{name: "id prefix", f: Filters{"id": {"aa"}}, want: []string{"web", "db"}},
		{name: "id full", f: Filters{"id": {"bbb333"}}, want: []string{"job"}},
		{name: "name substring", f: Filters{"name": {"web"}}, want: []string{"web", "webtoo"}},
		{name: "name anchored", f: Filters{"name": {"^/web$"}}, want: []string{"web"}},
		{name: "names or", f: Filters{"name": {"db", "job"}}, want: []string{"db", "job"}},
		{name: "label key", f: Filters{"label": {"app"}}, want: []string{"web", "db"}},
		{name: "label key=value and key", f: Filters{"label": {"app=shop", "tier"}}, want: []string{"web"}},
		{name: "label no match", f: Filters{"label": {"app=other"}}, want: nil},
		{name: "status", f: Filters{"status": {"exited"}}, want: []string{"db", "job"}, all: true},
		{name: "status or", f: Filters{"status": {"created", "paused"}}, want: []string{"new", "webtoo"}, all: true},
		{name: "exited code", f: Filters{"exited": {"3"}}, want: []string{"job"}},
		{name: "exited 0 skips created", f: Filters{"exited": {"0"}}, want: []string{"db"}},
		{name: "before", f: Filters{"before": {"job"}}, want: []string{"web", "db"}},
		{name: "since", f: Filters{"since": {"db"}}, want: []string{"job", "new", "webtoo"}},
		{name: "since and before", f: Filters{"since": {"web"}, "before": {"ccc444"}}, want: []string{"db", "job"}},
		{name: "ancestor unknown", f: Filters{"ancestor": {"nosuch"}}, want: nil},
		{name: "volume", f: Filters{"volume": {"/srv"}}, want: []string{"web", "db", "job", "new", "webtoo"}},
		{name: "volume by source", f: Filters{"volume": {"/data"}}, want: []string{"web", "db", "job", "new", "webtoo"}},
		{name: "volume not used", f: Filters{"volume": {"/elsewhere"}}, want: []string{}},
		{name: "network", f: Filters{"network": {"host"}}, want: nil},
		{name: "health none", f: Filters{"health": {"none"}}, want: []string{"web", "db", "job", "new", "webtoo"}},
		{name: "health healthy", f: Filters{"health": {"healthy"}}, want: nil},
		{name: "is-task", f: Filters{"is-task": {"true"}}, want: nil},
		{name: "expose", f: Filters{"expose": {"80"}}, want: []string{"web", "db", "job", "new", "webtoo"}},
		{name: "publish", f: Filters{"publish": {"80"}}, want: nil},
		{name: "unknown filter", f: Filters{"colour": {"red"}}, errKind: KindInvalid, errMsg: "invalid filter 'colour'"},
		{name: "bad status", f: Filters{"status": {"sleeping"}}, errKind: KindInvalid, errMsg: "invalid filter 'status=sleeping'"},
		{name: "bad exited", f: Filters{"exited": {"x"}}, errKind: KindInvalid, errMsg: "invalid filter 'exited=x'"},
		{name: "bad health", f: Filters{"health": {"ok"}}, errKind: KindInvalid, errMsg: "Unrecognised filter value for health: ok"},
		{name: "before unknown", f: Filters{"before": {"nosuch"}}, errKind: KindNotFound, errMsg: "No such container: nosuch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := e.listFilter(t.Context(), tc.f, recs)
			if tc.errMsg != "" {
				if err == nil || err.Error() != tc.errMsg || KindOf(err) != tc.errKind {
					t.Fatalf("error %v (kind %v), want %q", err, KindOf(err), tc.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				if f.match(r) {
					got = append(got, r.Name)
				}
			}
			if !slices.Equal(got, tc.want) || f.all != tc.all {
				t.Errorf("matched %v (all %v), want %v (all %v)", got, f.all, tc.want, tc.all)
			}
		})
	}
}

func TestParseFilterTime(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"10m", now.Add(-10 * time.Minute), true},
		{"1700000000", time.Unix(1700000000, 0), true},
		{"1700000000.5", time.Unix(1700000000, 500000000), true},
		{"2024-05-01T10:00:00Z", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), true},
		{"2024-05-01", time.Date(2024, 5, 1, 0, 0, 0, 0, time.Local), true},
		{"yesterday", time.Time{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseFilterTime(tc.in, now)
			if tc.ok != (err == nil) || !got.Equal(tc.want) {
				t.Errorf("parseFilterTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestMergeConfig(t *testing.T) {
	img := ocispec.ImageConfig{
		User: "daemon", Env: []string{"PATH=/bin", "A=image", "B=image"}, Entrypoint: []string{"/entry"},
		Cmd: []string{"serve"}, WorkingDir: "/srv", Labels: map[string]string{"l": "image", "m": "image"},
		StopSignal: "SIGQUIT", ExposedPorts: map[string]struct{}{"80/tcp": {}}, Volumes: map[string]struct{}{"/data": {}},
	}
	for _, tc := range []struct {
		name           string
		user           container.Config
		wantEntrypoint []string
		wantCmd        []string
		check          func(t *testing.T, c container.Config)
	}{
		{name: "all from the image", wantEntrypoint: []string{"/entry"}, wantCmd: []string{"serve"},
			check: func(t *testing.T, c container.Config) {
				if c.User != "daemon" || c.WorkingDir != "/srv" || c.StopSignal != "SIGQUIT" || len(c.ExposedPorts) != 1 || len(c.Volumes) != 1 {
					t.Errorf("merged %+v", c)
				}
			}},
		{name: "user cmd keeps the entrypoint", user: container.Config{Cmd: []string{"other"}},
			wantEntrypoint: []string{"/entry"}, wantCmd: []string{"other"}},
		{name: "user entrypoint drops the image cmd", user: container.Config{Entrypoint: []string{"/bin/sh"}},
			wantEntrypoint: []string{"/bin/sh"}, wantCmd: nil},
		{name: "empty entrypoint clears it", user: container.Config{Entrypoint: []string{""}, Cmd: []string{"ls"}},
			wantEntrypoint: []string{}, wantCmd: []string{"ls"}},
		{name: "env by key", user: container.Config{Env: []string{"A=user", "C=user"}},
			wantEntrypoint: []string{"/entry"}, wantCmd: []string{"serve"},
			check: func(t *testing.T, c container.Config) {
				want := []string{"A=user", "C=user", "PATH=/bin", "B=image"}
				if !slices.Equal(c.Env, want) {
					t.Errorf("env %v, want %v", c.Env, want)
				}
			}},
		{name: "labels: the user's win", user: container.Config{Labels: map[string]string{"l": "user"}},
			wantEntrypoint: []string{"/entry"}, wantCmd: []string{"serve"},
			check: func(t *testing.T, c container.Config) {
				if c.Labels["l"] != "user" || c.Labels["m"] != "image" {
					t.Errorf("labels %v", c.Labels)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.user
			mergeConfig(&c, img)
			if !slices.Equal(c.Entrypoint, tc.wantEntrypoint) || !slices.Equal(c.Cmd, tc.wantCmd) {
				t.Errorf("entrypoint %q cmd %q, want %q %q", c.Entrypoint, c.Cmd, tc.wantEntrypoint, tc.wantCmd)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hc       container.HostConfig
		has, not []string
		err      string
	}{
		{name: "defaults", has: []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"}, not: []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}},
		{name: "add", hc: container.HostConfig{CapAdd: []string{"net_admin"}}, has: []string{"CAP_NET_ADMIN", "CAP_CHOWN"}},
		{name: "drop", hc: container.HostConfig{CapDrop: []string{"CAP_CHOWN"}}, not: []string{"CAP_CHOWN"}, has: []string{"CAP_KILL"}},
		{name: "drop all add one", hc: container.HostConfig{CapDrop: []string{"ALL"}, CapAdd: []string{"kill"}}, has: []string{"CAP_KILL"}, not: []string{"CAP_CHOWN"}},
		{name: "privileged", hc: container.HostConfig{Privileged: true}, has: []string{"CAP_SYS_ADMIN"}},
		{name: "unknown", hc: container.HostConfig{CapAdd: []string{"bogus"}}, err: `unknown capability: "CAP_BOGUS"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caps, err := capabilities(&tc.hc)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.has {
				if !slices.Contains(caps, c) {
					t.Errorf("%s missing from %v", c, caps)
				}
			}
			for _, c := range tc.not {
				if slices.Contains(caps, c) {
					t.Errorf("%s in %v", c, caps)
				}
			}
		})
	}
}

func TestResources(t *testing.T) {
	t.Run("convert", func(t *testing.T) {
		pids := int64(50)
		r := linuxResources(container.Resources{Memory: 64 << 20, NanoCPUs: 1500000000, PidsLimit: &pids, CPUShares: 512, CpusetCpus: "0"})
		if *r.Memory.Limit != 64<<20 || *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 || *r.Pids.Limit != 50 ||
			*r.CPU.Shares != 512 || r.CPU.Cpus != "0" {
			t.Errorf("converted %+v %+v %+v", r.Memory, r.CPU, r.Pids)
		}
		if empty := linuxResources(container.Resources{}); empty.Memory != nil || empty.CPU != nil || empty.Pids != nil {
			t.Errorf("empty resources converted to %+v", empty)
		}
	})
	for _, tc := range []struct {
		name string
		r    container.Resources
		err  string
	}{
		{"small memory", container.Resources{Memory: 1 << 20}, "Minimum memory limit allowed is 6MB"},
		{"nano and quota", container.Resources{NanoCPUs: 1e9, CPUQuota: 1000}, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{"swap below memory", container.Resources{Memory: 64 << 20, MemorySwap: 32 << 20}, "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{"fine", container.Resources{Memory: 64 << 20}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkResources(tc.r, resourceHost{})
			if (tc.err == "") != (err == nil) || err != nil && (err.Error() != tc.err || KindOf(err) != KindInvalid) {
				t.Errorf("checkResources = %v, want %q", err, tc.err)
			}
		})
	}
	t.Run("merge", func(t *testing.T) {
		dst := container.Resources{Memory: 64 << 20, CPUShares: 100}
		mergeResources(&dst, container.Resources{CPUShares: 200})
		if dst.Memory != 64<<20 || dst.CPUShares != 200 {
			t.Errorf("merged %+v", dst)
		}
	})
}

func TestParseDetachKeys(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
		ok   bool
	}{
		{"ctrl-p,ctrl-q", []byte{16, 17}, true},
		{"ctrl-a", []byte{1}, true},
		{"a,b", []byte{'a', 'b'}, true},
		{"ctrl-@,ctrl-[", []byte{0, 27}, true},
		{"ctrl-", nil, false},
		{"ctrl-1", nil, false},
		{"abc", nil, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseDetachKeys(tc.in)
			if tc.ok != (err == nil) || !slices.Equal(got, tc.want) {
				t.Errorf("parseDetachKeys(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

// recordStream is a Stream that records what is written to it.
type recordStream struct {
	strings.Builder
	closed, closedWrite bool
}

func (s *recordStream) Read(p []byte) (int, error) { return 0, io.EOF }
func (s *recordStream) Close() error               { s.closed = true; return nil }
func (s *recordStream) CloseWrite() error          { s.closedWrite = true; return nil }

func TestDetachable(t *testing.T) {
	keys := []byte{16, 17}
	for _, tc := range []struct {
		name     string
		writes   []string
		want     string
		detached bool
	}{
		{"plain", []string{"hello"}, "hello", false},
		{"keys", []string{"ab\x10\x11cd"}, "ab", true},
		{"keys across writes", []string{"ab\x10", "\x11"}, "ab", true},
		{"half sequence passes on", []string{"a\x10b"}, "a\x10b", false},
		{"repeated first key", []string{"\x10\x10\x11"}, "\x10", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &recordStream{}
			d := &detachable{Stream: s, keys: keys}
			var err error
			for _, w := range tc.writes {
				if _, err = d.Write([]byte(w)); err != nil {
					break
				}
			}
			if tc.detached != errors.Is(err, errDetached) || tc.detached != s.closed {
				t.Errorf("detached: err %v, closed %v", err, s.closed)
			}
			if got := s.String(); got != tc.want {
				t.Errorf("passed on %q, want %q", got, tc.want)
			}
		})
	}
}
