package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/progress"
	"github.com/berth-project/berth/registry"
)

// storeFlags are the global flags of the image and container commands.
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

func openImages() (*engine.Images, error) {
	return engine.OpenImages(storeFlags.dataRoot, engine.ImagesOptions{
		Driver:   storeFlags.storageDriver,
		Registry: registryOptions(),
	})
}

// withImages runs fn with the image service open and a context that ends
// on SIGINT or SIGTERM.
func withImages(fn func(ctx context.Context, s *engine.Images) error) error {
	s, err := openImages()
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	return fn(ctx, s)
}

func newImageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images: pull, push, list, remove, tag, inspect, save, load, import",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(pullCmd(), pushCmd(), imageLsCmd(), imageRmCmd(), tagCmd(), imageInspectCmd(), historyCmd(),
		saveCmd(), loadCmd(), importCmd(), pruneCmd())
	return cmd
}

func pullCmd() *cobra.Command {
	var platform string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImages(func(ctx context.Context, s *engine.Images) error {
				_, err := pull(ctx, s, args[0], platform, quiet, cmd.OutOrStdout())
				return err
			})
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "os/arch[/variant] to pull from a multi-platform image")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image name")
	return cmd
}

// pull pulls with docker's output: the tag line, a progress display, the
// digest and the status.
func pull(ctx context.Context, s *engine.Images, name, platform string, quiet bool, out io.Writer) (image.Record, error) {
	ref, err := image.ParseReference(name)
	if err != nil {
		return image.Record{}, err
	}
	var o engine.PullOptions
	if platform != "" {
		if o.Platform, err = image.ParsePlatform(platform); err != nil {
			return image.Record{}, err
		}
	}
	before, _ := s.Records.Get(ctx, ref.String())
	var d *progress.Display
	if !quiet {
		if ref.Digest == "" {
			fmt.Fprintf(out, "%s: Pulling from %s\n", ref.Tag, ref.Path)
		} else {
			fmt.Fprintf(out, "%s: Pulling from %s\n", ref.Digest, ref.Path)
		}
		d = progress.New(out)
		o.Progress = d
	}
	rec, err := s.Pull(ctx, name, o)
	if d != nil {
		d.Close()
	}
	if err != nil {
		return rec, err
	}
	if quiet {
		fmt.Fprintln(out, ref.String())
		return rec, nil
	}
	fmt.Fprintf(out, "Digest: %s\n", rec.Target.Digest)
	if before.Target.Digest == rec.Target.Digest {
		fmt.Fprintf(out, "Status: Image is up to date for %s\n", ref.Familiar())
	} else {
		fmt.Fprintf(out, "Status: Downloaded newer image for %s\n", ref.Familiar())
	}
	fmt.Fprintln(out, ref.String())
	return rec, nil
}

