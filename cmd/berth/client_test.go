package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

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

func TestParseHost(t *testing.T) {
	tests := []struct {
		in            string
		tls           bool
		network, addr string
		err           string
	}{
		{"unix:///run/berth/berth.sock", false, "unix", "/run/berth/berth.sock", ""},
		{"tcp://10.0.0.1:2375", false, "tcp", "10.0.0.1:2375", ""},
		{"tcp://10.0.0.1", false, "tcp", "10.0.0.1:2375", ""},
		{"tcp://10.0.0.1", true, "tcp", "10.0.0.1:2376", ""},
		{"10.0.0.1:3000", false, "tcp", "10.0.0.1:3000", ""},
		{"unix://", false, "", "", "no socket path"},
		{"ssh://me@host", false, "", "", "unsupported protocol ssh"},
	}
	for _, tt := range tests {
		network, addr, err := parseHost(tt.in, tt.tls)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseHost(%q): %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || network != tt.network || addr != tt.addr {
			t.Errorf("parseHost(%q) = %s %s %v", tt.in, network, addr, err)
		}
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
		if _, _, err := o.connect(context.Background()); err == nil || !strings.Contains(err.Error(), "a daemon answers at") {
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
