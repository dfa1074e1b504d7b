package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/gate"
	"golang.org/x/sys/unix"
)

// benchLayer writes a layer of about 100 MB in 5000 files (1 to 39 KiB,
// random bytes) across 50 directories to path, and returns the bytes of
// file content in it.
func benchLayer(b *testing.B, path string) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 40<<10)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	var total int64
	mt := time.Unix(1700000000, 0)
	for d := 0; d < 50; d++ {
		dir := fmt.Sprintf("usr/share/pkg%02d/", d)
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt}); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			n := 1<<10 + rng.IntN(38<<10)
			off := rng.IntN(len(buf) - n)
			h := &tar.Header{Name: fmt.Sprintf("%sfile-%03d.dat", dir, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(n), ModTime: mt}
			if err := tw.WriteHeader(h); err != nil {
				b.Fatal(err)
			}
			tw.Write(buf[off : off+n])
			total += int64(n)
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	return total
}

// BenchmarkApply applies a 100 MB, 5000-file layer, read from a file in
// the page cache, to a fresh directory, and does the same with GNU tar -x
// for comparison: MB/s of file content for each, and berth's speed as a
// multiple of tar's (x-tar, above 1 is faster). It runs on the test's
// temporary directory (disk) and on a tmpfs, where the filesystem costs
// least and the extractor's own costs show.
//
//	go test -run '^$' -bench Apply -benchtime 10x ./layer/
func BenchmarkApply(b *testing.B) {
	gate.Root(b)
	tarCmd := gate.Command(b, "tar")
	dir := b.TempDir()
	layer := filepath.Join(dir, "layer.tar")
	size := benchLayer(b, layer)

	b.Run("disk", func(b *testing.B) { benchApply(b, tarCmd, layer, size, b.TempDir()) })
	b.Run("tmpfs", func(b *testing.B) {
		mnt := b.TempDir()
		if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=4g"); err != nil {
			b.Skipf("mount tmpfs: %v", err)
		}
		defer unix.Unmount(mnt, unix.MNT_DETACH)
		benchApply(b, tarCmd, layer, size, mnt)
	})
}

func benchApply(b *testing.B, tarCmd, layer string, size int64, dir string) {
	b.SetBytes(size)
	// Each run gets a new directory: removing a tree between runs made
	// ext4 slow to allocate inodes for the next one (it scans for recently
	// deleted ones), whoever ran next. Every 16 they go, untimed.
	var made []string
	fresh := func() string {
		if len(made) == 16 {
			for _, d := range made {
				if err := os.RemoveAll(d); err != nil {
					b.Fatal(err)
				}
			}
			made = made[:0]
		}
		d, err := os.MkdirTemp(dir, "root")
		if err != nil {
			b.Fatal(err)
		}
		made = append(made, d)
		return d
	}
	runTar := func() time.Duration {
		root := fresh()
		start := time.Now()
		if out, err := exec.Command(tarCmd, "-xf", layer, "-C", root).CombinedOutput(); err != nil {
			b.Fatalf("tar: %v: %s", err, out)
		}
		return time.Since(start)
	}
	runTar() // warm the page cache with the layer

	// Alternate: each of our runs is followed by one of tar's, so both see
	// the same state of the machine.
	var ours, theirs time.Duration
	runs := 0
	for b.Loop() {
		b.StopTimer()
		root := fresh()
		f, err := os.Open(layer)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		_, err = Apply(context.Background(), root, f)
		ours += time.Since(start)
		b.StopTimer()
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		runs++
		theirs += runTar()
		b.StartTimer()
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(runs) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(ours), "berth-MB/s")
	b.ReportMetric(mbps(theirs), "tar-MB/s")
	b.ReportMetric(mbps(ours)/mbps(theirs), "x-tar")
}
