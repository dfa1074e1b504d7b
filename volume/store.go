package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
)

var (
	// ErrNotFound: no volume of that name.
	ErrNotFound = errors.New("no such volume")
	// ErrInvalid: a bad name, driver or option.
	ErrInvalid = errors.New("invalid volume")
	// ErrConflict: a volume of that name exists with another driver or
	// other driver options.
	ErrConflict = errors.New("volume name must be unique")
)

// AnonymousLabel is the label docker sets on anonymous volumes.
const AnonymousLabel = "com.docker.volume.anonymous"

// DriverLocal is the one driver berth has.
const DriverLocal = "local"

// Volume is what the store keeps of one volume.
type Volume struct {
	Name string
	// Driver is always "local".
	Driver string
	// Mountpoint is where the data is on the host: ROOT/NAME/_data.
	Mountpoint string
	CreatedAt  time.Time
	Labels     map[string]string
	// Options are the driver options (type, device, o).
	Options map[string]string
	// Anonymous: made for one container (docker's label
	// com.docker.volume.anonymous is set too).
	Anonymous bool
}

// NeedsMount reports whether the volume's data is a filesystem mounted
// while containers use it (driver options type and device), rather than
// a plain directory.
func (v Volume) NeedsMount() bool { return v.Options["type"] != "" || v.Options["device"] != "" }

// opError is docker's shape of a volume error: "OP NAME: MESSAGE",
// matching the sentinel kind with errors.Is.
type opError struct {
	op, name string
	kind     error
	msg      string
}

func (e *opError) Error() string {
	if e.name == "" {
		return e.op + ": " + e.msg
	}
	return e.op + " " + e.name + ": " + e.msg
}
func (e *opError) Unwrap() error { return e.kind }

