package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/berth-project/berth/build"
	"github.com/berth-project/berth/dockerapi"
	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/runtime"
)

// hostOptions are docker's connection flags: -H and the TLS material.
type hostOptions struct {
	host      string
	tls       bool
	tlsVerify bool
	caCert    string
	cert      string
	key       string
}

// defaultExecRoot holds the daemon's socket and the monitors' sockets.
const defaultExecRoot = "/run/berth"

func addHostFlags(root *cobra.Command, o *hostOptions) {
	certs := os.Getenv("BERTH_CERT_PATH")
	if certs == "" {
		if home, err := os.UserHomeDir(); err == nil {
			certs = filepath.Join(home, ".berth")
		}
	}
	// As docker's, these are flags of berth itself, before the command
	// (history has its own -H).
	pf := root.Flags()
	pf.StringVarP(&o.host, "host", "H", "", "Daemon socket to connect to (env BERTH_HOST; default unix://$BERTH_EXEC_ROOT/berth.sock, else the engine runs in-process)")
	pf.BoolVar(&o.tls, "tls", false, "Use TLS; implied by --tlsverify")
	pf.BoolVar(&o.tlsVerify, "tlsverify", os.Getenv("BERTH_TLS_VERIFY") != "", "Use TLS and verify the remote (env BERTH_TLS_VERIFY)")
	pf.StringVar(&o.caCert, "tlscacert", filepath.Join(certs, "ca.pem"), "Trust certs signed only by this CA")
	pf.StringVar(&o.cert, "tlscert", filepath.Join(certs, "cert.pem"), "Path to TLS certificate file")
	pf.StringVar(&o.key, "tlskey", filepath.Join(certs, "key.pem"), "Path to TLS key file")
}

// execRoot is where the daemon listens and the monitors keep their sockets.
func execRoot() string { return envOr("BERTH_EXEC_ROOT", defaultExecRoot) }

// target is the daemon address to use and whether the user named it (a
// named daemon that does not answer is an error; the default one that does
// not answer means "run the engine in-process").
func (o *hostOptions) target() (host string, explicit bool) {
	if o.host != "" {
		return o.host, true
	}
	if h := os.Getenv("BERTH_HOST"); h != "" {
		return h, true
	}
	return "unix://" + filepath.Join(execRoot(), "berth.sock"), false
}

// tlsConfig builds the client's TLS configuration from the flags, nil when
// TLS is off: --tlsverify checks the daemon against --tlscacert, --tls
// alone does not check it; a client certificate is sent when its files
// exist.
func (o *hostOptions) tlsConfig() (*tls.Config, error) {
	if !o.tls && !o.tlsVerify {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !o.tlsVerify}
	if o.tlsVerify {
		pem, err := os.ReadFile(o.caCert)
		if err != nil {
			return nil, fmt.Errorf("read TLS CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read TLS CA certificate %s: no certificate in it", o.caCert)
		}
		cfg.RootCAs = pool
	}
	if _, err := os.Stat(o.cert); err == nil {
		pair, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, fmt.Errorf("load TLS client certificate %s: %w", o.cert, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// connect picks the engine: the daemon at -H/BERTH_HOST, else the one at
// the default socket, else (nothing answers there) an engine run in this
// process on --data-root, as podman runs without a daemon.
func (o *hostOptions) connect(ctx context.Context) (engine.API, func() error, error) {
	host, explicit := o.target()
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	api, closeFn, err := dialDaemon(ctx, host, tlsCfg)
	if errors.Is(err, dockerapi.ErrNoDaemon) && !explicit {
		return openLocalEngine(ctx, localEngineOptions())
	}
	return api, closeFn, err
}

// dialDaemon returns the engine.API of the daemon at host, checked with a
// ping (which settles the API version); an error matching
// dockerapi.ErrNoDaemon when nothing answers there.
func dialDaemon(ctx context.Context, host string, tlsCfg *tls.Config) (engine.API, func() error, error) {
	var opts []dockerapi.ClientOption
	if tlsCfg != nil {
		opts = append(opts, dockerapi.WithTLS(tlsCfg))
	}
	c, err := dockerapi.NewClient(host, opts...)
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.Ping(ctx); err != nil {
		return nil, nil, err
	}
	return c, func() error { return nil }, nil
}

// localEngineOptions are the in-process engine's options: the data root and
// store flags, the runtime's state root, the monitors' exec root.
func localEngineOptions() engine.Options {
	return engine.Options{
		Root:        storeFlags.dataRoot,
		RuntimeRoot: envOr("BERTH_RUNTIME_ROOT", runtime.DefaultRoot),
		ExecRoot:    execRoot(),
		NetName:     os.Getenv("BERTH_NET_NAME"),
		Daemon:      false,
		Builder:     build.New,
		Images: engine.ImagesOptions{
			Driver:   storeFlags.storageDriver,
			Registry: registryOptions(),
		},
	}
}

// openLocalEngine runs the engine in this process (not as a daemon: the
// containers it starts live on under their monitors after berth exits).
func openLocalEngine(ctx context.Context, o engine.Options) (engine.API, func() error, error) {
	e, err := engine.Open(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	return e, e.Close, nil
}
