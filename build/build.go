package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/shell"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/build"
	"github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
)

// Backend is what a build needs of the engine: the API (RUN steps run as
// the engine's containers) and the build primitives of
// engine/build_backend.go. *engine.Engine satisfies it.
type Backend interface {
	engine.API
	BuildBase(ctx context.Context, ref string, o engine.BuildBaseOptions) (engine.BuildImage, error)
	BuildImageByID(ctx context.Context, id digest.Digest) (engine.BuildImage, error)
	BuildCommit(ctx context.Context, parent engine.BuildImage, cfg dockerspec.DockerOCIImage, src engine.LayerSource, o engine.BuildCommitOptions) (engine.BuildImage, error)
	BuildCacheGet(ctx context.Context, key string) (engine.BuildImage, bool, error)
	BuildName(ctx context.Context, img engine.BuildImage, tags []string) error
	BuildMount(ctx context.Context, img engine.BuildImage) (root string, release func(), err error)
	BuildCacheList(ctx context.Context) ([]engine.BuildCacheEntry, error)
	BuildCacheRemove(ctx context.Context, keys []string) (int64, error)
	// BuildLease pins every image the primitives return under the
	// context it gives until release, so that a prune during the build
	// cannot collect what the build holds.
	BuildLease(ctx context.Context) (context.Context, func())
}

var _ Backend = (*engine.Engine)(nil)

// Builder builds on a Backend; it is the engine's engine.Builder.
type Builder struct {
	b Backend
	// TempDir holds extracted contexts; os.TempDir() when empty.
	TempDir string
}

var _ engine.Builder = (*Builder)(nil)

// New makes the Builder of an engine (cmd/berth passes it as
// engine.Options.Builder).
func New(e *engine.Engine) engine.Builder { return &Builder{b: e, TempDir: e.BuildTempDir()} }

// NewOn makes a Builder on any Backend (tests).
func NewOn(b Backend, tempDir string) *Builder { return &Builder{b: b, TempDir: tempDir} }

// Build runs a build: see engine.Builder.
func (bd *Builder) Build(ctx context.Context, buildContext io.Reader, o engine.BuildOptions, out engine.BuildOutput) error {
	if o.Remote != "" {
		return engine.Errorf(engine.KindNotImplemented, "builds from a remote context are not supported")
	}
	tags, err := normalizeTags(o.Tags)
	if err != nil {
		return err
	}
	ctx, release := bd.b.BuildLease(ctx)
	defer release()
	var quiet *quietOutput
	if o.Quiet {
		quiet = &quietOutput{out: out}
		out = quiet
	}
	tmp := bd.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("build: temp dir %s: %w", tmp, err)
	}
	bctx, err := OpenContext(ctx, buildContext, tmp, o.Dockerfile)
	if err != nil {
		return err
	}
	defer bctx.Close()
	img, err := bd.build(ctx, bctx, o, out)
	if err != nil {
		if quiet != nil {
			quiet.flush()
		}
		return err
	}
	out.Stream(fmt.Sprintf("Successfully built %s\n", shortID(img.ID)))
	if err := bd.b.BuildName(ctx, img, tags); err != nil {
		return err
	}
	for _, t := range tags {
		out.Stream(fmt.Sprintf("Successfully tagged %s\n", t))
	}
	if quiet != nil {
		quiet.out.Stream(img.ID.String() + "\n")
	}
	return nil
}

func (bd *Builder) build(ctx context.Context, bctx *Context, o engine.BuildOptions, out engine.BuildOutput) (engine.BuildImage, error) {
	df, err := bctx.Dockerfile()
	if err != nil {
		return engine.BuildImage{}, err
	}
	if len(df) == 0 {
		return engine.BuildImage{}, engine.Errorf(engine.KindInvalid, "the Dockerfile (%s) cannot be empty", bctx.DockerfileName())
	}
	res, stages, metaArgs, err := parseDockerfile(df)
	if err != nil {
		return engine.BuildImage{}, err
	}
	if stages, err = selectStages(stages, o.Target, o.Labels); err != nil {
		return engine.BuildImage{}, err
	}
	var warn strings.Builder
	res.PrintWarnings(&warn)
	if warn.Len() > 0 {
		out.Stream(warn.String())
	}
	j := &job{b: bd.b, o: o, out: out, context: bctx, lex: shell.NewLex(res.EscapeToken), args: newBuildArgs(o.BuildArgs)}
	img, err := j.run(ctx, stages, metaArgs)
	if err != nil {
		var se *stepError
		// Name the Dockerfile as given (-f app.Dockerfile), but not by
		// the random name a Dockerfile from outside the context is sent as.
		if errors.As(err, &se) && !strings.HasPrefix(path.Base(bctx.DockerfileName()), ".dockerfile.") {
			se.file = bctx.DockerfileName()
		}
		return engine.BuildImage{}, err
	}
	if img.ID == "" {
		return engine.BuildImage{}, engine.Errorf(engine.KindInvalid, "No image was generated. Is your Dockerfile empty?")
	}
	return img, nil
}

