package engine

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"

	bvolume "github.com/berth-project/berth/volume"
)

// volumeError gives an error of the volume store its engine kind; the
// message (docker's "get NAME: no such volume", ...) stays as it is.
func volumeError(err error) error {
	if err == nil {
		return nil
	}
	var kind Kind
	switch {
	case errors.Is(err, bvolume.ErrNotFound):
		kind = KindNotFound
	case errors.Is(err, bvolume.ErrInvalid):
		kind = KindInvalid
	case errors.Is(err, bvolume.ErrConflict):
		kind = KindConflict
	default:
		return err
	}
	return &Error{Kind: kind, Msg: err.Error(), Err: err}
}

// apiVolume is the API's view of a volume.
func apiVolume(v bvolume.Volume) volume.Volume {
	out := volume.Volume{
		Name:       v.Name,
		Driver:     v.Driver,
		Mountpoint: v.Mountpoint,
		CreatedAt:  v.CreatedAt.Format(time.RFC3339),
		Labels:     maps.Clone(v.Labels),
		Options:    maps.Clone(v.Options),
		Scope:      "local",
	}
	if out.Driver == "" {
		out.Driver = bvolume.DriverLocal
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	return out
}

// volumeUsers returns the IDs of the containers among recs whose mounts
// name volume name, in the order of recs.
func volumeUsers(recs []*ctrRecord, name string) []string {
	var ids []string
	for _, r := range recs {
		for _, m := range r.Mounts {
			if m.Type == mount.TypeVolume && m.Name == name {
				ids = append(ids, r.ID)
				break
			}
		}
	}
	return ids
}

// volumeRefCounts counts, for each volume name, the containers using it.
func volumeRefCounts(recs []*ctrRecord) map[string]int64 {
	n := map[string]int64{}
	for _, r := range recs {
		seen := map[string]bool{}
		for _, m := range r.Mounts {
			if m.Type == mount.TypeVolume && m.Name != "" && !seen[m.Name] {
				seen[m.Name] = true
				n[m.Name]++
			}
		}
	}
	return n
}

// VolumeCreate is POST /volumes/create: the volume, made when missing (a
// random name when none is given). Creating one that exists returns it.
func (e *Engine) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	if req.ClusterVolumeSpec != nil {
		return volume.Volume{}, Unavailable("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
	}
	v, _, err := e.createVolume(req.Name, req.Driver, req.DriverOpts, req.Labels, false)
	if err != nil {
		return volume.Volume{}, err
	}
	return apiVolume(v), nil
}

// createVolume makes volume name (anonymous, with a random name, when
// name is empty), or finds the one that exists, saying docker's create
// event when it made it. Errors have their engine kind. The container
// mounts use it for the volumes they name.
func (e *Engine) createVolume(name, driver string, opts, labels map[string]string, anonymous bool) (bvolume.Volume, bool, error) {
	v, created, err := e.Volumes.Create(name, driver, opts, labels, anonymous)
	if err != nil {
		return bvolume.Volume{}, false, volumeError(err)
	}
	if created {
		e.emit(events.VolumeEventType, events.ActionCreate, v.Name, map[string]string{"driver": v.Driver})
	}
	return v, created, nil
}

// Unavailable is Errorf of KindUnavailable.
func Unavailable(format string, args ...any) error {
	return Errorf(KindUnavailable, format, args...)
}

// checkVolumeFilters refuses filter keys outside allowed (docker's words).
func checkVolumeFilters(f Filters, allowed ...string) error {
	for k := range f {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return Invalid("invalid filter '%s'", k)
		}
	}
	return nil
}

// filterBool reads a boolean filter (true/false/1/0); set is false when
// the filter is absent.
func filterBool(f Filters, key string) (val, set bool, err error) {
	for _, v := range f[key] {
		switch strings.ToLower(v) {
		case "true", "1":
			val, set = true, true
		case "false", "0":
			set = true
		default:
			return false, false, Invalid("invalid filter '%s=%s'", key, v)
		}
	}
	return val, set, nil
}

// matchName is docker's name filter: the value as a regular expression
// searched in the name (a value that is no expression: a substring).
func matchName(vals []string, name string) bool {
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if re, err := regexp.Compile(v); err == nil {
			if re.MatchString(name) {
				return true
			}
		} else if strings.Contains(name, v) {
			return true
		}
	}
	return false
}

