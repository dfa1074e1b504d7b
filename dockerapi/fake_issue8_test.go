package dockerapi

import (
	"context"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
)

func (f *fakeAPI) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	f.record("VolumeCreate", req)
	return result[volume.Volume](f, "VolumeCreate")
}

func (f *fakeAPI) VolumeList(ctx context.Context, fl engine.Filters) (volume.ListResponse, error) {
	f.record("VolumeList", fl)
	return result[volume.ListResponse](f, "VolumeList")
}

func (f *fakeAPI) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	f.record("VolumeInspect", name)
	return result[volume.Volume](f, "VolumeInspect")
}

func (f *fakeAPI) VolumeRemove(ctx context.Context, name string, force bool) error {
	f.record("VolumeRemove", name, force)
	_, err := result[any](f, "VolumeRemove")
	return err
}

func (f *fakeAPI) VolumesPrune(ctx context.Context, fl engine.Filters) (volume.PruneReport, error) {
	f.record("VolumesPrune", fl)
	return result[volume.PruneReport](f, "VolumesPrune")
}

func (f *fakeAPI) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	f.record("SecretCreate", spec)
	return result[swarm.SecretCreateResponse](f, "SecretCreate")
}

func (f *fakeAPI) SecretList(ctx context.Context, fl engine.Filters) ([]swarm.Secret, error) {
	f.record("SecretList", fl)
	return result[[]swarm.Secret](f, "SecretList")
}

func (f *fakeAPI) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	f.record("SecretInspect", ref)
	return result[swarm.Secret](f, "SecretInspect")
}

func (f *fakeAPI) SecretRemove(ctx context.Context, ref string) error {
	f.record("SecretRemove", ref)
	_, err := result[any](f, "SecretRemove")
	return err
}

func (f *fakeAPI) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	f.record("ConfigCreate", spec)
	return result[swarm.ConfigCreateResponse](f, "ConfigCreate")
}

func (f *fakeAPI) ConfigList(ctx context.Context, fl engine.Filters) ([]swarm.Config, error) {
	f.record("ConfigList", fl)
	return result[[]swarm.Config](f, "ConfigList")
}

func (f *fakeAPI) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	f.record("ConfigInspect", ref)
	return result[swarm.Config](f, "ConfigInspect")
}

func (f *fakeAPI) ConfigRemove(ctx context.Context, ref string) error {
	f.record("ConfigRemove", ref)
	_, err := result[any](f, "ConfigRemove")
	return err
}
