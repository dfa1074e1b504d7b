package main

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/dockerapi"
	"github.com/berth-project/berth/engine"
)

func TestHostTarget(t *testing.T) {
	tests := []struct {
		name, flag, env, execRoot string
		host                      string
		explicit                  bool
	}{
		{"default", "", "", "", "unix:///run/berth/berth.sock", false},
		{"exec root", "", "", "/tmp/x", "unix:///tmp/x/berth.sock", false},
		{"env", "", "tcp://1.2.3.4:2376", "/tmp/x", "tcp://1.2.3.4:2376", true},
		{"flag wins", "unix:///a.sock", "tcp://1.2.3.4:2376", "", "unix:///a.sock", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("BERTH_HOST", tt.env)
			t.Setenv("BERTH_EXEC_ROOT", tt.execRoot)
			o := hostOptions{host: tt.flag}
			host, explicit := o.target()
			if host != tt.host || explicit != tt.explicit {
				t.Errorf("target %q %v, want %q %v", host, explicit, tt.host, tt.explicit)
			}
		})
	}
}

// TestConnect: nothing at the default socket runs the engine in-process;
// nothing at a named host is docker's "Cannot connect"; bad TLS material
// fails before any dial.
func TestConnect(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BERTH_EXEC_ROOT", filepath.Join(dir, "exec"))
	t.Setenv("BERTH_HOST", "")
	t.Setenv("BERTH_RUNTIME_ROOT", filepath.Join(dir, "state"))
	storeFlags.dataRoot, storeFlags.storageDriver = filepath.Join(dir, "data"), "copy"

	t.Run("in-process", func(t *testing.T) {
		o := hostOptions{}
		api, closeFn, err := o.connect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer closeFn()
		e, ok := api.(*engine.Engine)
		if !ok || e.Images == nil || e.Images.Root != storeFlags.dataRoot {
			t.Errorf("in-process engine %T on %v", api, e)
		}
		// The engine must be a working one: once the container core is
		// merged, only engine.Open makes it so (see openLocalEngine).
		if _, err := api.ContainerList(context.Background(), engine.ListOptions{All: true}); err != nil && !errors.Is(err, engine.ErrNotImplemented) {
			t.Errorf("the in-process engine cannot list containers: %v", err)
		}
	})
	t.Run("named host", func(t *testing.T) {
		o := hostOptions{host: "unix://" + filepath.Join(dir, "nobody.sock")}
		_, _, err := o.connect(context.Background())
		want := "Cannot connect to the berth daemon at unix://" + filepath.Join(dir, "nobody.sock") + ". Is the berth daemon running?"
		if err == nil || err.Error() != want {
			t.Errorf("%v, want %q", err, want)
		}
	})
	t.Run("bad tls", func(t *testing.T) {
		o := hostOptions{host: "tcp://127.0.0.1:1", tlsVerify: true, caCert: filepath.Join(dir, "none.pem")}
		if _, _, err := o.connect(context.Background()); err == nil || !strings.Contains(err.Error(), "read TLS CA certificate") {
			t.Errorf("%v", err)
		}
	})
	t.Run("tls without verify", func(t *testing.T) {
		o := hostOptions{tls: true, cert: filepath.Join(dir, "none.pem")}
		cfg, err := o.tlsConfig()
		if err != nil || cfg == nil || !cfg.InsecureSkipVerify || len(cfg.Certificates) != 0 {
			t.Errorf("%+v, %v", cfg, err)
		}
	})
	t.Run("a daemon answers", func(t *testing.T) {
		sock := filepath.Join(dir, "d.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		o := hostOptions{host: "unix://" + sock}
		// It answers, but not as a daemon: the error is the client's, no
		// fallback.
		go func() {
			conn, err := l.Accept()
			if err == nil {
				conn.Write([]byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nnope"))
				conn.Close()
			}
		}()
		_, _, err = o.connect(context.Background())
		if err == nil || errors.Is(err, dockerapi.ErrNoDaemon) {
			t.Errorf("%v", err)
		}
	})
}

// TestErrorOutput: the three ways a command fails, as docker prints them.
func TestErrorOutput(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"nosuch"}, 1, "berth: unknown command: berth nosuch\n\nRun 'berth --help' for more information\n"},
		{[]string{"image", "nosuch"}, 1, "berth: unknown command: berth image nosuch\n\nUsage:  berth image COMMAND\n\nRun 'berth image --help' for more information\n"},
		{[]string{"ps", "x"}, 1, "berth: 'berth ps' accepts no arguments\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information\n"},
		{[]string{"rename", "a"}, 1, "berth: 'berth rename' requires 2 arguments\n\nUsage:  berth rename CONTAINER NEW_NAME\n\nRun 'berth rename --help' for more information\n"},
		{[]string{"images", "a", "b"}, 1, "berth: 'berth images' requires at most 1 argument\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'berth images --help' for more information\n"},
		{[]string{"stop", "-t", "x", "a"}, 125, "invalid argument \"x\" for \"-t, --timeout\" flag: strconv.ParseInt: parsing \"x\": invalid syntax\n\nUsage:  berth stop [OPTIONS] CONTAINER [CONTAINER...]\n\nRun 'berth stop --help' for more information\n"},
		{[]string{"--nope", "ps"}, 125, "unknown flag: --nope\n\nUsage:  berth [OPTIONS] COMMAND\n\nRun 'berth --help' for more information\n"},
		{[]string{"kill", "nope"}, 1, "Error response from daemon: No such container: nope\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := &fakeAPI{errs: map[string]error{"ContainerKill nope": engine.NotFound("No such container: nope")}}
			r := berth(t, f, "", tt.args...)
			if r.code != tt.code || r.stderr != tt.stderr {
				t.Errorf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, tt.code, tt.stderr)
			}
		})
	}
}