// VolumeList is GET /volumes: the volumes matching f (dangling, driver,
// label, name).
func (e *Engine) VolumeList(ctx context.Context, f Filters) (volume.ListResponse, error) {
	if err := checkVolumeFilters(f, "dangling", "driver", "label", "name"); err != nil {
		return volume.ListResponse{}, err
	}
	dangling, danglingSet, err := filterBool(f, "dangling")
	if err != nil {
		return volume.ListResponse{}, err
	}
	vols, err := e.Volumes.List()
	if err != nil {
		return volume.ListResponse{}, volumeError(err)
	}
	var refs map[string]int64
	if danglingSet {
		recs, err := e.records()
		if err != nil {
			return volume.ListResponse{}, err
		}
		refs = volumeRefCounts(recs)
	}
	out := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range vols {
		if danglingSet && (refs[v.Name] == 0) != dangling {
			continue
		}
		if ds := f["driver"]; len(ds) > 0 && !anyOf(ds, []string{v.Driver}) {
			continue
		}
		if !matchName(f["name"], v.Name) || !matchLabels(f["label"], v.Labels) {
			continue
		}
		out.Volumes = append(out.Volumes, apiVolume(v))
	}
	return out, nil
}

// VolumeInspect is GET /volumes/{name}.
func (e *Engine) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	v, err := e.Volumes.Get(name)
	if err != nil {
		return volume.Volume{}, volumeError(err)
	}
	return apiVolume(v), nil
}

// VolumeRemove is DELETE /volumes/{name}: docker refuses a volume any
// container (running or not) uses, force or not; force only makes a
// missing volume no error (docker volume rm -f).
func (e *Engine) VolumeRemove(ctx context.Context, name string, force bool) error {
	err := e.removeVolume(name)
	if force && KindOf(err) == KindNotFound {
		return nil
	}
	return err
}

// removeVolume removes volume name unless a container uses it, and says
// so with a destroy event.
func (e *Engine) removeVolume(name string) error {
	v, err := e.Volumes.Get(name)
	if err != nil {
		return volumeError(err)
	}
	recs, err := e.records()
	if err != nil {
		return err
	}
	if users := volumeUsers(recs, v.Name); len(users) > 0 {
		return Conflict("remove %s: volume is in use - [%s]", v.Name, strings.Join(users, ", "))
	}
	if err := e.Volumes.Remove(v.Name); err != nil {
		return volumeError(err)
	}
	e.emit(events.VolumeEventType, events.ActionDestroy, v.Name, map[string]string{"driver": v.Driver})
	return nil
}

// VolumesPrune is POST /volumes/prune: the unused volumes without driver
// options, only anonymous ones unless filter all=true (docker since API
// 1.42; the HTTP handler sets all for older clients), further chosen by
// label and label!.
func (e *Engine) VolumesPrune(ctx context.Context, f Filters) (volume.PruneReport, error) {
	if err := checkVolumeFilters(f, "all", "label", "label!"); err != nil {
		return volume.PruneReport{}, err
	}
	all, _, err := filterBool(f, "all")
	if err != nil {
		return volume.PruneReport{}, err
	}
	vols, err := e.Volumes.List()
	if err != nil {
		return volume.PruneReport{}, volumeError(err)
	}
	recs, err := e.records()
	if err != nil {
		return volume.PruneReport{}, err
	}
	refs := volumeRefCounts(recs)
	rep := volume.PruneReport{VolumesDeleted: []string{}}
	for _, v := range vols {
		// As docker: volumes with driver options are not local data
		// (nothing to reclaim), and prune leaves them alone.
		if refs[v.Name] > 0 || (!all && !v.Anonymous) || len(v.Options) > 0 ||
			!matchLabels(f["label"], v.Labels) || labelsExcluded(f["label!"], v.Labels) {
			continue
		}
		size, _ := e.Volumes.Usage(v.Name)
		if err := e.removeVolume(v.Name); err != nil {
			// Taken or removed meanwhile: not this prune's to remove.
			if k := KindOf(err); k == KindConflict || k == KindNotFound {
				continue
			}
			return rep, err
		}
		rep.VolumesDeleted = append(rep.VolumesDeleted, v.Name)
		if size > 0 {
			rep.SpaceReclaimed += uint64(size)
		}
	}
	e.emit(events.VolumeEventType, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	return rep, nil
}

// volumeDiskUsage is the volumes part of docker system df: every volume
// whose data is local (no driver options, as docker counts them) with its
// size and the number of containers using it.
func (e *Engine) volumeDiskUsage(recs []*ctrRecord) (*volume.DiskUsage, error) {
	vols, err := e.Volumes.List()
	if err != nil {
		return nil, volumeError(err)
	}
	refs := volumeRefCounts(recs)
	du := &volume.DiskUsage{Items: []volume.Volume{}}
	for _, v := range vols {
		if len(v.Options) > 0 {
			continue // docker's df counts local data only
		}
		size, err := e.Volumes.Usage(v.Name)
		if err != nil {
			size = -1
		}
		av := apiVolume(v)
		av.UsageData = &volume.UsageData{Size: size, RefCount: refs[v.Name]}
		du.Items = append(du.Items, av)
		du.TotalCount++
		if refs[v.Name] > 0 {
			du.ActiveCount++
		}
		if size > 0 {
			du.TotalSize += size
			if refs[v.Name] == 0 {
				du.Reclaimable += size
			}
		}
	}
	return du, nil
}
