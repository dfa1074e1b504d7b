package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/engine"
)

// Compose runs projects on an engine.
type Compose struct {
	API engine.API
	// Progress gets docker compose's progress lines ("Container
	// web-1  Started", "Network p_default  Created", ...); nil discards.
	Progress io.Writer
	// RegistryAuth, when set, gives the X-Registry-Auth of a reference
	// for pulls and pushes (the CLI reads docker's config.json).
	RegistryAuth func(ref string) (string, error)
}

// New returns a Compose over api writing progress to progress.
func New(api engine.API, progress io.Writer) *Compose {
	if progress == nil {
		progress = io.Discard
	}
	return &Compose{API: api, Progress: progress}
}

// errNotYet marks the parts of the contract still being written.
var errNotYet = errors.New("compose: not implemented yet")

// UpOptions of Up.
type UpOptions struct {
	Services      []string       // only these (and, unless NoDeps, what they depend on)
	Detach        bool           // -d; otherwise Up streams the logs to Logs until the containers stop or ctx ends
	Build         bool           // --build: build the services that have a build section first
	NoBuild       bool           // --no-build: never build, even a missing image
	ForceRecreate bool           // --force-recreate
	NoRecreate    bool           // --no-recreate
	NoDeps        bool           // --no-deps
	Scale         map[string]int // --scale svc=N, over deploy.replicas / scale
	Wait          bool           // --wait: until running and healthy (implies Detach)
	WaitTimeout   int            // --wait-timeout seconds, 0: none
	RemoveOrphans bool           // --remove-orphans
	Timeout       *int           // -t: seconds to wait for a recreated container to stop
	Logs          io.Writer      // attached output, service-prefixed as "web-1  | line"
	// AbortOnContainerExit (--abort-on-container-exit) stops all when one exits.
	AbortOnContainerExit bool
	// AttachDependencies (--attach-dependencies): attached, up SERVICE
	// follows the logs of what SERVICE depends on too, not only its own.
	AttachDependencies bool
}

// DownOptions of Down.
type DownOptions struct {
	RemoveOrphans bool
	Volumes       bool   // -v: the project's named volumes (not external ones) and anonymous ones
	Images        string // --rmi: "", "local" (images without a custom tag) or "all"
	Timeout       *int
}

// BuildOptions of Build.
type BuildOptions struct {
	Services []string
	NoCache  bool
	Pull     bool
	Quiet    bool
	Args     map[string]string // --build-arg, over the file's args
	Output   io.Writer         // the build's progress (nil: Progress)
}

// PullOptions of Pull.
type PullOptions struct {
	Services           []string
	IgnorePullFailures bool
	Quiet              bool
	IgnoreBuildable    bool   // --ignore-buildable: not the services with a build section
	Policy             string // --policy: "" or "always" pull all, "missing" only what the engine lacks
}

// ImageName is the image a service runs: its image:, else PROJECT-SERVICE
// (what compose v2 tags a built image as).
func ImageName(p *types.Project, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return p.Name + "-" + s.Name
}

// ContainerName is the name of replica n of a service: its container_name
// when set, else PROJECT-SERVICE-N.
func ContainerName(projectName string, s types.ServiceConfig, n int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return projectName + "-" + s.Name + "-" + strconv.Itoa(n)
}

// Oneoff selects containers by their oneoff label.
type Oneoff int

const (
	OneoffExclude Oneoff = iota // the service containers only (what most commands see)
	OneoffOnly                  // `compose run` containers only
	OneoffInclude               // both
)

// Containers lists the project's containers (all states when all), of
// the services named (all when none), sorted by service then number.
func (c *Compose) Containers(ctx context.Context, projectName string, oneoff Oneoff, all bool, services ...string) ([]container.Summary, error) {
	f := engine.Filters{"label": {LabelProject + "=" + projectName}}
	switch oneoff {
	case OneoffExclude:
		f["label"] = append(f["label"], LabelOneoff+"=False")
	case OneoffOnly:
		f["label"] = append(f["label"], LabelOneoff+"=True")
	}
	list, err := c.API.ContainerList(ctx, engine.ListOptions{All: all, Filters: f})
	if err != nil {
		return nil, err
	}
	if len(services) > 0 {
		want := map[string]bool{}
		for _, s := range services {
			want[s] = true
		}
		kept := list[:0]
		for _, ct := range list {
			if want[ct.Labels[LabelService]] {
				kept = append(kept, ct)
			}
		}
		list = kept
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Labels, list[j].Labels
		if a[LabelService] != b[LabelService] {
			return a[LabelService] < b[LabelService]
		}
		na, _ := strconv.Atoi(a[LabelNumber])
		nb, _ := strconv.Atoi(b[LabelNumber])
		return na < nb
	})
	return list, nil
}

// ServiceContainer is the running container of replica index (1-based)
// of service, as `compose exec --index` picks it.
func (c *Compose) ServiceContainer(ctx context.Context, projectName, service string, index int) (container.Summary, error) {
	list, err := c.Containers(ctx, projectName, OneoffExclude, false, service)
	if err != nil {
		return container.Summary{}, err
	}
	for _, ct := range list {
		if ct.Labels[LabelNumber] == strconv.Itoa(index) {
			return ct, nil
		}
	}
	if len(list) == 0 {
		return container.Summary{}, fmt.Errorf("service %q is not running", service)
	}
	return container.Summary{}, fmt.Errorf("service %q is not running container #%d", service, index)
}

// CreateOptions tune the container createSpec makes of a service.
type CreateOptions struct {
	Number int  // the replica's number (the container-number label, the name's suffix)
	Oneoff bool // a `compose run` container: oneoff=True, named PROJECT-SERVICE-run-SLUG
	Name   string
}
