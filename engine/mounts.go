package engine

import (
	"context"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/image"
)

// CONTRACT STUB (issue 8): owned by the container-mounts helper.

// ctrMount is one resolved mount of a container: what inspect shows
// (docker's MountPoint) and what start needs to mount it again.
type ctrMount struct {
	container.MountPoint
	// Anonymous: a volume made for this container (an image VOLUME, or
	// -v /path, or --mount type=volume without source): rm -v removes it.
	Anonymous bool `json:"anonymous,omitempty"`
	// Tmpfs holds --tmpfs / --mount type=tmpfs options.
	Tmpfs *mount.TmpfsOptions `json:"tmpfs,omitempty"`
	// Options are extra mount options (nocopy, subpath, ...).
	Options []string `json:"options,omitempty"`
}

// createMounts resolves r's HostConfig.Binds, Mounts, Tmpfs, VolumesFrom
// and the image's VOLUMEs into r.Mounts, creating the volumes it names
// that do not exist yet (and anonymous ones). r's rootfs is mounted.
func (e *Engine) createMounts(ctx context.Context, r *ctrRecord, img *image.Image) error {
	return nil
}

// dropCreatedVolumes removes the volumes createMounts made for r, when
// the create failed after it.
func (e *Engine) dropCreatedVolumes(ctx context.Context, r *ctrRecord) {}

// specMounts adds r.Mounts to the runtime spec.
func (e *Engine) specMounts(r *ctrRecord, s *specs.Spec) error { return nil }

// mountsUp prepares r's mounts before its start: volumes whose driver
// options need a mount are mounted (reference counted), new named volumes
// are populated from the image path on first use.
func (e *Engine) mountsUp(ctx context.Context, r *ctrRecord) error { return nil }

// mountsDown releases what mountsUp took; safe to call twice.
func (e *Engine) mountsDown(r *ctrRecord) {}

// removeAnonVolumes removes r's anonymous volumes (rm -v, --rm) that no
// other container uses.
func (e *Engine) removeAnonVolumes(ctx context.Context, r *ctrRecord) {}
