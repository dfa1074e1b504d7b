package main

import "github.com/berth-project/berth/bench/internal/benchkit"

// writeImage writes a docker-archive holding one image named ref: Debian's
// static busybox with its applets, as the project's test fixtures have it.
// It returns the archive's path.
func writeImage(path, ref string) (string, error) {
	return path, benchkit.WriteBusyboxImage(path, ref, benchkit.BusyboxImage{
		Config: map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"sh"},
		},
		CreatedBy: "enginebench: /bin/busybox and its applets",
	})
}
