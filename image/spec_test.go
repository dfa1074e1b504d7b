package image

import (
	"errors"
	"reflect"
	"runtime"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/oci"
)

func TestProcessArgs(t *testing.T) {
	ep := []string{"/entry", "--flag"}
	cmd := []string{"serve", "-v"}
	tests := []struct {
		name            string
		imageEP, imgCmd []string
		o               SpecOptions
		want            []string
	}{
		{name: "image cmd", imgCmd: cmd, want: []string{"serve", "-v"}},
		{name: "image entrypoint", imageEP: ep, want: []string{"/entry", "--flag"}},
		{name: "image entrypoint and cmd", imageEP: ep, imgCmd: cmd, want: []string{"/entry", "--flag", "serve", "-v"}},
		{name: "user cmd replaces image cmd", imageEP: ep, imgCmd: cmd,
			o: SpecOptions{Cmd: []string{"sh"}}, want: []string{"/entry", "--flag", "sh"}},
		{name: "user cmd without entrypoint", imgCmd: cmd,
			o: SpecOptions{Cmd: []string{"ls", "-l"}}, want: []string{"ls", "-l"}},
		{name: "empty user cmd drops image cmd", imageEP: ep, imgCmd: cmd,
			o: SpecOptions{Cmd: []string{}}, want: []string{"/entry", "--flag"}},
		{name: "user entrypoint drops image cmd", imageEP: ep, imgCmd: cmd,
			o: SpecOptions{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true}, want: []string{"/bin/sh"}},
		{name: "user entrypoint and cmd", imageEP: ep, imgCmd: cmd,
			o: SpecOptions{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true, Cmd: []string{"-c", "id"}}, want: []string{"/bin/sh", "-c", "id"}},
		{name: "user entrypoint on image without one", imgCmd: cmd,
			o: SpecOptions{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true}, want: []string{"/bin/sh"}},
		{name: "cleared entrypoint with cmd", imageEP: ep, imgCmd: cmd,
			o: SpecOptions{Entrypoint: []string{""}, EntrypointSet: true, Cmd: []string{"id"}}, want: []string{"id"}},
		{name: "nil entrypoint set with cmd", imageEP: ep,
			o: SpecOptions{EntrypointSet: true, Cmd: []string{"id"}}, want: []string{"id"}},
		{name: "entrypoint not set is ignored", imageEP: ep,
			o: SpecOptions{Entrypoint: []string{"/other"}}, want: []string{"/entry", "--flag"}},
		{name: "nothing"},
		{name: "cleared entrypoint drops image cmd", imageEP: ep, imgCmd: cmd,
			o: SpecOptions{Entrypoint: []string{""}, EntrypointSet: true}},
		{name: "empty user cmd and no entrypoint", imgCmd: cmd, o: SpecOptions{Cmd: []string{}}},
		{name: "empty program", imgCmd: []string{"", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ocispec.ImageConfig{Entrypoint: tt.imageEP, Cmd: tt.imgCmd}
			got, err := ProcessArgs(cfg, tt.o)
			if tt.want == nil {
				if !errors.Is(err, ErrNoCommand) || err.Error() != "no command specified" {
					t.Fatalf("ProcessArgs = %q, %v; want no command specified", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// The image config is not written through.
	cfg := ocispec.ImageConfig{Entrypoint: []string{"/e"}, Cmd: []string{"c"}}
	args, _ := ProcessArgs(cfg, SpecOptions{})
	args[0] = "changed"
	if cfg.Entrypoint[0] != "/e" {
		t.Errorf("ProcessArgs aliases the image's entrypoint")
	}
}

func TestMergeEnv(t *testing.T) {
	tests := []struct {
		name             string
		base, a, b, want []string
	}{
		{"append", []string{"PATH=/bin"}, []string{"A=1"}, []string{"B=2"}, []string{"PATH=/bin", "A=1", "B=2"}},
		{"image overrides default in place", []string{"PATH=/bin", "X=0"}, []string{"PATH=/opt/bin"}, nil, []string{"PATH=/opt/bin", "X=0"}},
		{"user overrides image", nil, []string{"A=1", "B=2"}, []string{"A=9"}, []string{"A=9", "B=2"}},
		{"empty value is a value", nil, []string{"A=1"}, []string{"A="}, []string{"A="}},
		{"value with =", nil, nil, []string{"A=b=c"}, []string{"A=b=c"}},
		{"bare key removes", []string{"PATH=/bin"}, []string{"A=1", "B=2"}, []string{"A"}, []string{"PATH=/bin", "B=2"}},
		{"bare unknown key is a no-op", nil, []string{"A=1"}, []string{"Z"}, []string{"A=1"}},
		{"keys are case-sensitive", nil, []string{"a=1"}, []string{"A=2"}, []string{"a=1", "A=2"}},
		{"later entries win", nil, []string{"A=1", "A=2"}, nil, []string{"A=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := append([]string(nil), tt.base...)
			got := mergeEnv(mergeEnv(base, tt.a), tt.b)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !reflect.DeepEqual(base, tt.base) && len(tt.base) > 0 {
				t.Errorf("mergeEnv changed its input: %q", base)
			}
		})
	}
}

func TestSpec(t *testing.T) {
	rootfs := writeRootfs(t, testPasswd, testGroup)
	img := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config: ocispec.ImageConfig{
			User:       "app",
			Env:        []string{"PATH=/app/bin:/usr/bin", "LANG=C.UTF-8", "MODE=prod"},
			Entrypoint: []string{"/app/bin/server"},
			Cmd:        []string{"--port", "80"},
			WorkingDir: "/srv",
			StopSignal: "SIGQUIT",
			Labels:     map[string]string{"maintainer": "someone"},
		},
	}
	s, err := Spec(img, rootfs, SpecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	def := oci.DefaultSpec()
	if s.Root.Path != rootfs || s.Root.Readonly {
		t.Errorf("root %+v, want %s read-write", s.Root, rootfs)
	}
	if s.Process.Terminal {
		t.Errorf("terminal without Tty")
	}
	if want := []string{"/app/bin/server", "--port", "80"}; !reflect.DeepEqual(s.Process.Args, want) {
		t.Errorf("args %q, want %q", s.Process.Args, want)
	}
	if s.Process.Cwd != "/srv" {
		t.Errorf("cwd %q", s.Process.Cwd)
	}
	if want := (specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 50}}); !reflect.DeepEqual(s.Process.User, want) {
		t.Errorf("user %+v, want %+v", s.Process.User, want)
	}
	wantEnv := []string{"PATH=/app/bin:/usr/bin", "HOSTNAME=" + def.Hostname, "LANG=C.UTF-8", "MODE=prod", "HOME=/home/app"}
	if !reflect.DeepEqual(s.Process.Env, wantEnv) {
		t.Errorf("env %q, want %q", s.Process.Env, wantEnv)
	}
	if want := map[string]string{AnnotationStopSignal: "SIGQUIT"}; !reflect.DeepEqual(s.Annotations, want) {
		t.Errorf("annotations %v, want only the stop signal", s.Annotations)
	}
	// The rest is the default spec's.
	if !reflect.DeepEqual(s.Linux, def.Linux) || !reflect.DeepEqual(s.Mounts, def.Mounts) ||
		!reflect.DeepEqual(s.Process.Capabilities, def.Process.Capabilities) || s.Hostname != def.Hostname ||
		s.Version != def.Version || !s.Process.NoNewPrivileges {
		t.Errorf("Spec changed what it should have left to oci.DefaultSpec")
	}

	// Everything a user can give.
	s, err = Spec(img, rootfs, SpecOptions{
		Cmd:        []string{"--port", "8080"},
		Env:        []string{"MODE=dev", "LANG", "HOME=/tmp", "EXTRA=1"},
		WorkingDir: "/tmp/../var/./lib/",
		User:       "1000:29",
		Hostname:   "web",
		Tty:        true,
		ReadOnly:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Root.Readonly || !s.Process.Terminal || s.Hostname != "web" || s.Process.Cwd != "/var/lib" {
		t.Errorf("options not applied: root %+v terminal %v hostname %q cwd %q", s.Root, s.Process.Terminal, s.Hostname, s.Process.Cwd)
	}
	if want := []string{"/app/bin/server", "--port", "8080"}; !reflect.DeepEqual(s.Process.Args, want) {
		t.Errorf("args %q, want %q", s.Process.Args, want)
	}
	if want := (specs.User{UID: 1000, GID: 29}); !reflect.DeepEqual(s.Process.User, want) {
		t.Errorf("user %+v, want %+v", s.Process.User, want)
	}
	wantEnv = []string{"PATH=/app/bin:/usr/bin", "HOSTNAME=web", "TERM=xterm", "MODE=dev", "HOME=/tmp", "EXTRA=1"}
	if !reflect.DeepEqual(s.Process.Env, wantEnv) {
		t.Errorf("env %q, want %q", s.Process.Env, wantEnv)
	}
}

func TestSpecDefaults(t *testing.T) {
	// A scratch image: no passwd, no env, no workdir, no user.
	rootfs := t.TempDir()
	s, err := Spec(ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"/hello"}}}, rootfs, SpecOptions{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATH=" + DefaultPath, "HOSTNAME=h", "HOME=/"}; !reflect.DeepEqual(s.Process.Env, want) {
		t.Errorf("env %q, want %q", s.Process.Env, want)
	}
	if s.Process.Cwd != "/" || s.Process.User.UID != 0 || s.Process.User.GID != 0 || len(s.Annotations) != 0 {
		t.Errorf("defaults: cwd %q user %+v annotations %v", s.Process.Cwd, s.Process.User, s.Annotations)
	}
	// A relative WORKDIR in an image (not from a Dockerfile) is taken from /.
	s, err = Spec(ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"/hello"}, WorkingDir: "app/../data"}}, rootfs, SpecOptions{})
	if err != nil || s.Process.Cwd != "/data" {
		t.Errorf("relative image workdir: cwd %q, %v", s.Process.Cwd, err)
	}
	// An invalid stop signal is left out, as Docker ignores it.
	s, err = Spec(ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"/hello"}, StopSignal: "SIGNOPE"}}, rootfs, SpecOptions{})
	if err != nil || len(s.Annotations) != 0 {
		t.Errorf("invalid stop signal: annotations %v, %v", s.Annotations, err)
	}
}

