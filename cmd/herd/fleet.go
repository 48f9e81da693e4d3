package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/oracle"
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
	var out, keyFile, format, ingestUser, ingestPassword, certs string
	c := &cobra.Command{
		Use:   "export",
		Short: "Write the fleet's provisioning JSON Lines (herd/1)",
		Long: `Write one herd/1 provisioning line per account, for teams that provision
their backend their own way. A fleet's names and tokens belong to one run:
they derive from the run's key (--key-file, from 'herd key'), so that every
drill provisions accounts of its own. Run the drill later with the same
--key-file, --cameras and --seed, and --provision=false, so that herd's
cameras and apps present what you provisioned.`,
		Example: `  herd key > key.hex
  herd fleet export --key-file key.hex --cameras 10000 --seed 7 > fleet.jsonl
  herd run --key-file key.hex --cameras 10000 --seed 7 --provision=false --target https://staging.example.internal
  herd fleet export --format mosquitto --key-file key.hex --cameras 10000 --ingest-password "$P" mosquitto/
      # mosquitto/passwd and mosquitto/acl: password_file and acl_file of a Mosquitto for herd/1 over MQTT`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if cameras < 1 {
				return usagef(c, fmt.Errorf("--cameras: a fleet needs at least one camera, got %d", cameras))
			}
			if keyFile == "" {
				return usagef(c, errors.New("--key-file is required: a fleet's names and tokens derive from its run's key; make one with 'herd key > key.hex' and give the same file to 'herd run'"))
			}
			key, err := oracle.RunKey(keyFile)
			if err != nil {
				return usagef(c, err)
			}
			l, err := sim.NewLayout(cameras, seed, key)
			if err != nil {
				return usagef(c, fmt.Errorf("--cameras: %w", err))
			}
			if certs != "" {
				if err := l.WriteCerts(certs, nil); err != nil {
					return err
				}
				fmt.Fprintf(c.ErrOrStderr(), "herd: wrote a test CA, a loopback server certificate and %d device certificates to %s\n", l.Cameras(), certs)
			}
			switch {
			case format == "jsonl" && len(args) > 0:
				return usagef(c, fmt.Errorf("unexpected argument %q (the JSON Lines go to stdout or --out)", args[0]))
			case format == "jsonl":
			case format == "mosquitto" && len(args) == 0:
				return usagef(c, errors.New("--format mosquitto writes passwd and acl into a directory: give it, e.g. herd fleet export --format mosquitto DIR"))
			case format == "mosquitto":
				passwd, acl, err := l.WriteMosquitto(args[0], ingestUser, ingestPassword)
				if err != nil {
					return usagef(c, err)
				}
				fmt.Fprintf(c.ErrOrStderr(), "herd: wrote %s (%d devices and %s) and %s (run %s)\n", passwd, l.Cameras(), ingestUser, acl, l.Namespace())
				return nil
			default:
				return usagef(c, fmt.Errorf("--format %q: want jsonl or mosquitto", format))
			}
			write := func(w io.Writer) error { return l.Export(w, nil) }
			if out == "" {
				return write(c.OutOrStdout())
			}
			if err := atomicfile.Write(out, write); err != nil {
				return err
			}
			fmt.Fprintf(c.ErrOrStderr(), "herd: wrote %d accounts with %d cameras (run %s) to %s\n", l.Accounts(), l.Cameras(), l.Namespace(), out)
			return nil
		},
	}
	c.Flags().IntVar(&cameras, "cameras", 1000, "number of cameras")
	c.Flags().Uint64Var(&seed, "seed", 1, "fleet seed")
	c.Flags().StringVarP(&out, "out", "o", "", "write to this file (atomically) instead of stdout")
	c.Flags().StringVar(&keyFile, "key-file", "", "the run's key (hex, from 'herd key'); required")
	c.Flags().StringVar(&certs, "certs", "", "also issue a test CA, a loopback server certificate and one client certificate per device (its id as the subject) into this directory")
	c.Flags().StringVar(&format, "format", "jsonl", "jsonl (herd/1 provisioning) or mosquitto (a password file and an ACL file, into the directory given)")
	c.Flags().StringVar(&ingestUser, "ingest-user", "herd-target", "with --format mosquitto: the user of the target's ingest (herd target --broker-user)")
	c.Flags().StringVar(&ingestPassword, "ingest-password", os.Getenv("HERD_BROKER_PASSWORD"), "with --format mosquitto: its password (env HERD_BROKER_PASSWORD; herd target --broker-password)")
	return c
}
