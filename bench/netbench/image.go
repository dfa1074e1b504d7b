package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"time"

	"github.com/berth-project/berth/internal/imagetest"
)

// The container's command: busybox httpd (it forks a process per
// connection and closes each) on 80 serving /www, and this binary's
// keep-alive HTTP server on 8080 and TCP sink on 5001.
var ctrCmd = []string{"sh", "-c", "httpd -p 80 -h /www && exec netbench server -http :8080 -sink :5001"}

// writeImage writes a docker-archive (what docker save writes; docker and
// berth both load it) holding one image named ref, of one uncompressed
// layer: Debian's static busybox at /bin/busybox with its applets, this
// binary at /bin/netbench (it must be static), and a page at
// /www/index.html.
func writeImage(path, ref string) error {
	bb, err := os.ReadFile(imagetest.BusyboxPath)
	if err != nil {
		return fmt.Errorf("the benchmark image needs Debian's busybox-static: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := checkStatic(self); err != nil {
		return err
	}
	nb, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	add := func(h *tar.Header, data []byte) {
		h.ModTime, h.Uname, h.Gname, h.Size = imagetest.Epoch, "root", "root", int64(len(data))
		if err == nil {
			err = tw.WriteHeader(h)
		}
		if err == nil && len(data) > 0 {
			_, err = tw.Write(data)
		}
	}
	for _, d := range []string{"bin/", "etc/", "dev/", "proc/", "sys/", "root/", "www/"} {
		add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil)
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range append([]string{"httpd"}, imagetest.Applets...) {
		add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	add(&tar.Header{Name: "bin/netbench", Typeflag: tar.TypeReg, Mode: 0o755}, nb)
	add(&tar.Header{Name: "www/index.html", Typeflag: tar.TypeReg, Mode: 0o644}, page)
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return fmt.Errorf("write the image's layer: %w", err)
	}
	diffID := sha256.Sum256(layer.Bytes())
	diffHex := hex.EncodeToString(diffID[:])

	created := imagetest.Epoch.Format(time.RFC3339)
	config, err := json.Marshal(map[string]any{
		"architecture": goruntime.GOARCH,
		"os":           "linux",
		"created":      created,
		"config": map[string]any{
			"Env":          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd":          ctrCmd,
			"ExposedPorts": map[string]any{"80/tcp": struct{}{}, "8080/tcp": struct{}{}, "5001/tcp": struct{}{}},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffHex}},
		"history": []map[string]string{{"created": created, "created_by": "netbench: busybox, netbench and a page"}},
	})
	if err != nil {
		return err
	}
	cfgSum := sha256.Sum256(config)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   cfgName,
		"RepoTags": []string{ref},
		"Layers":   []string{diffHex + "/layer.tar"},
	}})
	if err != nil {
		return err
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	out := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{
		{diffHex + "/", nil},
		{diffHex + "/layer.tar", layer.Bytes()},
		{cfgName, config},
		{"manifest.json", manifest},
	} {
		h := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.data)), ModTime: imagetest.Epoch}
		if e.data == nil {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := out.WriteHeader(h); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if _, err := out.Write(e.data); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// checkStatic fails for a dynamically linked binary, which the image
// (busybox and nothing else) could not run.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the container needs it static (build it with CGO_ENABLED=0)", path)
		}
	}
	return nil
}
