package build

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
)

// shortID is the 12 hex digits docker shows of an ID ("" for scratch).
func shortID(id digest.Digest) string {
	if id == "" {
		return ""
	}
	h := id.Encoded()
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func shortContainerID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// runStep runs a RUN in a container of the stage's image, with its env
// (and the build args in scope), user, workdir and the build's network;
// the container's changes become the layer. The container is removed
// whatever happens.
func (j *job) runStep(ctx context.Context, s *state, c *instructions.RunCommand) error {
	if len(c.FlagsUsed) > 0 {
		return engine.Errorf(engine.KindInvalid, "the --%s option requires BuildKit", c.FlagsUsed[0])
	}
	if len(c.Files) > 0 {
		return engine.Errorf(engine.KindInvalid, "heredocs require BuildKit")
	}
	cmd := s.resolveCmdLine(c.ShellDependantCmdLine)
	if len(cmd) == 0 {
		return engine.Errorf(engine.KindInvalid, "RUN needs a command")
	}
	args := s.args.filterAllowed(s.run.Env)
	saveCmd := cmd
	if len(args) > 0 {
		var hist []string
		for _, kv := range args {
			if k, _, _ := strings.Cut(kv, "="); s.args.inHistory(k) {
				hist = append(hist, kv)
			}
		}
		saveCmd = append(append([]string{"|" + strconv.Itoa(len(hist))}, hist...), cmd...)
	}
	return j.commit(ctx, s, strings.Join(saveCmd, " "), "", func() (engine.LayerSource, func(), error) {
		if s.img.ID == "" {
			return engine.LayerSource{}, nil, engine.Errorf(engine.KindInvalid, "RUN in an empty scratch stage: there is nothing to run")
		}
		id, cleanup, err := j.runContainer(ctx, s, cmd, append(slices.Clone(s.run.Env), args...))
		if err != nil {
			return engine.LayerSource{}, cleanup, err
		}
		return engine.LayerSource{Container: id}, cleanup, nil
	})
}

// streamWriter sends a container's output to the build output as it comes.
type streamWriter struct{ out engine.BuildOutput }

func (w streamWriter) Write(p []byte) (int, error) {
	w.out.Stream(string(p))
	return len(p), nil
}

func (j *job) networkMode() container.NetworkMode {
	switch j.o.NetworkMode {
	case "", "default":
		return "bridge"
	}
	return container.NetworkMode(j.o.NetworkMode)
}

// runContainer creates, attaches to, starts and waits for a RUN's
// container; it returns its ID once it exited 0, and the cleanup that
// removes it (with its anonymous volumes).
func (j *job) runContainer(ctx context.Context, s *state, cmd, env []string) (string, func(), error) {
	cfg := &container.Config{
		Image:      s.img.ID.String(),
		Cmd:        cmd,
		Entrypoint: []string{""}, // no entrypoint: the image's must not wrap RUN
		Env:        env,
		User:       s.run.User,
		WorkingDir: s.run.WorkingDir,
		Volumes:    maps.Clone(s.run.Volumes),
	}
	hc := &container.HostConfig{
		NetworkMode: j.networkMode(),
		LogConfig:   container.LogConfig{Type: "none"},
		ShmSize:     j.o.ShmSize,
		ExtraHosts:  j.o.ExtraHosts,
	}
	resp, err := j.b.ContainerCreate(ctx, "", engine.CreateRequest{CreateRequest: container.CreateRequest{Config: cfg, HostConfig: hc}})
	if err != nil {
		return "", nil, err
	}
	id := resp.ID
	cleanup := func() {
		rctx := context.WithoutCancel(ctx)
		if err := j.b.ContainerRemove(rctx, id, engine.RemoveOptions{Force: true, RemoveVolumes: true}); err == nil {
			j.stream(" ---> Removed intermediate container %s\n", shortContainerID(id))
		}
	}
	for _, w := range resp.Warnings {
		j.stream(" ---> [Warning] %s\n", w)
	}
	j.stream(" ---> Running in %s\n", shortContainerID(id))
	att, err := j.b.ContainerAttach(ctx, id, engine.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return "", cleanup, err
	}
	defer att.Close()
	waitC, errC := j.b.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err := j.b.ContainerStart(ctx, id); err != nil {
		return "", cleanup, err
	}
	copied := make(chan error, 1)
	go func() {
		w := streamWriter{j.out}
		_, err := stdcopy.StdCopy(w, w, att)
		copied <- err
	}()
	var code int64
	select {
	case r := <-waitC:
		if r.Error != nil && r.Error.Message != "" {
			return "", cleanup, errors.New(r.Error.Message)
		}
		code = r.StatusCode
	case err := <-errC:
		return "", cleanup, err
	case <-ctx.Done():
		return "", cleanup, ctx.Err()
	}
	select {
	case <-copied:
	case <-ctx.Done():
		return "", cleanup, ctx.Err()
	}
	if code != 0 {
		return "", cleanup, &runError{cmd: cmd, code: int(code)}
	}
	return id, cleanup, nil
}

// copyStep is COPY and ADD: the files' checksum keys the cache, the copy
// fills a writable copy of the parent's filesystem.
func (j *job) copyStep(ctx context.Context, s *state, name string, sd instructions.SourcesAndDest, from, chown, chmod string) error {
	req := CopyRequest{
		SrcRoot:     j.context.Dir,
		FromContext: true,
		Sources:     slices.Clone(sd.SourcePaths),
		Dest:        sd.DestPath,
		Workdir:     s.run.WorkingDir,
		Add:         name == "ADD",
		Cmd:         name,
	}
	if from != "" {
		src, ok, err := j.stageByName(from, true)
		if err != nil {
			return engine.Errorf(engine.KindInvalid, "invalid from flag value %s: %v", from, err)
		}
		if !ok {
			if src, err = j.b.BuildBase(ctx, from, engine.BuildBaseOptions{Platform: j.o.Platform, Progress: j.out}); err != nil {
				return fmt.Errorf("invalid from flag value %s: %w", from, err)
			}
		}
		root, release, err := j.b.BuildMount(ctx, src)
		if err != nil {
			return err
		}
		defer release()
		req.SrcRoot, req.FromContext = root, false
	}
	if chmod != "" {
		m, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return engine.Errorf(engine.KindInvalid, "invalid chmod parameter: %s", chmod)
		}
		mode := os.FileMode(m)
		req.Chmod = &mode
	}
	if chown != "" {
		if strings.Count(chown, ":") > 1 {
			return engine.Errorf(engine.KindInvalid, "invalid chown string format: %s", chown)
		}
	}
	sum, err := Checksum(ctx, req)
	if err != nil {
		return err
	}
	chownComment := ""
	if chown != "" {
		chownComment = "--chown=" + chown
	}
	dest := normalizeDest(s.run.WorkingDir, sd.DestPath)
	// --chmod is not in docker's history (its classic builder refuses
	// it) but must key the cache: the copy's modes depend on it.
	keyBy := s.nopString(fmt.Sprintf("%s %s%s in %s --chmod=%s", name, chownComment, sum.Encoded(), dest, chmod))
	history := func() string {
		return s.nopString(fmt.Sprintf("%s %s%s in %s ", name, chownComment, sourceHash(req, sum), dest))
	}
	return j.commitAs(ctx, s, keyBy, history, sum, func() (engine.LayerSource, func(), error) {
		return engine.LayerSource{Fill: func(ctx context.Context, root string) error {
			r := req
			if chown != "" {
				o, err := resolveChown(root, chown)
				if err != nil {
					return engine.Errorf(engine.KindInvalid, "unable to convert uid/gid chown string to host mapping: %v", err)
				}
				r.Chown = &o
			}
			return Copy(ctx, root, r)
		}}, nil, nil
	})
}

