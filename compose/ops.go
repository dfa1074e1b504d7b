package compose

import (
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

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-project/berth/build"
	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
)

// This file is the image commands of a project: build, pull and push, and
// the helpers the other commands share. Progress lines all go through
// resources.go's step, one writer and one mutex for up and the rest. The
// container commands are ops_lifecycle.go, ops_logs.go, ops_info.go and
// ops_run.go.

// auth is the X-Registry-Auth value for ref ("" when there is no hook).
func (c *Compose) auth(ref string) (string, error) {
	if c.RegistryAuth == nil {
		return "", nil
	}
	return c.RegistryAuth(ref)
}

// selectServices returns the services named (all, sorted, when none),
// failing on a name the project does not have, as compose v2 does
// ("no such service: x").
func selectServices(p *types.Project, names []string) ([]types.ServiceConfig, error) {
	if len(names) == 0 {
		names = p.ServiceNames() // sorted
	}
	out := make([]types.ServiceConfig, 0, len(names))
	for _, n := range names {
		s, err := p.GetService(n)
		if err != nil {
			return nil, fmt.Errorf("no such service: %s", n)
		}
		out = append(out, s)
	}
	return out, nil
}

// Build builds the images of the services (all when Services is empty)
// that have a build section, tagging each as its image: or PROJECT-SERVICE
// (and its build tags). Every context is checked before anything is
// built; services that share an image build once.
func (c *Compose) Build(ctx context.Context, p *types.Project, o BuildOptions) error {
	services, err := selectServices(p, o.Services)
	if err != nil {
		return err
	}
	out := o.Output
	if out == nil {
		out = c.Progress
	}
	if out == nil {
		out = io.Discard
	}
	var todo []types.ServiceConfig
	seen := map[string]bool{}
	for _, s := range services {
		if s.Build == nil {
			continue
		}
		if err := checkBuildContext(s); err != nil {
			return err
		}
		img := ImageName(p, s)
		if seen[img] {
			continue
		}
		seen[img] = true
		todo = append(todo, s)
	}
	for _, s := range todo {
		if err := c.buildService(ctx, p, s, o, out); err != nil {
			return err
		}
	}
	return nil
}

