package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/mount"
	"github.com/berth-project/berth/snapshot"
)

// ContainerCreate makes a container: checks the request as docker does,
// prepares its snapshot on the image, writes its bundle (config.json and
// the rootfs mountpoint) under Root/containers/ID and records it. A
// failure leaves nothing: no record, name, snapshot, mount or directory.
func (e *Engine) ContainerCreate(ctx context.Context, name string, req CreateRequest) (container.CreateResponse, error) {
	r, err := e.newRecord(ctx, name, req.CreateRequest)
	if err != nil {
		return container.CreateResponse{}, err
	}
	if err := e.resolveSecrets(ctx, r, req.Secrets, req.Configs); err != nil {
		return container.CreateResponse{}, err
	}
	img, err := e.Images.Get(ctx, r.ImageID)
	if err != nil {
		return container.CreateResponse{}, err
	}
	if err := e.ensureUnpacked(ctx, img); err != nil {
		return container.CreateResponse{}, fmt.Errorf("create container: unpack image %s: %w", r.Image, err)
	}
	done := false
	defer func() {
		if !done {
			e.dropFiles(context.WithoutCancel(ctx), r)
		}
	}()
	if err := os.MkdirAll(r.rootfsDir(), 0o700); err != nil {
		return container.CreateResponse{}, fmt.Errorf("create container %s: %w", r.ID, err)
	}
	ms, err := e.Images.Snapshots.Prepare(ctx, r.ID, img.ChainID().String())
	if err != nil {
		return container.CreateResponse{}, fmt.Errorf("create container %s: prepare its filesystem: %w", r.ID, err)
	}
	if err := mount.All(ms, r.rootfsDir()); err != nil {
		return container.CreateResponse{}, fmt.Errorf("create container %s: mount its filesystem: %w", r.ID, err)
	}
	if err := e.remapRootfs(r); err != nil {
		return container.CreateResponse{}, err
	}
	// The container's mounts: volumes named or anonymous (the image's
	// VOLUMEs) are created here, and undone if the create fails.
	err = e.createMounts(ctx, r, img)
	if err == nil {
		defer func() {
			if !done {
				e.dropCreatedVolumes(context.WithoutCancel(ctx), r)
			}
		}()
		err = e.writeSpec(r)
	}
	if uerr := mount.Unmount(r.rootfsDir()); err == nil && uerr != nil {
		err = fmt.Errorf("create container %s: %w", r.ID, uerr)
	}
	if err != nil {
		return container.CreateResponse{}, err
	}
	err = e.core.store.update(func(tx *bolt.Tx) error {
		if id := nameOwner(tx, r.Name); id != "" {
			return nameConflict(r.Name, id)
		}
		return putRecord(tx, r)
	})
	if err != nil {
		return container.CreateResponse{}, err
	}
	done = true
	e.emit(events.ContainerEventType, events.ActionCreate, r.ID, r.attrs())
	return container.CreateResponse{ID: r.ID, Warnings: r.warnings}, nil
}

// newRecord checks a create request and makes the record of the container
// it describes: nothing is written yet.
func (e *Engine) newRecord(ctx context.Context, name string, req container.CreateRequest) (*ctrRecord, error) {
	if req.Config == nil {
		return nil, Invalid("config cannot be empty in order to create a container")
	}
	cfg := *req.Config
	cfg.Env = slices.Clone(cfg.Env)
	hc := new(container.HostConfig)
	if req.HostConfig != nil {
		*hc = *req.HostConfig
	}
	r := &ctrRecord{ID: newID(), Created: time.Now().UTC(), Config: &cfg, HostConfig: hc, Driver: e.Images.Driver}
	r.Dir = filepath.Join(e.opts.Root, "containers", r.ID)
	r.MonitorDir = filepath.Join(e.opts.ExecRoot, r.ID)
	r.State.Status = container.StateCreated

	if name != "" {
		n, err := checkName(name)
		if err != nil {
			return nil, err
		}
		r.Name = n
	}
	if hc.RestartPolicy.Name == "" {
		hc.RestartPolicy.Name = container.RestartPolicyDisabled
	}
	if err := container.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
		return nil, Invalid("%v", err)
	}
	if hc.AutoRemove && !hc.RestartPolicy.IsNone() {
		return nil, Invalid("can't create 'AutoRemove' container with restart policy")
	}
	if hc.NetworkMode == "" || hc.NetworkMode == "default" {
		hc.NetworkMode = "bridge"
	}
	logs, err := resolveLogConfig(hc.LogConfig, e.opts.LogConfig)
	if err != nil {
		return nil, err
	}
	hc.LogConfig = logs.Config
	if logs.Config.Type == "json-file" {
		r.LogPath = filepath.Join(r.Dir, r.ID+"-json.log")
	}
	if err := checkStopSignal(cfg.StopSignal); err != nil {
		return nil, err
	}
	if cfg.StopTimeout != nil && *cfg.StopTimeout < -1 {
		return nil, Invalid("invalid stop timeout %d: use -1 to wait forever", *cfg.StopTimeout)
	}
	if r.warnings, err = adaptResources(hc, hostResources()); err != nil {
		return nil, err
	}
	if err := checkRlimits(hc.Ulimits); err != nil {
		return nil, err
	}
	if err := blkioDevices(hc.Resources, &specs.LinuxResources{}); err != nil {
		return nil, err
	}
	caps, err := capabilities(hc)
	if err != nil {
		return nil, err
	}
	if err := e.checkSecurity(hc, caps); err != nil {
		return nil, err
	}
	if e.remap != nil && !hc.UsernsMode.IsHost() {
		r.Userns = e.remap
	}
	if err := checkHostConfig(hc); err != nil {
		return nil, err
	}
	if err := checkHealthConfig(cfg.Healthcheck); err != nil {
		return nil, err
	}

	img, err := e.image(ctx, cfg.Image)
	if err != nil {
		return nil, err
	}
	ic := img.Config()
	if ic.OS != "" && ic.OS != "linux" {
		return nil, Invalid("image operating system %q cannot be used on this platform", ic.OS)
	}
	mergeConfig(&cfg, ic.Config)
	e.mergeImageExtras(ctx, img, &cfg)
	if err := checkStopSignal(cfg.StopSignal); err != nil {
		cfg.StopSignal = "" // the image's, and bad: SIGTERM, as docker falls back
	}
	args, err := processArgs(&cfg)
	if err != nil {
		return nil, err
	}
	if cfg.WorkingDir != "" && !strings.HasPrefix(cfg.WorkingDir, "/") {
		return nil, Invalid("the working directory '%s' is invalid, it needs to be an absolute path", cfg.WorkingDir)
	}
	r.Path, r.Args = args[0], args[1:]
	r.Image, r.ImageID = cfg.Image, img.ID().String()
	if err := e.networkConfig(r, req.NetworkingConfig); err != nil {
		return nil, err
	}
	if cfg.Hostname == "" {
		cfg.Hostname = r.ID[:12]
		if hc.NetworkMode.IsHost() {
			cfg.Hostname, _ = os.Hostname()
		}
	}
	return r, e.pickName(r)
}

