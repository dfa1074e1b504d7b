package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"

	berthimage "github.com/berth-project/berth/image"
	"github.com/berth-project/berth/snapshot"
)

// The Engine API versions berth serves: APIVersion is the one it speaks
// and answers /_ping with; a client may ask for any from MinAPIVersion up.
const (
	APIVersion    = "1.50"
	MinAPIVersion = "1.24"
)

// BuildInfo is what `version` says about the berth binary. It is read
// from the Go build information (the module version, and the VCS
// revision and time that `go build` stamps in a git checkout); a release
// build may set the variables of this package with -ldflags -X instead.
type BuildInfo struct {
	Version   string
	GitCommit string
	BuildTime string
	GoVersion string
}

// Set with -ldflags "-X github.com/berth-project/berth/engine.version=..."
// (and gitCommit, buildTime) to override what the build information says.
var version, gitCommit, buildTime string

var buildInfoOnce = sync.OnceValue(func() BuildInfo {
	b := BuildInfo{Version: "dev", GoVersion: goruntime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			b.Version = strings.TrimPrefix(v, "v")
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.GitCommit = s.Value
				if len(b.GitCommit) > 7 {
					b.GitCommit = b.GitCommit[:7]
				}
			case "vcs.time":
				b.BuildTime = s.Value
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	if gitCommit != "" {
		b.GitCommit = gitCommit
	}
	if buildTime != "" {
		b.BuildTime = buildTime
	}
	return b
})

// Build describes the running berth binary.
func Build() BuildInfo { return buildInfoOnce() }

// Ping answers /_ping.
func (e *Engine) Ping(ctx context.Context) (Ping, error) {
	return Ping{APIVersion: APIVersion, OSType: goruntime.GOOS}, nil
}

// Version answers `docker version`'s question about the server.
func (e *Engine) Version(ctx context.Context) (system.VersionResponse, error) {
	b := Build()
	host := readHost()
	return system.VersionResponse{
		Platform: system.PlatformInfo{Name: "berth"},
		Components: []system.ComponentVersion{{
			Name:    "Engine",
			Version: b.Version,
			Details: map[string]string{
				"ApiVersion":    APIVersion,
				"MinAPIVersion": MinAPIVersion,
				"GitCommit":     b.GitCommit,
				"GoVersion":     b.GoVersion,
				"Os":            goruntime.GOOS,
				"Arch":          goruntime.GOARCH,
				"KernelVersion": host.kernel,
				"BuildTime":     b.BuildTime,
				"Experimental":  "false",
			},
		}},
		Version:       b.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		GitCommit:     b.GitCommit,
		GoVersion:     b.GoVersion,
		Os:            goruntime.GOOS,
		Arch:          goruntime.GOARCH,
		KernelVersion: host.kernel,
		BuildTime:     b.BuildTime,
	}, nil
}

// dataRoot is the engine's data root: Options.Root, else the image
// service's (an engine put together without Open).
func (e *Engine) dataRoot() string {
	if e.opts.Root != "" {
		return e.opts.Root
	}
	if e.Images != nil {
		return e.Images.Root
	}
	return DefaultRoot
}

// engineID returns the engine's ID, made (a random UUID) and kept in the
// data root the first time it is asked for: `docker info` shows it, and
// it must not change across restarts.
func (e *Engine) engineID() (string, error) {
	path := filepath.Join(e.dataRoot(), "engine-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read engine ID: %w", err)
	}
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	id := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
	if err := os.MkdirAll(e.dataRoot(), 0o700); err != nil {
		return "", fmt.Errorf("save engine ID: %w", err)
	}
	// Two engines starting at once on a fresh root: the first to link its
	// file in wins, and both return what is in the file then.
	tmp, err := os.CreateTemp(e.dataRoot(), ".engine-id.*")
	if err != nil {
		return "", fmt.Errorf("save engine ID: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(id + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("save engine ID: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("save engine ID: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read engine ID: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// containerSummaries lists every container, for the counts and usage of
// info, df and the image endpoints.
func (e *Engine) containerSummaries(ctx context.Context, size bool) ([]container.Summary, error) {
	return e.ContainerList(ctx, ListOptions{All: true, Size: size})
}

// Info answers `docker info`.
func (e *Engine) Info(ctx context.Context) (system.Info, error) {
	id, err := e.engineID()
	if err != nil {
		return system.Info{}, err
	}
	ctrs, err := e.containerSummaries(ctx, false)
	if err != nil {
		return system.Info{}, err
	}
	imgs, err := e.imageGroups(ctx)
	if err != nil {
		return system.Info{}, err
	}
	b := Build()
	host := readHost()
	name, _ := os.Hostname()
	logDriver := e.opts.LogConfig.Type
	if logDriver == "" {
		logDriver = "json-file"
	}
	self := e.opts.Self
	if self == "" {
		self, _ = os.Executable()
	}
	info := system.Info{
		ID:     id,
		Images: len(imgs),
		Driver: e.Images.Driver,
		Plugins: system.PluginsInfo{
			Volume:  []string{},
			Network: []string{},
			Log:     []string{"json-file"},
		},
		NFd:                countFDs(),
		NGoroutines:        goruntime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      logDriver,
		CgroupDriver:       "cgroupfs",
		KernelVersion:      host.kernel,
		OperatingSystem:    host.osName,
		OSVersion:          host.osVersion,
		OSType:             goruntime.GOOS,
		Architecture:       host.machine,
		IndexServerAddress: "https://index.docker.io/v1/",
		NCPU:               goruntime.NumCPU(),
		MemTotal:           host.memTotal,
		DockerRootDir:      e.dataRoot(),
		HTTPProxy:          proxyEnv("HTTP_PROXY"),
		HTTPSProxy:         proxyEnv("HTTPS_PROXY"),
		NoProxy:            proxyEnv("NO_PROXY"),
		Name:               name,
		Labels:             []string{},
		ServerVersion:      b.Version,
		Runtimes: map[string]system.RuntimeWithStatus{
			"berth": {Runtime: system.Runtime{Path: self}},
		},
		DefaultRuntime: "berth",
		// Containers run under their own monitors and are adopted again
		// by the next daemon: live restore is how berth always works.
		LiveRestoreEnabled: true,
		InitBinary:         "berth",
		RuncCommit:         system.Commit{ID: b.GitCommit},
		InitCommit:         system.Commit{ID: b.GitCommit},
		CDISpecDirs:        []string{},
		Warnings:           []string{},
	}
	for _, c := range ctrs {
		info.Containers++
		switch c.State {
		case container.StateRunning, container.StateRestarting:
			info.ContainersRunning++
		case container.StatePaused:
			info.ContainersPaused++
		default:
			info.ContainersStopped++
		}
	}
	fillHostInfo(&info, e.dataRoot())
	info.SecurityOptions = append(info.SecurityOptions, e.securityInfo()...)
	return info, nil
}

func proxyEnv(name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return os.Getenv(strings.ToLower(name))
}

// DiskUsage answers `docker system df`: the images with the space they
// take and share, the containers with the space their own changes take,
// the volumes with their size and users. The build cache comes with the
// issue that brings it.
func (e *Engine) DiskUsage(ctx context.Context) (system.DiskUsage, error) {
	ctrs, err := e.containerSummaries(ctx, true)
	if err != nil {
		return system.DiskUsage{}, err
	}
	groups, err := e.imageGroups(ctx)
	if err != nil {
		return system.DiskUsage{}, err
	}
	users := map[string]int64{} // image ID -> containers using it
	for _, c := range ctrs {
		users[c.ImageID]++
	}
	layers := e.layerSizes(ctx, groups)
	// How many images each layer (by chain ID) belongs to.
	holders := map[string]int{}
	for _, g := range groups {
		for _, ch := range g.chain {
			holders[ch]++
		}
	}
	iu := &image.DiskUsage{Items: []image.Summary{}}
	counted := map[string]bool{}
	activeLayers := map[string]bool{}
	for _, g := range groups {
		s := g.summary()
		s.Containers = users[s.ID]
		s.SharedSize = 0
		for _, ch := range g.chain {
			if holders[ch] > 1 {
				s.SharedSize += layers[ch]
			}
			if !counted[ch] {
				counted[ch] = true
				iu.TotalSize += layers[ch]
			}
			if s.Containers > 0 {
				activeLayers[ch] = true
			}
		}
		if s.Containers > 0 {
			iu.ActiveCount++
		}
		iu.Items = append(iu.Items, s)
	}
	iu.TotalCount = int64(len(iu.Items))
	iu.Reclaimable = iu.TotalSize
	for ch := range activeLayers {
		iu.Reclaimable -= layers[ch]
	}
	cu := &container.DiskUsage{Items: ctrs}
	if cu.Items == nil {
		cu.Items = []container.Summary{}
	}
	for _, c := range ctrs {
		cu.TotalCount++
		cu.TotalSize += c.SizeRw
		if c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting {
			cu.ActiveCount++
		} else {
			cu.Reclaimable += c.SizeRw
		}
	}
	recs, err := e.records()
	if err != nil {
		return system.DiskUsage{}, err
	}
	vu, err := e.volumeDiskUsage(recs)
	if err != nil {
		return system.DiskUsage{}, err
	}
	return system.DiskUsage{
		ImageUsage:      iu,
		ContainerUsage:  cu,
		VolumeUsage:     vu,
		BuildCacheUsage: e.buildCacheUsage(ctx),
	}, nil
}

// layerSizes measures, for each layer snapshot (by chain ID) of the
// images, the disk space it adds over its parent.
func (e *Engine) layerSizes(ctx context.Context, groups []*imageGroup) map[string]int64 {
	out := map[string]int64{}
	usager, ok := e.Images.Snapshots.(snapshot.Usager)
	for _, g := range groups {
		var below int64
		for _, ch := range g.chain {
			if _, done := out[ch]; done {
				below = cumulative(out, g.chain, ch)
				continue
			}
			var n int64
			if ok {
				if us, err := usager.Usage(ctx, ch); err == nil {
					n = us.Size
				}
			}
			if e.Images.Driver == "copy" {
				// A copied snapshot holds its parents' files too.
				n = max(n-below, 0)
			}
			out[ch] = n
			below += n
		}
	}
	return out
}

// cumulative is the size of the layers of chain up to and including ch.
func cumulative(sizes map[string]int64, chain []string, ch string) int64 {
	var n int64
	for _, c := range chain {
		n += sizes[c]
		if c == ch {
			break
		}
	}
	return n
}

// imageGroup is one image (config digest) with every record naming it.
type imageGroup struct {
	id      string
	records []berthimage.Record
	img     *berthimage.Image
	chain   []string // chain IDs of its layers, bottom up
	tags    []string
	digests []string
}

// sortGroups orders images newest first, as docker lists them.
func sortGroups(gs []*imageGroup) {
	sort.SliceStable(gs, func(i, j int) bool {
		return created(gs[i]).After(created(gs[j]))
	})
}

func created(g *imageGroup) time.Time {
	if c := g.img.Config().Created; c != nil {
		return *c
	}
	return time.Time{}
}

// buildCacheUsage is the build cache part of DiskUsage: a classic
// builder's record per cache entry, with the totals.
func (e *Engine) buildCacheUsage(ctx context.Context) *build.DiskUsage {
	out := &build.DiskUsage{Items: []build.CacheRecord{}}
	ents, err := e.BuildCacheList(ctx)
	if err != nil {
		return out
	}
	for _, ent := range ents {
		created := ent.Created
		out.Items = append(out.Items, build.CacheRecord{
			ID: ent.Key, Type: "regular", Description: ent.Description, InUse: ent.InUse,
			Shared: ent.Size == 0, Size: ent.Size, CreatedAt: created, LastUsedAt: &created, UsageCount: 1,
		})
		out.TotalCount++
		out.TotalSize += ent.Size
		if ent.InUse {
			out.ActiveCount++
		} else {
			out.Reclaimable += ent.Size
		}
	}
	return out
}
