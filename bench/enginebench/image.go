package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"time"

	"github.com/berth-project/berth/internal/imagetest"
)

// writeImage writes a docker-archive (what `docker save` writes, and what
// docker, podman and berth all load) holding one image named ref: one
// uncompressed layer of Debian's static busybox at /bin/busybox with its
// applets linked to it, as the project's test fixtures have it. It returns
// the archive's path.
func writeImage(path, ref string) (string, error) {
	bb, err := os.ReadFile(imagetest.BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("the benchmark image needs Debian's busybox-static: %w", err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	hdr := func(h *tar.Header) {
		h.ModTime, h.Uname, h.Gname = imagetest.Epoch, "root", "root"
		if err == nil {
			err = tw.WriteHeader(h)
		}
	}
	for _, d := range []string{"bin/", "etc/", "dev/", "proc/", "sys/", "root/"} {
		hdr(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	hdr(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	hdr(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	if err == nil {
		_, err = tw.Write(bb)
	}
	for _, a := range imagetest.Applets {
		hdr(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return "", fmt.Errorf("write the image's layer: %w", err)
	}
	diffID := sha256.Sum256(layer.Bytes())
	diffHex := hex.EncodeToString(diffID[:])

	created := imagetest.Epoch.Format(time.RFC3339)
	config, err := json.Marshal(map[string]any{
		"architecture": goruntime.GOARCH,
		"os":           "linux",
		"created":      created,
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"sh"},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffHex}},
		"history": []map[string]string{{"created": created, "created_by": "enginebench: /bin/busybox and its applets"}},
	})
	if err != nil {
		return "", err
	}
	cfgSum := sha256.Sum256(config)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   cfgName,
		"RepoTags": []string{ref},
		"Layers":   []string{diffHex + "/layer.tar"},
	}})
	if err != nil {
		return "", err
	}

	f, err := os.Create(path)
	if err != nil {
		return "", err
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
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		if _, err := out.Write(e.data); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, f.Close()
}