func TestSpecErrors(t *testing.T) {
	rootfs := writeRootfs(t, testPasswd, testGroup)
	ok := ocispec.ImageConfig{Cmd: []string{"/hello"}}
	tests := []struct {
		name string
		img  ocispec.Image
		o    SpecOptions
		err  string
	}{
		{"no command", ocispec.Image{}, SpecOptions{}, "no command specified"},
		{"windows image", ocispec.Image{Platform: ocispec.Platform{OS: "windows"}, Config: ok}, SpecOptions{},
			`image operating system "windows" cannot be used on this platform`},
		{"relative workdir", ocispec.Image{Config: ok}, SpecOptions{WorkingDir: "tmp"},
			"the working directory 'tmp' is invalid, it needs to be an absolute path"},
		{"unknown image user", ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"/hello"}, User: "ghost"}}, SpecOptions{},
			"unable to find user ghost: no matching entries in passwd file"},
		{"unknown user option", ocispec.Image{Config: ok}, SpecOptions{User: "app:ghosts"},
			"unable to find group ghosts: no matching entries in group file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Spec(tt.img, rootfs, tt.o)
			if err == nil || err.Error() != tt.err {
				t.Fatalf("Spec = %v, %v; want error %q", s, err, tt.err)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
	}{
		{"SIGTERM", unix.SIGTERM},
		{"TERM", unix.SIGTERM},
		{"term", unix.SIGTERM},
		{"sigterm", unix.SIGTERM},
		{"15", syscall.Signal(15)},
		{"9", syscall.Signal(9)},
		{"SIGKILL", unix.SIGKILL},
		{"SIGQUIT", unix.SIGQUIT},
		{"SIGUSR1", unix.SIGUSR1},
		{"WINCH", unix.SIGWINCH},
		{"SIGIOT", unix.SIGABRT},
		{"SIGCLD", unix.SIGCHLD},
		{"SIGPOLL", unix.SIGIO},
		{"SIGRTMIN", 34},
		{"SIGRTMIN+3", 37},
		{"RTMIN+0", 34},
		{"sigrtmin+30", 64},
		{"SIGRTMAX", 64},
		{"SIGRTMAX-2", 62},
		{"RTMAX-30", 34},
		{"64", 64},
	}
	if runtime.GOARCH == "mips" || runtime.GOARCH == "mipsle" || runtime.GOARCH == "mips64" || runtime.GOARCH == "mips64le" {
		t.Skip("realtime bounds differ on mips")
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "0", "-1", "65", "+15", " 15", "SIG", "SIGFOO", "SIGTERM ", "SIG TERM", "SIGSIGTERM",
		"RTMIN+", "RTMIN-1", "RTMIN++3", "RTMIN+-3", "RTMIN+31", "RTMIN+x", "RTMAX+1", "RTMAX-", "RTMAX-31", "RTMAX--1", "RTMINX"} {
		if sig, err := ParseSignal(in); !errors.Is(err, ErrInvalidSignal) {
			t.Errorf("ParseSignal(%q) = %d, %v; want ErrInvalidSignal", in, sig, err)
		} else if err.Error() != "invalid signal: "+in {
			t.Errorf("ParseSignal(%q): message %q", in, err)
		}
	}
}