// checkBuildContext fails when a service's build context is not a
// directory, with docker compose's words, or when its build section asks
// for what berth's classic builder cannot do (rather than building
// something else than asked).
func checkBuildContext(s types.ServiceConfig) error {
	if err := unsupportedBuild(s.Build); err != nil {
		return fmt.Errorf("service %q: %w", s.Name, err)
	}
	dir := s.Build.Context
	if dir == "" {
		dir = "."
	}
	if strings.Contains(dir, "://") || strings.HasPrefix(dir, "git@") {
		return fmt.Errorf("service %q: unable to prepare context: remote contexts (%s) are not supported", s.Name, dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("service %q: unable to prepare context: path %q not found", s.Name, dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("service %q: unable to prepare context: %q is not a directory", s.Name, dir)
	}
	if s.Build.DockerfileInline == "" {
		df := s.Build.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		if !filepath.IsAbs(df) {
			df = filepath.Join(dir, df)
		}
		if _, err := os.Stat(df); err != nil {
			return fmt.Errorf("service %q: unable to prepare context: Cannot locate specified Dockerfile: %s", s.Name, filepath.Base(df))
		}
	}
	return nil
}

// unsupportedBuild names the build keys berth's builder (docker's
// classic builder's API) cannot honour.
func unsupportedBuild(b *types.BuildConfig) error {
	var bad []string
	for _, k := range []struct {
		set  bool
		name string
	}{
		{len(b.Secrets) > 0, "secrets"},
		{len(b.SSH) > 0, "ssh"},
		{len(b.AdditionalContexts) > 0, "additional_contexts"},
		{len(b.Platforms) > 1, "several platforms"},
		{len(b.Entitlements) > 0, "entitlements"},
		{b.Privileged, "privileged"},
		{len(b.Ulimits) > 0, "ulimits"},
		{len(b.NoCacheFilter) > 0, "no_cache_filter"},
		{len(b.CacheTo) > 0, "cache_to"},
		{b.Isolation != "", "isolation"},
	} {
		if k.set {
			bad = append(bad, k.name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("build: not supported by berth's builder: %s", strings.Join(bad, ", "))
	}
	return nil
}

// buildService builds one service's image through the engine.
func (c *Compose) buildService(ctx context.Context, p *types.Project, s types.ServiceConfig, o BuildOptions, out io.Writer) error {
	b := s.Build
	img := ImageName(p, s)
	dockerfile := b.Dockerfile
	if dockerfile != "" && !filepath.IsAbs(dockerfile) {
		dockerfile = filepath.Join(b.Context, dockerfile)
	}
	if b.DockerfileInline != "" {
		tmp, err := os.MkdirTemp("", "berth-compose-dockerfile")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dockerfile = filepath.Join(tmp, "Dockerfile")
		if err := os.WriteFile(dockerfile, []byte(b.DockerfileInline), 0o644); err != nil {
			return err
		}
	}
	rc, name, err := build.TarContext(b.Context, dockerfile)
	if err != nil {
		return fmt.Errorf("service %q: unable to prepare context: %s", s.Name, err)
	}
	defer rc.Close()
	args := map[string]*string{}
	for k, v := range b.Args {
		args[k] = v
	}
	for k, v := range o.Args {
		v := v
		args[k] = &v
	}
	// The build's labels, and compose v2's own on the image.
	labels := map[string]string{LabelVersion: Version, LabelProject: p.Name, LabelService: s.Name}
	for k, v := range b.Labels {
		labels[k] = v
	}
	tags := append([]string{img}, b.Tags...)
	network := b.Network
	if network == "" {
		network = "default"
	}
	opts := engine.BuildOptions{
		Tags:        tags,
		Dockerfile:  name,
		BuildArgs:   args,
		Labels:      labels,
		Target:      b.Target,
		NoCache:     o.NoCache || b.NoCache,
		Pull:        o.Pull || b.Pull,
		Quiet:       o.Quiet,
		Remove:      true,
		NetworkMode: network,
		ExtraHosts:  b.ExtraHosts.AsList(":"),
		ShmSize:     int64(b.ShmSize),
		CacheFrom:   b.CacheFrom,
	}
	if len(b.Platforms) == 1 {
		opts.Platform = b.Platforms[0]
	} else if s.Platform != "" {
		opts.Platform = s.Platform
	}
	c.step("Service", s.Name, "Building")
	resp, err := c.API.ImageBuild(ctx, rc, opts)
	if err != nil {
		return fmt.Errorf("service %q failed to build: %w", s.Name, err)
	}
	defer resp.Close()
	if err := copyBuildStream(resp, out, o.Quiet); err != nil {
		return fmt.Errorf("service %q failed to build: %w", s.Name, err)
	}
	c.step("Service", s.Name, "Built")
	return nil
}

// copyBuildStream writes a build's text to out and returns its error line.
func copyBuildStream(r io.Reader, out io.Writer, quiet bool) error {
	dec := json.NewDecoder(r)
	last := map[string]string{} // a pulled layer's status: a line per change

	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read the build's output: %w", err)
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
		if quiet {
			continue
		}
		switch {
		case m.Stream != "":
			io.WriteString(out, m.Stream)
		case m.Status != "" && m.ID != "":
			if last[m.ID] != m.Status {
				last[m.ID] = m.Status
				fmt.Fprintf(out, "%s: %s\n", m.ID, m.Status)
			}
		case m.Status != "":
			fmt.Fprintln(out, m.Status)
		}
	}
}

// drainStream reads a pull or push stream to its end and returns its
// error line.
func drainStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
	}
}

// Pull pulls, concurrently, the images of the services that name one.
// As compose v2: a service without image: (build only) or with
// pull_policy build or never is skipped; a service that can be built
// only gets a warning when its pull fails.
func (c *Compose) Pull(ctx context.Context, p *types.Project, o PullOptions) error {
	services, err := selectServices(p, o.Services)
	if err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	pulling := map[string]bool{}
	for _, s := range services {
		if o.IgnoreBuildable && s.Build != nil {
			continue
		}
		if o.Policy == types.PullPolicyMissing && s.Image != "" {
			if _, err := c.API.ImageInspect(ctx, s.Image); err == nil {
				continue
			}
		}
		switch {
		case s.Image == "":
			if !o.Quiet {
				c.step("Service", s.Name, "Skipped - No image to be pulled")
			}
			continue
		case s.PullPolicy == types.PullPolicyBuild, s.PullPolicy == types.PullPolicyNever:
			if !o.Quiet {
				c.step("Service", s.Name, "Skipped - pull_policy is "+s.PullPolicy)
			}
			continue
		case pulling[s.Image]:
			continue
		}
		pulling[s.Image] = true
		wg.Add(1)
		go func(s types.ServiceConfig) {
			defer wg.Done()
			if !o.Quiet {
				c.step("Service", s.Name, "Pulling")
			}
			err := c.pullImage(ctx, s.Image)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				if !o.Quiet {
					c.step("Service", s.Name, "Pulled")
				}
			case s.Build != nil:
				c.step("Service", s.Name, "Warning pull failed, the image can be built: "+err.Error())
			case o.IgnorePullFailures:
				c.step("Service", s.Name, "Error "+err.Error())
			default:
				c.step("Service", s.Name, "Error "+err.Error())
				errs = append(errs, fmt.Errorf("service %q: pull %s: %w", s.Name, s.Image, err))
			}
		}(s)
	}
	wg.Wait()
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// pullImage pulls one reference to its end.
func (c *Compose) pullImage(ctx context.Context, ref string) error {
	return c.transfer(ref, func(ref, auth string) (io.ReadCloser, error) {
		return c.API.ImagePull(ctx, ref, engine.PullRequest{RegistryAuth: auth})
	})
}

// PushOptions of Push.
type PushOptions struct {
	Services           []string
	IgnorePushFailures bool
	Quiet              bool
}

// Push pushes the images of the services that have both a build section
// and an image: (what compose v2 pushes), one after the other.
func (c *Compose) Push(ctx context.Context, p *types.Project, o PushOptions) error {
	services, err := selectServices(p, o.Services)
	if err != nil {
		return err
	}
	var errs []error
	pushed := map[string]bool{}
	for _, s := range services {
		if s.Build == nil || s.Image == "" || pushed[s.Image] {
			continue
		}
		pushed[s.Image] = true
		if !o.Quiet {
			c.step("Service", s.Name, "Pushing")
		}
		if err := c.pushImage(ctx, s.Image); err != nil {
			c.step("Service", s.Name, "Error "+err.Error())
			if !o.IgnorePushFailures {
				errs = append(errs, fmt.Errorf("service %q: push %s: %w", s.Name, s.Image, err))
			}
			continue
		}
		if !o.Quiet {
			c.step("Service", s.Name, "Pushed")
		}
	}
	return errors.Join(errs...)
}

// pushImage pushes one reference to its end.
func (c *Compose) pushImage(ctx context.Context, ref string) error {
	return c.transfer(ref, func(ref, auth string) (io.ReadCloser, error) {
		return c.API.ImagePush(ctx, ref, engine.PushRequest{RegistryAuth: auth})
	})
}

// transfer is a pull or push of ref: the reference normalised, its
// registry's credentials, then the engine's progress stream read to its
// end.
func (c *Compose) transfer(ref string, do func(ref, auth string) (io.ReadCloser, error)) error {
	r, err := image.ParseReference(ref)
	if err != nil {
		return err
	}
	auth, err := c.auth(r.String())
	if err != nil {
		return err
	}
	body, err := do(r.String(), auth)
	if err != nil {
		return err
	}
	defer body.Close()
	return drainStream(body)
}
