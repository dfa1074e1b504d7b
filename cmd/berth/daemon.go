package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/build"
	"github.com/berth-project/berth/dockerapi"
	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/registry"
	"github.com/berth-project/berth/runtime"
)

// The daemon's defaults: docker's layout, under berth's names.
const (
	defaultConfigFile = "/etc/berth/daemon.json"
	defaultGroup      = "berth"
)

// daemonConfig is the daemon's configuration: daemon.json's keys (docker's
// names, so a docker daemon.json mostly reads as is) and the flags.
type daemonConfig struct {
	DataRoot           string            `json:"data-root,omitempty"`
	ExecRoot           string            `json:"exec-root,omitempty"`
	RuntimeRoot        string            `json:"runtime-root,omitempty"`
	Hosts              []string          `json:"hosts,omitempty"`
	Group              string            `json:"group,omitempty"`
	TLS                bool              `json:"tls,omitempty"`
	TLSVerify          bool              `json:"tlsverify,omitempty"`
	TLSCACert          string            `json:"tlscacert,omitempty"`
	TLSCert            string            `json:"tlscert,omitempty"`
	TLSKey             string            `json:"tlskey,omitempty"`
	StorageDriver      string            `json:"storage-driver,omitempty"`
	InsecureRegistries []string          `json:"insecure-registries,omitempty"`
	CertsDir           string            `json:"certs-dir,omitempty"`
	LogDriver          string            `json:"log-driver,omitempty"`
	LogOpts            map[string]string `json:"log-opts,omitempty"`
	Debug              bool              `json:"debug,omitempty"`
	PidFile            string            `json:"pidfile,omitempty"`
	UsernsRemap        string            `json:"userns-remap,omitempty"`
}

// flagKeys maps each daemon flag to its daemon.json key.
var flagKeys = map[string]string{
	"data-root": "data-root", "exec-root": "exec-root", "runtime-root": "runtime-root", "host": "hosts",
	"group": "group", "tls": "tls", "tlsverify": "tlsverify", "tlscacert": "tlscacert", "tlscert": "tlscert",
	"tlskey": "tlskey", "storage-driver": "storage-driver", "insecure-registry": "insecure-registries",
	"certs-dir": "certs-dir", "log-driver": "log-driver", "log-opt": "log-opts", "debug": "debug", "pidfile": "pidfile",
	"userns-remap": "userns-remap",
}

// loadDaemonConfig reads path into c. Unknown keys are refused by name, and
// so is a key also given as a flag (docker refuses the same).
func loadDaemonConfig(path string, c *daemonConfig, changed func(flag string) bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read daemon configuration %s: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("daemon configuration %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, k := range flagKeys {
		known[k] = true
	}
	var unknown, both []string
	for k := range raw {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	for f, k := range flagKeys {
		if _, ok := raw[k]; ok && changed(f) {
			both = append(both, fmt.Sprintf("%s: (from flag: --%s, from file: %s)", k, f, raw[k]))
		}
	}
	sort.Strings(unknown)
	sort.Strings(both)
	if len(unknown) > 0 {
		return fmt.Errorf("daemon configuration %s: unknown keys: %s", path, strings.Join(unknown, ", "))
	}
	if len(both) > 0 {
		return fmt.Errorf("daemon configuration %s: the following directives are specified both as a flag and in the configuration file: %s", path, strings.Join(both, ", "))
	}
	var fc daemonConfig
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fmt.Errorf("daemon configuration %s: %w", path, err)
	}
	// The file fills what no flag set.
	merge := func(flag string, apply func()) {
		if _, ok := raw[flagKeys[flag]]; ok {
			apply()
		}
	}
	merge("data-root", func() { c.DataRoot = fc.DataRoot })
	merge("exec-root", func() { c.ExecRoot = fc.ExecRoot })
	merge("runtime-root", func() { c.RuntimeRoot = fc.RuntimeRoot })
	merge("host", func() { c.Hosts = fc.Hosts })
	merge("group", func() { c.Group = fc.Group })
	merge("tls", func() { c.TLS = fc.TLS })
	merge("tlsverify", func() { c.TLSVerify = fc.TLSVerify })
	merge("tlscacert", func() { c.TLSCACert = fc.TLSCACert })
	merge("tlscert", func() { c.TLSCert = fc.TLSCert })
	merge("tlskey", func() { c.TLSKey = fc.TLSKey })
	merge("storage-driver", func() { c.StorageDriver = fc.StorageDriver })
	merge("insecure-registry", func() { c.InsecureRegistries = fc.InsecureRegistries })
	merge("certs-dir", func() { c.CertsDir = fc.CertsDir })
	merge("log-driver", func() { c.LogDriver = fc.LogDriver })
	merge("log-opt", func() { c.LogOpts = fc.LogOpts })
	merge("debug", func() { c.Debug = fc.Debug })
	merge("pidfile", func() { c.PidFile = fc.PidFile })
	return nil
}

