package engine

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestPingVersion(t *testing.T) {
	e := &Engine{Images: newImages(t)}
	p, err := e.Ping(context.Background())
	if err != nil || p.APIVersion != APIVersion || p.OSType != "linux" {
		t.Errorf("ping: %+v %v", p, err)
	}
	v, err := e.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Platform.Name != "berth" || len(v.Components) != 1 || v.Components[0].Name != "Engine" || v.Version == "" ||
		v.APIVersion != APIVersion || v.MinAPIVersion != MinAPIVersion || v.GoVersion != runtime.Version() ||
		v.Os != "linux" || v.Arch != runtime.GOARCH || v.KernelVersion == "" {
		t.Errorf("version: %+v", v)
	}
}

func TestEngineID(t *testing.T) {
	root := t.TempDir()
	e := &Engine{opts: Options{Root: root}}
	id, err := e.engineID()
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		t.Errorf("engine ID %q is not a UUID", id)
	}
	again, err := (&Engine{opts: Options{Root: root}}).engineID()
	if err != nil || again != id {
		t.Errorf("engine ID changed: %q then %q (%v)", id, again, err)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 || ents[0].Name() != "engine-id" {
		t.Errorf("left in the root: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(root, "engine-id")); err != nil {
		t.Fatal(err)
	}
}

// TestInfoDiskUsageImages checks info, df and image removal with
// containers about.
func TestInfoDiskUsageImages(t *testing.T) {
	e := newTestEngine(t, false)
	running := startSleeper(t, e, container.Config{})
	stopped, code := run(t, e, container.Config{}, container.HostConfig{}, "sh", "-c", "echo data > /tmp/f")
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	paused := startSleeper(t, e, container.Config{})
	if err := e.ContainerPause(ctx(t), paused); err != nil {
		t.Fatal(err)
	}
	defer e.ContainerUnpause(context.Background(), paused)

	info, err := e.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Containers != 3 || info.ContainersRunning != 1 || info.ContainersPaused != 1 || info.ContainersStopped != 1 ||
		info.Images != 1 || info.Driver != e.Images.Driver || info.ID == "" || info.NCPU != runtime.NumCPU() ||
		info.MemTotal <= 0 || info.KernelVersion == "" || info.OSType != "linux" || info.OperatingSystem == "" ||
		info.DockerRootDir != e.opts.Root || info.DefaultRuntime != "berth" || info.CgroupDriver != "cgroupfs" ||
		(info.CgroupVersion != "1" && info.CgroupVersion != "2") || info.LoggingDriver != "json-file" {
		t.Errorf("info: %+v", info)
	}
	t.Logf("info: driver %s %v, cgroup v%s, security %v, os %q %q, kernel %s", info.Driver, info.DriverStatus, info.CgroupVersion, info.SecurityOptions, info.OperatingSystem, info.OSVersion, info.KernelVersion)
	if again, _ := e.Info(ctx(t)); again.ID != info.ID {
		t.Errorf("engine ID changed: %s then %s", info.ID, again.ID)
	}

	du, err := e.DiskUsage(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if du.ImageUsage == nil || du.ImageUsage.TotalCount != 1 || du.ImageUsage.ActiveCount != 1 || du.ImageUsage.TotalSize <= 0 ||
		du.ImageUsage.Items[0].Containers != 3 || du.ImageUsage.Reclaimable != 0 {
		t.Errorf("image usage: %+v", du.ImageUsage)
	}
	cu := du.ContainerUsage
	if cu == nil || cu.TotalCount != 3 || cu.ActiveCount != 2 || len(cu.Items) != 3 {
		t.Fatalf("container usage: %+v", cu)
	}
	for _, c := range cu.Items {
		if c.ID == stopped && (c.SizeRw <= 0 || cu.Reclaimable != c.SizeRw) {
			t.Errorf("the stopped container's size %d, reclaimable %d", c.SizeRw, cu.Reclaimable)
		}
	}
	if du.VolumeUsage == nil || du.BuildCacheUsage == nil {
		t.Errorf("volume and build cache usage missing: %+v", du)
	}

	_, err = e.ImageRemove(ctx(t), "busybox", ImageRemoveOptions{})
	wantKind(t, err, KindConflict, "")
	if !strings.Contains(err.Error(), `unable to remove repository reference "busybox" (must force) - container `) {
		t.Errorf("remove of a used image: %v", err)
	}
	_, err = e.ImageRemove(ctx(t), inspect(t, e, running).Image, ImageRemoveOptions{Force: true})
	wantKind(t, err, KindConflict, "")
	if !strings.Contains(err.Error(), "(cannot be forced) - image is being used by running container") {
		t.Errorf("remove of a running container's image: %v", err)
	}
	if rep, err := e.ImagesPrune(ctx(t), Filters{"dangling": {"false"}}); err != nil || len(rep.ImagesDeleted) != 0 {
		t.Errorf("prune of a used image: %+v %v", rep, err)
	}
}
