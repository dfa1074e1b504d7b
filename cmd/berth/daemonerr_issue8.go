package main

import (
	"context"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
)

func (d daemonErrors) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	r, err := d.api.VolumeCreate(ctx, req)
	return r, fromDaemon(err)
}

func (d daemonErrors) VolumeList(ctx context.Context, f engine.Filters) (volume.ListResponse, error) {
	r, err := d.api.VolumeList(ctx, f)
	return r, fromDaemon(err)
}

func (d daemonErrors) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	r, err := d.api.VolumeInspect(ctx, name)
	return r, fromDaemon(err)
}

func (d daemonErrors) VolumeRemove(ctx context.Context, name string, force bool) error {
	return fromDaemon(d.api.VolumeRemove(ctx, name, force))
}

func (d daemonErrors) VolumesPrune(ctx context.Context, f engine.Filters) (volume.PruneReport, error) {
	r, err := d.api.VolumesPrune(ctx, f)
	return r, fromDaemon(err)
}

func (d daemonErrors) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	r, err := d.api.SecretCreate(ctx, spec)
	return r, fromDaemon(err)
}

func (d daemonErrors) SecretList(ctx context.Context, f engine.Filters) ([]swarm.Secret, error) {
	r, err := d.api.SecretList(ctx, f)
	return r, fromDaemon(err)
}

func (d daemonErrors) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	r, err := d.api.SecretInspect(ctx, ref)
	return r, fromDaemon(err)
}

func (d daemonErrors) SecretRemove(ctx context.Context, ref string) error {
	return fromDaemon(d.api.SecretRemove(ctx, ref))
}

func (d daemonErrors) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	r, err := d.api.ConfigCreate(ctx, spec)
	return r, fromDaemon(err)
}

func (d daemonErrors) ConfigList(ctx context.Context, f engine.Filters) ([]swarm.Config, error) {
	r, err := d.api.ConfigList(ctx, f)
	return r, fromDaemon(err)
}

func (d daemonErrors) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	r, err := d.api.ConfigInspect(ctx, ref)
	return r, fromDaemon(err)
}

func (d daemonErrors) ConfigRemove(ctx context.Context, ref string) error {
	return fromDaemon(d.api.ConfigRemove(ctx, ref))
}