func opErr(op, name string, kind error, format string, args ...any) error {
	return &opError{op: op, name: name, kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Layout under the root:
//
//	ROOT/.lock           flocked by every operation (shared for reads)
//	ROOT/NAME/_data      the data (or the mountpoint of the volume's filesystem)
//	ROOT/NAME/meta.json  the record (meta), written atomically
//	ROOT/.rm-NAME-XXXX   a volume being removed (renamed away first)
//
// Volume names start with a letter or digit, so dot entries never clash.
const (
	dataDir  = "_data"
	metaFile = "meta.json"
	lockName = ".lock"
)

// meta is the on-disk record of one volume.
type meta struct {
	Driver    string            `json:"driver"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
	Anonymous bool              `json:"anonymous,omitempty"`
	// Refs are who has the volume mounted (container IDs); kept for
	// volumes that need a mount, so that the last Unmount, in whichever
	// process, unmounts.
	Refs []string `json:"refs,omitempty"`
}

// Store is the volumes under one root (DATA_ROOT/volumes). Every method is
// safe for concurrent use, also by several processes (the daemon and the
// CLI's in-process engine) on the same root.
type Store struct{ root string }

// Open opens (making it when missing) the store at root.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, fmt.Errorf("open volumes: %w", err)
	}
	s := &Store{root: root}
	// Take the lock once (a root where it cannot be made is no store),
	// and finish the removals a crash interrupted.
	unlock, err := s.lock(true)
	if err != nil {
		return nil, fmt.Errorf("open volumes: %w", err)
	}
	defer unlock()
	left, _ := filepath.Glob(filepath.Join(root, ".rm-*"))
	for _, dir := range left {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("open volumes: finish removing %s: %w", dir, err)
		}
	}
	return s, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// validName is docker's rule for local volume names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks name against docker's rule for local volume names;
// the error is docker's (without the "create NAME: " its callers add).
func ValidateName(name string) error {
	if len(name) == 1 {
		return fmt.Errorf("%w: volume name is too short, names should be at least two alphanumeric characters", ErrInvalid)
	}
	if !validName.MatchString(name) {
		return fmt.Errorf("%w: %q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path",
			ErrInvalid, name, "[a-zA-Z0-9][a-zA-Z0-9_.-]")
	}
	return nil
}

func nameError(op, name string) error {
	if err := ValidateName(name); err != nil {
		return opErr(op, name, ErrInvalid, "%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	return nil
}

// ValidateDriver checks that driver is the local one ("" means local).
func ValidateDriver(driver string) error {
	if driver != "" && driver != DriverLocal {
		return fmt.Errorf("%w: error looking up volume plugin %s: plugin %q not found", ErrInvalid, driver, driver)
	}
	return nil
}

// Create makes the volume name (a random 64-hex name when empty), or
// returns the one that exists (created false) when it has the same
// driver. Unknown drivers or options are ErrInvalid, with a message
// naming them. A volume made without a name is anonymous, as in docker,
// whatever anonymous says.
func (s *Store) Create(name, driver string, opts, labels map[string]string, anonymous bool) (v Volume, created bool, err error) {
	if name == "" {
		b := make([]byte, 32)
		rand.Read(b)
		name = hex.EncodeToString(b)
		anonymous = true
	}
	if err := nameError("create", name); err != nil {
		return Volume{}, false, err
	}
	if err := ValidateDriver(driver); err != nil {
		return Volume{}, false, opErr("create", name, ErrInvalid, "%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	if err := validateOptions(opts); err != nil {
		return Volume{}, false, opErr("create", name, ErrInvalid, "%s", err)
	}
	unlock, err := s.lock(true)
	if err != nil {
		return Volume{}, false, err
	}
	defer unlock()
	if m, err := s.read(name); err == nil {
		// docker: the one that exists, whatever its labels; another
		// driver is a conflict, and so (berth) are other options when
		// options are given.
		if len(opts) > 0 && !maps.Equal(opts, m.Options) {
			return Volume{}, false, opErr("create", name, ErrConflict,
				"volume already exists with different driver options (%s): %s", formatOpts(m.Options), ErrConflict)
		}
		return s.volume(name, m), false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Volume{}, false, err
	}
	m := &meta{Driver: DriverLocal, CreatedAt: time.Now().UTC().Truncate(time.Second), Anonymous: anonymous}
	if len(opts) > 0 {
		m.Options = maps.Clone(opts)
	}
	if len(labels) > 0 || anonymous {
		m.Labels = maps.Clone(labels)
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		if anonymous {
			m.Labels[AnonymousLabel] = ""
		}
	}
	dir := filepath.Join(s.root, name)
	if err := os.Mkdir(dir, 0o701); err != nil {
		return Volume{}, false, fmt.Errorf("create %s: %w", name, err)
	}
	if err := os.Mkdir(filepath.Join(dir, dataDir), 0o755); err == nil {
		err = s.write(name, m)
	}
	if err != nil {
		os.RemoveAll(dir)
		return Volume{}, false, fmt.Errorf("create %s: %w", name, err)
	}
	return s.volume(name, m), true, nil
}

func formatOpts(o map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(o)) {
		parts = append(parts, k+"="+o[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// Get returns the volume name, or ErrNotFound.
func (s *Store) Get(name string) (Volume, error) {
	if !validName.MatchString(name) {
		return Volume{}, opErr("get", name, ErrNotFound, "no such volume")
	}
	unlock, err := s.lock(false)
	if err != nil {
		return Volume{}, err
	}
	defer unlock()
	m, err := s.read(name)
	if err != nil {
		return Volume{}, err
	}
	return s.volume(name, m), nil
}

// List returns every volume, by name.
func (s *Store) List() ([]Volume, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []Volume
	for _, ent := range ents {
		if !ent.IsDir() || !validName.MatchString(ent.Name()) {
			continue
		}
		m, err := s.read(ent.Name())
		if errors.Is(err, ErrNotFound) {
			continue // gone meanwhile, or not a volume
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s.volume(ent.Name(), m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove removes volume name and its data. It does not know who uses it:
// the engine checks that first.
func (s *Store) Remove(name string) error {
	if !validName.MatchString(name) {
		return opErr("get", name, ErrNotFound, "no such volume")
	}
	unlock, err := s.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := s.read(name); err != nil {
		return err
	}
	data := filepath.Join(s.root, name, dataDir)
	// Never delete through a mount: a bind volume's data is the host's.
	if err := unmountAll(data); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	trash, err := os.MkdirTemp(s.root, ".rm-"+name+"-")
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	moved := filepath.Join(trash, name)
	if err := os.Rename(filepath.Join(s.root, name), moved); err != nil {
		os.Remove(trash)
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove %s: data: %w", name, err)
	}
	return nil
}

// NeedsMount reports whether m's volume has a filesystem of its own.
func (m *meta) NeedsMount() bool { return m.Options["type"] != "" || m.Options["device"] != "" }

// Mount makes the volume's data ready for a container (ref is the
// container's ID) and returns the host directory to bind: Mountpoint. A
// volume with driver options has its filesystem mounted there by the
// first ref and unmounted by the last Unmount; the refs survive a restart
// of the process.
func (s *Store) Mount(name, ref string) (string, error) {
	if !validName.MatchString(name) {
		return "", opErr("get", name, ErrNotFound, "no such volume")
	}
	unlock, err := s.lock(true)
	if err != nil {
		return "", err
	}
	defer unlock()
	m, err := s.read(name)
	if err != nil {
		return "", err
	}
	data := filepath.Join(s.root, name, dataDir)
	if !m.NeedsMount() {
		return data, nil
	}
	mounted, err := isMountpoint(data)
	if err != nil {
		return "", fmt.Errorf("mount %s: %w", name, err)
	}
	did := false
	if !mounted {
		if err := mountVolume(m.Options, data); err != nil {
			return "", fmt.Errorf("mount %s: %w", name, err)
		}
		did = true
	}
	if !slices.Contains(m.Refs, ref) {
		m.Refs = append(m.Refs, ref)
		if err := s.write(name, m); err != nil {
			if did {
				unmountAll(data)
			}
			return "", fmt.Errorf("mount %s: %w", name, err)
		}
	}
	return data, nil
}

// Unmount drops ref's use of the volume; unknown refs are no error.
func (s *Store) Unmount(name, ref string) error {
	if !validName.MatchString(name) {
		return nil
	}
	unlock, err := s.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := s.read(name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !m.NeedsMount() {
		return nil
	}
	i := slices.Index(m.Refs, ref)
	if i < 0 {
		return nil
	}
	m.Refs = slices.Delete(m.Refs, i, i+1)
	if len(m.Refs) == 0 {
		if err := unmountAll(filepath.Join(s.root, name, dataDir)); err != nil {
			return fmt.Errorf("unmount %s: %w", name, err)
		}
	}
	if err := s.write(name, m); err != nil {
		return fmt.Errorf("unmount %s: %w", name, err)
	}
	return nil
}

// Refs returns who has the volume mounted (only volumes that need a
// mount keep refs).
func (s *Store) Refs(name string) ([]string, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m, err := s.read(name)
	if err != nil {
		return nil, err
	}
	return m.Refs, nil
}

// Usage is the disk space the volume's data takes (-1 when unknown).
func (s *Store) Usage(name string) (int64, error) {
	if !validName.MatchString(name) {
		return -1, opErr("get", name, ErrNotFound, "no such volume")
	}
	data := filepath.Join(s.root, name, dataDir)
	if _, err := os.Lstat(data); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return -1, opErr("get", name, ErrNotFound, "no such volume")
		}
		return -1, err
	}
	return dirSize(data)
}

// read loads name's record; a volume directory without one (made by an
// older tool) is a plain volume created when the directory was.
func (s *Store) read(name string) (*meta, error) {
	dir := filepath.Join(s.root, name)
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		fi, serr := os.Stat(filepath.Join(dir, dataDir))
		if serr != nil || !fi.IsDir() {
			return nil, opErr("get", name, ErrNotFound, "no such volume")
		}
		return &meta{Driver: DriverLocal, CreatedAt: fi.ModTime().UTC().Truncate(time.Second)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	m := new(meta)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("volume %s: %s: %w", name, metaFile, err)
	}
	if m.Driver == "" {
		m.Driver = DriverLocal
	}
	return m, nil
}

func (s *Store) write(name string, m *meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.root, name, metaFile), b, 0o600)
}

func (s *Store) volume(name string, m *meta) Volume {
	return Volume{
		Name:       name,
		Driver:     m.Driver,
		Mountpoint: filepath.Join(s.root, name, dataDir),
		CreatedAt:  m.CreatedAt,
		Labels:     maps.Clone(m.Labels),
		Options:    maps.Clone(m.Options),
		Anonymous:  m.Anonymous,
	}
}