func pushCmd() *cobra.Command {
	var allTags, quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImages(func(ctx context.Context, s *engine.Images) error {
				return push(ctx, s, args[0], allTags, quiet, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	cmd.Flags().BoolVarP(&allTags, "all-tags", "a", false, "push every tag of the repository")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the name pushed")
	return cmd
}

// push pushes with docker's output: the repository line, a progress
// display per tag, and each tag's digest and size.
func push(ctx context.Context, s *engine.Images, name string, allTags, quiet bool, out, errOut io.Writer) error {
	var d *progress.Display
	var said bool
	o := engine.PushOptions{AllTags: allTags}
	o.Progress = func(ref image.Reference) progress.Sink {
		if quiet {
			return nil
		}
		if !said {
			fmt.Fprintf(out, "The push refers to repository [%s]\n", ref.Name())
			said = true
		}
		d = progress.New(out)
		return d
	}
	o.Pushed = func(p engine.PushedImage) {
		if d != nil {
			d.Close()
			d = nil
		}
		w := out
		if quiet {
			w = errOut
		}
		if p.Partial != nil {
			fmt.Fprintf(w, "Not all multiplatform-content is present and only the available single-platform image was pushed\n%s -> %s\n", p.Partial.Digest, p.Digest)
		}
		if !quiet {
			fmt.Fprintf(out, "%s: digest: %s size: %d\n", p.Reference.Tag, p.Digest, p.Size)
		}
	}
	_, err := s.Push(ctx, name, o)
	if d != nil {
		d.Close()
	}
	if err != nil || !quiet {
		return err
	}
	ref, err := image.ParseReference(name)
	if err != nil {
		return err
	}
	if allTags {
		fmt.Fprintln(out, ref.Name())
	} else {
		fmt.Fprintln(out, ref.String())
	}
	return nil
}

func searchCmd() *cobra.Command {
	var limit int
	var noTrunc bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "search [OPTIONS] TERM",
		Short: "Search a registry for images (HOST/TERM searches HOST, TERM Docker Hub)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
			defer stop()
			c := registry.NewClient(registryOptions()...)
			found, err := engine.Search(ctx, c, args[0], engine.SearchOptions{Limit: limit, Filters: filters})
			if err != nil {
				return err
			}
			return printSearch(cmd.OutOrStdout(), found, format, !noTrunc)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", engine.DefaultSearchLimit, "most results to show (1 to 100)")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().StringVar(&format, "format", "", "Go template for each result ('table ...' for columns with headers)")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "keep results that match: stars=N, is-official=true|false, is-automated=true|false")
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
	if rs := []rune(desc); r.trunc && len(rs) > 45 {
		desc = string(rs[:44]) + "…"
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

// searchHeader names the columns of a table format: the same fields,
// rendered as docker's headers.
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
	tmpl, err := template.New("search").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"upper": strings.ToUpper, "lower": strings.ToLower, "join": strings.Join,
	}).Parse(body)
	if err != nil {
		return fmt.Errorf("bad --format: %w", err)
	}
	w := out
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
		w = tw
		if err := tmpl.Execute(w, searchHeader{}); err != nil {
			return fmt.Errorf("bad --format: %w", err)
		}
		fmt.Fprintln(w)
	}
	for _, e := range found {
		if err := tmpl.Execute(w, searchRow{e: e, trunc: trunc}); err != nil {
			return fmt.Errorf("bad --format: %w", err)
		}
		fmt.Fprintln(w)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func imageLsCmd() *cobra.Command {
	var quiet, digests, noTrunc bool
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImages(func(ctx context.Context, s *engine.Images) error {
				recs, err := s.Records.List(ctx)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				seen := map[string]bool{}
				if quiet {
					for _, r := range recs {
						id := shortOrFull(r.ID().String(), noTrunc)
						if !seen[id] {
							seen[id] = true
							fmt.Fprintln(out, id)
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
				if digests {
					fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE")
				} else {
					fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
				}
				for _, r := range recs {
					repo, tag := "<none>", "<none>"
					if r.Named() {
						ref, err := image.ParseReference(r.Name)
						if err != nil {
							continue
						}
						if len(args) == 1 && !matchRepo(ref, args[0]) {
							continue
						}
						repo = ref.FamiliarName()
						if ref.Tag != "" {
							tag = ref.Tag
						}
					} else if len(args) == 1 {
						continue
					}
					created := "N/A"
					if img, err := image.Load(ctx, s.Content, r); err == nil && img.Config().Created != nil {
						created = engine.HumanAgo(*img.Config().Created)
					}
					id := shortOrFull(r.ID().String(), noTrunc)
					if digests {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", repo, tag, r.Target.Digest, id, created, progress.HumanSize(r.Size))
					} else {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, tag, id, created, progress.HumanSize(r.Size))
					}
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&digests, "digests", false, "show digests")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	return cmd
}

func matchRepo(ref image.Reference, pattern string) bool {
	want, err := image.ParseReference(pattern)
	if err != nil {
		return false
	}
	if want.Name() != ref.Name() {
		return false
	}
	return !strings.Contains(pattern, ":") || want.Tag == ref.Tag
}

func shortOrFull(id string, full bool) string {
	if full {
		return id
	}
	return progress.ShortID(id)
}

func imageRmCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] IMAGE [IMAGE...]",
		Aliases: []string{"remove", "rmi"},
		Short:   "Remove one or more images",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImages(func(ctx context.Context, s *engine.Images) error {
				var failed error
				for _, name := range args {
					removed, err := s.Remove(ctx, name, force)
					for _, r := range removed {
						if r.Untagged != "" {
							fmt.Fprintf(cmd.OutOrStdout(), "Untagged: %s\n", r.Untagged)
						}
						if r.Deleted != "" {
							fmt.Fprintf(cmd.OutOrStdout(), "Deleted: %s\n", r.Deleted)
						}
					}
					if err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n", err)
						failed = &exitError{code: 1}
					}
				}
				return failed
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force removal of the image")
	return cmd
}

func tagCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImages(func(ctx context.Context, s *engine.Images) error {
				return s.Tag(ctx, args[0], args[1])
			})
		},
	}
}

func imageInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect IMAGE [IMAGE...]",
		Short: "Show an image's details as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImages(func(ctx context.Context, s *engine.Images) error {
				var out []engine.ImageInspect
				var failed error
				for _, name := range args {
					ins, err := s.Inspect(ctx, name)
					if err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n", err)
						failed = &exitError{code: 1}
						continue
					}
					out = append(out, ins)
				}
				b, _ := json.MarshalIndent(out, "", "    ")
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return failed
			})
		},
	}
}

