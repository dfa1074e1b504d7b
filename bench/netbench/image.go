package main

import (
	"debug/elf"
	"fmt"
	"os"

	"github.com/berth-project/berth/bench/internal/benchkit"
)

// The container's command: busybox httpd (it forks a process per
// connection and closes each) on 80 serving /www, and this binary's
// keep-alive HTTP server on 8080 and TCP sink on 5001.
var ctrCmd = []string{"sh", "-c", "httpd -p 80 -h /www && exec netbench server -http :8080 -sink :5001"}

// writeImage writes a docker-archive (docker and berth both load it)
// holding one image named ref: Debian's static busybox with its applets,
// this binary at /bin/netbench (it must be static), and a page at
// /www/index.html.
func writeImage(path, ref string) error {
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
	return benchkit.WriteBusyboxImage(path, ref, benchkit.BusyboxImage{
		Applets: []string{"httpd"},
		Files: []benchkit.File{
			{Name: "bin/netbench", Mode: 0o755, Data: nb},
			{Name: "www/", Mode: 0o755},
			{Name: "www/index.html", Mode: 0o644, Data: page},
		},
		Config: map[string]any{
			"Env":          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd":          ctrCmd,
			"ExposedPorts": map[string]any{"80/tcp": struct{}{}, "8080/tcp": struct{}{}, "5001/tcp": struct{}{}},
		},
		CreatedBy: "netbench: busybox, netbench and a page",
	})
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
