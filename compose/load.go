package compose

import (
	"context"

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
	return opts.LoadProject(ctx)
}
