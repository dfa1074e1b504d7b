package engine

import (
	"context"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/image"
)

// ContainerCommit makes an image of a container's changes (docker
// commit): the container's image plus a layer of what it changed, with
// the container's config (o.Config over it, then o.Changes), named
// o.Reference or left dangling.
func (e *Engine) ContainerCommit(ctx context.Context, ref string, o CommitOptions) (container.CommitResponse, error) {
	v, err := e.view(ctx, ref)
	if err != nil {
		return container.CommitResponse{}, err
	}
	var named image.Reference
	if o.Reference != "" {
		if named, err = image.ParseReference(o.Reference); err != nil {
			return container.CommitResponse{}, imageErr(err, o.Reference)
		}
		if named.Digest != "" {
			return container.CommitResponse{}, Invalid("refusing to create a tag with a digest reference")
		}
	}
	parent, err := e.BuildImageByID(ctx, digest.Digest(v.ImageID))
	if err != nil {
		return container.CommitResponse{}, err
	}
	cfg := parent.Config
	cfg.History = append([]ocispec.History(nil), parent.Config.History...)
	c := *v.Config
	if o.Config != nil {
		mergeCommitConfig(&c, o.Config)
	}
	ic := &cfg.Config
	ic.Cmd, ic.Entrypoint, ic.Env, ic.Labels = c.Cmd, c.Entrypoint, c.Env, c.Labels
	ic.WorkingDir, ic.User, ic.StopSignal = c.WorkingDir, c.User, c.StopSignal
	ic.ExposedPorts = map[string]struct{}{}
	for p := range c.ExposedPorts {
		ic.ExposedPorts[p.String()] = struct{}{}
	}
	ic.Volumes = c.Volumes
	ic.OnBuild = c.OnBuild
	ic.Shell = c.Shell
	if c.Healthcheck != nil {
		ic.Healthcheck = &dockerspec.HealthcheckConfig{Test: c.Healthcheck.Test, Interval: c.Healthcheck.Interval,
			Timeout: c.Healthcheck.Timeout, StartPeriod: c.Healthcheck.StartPeriod, StartInterval: c.Healthcheck.StartInterval, Retries: c.Healthcheck.Retries}
	}
	for _, ch := range o.Changes {
		if err := applyChange(&cfg, ch); err != nil {
			return container.CommitResponse{}, err
		}
	}
	if o.Pause && v.Status == container.StateRunning {
		if err := e.pause(v.ID, true); err == nil {
			defer e.pause(v.ID, false)
		}
	}
	unlock, err := e.Images.Records.Lock(ctx, false)
	if err != nil {
		return container.CommitResponse{}, err
	}
	defer unlock()
	nl, err := e.containerLayer(ctx, v.ID, false)
	if err != nil {
		return container.CommitResponse{}, err
	}
	layers, err := e.buildLayers(ctx, parent)
	if err != nil {
		return container.CommitResponse{}, err
	}
	now := time.Now().UTC()
	cfg.Created = &now
	cfg.Author = o.Author
	cfg.RootFS.DiffIDs = append(append([]digest.Digest(nil), parent.Config.RootFS.DiffIDs...), nl.diffID)
	createdBy := strings.TrimSpace(strings.Join(append(append([]string(nil), c.Entrypoint...), c.Cmd...), " "))
	cfg.History = append(cfg.History, ocispec.History{Created: &now, Author: o.Author, CreatedBy: createdBy, Comment: o.Comment})
	rec, err := e.writeImage(ctx, cfg, append(layers, nl.desc))
	if err != nil {
		return container.CommitResponse{}, err
	}
	rec.Size = parent.Record.Size + nl.size
	rec.Name = rec.ID().String()
	if o.Reference != "" {
		if named.Tag == "" {
			named.Tag = "latest"
		}
		rec.Name = named.String()
	}
	if err := e.Images.Records.Put(ctx, rec); err != nil {
		return container.CommitResponse{}, err
	}
	if r, err := e.current(v.ID); err == nil {
		e.emit(events.ContainerEventType, events.ActionCommit, v.ID, r.attrs("comment", o.Comment, "imageID", rec.ID().String()))
	}
	return container.CommitResponse{ID: rec.ID().String()}, nil
}

