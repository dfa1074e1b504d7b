package benchkit

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/imagetest"
)

// BusyboxImage is what a benchmark's image holds besides busybox.
type BusyboxImage struct {
	// Applets are linked to busybox in /bin, besides imagetest.Applets.
	Applets []string
	// Files are added after busybox; a name ending in "/" is a directory.
	Files []File
	// Config is the image config's "config" object (Env, Cmd, ...).
	Config map[string]any
	// CreatedBy is the history entry's created_by.
	CreatedBy string
}

// File is a file or directory of a BusyboxImage.
type File struct {
	Name string
	Mode int64
	Data []byte
}

// WriteBusyboxImage writes a docker-archive (what `docker save` writes,
// and what docker, podman and berth all load) holding one image named
// ref, of one uncompressed layer: Debian's static busybox at /bin/busybox
// with its applets linked to it, as the project's test fixtures have it,
// and img's files.
func WriteBusyboxImage(path, ref string, img BusyboxImage) error {
	bb, err := os.ReadFile(imagetest.BusyboxPath)
	if err != nil {
		return fmt.Errorf("the benchmark image needs Debian's busybox-static: %w", err)
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
	for _, d := range []string{"bin/", "etc/", "dev/", "proc/", "sys/", "root/"} {
		add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil)
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range append(append([]string(nil), img.Applets...), imagetest.Applets...) {
		add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	for _, f := range img.Files {
		h := &tar.Header{Name: f.Name, Typeflag: tar.TypeReg, Mode: f.Mode}
		if strings.HasSuffix(f.Name, "/") {
			h.Typeflag = tar.TypeDir
		}
		add(h, f.Data)
	}
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
		"config":       img.Config,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffHex}},
		"history":      []map[string]string{{"created": created, "created_by": img.CreatedBy}},
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