// validate checks what can be checked before anything is created.
func (c *daemonConfig) validate() error {
	if len(c.Hosts) == 0 {
		return errors.New("no host to listen on (-H)")
	}
	for _, h := range c.Hosts {
		u, err := parseHost(h)
		if err != nil {
			return err
		}
		if u.Scheme == "tcp" && !c.TLS && !c.TLSVerify && !isLoopback(u.Host) {
			return fmt.Errorf("refusing to serve the API on %s without TLS: anyone who reaches it is root on this host (use --tlsverify with --tlscacert, --tlscert, --tlskey)", h)
		}
	}
	if c.TLS || c.TLSVerify {
		if c.TLSCert == "" || c.TLSKey == "" {
			return errors.New("--tls needs --tlscert and --tlskey")
		}
		if c.TLSVerify && c.TLSCACert == "" {
			return errors.New("--tlsverify needs --tlscacert (the CA that signs client certificates)")
		}
	}
	switch c.LogDriver {
	case "", "json-file", "none":
	default:
		return fmt.Errorf("log driver %q is not supported (json-file or none)", c.LogDriver)
	}
	return nil
}

// parseHost accepts docker's -H forms: unix:///path, tcp://host:port,
// fd:// is not supported.
func parseHost(h string) (*url.URL, error) {
	u, err := url.Parse(h)
	if err != nil || (u.Scheme != "unix" && u.Scheme != "tcp") {
		return nil, fmt.Errorf("invalid host %q: want unix:///path or tcp://host:port", h)
	}
	if u.Scheme == "unix" && u.Path == "" {
		return nil, fmt.Errorf("invalid host %q: no socket path", h)
	}
	if u.Scheme == "tcp" {
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return nil, fmt.Errorf("invalid host %q: %v", h, err)
		}
	}
	return u, nil
}

