package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-project/berth/mount"
)

// A container's secrets and configs are files on a tmpfs of the host,
// Dir/secrets (mode 0700: root only), written decrypted at each start
// and unmounted at exit and at remove: never on disk. Each file is bound
// read-only at its target in the container; the secrets' default
// directory, /run/secrets, is itself a tmpfs in the container, so that the
// mountpoints do not land in the container's filesystem either. The binds
// happen in the container's own mount namespace: the host's view of the
// rootfs (what export, cp, diff and commit read) never shows the values.

// secretsRunDir is where secrets go unless told otherwise.
const secretsRunDir = "/run/secrets"

// Defaults of a secret and a config file.
const (
	defaultSecretMode fs.FileMode = 0o400
	defaultConfigMode fs.FileMode = 0o444
)

// secretsHostDir is the tmpfs of r's files on the host.
func (r *ctrRecord) secretsHostDir() string { return filepath.Join(r.Dir, "secrets") }

// fileRefTarget is the absolute, clean target of a secret (under
// /run/secrets when relative or not given) or of a config (under /).
func fileRefTarget(k fileKind, ref FileRef) string {
	t := ref.Target
	if t == "" {
		t = ref.Name
	}
	if !path.IsAbs(t) {
		if k.encrypt {
			t = secretsRunDir + "/" + t
		} else {
			t = "/" + t
		}
	}
	return path.Clean(t)
}

// completeFileRef checks ref (its name already resolved) and fills in the
// defaults of kind k.
func completeFileRef(k fileKind, ref FileRef) (FileRef, error) {
	ref.Target = fileRefTarget(k, ref)
	if ref.Target == "/" || ref.Target == secretsRunDir && k.encrypt {
		return ref, Invalid("invalid target %q of %s %s: it must name a file", ref.Target, k.noun, ref.Name)
	}
	for _, id := range []*string{&ref.UID, &ref.GID} {
		if *id == "" {
			*id = "0"
		}
		if _, err := strconv.ParseUint(*id, 10, 32); err != nil {
			return ref, Invalid("invalid uid or gid %q of %s %s: it must be a number", *id, k.noun, ref.Name)
		}
	}
	if ref.Mode == 0 {
		ref.Mode = defaultSecretMode
		if !k.encrypt {
			ref.Mode = defaultConfigMode
		}
	}
	if ref.Mode&^fs.ModePerm != 0 {
		return ref, Invalid("invalid file mode %#o of %s %s: only permission bits (0000-0777) are allowed", uint32(ref.Mode), k.noun, ref.Name)
	}
	return ref, nil
}

// resolveSecrets checks the secrets and configs a create asks for exist,
// fills in their defaults and sets r.Secrets and r.Configs.
func (e *Engine) resolveSecrets(ctx context.Context, r *ctrRecord, secrets, configs []FileRef) error {
	if len(secrets)+len(configs) == 0 {
		return nil
	}
	targets := map[string]string{}
	resolve := func(k fileKind, refs []FileRef) ([]FileRef, error) {
		var out []FileRef
		err := e.core.store.read(func(tx *bolt.Tx) error {
			for _, ref := range refs {
				if ref.Name == "" {
					return Invalid("a %s needs a name", k.noun)
				}
				o, err := findFileObj(tx, k, ref.Name)
				if KindOf(err) == KindNotFound {
					return NotFound("%s not found: %s", k.noun, ref.Name)
				}
				if err != nil {
					return err
				}
				ref.Name = o.Name
				if ref, err = completeFileRef(k, ref); err != nil {
					return err
				}
				if other, dup := targets[ref.Target]; dup {
					return Invalid("Duplicate mount point: %s (%s and %s %s)", ref.Target, other, k.noun, ref.Name)
				}
				targets[ref.Target] = k.noun + " " + ref.Name
				out = append(out, ref)
			}
			return nil
		})
		return out, err
	}
	s, err := resolve(kindSecret, secrets)
	if err != nil {
		return err
	}
	c, err := resolve(kindConfig, configs)
	if err != nil {
		return err
	}
	r.Secrets, r.Configs = s, c
	return nil
}

// fileRefFile is the name, on the host tmpfs, of r's i-th secret or
// config file.
func fileRefFile(k fileKind, i int) string { return fmt.Sprintf("%s-%d", k.noun, i) }

