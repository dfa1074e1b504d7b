package compose

import (
	"context"
	"maps"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadOptions are the global options of `compose`: which files, which
// project, which profiles and which environment.
type LoadOptions struct {
	// ConfigFiles are -f, merged in order; empty: COMPOSE_FILE, else
	// compose.yaml (or docker-compose.yml, ...) found from WorkingDir up.
	ConfigFiles []string
	// ProjectName is -p; empty: COMPOSE_PROJECT_NAME, the file's name:,
	// else the project directory's base name, normalised.
	ProjectName string
	// WorkingDir is --project-directory; empty: the first file's folder.
	WorkingDir string
	// Profiles are --profile (and COMPOSE_PROFILES when empty).
	Profiles []string
	// EnvFiles are --env-file; empty: the project directory's .env.
	EnvFiles []string
	// Environ is the process environment interpolation reads (nil:
	// os.Environ()). The env files only fill what it leaves unset.
	Environ []string
}

// Load reads, merges, interpolates, validates and normalises the compose
// files as docker compose v2 does, and returns the project with every
// service's paths resolved. The errors name the file and the key at fault.
func Load(ctx context.Context, o LoadOptions) (*types.Project, error) {
	env := cli.WithOsEnv
	if o.Environ != nil {
		env = cli.WithEnv(o.Environ)
	}
	opts, err := cli.NewProjectOptions(o.ConfigFiles,
		cli.WithWorkingDirectory(o.WorkingDir),
		env,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(o.Profiles...),
		cli.WithName(o.ProjectName),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
		cli.WithNormalization(true),
	)
	if err != nil {
		return nil, err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, clearLoadError(err)
	}
	// The env files read (--env-file, else the .env found) label each
	// container, as compose v2 labels them.
	if len(opts.EnvFiles) > 0 {
		files := make([]string, len(opts.EnvFiles))
		for i, f := range opts.EnvFiles {
			if files[i], err = filepath.Abs(f); err != nil {
				return nil, err
			}
		}
		label := strings.Join(files, ",")
		for _, services := range []types.Services{p.Services, p.DisabledServices} {
			for name, s := range services {
				s.CustomLabels = maps.Clone(s.CustomLabels)
				if s.CustomLabels == nil {
					s.CustomLabels = types.Labels{}
				}
				s.CustomLabels[LabelEnvFile] = label
				services[name] = s
			}
		}
	}
	return p, nil
}

// falseSchema is compose-go's word for a key the schema does not know:
// "services.web.foo false schema".
var falseSchema = regexp.MustCompile(`([^\s:]+)\.([^.\s:]+) false schema`)

// clearLoadError says what compose-go's schema errors mean, in compose
// v2's words: "services.web additional properties 'foo' not allowed".
func clearLoadError(err error) error {
	msg := err.Error()
	out := falseSchema.ReplaceAllString(msg, "$1 additional properties '$2' not allowed")
	out = strings.ReplaceAll(out, ":  additional properties", ": additional properties")
	if out == msg {
		return err
	}
	return &loadError{msg: out, err: err}
}

type loadError struct {
	msg string
	err error
}

func (e *loadError) Error() string { return e.msg }
func (e *loadError) Unwrap() error { return e.err }
