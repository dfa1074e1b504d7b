package main

import "github.com/spf13/cobra"

// CONTRACT STUB (issue 8): owned by the volumes helper.
func newVolumeCommand(c *client) *cobra.Command {
	return &cobra.Command{Use: "volume", Short: "Manage volumes", Hidden: true}
}