// TestOverTheSocket: the same commands through dockerapi's client and
// handler (serving the fake) print what they print in-process: run's
// pull-and-retry and streams, ps, and the daemon's errors.
func TestOverTheSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "berth.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{
		createID:   fullID,
		createErrs: []error{engine.NotFound("No such image: busybox:latest"), nil},
		pullBody:   `{"status":"Digest: sha256:1"}` + "\n",
		attachOut:  framed(t, 1, "out\n", 2, "err\n"),
		waitStatus: 5,
		list:       psFixture(time.Now()),
		// The handler looks the container up (a TTY's stream is not framed).
		inspect: map[string]container.InspectResponse{fullID: {ID: fullID, Config: &container.Config{}}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- dockerapi.Serve(ctx, l, dockerapi.NewHandler(f)) }()
	defer func() {
		cancel()
		<-served
	}()
	t.Setenv("BERTH_HOST", "unix://"+sock)
	viaSocket := func(args ...string) runResult {
		c := &client{}
		c.connect = c.hostOpts.connect
		root := newRootCommand(c)
		var out, errb strings.Builder
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&errb)
		root.SetIn(strings.NewReader(""))
		code := runCLI(root, c, &errb)
		return runResult{out.String(), errb.String(), code}
	}

	r := viaSocket("run", "busybox")
	if r.code != 5 || r.stdout != "out\n" || r.stderr != "Unable to find image 'busybox:latest' locally\nDigest: sha256:1\nerr\n" {
		t.Errorf("run: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = viaSocket("ps", "--format", "{{.ID}} {{.Names}}")
	if r.code != 0 || r.stdout != "0123456789ab web\nffffffffffff db\n" {
		t.Errorf("ps: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	f.errs = map[string]error{"ContainerKill nope": engine.NotFound("No such container: nope")}
	r = viaSocket("kill", "nope")
	if r.code != 1 || r.stderr != "Error response from daemon: No such container: nope\n" {
		t.Errorf("kill: exit %d, stderr %q", r.code, r.stderr)
	}
}
