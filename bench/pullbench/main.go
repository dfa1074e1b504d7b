// Command pullbench measures pulling and unpacking an image from a registry
// on loopback: berth beside podman and skopeo + umoci, and the raw cost of
// the same bytes (curl | gzip -d | tar -x, one layer after another).
//
// It builds a ~180 MB, 5-layer image (files of pseudo-random text, which
// gzip to about half), pushes it with skopeo into Debian's docker-registry
// started on 127.0.0.1, and times each tool N times from empty storage,
// then the re-pull of the image whose layers are all present. It prints
// medians and the ratios to podman and to the raw cost.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	n := flag.Int("n", 3, "runs per tool")
	berth := flag.String("berth", "bin/berth", "berth binary")
	layers := flag.Int("layers", 5, "layers in the image")
	mb := flag.Int("mb", 180, "uncompressed size of the image in MB")
	serve := flag.Bool("serve", false, "only build and push the image, print its name and wait (for profiling by hand)")
	flag.Parse()
	serveOnly = *serve
	if err := run(*berth, *n, *layers, *mb); err != nil {
		fmt.Fprintln(os.Stderr, "pullbench:", err)
		os.Exit(1)
	}
}

var serveOnly bool

func run(berth string, n, nlayers, mb int) error {
	work, err := os.MkdirTemp("/var/tmp", "berth-pullbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	layout := filepath.Join(work, "layout")
	blobs, err := makeImage(layout, nlayers, int64(mb)<<20)
	if err != nil {
		return err
	}
	var total int64
	for _, b := range blobs {
		total += b.Size
	}
	fmt.Printf("image: %d layers, %d MB uncompressed, %.1f MB compressed (gzip)\n", nlayers, mb, float64(total)/1e6)

	host, stop, err := startRegistry(work)
	if err != nil {
		return err
	}
	defer stop()
	ref := host + "/bench:latest"
	if out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "oci:"+layout+":latest", "docker://"+ref).CombinedOutput(); err != nil {
		return fmt.Errorf("skopeo push: %v\n%s", err, out)
	}
	if serveOnly {
		fmt.Println(ref)
		select {}
	}

	fresh := func(name string) string {
		d, _ := os.MkdirTemp(work, name+"-")
		return d
	}
	// podman refuses a runroot path longer than 50 characters.
	runroot := func(d string) string { return filepath.Join("/tmp", "pb-"+filepath.Base(d)) }
	cleanup := func(d string) {
		exec.Command("podman", "--root", filepath.Join(d, "root"), "--runroot", runroot(d), "rmi", "-a", "-f").Run()
		os.RemoveAll(runroot(d))
		os.RemoveAll(d)
	}
	tools := []struct {
		name string
		cmd  func(dir string) [][]string
	}{
		{"berth pull", func(d string) [][]string {
			return [][]string{{berth, "--data-root", d, "image", "pull", "-q", ref}}
		}},
		{"podman pull", func(d string) [][]string {
			return [][]string{{"podman", "--root", filepath.Join(d, "root"), "--runroot", runroot(d), "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", ref}}
		}},
		{"skopeo copy + umoci unpack", func(d string) [][]string {
			return [][]string{
				{"skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + ref, "oci:" + filepath.Join(d, "oci") + ":latest"},
				{"umoci", "unpack", "--image", filepath.Join(d, "oci") + ":latest", filepath.Join(d, "bundle")},
			}
		}},
		{"raw: curl | gzip -d | tar -x", func(d string) [][]string {
			var script []string
			for _, b := range blobs {
				script = append(script, fmt.Sprintf("curl -sf http://%s/v2/bench/blobs/%s | gzip -dc | tar -xf - -C %s", host, b.Digest, d))
			}
			return [][]string{{"sh", "-c", "set -e; " + strings.Join(script, "; ")}}
		}},
	}
	times := map[string][]time.Duration{}
	repull := map[string][]time.Duration{}
	for i := 0; i < n; i++ {
		for _, tool := range tools {
			d := fresh(strings.Fields(tool.name)[0])
			// Each starts with no dirty pages of the one before to
			// write back.
			exec.Command("sync").Run()
			dt, err := timeCmds(tool.cmd(d))
			if err != nil {
				cleanup(d)
				return fmt.Errorf("%s: %w", tool.name, err)
			}
			times[tool.name] = append(times[tool.name], dt)
			if strings.HasPrefix(tool.name, "berth") || strings.HasPrefix(tool.name, "podman") {
				dt, err := timeCmds(tool.cmd(d))
				if err != nil {
					cleanup(d)
					return fmt.Errorf("%s again: %w", tool.name, err)
				}
				repull[tool.name] = append(repull[tool.name], dt)
			}
			cleanup(d)
		}
	}
	raw := median(times[tools[3].name])
	podman := median(times[tools[1].name])
	fmt.Printf("\n%-30s %10s %10s %10s\n", "pull + unpack (median of "+fmt.Sprint(n)+")", "seconds", "/podman", "/raw")
	for _, tool := range tools {
		m := median(times[tool.name])
		fmt.Printf("%-30s %10.2f %10.2f %10.2f\n", tool.name, m.Seconds(), m.Seconds()/podman.Seconds(), m.Seconds()/raw.Seconds())
	}
	fmt.Printf("\n%-30s %10s %10s\n", "re-pull, all layers present", "seconds", "/podman")
	pr := median(repull["podman pull"])
	for _, name := range []string{"berth pull", "podman pull"} {
		m := median(repull[name])
		fmt.Printf("%-30s %10.3f %10.2f\n", name, m.Seconds(), m.Seconds()/pr.Seconds())
	}
	return nil
}

func timeCmds(cmds [][]string) (time.Duration, error) {
	start := time.Now()
	for _, c := range cmds {
		cmd := exec.Command(c[0], c[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("%s: %v\n%s", strings.Join(c, " "), err, stderr.String())
		}
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// startRegistry runs docker-registry on a free loopback port with its
// storage under work.
func startRegistry(work string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(work, "registry"), host)
	cfgPath := filepath.Join(work, "registry.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			return host, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("docker-registry did not answer on %s", host)
}

// makeImage writes an OCI layout holding one image of nlayers gzip layers
// of size bytes in all, and returns the layer descriptors.
func makeImage(dir string, nlayers int, size int64) ([]ocispec.Descriptor, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	put := func(mt string, b []byte) (ocispec.Descriptor, error) {
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		return d, os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var layers []ocispec.Descriptor
	var diffIDs []digest.Digest
	for l := 0; l < nlayers; l++ {
		var tarBuf bytes.Buffer
		tw := tar.NewWriter(&tarBuf)
		var written int64
		for f := 0; written < size/int64(nlayers); f++ {
			// Sizes from 512 B to 4 MB, most of them small, as in
			// real images.
			n := int64(512) << rng.IntN(14)
			n += rng.Int64N(n)
			data := make([]byte, n)
			for i := range data {
				data[i] = 'a' + byte(rng.IntN(16))
			}
			name := fmt.Sprintf("layer%d/dir%02d/file%05d", l, f%50, f)
			if f < 50 {
				tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("layer%d/dir%02d/", l, f), Typeflag: tar.TypeDir, Mode: 0o755})
			}
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: n})
			tw.Write(data)
			written += n
		}
		tw.Close()
		sum := sha256.Sum256(tarBuf.Bytes())
		diffIDs = append(diffIDs, digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:])))
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(tarBuf.Bytes())
		zw.Close()
		d, err := put(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
		if err != nil {
			return nil, err
		}
		layers = append(layers, d)
	}
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}}
	cb, _ := json.Marshal(cfg)
	cd, err := put(ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		return nil, err
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: layers}
	m.SchemaVersion = 2
	mbytes, _ := json.Marshal(m)
	md, err := put(ocispec.MediaTypeImageManifest, mbytes)
	if err != nil {
		return nil, err
	}
	md.Annotations = map[string]string{ocispec.AnnotationRefName: "latest"}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644); err != nil {
		return nil, err
	}
	return layers, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}
