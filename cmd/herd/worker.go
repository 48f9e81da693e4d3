package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/engine"
)

func init() { subcommands = append(subcommands, newWorkerCmd) }

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "worker",
		Short:  "Run one segment of a drill for a coordinating 'herd run' (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return engine.ServeWorker(c.Context(), os.Stdin)
		},
	}
}
