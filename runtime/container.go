package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Errors with runc's wording, so that scripts and shims that match them work.
var (
	ErrExist      = errors.New("container with given ID already exists")
	ErrInvalidID  = errors.New("invalid container ID format")
	ErrNotExist   = errors.New("container does not exist")
	ErrPaused     = errors.New("container paused")
	ErrRunning    = errors.New("container still running")
	ErrNotRunning = errors.New("container not running")
)

// DefaultRoot is where container state lives unless --root says otherwise.
const DefaultRoot = "/run/berth/runtime"

// Runtime manages the containers whose state is under Root.
type Runtime struct {
	Root string
	// Exe is the berth binary re-executed as `berth init`; /proc/self/exe by default.
	Exe string
	// Sealed, when set, is a sealed copy of Exe (SealedCopy) that the
	// inits needing one start from instead of each making its own copy
	// (10-15 ms of every exec's start). Checked with IsSealed; its owner
	// keeps it open.
	Sealed *os.File
}

// New returns a runtime keeping state under root, creating the directory.
func New(root string) (*Runtime, error) {
	if root == "" {
		root = DefaultRoot
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", abs, err)
	}
	return &Runtime{Root: abs, Exe: "/proc/self/exe"}, nil
}

// validID reports whether id has only the characters runc allows
// ([A-Za-z0-9_+.-]); checked by hand, since a package-level regexp is
// compiled at the start of every berth command.
func validID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+-.", c) >= 0) {
			return false
		}
	}
	return true
}

func validateID(id string) error {
	if id == "" || id == "." || id == ".." || !validID(id) || len(id) > 1024 {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// Container is a handle on one container's saved state.
type Container struct {
	rt  *Runtime
	dir string
	s   saved
	// ready: state.json was there (the container is past creating).
	ready bool
	spec  *specs.Spec // read on first use
}

// ID of the container.
func (c *Container) ID() string { return c.s.ID }

// Pid of the container's init process on the host (0 once stopped).
func (c *Container) Pid() int { return c.s.Pid }

// Spec is the configuration the container was created with (nil while it
// is being created, or if it can't be read).
func (c *Container) Spec() *specs.Spec {
	s, _ := c.loadSpec()
	return s
}

// hooks decodes the poststart and poststop hooks kept in the state.
func (c *Container) hooks() (specs.Hooks, error) {
	var h specs.Hooks
	if len(c.s.Hooks) > 0 {
		if err := json.Unmarshal(c.s.Hooks, &h); err != nil {
			return h, fmt.Errorf("parse hooks of %s: %w", c.s.ID, err)
		}
	}
	return h, nil
}

func (c *Container) loadSpec() (*specs.Spec, error) {
	if c.spec != nil {
		return c.spec, nil
	}
	if !c.ready {
		return nil, ErrNotRunning
	}
	data, err := os.ReadFile(filepath.Join(c.dir, specFile))
	if err != nil {
		return nil, fmt.Errorf("read configuration of %s: %w", c.s.ID, err)
	}
	s := new(specs.Spec)
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("parse configuration of %s: %w", c.s.ID, err)
	}
	c.spec = s
	return s, nil
}

// Load opens the container id.
func (r *Runtime) Load(id string) (*Container, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(r.Root, id)
	data, err := readSmall(filepath.Join(dir, stateFile), 8192)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(dir); serr == nil {
				// Being created right now (or its creator died half way).
				return &Container{rt: r, dir: dir, s: saved{ID: id}}, nil
			}
			return nil, ErrNotExist
		}
		return nil, fmt.Errorf("read state of %s: %w", id, err)
	}
	c := &Container{rt: r, dir: dir, ready: true}
	if err := json.Unmarshal(data, &c.s); err != nil || c.s.Runtime != runtimeName {
		return nil, fmt.Errorf("%w: %s", errNotOurs, id)
	}
	return c, nil
}

// errNotOurs: the state of another runtime sharing the root (or garbage).
var errNotOurs = errors.New("container state not written by berth")

// Status works out the container's status from its init process: gone (or
// replaced by another process with the same pid) means stopped; still waiting
// on the exec fifo means created.
func (c *Container) Status() Status {
	if !c.ready {
		return Creating
	}
	if !c.initAlive() {
		return Stopped
	}
	// A created container can be paused too, and then reports paused, as with runc.
	if c.frozen() {
		return Paused
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoName)); err == nil {
		return Created
	}
	return Running
}

func (c *Container) initAlive() bool {
	if c.s.Pid <= 0 {
		return false
	}
	st, err := readProcStat(c.s.Pid)
	if err != nil || st.startTime != c.s.InitStartTime {
		return false
	}
	return st.state != 'Z' && st.state != 'X'
}

// State returns the container's state as `state` prints it.
func (c *Container) State() State { return c.state(nil) }

// state is State; names caches owner lookups across containers (nil: none).
func (c *Container) state(names map[uint32]string) State {
	status := c.Status()
	pid := c.s.Pid
	if status == Stopped || status == Creating {
		pid = 0
	}
	return State{
		OCIVersion:  specs.Version,
		ID:          c.s.ID,
		Pid:         pid,
		Status:      status,
		Bundle:      c.s.Bundle,
		Rootfs:      c.s.Rootfs,
		Created:     c.s.Created,
		Annotations: c.s.Annotations,
		Owner:       owner(c.dir, names),
	}
}

// owner names the user owning the container's state directory dir; names
// maps uids already looked up (each lookup reads /etc/passwd).
func owner(dir string, names map[uint32]string) string {
	fi, err := os.Stat(dir)
	if err != nil {
		return ""
	}
	uid := fi.Sys().(*syscall.Stat_t).Uid
	if n, ok := names[uid]; ok {
		return n
	}
	n := "#" + strconv.Itoa(int(uid))
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		n = u.Username
	}
	if names != nil {
		names[uid] = n
	}
	return n
}

// hookState is the OCI state given to hooks on stdin.
func (c *Container) hookState(status Status) *specs.State {
	pid := c.s.Pid
	if status == Stopped {
		pid = 0
	}
	return &specs.State{
		Version:     specs.Version,
		ID:          c.s.ID,
		Status:      specs.ContainerState(status),
		Pid:         pid,
		Bundle:      c.s.Bundle,
		Annotations: c.s.Annotations,
	}
}

// List returns the states of all containers, sorted by id.
func (r *Runtime) List() ([]State, error) {
	entries, err := os.ReadDir(r.Root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []State
	names := map[uint32]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := r.Load(e.Name())
		if err != nil {
			continue // removed while we looked, or not ours
		}
		out = append(out, c.state(names))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