// image finds the image a create names: docker's 404 "No such image"
// when there is none, which makes docker's CLI pull it and try again.
func (e *Engine) image(ctx context.Context, ref string) (*image.Image, error) {
	if ref == "" {
		return nil, Invalid("no image specified")
	}
	img, err := e.Images.Get(ctx, ref)
	if errors.Is(err, image.ErrNotFound) {
		shown := ref
		if r, perr := image.ParseReference(ref); perr == nil {
			shown = r.Familiar()
		} else if !isHexPrefix(strings.TrimPrefix(ref, "sha256:")) {
			return nil, Invalid("%v", perr)
		}
		return nil, NotFound("No such image: %s", shown)
	}
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	return img, nil
}

// pickName checks r's name is free, or gives it a free random one.
func (e *Engine) pickName(r *ctrRecord) error {
	return e.core.store.read(func(tx *bolt.Tx) error {
		if r.Name != "" {
			if id := nameOwner(tx, r.Name); id != "" {
				return nameConflict(r.Name, id)
			}
			return nil
		}
		for try := 0; try < 20; try++ {
			if n := generateName(try / 10); nameOwner(tx, n) == "" {
				r.Name = n
				return nil
			}
		}
		r.Name = r.ID[:12] // 20 taken names in a row: fall back on the short ID
		return nil
	})
}

// writeSpec writes the bundle's config.json for r, whose rootfs is
// mounted at its place.
func (e *Engine) writeSpec(r *ctrRecord) error {
	s, err := e.buildSpec(r, r.rootfsDir())
	if err != nil {
		return err
	}
	b, err := jsonIndent(s)
	if err != nil {
		return fmt.Errorf("write the runtime spec of %s: %w", r.ID, err)
	}
	return image.WriteFileAtomic(filepath.Join(r.Dir, "config.json"), b, 0o600)
}

// dropFiles removes what a container has on disk: its mount, snapshot,
// bundle directory (and log) and monitor directory.
func (e *Engine) dropFiles(ctx context.Context, r *ctrRecord) error {
	if err := mount.Unmount(r.rootfsDir()); err != nil {
		// Removing the directory now would empty the mounted filesystem.
		return fmt.Errorf("remove the files of container %s: %w", r.ID, err)
	}
	// The bundle and its log go first: on a disk the log filled, that
	// frees the space the snapshot's metadata needs to be rewritten.
	var errs []error
	if err := os.RemoveAll(r.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := e.Images.Snapshots.Remove(ctx, r.ID); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
		errs = append(errs, fmt.Errorf("remove the filesystem of %s: %w", r.ID, err))
	}
	if err := os.RemoveAll(r.MonitorDir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkHostConfig refuses what berth cannot do yet rather than ignore it.
func checkHostConfig(hc *container.HostConfig) error {
	switch hc.Runtime {
	case "", "runc", "berth":
	default:
		return Invalid("unknown or invalid runtime name: %s", hc.Runtime)
	}
	if !hc.Isolation.IsDefault() {
		return Invalid("invalid isolation: %s", hc.Isolation)
	}
	if m := hc.PidMode; m != "" && !m.IsHost() {
		return Invalid("pid mode %q is not supported by berth yet: host or the default", m)
	}
	if m := hc.IpcMode; m != "" && !m.IsHost() && !m.IsPrivate() && !m.IsShareable() {
		return Invalid("ipc mode %q is not supported by berth yet: host, private, shareable or the default", m)
	}
	if m := hc.UTSMode; m != "" && !m.IsHost() {
		return Invalid("invalid UTS mode: %s", m)
	}
	return nil
}
