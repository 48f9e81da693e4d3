package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/sim"
)

func init() { subcommands = append(subcommands, newFleetCmd) }

func newFleetCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "fleet",
		Short: "Inspect and export the seeded fleet layout",
		Long: `A fleet is fixed by its size and seed: the same --cameras and --seed give
the same accounts, devices and tokens on every machine. Most homes own one or
two cameras, a long tail up to 16 (45% one, 25% two, 11% three, 7% four, 9%
five to eight, 3% nine to sixteen).`,
	}
	c.AddCommand(newFleetExportCmd())
	return c
}

func newFleetExportCmd() *cobra.Command {
	var cameras int
	var seed uint64
	var out string
	c := &cobra.Command{
		Use:   "export",
		Short: "Write the fleet's provisioning JSON Lines (herd/1)",
		Long: `Write one herd/1 provisioning line per account, for teams that provision
their backend their own way. Run the drill later with the same --cameras and
--seed so that herd's cameras present the tokens you provisioned.`,
		Example: `  herd fleet export --cameras 10000 --seed 7 > fleet.jsonl
  herd fleet export --cameras 300000 --out fleet.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := sim.NewLayout(cameras, seed)
			if err != nil {
				return usagef(c, fmt.Errorf("--cameras: %w", err))
			}
			write := func(w io.Writer) error {
				bw := bufio.NewWriterSize(w, 256<<10)
				if err := l.Export(bw, nil); err != nil {
					return err
				}
				return bw.Flush()
			}
			if out == "" {
				return write(c.OutOrStdout())
			}
			if err := atomicfile.Write(out, write); err != nil {
				return err
			}
			fmt.Fprintf(c.ErrOrStderr(), "herd: wrote %d accounts with %d cameras to %s\n", l.Accounts(), l.Cameras(), out)
			return nil
		},
	}
	c.Flags().IntVar(&cameras, "cameras", 1000, "number of cameras")
	c.Flags().Uint64Var(&seed, "seed", 1, "fleet seed")
	c.Flags().StringVarP(&out, "out", "o", "", "write to this file (atomically) instead of stdout")
	return c
}
