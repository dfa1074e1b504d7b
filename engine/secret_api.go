package engine

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"
	bolt "go.etcd.io/bbolt"
)

// Secrets and configs live in engine.db, one bucket each (made on first
// write, so an engine.db without them reads as empty):
//
//	secrets: ID -> JSON fileObj, Data = nonce || AES-256-GCM(data)
//	configs: ID -> JSON fileObj, Data plain
//
// Their shapes, names, IDs and limits are swarm's.
var (
	bucketSecrets = []byte("secrets")
	bucketConfigs = []byte("configs")
)

// Swarm's limits on the data of a secret and of a config.
const (
	maxSecretSize = 500 * 1024
	maxConfigSize = 1000 * 1024
)

// fileKind is what distinguishes secrets from configs in the one store
// both share.
type fileKind struct {
	noun    string // "secret" or "config"
	bucket  []byte
	maxSize int
	encrypt bool
	event   events.Type
}

var (
	kindSecret = fileKind{"secret", bucketSecrets, maxSecretSize, true, events.SecretEventType}
	kindConfig = fileKind{"config", bucketConfigs, maxConfigSize, false, events.ConfigEventType}
)

// fileObj is the record of a secret or a config.
type fileObj struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	Version    uint64            `json:"version"`
	CreatedAt  time.Time         `json:"createdAt"`
	UpdatedAt  time.Time         `json:"updatedAt"`
	Driver     *swarm.Driver     `json:"driver,omitempty"`
	Templating *swarm.Driver     `json:"templating,omitempty"`
	// Data is the config's content, or the secret's sealed (see
	// secret_key.go): never the secret's plain value.
	Data []byte `json:"data"`
}

func (o *fileObj) meta() swarm.Meta {
	return swarm.Meta{Version: swarm.Version{Index: o.Version}, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

func (o *fileObj) annotations() swarm.Annotations {
	labels := map[string]string{}
	for k, v := range o.Labels {
		labels[k] = v
	}
	return swarm.Annotations{Name: o.Name, Labels: labels}
}

// secretOf is the API's view of a secret: never its data.
func secretOf(o *fileObj) swarm.Secret {
	return swarm.Secret{ID: o.ID, Meta: o.meta(), Spec: swarm.SecretSpec{
		Annotations: o.annotations(), Driver: o.Driver, Templating: o.Templating,
	}}
}

func configOf(o *fileObj) swarm.Config {
	return swarm.Config{ID: o.ID, Meta: o.meta(), Spec: swarm.ConfigSpec{
		Annotations: o.annotations(), Data: append([]byte(nil), o.Data...), Templating: o.Templating,
	}}
}

// validFileName is docker's (swarm's) rule for secret and config names.
var validFileName = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)

// checkFileName checks a secret or config name as swarm does.
func checkFileName(name string) error {
	if name == "" || len(name) > 64 || !validFileName.MatchString(name) {
		return Invalid("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]")
	}
	return nil
}

// newObjectID returns an ID like swarm's: 128 random bits in base 36,
// 25 lowercase characters.
func newObjectID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make an ID: %w", err)
	}
	s := new(big.Int).SetBytes(b).Text(36)
	return strings.Repeat("0", 25-len(s)) + s, nil
}

// checkFileSpec checks what create is given for kind k.
func checkFileSpec(k fileKind, a swarm.Annotations, data []byte, driver, templating *swarm.Driver) error {
	if err := checkFileName(a.Name); err != nil {
		return err
	}
	if len(data) == 0 || len(data) >= k.maxSize {
		return Invalid("%s data must be larger than 0 and less than %d KB", k.noun, k.maxSize/1024)
	}
	if driver != nil && driver.Name != "" {
		return Invalid("%s driver %q is not supported: berth keeps %ss itself", k.noun, driver.Name, k.noun)
	}
	if templating != nil && templating.Name != "" {
		return Invalid("%s templating (%s) is not supported by berth", k.noun, templating.Name)
	}
	return nil
}

