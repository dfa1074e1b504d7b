package compose

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestApp3 drives the shared 3-service app through its life: up (db
// healthy before app starts, web reaching app and app reaching db by
// name), a second up that touches nothing, an edit that recreates only
// the edited service, --scale, orphans, down keeping the named volume's
// data and down -v removing it.
func TestApp3(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	var progress syncBuffer
	c := New(e, &progress)
	port := freePort(t)
	p := loadApp3(t, port, "app3")
	url := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/value", port)

	start := time.Now()
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	t.Logf("up -d: %v", time.Since(start))
	for _, line := range []string{" Network app3_default  Created", ` Volume "app3_data"  Created`, " Container app3-db-1  Healthy", " Container app3-web-1  Started"} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, progress.String())
		}
	}
	// app started only once db was healthy.
	out := progress.String()
	if i, j := strings.Index(out, "app3-db-1  Healthy"), strings.Index(out, "app3-app-1  Started"); i < 0 || j < i {
		t.Errorf("app started before db was healthy:\n%s", out)
	}
	value := strings.TrimSpace(fetch(t, url, 20*time.Second))
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(value) {
		t.Fatalf("web answered %q, want db's 16 hex digits", value)
	}
	// Labels docker compose's tools look for.
	list, err := c.Containers(ctx, "app3", OneoffExclude, true)
	must(t, err)
	if len(list) != 3 {
		t.Fatalf("%d containers, want 3", len(list))
	}
	for _, ct := range list {
		for _, k := range []string{LabelProject, LabelService, LabelNumber, LabelOneoff, LabelConfigHash, LabelVersion, LabelWorkingDir, LabelConfigFiles, LabelImage} {
			if ct.Labels[k] == "" {
				t.Errorf("%s: no label %s", containerName(ct), k)
			}
		}
	}

	// A second up with nothing changed touches nothing.
	before := state(t, c, "app3")
	progress = syncBuffer{}
	start = time.Now()
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	t.Logf("second up -d: %v", time.Since(start))
	if after := state(t, c, "app3"); !maps.Equal(before, after) {
		t.Errorf("a second up changed containers:\nbefore %v\nafter  %v", before, after)
	}
	if strings.Contains(progress.String(), "Created") || strings.Contains(progress.String(), "Recreate") {
		t.Errorf("second up created something:\n%s", progress.String())
	}

	// Editing app's environment recreates app, and only it.
	p2 := loadApp3(t, port, "app3")
	app := p2.Services["app"]
	v := "1"
	app.Environment = types.MappingWithEquals{"EDITED": &v}
	p2.Services["app"] = app
	progress = syncBuffer{}
	must(t, c.Up(ctx, p2, UpOptions{Detach: true}))
	after := state(t, c, "app3")
	for name := range before {
		changed := before[name] != after[name]
		if changed != (name == "app3-app-1") {
			t.Errorf("%s changed=%v after editing app (%s -> %s)\n%s", name, changed, before[name], after[name], progress.String())
		}
	}
	if !strings.Contains(progress.String(), " Container app3-app-1  Recreated") {
		t.Errorf("no Recreated line:\n%s", progress.String())
	}
	if got := strings.TrimSpace(fetch(t, url, 20*time.Second)); got != value {
		t.Errorf("after the recreate web answered %q, want %q", got, value)
	}

	// web publishes the port: its replacement, made while the old one
	// still runs, takes the port over.
	web := p2.Services["web"]
	web.Environment = types.MappingWithEquals{"EDITED": &v}
	p2.Services["web"] = web
	must(t, c.Up(ctx, p2, UpOptions{Detach: true}))
	if after2 := state(t, c, "app3"); after2["app3-web-1"] == after["app3-web-1"] || after2["app3-app-1"] != after["app3-app-1"] {
		t.Errorf("editing web: %v -> %v", after, after2)
	}
	if got := strings.TrimSpace(fetch(t, url, 20*time.Second)); got != value {
		t.Errorf("after recreating web it answered %q, want %q", got, value)
	}

	// --scale app=3: three replicas; back to 1 removes two.
	must(t, c.Up(ctx, p2, UpOptions{Detach: true, Scale: map[string]int{"app": 3}}))
	apps, err := c.Containers(ctx, "app3", OneoffExclude, false, "app")
	must(t, err)
	if len(apps) != 3 {
		t.Errorf("--scale app=3: %d app containers", len(apps))
	}
	must(t, c.Up(ctx, p2, UpOptions{Detach: true}))
	apps, err = c.Containers(ctx, "app3", OneoffExclude, true, "app")
	must(t, err)
	if len(apps) != 1 || apps[0].Labels[LabelNumber] != "1" {
		t.Errorf("scaling back: %d app containers", len(apps))
	}

	// Orphans: web gone from the model is reported, then removed.
	p3 := loadApp3(t, port, "app3")
	delete(p3.Services, "web")
	progress = syncBuffer{}
	must(t, c.Up(ctx, p3, UpOptions{Detach: true}))
	if !strings.Contains(progress.String(), "Found orphan containers ([app3-web-1]) for this project.") {
		t.Errorf("no orphan warning:\n%s", progress.String())
	}
	must(t, c.Up(ctx, p3, UpOptions{Detach: true, RemoveOrphans: true}))
	if l, _ := c.Containers(ctx, "app3", OneoffExclude, true, "web"); len(l) != 0 {
		t.Errorf("--remove-orphans left web")
	}

	// down keeps the named volume: its value survives a down/up.
	start = time.Now()
	must(t, c.Down(ctx, "app3", p, DownOptions{}))
	t.Logf("down: %v", time.Since(start))
	if l := leftovers(t, e, "app3"); len(l) != 1 || l[0] != "volume app3_data" {
		t.Errorf("after down: %v, want only the volume", l)
	}
	must(t, c.Up(ctx, p, UpOptions{Detach: true}))
	if got := strings.TrimSpace(fetch(t, url, 20*time.Second)); got != value {
		t.Errorf("after down/up web answered %q, want the kept %q", got, value)
	}
	progress = syncBuffer{}
	must(t, c.Down(ctx, "app3", nil, DownOptions{Volumes: true}))
	// Without the file the labels' depends_on still order the stops.
	out = progress.String()
	if i, j := strings.Index(out, "app3-web-1  Stopped"), strings.Index(out, "app3-app-1  Stopping"); i < 0 || j < i {
		t.Errorf("down without a model stopped app before web:\n%s", out)
	}
	if i, j := strings.Index(out, "app3-app-1  Stopped"), strings.Index(out, "app3-db-1  Stopping"); i < 0 || j < i {
		t.Errorf("down without a model stopped db before app:\n%s", out)
	}
	if l := leftovers(t, e, "app3"); len(l) != 0 {
		t.Errorf("after down -v: %v left", l)
	}
}
