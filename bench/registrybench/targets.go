package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target is one server under test.
type target struct {
	name string
	// registry: it speaks the distribution API (push, tags, HEAD), not
	// only GET of files.
	registry bool
	// available says why the target cannot run here, or "".
	available func() string
	// prefill, when set, puts the image and the big blob into the
	// target's storage before it starts (the file server has no push).
	prefill func(root string, b *bench) error
	// start runs the server with its storage under dir/root.
	start func(dir string) (*server, error)
}

// pusher is a push client that pushes from a store of its own: prepare
// fills that store once (not timed), push pushes the image to host.
type pusher struct {
	prepare func(b *bench) error
	push    func(b *bench, host string) error
}

// server is a running target.
type server struct {
	name   string
	host   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func always() string { return "" }

func fileServerTarget() *target {
	return &target{
		name:      "fileserver",
		available: always,
		prefill: func(root string, b *bench) error {
			dir := filepath.Join(root, "v2", repo)
			blobs := filepath.Join(dir, "blobs")
			if err := os.MkdirAll(blobs, 0o755); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(dir, "manifests"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "manifests", "latest"), b.img.manifest, 0o644); err != nil {
				return err
			}
			for _, d := range b.img.blobs() {
				if err := copyFile(filepath.Join(b.layout, "blobs", "sha256", d.Digest.Encoded()), filepath.Join(blobs, d.Digest.String())); err != nil {
					return err
				}
			}
			return copyFile(b.blob, filepath.Join(blobs, b.img.bigBlob.String()))
		},
		start: func(dir string) (*server, error) {
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			return startServer("fileserver", dir, func(host string) []string {
				return []string{self, "-fileserver", filepath.Join(dir, "root"), "-addr", host}
			})
		},
	}
}

func dockerRegistryTarget() *target {
	return &target{
		name:     "docker-registry",
		registry: true,
		available: func() string {
			if _, err := exec.LookPath("docker-registry"); err != nil {
				return "docker-registry is not installed (Debian's docker-registry)"
			}
			return ""
		},
		start: func(dir string) (*server, error) {
			return startServer("docker-registry", dir, func(host string) []string {
				cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "root"), host)
				cfgPath := filepath.Join(dir, "registry.yml")
				os.WriteFile(cfgPath, []byte(cfg), 0o644)
				return []string{"docker-registry", "serve", cfgPath}
			})
		},
	}
}

func berthTarget(berth string) *target {
	return &target{
		name:     "berth",
		registry: true,
		available: func() string {
			out, err := exec.Command(berth, "registry", "serve", "--help").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--root") {
				return berth + " has no `registry serve` yet"
			}
			return ""
		},
		start: func(dir string) (*server, error) {
			return startServer("berth", dir, func(host string) []string {
				return []string{berth, "registry", "serve", "--addr", host, "--root", filepath.Join(dir, "root")}
			})
		},
	}
}

// berthPusher is `berth push`, from a berth store the layout is loaded
// into; nil when berth has no push command.
func berthPusher(berth string) *pusher {
	if out, err := exec.Command(berth, "push", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "push") {
		return nil
	}
	name := "registrybench/big:latest"
	return &pusher{
		prepare: func(b *bench) error {
			return runCmd(berth, "--data-root", filepath.Join(b.work, "berth-client"), "load", "-q", "-i", b.layout)
		},
		push: func(b *bench, host string) error {
			root := filepath.Join(b.work, "berth-client")
			dst := host + "/" + repo + ":latest"
			if err := runCmd(berth, "--data-root", root, "tag", name, dst); err != nil {
				return err
			}
			defer runCmd(berth, "--data-root", root, "rmi", dst)
			return runCmd(berth, "--data-root", root, "--insecure-registry", host, "push", "-q", dst)
		},
	}
}

// startServer runs argv(host) on a free loopback port, its output to
// dir/NAME.log, and waits until it answers GET /v2/.
func startServer(name, dir string, argv func(host string) []string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host := l.Addr().String()
	l.Close()
	a := argv(host)
	s := &server{name: name, host: host, log: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(a[0], a[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := children.start(s.cmd); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); children.done(s.cmd); close(s.exited) }()
	c := &http.Client{Timeout: time.Second}
	for range 200 {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited: %v\n%s", strings.Join(a, " "), s.cmd.ProcessState, s.logTail())
		case <-time.After(25 * time.Millisecond):
		}
		if resp, err := c.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("%s did not answer on %s in 5s\n%s", name, host, s.logTail())
}

// stop ends the server (SIGTERM, then SIGKILL after 10s) and returns the
// CPU time it used. A server that had already exited is reported.
func (s *server) stop() time.Duration {
	select {
	case <-s.exited:
		if !children.interrupted() {
			fmt.Fprintf(os.Stderr, "%s exited by itself during the run: %v\n%s\n", s.name, s.cmd.ProcessState, s.logTail())
		}
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			fmt.Fprintf(os.Stderr, "%s did not stop on SIGTERM in 10s: killed\n", s.name)
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	return s.cmd.ProcessState.UserTime() + s.cmd.ProcessState.SystemTime()
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// vmHWM is the peak resident set size of process pid in kB, from
// /proc/PID/status; 0 when it cannot be read.
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