// sourceHash is what docker's history shows of a COPY's sources:
// file:<hash>, dir:<hash> for one, multi:<hash> for several.
func sourceHash(req CopyRequest, sum digest.Digest) string {
	if len(req.Sources) != 1 || strings.ContainsAny(req.Sources[0], "*?[") {
		return "multi:" + sum.Encoded()
	}
	src := req.Sources[0]
	if req.Add && (strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")) {
		return "file:" + sum.Encoded()
	}
	if req.FromContext {
		if ds, ok := dockerSourceSum(req.SrcRoot, src); ok {
			return ds
		}
	}
	if statIsDir(req.SrcRoot, src) {
		return "dir:" + sum.Encoded()
	}
	return "file:" + sum.Encoded()
}

// resolveChown is docker's --chown: user[:group], names looked up in the
// destination's /etc/passwd and /etc/group, a lone user also naming the
// group.
func resolveChown(root, chown string) (Owner, error) {
	u, g, ok := strings.Cut(chown, ":")
	if !ok {
		g = u
	}
	var o Owner
	if n, err := strconv.Atoi(u); err == nil {
		o.UID = n
	} else {
		eu, err := image.LookupUser(root, u)
		if err != nil {
			return Owner{}, err
		}
		o.UID = int(eu.UID)
	}
	if n, err := strconv.Atoi(g); err == nil {
		o.GID = n
	} else {
		gid, err := image.LookupGroup(root, g)
		if err != nil {
			return Owner{}, err
		}
		o.GID = int(gid)
	}
	if o.UID < 0 || o.GID < 0 {
		return Owner{}, fmt.Errorf("negative id in %q", chown)
	}
	return o, nil
}

// parsePorts turns EXPOSE's words into port/proto keys ("80/tcp"),
// ranges expanded, as docker's nat.ParsePortSpecs does.
func parsePorts(ports []string) ([]string, error) {
	var out []string
	for _, p := range ports {
		spec := p
		// ip:hostPort:containerPort[/proto]: the container port counts.
		if i := strings.LastIndex(spec, ":"); i >= 0 {
			spec = spec[i+1:]
		}
		num, proto, _ := strings.Cut(spec, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		switch proto {
		case "tcp", "udp", "sctp":
		default:
			return nil, fmt.Errorf("invalid proto: %s", proto)
		}
		lo, hi, isRange := strings.Cut(num, "-")
		start, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid containerPort: %s", num)
		}
		end := start
		if isRange {
			if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
				return nil, fmt.Errorf("invalid containerPort: %s", num)
			}
		}
		for n := start; n <= end; n++ {
			out = append(out, strconv.FormatUint(n, 10)+"/"+proto)
		}
	}
	return out, nil
}

// parseSignal accepts what docker's STOPSIGNAL does: a number or a name,
// with or without SIG.
func parseSignal(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("Invalid signal: %s", s)
		}
		return n, nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if base, off, ok := strings.Cut(name, "+"); ok && (base == "SIGRTMIN") {
		n, err := strconv.Atoi(off)
		if err == nil {
			return 34 + n, nil
		}
	}
	if name == "SIGRTMIN" {
		return 34, nil
	}
	if name == "SIGRTMAX" {
		return 64, nil
	}
	if n := unix.SignalNum(name); n != 0 {
		return int(n), nil
	}
	return 0, fmt.Errorf("Invalid signal: %s", s)
}