func TestStopSignalAndConfigInfo(t *testing.T) {
	if sig, err := StopSignal(ocispec.Image{}); err != nil || sig != unix.SIGTERM {
		t.Errorf("default stop signal %v, %v", sig, err)
	}
	if sig, err := StopSignal(ocispec.Image{Config: ocispec.ImageConfig{StopSignal: "SIGRTMIN+3"}}); err != nil || sig != 37 {
		t.Errorf("SIGRTMIN+3: %v, %v", sig, err)
	}
	if _, err := StopSignal(ocispec.Image{Config: ocispec.ImageConfig{StopSignal: "SIGNOPE"}}); !errors.Is(err, ErrInvalidSignal) {
		t.Errorf("SIGNOPE: %v", err)
	}

	cfg := ocispec.Image{Config: ocispec.ImageConfig{
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/UDP": {}, "443": {}, "8080/tcp": {}},
		Volumes:      map[string]struct{}{"/var/lib/data": {}, "/cache": {}},
		Labels:       map[string]string{"a": "1"},
		StopSignal:   "SIGINT",
	}}
	info := ConfigInfoOf(cfg)
	want := ConfigInfo{
		ExposedPorts: []string{"443/tcp", "53/udp", "80/tcp", "8080/tcp"},
		Volumes:      []string{"/cache", "/var/lib/data"},
		Labels:       map[string]string{"a": "1"},
		StopSignal:   unix.SIGINT,
	}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("ConfigInfoOf = %+v, want %+v", info, want)
	}
	info.Labels["a"] = "changed"
	if cfg.Config.Labels["a"] != "1" {
		t.Errorf("ConfigInfoOf shares the image's labels")
	}
	if info := ConfigInfoOf(ocispec.Image{Config: ocispec.ImageConfig{StopSignal: "bogus"}}); info.StopSignal != unix.SIGTERM ||
		info.ExposedPorts != nil || info.Volumes != nil || info.Labels != nil {
		t.Errorf("ConfigInfoOf(empty, bogus signal) = %+v", info)
	}
}
