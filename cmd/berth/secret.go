package main

import "github.com/spf13/cobra"

// CONTRACT STUB (issue 8): owned by the secrets helper.
func newSecretCommand(c *client) *cobra.Command {
	return &cobra.Command{Use: "secret", Short: "Manage secrets", Hidden: true}
}

func newConfigCommand(c *client) *cobra.Command {
	return &cobra.Command{Use: "config", Short: "Manage configs", Hidden: true}
}
