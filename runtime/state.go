package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Status of a container, as the OCI runtime spec names them.
type Status string

// Container statuses.
const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

const (
	stateFile = "state.json"
	specFile  = "config.json" // the configuration the container was created with
	fifoName  = "exec.fifo"
)

// saved is what a container's state.json records: small, so that state,
// list, kill, pause and friends read it quickly. The full configuration is
// in its own file (specFile), read only by the commands that need it.
type saved struct {
	// Runtime is always "berth": runtimes added to dockerd share one state
	// root, and another runtime's state is not ours to read.
	Runtime       string            `json:"runtime"`
	ID            string            `json:"id"`
	Bundle        string            `json:"bundle"`
	Rootfs        string            `json:"rootfs"`
	Pid           int               `json:"pid"`
	InitStartTime uint64            `json:"init_start_time"`
	Created       time.Time         `json:"created"`
	CgroupPaths   map[string]string `json:"cgroup_paths,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	// Hooks are the spec's, left encoded: most commands need none of them,
	// and decoding their types cold costs more than reading the file.
	Hooks json.RawMessage `json:"hooks,omitempty"`
}

// State is the container state printed by `state` and `list`: the OCI state
// plus the fields runc adds.
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      Status            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

// writeFileAtomic writes data to path through a temporary file and a rename,
// so a reader sees the old content or the new one, never a part. There is no
// fsync: runtime state lives on tmpfs (/run) and means nothing after a reboot.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// runtimeName marks berth's state files.
const runtimeName = "berth"

func (s *saved) save(dir string) error {
	s.Runtime = runtimeName
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), data, 0o600)
}

func saveSpec(dir string, spec *specs.Spec) error {
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, specFile), data, 0o600)
}
