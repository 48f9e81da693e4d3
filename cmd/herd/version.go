package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/buildinfo"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// it comes from the module's build information.
var version = ""

// herdVersion is the version results and manifests record.
func herdVersion() string { return buildinfo.Read(version).String() }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print herd's version and the revision it was built from",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.OutOrStdout(), buildinfo.Read(version).Line())
			return err
		},
	}
}
