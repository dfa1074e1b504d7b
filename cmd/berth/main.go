// Command berth is the one binary of the berth container platform.
package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine/monitor"
	"github.com/berth-project/berth/runtime"
)

func main() {
	// `berth init` runs inside a container being built: no CLI parsing, no
	// other work before it takes over.
	if runtime.IsInit() {
		runtime.Init()
		return
	}
	// A container's monitor: nothing of the CLI is set up for it.
	if monitor.IsMonitor() {
		monitor.Main()
		return
	}
	// As a container's --init (docker-init), it only runs and reaps.
	if runtime.IsReaper() {
		os.Exit(runtime.Reaper(os.Args[1:]))
	}
	var root *cobra.Command
	if filepath.Base(os.Args[0]) == "berth-runtime" {
		// Installed under that name, berth is an OCI runtime binary that
		// shims can name in place of runc.
		root = newRuntimeCommand()
		root.Use = "berth-runtime"
	} else {
		root = &cobra.Command{
			Use:           "berth",
			Short:         "berth runs containers: runtime, images, engine",
			SilenceUsage:  true,
			SilenceErrors: true,
		}
		addStoreFlags(root)
		root.AddCommand(newRuntimeCommand(), newImageCommand(), newRunCommand(), newPsCommand(),
			newRmCommand(), newExportCommand(), newRegistryCommand())
		// docker's top-level shorthands for the image commands.
		images := imageLsCmd()
		images.Use, images.Aliases = "images [OPTIONS] [REPOSITORY[:TAG]]", nil
		rmi := imageRmCmd()
		rmi.Use, rmi.Aliases = "rmi [OPTIONS] IMAGE [IMAGE...]", nil
		root.AddCommand(pullCmd(), pushCmd(), images, rmi, tagCmd(), saveCmd(), loadCmd(), importCmd(), searchCmd())
	}
	os.Exit(execute(root))
}
