package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
)

func volumesFixture() map[string]volume.Volume {
	return map[string]volume.Volume{
		"data":  {Name: "data", Driver: "local", Scope: "local", Mountpoint: "/var/lib/berth/volumes/data/_data", CreatedAt: "2026-11-28T15:00:00Z", Labels: map[string]string{"tier": "db", "app": "shop"}},
		"vol10": {Name: "vol10", Driver: "local", Scope: "local", Mountpoint: "/var/lib/berth/volumes/vol10/_data", Options: map[string]string{"type": "tmpfs"}},
		"vol2":  {Name: "vol2", Driver: "local", Scope: "local", Mountpoint: "/var/lib/berth/volumes/vol2/_data"},
	}
}

func TestVolumeCreate(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stdout string
		want   volume.CreateRequest
	}{
		{"named", []string{"volume", "create", "data"}, "data\n",
			volume.CreateRequest{Name: "data", Driver: "local", DriverOpts: map[string]string{}, Labels: map[string]string{}}},
		{"unnamed", []string{"volume", "create"}, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
			volume.CreateRequest{Driver: "local", DriverOpts: map[string]string{}, Labels: map[string]string{}}},
		{"options", []string{"volume", "create", "-d", "local", "-o", "type=tmpfs", "--opt", "device=tmpfs", "-o", "o=size=64m,uid=1000",
			"--label", "a=b", "--label", "bare", "tmp"}, "tmp\n",
			volume.CreateRequest{Name: "tmp", Driver: "local", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=64m,uid=1000"},
				Labels: map[string]string{"a": "b", "bare": ""}}},
		{"name flag", []string{"volume", "create", "--name", "old"}, "old\n",
			volume.CreateRequest{Name: "old", Driver: "local", DriverOpts: map[string]string{}, Labels: map[string]string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{}
			r := berth(t, f, "", tt.args...)
			if r.code != 0 || r.stdout != tt.stdout {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if len(f.volCreates) != 1 {
				t.Fatalf("creates %+v", f.volCreates)
			}
			sameJSON(t, "request", f.volCreates[0], tt.want)
		})
	}
	bad := []struct {
		name   string
		args   []string
		errs   map[string]error
		stderr string
	}{
		{"two names", []string{"volume", "create", "a1", "b1"}, nil, "berth: 'berth volume create' requires at most 1 argument"},
		{"name conflict", []string{"volume", "create", "--name", "a1", "b1"}, nil, "conflicting options: either specify --name or provide positional arg, not both"},
		{"bad label", []string{"volume", "create", "--label", "=x", "a1"}, nil, "invalid label '=x': empty name"},
		{"engine refuses", []string{"volume", "create", "-d", "nfs", "x1"},
			map[string]error{"VolumeCreate x1": engine.Invalid(`create x1: error looking up volume plugin nfs: plugin "nfs" not found`)},
			`Error response from daemon: create x1: error looking up volume plugin nfs: plugin "nfs" not found`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{errs: tt.errs}
			r := berth(t, f, "", tt.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tt.stderr) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want it to say %q", r.code, r.stdout, r.stderr, tt.stderr)
			}
		})
	}
}