func isLoopback(hostport string) bool {
	host, _, _ := net.SplitHostPort(hostport)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newDaemonCommand() *cobra.Command {
	c := daemonConfig{ExecRoot: execRoot(), Group: defaultGroup}
	var configFile string
	cmd := &cobra.Command{
		Use:   "daemon [OPTIONS]",
		Short: "Run the berth daemon: the Docker Engine API on a socket",
		Long: `The daemon serves the Docker Engine API on a unix socket (group-restricted)
and optionally on TCP with TLS. Containers run under their own monitors, so
they keep running when the daemon stops or dies; a daemon started later
finds them as they are (live restore) and records exits that happened
meanwhile. Configuration comes from flags and from a JSON file with
docker's daemon.json keys (` + defaultConfigFile + ` when present).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.DataRoot = storeFlags.dataRoot
			c.StorageDriver = storeFlags.storageDriver
			c.InsecureRegistries = storeFlags.insecure
			c.CertsDir = storeFlags.certsDir
			changed := func(f string) bool {
				if fl := cmd.Flags().Lookup(f); fl != nil && fl.Changed {
					return true
				}
				fl := cmd.InheritedFlags().Lookup(f)
				return fl != nil && fl.Changed
			}
			if configFile == "" {
				if _, err := os.Stat(defaultConfigFile); err == nil {
					configFile = defaultConfigFile
				}
			}
			if configFile != "" {
				if err := loadDaemonConfig(configFile, &c, changed); err != nil {
					return err
				}
			}
			if len(c.Hosts) == 0 {
				// Where the CLI looks first.
				c.Hosts = []string{"unix://" + filepath.Join(c.ExecRoot, "berth.sock")}
			}
			if c.RuntimeRoot == "" {
				c.RuntimeRoot = envOr("BERTH_RUNTIME_ROOT", runtime.DefaultRoot)
			}
			if err := c.validate(); err != nil {
				return err
			}
			return runDaemon(cmd.Context(), c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config-file", "", "daemon configuration file (default "+defaultConfigFile+" when present)")
	f.StringArrayVarP(&c.Hosts, "host", "H", c.Hosts, "where to serve the API: unix:///path or tcp://host:port (default unix://EXEC_ROOT/berth.sock)")
	f.StringVar(&c.ExecRoot, "exec-root", c.ExecRoot, "runtime files: the API socket, monitor sockets, pid file (env BERTH_EXEC_ROOT)")
	f.StringVar(&c.RuntimeRoot, "runtime-root", "", "OCI runtime state (env BERTH_RUNTIME_ROOT, default "+runtime.DefaultRoot+")")
	f.StringVarP(&c.Group, "group", "G", c.Group, "group that may use the unix socket (root only when the group does not exist)")
	f.BoolVar(&c.TLS, "tls", false, "serve TCP hosts with TLS")
	f.BoolVar(&c.TLSVerify, "tlsverify", false, "serve TCP hosts with TLS and require client certificates signed by --tlscacert")
	f.StringVar(&c.TLSCACert, "tlscacert", "", "CA for client certificates")
	f.StringVar(&c.TLSCert, "tlscert", "", "server certificate")
	f.StringVar(&c.TLSKey, "tlskey", "", "server key")
	f.StringVar(&c.LogDriver, "log-driver", "", "default log driver: json-file or none")
	f.StringToStringVar(&c.LogOpts, "log-opt", nil, "default log options (max-size, max-file)")
	f.BoolVarP(&c.Debug, "debug", "D", false, "log every API request")
	f.StringVarP(&c.PidFile, "pidfile", "p", "", "pid file (default EXEC_ROOT/berth.pid)")
	f.StringVar(&c.UsernsRemap, "userns-remap", "", `user/group setting for user namespaces: "default" or USER[:GROUP], with ranges in /etc/subuid and /etc/subgid`)
	return cmd
}

// runDaemon serves until SIGINT or SIGTERM, then stops serving and closes
// the engine, leaving the containers running under their monitors.
func runDaemon(ctx context.Context, c daemonConfig) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, unix.SIGTERM)
	defer stop()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)

	var tlsConfig *tls.Config
	if c.TLS || c.TLSVerify {
		ca := ""
		if c.TLSVerify {
			ca = c.TLSCACert
		}
		var err error
		if tlsConfig, err = registry.LoadTLSConfig(c.TLSCert, c.TLSKey, ca); err != nil {
			return err
		}
		// The API hijacks connections for attach and exec: HTTP/1.1 only.
		tlsConfig.NextProtos = []string{"http/1.1"}
	}
	if err := os.MkdirAll(c.ExecRoot, 0o711); err != nil {
		return fmt.Errorf("create exec root %s: %w", c.ExecRoot, err)
	}
	// Listen before opening the engine: a second daemon on the same socket
	// fails here, before it touches anything.
	lns, err := listenAll(c, tlsConfig)
	if err != nil {
		return err
	}
	defer func() {
		for _, l := range lns {
			l.ln.Close()
			if l.path != "" {
				os.Remove(l.path)
			}
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	e, err := engine.Open(ctx, engine.Options{
		Root:        c.DataRoot,
		RuntimeRoot: c.RuntimeRoot,
		ExecRoot:    c.ExecRoot,
		NetName:     os.Getenv("BERTH_NET_NAME"),
		Daemon:      true,
		Self:        self,
		Builder:     build.New,
		Images: engine.ImagesOptions{
			Driver:   c.StorageDriver,
			Registry: daemonRegistryOptions(c),
		},
		LogConfig:   container.LogConfig{Type: c.LogDriver, Config: c.LogOpts},
		UsernsRemap: c.UsernsRemap,
	})
	if err != nil {
		return err
	}
	defer e.Close()
	pidFile := c.PidFile
	if pidFile == "" {
		pidFile = filepath.Join(c.ExecRoot, "berth.pid")
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	defer os.Remove(pidFile)

	var hopts []dockerapi.Option
	if c.Debug {
		hopts = append(hopts, dockerapi.WithLogf(logger.Printf))
	}
	h := dockerapi.NewHandler(e, hopts...)
	errc := make(chan error, len(lns))
	for _, l := range lns {
		go func() { errc <- dockerapi.Serve(ctx, l.ln, h) }()
		logger.Printf("API listening on %s", l.addr)
	}
	logger.Printf("berth daemon ready (data root %s)", c.DataRoot)
	var first error
	for range lns {
		if err := <-errc; err != nil && first == nil {
			first = err
			stop() // one listener failed: stop the others
		}
	}
	logger.Printf("berth daemon stopped; containers keep running under their monitors")
	return first
}

type listener struct {
	ln   net.Listener
	addr string
	path string // unix socket to remove at exit
}

func listenAll(c daemonConfig, tlsConfig *tls.Config) ([]listener, error) {
	var out []listener
	fail := func(err error) ([]listener, error) {
		for _, l := range out {
			l.ln.Close()
			if l.path != "" {
				os.Remove(l.path)
			}
		}
		return nil, err
	}
	for _, h := range c.Hosts {
		u, _ := parseHost(h)
		switch u.Scheme {
		case "unix":
			ln, err := listenUnix(u.Path, c.Group)
			if err != nil {
				return fail(err)
			}
			out = append(out, listener{ln: ln, addr: h, path: u.Path})
		case "tcp":
			ln, err := net.Listen("tcp", u.Host)
			if err != nil {
				return fail(fmt.Errorf("listen on %s: %w", h, err))
			}
			if tlsConfig != nil {
				ln = tls.NewListener(ln, tlsConfig)
			}
			out = append(out, listener{ln: ln, addr: h})
		}
	}
	return out, nil
}

// listenUnix makes the API socket: mode 0660, owned by root and group
// (when the group exists). A socket file left by a daemon that died is
// replaced; one a live daemon answers on is not.
func listenUnix(path, group string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return nil, fmt.Errorf("another daemon is serving %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	// The socket is created with no access for others; the mode and group
	// are set before anyone can connect through them.
	old := unix.Umask(0o177)
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on unix://%s: %w", path, err)
	}
	gid := 0
	if group != "" {
		if g, err := user.LookupGroup(group); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		} else {
			fmt.Fprintf(os.Stderr, "berth daemon: group %q not found: the socket is root's only\n", group)
		}
	}
	if err := os.Chown(path, 0, gid); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func daemonRegistryOptions(c daemonConfig) []registry.Option {
	opts := []registry.Option{registry.WithInsecureRegistries(c.InsecureRegistries...)}
	if c.CertsDir != "" {
		opts = append(opts, registry.WithCertsDir(c.CertsDir))
	}
	return opts
}
