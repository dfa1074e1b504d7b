package engine

import (
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/moby/moby/api/types/container"
)

// ctrRecord is what the engine keeps of a container (engine.db): enough
// for inspect, for starting it again, and for restoring it after the
// engine itself restarted.
type ctrRecord struct {
	// warnings are what create tells the client (not kept).
	warnings []string

	ID      string    `json:"id"`
	Name    string    `json:"name"` // without the leading "/"
	Created time.Time `json:"created"`
	// Path and Args are the process the container runs (before --init).
	Path string   `json:"path"`
	Args []string `json:"args"`
	// Image is the image as the user named it; ImageID its config digest.
	Image   string `json:"image"`
	ImageID string `json:"imageId"`
	// Config is the user's config merged with the image's, as docker
	// keeps it; HostConfig the user's, with defaults filled in.
	Config     *container.Config     `json:"config"`
	HostConfig *container.HostConfig `json:"hostConfig"`
	State      ctrState              `json:"state"`
	// RestartCount counts the restarts the policy made since the last
	// start by the user.
	RestartCount int `json:"restartCount"`
	// ManuallyStopped: stopped (or killed) by the user, so restart
	// policies leave it alone (unless-stopped even across engine restarts).
	ManuallyStopped bool   `json:"manuallyStopped,omitempty"`
	Driver          string `json:"driver"`
	// LogPath is the json-file log ("" for the none driver).
	LogPath string `json:"logPath,omitempty"`
	// MonitorDir is the monitor's directory (sockets, exit.json) under
	// the exec root.
	MonitorDir string `json:"monitorDir"`
	// Dir is the bundle directory (config.json, rootfs/, the log).
	Dir string `json:"dir"`
	// Net is the container's network (network_ctr.go).
	Net ctrNet `json:"net"`
	// Mounts are the container's resolved mounts (mounts.go): binds,
	// volumes (named or anonymous), tmpfs, in the order they are mounted.
	Mounts []ctrMount `json:"mounts,omitempty"`
	// Secrets and Configs are the files the container gets from the
	// secret and config stores (secret_ctr.go), resolved at create: Name
	// is the secret's name, the rest filled with the defaults.
	Secrets []FileRef `json:"secrets,omitempty"`
	Configs []FileRef `json:"configs,omitempty"`
	// Userns is the container's user namespace mapping when the daemon
	// remaps (--userns-remap), fixed at create: its rootfs is owned by it.
	Userns *usernsMaps `json:"userns,omitempty"`
}

// ctrState is the container's state as inspect shows it.
type ctrState struct {
	Status     container.ContainerState `json:"status"`
	Pid        int                      `json:"pid,omitempty"`
	ExitCode   int                      `json:"exitCode"`
	Error      string                   `json:"error,omitempty"`
	OOMKilled  bool                     `json:"oomKilled,omitempty"`
	StartedAt  time.Time                `json:"startedAt,omitzero"`
	FinishedAt time.Time                `json:"finishedAt,omitzero"`
}

// running reports whether the container has (or is about to have again,
// when restarting) a live process: docker's State.Running.
func (s ctrState) running() bool {
	switch s.Status {
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return true
	}
	return false
}

// live reports whether a monitor owns the container right now.
func (s ctrState) live() bool {
	return s.Status == container.StateRunning || s.Status == container.StatePaused
}

func (r *ctrRecord) rootfsDir() string { return filepath.Join(r.Dir, "rootfs") }

// view is the copy of the record other parts of the engine work with.
func (r *ctrRecord) view() ctrView {
	return ctrView{
		ID: r.ID, Name: r.Name, Image: r.Image, ImageID: r.ImageID,
		Config: r.Config, HostConfig: r.HostConfig,
		Status: r.State.Status, Pid: r.State.Pid, Dir: r.Dir,
	}
}

// attrs are the attributes of the container's events: its labels, name
// and image, as docker sends them, plus extra.
func (r *ctrRecord) attrs(extra ...string) map[string]string {
	m := map[string]string{}
	if r.Config != nil {
		for k, v := range r.Config.Labels {
			m[k] = v
		}
	}
	m["name"] = r.Name
	m["image"] = r.Image
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "\t") }