// allFileObjs decodes every record of kind k, sorted by name.
func allFileObjs(tx *bolt.Tx, k fileKind) ([]*fileObj, error) {
	b := tx.Bucket(k.bucket)
	if b == nil {
		return nil, nil
	}
	var out []*fileObj
	err := b.ForEach(func(key, v []byte) error {
		o := new(fileObj)
		if err := json.Unmarshal(v, o); err != nil {
			return fmt.Errorf("decode the record of %s %s: %w", k.noun, key, err)
		}
		out = append(out, o)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// findFileObj resolves ref as swarm does: a full ID, then a name, then a
// unique ID prefix. Not found is "secret NAME not found".
func findFileObj(tx *bolt.Tx, k fileKind, ref string) (*fileObj, error) {
	if ref == "" {
		return nil, Invalid("%s name or ID is empty", k.noun)
	}
	all, err := allFileObjs(tx, k)
	if err != nil {
		return nil, err
	}
	for _, o := range all {
		if o.ID == ref {
			return o, nil
		}
	}
	for _, o := range all {
		if o.Name == ref {
			return o, nil
		}
	}
	var found []*fileObj
	for _, o := range all {
		if strings.HasPrefix(o.ID, ref) {
			found = append(found, o)
		}
	}
	switch len(found) {
	case 0:
		return nil, NotFound("%s %s not found", k.noun, ref)
	case 1:
		return found[0], nil
	}
	return nil, Invalid("%s %s is ambiguous (%d matches found)", k.noun, ref, len(found))
}

func (e *Engine) findFileObj(k fileKind, ref string) (*fileObj, error) {
	var o *fileObj
	err := e.core.store.read(func(tx *bolt.Tx) error {
		var err error
		o, err = findFileObj(tx, k, ref)
		return err
	})
	return o, err
}

// fileCreate stores a new secret or config.
func (e *Engine) fileCreate(k fileKind, a swarm.Annotations, data []byte, driver, templating *swarm.Driver) (string, error) {
	if err := checkFileSpec(k, a, data, driver, templating); err != nil {
		return "", err
	}
	id, err := newObjectID()
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	o := &fileObj{ID: id, Name: a.Name, Labels: a.Labels, Version: 1, CreatedAt: now, UpdatedAt: now,
		Driver: driver, Templating: templating}
	if k.encrypt {
		key, err := e.secretKey()
		if err != nil {
			return "", err
		}
		if o.Data, err = sealSecret(key, id, data); err != nil {
			return "", err
		}
	} else {
		o.Data = append([]byte(nil), data...)
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("encode the record of %s %s: %w", k.noun, a.Name, err)
	}
	err = e.core.store.update(func(tx *bolt.Tx) error {
		all, err := allFileObjs(tx, k)
		if err != nil {
			return err
		}
		for _, x := range all {
			if x.Name == a.Name {
				return Conflict("%s %s already exists", k.noun, a.Name)
			}
		}
		bk, err := tx.CreateBucketIfNotExists(k.bucket)
		if err != nil {
			return err
		}
		return bk.Put([]byte(id), b)
	})
	if err != nil {
		return "", err
	}
	e.emit(k.event, events.ActionCreate, id, map[string]string{"name": a.Name})
	return id, nil
}

// fileList lists the records of kind k matching f (id, label, name,
// names), as swarm filters them: id and name by prefix, names exactly.
func (e *Engine) fileList(k fileKind, f Filters) ([]*fileObj, error) {
	for key := range f {
		switch key {
		case "id", "label", "name", "names":
		default:
			return nil, Invalid("invalid filter '%s'", key)
		}
	}
	var all []*fileObj
	err := e.core.store.read(func(tx *bolt.Tx) error {
		var err error
		all, err = allFileObjs(tx, k)
		return err
	})
	if err != nil {
		return nil, err
	}
	anyMatch := func(key string, match func(v string) bool) bool {
		if len(f[key]) == 0 {
			return true
		}
		for _, v := range f[key] {
			if match(v) {
				return true
			}
		}
		return false
	}
	var out []*fileObj
	for _, o := range all {
		if anyMatch("id", func(v string) bool { return strings.HasPrefix(o.ID, v) }) &&
			anyMatch("name", func(v string) bool { return strings.HasPrefix(o.Name, v) }) &&
			anyMatch("names", func(v string) bool { return o.Name == v }) &&
			matchLabels(f["label"], o.Labels) {
			out = append(out, o)
		}
	}
	return out, nil
}

// fileRemove removes a secret or config no container uses.
func (e *Engine) fileRemove(k fileKind, ref string) error {
	var o *fileObj
	err := e.core.store.update(func(tx *bolt.Tx) error {
		var err error
		if o, err = findFileObj(tx, k, ref); err != nil {
			return err
		}
		recs, err := allRecords(tx)
		if err != nil {
			return err
		}
		var users []string
		for _, r := range recs {
			refs := r.Secrets
			if k.noun == "config" {
				refs = r.Configs
			}
			for _, fr := range refs {
				if fr.Name == o.Name {
					users = append(users, r.Name)
					break
				}
			}
		}
		if len(users) > 0 {
			sort.Strings(users)
			what := "container"
			if len(users) > 1 {
				what = "containers"
			}
			return Conflict("%s '%s' is in use by the following %s: %s", k.noun, o.Name, what, strings.Join(users, ", "))
		}
		return tx.Bucket(k.bucket).Delete([]byte(o.ID))
	})
	if err != nil {
		return err
	}
	e.emit(k.event, events.ActionRemove, o.ID, map[string]string{"name": o.Name})
	return nil
}

// fileData returns the content of a secret (opened) or config.
func (e *Engine) fileData(k fileKind, o *fileObj) ([]byte, error) {
	if !k.encrypt {
		return o.Data, nil
	}
	key, err := e.secretKey()
	if err != nil {
		return nil, err
	}
	return openSecret(key, o.ID, o.Data)
}

func (e *Engine) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	id, err := e.fileCreate(kindSecret, spec.Annotations, spec.Data, spec.Driver, spec.Templating)
	return swarm.SecretCreateResponse{ID: id}, err
}

func (e *Engine) SecretList(ctx context.Context, f Filters) ([]swarm.Secret, error) {
	objs, err := e.fileList(kindSecret, f)
	if err != nil {
		return nil, err
	}
	out := []swarm.Secret{}
	for _, o := range objs {
		out = append(out, secretOf(o))
	}
	return out, nil
}

func (e *Engine) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	o, err := e.findFileObj(kindSecret, ref)
	if err != nil {
		return swarm.Secret{}, err
	}
	return secretOf(o), nil
}

func (e *Engine) SecretRemove(ctx context.Context, ref string) error {
	return e.fileRemove(kindSecret, ref)
}

func (e *Engine) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	id, err := e.fileCreate(kindConfig, spec.Annotations, spec.Data, nil, spec.Templating)
	return swarm.ConfigCreateResponse{ID: id}, err
}

func (e *Engine) ConfigList(ctx context.Context, f Filters) ([]swarm.Config, error) {
	objs, err := e.fileList(kindConfig, f)
	if err != nil {
		return nil, err
	}
	out := []swarm.Config{}
	for _, o := range objs {
		out = append(out, configOf(o))
	}
	return out, nil
}

func (e *Engine) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	o, err := e.findFileObj(kindConfig, ref)
	if err != nil {
		return swarm.Config{}, err
	}
	return configOf(o), nil
}

func (e *Engine) ConfigRemove(ctx context.Context, ref string) error {
	return e.fileRemove(kindConfig, ref)
}

// errSecretOpen is what a secret that cannot be decrypted reports: the
// key file was replaced, or the record altered.
var errSecretOpen = errors.New("cannot decrypt the secret: the key in the secrets directory does not match (was it replaced?)")
