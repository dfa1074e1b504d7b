package main

import (
	"context"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/engine"
)

// fakeVolumes is the fake's volume side: what the volume commands asked,
// and what it answers.
type fakeVolumes struct {
	volumes         map[string]volume.Volume // by name; others are not found
	volCreates      []volume.CreateRequest
	volListFilters  []engine.Filters
	volWarnings     []string
	volRemoved      []string
	volRemoveForce  []bool
	volPrune        volume.PruneReport
	volPruneFilters []engine.Filters
}

func (f *fakeAPI) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	if err := f.record("VolumeCreate " + req.Name); err != nil {
		return volume.Volume{}, err
	}
	f.volCreates = append(f.volCreates, req)
	name := req.Name
	if name == "" {
		name = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	}
	return volume.Volume{Name: name, Driver: "local", Scope: "local", Labels: req.Labels, Options: req.DriverOpts}, nil
}

func (f *fakeAPI) VolumeList(ctx context.Context, fl engine.Filters) (volume.ListResponse, error) {
	f.volListFilters = append(f.volListFilters, fl)
	resp := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: f.volWarnings}
	for _, v := range f.volumes {
		resp.Volumes = append(resp.Volumes, v)
	}
	return resp, f.record("VolumeList")
}

func (f *fakeAPI) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	if err := f.record("VolumeInspect " + name); err != nil {
		return volume.Volume{}, err
	}
	v, ok := f.volumes[name]
	if !ok {
		return v, engine.NotFound("get %s: no such volume", name)
	}
	return v, nil
}

func (f *fakeAPI) VolumeRemove(ctx context.Context, name string, force bool) error {
	if err := f.record("VolumeRemove " + name); err != nil {
		return err
	}
	if _, ok := f.volumes[name]; !ok {
		if force {
			return nil
		}
		return engine.NotFound("get %s: no such volume", name)
	}
	f.volRemoved = append(f.volRemoved, name)
	f.volRemoveForce = append(f.volRemoveForce, force)
	return nil
}

func (f *fakeAPI) VolumesPrune(ctx context.Context, fl engine.Filters) (volume.PruneReport, error) {
	f.volPruneFilters = append(f.volPruneFilters, fl)
	return f.volPrune, f.record("VolumesPrune")
}