// secretsUp writes r's secret and config files, decrypted, on a tmpfs
// that only root can read, for specSecrets to bind into the container.
func (e *Engine) secretsUp(ctx context.Context, r *ctrRecord) (err error) {
	if len(r.Secrets)+len(r.Configs) == 0 {
		return nil
	}
	e.secretsDown(r) // what a run cut short may have left
	type file struct {
		name string
		ref  FileRef
		data []byte
	}
	var files []file
	size := 4 * 4096
	err = e.core.store.read(func(tx *bolt.Tx) error {
		for _, k := range []fileKind{kindSecret, kindConfig} {
			refs := r.Secrets
			if !k.encrypt {
				refs = r.Configs
			}
			for i, ref := range refs {
				o, err := findFileObj(tx, k, ref.Name)
				if KindOf(err) == KindNotFound {
					return NotFound("%s not found: %s", k.noun, ref.Name)
				}
				if err != nil {
					return err
				}
				data, err := e.fileData(k, o)
				if err != nil {
					return err
				}
				files = append(files, file{fileRefFile(k, i), ref, data})
				size += len(data) + 4096
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("start container %s: %w", r.ID, err)
	}
	dir := r.secretsHostDir()
	if err := mountSecretsTmpfs(dir, size); err != nil {
		return fmt.Errorf("start container %s: %w", r.ID, err)
	}
	defer func() {
		if err != nil {
			e.secretsDown(r)
		}
	}()
	for _, f := range files {
		if err := writeSecretFile(filepath.Join(dir, f.name), f.ref, f.data); err != nil {
			return fmt.Errorf("start container %s: write %s: %w", r.ID, f.ref.Name, err)
		}
	}
	return nil
}

// writeSecretFile writes one file with the owner and mode of ref. The
// error never holds the data.
func writeSecretFile(p string, ref FileRef, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(ref.UID)
	gid, _ := strconv.Atoi(ref.GID)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		err = f.Chmod(ref.Mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// secretsDown removes (unmounts) what secretsUp wrote; safe to call twice.
func (e *Engine) secretsDown(r *ctrRecord) {
	if len(r.Secrets)+len(r.Configs) == 0 {
		return
	}
	dir := r.secretsHostDir()
	if err := mount.Unmount(dir); err != nil {
		return // keep the directory: something is still mounted on it
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Not a mountpoint but not empty: never leave values on disk.
		os.RemoveAll(dir)
	}
}

// specSecrets adds r's secret and config files to the runtime spec. With
// a user namespace, the files written already are given to the host IDs
// the container's IDs map to.
func (e *Engine) specSecrets(r *ctrRecord, s *specs.Spec) error {
	if len(r.Secrets)+len(r.Configs) == 0 {
		return nil
	}
	dir := r.secretsHostDir()
	if s.Linux != nil && len(s.Linux.UIDMappings) > 0 {
		if err := chownSecretsForUserns(dir, r, s.Linux.UIDMappings, s.Linux.GIDMappings); err != nil {
			return fmt.Errorf("container %s: %w", r.ID, err)
		}
	}
	for _, ref := range r.Secrets {
		if strings.HasPrefix(ref.Target, secretsRunDir+"/") {
			s.Mounts = append(s.Mounts, specs.Mount{
				Destination: secretsRunDir, Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "nodev", "noexec", "mode=755", "size=64k"},
			})
			break
		}
	}
	for _, k := range []fileKind{kindSecret, kindConfig} {
		refs := r.Secrets
		if !k.encrypt {
			refs = r.Configs
		}
		for i, ref := range refs {
			s.Mounts = append(s.Mounts, specs.Mount{
				Destination: ref.Target, Type: "bind", Source: filepath.Join(dir, fileRefFile(k, i)),
				Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"},
			})
		}
	}
	return nil
}

// chownSecretsForUserns gives the tmpfs to the container's root and each
// file to the host IDs its uid and gid map to. Files not written yet
// (create writes the spec before any start) are skipped.
func chownSecretsForUserns(dir string, r *ctrRecord, uids, gids []specs.LinuxIDMapping) error {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	hostRoot, okU := hostID(uids, 0)
	hostRootG, okG := hostID(gids, 0)
	if okU && okG {
		if err := os.Chown(dir, int(hostRoot), int(hostRootG)); err != nil {
			return err
		}
	}
	for _, k := range []fileKind{kindSecret, kindConfig} {
		refs := r.Secrets
		if !k.encrypt {
			refs = r.Configs
		}
		for i, ref := range refs {
			uid, _ := strconv.ParseUint(ref.UID, 10, 32)
			gid, _ := strconv.ParseUint(ref.GID, 10, 32)
			hu, ok1 := hostID(uids, uint32(uid))
			hg, ok2 := hostID(gids, uint32(gid))
			if !ok1 || !ok2 {
				return Invalid("%s %s: uid %s or gid %s is not mapped in the container's user namespace", k.noun, ref.Name, ref.UID, ref.GID)
			}
			if err := os.Lchown(filepath.Join(dir, fileRefFile(k, i)), int(hu), int(hg)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// hostID maps a container ID to the host's through the mappings.
func hostID(ms []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, m := range ms {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return m.HostID + id - m.ContainerID, true
		}
	}
	return 0, false
}