// normalizeTags checks -t names before anything is built and gives them
// as docker prints them ("foo:latest").
func normalizeTags(tags []string) ([]string, error) {
	var out []string
	for _, t := range tags {
		ref, err := image.ParseReference(t)
		if err != nil {
			return nil, engine.Errorf(engine.KindInvalid, "invalid tag %q: %v", t, err)
		}
		if ref.Digest != "" {
			return nil, engine.Errorf(engine.KindInvalid, "build tag cannot contain a digest")
		}
		out = append(out, ref.Familiar())
	}
	return out, nil
}

// quietOutput is the output of build -q: the steps are kept (shown only
// when the build fails), the image ID is what is printed.
type quietOutput struct {
	out engine.BuildOutput
	buf strings.Builder
	mu  sync.Mutex
}

func (q *quietOutput) Stream(text string) {
	q.mu.Lock()
	q.buf.WriteString(text)
	q.mu.Unlock()
}
func (q *quietOutput) Aux(v any)                                      { q.out.Aux(v) }
func (q *quietOutput) Update(id, status string, current, total int64) {}
func (q *quietOutput) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.buf.Len() > 0 {
		q.out.Stream(q.buf.String())
	}
}

// PruneCache removes build cache entries: without o.All only those no
// tagged image or container uses; with until, only those older.
func (bd *Builder) PruneCache(ctx context.Context, o engine.BuildCachePruneOptions) (build.CachePruneReport, error) {
	entries, err := bd.b.BuildCacheList(ctx)
	if err != nil {
		return build.CachePruneReport{}, err
	}
	keys, err := pruneSelect(entries, o, time.Now())
	if err != nil {
		return build.CachePruneReport{}, err
	}
	if len(keys) == 0 {
		return build.CachePruneReport{}, nil
	}
	n, err := bd.b.BuildCacheRemove(ctx, keys)
	if err != nil {
		return build.CachePruneReport{}, err
	}
	return build.CachePruneReport{CachesDeleted: keys, SpaceReclaimed: uint64(max(n, 0))}, nil
}

// pruneSelect picks the entries a prune removes: all with o.All, else
// those not in use; "until" keeps those newer; "id" picks by key (or a
// prefix of it); KeepStorage keeps the newest up to that many bytes.
func pruneSelect(entries []engine.BuildCacheEntry, o engine.BuildCachePruneOptions, now time.Time) ([]string, error) {
	var until time.Time
	for k, vs := range o.Filters {
		switch k {
		case "until":
			for _, v := range vs {
				t, err := parseUntil(v, now)
				if err != nil {
					return nil, engine.Errorf(engine.KindInvalid, "invalid filter 'until=%s': %v", v, err)
				}
				until = t
			}
		case "id", "unused-for", "type", "description":
		default:
			return nil, engine.Errorf(engine.KindInvalid, "invalid filter '%s'", k)
		}
	}
	ids := o.Filters["id"]
	entries = slices.Clone(entries)
	// newest first: KeepStorage keeps from the newest
	slices.SortFunc(entries, func(a, b engine.BuildCacheEntry) int { return b.Created.Compare(a.Created) })
	var keys []string
	var kept int64
	for _, e := range entries {
		if !o.All && e.InUse {
			continue
		}
		if !until.IsZero() && !e.Created.Before(until) {
			continue
		}
		if len(ids) > 0 && !slices.ContainsFunc(ids, func(id string) bool { return id != "" && strings.HasPrefix(e.Key, id) }) {
			continue
		}
		if o.KeepStorage > 0 && kept+e.Size <= o.KeepStorage {
			kept += e.Size
			continue
		}
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	return keys, nil
}

// parseUntil reads docker's until: a Go duration (that long ago), a unix
// time (seconds, with optional fraction) or an RFC 3339 time.
func parseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a duration or a time")
}