// mergeCommitConfig lays the fields set in o over c, as docker's commit
// merges the request's config over the container's.
func mergeCommitConfig(c, o *container.Config) {
	if len(o.Cmd) > 0 {
		c.Cmd = o.Cmd
	}
	if o.Entrypoint != nil {
		c.Entrypoint = o.Entrypoint
	}
	if len(o.Env) > 0 {
		c.Env = mergeEnvList(c.Env, o.Env)
	}
	if o.Labels != nil {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range o.Labels {
			c.Labels[k] = v
		}
	}
	if o.ExposedPorts != nil {
		c.ExposedPorts = o.ExposedPorts
	}
	if o.Volumes != nil {
		c.Volumes = o.Volumes
	}
	if o.WorkingDir != "" {
		c.WorkingDir = o.WorkingDir
	}
	if o.User != "" {
		c.User = o.User
	}
	if o.StopSignal != "" {
		c.StopSignal = o.StopSignal
	}
	if o.Healthcheck != nil {
		c.Healthcheck = o.Healthcheck
	}
	if o.OnBuild != nil {
		c.OnBuild = o.OnBuild
	}
	if o.Shell != nil {
		c.Shell = o.Shell
	}
}

func mergeEnvList(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, b := range out {
			if bk, _, _ := strings.Cut(b, "="); bk == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// applyChange applies one --change (a Dockerfile instruction) to cfg.
func applyChange(cfg *dockerspec.DockerOCIImage, change string) error {
	res, err := parser.Parse(strings.NewReader(change))
	if err != nil || len(res.AST.Children) != 1 {
		return Invalid("invalid change %q: %v", change, err)
	}
	node := res.AST.Children[0]
	cmd, err := instructions.ParseInstruction(node)
	if err != nil {
		return Invalid("%v", err)
	}
	ic := &cfg.Config
	shell := ic.Shell
	if len(shell) == 0 {
		shell = []string{"/bin/sh", "-c"}
	}
	line := func(l instructions.ShellDependantCmdLine) []string {
		if l.PrependShell {
			return append(append([]string(nil), shell...), strings.Join(l.CmdLine, " "))
		}
		return l.CmdLine
	}
	switch c := cmd.(type) {
	case *instructions.CmdCommand:
		ic.Cmd = line(c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		ic.Entrypoint = line(c.ShellDependantCmdLine)
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			ic.Env = mergeEnvList(ic.Env, []string{kv.Key + "=" + kv.Value})
		}
	case *instructions.ExposeCommand:
		if ic.ExposedPorts == nil {
			ic.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			ic.ExposedPorts[p] = struct{}{}
		}
	case *instructions.LabelCommand:
		if ic.Labels == nil {
			ic.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			ic.Labels[kv.Key] = kv.Value
		}
	case *instructions.OnbuildCommand:
		ic.OnBuild = append(ic.OnBuild, c.Expression)
	case *instructions.UserCommand:
		ic.User = c.User
	case *instructions.VolumeCommand:
		if ic.Volumes == nil {
			ic.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			ic.Volumes[v] = struct{}{}
		}
	case *instructions.WorkdirCommand:
		ic.WorkingDir = c.Path
	case *instructions.StopSignalCommand:
		ic.StopSignal = c.Signal
	case *instructions.HealthCheckCommand:
		ic.Healthcheck = c.Health
	case *instructions.ShellCommand:
		ic.Shell = c.Shell
	default:
		return Invalid("%s is not a valid change command", strings.ToUpper(node.Value))
	}
	return nil
}
