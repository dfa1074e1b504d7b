package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/progress"
	"github.com/berth-project/berth/registry"
)

func newRegistryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run an OCI distribution registry",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(registryServeCmd(), registryGCCmd())
	return cmd
}

// registryConfig merges the config file (when --config names one) with the
// flags the user set: a flag given on the command line wins.
func registryConfig(file string, flagged func(c *registry.Config)) (registry.Config, error) {
	var c registry.Config
	if file != "" {
		var err error
		if c, err = registry.LoadConfig(file); err != nil {
			return c, err
		}
	}
	flagged(&c)
	if c.Root == "" {
		c.Root = filepath.Join(storeFlags.dataRoot, "registry")
	}
	return c, nil
}

func registryServeCmd() *cobra.Command {
	var (
		file, aclFile string
		c             registry.Config
		token         bool
		tok           registry.TokenConfig
		uploadTTL     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Serve the OCI distribution API (push, pull, search) from a storage directory",
		Long: `Serve the OCI distribution API from a storage directory.

Without --htpasswd anyone may pull and push. With it, clients log in with
basic auth, or with --token get bearer tokens from the registry's own /token
endpoint using those accounts; --anonymous-read lets anyone pull. --acl names
a JSON file of rules [{"account": "alice", "name": "team/*", "actions": ["pull","push"]}].
--config reads the same settings from a JSON file; flags given win.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			conf, err := registryConfig(file, func(f *registry.Config) {
				set := func(name string, fn func()) {
					if fl.Changed(name) {
						fn()
					}
				}
				set("addr", func() { f.Addr = c.Addr })
				set("root", func() { f.Root = c.Root })
				set("read-only", func() { f.ReadOnly = c.ReadOnly })
				set("htpasswd", func() { f.Auth.Htpasswd = c.Auth.Htpasswd })
				set("anonymous-read", func() { f.Auth.AnonymousRead = c.Auth.AnonymousRead })
				set("tls-cert", func() { f.TLS.Cert = c.TLS.Cert })
				set("tls-key", func() { f.TLS.Key = c.TLS.Key })
				set("tls-client-ca", func() { f.TLS.ClientCA = c.TLS.ClientCA })
				set("max-manifest-size", func() { f.Limits.MaxManifestSize = c.Limits.MaxManifestSize })
				set("max-blob-size", func() { f.Limits.MaxBlobSize = c.Limits.MaxBlobSize })
				set("upload-ttl", func() { f.Limits.UploadTTL = registry.Duration(uploadTTL) })
				if token || fl.Changed("token-realm") || fl.Changed("token-service") || fl.Changed("token-key") {
					if f.Auth.Token == nil {
						f.Auth.Token = &registry.TokenConfig{}
					}
					set("token-realm", func() { f.Auth.Token.Realm = tok.Realm })
					set("token-service", func() { f.Auth.Token.Service = tok.Service })
					set("token-key", func() { f.Auth.Token.Key = tok.Key })
				}
				if f.Addr == "" {
					f.Addr = c.Addr
				}
			})
			if err != nil {
				return err
			}
			if aclFile != "" {
				if conf.Auth.ACL, err = registry.LoadACL(aclFile); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
			defer stop()
			logger := log.New(os.Stderr, "", log.LstdFlags)
			return conf.ListenAndServe(ctx, logger.Printf, func(addr net.Addr) {
				scheme := "http"
				if conf.TLS.Cert != "" {
					scheme = "https"
				}
				logger.Printf("berth registry listening on %s://%s, storage %s", scheme, addr, conf.Root)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "config", "", "JSON config file (flags given on the command line override it)")
	f.StringVar(&c.Addr, "addr", ":5000", "address to listen on")
	f.StringVar(&c.Root, "root", "", "storage directory (default DATA_ROOT/registry)")
	f.BoolVar(&c.ReadOnly, "read-only", false, "refuse every push and delete")
	f.StringVar(&c.Auth.Htpasswd, "htpasswd", "", "htpasswd file of accounts (bcrypt, as htpasswd -B writes)")
	f.BoolVar(&c.Auth.AnonymousRead, "anonymous-read", false, "let anyone pull; pushing still needs a login")
	f.StringVar(&aclFile, "acl", "", "JSON file of access rules per account and repository")
	f.BoolVar(&token, "token", false, "bearer-token auth with the built-in /token endpoint (accounts from --htpasswd)")
	f.StringVar(&tok.Realm, "token-realm", "", "token endpoint URL as clients reach it (default: /token on the address they used)")
	f.StringVar(&tok.Service, "token-service", "", "service name in tokens (default berth-registry)")
	f.StringVar(&tok.Key, "token-key", "", "ECDSA signing key PEM, created when missing (default ROOT/token.key)")
	f.StringVar(&c.TLS.Cert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	f.StringVar(&c.TLS.Key, "tls-key", "", "private key of --tls-cert (PEM)")
	f.StringVar(&c.TLS.ClientCA, "tls-client-ca", "", "require client certificates signed by this CA (PEM)")
	f.Int64Var(&c.Limits.MaxManifestSize, "max-manifest-size", 4<<20, "largest manifest accepted, in bytes")
	f.Int64Var(&c.Limits.MaxBlobSize, "max-blob-size", 0, "largest blob accepted, in bytes (0: no limit)")
	f.DurationVar(&uploadTTL, "upload-ttl", 24*time.Hour, "how long an idle upload is kept for its client to resume")
	return cmd
}

func registryGCCmd() *cobra.Command {
	var (
		file, root       string
		dryRun, untagged bool
	)
	cmd := &cobra.Command{
		Use:   "gc [OPTIONS]",
		Short: "Remove blobs no manifest references (with the registry stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conf, err := registryConfig(file, func(c *registry.Config) {
				if cmd.Flags().Changed("root") || c.Root == "" {
					c.Root = root
				}
			})
			if err != nil {
				return err
			}
			if _, err := os.Stat(conf.Root); err != nil {
				return fmt.Errorf("registry storage: %w", err)
			}
			out := cmd.OutOrStdout()
			res, err := registry.GarbageCollect(cmd.Context(), conf.Root, registry.GCOptions{
				DryRun: dryRun, DeleteUntagged: untagged,
			})
			if err != nil {
				return err
			}
			verb := "Deleted"
			if dryRun {
				verb = "Would delete"
			}
			for _, d := range res.Manifests {
				fmt.Fprintf(out, "%s manifest: %s\n", verb, d)
			}
			for _, d := range res.Blobs {
				fmt.Fprintf(out, "%s blob: %s\n", verb, d)
			}
			fmt.Fprintf(out, "%s %d blobs, %d manifests, %s\n", verb, len(res.Blobs), len(res.Manifests), progress.HumanSize(res.Bytes))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "config", "", "JSON config file of the registry (for its root)")
	f.StringVar(&root, "root", "", "storage directory (default DATA_ROOT/registry)")
	f.BoolVarP(&dryRun, "dry-run", "n", false, "only list what would be deleted")
	f.BoolVar(&untagged, "delete-untagged", false, "also delete manifests no tag reaches")
	return cmd
}
