package engine

import (
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/runtime"
	"github.com/berth-project/berth/volume"
)

// Engine is the daemon core. Open makes one; every API method is safe for
// concurrent use.
type Engine struct {
	Images  *Images
	Runtime *runtime.Runtime
	Volumes *volume.Store
	opts    Options
	remap   *usernsMaps // from Options.UsernsRemap (userns.go)
	builder Builder     // from Options.Builder (build_api.go)

	core   coreState  // containers, records, monitors, restart policies (state.go)
	execs  execState  // exec instances (exec.go)
	events eventBus   // the events bus (events.go)
	sealed sealedSelf // the monitors' copy of the binary for probes (sealed_linux.go)
}

// Options of Open.
type Options struct {
	// Root is the data root (/var/lib/berth): images, containers, records.
	Root string
	// RuntimeRoot is the OCI runtime's state root (runtime.DefaultRoot).
	RuntimeRoot string
	// ExecRoot holds the monitors' sockets (/run/berth); short, since unix
	// socket paths are limited to 108 bytes.
	ExecRoot string
	// Daemon: a long-lived engine that holds the records open, watches every
	// running container, applies restart policies and adopts what it finds
	// at start (live restore). Without it (the CLI's in-process engine) the
	// records are locked only for each transaction and containers keep
	// running, under their monitors, after the process exits.
	Daemon bool
	// Self is the berth binary, run as each container's monitor and
	// mounted as the --init reaper (os.Executable() when empty).
	Self string
	// Images tunes the image service.
	Images ImagesOptions
	// LogConfig is the default log driver and options (json-file,
	// max-size, max-file) for containers that do not set one.
	LogConfig container.LogConfig
	// NetName names the default bridge network's Linux bridge and berth's
	// nftables table: "berth0" and "berth" when empty. Engines that share
	// a host (tests) need names of their own; at most 15 bytes.
	NetName string
	// UsernsRemap is docker's --userns-remap: "" (off), "default" (the
	// subordinate ids of user "dockremap") or USER[:GROUP], whose ranges
	// in /etc/subuid and /etc/subgid the containers' root maps to.
	UsernsRemap string
	// Builder, when set, makes the Builder that serves ImageBuild and
	// BuildCachePrune; cmd/berth passes build.New.
	Builder func(*Engine) Builder
}

var _ API = (*Engine)(nil)
