package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/build"
	"github.com/berth-project/berth/engine"
)

// This file is `berth build` (and `berth image build`, `berth builder
// build`) and `berth builder prune`: docker's classic builder CLI over
// engine.API's ImageBuild and BuildCachePrune. (`berth commit` is
// commit.go.)

// addBuildCommands puts the build commands on root: build and builder at
// the top, build under image.
func addBuildCommands(root *cobra.Command, c *client) {
	root.AddCommand(newBuildCommand(c), newBuilderCommand(c))
	for _, g := range root.Commands() {
		if g.Name() == "image" {
			g.AddCommand(newBuildCommand(c))
		}
	}
}

// buildFlags are `berth build`'s options.
type buildFlags struct {
	tags       []string
	dockerfile string
	buildArgs  []string
	labels     []string
	target     string
	noCache    bool
	pull       bool
	quiet      bool
	network    string
	platform   string
	rm         bool
	forceRm    bool
	addHosts   []string
	shmSize    bytesValue
	cacheFrom  []string
	iidfile    string
}

func newBuildCommand(c *client) *cobra.Command {
	var o buildFlags
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | URL | -",
		Short: "Build an image from a Dockerfile",
		Args:  exactArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return runBuild(ctx, cmd, api, args[0], &o)
		}),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.tags, "tag", "t", nil, `Name and optionally a tag in the "name:tag" format`)
	f.StringVarP(&o.dockerfile, "file", "f", "", `Name of the Dockerfile (Default is "PATH/Dockerfile")`)
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "Set build-time variables")
	f.StringArrayVar(&o.labels, "label", nil, "Set metadata for an image")
	f.StringVar(&o.target, "target", "", "Set the target build stage to build.")
	f.BoolVar(&o.noCache, "no-cache", false, "Do not use cache when building the image")
	f.BoolVar(&o.pull, "pull", false, "Always attempt to pull a newer version of the image")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	f.StringVar(&o.network, "network", "default", "Set the networking mode for the RUN instructions during build")
	f.StringVar(&o.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	f.BoolVar(&o.rm, "rm", true, "Remove intermediate containers after a successful build")
	f.BoolVar(&o.forceRm, "force-rm", false, "Always remove intermediate containers")
	f.StringArrayVar(&o.addHosts, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	f.Var(&o.shmSize, "shm-size", "Size of /dev/shm")
	f.StringArrayVar(&o.cacheFrom, "cache-from", nil, "Images to consider as cache sources")
	f.StringVar(&o.iidfile, "iidfile", "", "Write the image ID to the file")
	// Accepted as docker's CLI accepts them; they change nothing here.
	var isolation string
	var compress, disableTrust bool
	f.StringVar(&isolation, "isolation", "", "Container isolation technology")
	f.BoolVar(&compress, "compress", false, "Compress the build context using gzip")
	f.BoolVar(&disableTrust, "disable-content-trust", true, "Skip image verification")
	for _, n := range []string{"isolation", "compress", "disable-content-trust"} {
		f.MarkHidden(n)
	}
	return cmd
}

// buildArgsMap is docker's --build-arg: K=V, or K alone taking K's value
// from the environment (nil when it is unset there).
func buildArgsMap(values []string) (map[string]*string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := map[string]*string{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid argument %q for \"--build-arg\" flag: invalid environment variable: %s", v, v)
		}
		if !ok {
			if env, set := os.LookupEnv(k); set {
				val, ok = env, true
			}
		}
		if ok {
			m[k] = &val
		} else {
			m[k] = nil
		}
	}
	return m, nil
}

// labelsMap is docker's --label: K=V, or K with an empty value.
func labelsMap(values []string) map[string]string {
	if len(values) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, v := range values {
		k, val, _ := strings.Cut(v, "=")
		m[k] = val
	}
	return m
}