func TestVolumeLs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"table", []string{"volume", "ls"}, "DRIVER    VOLUME NAME\nlocal     data\nlocal     vol2\nlocal     vol10\n"},
		{"alias", []string{"volume", "list", "-q"}, "data\nvol2\nvol10\n"},
		{"table template", []string{"volume", "ls", "--format", `table {{.Name}}\t{{.Scope}}\t{{.Labels}}\t{{.Links}}\t{{.Size}}`},
			"VOLUME NAME   SCOPE     LABELS             LINKS     SIZE\n" +
				"data          local     app=shop,tier=db   N/A       N/A\n" +
				"vol2          local                        N/A       N/A\n" +
				"vol10         local                        N/A       N/A\n"},
		{"plain template", []string{"volume", "ls", "--format", `{{.Name}}:{{.Label "tier"}}:{{.Mountpoint}}`},
			"data:db:/var/lib/berth/volumes/data/_data\nvol2::/var/lib/berth/volumes/vol2/_data\nvol10::/var/lib/berth/volumes/vol10/_data\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{}
			f.volumes = volumesFixture()
			r := berth(t, f, "", tt.args...)
			if r.code != 0 || r.stdout != tt.want {
				t.Errorf("exit %d, stderr %q, stdout\n%q\nwant\n%q", r.code, r.stderr, r.stdout, tt.want)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		f := &fakeAPI{}
		f.volumes = map[string]volume.Volume{"data": volumesFixture()["data"]}
		r := berth(t, f, "", "volume", "ls", "--format", "json")
		want := `{"Availability":"N/A","CreatedAt":"2026-11-28T15:00:00Z","Driver":"local","Group":"N/A","Labels":"app=shop,tier=db","Links":"N/A","Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Scope":"local","Size":"N/A","Status":"N/A"}` + "\n"
		if r.stdout != want {
			t.Errorf("json\n%s\nwant\n%s", r.stdout, want)
		}
	})
	t.Run("filters and warnings", func(t *testing.T) {
		f := &fakeAPI{}
		f.volWarnings = []string{"careful"}
		r := berth(t, f, "", "volume", "ls", "-f", "dangling=true", "--filter", "label=a=b", "-f", "name=x")
		if r.code != 0 || r.stdout != "DRIVER    VOLUME NAME\n" || r.stderr != "careful\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		sameJSON(t, "filters", f.volListFilters[0], engine.Filters{"dangling": {"true"}, "label": {"a=b"}, "name": {"x"}})
		if r := berth(t, f, "", "volume", "ls", "-f", "nonsense"); r.code != 1 || !strings.Contains(r.stderr, "bad format of filter (expected name=value)") {
			t.Errorf("bad filter: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestVolumeInspect(t *testing.T) {
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"format", []string{"volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Mountpoint}} {{.Labels.tier}}", "data"}, 0, "data local /var/lib/berth/volumes/data/_data db\n", ""},
		{"options", []string{"volume", "inspect", "--format", "{{.Options.type}}", "vol10"}, 0, "tmpfs\n", ""},
		{"one missing", []string{"volume", "inspect", "-f", "{{.Name}}", "data", "nope"}, 1, "data\n", "Error response from daemon: get nope: no such volume\n"},
		{"missing", []string{"volume", "inspect", "nope"}, 1, "[]\n", "Error response from daemon: get nope: no such volume\n"},
		{"generic", []string{"inspect", "-f", "{{.Mountpoint}}", "vol2"}, 0, "/var/lib/berth/volumes/vol2/_data\n", ""},
		{"generic type", []string{"inspect", "--type", "volume", "-f", "{{.Name}}", "vol2"}, 0, "vol2\n", ""},
		{"generic missing", []string{"inspect", "nope"}, 1, "[]\n", "Error: No such object: nope\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{}
			f.volumes = volumesFixture()
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	f := &fakeAPI{}
	f.volumes = volumesFixture()
	r := berth(t, f, "", "volume", "inspect", "data")
	var got []volume.Volume
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].Name != "data" {
		t.Fatalf("inspect JSON %q: %v", r.stdout, err)
	}
	if !strings.HasPrefix(r.stdout, "[\n    {\n        \"CreatedAt\": \"2026-11-28T15:00:00Z\",") {
		t.Errorf("not docker's indentation:\n%s", r.stdout)
	}
}

func TestVolumeRm(t *testing.T) {
	inUse := engine.Conflict("remove data: volume is in use - [abc]")
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
		removed        []string
	}{
		{"two", []string{"volume", "rm", "vol2", "vol10"}, 0, "vol2\nvol10\n", "", []string{"vol2", "vol10"}},
		{"alias", []string{"volume", "remove", "vol2"}, 0, "vol2\n", "", []string{"vol2"}},
		{"one missing", []string{"volume", "rm", "vol2", "nope", "vol10"}, 1, "vol2\nvol10\n", "Error response from daemon: get nope: no such volume\n", []string{"vol2", "vol10"}},
		{"in use", []string{"volume", "rm", "data"}, 1, "", "Error response from daemon: remove data: volume is in use - [abc]\n", nil},
		{"force hides missing", []string{"volume", "rm", "-f", "nope", "vol2"}, 0, "nope\nvol2\n", "", []string{"vol2"}},
		{"force keeps in use", []string{"volume", "rm", "--force", "data"}, 1, "", "Error response from daemon: remove data: volume is in use - [abc]\n", nil},
		{"none", []string{"volume", "rm"}, 1, "", "berth: 'berth volume rm' requires at least 1 argument", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{errs: map[string]error{"VolumeRemove data": inUse}}
			f.volumes = volumesFixture()
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || !strings.HasPrefix(r.stderr, tt.stderr) || (tt.stderr == "" && r.stderr != "") {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
			if strings.Join(f.volRemoved, ",") != strings.Join(tt.removed, ",") {
				t.Errorf("removed %q, want %q", f.volRemoved, tt.removed)
			}
		})
	}
}

func TestVolumePrune(t *testing.T) {
	const prompt = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
	const promptAll = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
	report := volume.PruneReport{VolumesDeleted: []string{"old", "older"}, SpaceReclaimed: 2048}
	const done = "Deleted Volumes:\nold\nolder\n\nTotal reclaimed space: 2.048kB\n"
	tests := []struct {
		name, stdin string
		args        []string
		stdout      string
		filters     engine.Filters // nil: not pruned
	}{
		{"declined", "n\n", []string{"volume", "prune"}, prompt, nil},
		{"no answer", "", []string{"volume", "prune"}, prompt, nil},
		{"accepted", "y\n", []string{"volume", "prune"}, prompt + done, engine.Filters{}},
		{"all", "yes\n", []string{"volume", "prune", "-a"}, promptAll + done, engine.Filters{"all": {"true"}}},
		{"all filter", "y\n", []string{"volume", "prune", "--filter", "all=1"}, promptAll + done, engine.Filters{"all": {"1"}}},
		{"forced", "", []string{"volume", "prune", "-f", "--all", "--filter", "label=tmp", "--filter", "label!=keep"}, done,
			engine.Filters{"all": {"true"}, "label": {"tmp"}, "label!": {"keep"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{}
			f.volPrune = report
			r := berth(t, f, tt.stdin, tt.args...)
			if r.code != 0 || r.stdout != tt.stdout {
				t.Errorf("exit %d, stderr %q, stdout\n%q\nwant\n%q", r.code, r.stderr, r.stdout, tt.stdout)
			}
			if tt.filters == nil {
				if len(f.volPruneFilters) != 0 {
					t.Errorf("pruned: %v", f.volPruneFilters)
				}
				return
			}
			if len(f.volPruneFilters) != 1 {
				t.Fatalf("pruned %d times", len(f.volPruneFilters))
			}
			got := f.volPruneFilters[0]
			if got == nil {
				got = engine.Filters{}
			}
			sameJSON(t, "filters", got, tt.filters)
		})
	}
	f := &fakeAPI{}
	if r := berth(t, f, "", "volume", "prune", "-f"); r.code != 0 || r.stdout != "Total reclaimed space: 0B\n" {
		t.Errorf("nothing pruned: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := berth(t, f, "", "volume", "prune", "-f", "-a", "--filter", "all=0"); r.code != 1 ||
		!strings.Contains(r.stderr, "conflicting options: cannot specify both --all and --filter all=1") {
		t.Errorf("-a with all filter: exit %d, stderr %q", r.code, r.stderr)
	}
	// system prune --volumes prunes the anonymous ones too.
	f = &fakeAPI{}
	f.volPrune = report
	r := berth(t, f, "", "system", "prune", "-f", "--volumes", "--filter", "until=1h", "--filter", "label=x")
	if r.code != 0 || !strings.Contains(r.stdout, "Deleted Volumes:\nold\nolder\n\n") {
		t.Errorf("system prune --volumes: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if len(f.volPruneFilters) != 1 {
		t.Fatalf("system prune pruned volumes %d times", len(f.volPruneFilters))
	}
	sameJSON(t, "system prune volume filters", f.volPruneFilters[0], engine.Filters{"label": {"x"}})
}
