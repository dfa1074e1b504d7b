package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestVolumeCommands drives the volume commands end to end: berth's own
// (in-process engine, then through a daemon) and the real docker CLI
// against the daemon, all on one data root.
func TestVolumeCommands(t *testing.T) {
	c := newCLI(t)

	// In-process.
	if out := c.ok("volume", "create", "--label", "team=core", "data"); out != "data\n" {
		t.Fatalf("create says %q", out)
	}
	anon := strings.TrimSpace(c.ok("volume", "create"))
	if len(anon) != 64 {
		t.Fatalf("unnamed create says %q", anon)
	}
	mp := strings.TrimSpace(c.ok("volume", "inspect", "-f", "{{.Mountpoint}} {{.Labels.team}} {{.Scope}}", "data"))
	if want := filepath.Join(c.root, "volumes", "data", "_data") + " core local"; mp != want {
		t.Fatalf("inspect %q, want %q", mp, want)
	}
	if err := os.WriteFile(filepath.Join(c.root, "volumes", "data", "_data", "f"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("volume", "ls", "-q", "-f", "label=team=core"); out != "data\n" {
		t.Fatalf("ls -f label says %q", out)
	}
	c.fails(`create a/b: "a/b" includes invalid characters for a local volume name`, "volume", "create", "a/b")
	c.fails(`create x1: error looking up volume plugin nfs: plugin "nfs" not found`, "volume", "create", "-d", "nfs", "x1")
	c.fails(`create x1: invalid option: "bogus"`, "volume", "create", "-o", "bogus=1", "x1")
	c.fails(`Error response from daemon: get nope: no such volume`, "volume", "inspect", "nope")

	// Through a daemon on the same root: the volumes are there.
	d := startDaemon(t, c)
	// ls sorts by name; the anonymous volume's random hex may sort either side of "data".
	byName := func(names ...string) []string { slices.Sort(names); return names }
	if out := c.ok("volume", "ls"); out != "DRIVER    VOLUME NAME\nlocal     "+strings.Join(byName(anon, "data"), "\nlocal     ")+"\n" {
		t.Fatalf("ls through the daemon:\n%s", out)
	}
	if out := d.dockerOK("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", "tmp"); out != "tmp\n" {
		t.Fatalf("docker volume create says %q", out)
	}
	if out := d.dockerOK("volume", "inspect", "-f", "{{.Driver}} {{.Options.type}} {{.Options.o}}", "tmp"); out != "local tmpfs size=1m\n" {
		t.Fatalf("docker volume inspect says %q", out)
	}
	if out := d.dockerOK("volume", "ls", "-q"); out != strings.Join(byName(anon, "data", "tmp"), "\n")+"\n" {
		t.Fatalf("docker volume ls -q says %q", out)
	}
	if r := d.docker(nil, "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=lots", "bad"); r.code == 0 ||
		!strings.Contains(r.stderr, `Error response from daemon: create bad: invalid tmpfs option "size=lots"`) {
		t.Fatalf("bad tmpfs option: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := d.dockerOK("system", "df", "-v"); !strings.Contains(out, "data") || !strings.Contains(out, "Local Volumes space usage") {
		t.Fatalf("system df -v:\n%s", out)
	}
	// docker volume prune removes only anonymous volumes (made without a
	// name); -a the rest.
	if out := d.dockerOK("volume", "prune", "-f"); out != "Deleted Volumes:\n"+anon+"\n\nTotal reclaimed space: 0B\n" {
		t.Fatalf("prune says %q", out)
	}
	if r := d.docker(nil, "volume", "rm", "nope", "tmp"); r.code != 1 || r.stdout != "tmp\n" || !strings.Contains(r.stderr, "get nope: no such volume") {
		t.Fatalf("docker volume rm nope tmp: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if out := d.dockerOK("volume", "rm", "-f", "nope"); out != "nope\n" {
		t.Fatalf("rm -f of a missing volume says %q", out)
	}
	d.stop()

	// In-process again: the daemon's changes are on disk.
	var env []string
	for _, e := range c.env {
		if !strings.HasPrefix(e, "BERTH_HOST=") {
			env = append(env, e)
		}
	}
	c.env = env
	if out := c.ok("volume", "ls", "-q"); out != "data\n" {
		t.Fatalf("ls after the daemon: %q", out)
	}
	if out := c.ok("volume", "prune", "-f", "-a"); out != "Deleted Volumes:\ndata\n\nTotal reclaimed space: 4B\n" {
		t.Fatalf("prune -a says %q", out)
	}
	ents, err := os.ReadDir(filepath.Join(c.root, "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != ".lock" {
			t.Errorf("left in the volumes root: %s", e.Name())
		}
	}
}