func runBuild(ctx context.Context, cmd *cobra.Command, api engine.API, contextArg string, o *buildFlags) error {
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	args, err := buildArgsMap(o.buildArgs)
	if err != nil {
		return &statusError{code: 125, msg: err.Error()}
	}
	opts := engine.BuildOptions{
		Tags:        o.tags,
		Dockerfile:  o.dockerfile,
		BuildArgs:   args,
		Labels:      labelsMap(o.labels),
		Target:      o.target,
		NoCache:     o.noCache,
		Pull:        o.pull,
		Quiet:       o.quiet,
		Remove:      o.rm,
		ForceRemove: o.forceRm,
		NetworkMode: o.network,
		Platform:    o.platform,
		ExtraHosts:  o.addHosts,
		ShmSize:     o.shmSize.n,
		CacheFrom:   o.cacheFrom,
	}

	var body io.Reader
	switch {
	case contextArg == "-":
		if o.dockerfile == "-" {
			return errors.New("invalid argument: can't use stdin for both build context and dockerfile")
		}
		// A tar or a bare Dockerfile: the daemon tells them apart.
		body = cmd.InOrStdin()
	case strings.HasPrefix(contextArg, "http://") || strings.HasPrefix(contextArg, "https://") || strings.HasPrefix(contextArg, "git@") || strings.HasPrefix(contextArg, "github.com/"):
		return fmt.Errorf("unable to prepare context: remote contexts (%s) are not supported", contextArg)
	default:
		dockerfile := o.dockerfile
		if dockerfile == "-" {
			// The Dockerfile comes on stdin, the context from the directory.
			tmp, err := os.MkdirTemp("", "berth-dockerfile")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			b, err := io.ReadAll(cmd.InOrStdin())
			if err != nil {
				return fmt.Errorf("read the Dockerfile from stdin: %w", err)
			}
			dockerfile = filepath.Join(tmp, "Dockerfile")
			if err := os.WriteFile(dockerfile, b, 0o644); err != nil {
				return err
			}
		}
		rc, name, err := build.TarContext(contextArg, dockerfile)
		if err != nil {
			return stripKind(err)
		}
		defer rc.Close()
		body, opts.Dockerfile = rc, name
	}

	// The context's size as docker's CLI shows it while sending.
	var progBuf bytes.Buffer
	progOut := out
	if o.quiet {
		progOut = &progBuf
	}
	sender := &contextSender{r: body, out: progOut, terminal: isTerminal(out)}
	resp, err := api.ImageBuild(ctx, sender, opts)
	if err != nil {
		sender.finish()
		if o.quiet {
			io.Copy(stderr, &progBuf)
		}
		return err
	}
	defer resp.Close()

	var buildBuf bytes.Buffer
	buildOut := out
	if o.quiet {
		buildOut = &buildBuf
	}
	var imageID string
	err = showBuildStream(resp, buildOut, sender.finish, func(raw json.RawMessage) {
		var aux struct{ ID string }
		if json.Unmarshal(raw, &aux) == nil && aux.ID != "" {
			imageID = aux.ID
		}
	})
	if err != nil {
		var se *statusError
		if o.quiet && errors.As(err, &se) {
			fmt.Fprintf(stderr, "%s%s", progBuf.String(), buildBuf.String())
		}
		return err
	}
	if o.quiet {
		if s := buildBuf.String(); s != "" {
			io.WriteString(out, s)
		} else if imageID != "" {
			fmt.Fprintln(out, imageID)
		}
	}
	if o.iidfile != "" && imageID != "" {
		if err := os.WriteFile(o.iidfile, []byte(imageID), 0o666); err != nil {
			return fmt.Errorf("write image ID to %s: %w", o.iidfile, err)
		}
	}
	return nil
}

// stripKind turns an engine error made on this side (reading the
// context) into a plain one: it is not the daemon's.
func stripKind(err error) error { return errors.New(err.Error()) }

// contextSender counts the context as it is read and prints docker's
// "Sending build context to Docker daemon  2.048kB" (the size
// right-aligned in 8 columns): redrawn on a
// terminal, once (when sending is done or the first reply arrives)
// elsewhere.
type contextSender struct {
	r        io.Reader
	out      io.Writer
	terminal bool

	mu    sync.Mutex
	n     int64
	last  int64
	done  bool
	shown bool
}

const sendingContext = "Sending build context to Docker daemon"

func (s *contextSender) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n += int64(n)
	if s.terminal && !s.done && s.n-s.last >= 512<<10 {
		s.last = s.n
		fmt.Fprintf(s.out, "%s %8v\r", sendingContext, humanSize4(s.n))
	}
	if err == io.EOF {
		s.finishLocked()
	}
	return n, err
}

// finish prints the final size (once).
func (s *contextSender) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked()
}

func (s *contextSender) finishLocked() {
	if s.done {
		return
	}
	s.done = true
	fmt.Fprintf(s.out, "%s %8v\n", sendingContext, humanSize4(s.n))
}

// showBuildStream renders a build's stream as docker's CLI does: text as
// it comes, pull progress of FROM images, aux values to aux. An error line
// ends it as a statusError with the line's code (1 when it has none), as
// docker's CLI exits. first runs before anything is printed.
func showBuildStream(r io.Reader, out io.Writer, first func(), aux func(json.RawMessage)) error {
	return renderJSONStream(r, out, jsonRender{first: first, aux: aux, what: "build output",
		fail: func(e *jsonstream.Error) error {
			code := e.Code
			if code == 0 {
				code = 1
			}
			return &statusError{code: code, msg: e.Message}
		}})
}

func newBuilderCommand(c *client) *cobra.Command {
	cmd := groupCommand("builder", "Manage builds")
	cmd.AddCommand(newBuildCommandAlias(c), newBuilderPruneCommand(c))
	return cmd
}

// newBuildCommandAlias is `berth builder build`, as docker has it.
func newBuildCommandAlias(c *client) *cobra.Command { return newBuildCommand(c) }

func newBuilderPruneCommand(c *client) *cobra.Command {
	var all, force bool
	var filters []string
	var keep bytesValue
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			warning := "WARNING! This will remove all dangling build cache."
			if all {
				warning = "WARNING! This will remove all build cache."
			}
			out := cmd.OutOrStdout()
			if !force && !confirm(cmd.InOrStdin(), out, warning) {
				return nil
			}
			report, err := api.BuildCachePrune(ctx, engine.BuildCachePruneOptions{All: all, Filters: f, KeepStorage: keep.n})
			if err != nil {
				return err
			}
			if len(report.CachesDeleted) > 0 {
				deleted := append([]string(nil), report.CachesDeleted...)
				sort.Strings(deleted)
				fmt.Fprintln(out, "Deleted build cache objects:")
				for _, id := range deleted {
					fmt.Fprintln(out, id)
				}
				fmt.Fprintln(out)
			}
			fmt.Fprintln(out, "Total reclaimed space:", humanSize4(int64(report.SpaceReclaimed)))
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	f.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	f.StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=24h")`)
	f.Var(&keep, "keep-storage", "Amount of disk space to keep for cache")
	return cmd
}
