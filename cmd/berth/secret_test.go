package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/berth-project/berth/engine"
)

func TestParseFileRef(t *testing.T) {
	tests := []struct {
		in   string
		want engine.FileRef
		err  string
	}{
		{"pw", engine.FileRef{Name: "pw"}, ""},
		{"source=pw", engine.FileRef{Name: "pw"}, ""},
		{"src=pw,target=/etc/pw,uid=1000,gid=10,mode=0440", engine.FileRef{Name: "pw", Target: "/etc/pw", UID: "1000", GID: "10", Mode: 0o440}, ""},
		{"source=pw,target=rel,mode=0o600", engine.FileRef{Name: "pw", Target: "rel", Mode: 0o600}, ""},
		{"target=/x", engine.FileRef{}, "source is required"},
		{"source=pw,bogus=1", engine.FileRef{}, "invalid field key bogus"},
		{"source=pw,target", engine.FileRef{}, "must be a key=value pair"},
		{"pw,target", engine.FileRef{}, "must be a key=value pair"},
		{"source=pw,uid=root", engine.FileRef{}, "invalid uid"},
		{"source=pw,mode=rw", engine.FileRef{}, "invalid mode specified"},
		{"source=pw,mode=04755", engine.FileRef{}, "invalid mode"},
		{"", engine.FileRef{}, "empty"},
	}
	for _, tt := range tests {
		got, err := parseFileRef(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %+v %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}

// TestRunSecretFlags: --secret and --config reach the create request.
func TestRunSecretFlags(t *testing.T) {
	f := &fakeAPI{createID: fullID}
	r := berth(t, f, "", "create", "--secret", "pw", "--secret", "source=key,target=/etc/key,mode=0400",
		"--config", "src=app.conf,target=/etc/app.conf", "busybox")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := f.createReqs[0]
	sameJSON(t, "secrets", got.Secrets, []engine.FileRef{{Name: "pw"}, {Name: "key", Target: "/etc/key", Mode: 0o400}})
	sameJSON(t, "configs", got.Configs, []engine.FileRef{{Name: "app.conf", Target: "/etc/app.conf"}})

	r = berth(t, &fakeAPI{createID: fullID}, "", "create", "--secret", "source=pw,nope=1", "busybox")
	if r.code == 0 || !strings.Contains(r.stderr, `invalid argument "source=pw,nope=1" for "--secret" flag`) {
		t.Errorf("bad --secret: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestSecretCommands(t *testing.T) {
	f := &fakeAPI{}
	const value = "the-secret-value"
	r := berth(t, f, value, "secret", "create", "--label", "env=prod", "db_pass", "-")
	if r.code != 0 || strings.TrimSpace(r.stdout) != strings.Repeat("0", 24)+"1" {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := string(f.files().secretData["db_pass"]); got != value {
		t.Errorf("create sent %q", got)
	}
	file := filepath.Join(t.TempDir(), "key")
	os.WriteFile(file, []byte("from a file"), 0o600)
	if r := berth(t, f, "", "secret", "create", "api_key", file); r.code != 0 {
		t.Fatalf("create from a file: %s", r.stderr)
	}
	if r := berth(t, f, "", "secret", "create", "x", filepath.Join(t.TempDir(), "none")); r.code == 0 || !strings.Contains(r.stderr, "error reading content from") {
		t.Errorf("create from a missing file: %d %q", r.code, r.stderr)
	}
	if r := berth(t, f, value, "secret", "create", "db_pass", "-"); r.code == 0 || !strings.Contains(r.stderr, "secret db_pass already exists") {
		t.Errorf("duplicate: %d %q", r.code, r.stderr)
	}

	r = berth(t, f, "", "secret", "ls")
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID NAME DRIVER CREATED UPDATED" ||
		!strings.Contains(lines[1], "api_key") || !strings.Contains(lines[2], "db_pass") || !strings.Contains(lines[2], " ago") {
		t.Errorf("ls:\n%s", r.stdout)
	}
	r = berth(t, f, "", "secret", "ls", "-q", "-f", "name=db")
	if r.stdout != strings.Repeat("0", 24)+"2\n"+strings.Repeat("0", 24)+"1\n" {
		t.Errorf("ls -q: %q", r.stdout)
	}
	sameJSON(t, "filters", f.files().filters[len(f.files().filters)-1], engine.Filters{"name": {"db"}})
	r = berth(t, f, "", "secret", "ls", "--format", "{{.Name}}={{.Label \"env\"}}")
	if r.stdout != "api_key=\ndb_pass=prod\n" {
		t.Errorf("ls --format: %q", r.stdout)
	}

	r = berth(t, f, "", "secret", "inspect", "db_pass")
	var got []swarm.Secret
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].Spec.Name != "db_pass" || got[0].Spec.Labels["env"] != "prod" {
		t.Errorf("inspect: %v %s", err, r.stdout)
	}
	r = berth(t, f, "", "secret", "inspect", "--pretty", "db_pass")
	if !strings.Contains(r.stdout, "Name:            db_pass\nLabels:\n - env=prod\nDriver:") || strings.Contains(r.stdout, value) {
		t.Errorf("inspect --pretty:\n%s", r.stdout)
	}
	r = berth(t, f, "", "secret", "inspect", "-f", "{{.Spec.Name}}", "db_pass", "nope")
	if r.code != 1 || r.stdout != "db_pass\n" || !strings.Contains(r.stderr, "secret nope not found") {
		t.Errorf("inspect with a missing one: %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, r := range []runResult{berth(t, f, "", "secret", "ls"), berth(t, f, "", "secret", "inspect", "db_pass")} {
		if strings.Contains(r.stdout, value) {
			t.Errorf("the value shown: %s", r.stdout)
		}
	}

	r = berth(t, f, "", "secret", "rm", "db_pass", "nope")
	if r.code != 1 || r.stdout != "db_pass\n" || !strings.Contains(r.stderr, "secret nope not found") {
		t.Errorf("rm: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestConfigCommands(t *testing.T) {
	f := &fakeAPI{}
	if r := berth(t, f, "listen 80\n", "config", "create", "app.conf", "-"); r.code != 0 {
		t.Fatalf("create: %s", r.stderr)
	}
	r := berth(t, f, "", "config", "ls")
	if lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n"); len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID NAME CREATED UPDATED" {
		t.Errorf("ls:\n%s", r.stdout)
	}
	r = berth(t, f, "", "config", "inspect", "app.conf")
	if !strings.Contains(r.stdout, `"Data": "bGlzdGVuIDgwCg=="`) {
		t.Errorf("inspect (data in base64):\n%s", r.stdout)
	}
	r = berth(t, f, "", "config", "inspect", "--pretty", "app.conf")
	if !strings.Contains(r.stdout, "Name:            app.conf\n") || !strings.HasSuffix(r.stdout, "Data:\nlisten 80\n\n") {
		t.Errorf("inspect --pretty:\n%q", r.stdout)
	}
	if r := berth(t, f, "", "config", "rm", "app.conf"); r.code != 0 || r.stdout != "app.conf\n" {
		t.Errorf("rm: %d %q %q", r.code, r.stdout, r.stderr)
	}
}
