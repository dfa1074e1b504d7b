package compose

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/dockerapi"
)

// TestOverDaemon runs Up and Down through docker's HTTP API (berth's
// handler on a socket, its client): the condition waits on events, the
// copy of a content config, a recreate's rename, --wait, down -v.
func TestOverDaemon(t *testing.T) {
	e := realEngine(t)
	ctx := context.Background()
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	must(t, err)
	srv := &http.Server{Handler: dockerapi.NewHandler(e)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	cl, err := dockerapi.NewClient("unix://" + sock)
	must(t, err)
	var progress syncBuffer
	c := New(cl, &progress)
	yaml := `services:
  db:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "sleep 0.3; touch /tmp/ok; sleep 600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 100ms
    volumes: [/anon]
  app:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "cat /etc/app.conf; sleep 600"]
    environment: {V: "%s"}
    configs:
      - source: conf
        target: /etc/app.conf
    depends_on:
      db:
        condition: service_healthy
configs:
  conf:
    content: hello
`
	p := loadYAML(t, "od", strings.Replace(yaml, "%s", "1", 1))
	must(t, c.Up(ctx, p, UpOptions{Wait: true, WaitTimeout: 30}))
	before := state(t, c, "od")
	p = loadYAML(t, "od", strings.Replace(yaml, "%s", "2", 1))
	must(t, c.Up(ctx, p, UpOptions{Wait: true, WaitTimeout: 30}))
	after := state(t, c, "od")
	if before["od-db-1"] != after["od-db-1"] || before["od-app-1"] == after["od-app-1"] || len(after) != 2 {
		t.Errorf("over the daemon, editing app: %v -> %v\n%s", before, after, progress.String())
	}
	must(t, c.Down(ctx, "od", p, DownOptions{Volumes: true}))
	if l := leftovers(t, e, "od"); len(l) != 0 {
		t.Errorf("down -v left %v", l)
	}
	if v, _ := e.VolumeList(ctx, nil); len(v.Volumes) != 0 {
		t.Errorf("down -v left %d volumes", len(v.Volumes))
	}
}
