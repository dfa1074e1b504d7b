package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
)

// defaultPath is the PATH docker gives a stage whose image has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// defaultShell is the shell of RUN, CMD and ENTRYPOINT's shell forms.
var defaultShell = []string{"/bin/sh", "-c"}

// job is one build: the parsed Dockerfile and what the stages made.
type job struct {
	b       Backend
	o       engine.BuildOptions
	out     engine.BuildOutput
	context *Context
	lex     *shell.Lex
	args    *buildArgs // the global args: --build-arg and the meta ARGs
	stages  []stageResult
	step    int
	steps   int
}

type stageResult struct {
	name string
	img  engine.BuildImage
}

// state is a stage being built: its current image and the config the next
// step starts from (docker's runConfig).
type state struct {
	name       string
	img        engine.BuildImage
	run        dockerspec.DockerOCIImageConfig
	platform   ocispec.Platform
	maintainer string
	cmdSet     bool
	args       *buildArgs
}

// stepError is a step's failure, naming its Dockerfile line.
type stepError struct {
	line int
	err  error
	file string // the Dockerfile's name as the client gave it; "Dockerfile" when empty
}

func (e *stepError) Error() string {
	if e.line <= 0 {
		return e.err.Error()
	}
	file := e.file
	if file == "" {
		file = "Dockerfile"
	}
	return fmt.Sprintf("%s:%d: %v", file, e.line, e.err)
}
func (e *stepError) Unwrap() error { return e.err }

// runError is a RUN that exited non-zero: docker's words and its code.
type runError struct {
	cmd  []string
	code int
}

func (e *runError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(e.cmd, " "), e.code)
}
func (e *runError) ExitCode() int { return e.code }

