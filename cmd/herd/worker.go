package main

import (
	"os"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newWorkerCmd) }

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "worker",
		Short:  "Run one segment of a drill for a coordinating 'herd run' (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runWorker(c.Context(), os.Stdin)
		},
	}
}
