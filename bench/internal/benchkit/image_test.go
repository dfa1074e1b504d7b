package benchkit

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/imagetest"
)

// The benchmarks' image is a docker-archive berth's loader reads, with
// the name and the files asked for.
func TestWriteBusyboxImage(t *testing.T) {
	if _, err := os.Stat(imagetest.BusyboxPath); err != nil {
		t.Skipf("needs Debian's busybox-static: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "img.tar")
	err := WriteBusyboxImage(path, "bench/x:1", BusyboxImage{
		Applets:   []string{"httpd"},
		Files:     []File{{Name: "www/", Mode: 0o755}, {Name: "www/index.html", Mode: 0o644, Data: []byte("hi")}},
		Config:    map[string]any{"Cmd": []string{"sh"}},
		CreatedBy: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := content.NewLocal(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	loaded, err := image.ReadArchive(context.Background(), cs, f, ocispec.Platform{OS: "linux", Architecture: goruntime.GOARCH})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || len(loaded[0].Names) != 1 || loaded[0].Names[0] != "docker.io/bench/x:1" {
		t.Fatalf("loaded %+v", loaded)
	}
}
