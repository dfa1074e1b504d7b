package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	mimage "github.com/moby/moby/api/types/image"
	mregistry "github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/registry"
)

// storeFlags are the global flags of the in-process engine's store.
var storeFlags struct {
	dataRoot      string
	storageDriver string
	insecure      []string
	certsDir      string
}

func addStoreFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&storeFlags.dataRoot, "data-root", envOr("BERTH_ROOT", engine.DefaultRoot), "where images and containers are kept (env BERTH_ROOT)")
	pf.StringVar(&storeFlags.storageDriver, "storage-driver", os.Getenv("BERTH_STORAGE_DRIVER"), "snapshotter: overlay or copy (default: overlay where it works)")
	pf.StringSliceVar(&storeFlags.insecure, "insecure-registry", nil, "registry (host:port) to reach over plain http")
	pf.StringVar(&storeFlags.certsDir, "certs-dir", "", "per-registry TLS material laid out as docker's certs.d: DIR/HOST:PORT/ca.crt, client.cert, client.key (default /etc/docker/certs.d)")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// registryOptions configure the registry client from the global flags.
func registryOptions() []registry.Option {
	opts := []registry.Option{registry.WithInsecureRegistries(storeFlags.insecure...)}
	if storeFlags.certsDir != "" {
		opts = append(opts, registry.WithCertsDir(storeFlags.certsDir))
	}
	return opts
}

// localImages is the image store on --data-root, for what Docker's API has
// no call for (import, OCI layout directories, load of one platform): the
// in-process engine's own store when that is the engine in use, else the
// store opened for the command.
func (c *client) localImages(ctx context.Context) (*engine.Images, func(), error) {
	if c.api == nil {
		if _, err := c.API(ctx); err != nil {
			return nil, nil, err
		}
	}
	if d, ok := c.api.(daemonErrors); ok {
		if e, ok := d.api.(*engine.Engine); ok && e.Images != nil {
			return e.Images, func() {}, nil
		}
	}
	s, err := engine.OpenImages(storeFlags.dataRoot, engine.ImagesOptions{
		Driver:   storeFlags.storageDriver,
		Registry: registryOptions(),
	})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { s.Close() }, nil
}

