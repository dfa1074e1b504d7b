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
	if filepath.Base(os.Args[0]) == "berth-runtime" {
		// Installed under that name, berth is an OCI runtime binary that
		// shims can name in place of runc.
		root := newRuntimeCommand()
		root.Use = "berth-runtime"
		os.Exit(execute(root))
	}
	c := &client{}
	c.connect = c.hostOpts.connect
	os.Exit(runCLI(newRootCommand(c), c, os.Stderr))
}

// newRootCommand is `berth`: the docker-style commands over c's engine,
// the OCI runtime and the registry.
func newRootCommand(c *client) *cobra.Command {
	root := &cobra.Command{
		Use:           "berth [OPTIONS] COMMAND",
		Short:         "berth runs containers: runtime, images, engine",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Flags of berth itself (-H) are read before the command's.
		TraverseChildren: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &statusError{code: 1, msg: "berth: unknown command: berth " + args[0] + "\n\nRun 'berth --help' for more information"}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.DisableFlagsInUseLine = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &flagError{cmd: cmd, err: err} })
	addStoreFlags(root)
	addHostFlags(root, &c.hostOpts)
	root.AddCommand(
		// Containers, as docker's top-level commands.
		newAttachCommand(c), newCommitCommand(c), newCpCommand(c), newCreateCommand(c), newDiffCommand(c), newExecCommand(c),
		newExportCommand(c), newInspectCommand(c), newKillCommand(c), newLogsCommand(c), newPauseCommand(c),
		newPortCommand(c), newPsCommand(c), newRenameCommand(c), newRestartCommand(c), newRmCommand(c),
		newRunCommand(c), newStartCommand(c), newStatsCommand(c), newStopCommand(c), newTopCommand(c),
		newUnpauseCommand(c), newUpdateCommand(c), newWaitCommand(c),
		// Images.
		newHistoryCommand(c), newImagesCommand(c), newImportCommand(c), newLoadCommand(c), newPullCommand(c),
		newPushCommand(c), newRmiCommand(c), newSaveCommand(c), newSearchCommand(), newTagCommand(c),
		// System.
		newEventsCommand(c), newInfoCommand(c), newVersionCommand(c),
		// Groups.
		newContainerCommand(c), newImageCommand(c), newNetworkCommand(c), newSystemCommand(c),
		newVolumeCommand(c), newSecretCommand(c), newConfigCommand(c),
		// Beyond docker's CLI.
		newDaemonCommand(), newRuntimeCommand(), newRegistryCommand(),
	)
	addBuildCommands(root, c) // build.go
	root.AddCommand(newComposeCommand(c))
	for _, cmd := range root.Commands() {
		if cmd.Name() != "runtime" && cmd.Name() != "registry" && cmd.Name() != "daemon" {
			dockerStyle(cmd)
		}
	}
	return root
}
