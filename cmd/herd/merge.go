package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/sim/oracle"
)

func init() { subcommands = append(subcommands, newMergeCmd, newKeyCmd) }

func newMergeCmd() *cobra.Command {
	var (
		out string
		rf  reportFlags
	)
	c := &cobra.Command{
		Use:   "merge RESULT.json...",
		Short: "Merge the results of a run's shards into one result",
		Long: `merge combines the herd.result/v1 files of the shards of one run (herd run
--shard I/N on several machines, or a Kubernetes Indexed Job from herd k8s)
exactly: HDR histograms merged bucket by bucket, counts summed, recovery
curves aligned on wall time, evidence picked again over all shards, and the
scenario's thresholds judged again on the whole.

It refuses results of different scenarios, seeds, fleet sizes, policies or
oracle keys, and a shard given twice. A missing shard fails the verdict and
is named in its reasons. Exit codes as herd run: 0 pass, 3 fail, 2 bad input.`,
		Example: `  herd merge results/shard-*.json --out merged.json
  herd merge results/shard-*.json --out merged.json --html report.html --junit junit.xml`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(c, fmt.Errorf("want at least one result file"))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			var in []reports.Input
			for _, name := range args {
				r, err := reports.ReadFile(name)
				if err != nil {
					return exitcode.With(exitcode.Usage, err)
				}
				in = append(in, reports.Input{Name: name, R: r})
			}
			res, err := reports.Merge(in)
			if err != nil {
				return exitcode.With(exitcode.Usage, err)
			}
			files := rf.files()
			files.JSON = out
			err = finish(c, res, files)
			if exitcode.Of(err) == exitcode.Interrupted {
				// Shards that were interrupted make a failed merge, not an
				// interrupted one: this command was not.
				return exitcode.With(exitcode.Failed, nil)
			}
			return err
		},
	}
	c.Flags().StringVar(&out, "out", "", "write the merged herd.result/v1 JSON here (atomically)")
	addReportFlags(c.Flags(), &rf)
	return c
}

func newKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "key",
		Short: "Print a fresh oracle key (hex) for the shards of one run",
		Long: `key prints a fresh random provenance key, 32 bytes in hex. Shards of one run
on several machines must share it (--key-file): a camera's content is sealed
with it, and an app user on another shard can only tell a leak from a
forgery if it checks with the same key. Keep it secret: whoever holds it can
forge provenance.`,
		Example: `  herd key > key.hex
  herd run --shard 0/4 --key-file key.hex --target http://… --start-at 2026-12-01T10:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			text, err := oracle.NewKeyText()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "%s\n", text)
			return err
		},
	}
}
