package compose

// docker compose's labels, as compose v2 sets them.
const (
	LabelProject       = "com.docker.compose.project"
	LabelService       = "com.docker.compose.service"
	LabelNumber        = "com.docker.compose.container-number"
	LabelOneoff        = "com.docker.compose.oneoff"
	LabelConfigHash    = "com.docker.compose.config-hash"
	LabelImage         = "com.docker.compose.image"
	LabelWorkingDir    = "com.docker.compose.project.working_dir"
	LabelConfigFiles   = "com.docker.compose.project.config_files"
	LabelEnvFile       = "com.docker.compose.project.environment_file"
	LabelVersion       = "com.docker.compose.version"
	LabelDependsOn     = "com.docker.compose.depends_on"
	LabelContainerRepl = "com.docker.compose.replace"
	LabelNetwork       = "com.docker.compose.network"
	LabelVolume        = "com.docker.compose.volume"
	LabelSlug          = "com.docker.compose.slug"

	// Version is what berth writes as com.docker.compose.version: the
	// compose v2 release whose behaviour it follows.
	Version = "2.30.0"
)
