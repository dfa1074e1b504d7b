package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"

	bvolume "github.com/berth-project/berth/volume"
)

// useVolume records that container id mounts volume name, as the
// container's create does when it names the volume.
func useVolume(t *testing.T, e *Engine, id, name string) {
	t.Helper()
	_, _, err := e.mutate(id, func(r *ctrRecord) error {
		r.Mounts = append(r.Mounts, ctrMount{MountPoint: container.MountPoint{
			Type: mount.TypeVolume, Name: name, Destination: "/data", Driver: "local", RW: true,
		}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func volumeNamesOf(vs []bvolume.Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func volumeNames(vs []volume.Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func TestVolumeAPI(t *testing.T) {
	e := newTestEngine(t, false)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	msgs, _ := e.Events(c, EventsOptions{Filters: Filters{"type": {"volume"}}})

	v, err := e.VolumeCreate(ctx(t), volume.CreateRequest{Name: "data", Labels: map[string]string{"team": "core"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "data" || v.Driver != "local" || v.Scope != "local" || v.Labels["team"] != "core" ||
		v.Mountpoint != filepath.Join(e.opts.Root, "volumes", "data", "_data") || v.CreatedAt == "" || v.Options == nil || v.UsageData != nil {
		t.Fatalf("created %+v", v)
	}
	again, err := e.VolumeCreate(ctx(t), volume.CreateRequest{Name: "data", Driver: "local"})
	if err != nil || again.CreatedAt != v.CreatedAt || again.Labels["team"] != "core" {
		t.Fatalf("create again: %+v %v", again, err)
	}
	if _, err := e.VolumeCreate(ctx(t), volume.CreateRequest{Name: "tmp", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}); err != nil {
		t.Fatal(err)
	}
	anon, err := e.VolumeCreate(ctx(t), volume.CreateRequest{})
	if err != nil || len(anon.Name) != 64 {
		t.Fatalf("unnamed create: %+v %v", anon, err)
	}

	for _, tc := range []struct {
		req  volume.CreateRequest
		kind Kind
		msg  string
	}{
		{volume.CreateRequest{Name: "a/b"}, KindInvalid, `create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{volume.CreateRequest{Name: "x1", Driver: "nfs"}, KindInvalid, `create x1: error looking up volume plugin nfs: plugin "nfs" not found`},
		{volume.CreateRequest{Name: "x1", DriverOpts: map[string]string{"bogus": "1"}}, KindInvalid, `create x1: invalid option: "bogus"`},
		{volume.CreateRequest{Name: "tmp", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=2m"}}, KindConflict, `create tmp: volume already exists with different driver options`},
	} {
		_, err := e.VolumeCreate(ctx(t), tc.req)
		if KindOf(err) != tc.kind || !strings.HasPrefix(err.Error(), tc.msg) {
			t.Errorf("create %+v: %v (kind %v), want %q", tc.req, err, KindOf(err), tc.msg)
		}
	}

	ins, err := e.VolumeInspect(ctx(t), "tmp")
	if err != nil || ins.Options["type"] != "tmpfs" || ins.Options["o"] != "size=1m" {
		t.Fatalf("inspect %+v %v", ins, err)
	}
	if _, err := e.VolumeInspect(ctx(t), "nope"); KindOf(err) != KindNotFound || err.Error() != "get nope: no such volume" {
		t.Fatalf("inspect missing: %v", err)
	}

	id := create(t, e, "user", container.Config{}, container.HostConfig{NetworkMode: "none"}, "true")
	useVolume(t, e, id, "data")

	list := func(f Filters) []string {
		t.Helper()
		resp, err := e.VolumeList(ctx(t), f)
		if err != nil {
			t.Fatalf("list %v: %v", f, err)
		}
		if resp.Volumes == nil || resp.Warnings == nil {
			t.Fatalf("list %v: nil slices %+v", f, resp)
		}
		return volumeNames(resp.Volumes)
	}
	for _, tc := range []struct {
		f    Filters
		want []string
	}{
		{nil, []string{anon.Name, "data", "tmp"}},
		{Filters{"name": {"dat"}}, []string{"data"}},
		{Filters{"name": {"^t"}}, []string{"tmp"}},
		{Filters{"label": {"team=core"}}, []string{"data"}},
		{Filters{"label": {"team=other"}}, nil},
		{Filters{"driver": {"local"}, "dangling": {"false"}}, []string{"data"}},
		{Filters{"dangling": {"true"}}, []string{anon.Name, "tmp"}},
		{Filters{"driver": {"nfs"}}, nil},
	} {
		// The list is sorted by name; the anonymous volume's random hex
		// name may sort before or after "data".
		slices.Sort(tc.want)
		if got := list(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("list %v: %v, want %v", tc.f, got, tc.want)
		}
	}
	if _, err := e.VolumeList(ctx(t), Filters{"until": {"1h"}}); KindOf(err) != KindInvalid || err.Error() != "invalid filter 'until'" {
		t.Errorf("bad filter: %v", err)
	}
	if _, err := e.VolumeList(ctx(t), Filters{"dangling": {"maybe"}}); KindOf(err) != KindInvalid {
		t.Errorf("bad dangling: %v", err)
	}

	// In use: refused, force or not (docker); force only hides a missing one.
	for _, force := range []bool{false, true} {
		err := e.VolumeRemove(ctx(t), "data", force)
		if KindOf(err) != KindConflict || err.Error() != "remove data: volume is in use - ["+id+"]" {
			t.Fatalf("remove in use (force %v): %v", force, err)
		}
	}
	if err := e.VolumeRemove(ctx(t), "nope", false); KindOf(err) != KindNotFound || err.Error() != "get nope: no such volume" {
		t.Fatalf("remove missing: %v", err)
	}
	if err := e.VolumeRemove(ctx(t), "nope", true); err != nil {
		t.Fatalf("remove -f missing: %v", err)
	}

	// system df counts the volumes and their users.
	os.WriteFile(filepath.Join(v.Mountpoint, "f"), make([]byte, 100), 0o644)
	du, err := e.DiskUsage(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	// (tmp, with driver options, is no local data: docker leaves it out.)
	if vu := du.VolumeUsage; vu.TotalCount != 2 || vu.ActiveCount != 1 || vu.TotalSize != 100 || vu.Reclaimable != 0 || len(vu.Items) != 2 {
		t.Errorf("volume usage %+v", vu)
	} else {
		for _, it := range vu.Items {
			if it.UsageData == nil || it.Name == "tmp" ||
				it.Name == "data" && (it.UsageData.Size != 100 || it.UsageData.RefCount != 1) ||
				it.Name == anon.Name && (it.UsageData.Size != 0 || it.UsageData.RefCount != 0) {
				t.Errorf("df item %+v %+v", it, it.UsageData)
			}
		}
	}

	if err := e.ContainerRemove(ctx(t), id, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.VolumeRemove(ctx(t), "data", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(v.Mountpoint); !os.IsNotExist(err) {
		t.Fatalf("data left after remove: %v", err)
	}

	var got []string
	for !slices.Contains(got, "destroy data") {
		select {
		case m := <-msgs:
			got = append(got, string(m.Action)+" "+m.Actor.ID)
			if m.Actor.Attributes["driver"] != "local" {
				t.Errorf("event %+v: no driver", m)
			}
		case <-c.Done():
			t.Fatalf("volume events so far: %v", got)
		}
	}
	want := []string{"create data", "create tmp", "create " + anon.Name, "destroy data"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestVolumesPrune(t *testing.T) {
	e := newTestEngine(t, false)
	mk := func(name string, labels map[string]string, anonymous bool) string {
		t.Helper()
		v, _, err := e.Volumes.Create(name, "", nil, labels, anonymous)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), make([]byte, 10), 0o644); err != nil {
			t.Fatal(err)
		}
		return v.Name
	}
	anon1 := mk("", nil, true)
	if v, _ := e.VolumeInspect(ctx(t), anon1); v.Labels[bvolume.AnonymousLabel] != "" || len(v.Labels) != 1 {
		t.Fatalf("anonymous volume labels %v", v.Labels)
	}
	anon2 := mk("", map[string]string{"keep": "yes"}, true)
	anonUsed := mk("", nil, true)
	mk("named", nil, false)
	// Volumes with driver options are never pruned (docker's).
	if _, _, err := e.Volumes.Create("opts", "", map[string]string{"type": "tmpfs", "device": "tmpfs"}, nil, false); err != nil {
		t.Fatal(err)
	}
	mk("named-keep", map[string]string{"keep": "yes"}, false)
	id := create(t, e, "", container.Config{}, container.HostConfig{NetworkMode: "none"}, "true")
	useVolume(t, e, id, anonUsed)

	if _, err := e.VolumesPrune(ctx(t), Filters{"until": {"1h"}}); KindOf(err) != KindInvalid {
		t.Fatalf("prune until: %v", err)
	}
	rep, err := e.VolumesPrune(ctx(t), Filters{"label!": {"keep=yes"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.VolumesDeleted, []string{anon1}) || rep.SpaceReclaimed != 10 {
		t.Fatalf("prune anonymous: %+v", rep)
	}
	rep, err = e.VolumesPrune(ctx(t), Filters{"all": {"true"}, "label": {"keep"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := slices.Sorted(slices.Values([]string{anon2, "named-keep"})); !slices.Equal(rep.VolumesDeleted, want) || rep.SpaceReclaimed != 20 {
		t.Fatalf("prune all with label: %+v, want %v", rep, want)
	}
	rep, err = e.VolumesPrune(ctx(t), Filters{"all": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.VolumesDeleted, []string{"named"}) {
		t.Fatalf("prune all: %+v", rep)
	}
	left, err := e.Volumes.List()
	if err != nil || len(left) != 2 || !slices.Equal(volumeNamesOf(left), slices.Sorted(slices.Values([]string{anonUsed, "opts"}))) {
		t.Fatalf("left %+v %v", left, err)
	}
}

// Two in-process engines (two CLI processes) share the root: a volume
// either makes is seen by the other.
func TestVolumesSharedByEngines(t *testing.T) {
	o := testOptions(t, false)
	d := openTest(t, o, true)
	cli := openTest(t, o, false)
	if _, err := cli.VolumeCreate(ctx(t), volume.CreateRequest{Name: "shared"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.VolumeInspect(ctx(t), "shared"); err != nil {
		t.Fatal(err)
	}
	if err := d.VolumeRemove(ctx(t), "shared", false); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.VolumeInspect(ctx(t), "shared"); KindOf(err) != KindNotFound {
		t.Fatalf("after the daemon's remove: %v", err)
	}
}
