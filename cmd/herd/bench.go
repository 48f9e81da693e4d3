package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/floor"
	"github.com/herd-drill/herd/internal/procstat"
	"github.com/herd-drill/herd/sim"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks herd measures itself against",
	}
	c.AddCommand(newBenchFloorCmd())
	return c
}

func newBenchFloorCmd() *cobra.Command {
	var (
		targetURL, adminToken string
		cameras               int
		seed                  uint64
		provision             bool
		maxDialing            int
	)
	c := &cobra.Command{
		Use:   "floor",
		Short: "Bare gorilla/websocket clients: the floor herd is measured against",
		Long: `Open --cameras plain WebSocket clients against a herd/1 target, each of which
connects, reads its welcome, sends one event, waits for its ack and holds
the socket; then print the connect rate and the memory per socket as JSON.
Run it against a target in another process ('herd target') so that the
memory figure is the clients' alone; scripts/floor-vs-herd.sh runs it and
'herd run' side by side.`,
		Example: `  herd target --listen 127.0.0.1:18080 --admin-token secret &
  herd bench floor --target http://127.0.0.1:18080 --admin-token secret --cameras 10000`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if targetURL == "" {
				return usagef(c, fmt.Errorf("--target is required (start one with 'herd target')"))
			}
			l, err := sim.NewLayout(cameras, seed)
			if err != nil {
				return usagef(c, err)
			}
			procstat.RaiseFileLimit()
			ctx := c.Context()
			if provision {
				if err := sim.Provision(ctx, l, sim.Target{Cells: []string{targetURL}, AdminToken: adminToken}); err != nil {
					return err
				}
			}
			stderr := c.ErrOrStderr()
			res, err := floor.Run(ctx, floor.Config{
				Target: targetURL, Cameras: cameras, MaxDialing: maxDialing,
				Device: sim.DeviceName, Token: l.DeviceToken,
				Progress: func(n, total int) { fmt.Fprintf(stderr, "herd: floor: %d/%d connected\n", n, total) },
			})
			if err != nil {
				return interruptedOr(ctx, err)
			}
			enc := json.NewEncoder(c.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				floor.Result
				ElapsedS float64 `json:"elapsed_s"`
			}{res, res.Elapsed.Round(time.Millisecond).Seconds()})
		},
	}
	f := c.Flags()
	f.StringVar(&targetURL, "target", "", "base URL of the target")
	f.StringVar(&adminToken, "admin-token", "", "admin token of the target, to provision the fleet")
	f.IntVar(&cameras, "cameras", 1000, "sockets to open")
	f.Uint64Var(&seed, "seed", 1, "fleet seed (the same fleet herd run would provision)")
	f.BoolVar(&provision, "provision", true, "provision the fleet first")
	f.IntVar(&maxDialing, "max-dialing", floor.DefaultMaxDialing, "sockets in the handshake at once")
	return c
}