func historyCmd() *cobra.Command {
	var noTrunc bool
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImages(func(ctx context.Context, s *engine.Images) error {
				img, err := s.Get(ctx, args[0])
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
				fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
				for _, h := range engine.History(img) {
					by := h.CreatedBy
					if r := []rune(by); !noTrunc && len(r) > 45 {
						by = string(r[:44]) + "…"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.ID, h.Created, by, progress.HumanSize(h.Size), h.Comment)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	return cmd
}

func pruneCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove blobs and layers no image or container uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImages(func(ctx context.Context, s *engine.Images) error {
				c, err := s.Prune(ctx)
				if err != nil {
					return err
				}
				for _, d := range c.Digests {
					fmt.Fprintf(cmd.OutOrStdout(), "deleted: %s\n", d)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Total reclaimed space: %s\n", progress.HumanSize(c.Bytes))
				return nil
			})
		},
	}
	cmd.Flags().BoolP("force", "f", false, "do not prompt for confirmation (berth never prompts)")
	return cmd
}

func saveCmd() *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Write images as a tar archive (docker-archive and OCI layout in one), or an OCI layout directory",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withImages(func(ctx context.Context, s *engine.Images) error {
				switch format {
				case "", "docker-archive":
					return writeOutput(output, cmd.OutOrStdout(), func(w io.Writer) error {
						return s.Save(ctx, w, args)
					})
				case "oci-dir":
					if output == "" {
						return fmt.Errorf("--format oci-dir needs -o DIR")
					}
					return s.SaveLayout(ctx, output, args)
				}
				return fmt.Errorf("unknown format %q (docker-archive or oci-dir)", format)
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file (or, for oci-dir, a directory) instead of stdout")
	cmd.Flags().StringVar(&format, "format", "docker-archive", "docker-archive (a tar that is also an OCI layout) or oci-dir")
	return cmd
}

func loadCmd() *cobra.Command {
	var input, platform string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load images from a docker-archive or OCI archive (tar), or an OCI layout directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var p ocispec.Platform
			if platform != "" {
				var err error
				if p, err = image.ParsePlatform(platform); err != nil {
					return err
				}
			}
			return withImages(func(ctx context.Context, s *engine.Images) error {
				var recs []image.Record
				var err error
				if fi, serr := os.Stat(input); serr == nil && fi.IsDir() {
					recs, err = s.Load(ctx, nil, input, p)
				} else {
					var in io.ReadCloser
					if in, err = openInput(input); err != nil {
						return err
					}
					defer in.Close()
					recs, err = s.Load(ctx, in, "", p)
				}
				if err != nil {
					return err
				}
				if !quiet {
					for _, r := range recs {
						if strings.HasPrefix(r.Name, "sha256:") {
							fmt.Fprintf(cmd.OutOrStdout(), "Loaded image ID: %s\n", r.ID())
						} else {
							fmt.Fprintf(cmd.OutOrStdout(), "Loaded image: %s\n", image.Familiar(r.Name))
						}
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "-", "read from a tar file or OCI layout directory instead of stdin")
	cmd.Flags().StringVar(&platform, "platform", "", "os/arch[/variant] to load from a multi-platform image")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing")
	return cmd
}

func importCmd() *cobra.Command {
	var message string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] FILE|- [REPOSITORY[:TAG]]",
		Short: "Make an image from a root filesystem tar",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			in, err := openInput(args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			return withImages(func(ctx context.Context, s *engine.Images) error {
				rec, err := s.Import(ctx, in, name, image.ImportOptions{Message: message, Source: args[0]})
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), rec.ID())
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message for the imported image")
	return cmd
}

// openInput opens a file argument, "-" being stdin.
func openInput(p string) (io.ReadCloser, error) {
	if p == "-" || p == "" {
		return io.NopCloser(os.Stdin), nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return f, nil
}
