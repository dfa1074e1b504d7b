package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/progress"
	"github.com/berth-project/berth/registry"
	"github.com/berth-project/berth/snapshot"
)

// DefaultRoot is where berth keeps images and containers.
const DefaultRoot = "/var/lib/berth"

// Images is the local image service: names, blobs and unpacked layers,
// and the registry client that fills them.
type Images struct {
	Root      string
	Content   *content.Local
	Snapshots snapshot.Snapshotter
	Records   *image.Records
	Registry  *registry.Client
	// Driver is the snapshotter in use: "overlay" or "copy".
	Driver string
	// pins are the images running builds hold (build_lease.go); copies
	// of Images (withAuth) share them.
	pins *pinSet
}

// ImagesOptions tune OpenImages.
type ImagesOptions struct {
	// Driver picks the snapshotter: "overlay", "copy", or "" for overlay
	// where the filesystem under Root supports it and copy elsewhere.
	Driver   string
	Registry []registry.Option
}

// OpenImages opens (creating) the image service under root.
func OpenImages(root string, o ImagesOptions) (*Images, error) {
	if root == "" {
		root = DefaultRoot
	}
	cs, err := content.NewLocal(filepath.Join(root, "content"))
	if err != nil {
		return nil, err
	}
	recs, err := image.OpenRecords(filepath.Join(root, "images"))
	if err != nil {
		return nil, err
	}
	s := &Images{Root: root, Content: cs, Records: recs, Registry: registry.NewClient(o.Registry...), pins: &pinSet{}}
	driver := o.Driver
	if driver == "" {
		// The choice is remembered: snapshots of one driver mean nothing
		// to the other.
		if b, err := os.ReadFile(filepath.Join(root, "driver")); err == nil {
			driver = strings.TrimSpace(string(b))
		}
	}
	switch driver {
	case "", "overlay":
		s.Snapshots, err = snapshot.NewOverlay(filepath.Join(root, "snapshots", "overlay"))
		if err == nil {
			driver = "overlay"
		} else if o.Driver == "" && driver == "" {
			driver = "copy"
			s.Snapshots, err = snapshot.NewCopy(filepath.Join(root, "snapshots", "copy"))
		}
	case "copy":
		s.Snapshots, err = snapshot.NewCopy(filepath.Join(root, "snapshots", "copy"))
	default:
		return nil, fmt.Errorf("unknown storage driver %q (overlay or copy)", driver)
	}
	if err != nil {
		return nil, err
	}
	s.Driver = driver
	if err := os.WriteFile(filepath.Join(root, "driver"), []byte(driver+"\n"), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// Close releases the snapshotter.
func (s *Images) Close() error { return s.Snapshots.Close() }

// PullOptions tune Pull.
type PullOptions struct {
	Platform ocispec.Platform // the host's when empty
	Progress progress.Sink    // nil: quiet
}

// Pull fetches ref from its registry into the content store, unpacking
// each layer as soon as it has arrived, and names the image. Nothing is
// named, and no snapshot committed for a layer, unless every byte checked
// out.
func (s *Images) Pull(ctx context.Context, name string, o PullOptions) (image.Record, error) {
	ref, err := image.ParseReference(name)
	if err != nil {
		return image.Record{}, err
	}
	if o.Platform.OS == "" {
		o.Platform = image.HostPlatform()
	}
	unlock, err := s.Records.Lock(ctx, false)
	if err != nil {
		return image.Record{}, err
	}
	defer unlock()

	reference := ref.Tag
	if ref.Digest != "" {
		reference = ref.Digest.String()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The pull runs beside the unpack: layer i is applied as soon as it
	// is in the store, while later layers still download.
	var (
		mu       sync.Mutex
		manifest = make(chan *registry.PullResult, 1)
		arrived  []chan struct{}
		pullErr  error
		pullDone = make(chan struct{})
	)
	layerChan := func(i int) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		for len(arrived) <= i {
			arrived = append(arrived, make(chan struct{}))
		}
		return arrived[i]
	}
	var res *registry.PullResult
	go func() {
		defer close(pullDone)
		res, pullErr = registry.Pull(ctx, s.Registry, s.Content, ref.RegistryHost(), ref.Path, reference, registry.PullOptions{
			SelectManifest: func(idx ocispec.Index) (ocispec.Descriptor, error) {
				return image.SelectManifest(idx, o.Platform)
			},
			OnManifest: func(r *registry.PullResult) { manifest <- r },
			LayerDone:  func(i int, _ ocispec.Descriptor) { close(layerChan(i)) },
			Progress:   o.Progress,
		})
	}()
	var pulled *registry.PullResult
	select {
	case pulled = <-manifest:
	case <-pullDone:
		if pullErr != nil {
			return image.Record{}, pullErr
		}
		pulled = res
	}
	layers := image.LayersOf(pulled.ManifestBody, pulled.ConfigBody)
	var sink func(digest.Digest, string, int64, int64)
	if o.Progress != nil {
		sink = func(id digest.Digest, status string, cur, total int64) {
			o.Progress.Update(progress.ShortID(id.String()), status, cur, total)
		}
	}
	_, size, err := image.Unpack(ctx, s.Content, s.Snapshots, layers, image.UnpackOptions{
		Ready: func(ctx context.Context, i int) error {
			select {
			case <-layerChan(i):
				return nil
			case <-pullDone:
				select {
				case <-layerChan(i):
					return nil
				default:
				}
				if pullErr != nil {
					return pullErr
				}
				return fmt.Errorf("pull of %s ended without layer %d", name, i)
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Progress: sink,
	})
	if err != nil {
		cancel()
		<-pullDone
		if pullErr != nil && errors.Is(err, pullErr) {
			return image.Record{}, err // the pull's own error names the image
		}
		return image.Record{}, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	<-pullDone
	if pullErr != nil {
		return image.Record{}, pullErr
	}
	target := res.Manifest
	if res.Index != nil {
		target = *res.Index
	}
	rec := image.Record{Name: ref.String(), Target: target, Manifest: res.Manifest, Config: res.Config, Created: time.Now().UTC(), Size: size}
	if err := s.Records.Put(ctx, rec); err != nil {
		return image.Record{}, err
	}
	return rec, nil
}

// Get finds one image by what a user typed: a name or an ID (prefix).
func (s *Images) Get(ctx context.Context, name string) (*image.Image, error) {
	recs, err := s.Records.Find(ctx, name)
	if err != nil {
		return nil, err
	}
	return image.Load(ctx, s.Content, recs[0])
}

// Tag gives the image src the name dst.
func (s *Images) Tag(ctx context.Context, src, dst string) error {
	img, err := s.Get(ctx, src)
	if err != nil {
		return err
	}
	ref, err := image.ParseReference(dst)
	if err != nil {
		return err
	}
	rec := img.Record
	rec.Name = ref.String()
	rec.BuildCache, rec.Description = "", ""
	rec.Created = time.Now().UTC()
	return s.Records.Put(ctx, rec)
}

// Removed is one line of what `image rm` did.
type Removed struct {
	Untagged string
	Deleted  digest.Digest
}

// Remove removes the name (or, given an ID, every name of that image when
// force is set or there is only one) and frees the blobs and snapshots no
// other image uses.
func (s *Images) Remove(ctx context.Context, name string, force bool) ([]Removed, error) {
	recs, err := s.Records.Find(ctx, name)
	if err != nil {
		return nil, err
	}
	byID := false
	if _, perr := image.ParseReference(name); perr != nil || recs[0].Name != mustFull(name) {
		byID = true
	}
	if byID && len(recs) > 1 && !force {
		return nil, fmt.Errorf("%w: unable to delete %s (must be forced) - image is referenced in multiple repositories", image.ErrConflict, progress.ShortID(recs[0].ID().String()))
	}
	// Untagging a name is fine while others remain; removing the last
	// names deletes the image, which a container's filesystem may sit on.
	if others, _ := s.Records.Find(ctx, recs[0].ID().String()); len(others) <= len(recs) && !force {
		if err := s.checkUnused(ctx, recs[0]); err != nil {
			return nil, err
		}
	}
	var out []Removed
	if err := s.Records.Update(ctx, func(m map[string]image.Record) error {
		for _, r := range recs {
			delete(m, r.Name)
			out = append(out, Removed{Untagged: image.Familiar(r.Name)})
		}
		for _, r := range m {
			if r.ID() == recs[0].ID() {
				return nil
			}
		}
		out = append(out, Removed{Deleted: recs[0].ID()})
		return nil
	}); err != nil {
		return nil, err
	}
	if _, err := s.collect(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// checkUnused fails when a container's snapshot sits on the image's layers.
func (s *Images) checkUnused(ctx context.Context, rec image.Record) error {
	img, err := image.Load(ctx, s.Content, rec)
	if err != nil {
		return nil
	}
	top := img.ChainID().String()
	var user string
	s.Snapshots.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind != snapshot.KindCommitted && i.Parent == top && !strings.HasPrefix(i.Name, "extract-") {
			user = i.Name
		}
		return nil
	})
	if user != "" {
		return fmt.Errorf("%w: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
			image.ErrConflict, image.Familiar(rec.Name), progress.ShortID(user), progress.ShortID(rec.ID().String()))
	}
	return nil
}

// Prune frees every blob and snapshot no image or container uses.
func (s *Images) Prune(ctx context.Context) (image.Collected, error) {
	return s.collect(ctx)
}

func mustFull(name string) string {
	ref, err := image.ParseReference(name)
	if err != nil {
		return ""
	}
	return ref.String()
}