// registryAuth is the X-Registry-Auth value for ref's registry: the
// credentials docker's config.json ($DOCKER_CONFIG, else ~/.docker) keeps
// under "auths", "" when it has none. Credential helpers are left to the
// engine, which consults them when no credentials come with the request.
func registryAuth(ref image.Reference) (string, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", nil
		}
		dir = filepath.Join(home, ".docker")
	}
	file := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read docker config: %w", err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth          string `json:"auth"`
			Username      string `json:"username"`
			Password      string `json:"password"`
			IdentityToken string `json:"identitytoken"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("read docker config %s: %w", file, err)
	}
	host := ref.Domain
	hub := host == image.DefaultDomain
	for k, a := range cfg.Auths {
		key := strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
		key, _, _ = strings.Cut(key, "/")
		key = strings.ToLower(key)
		isHub := key == "docker.io" || key == "index.docker.io" || key == "registry-1.docker.io"
		if (hub && !isHub) || (!hub && key != strings.ToLower(host)) {
			continue
		}
		ac := mregistry.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, ServerAddress: k}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a.Auth))
			if err != nil {
				return "", fmt.Errorf("credentials for %s in %s: auth is not base64: %w", host, file, err)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return "", fmt.Errorf("credentials for %s in %s: auth is not user:password", host, file)
			}
			ac.Username, ac.Password = user, pass
		}
		if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" {
			continue
		}
		return authconfig.Encode(ac)
	}
	return "", nil
}

func newImageCommand(c *client) *cobra.Command {
	cmd := groupCommand("image", "Manage images")
	ls := newImagesCommand(c)
	ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list"}
	rm := newRmiCommand(c)
	rm.Use, rm.Aliases = "rm [OPTIONS] IMAGE [IMAGE...]", []string{"remove", "rmi"}
	cmd.AddCommand(newHistoryCommand(c), newImportCommand(c), newInspectImageCommand(c), newLoadCommand(c), ls,
		newImagePruneCommand(c), newPullCommand(c), newPushCommand(c), rm, newSaveCommand(c), newTagCommand(c))
	return cmd
}

func newPullCommand(c *client) *cobra.Command {
	var all, quiet bool
	var platform string
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			ref, err := image.ParseReference(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			tagged := hasTag(args[0]) || ref.Digest != ""
			switch {
			case all && tagged:
				return errors.New("tag can't be used with --all-tags/-a")
			case !all && !tagged && !quiet:
				fmt.Fprintf(out, "Using default tag: %s\n", ref.Tag)
			}
			name := ref.String()
			if all {
				name = ref.Name()
			}
			auth, err := registryAuth(ref)
			if err != nil {
				return err
			}
			body, err := api.ImagePull(ctx, name, engine.PullRequest{Platform: platform, RegistryAuth: auth, All: all})
			if err != nil {
				return err
			}
			defer body.Close()
			progressOut := out
			if quiet {
				progressOut = io.Discard
			}
			if err := showJSONStream(body, progressOut, nil); err != nil {
				return err
			}
			fmt.Fprintln(out, name)
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all-tags", "a", false, "Download all tagged images in the repository")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	f.StringVar(&platform, "platform", os.Getenv("BERTH_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	return cmd
}

func newPushCommand(c *client) *cobra.Command {
	var all, quiet bool
	var platform string
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  exactArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			ref, err := image.ParseReference(args[0])
			if err != nil {
				return err
			}
			if all && hasTag(args[0]) {
				return errors.New("tag can't be used with --all-tags/-a")
			}
			name := ref.String()
			if all {
				name = ref.Name()
			}
			auth, err := registryAuth(ref)
			if err != nil {
				return err
			}
			body, err := api.ImagePush(ctx, name, engine.PushRequest{All: all, RegistryAuth: auth, Platform: platform})
			if err != nil {
				return err
			}
			defer body.Close()
			out := cmd.OutOrStdout()
			if quiet {
				if err := showJSONStream(body, io.Discard, nil); err != nil {
					return err
				}
				fmt.Fprintln(out, name)
				return nil
			}
			return showJSONStream(body, out, nil)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all-tags", "a", false, "Push all tags of an image to the repository")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	f.StringVar(&platform, "platform", "", "Push a platform-specific manifest as a single-platform image to the registry")
	return cmd
}

func newTagCommand(c *client) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return api.ImageTag(ctx, args[0], args[1])
		}),
	}
}

func newRmiCommand(c *client) *cobra.Command {
	var o engine.ImageRemoveOptions
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return forEach(cmd, args, func(name string) error {
				deleted, err := api.ImageRemove(ctx, name, o)
				printDeleted(cmd.OutOrStdout(), deleted, "Untagged: ", "Deleted: ")
				return err
			})
		}),
	}
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&o.NoPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

// printDeleted writes image removals, one "Untagged: x" or "Deleted: y"
// line each (with the prefixes given: rmi's and prune's differ).
func printDeleted(out io.Writer, deleted []mimage.DeleteResponse, untagged, del string) {
	for _, d := range deleted {
		if d.Untagged != "" {
			fmt.Fprintf(out, "%s%s\n", untagged, d.Untagged)
		}
		if d.Deleted != "" {
			fmt.Fprintf(out, "%s%s\n", del, d.Deleted)
		}
	}
}

const (
	defaultImagesFormat        = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince}}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
	defaultImagesDigestsFormat = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince}}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)

var imagesHeader = map[string]string{
	"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
	"VirtualSize": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
}

func newImagesCommand(c *client) *cobra.Command {
	var quiet, all, noTrunc, digests bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  maxArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				if f == nil {
					f = engine.Filters{}
				}
				f["reference"] = append(f["reference"], args[0])
			}
			def := defaultImagesFormat
			if digests {
				def = defaultImagesDigestsFormat
			}
			if quiet {
				format = "{{.ID}}"
			} else if format != "" && strings.HasPrefix(format, "table") && digests && !strings.Contains(format, "{{.Digest}}") {
				format += "\t{{.Digest}}"
			}
			lf, err := newListFormat(format, def)
			if err != nil {
				return err
			}
			list, err := api.ImageList(ctx, engine.ImageListOptions{All: all, Filters: f, Digests: digests})
			if err != nil {
				return err
			}
			rows := imageRows(list, !noTrunc, digests, digests || lf.uses("{{.Digest}}"), time.Now())
			return lf.write(cmd.OutOrStdout(), imagesHeader, rows)
		}),
	}
	fl := cmd.Flags()
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	fl.BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fl.BoolVar(&digests, "digests", false, "Show digests")
	fl.StringVar(&format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	fl.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// imageRow is one line of images: an image under one repository and tag.
type imageRow struct {
	i                 mimage.Summary
	repo, tag, digest string
	trunc             bool
	now               time.Time
}

// imageRows expands images into docker's lines: one per repository:tag
// (per digest too when digests are shown), digest-only names as <none>
// tags, and images without names as <none> <none>.
func imageRows(list []mimage.Summary, trunc, showDigests, needDigest bool, now time.Time) []any {
	var rows []any
	add := func(img mimage.Summary, repo, tag, digest string) {
		rows = append(rows, &imageRow{i: img, repo: repo, tag: tag, digest: digest, trunc: trunc, now: now})
	}
	for _, img := range list {
		dangling := len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 ||
			(len(img.RepoTags) == 1 && img.RepoTags[0] == "<none>:<none>" && len(img.RepoDigests) == 1 && img.RepoDigests[0] == "<none>@<none>")
		if dangling {
			add(img, "<none>", "<none>", "<none>")
			continue
		}
		tags, digests := map[string][]string{}, map[string][]string{}
		var repos []string
		for _, t := range img.RepoTags {
			ref, err := image.ParseReference(t)
			if err != nil || ref.Tag == "" {
				continue
			}
			name := ref.FamiliarName()
			if _, ok := tags[name]; !ok {
				repos = append(repos, name)
			}
			tags[name] = append(tags[name], ref.Tag)
		}
		var digestRepos []string
		for _, d := range img.RepoDigests {
			ref, err := image.ParseReference(d)
			if err != nil || ref.Digest == "" {
				continue
			}
			name := ref.FamiliarName()
			if _, ok := digests[name]; !ok {
				digestRepos = append(digestRepos, name)
			}
			digests[name] = append(digests[name], ref.Digest.String())
		}
		sort.Strings(repos)
		for _, repo := range repos {
			sort.Strings(tags[repo])
			ds := digests[repo]
			delete(digests, repo)
			if !needDigest {
				ds = nil
			}
			for _, tag := range tags[repo] {
				if len(ds) == 0 {
					add(img, repo, tag, "<none>")
					continue
				}
				for _, d := range ds {
					add(img, repo, tag, d)
				}
			}
		}
		sort.Strings(digestRepos)
		for _, repo := range digestRepos {
			ds, ok := digests[repo]
			if !ok {
				continue
			}
			if showDigests {
				for _, d := range ds {
					add(img, repo, "<none>", d)
				}
			} else {
				add(img, repo, "<none>", "")
			}
		}
	}
	return rows
}

func (r *imageRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }

func (r *imageRow) ID() string {
	if r.trunc {
		return truncateID(r.i.ID)
	}
	return r.i.ID
}

func (r *imageRow) Repository() string { return r.repo }
func (r *imageRow) Tag() string        { return r.tag }
func (r *imageRow) Digest() string     { return r.digest }

func (r *imageRow) CreatedSince() string {
	if r.i.Created <= 0 {
		return ""
	}
	return since(r.i.Created, r.now)
}

func (r *imageRow) CreatedAt() string   { return time.Unix(r.i.Created, 0).String() }
func (r *imageRow) Size() string        { return humanSize(r.i.Size) }
func (r *imageRow) VirtualSize() string { return humanSize(r.i.Size) }

func (r *imageRow) Containers() string {
	if r.i.Containers == -1 {
		return "N/A"
	}
	return strconv.FormatInt(r.i.Containers, 10)
}

func (r *imageRow) SharedSize() string {
	if r.i.SharedSize == -1 {
		return "N/A"
	}
	return humanSize(r.i.SharedSize)
}

func (r *imageRow) UniqueSize() string {
	if r.i.Size == -1 || r.i.SharedSize == -1 {
		return "N/A"
	}
	return humanSize(r.i.Size - r.i.SharedSize)
}

const defaultHistoryFormat = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"

var historyHeader = map[string]string{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
	"Size": "SIZE", "Comment": "COMMENT",
}

func newHistoryCommand(c *client) *cobra.Command {
	var human, noTrunc, quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			hist, err := api.ImageHistory(ctx, args[0])
			if err != nil {
				return err
			}
			if quiet {
				format = "{{.ID}}"
			}
			lf, err := newListFormat(format, defaultHistoryFormat)
			if err != nil {
				return err
			}
			now := time.Now()
			rows := make([]any, len(hist))
			for i, h := range hist {
				rows[i] = &historyRow{h: h, trunc: !noTrunc, human: human, now: now}
			}
			return lf.write(cmd.OutOrStdout(), historyHeader, rows)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&human, "human", "H", true, "Print sizes and dates in human readable format")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	f.StringVar(&format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

// historyRow is one layer of history as docker's templates see it.
type historyRow struct {
	h            mimage.HistoryResponseItem
	trunc, human bool
	now          time.Time
}

func (r *historyRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }

func (r *historyRow) ID() string {
	if r.trunc {
		return truncateID(r.h.ID)
	}
	return r.h.ID
}

func (r *historyRow) CreatedSince() string {
	if !r.human {
		return r.CreatedAt()
	}
	return since(r.h.Created, r.now)
}

func (r *historyRow) CreatedAt() string {
	return time.Unix(r.h.Created, 0).Format(time.RFC3339)
}

func (r *historyRow) CreatedBy() string {
	by := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc {
		by = ellipsis(by, 45)
	}
	return by
}

func (r *historyRow) Size() string {
	if r.human {
		return humanSize(r.h.Size)
	}
	return strconv.FormatInt(r.h.Size, 10)
}

func (r *historyRow) Comment() string { return r.h.Comment }

func newImagePruneCommand(c *client) *cobra.Command {
	var all, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			warning := "WARNING! This will remove all dangling images."
			if all {
				warning = "WARNING! This will remove all images without at least one container associated to them."
			}
			if !force && !confirm(cmd.InOrStdin(), cmd.OutOrStdout(), warning) {
				return nil
			}
			_, err = pruneImages(ctx, api, all, f, cmd.OutOrStdout(), true)
			return err
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// pruneImages prunes (dangling images only unless all) and reports as
// docker: "Deleted Images:" with untagged/deleted lines, then (when total)
// the space reclaimed.
func pruneImages(ctx context.Context, api engine.API, all bool, f engine.Filters, out io.Writer, total bool) (uint64, error) {
	filters := engine.Filters{}
	for k, v := range f {
		filters[k] = v
	}
	filters["dangling"] = []string{strconv.FormatBool(!all)}
	r, err := api.ImagesPrune(ctx, filters)
	if err != nil {
		return 0, err
	}
	if len(r.ImagesDeleted) > 0 {
		fmt.Fprintln(out, "Deleted Images:")
		printDeleted(out, r.ImagesDeleted, "untagged: ", "deleted: ")
		fmt.Fprintln(out)
	}
	if total {
		fmt.Fprintf(out, "Total reclaimed space: %s\n", humanSize(int64(r.SpaceReclaimed)))
	}
	return r.SpaceReclaimed, nil
}

func newSaveCommand(c *client) *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch format {
			case "", "docker-archive":
				api, err := c.API(ctx)
				if err != nil {
					return err
				}
				return writeOutput(output, cmd.OutOrStdout(), func(w io.Writer) error {
					r, err := api.ImageSave(ctx, args)
					if err != nil {
						return err
					}
					defer r.Close()
					_, err = io.Copy(w, r)
					return err
				})
			case "oci-dir":
				if output == "" {
					return errors.New("--format oci-dir needs -o DIR")
				}
				s, done, err := c.localImages(ctx)
				if err != nil {
					return err
				}
				defer done()
				return s.SaveLayout(ctx, output, args)
			}
			return fmt.Errorf("unknown format %q (docker-archive or oci-dir)", format)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file (for oci-dir, a directory), instead of STDOUT")
	cmd.Flags().StringVar(&format, "format", "docker-archive", "docker-archive (a tar that is also an OCI layout) or oci-dir (berth: an OCI layout directory)")
	return cmd
}

func newLoadCommand(c *client) *cobra.Command {
	var input, platform string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fi, statErr := os.Stat(input)
			layoutDir := statErr == nil && fi.IsDir()
			if layoutDir || platform != "" {
				// Beyond Docker's API: the store itself loads these.
				return loadLocal(ctx, cmd, c, input, layoutDir, platform, quiet)
			}
			in := cmd.InOrStdin()
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			} else if isTerminal(in) {
				return errors.New("requested load from stdin, but stdin is empty")
			}
			api, err := c.API(ctx)
			if err != nil {
				return err
			}
			body, err := api.ImageLoad(ctx, in, quiet)
			if err != nil {
				return err
			}
			defer body.Close()
			return showJSONStream(body, cmd.OutOrStdout(), nil)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file (or, berth, an OCI layout directory), instead of STDIN")
	cmd.Flags().StringVar(&platform, "platform", "", "Load only the given platform (os/arch[/variant]) of a multi-platform image")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

// loadLocal loads an OCI layout directory, or one platform of an archive,
// into the local store, saying what it loaded as docker's load does.
func loadLocal(ctx context.Context, cmd *cobra.Command, c *client, input string, layoutDir bool, platform string, quiet bool) error {
	var p ocispec.Platform
	if platform != "" {
		var err error
		if p, err = image.ParsePlatform(platform); err != nil {
			return err
		}
	}
	s, done, err := c.localImages(ctx)
	if err != nil {
		return err
	}
	defer done()
	var recs []image.Record
	if layoutDir {
		recs, err = s.Load(ctx, nil, input, p)
	} else {
		in := cmd.InOrStdin()
		if input != "" {
			f, err := os.Open(input)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		recs, err = s.Load(ctx, in, "", p)
	}
	if err != nil {
		return err
	}
	if quiet {
		return nil
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Name, "sha256:") {
			fmt.Fprintf(cmd.OutOrStdout(), "Loaded image ID: %s\n", r.ID())
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "Loaded image: %s\n", image.Familiar(r.Name))
		}
	}
	return nil
}

func newImportCommand(c *client) *cobra.Command {
	var message string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|-  [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			in := io.NopCloser(cmd.InOrStdin())
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				in = f
			}
			defer in.Close()
			s, done, err := c.localImages(ctx)
			if err != nil {
				return err
			}
			defer done()
			rec, err := s.Import(ctx, in, name, image.ImportOptions{Message: message, Source: args[0]})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), rec.ID())
			return nil
		},
	}
	cmd.Flags().StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	return cmd
}

// newSearchCommand searches a registry from the CLI itself, with berth's
// TAGS column (the API's SearchResult has no tag count).
func newSearchCommand() *cobra.Command {
	var limit int
	var noTrunc bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "search [OPTIONS] TERM",
		Short: "Search Docker Hub (or the registry HOST in HOST/TERM) for images",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, unix.SIGTERM)
			defer stop()
			rc := registry.NewClient(registryOptions()...)
			found, err := engine.Search(ctx, rc, args[0], engine.SearchOptions{Limit: limit, Filters: filters})
			if err != nil {
				return err
			}
			return printSearch(cmd.OutOrStdout(), found, format, !noTrunc)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", engine.DefaultSearchLimit, "Max number of search results")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().StringVar(&format, "format", "", "Pretty-print search using a Go template")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// searchRow is one search result as --format templates see it, the way
// docker shows it: strings, "[OK]" for true.
type searchRow struct {
	e     registry.SearchEntry
	trunc bool
}

func (r searchRow) Name() string { return r.e.Name }

func (r searchRow) Description() string {
	desc := strings.NewReplacer("\n", " ", "\r", " ").Replace(r.e.Description)
	if r.trunc {
		desc = ellipsis(desc, 45)
	}
	return desc
}

func (r searchRow) StarCount() string   { return strconv.Itoa(r.e.StarCount) }
func (r searchRow) TagCount() string    { return strconv.Itoa(r.e.TagCount) }
func (r searchRow) IsOfficial() string  { return okOrEmpty(r.e.IsOfficial) }
func (r searchRow) IsAutomated() string { return okOrEmpty(r.e.IsAutomated) }

func (r searchRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Name": r.Name(), "Description": r.Description(), "StarCount": r.StarCount(),
		"TagCount": r.TagCount(), "IsOfficial": r.IsOfficial(), "IsAutomated": r.IsAutomated(),
	})
}

func okOrEmpty(b bool) string {
	if b {
		return "[OK]"
	}
	return ""
}

// searchHeader names the columns of a table format.
type searchHeader struct{}

func (searchHeader) Name() string        { return "NAME" }
func (searchHeader) Description() string { return "DESCRIPTION" }
func (searchHeader) StarCount() string   { return "STARS" }
func (searchHeader) TagCount() string    { return "TAGS" }
func (searchHeader) IsOfficial() string  { return "OFFICIAL" }
func (searchHeader) IsAutomated() string { return "AUTOMATED" }

// defaultSearchFormat is docker's table with berth's TAGS column.
const defaultSearchFormat = "table {{.Name}}\t{{.Description}}\t{{.TagCount}}\t{{.StarCount}}\t{{.IsOfficial}}"

// printSearch writes results through a Go template: "table ..." formats
// get a header line and aligned columns, others one line per result.
func printSearch(out io.Writer, found []registry.SearchEntry, format string, trunc bool) error {
	if format == "" || format == "table" {
		format = defaultSearchFormat
	}
	body, table := strings.CutPrefix(format, "table")
	if table {
		body = strings.TrimLeft(body, " ")
	}
	body = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(body)
	tmpl, err := template.New("search").Funcs(templateFuncs).Parse(body)
	if err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	w := out
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
		w = tw
		if err := tmpl.Execute(w, searchHeader{}); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		fmt.Fprintln(w)
	}
	for _, e := range found {
		if err := tmpl.Execute(w, searchRow{e: e, trunc: trunc}); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		fmt.Fprintln(w)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}
