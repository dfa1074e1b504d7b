package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/berth-project/berth/engine"
)

// The fake's secrets and configs: a small in-memory store per fakeAPI
// (kept beside it, so that the shared fake needs no new fields). Calls are
// recorded as "SecretCreate NAME", "SecretList", "SecretInspect REF", ...

type fakeFileStore struct {
	secrets []swarm.Secret
	configs []swarm.Config
	// secretData keeps what SecretCreate was given, by name, for tests.
	secretData map[string][]byte
	filters    []engine.Filters
	next       int
}

var fakeFiles sync.Map // *fakeAPI -> *fakeFileStore

// files returns f's store.
func (f *fakeAPI) files() *fakeFileStore {
	s, _ := fakeFiles.LoadOrStore(f, &fakeFileStore{secretData: map[string][]byte{}})
	return s.(*fakeFileStore)
}

var fakeFileTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func (s *fakeFileStore) newID() string {
	s.next++
	return fmt.Sprintf("%025d", s.next)
}

func (f *fakeAPI) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	if err := f.record("SecretCreate " + spec.Name); err != nil {
		return swarm.SecretCreateResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.files()
	for _, x := range s.secrets {
		if x.Spec.Name == spec.Name {
			return swarm.SecretCreateResponse{}, engine.Conflict("secret %s already exists", spec.Name)
		}
	}
	id := s.newID()
	s.secretData[spec.Name] = spec.Data
	spec.Data = nil
	s.secrets = append(s.secrets, swarm.Secret{ID: id, Meta: swarm.Meta{CreatedAt: fakeFileTime, UpdatedAt: fakeFileTime}, Spec: spec})
	return swarm.SecretCreateResponse{ID: id}, nil
}

func (f *fakeAPI) SecretList(ctx context.Context, fl engine.Filters) ([]swarm.Secret, error) {
	if err := f.record("SecretList"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.files()
	s.filters = append(s.filters, fl)
	out := append([]swarm.Secret(nil), s.secrets...)
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name > out[j].Spec.Name }) // the CLI sorts
	return out, nil
}

func (f *fakeAPI) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	if err := f.record("SecretInspect " + ref); err != nil {
		return swarm.Secret{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.files().secrets {
		if x.ID == ref || x.Spec.Name == ref {
			return x, nil
		}
	}
	return swarm.Secret{}, engine.NotFound("secret %s not found", ref)
}

func (f *fakeAPI) SecretRemove(ctx context.Context, ref string) error {
	if err := f.record("SecretRemove " + ref); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.files()
	for i, x := range s.secrets {
		if x.ID == ref || x.Spec.Name == ref {
			s.secrets = append(s.secrets[:i], s.secrets[i+1:]...)
			return nil
		}
	}
	return engine.NotFound("secret %s not found", ref)
}

func (f *fakeAPI) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	if err := f.record("ConfigCreate " + spec.Name); err != nil {
		return swarm.ConfigCreateResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.files()
	for _, x := range s.configs {
		if x.Spec.Name == spec.Name {
			return swarm.ConfigCreateResponse{}, engine.Conflict("config %s already exists", spec.Name)
		}
	}
	id := s.newID()
	s.configs = append(s.configs, swarm.Config{ID: id, Meta: swarm.Meta{CreatedAt: fakeFileTime, UpdatedAt: fakeFileTime}, Spec: spec})
	return swarm.ConfigCreateResponse{ID: id}, nil
}

func (f *fakeAPI) ConfigList(ctx context.Context, fl engine.Filters) ([]swarm.Config, error) {
	if err := f.record("ConfigList"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.files()
	s.filters = append(s.filters, fl)
	return append([]swarm.Config(nil), s.configs...), nil
}

func (f *fakeAPI) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	if err := f.record("ConfigInspect " + ref); err != nil {
		return swarm.Config{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.files().configs {
		if x.ID == ref || x.Spec.Name == ref {
			return x, nil
		}
	}
	return swarm.Config{}, engine.NotFound("config %s not found", ref)
}

func (f *fakeAPI) ConfigRemove(ctx context.Context, ref string) error {
	if err := f.record("ConfigRemove " + ref); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.files()
	for i, x := range s.configs {
		if x.ID == ref || x.Spec.Name == ref {
			s.configs = append(s.configs[:i], s.configs[i+1:]...)
			return nil
		}
	}
	return engine.NotFound("config %s not found", ref)
}