// lineOf is the first line of a command.
func lineOf(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// invalid is a bad-input error at a line.
func invalid(line int, format string, args ...any) error {
	return &stepError{line: line, err: engine.Errorf(engine.KindInvalid, format, args...)}
}

// atLine names the line of err, keeping its kind (bad input stays
// KindInvalid).
func atLine(line int, err error) error {
	var se *stepError
	if err == nil || errors.As(err, &se) {
		return err
	}
	return &stepError{line: line, err: err}
}

// parseDockerfile parses a Dockerfile with BuildKit's parser, with
// docker's classic builder's errors.
func parseDockerfile(dockerfile []byte) (*parser.Result, []instructions.Stage, []instructions.ArgCommand, error) {
	res, err := parser.Parse(strings.NewReader(string(dockerfile)))
	if err != nil {
		return nil, nil, nil, engine.Errorf(engine.KindInvalid, "failed to parse dockerfile: %v", err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		msg := err.Error()
		var le *parser.LocationError
		if errors.As(err, &le) && !strings.HasPrefix(msg, "dockerfile parse error") && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
			msg = fmt.Sprintf("dockerfile parse error on line %d: %s", le.Locations[0][0].Start.Line, msg)
		}
		return nil, nil, nil, engine.Errorf(engine.KindInvalid, "%s", msg)
	}
	if len(stages) == 0 {
		line := 1
		if n := len(res.AST.Children); n > 0 {
			line = res.AST.Children[n-1].StartLine
		}
		return nil, nil, nil, engine.Errorf(engine.KindInvalid, "dockerfile parse error on line %d: no build stage in current context", line)
	}
	return res, stages, metaArgs, nil
}

// selectStages cuts the stages at the target and adds the --label LABELs
// to the last one, as docker does.
func selectStages(stages []instructions.Stage, target string, labels map[string]string) ([]instructions.Stage, error) {
	if target != "" {
		ix, ok := instructions.HasStage(stages, target)
		if !ok {
			return nil, engine.Errorf(engine.KindInvalid, "failed to reach build target %s in Dockerfile", target)
		}
		stages = stages[:ix+1]
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		stages[len(stages)-1].AddCommand(instructions.NewLabelCommand(k, labels[k], true))
	}
	seen := map[string]bool{}
	for _, s := range stages {
		if s.Name == "" {
			continue
		}
		if seen[strings.ToLower(s.Name)] {
			return nil, invalid(lineOf(s.Location), "%s stage name already used", s.Name)
		}
		seen[strings.ToLower(s.Name)] = true
	}
	return stages, nil
}

func (j *job) stream(format string, args ...any) { j.out.Stream(fmt.Sprintf(format, args...)) }

func (j *job) printStep(v any) {
	j.step++
	j.stream("Step %d/%d : %v\n", j.step, j.steps, v)
}

// run builds every stage in order and returns the last one's image.
func (j *job) run(ctx context.Context, stages []instructions.Stage, metaArgs []instructions.ArgCommand) (engine.BuildImage, error) {
	j.steps = len(metaArgs) + len(stages)
	for _, s := range stages {
		j.steps += len(s.Commands)
	}
	for i := range metaArgs {
		meta := metaArgs[i]
		j.printStep(&meta)
		env := envOf(mapToEnv(j.args.allAllowed()))
		if err := meta.Expand(j.expander(env)); err != nil {
			return engine.BuildImage{}, invalid(lineOf(meta.Location()), "%v", err)
		}
		for _, a := range meta.Args {
			j.args.addArg(a.Key, a.Value)
			j.args.addMeta(a.Key, a.Value)
		}
	}
	var s *state
	for i := range stages {
		st := &stages[i]
		j.printStep(st.SourceCode)
		var err error
		if s, err = j.from(ctx, st); err != nil {
			return engine.BuildImage{}, atLine(lineOf(st.Location), err)
		}
		j.stream(" ---> %s\n", shortID(s.img.ID))
		for _, cmd := range st.Commands {
			if err := ctx.Err(); err != nil {
				j.stream("Build cancelled\n")
				return engine.BuildImage{}, err
			}
			j.printStep(cmd)
			if err := j.dispatch(ctx, s, cmd); err != nil {
				return engine.BuildImage{}, atLine(lineOf(cmd.Location()), err)
			}
			j.stream(" ---> %s\n", shortID(s.img.ID))
		}
		if s.img.ID != "" {
			j.out.Aux(map[string]string{"ID": s.img.ID.String()})
		}
		j.stages = append(j.stages, stageResult{name: st.Name, img: s.img})
	}
	if unused := j.args.unused(); len(unused) > 0 {
		j.stream("[Warning] One or more build-args %v were not consumed\n", unused)
	}
	return s.img, nil
}

func (j *job) expander(env envList) instructions.SingleWordExpander {
	return func(word string) (string, error) {
		w, _, err := j.lex.ProcessWord(word, env)
		return w, err
	}
}

// stageByName finds a built stage by name or (index) number.
func (j *job) stageByName(name string, index bool) (engine.BuildImage, bool, error) {
	for _, s := range j.stages {
		if s.name != "" && strings.EqualFold(s.name, name) {
			return s.img, true, nil
		}
	}
	if !index {
		return engine.BuildImage{}, false, nil
	}
	ix, err := strconv.Atoi(name)
	if err != nil {
		return engine.BuildImage{}, false, nil
	}
	if ix < 0 || ix >= len(j.stages) {
		return engine.BuildImage{}, false, fmt.Errorf("invalid stage index %d", ix)
	}
	return j.stages[ix].img, true, nil
}

// from starts a stage: its base (a previous stage, scratch or an image,
// pulled when missing), the base's config, then its ONBUILD triggers.
func (j *job) from(ctx context.Context, st *instructions.Stage) (*state, error) {
	meta := envOf(mapToEnv(j.args.allMeta()))
	name, _, err := j.lex.ProcessWord(st.BaseName, meta)
	if err != nil {
		return nil, engine.Errorf(engine.KindInvalid, "%v", err)
	}
	if name == "" {
		return nil, engine.Errorf(engine.KindInvalid, "base name (%s) should not be blank", st.BaseName)
	}
	platform := j.o.Platform
	if st.Platform != "" {
		if platform, _, err = j.lex.ProcessWord(st.Platform, meta); err != nil {
			return nil, engine.Errorf(engine.KindInvalid, "%v", err)
		}
	}
	s := &state{name: st.Name, args: j.args.forStage()}
	img, ok, _ := j.stageByName(name, false)
	switch {
	case ok:
		s.img = img
	case name == "scratch":
		s.img = engine.BuildImage{}
	default:
		if s.img, err = j.b.BuildBase(ctx, name, engine.BuildBaseOptions{Pull: j.o.Pull, Platform: platform, Progress: j.out}); err != nil {
			return nil, err
		}
	}
	s.run = cloneConfig(s.img.Config.Config)
	s.platform = s.img.Config.Platform
	if s.img.ID == "" {
		p := image.HostPlatform()
		if platform != "" {
			if p, err = image.ParsePlatform(platform); err != nil {
				return nil, engine.Errorf(engine.KindInvalid, "%v", err)
			}
		}
		s.platform = p
	}
	if s.platform.OS == "" {
		s.platform.OS = "linux"
	}
	if s.platform.Architecture == "" {
		s.platform.Architecture = runtime.GOARCH
	}
	hasPath := false
	for _, kv := range s.run.Env {
		if k, _, _ := strings.Cut(kv, "="); k == "PATH" {
			hasPath = true
		}
	}
	if !hasPath {
		s.run.Env = append(s.run.Env, "PATH="+defaultPath)
	}
	if triggers := s.run.OnBuild; len(triggers) > 0 {
		s.run.OnBuild = nil
		plural := ""
		if len(triggers) > 1 {
			plural = "s"
		}
		j.stream("# Executing %d build trigger%s\n", len(triggers), plural)
		for _, t := range triggers {
			res, err := parser.Parse(strings.NewReader(t))
			if err != nil {
				return nil, engine.Errorf(engine.KindInvalid, "%v", err)
			}
			if len(res.AST.Children) != 1 {
				return nil, engine.Errorf(engine.KindInvalid, "onbuild trigger should be a single expression")
			}
			cmd, err := instructions.ParseCommand(res.AST.Children[0])
			if err != nil {
				return nil, engine.Errorf(engine.KindInvalid, "%v", err)
			}
			if err := j.dispatch(ctx, s, cmd); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// env is what words of a step expand with: the config's Env and the build
// args in scope that Env does not override.
func (s *state) env() envList {
	return envOf(s.run.Env, s.args.filterAllowed(s.run.Env))
}

func (s *state) shell() []string {
	if len(s.run.Shell) == 0 {
		return slices.Clone(defaultShell)
	}
	return slices.Clone(s.run.Shell)
}

func (s *state) resolveCmdLine(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell && c.CmdLine != nil {
		return append(s.shell(), c.CmdLine...)
	}
	return c.CmdLine
}

// nop is the created_by of a step that only changes the config:
// `/bin/sh -c #(nop)  CMD ["sh"]` (docker joins "#(nop) " and the comment
// with a space, hence two).
func (s *state) nop(comment string) string {
	return strings.Join(append(s.shell(), "#(nop) ", comment), " ")
}

// nopString is the created_by of WORKDIR, COPY and ADD: one space.
func (s *state) nopString(comment string) string {
	return strings.Join(append(s.shell(), "#(nop) "+comment), " ")
}

// dispatch runs one instruction on the stage.
func (j *job) dispatch(ctx context.Context, s *state, cmd instructions.Command) error {
	env := s.env()
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if _, isRun := cmd.(*instructions.RunCommand); !isRun {
			if err := ex.Expand(j.expander(env)); err != nil {
				return engine.Errorf(engine.KindInvalid, "%v", err)
			}
		}
	}
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		msg := "ENV"
		for _, e := range c.Env {
			kv := e.String()
			msg += " " + kv
			i := slices.IndexFunc(s.run.Env, func(x string) bool {
				k, _, _ := strings.Cut(x, "=")
				return shell.EqualEnvKeys(k, e.Key)
			})
			if i >= 0 {
				s.run.Env[i] = kv
			} else {
				s.run.Env = append(s.run.Env, kv)
			}
		}
		return j.commit(ctx, s, s.nop(msg), "", nil)
	case *instructions.MaintainerCommand:
		s.maintainer = c.Maintainer
		return j.commit(ctx, s, s.nop("MAINTAINER "+c.Maintainer), "", nil)
	case *instructions.LabelCommand:
		if s.run.Labels == nil {
			s.run.Labels = map[string]string{}
		}
		msg := "LABEL"
		for _, l := range c.Labels {
			s.run.Labels[l.Key] = l.Value
			msg += " " + l.String()
		}
		return j.commit(ctx, s, s.nop(msg), "", nil)
	case *instructions.CmdCommand:
		if len(c.Files) > 0 {
			return engine.Errorf(engine.KindInvalid, "heredocs require BuildKit")
		}
		s.run.Cmd = s.resolveCmdLine(c.ShellDependantCmdLine)
		if err := j.commit(ctx, s, s.nop(fmt.Sprintf("CMD %q", s.run.Cmd)), "", nil); err != nil {
			return err
		}
		if len(c.CmdLine) != 0 {
			s.cmdSet = true
		}
		return nil
	case *instructions.EntrypointCommand:
		s.run.Entrypoint = s.resolveCmdLine(c.ShellDependantCmdLine)
		if !s.cmdSet {
			s.run.Cmd = nil
		}
		return j.commit(ctx, s, s.nop(fmt.Sprintf("ENTRYPOINT %q", s.run.Entrypoint)), "", nil)
	case *instructions.HealthCheckCommand:
		if old := s.run.Healthcheck; old != nil && len(old.Test) > 0 && old.Test[0] != "NONE" {
			j.stream("Note: overriding previous HEALTHCHECK: %v\n", old.Test)
		}
		s.run.Healthcheck = c.Health
		return j.commit(ctx, s, s.nop("HEALTHCHECK "+healthString(s.run.Healthcheck)), "", nil)
	case *instructions.ExposeCommand:
		var ports []string
		for _, p := range c.Ports {
			ps, err := j.lex.ProcessWords(p, env)
			if err != nil {
				return engine.Errorf(engine.KindInvalid, "%v", err)
			}
			ports = append(ports, ps...)
		}
		specs, err := parsePorts(ports)
		if err != nil {
			return engine.Errorf(engine.KindInvalid, "%v", err)
		}
		if s.run.ExposedPorts == nil {
			s.run.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range specs {
			s.run.ExposedPorts[p] = struct{}{}
		}
		return j.commit(ctx, s, s.nop("EXPOSE "+strings.Join(ports, " ")), "", nil)
	case *instructions.UserCommand:
		s.run.User = c.User
		return j.commit(ctx, s, s.nop("USER "+c.User), "", nil)
	case *instructions.VolumeCommand:
		if s.run.Volumes == nil {
			s.run.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return engine.Errorf(engine.KindInvalid, "VOLUME specified can not be an empty string")
			}
			s.run.Volumes[v] = struct{}{}
		}
		return j.commit(ctx, s, s.nop(fmt.Sprintf("VOLUME %v", c.Volumes)), "", nil)
	case *instructions.StopSignalCommand:
		if _, err := parseSignal(c.Signal); err != nil {
			return engine.Errorf(engine.KindInvalid, "%v", err)
		}
		s.run.StopSignal = c.Signal
		return j.commit(ctx, s, s.nop("STOPSIGNAL "+c.Signal), "", nil)
	case *instructions.ArgCommand:
		var msg strings.Builder
		msg.WriteString("ARG ")
		for i, a := range c.Args {
			if i > 0 {
				msg.WriteString(" ")
			}
			msg.WriteString(a.Key)
			if a.Value != nil {
				msg.WriteString("=" + *a.Value)
			}
			s.args.addArg(a.Key, a.Value)
		}
		return j.commit(ctx, s, s.nop(msg.String()), "", nil)
	case *instructions.ShellCommand:
		s.run.Shell = slices.Clone(c.Shell)
		return j.commit(ctx, s, s.nop(fmt.Sprintf("SHELL %v", s.run.Shell)), "", nil)
	case *instructions.OnbuildCommand:
		s.run.OnBuild = append(s.run.OnBuild, c.Expression)
		return j.commit(ctx, s, s.nop("ONBUILD "+c.Expression), "", nil)
	case *instructions.WorkdirCommand:
		return j.workdir(ctx, s, c)
	case *instructions.RunCommand:
		return j.runStep(ctx, s, c)
	case *instructions.CopyCommand:
		if c.Link || c.Parents || len(c.ExcludePatterns) > 0 {
			return engine.Errorf(engine.KindInvalid, "the --link, --parents and --exclude options of COPY require BuildKit")
		}
		if len(c.SourceContents) > 0 {
			return engine.Errorf(engine.KindInvalid, "heredocs require BuildKit")
		}
		return j.copyStep(ctx, s, "COPY", c.SourcesAndDest, c.From, c.Chown, c.Chmod)
	case *instructions.AddCommand:
		if c.Link || len(c.ExcludePatterns) > 0 || c.KeepGitDir != nil || c.Checksum != "" || c.Unpack != nil {
			return engine.Errorf(engine.KindInvalid, "the --link, --exclude, --keep-git-dir, --checksum and --unpack options of ADD require BuildKit")
		}
		if len(c.SourceContents) > 0 {
			return engine.Errorf(engine.KindInvalid, "heredocs require BuildKit")
		}
		return j.copyStep(ctx, s, "ADD", c.SourcesAndDest, "", c.Chown, c.Chmod)
	}
	return engine.Errorf(engine.KindInvalid, "unsupported instruction %s", cmd.Name())
}

// cacheKey is a step's cache key: the parent, what the step records
// (created_by, the resulting config, author), the build args in scope,
// the copied files' checksum and the platform.
func cacheKey(s *state, createdBy string, files digest.Digest) string {
	k := struct {
		Parent    digest.Digest
		CreatedBy string
		Config    dockerspec.DockerOCIImageConfig
		Author    string
		Args      []string
		Files     digest.Digest
		Platform  ocispec.Platform
	}{s.img.ID, createdBy, s.run, s.maintainer, mapToEnv(s.args.declared()), files, s.platform}
	b, _ := json.Marshal(k)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// commit ends a step: s.run is the config after it, createdBy its history
// entry. A cache hit reuses the image; else work (nil for a step that only
// changes the config) gives the layer, and cleanup runs after the commit.
func (j *job) commit(ctx context.Context, s *state, createdBy string, files digest.Digest, work func() (engine.LayerSource, func(), error)) error {
	return j.commitAs(ctx, s, createdBy, nil, files, work)
}

// commitAs is commit where the history entry, when history is set, is
// worked out only if the step runs (docker's sums of a COPY's files cost
// a second read of them): keyBy stands for it in the cache key.
func (j *job) commitAs(ctx context.Context, s *state, keyBy string, history func() string, files digest.Digest, work func() (engine.LayerSource, func(), error)) error {
	createdBy := keyBy
	key := cacheKey(s, keyBy, files)
	if !j.o.NoCache {
		img, ok, err := j.b.BuildCacheGet(ctx, key)
		if err != nil {
			return err
		}
		if ok {
			j.stream(" ---> Using cache\n")
			s.img = img
			return nil
		}
	}
	var src engine.LayerSource
	if work != nil {
		var cleanup func()
		var err error
		src, cleanup, err = work()
		if cleanup != nil {
			defer cleanup()
		}
		if err != nil {
			return err
		}
	}
	if history != nil {
		createdBy = history()
	}
	cfg := s.imageConfig(createdBy, src.Container == "" && src.Fill == nil)
	img, err := j.b.BuildCommit(ctx, s.img, cfg, src, engine.BuildCommitOptions{CacheKey: key})
	if err != nil {
		return err
	}
	s.img = img
	return nil
}

// imageConfig is the image of the next step: the parent's history plus
// this step's entry, and the config as it is now.
func (s *state) imageConfig(createdBy string, empty bool) dockerspec.DockerOCIImage {
	now := time.Now().UTC()
	var cfg dockerspec.DockerOCIImage
	cfg.Created = &now
	cfg.Author = s.maintainer
	cfg.Platform = s.platform
	cfg.History = append(slices.Clone(s.img.Config.History), ocispec.History{
		Created:    &now,
		CreatedBy:  createdBy,
		Author:     s.maintainer,
		EmptyLayer: empty,
	})
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: slices.Clone(s.img.Config.RootFS.DiffIDs)}
	cfg.Config = cloneConfig(s.run)
	return cfg
}

// cloneConfig deep-copies a config.
func cloneConfig(c dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	c.Env = slices.Clone(c.Env)
	c.Cmd = slices.Clone(c.Cmd)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.OnBuild = slices.Clone(c.OnBuild)
	c.Shell = slices.Clone(c.Shell)
	c.ExposedPorts = maps.Clone(c.ExposedPorts)
	c.Volumes = maps.Clone(c.Volumes)
	c.Labels = maps.Clone(c.Labels)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		c.Healthcheck = &h
	}
	return c
}

// normalizeWorkdir is docker's: a relative WORKDIR is under the current.
func normalizeWorkdir(current, requested string) (string, error) {
	if requested == "" {
		return "", errors.New("cannot normalize nothing")
	}
	if !path.IsAbs(requested) {
		return path.Join("/", current, requested), nil
	}
	return requested, nil
}

// normalizeDest is docker's COPY destination as its history shows it.
func normalizeDest(workdir, dest string) string {
	if path.IsAbs(dest) {
		return dest
	}
	d := path.Join("/", workdir, dest)
	if strings.HasSuffix(dest, "/") && d != "/" {
		d += "/"
	}
	return d
}

// workdir sets the working directory and, as docker does, creates it (a
// layer when it was missing, none when it was there).
func (j *job) workdir(ctx context.Context, s *state, c *instructions.WorkdirCommand) error {
	wd, err := normalizeWorkdir(s.run.WorkingDir, c.Path)
	if err != nil {
		return engine.Errorf(engine.KindInvalid, "%v", err)
	}
	s.run.WorkingDir = wd
	createdBy := s.nopString("WORKDIR " + wd)
	return j.commit(ctx, s, createdBy, "", func() (engine.LayerSource, func(), error) {
		root, release, err := j.b.BuildMount(ctx, s.img)
		if err != nil {
			return engine.LayerSource{}, nil, err
		}
		exists, err := isDirIn(root, wd)
		release()
		if err != nil || exists {
			return engine.LayerSource{}, nil, err
		}
		return engine.LayerSource{Fill: func(ctx context.Context, root string) error {
			return mkdirIn(root, wd)
		}}, nil, nil
	})
}

// healthString is how docker's history shows a HEALTHCHECK: Go's %q of
// the config pointer ("&{["CMD-SHELL" "true"] "30s" "0s" "0s" '\x03'}"):
// the struct dockerd formats has no StartInterval (checked against
// dockerd 28's classic builder).
func healthString(h *dockerspec.HealthcheckConfig) string {
	if h == nil {
		return "%!q(<nil>)"
	}
	return fmt.Sprintf("&{%q %q %q %q %q}", h.Test, h.Interval, h.Timeout, h.StartPeriod, rune(h.Retries))
}
