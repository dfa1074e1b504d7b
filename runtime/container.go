package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
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
}

// ID of the container.
func (c *Container) ID() string { return c.s.ID }

// Pid of the container's init process on the host (0 once stopped).
func (c *Container) Pid() int { return c.s.Pid }

// Spec is the configuration the container was created with.
func (c *Container) Spec() *specs.Spec { return c.s.Spec }

// Load opens the container id.
func (r *Runtime) Load(id string) (*Container, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(r.Root, id)
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
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
	c := &Container{rt: r, dir: dir}
	if err := json.Unmarshal(data, &c.s); err != nil || c.s.Runtime != runtimeName {
		return nil, fmt.Errorf("%w: %s", errNotOurs, id)
	}
	return c, nil
}

// errNotOurs: the state of another runtime sharing the root (or garbage).
var errNotOurs = errors.New("container state not written by berth")

// listView is the part of a saved state that `list` shows: decoding only
// this skips building the whole spec of every container.
type listView struct {
	saved
	Spec *struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"config"`
}

// loadForList is Load for list: the container's Spec has its annotations only.
func (r *Runtime) loadForList(id string) (*Container, error) {
	dir := filepath.Join(r.Root, id)
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return r.Load(id) // being created, or gone
	}
	var v listView
	if err := json.Unmarshal(data, &v); err != nil || v.Runtime != runtimeName {
		return nil, fmt.Errorf("%w: %s", errNotOurs, id)
	}
	c := &Container{rt: r, dir: dir, s: v.saved}
	if v.Spec != nil {
		c.s.Spec = &specs.Spec{Annotations: v.Spec.Annotations}
	}
	return c, nil
}

// Status works out the container's status from its init process: gone (or
// replaced by another process with the same pid) means stopped; still waiting
// on the exec fifo means created.
func (c *Container) Status() Status {
	if c.s.Spec == nil {
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
func (c *Container) State() State { return c.state(true) }

func (c *Container) state(withOwner bool) State {
	status := c.Status()
	pid := c.s.Pid
	if status == Stopped || status == Creating {
		pid = 0
	}
	var ann map[string]string
	if c.s.Spec != nil {
		ann = c.s.Spec.Annotations
	}
	st := State{
		OCIVersion:  specs.Version,
		ID:          c.s.ID,
		Pid:         pid,
		Status:      status,
		Bundle:      c.s.Bundle,
		Rootfs:      c.s.Rootfs,
		Created:     c.s.Created,
		Annotations: ann,
	}
	if withOwner {
		st.Owner = owner(c.dir, nil)
	}
	return st
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
		Annotations: c.s.Spec.Annotations,
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
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	// Each container costs a few file reads; with many of them, use the CPUs.
	states := make([]*State, len(dirs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(goruntime.GOMAXPROCS(0), len(dirs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := r.loadForList(dirs[i])
				if err != nil {
					continue // removed while we looked, or not ours
				}
				st := c.state(false)
				st.Owner = c.dir // filled in below
				states[i] = &st
			}
		}()
	}
	for i := range dirs {
		next <- i
	}
	close(next)
	wg.Wait()
	var out []State
	names := map[uint32]string{}
	for _, st := range states {
		if st != nil {
			st.Owner = owner(st.Owner, names)
			out = append(out, *st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
