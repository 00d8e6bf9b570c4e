package main

import "github.com/spf13/cobra"

func init() { subcommands = append(subcommands, newReportCmd) }

// reportSubcommands are the subcommands of `mpcrelay report`, each registered from its own file
// (report_diff.go, ...), so that tools working on report files fit under one parent.
var reportSubcommands []func() *cobra.Command

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Work with report files (results.json) written by other commands",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	for _, add := range reportSubcommands {
		cmd.AddCommand(add())
	}
	return cmd
}
