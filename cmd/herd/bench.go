package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/floor"
	"github.com/herd-drill/herd/sim/oracle"
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
		in                    floor.Fleet
		provision             bool
		processes             int
	)
	c := &cobra.Command{
		Use:   "floor",
		Short: "Bare gorilla/websocket clients: the floor herd is measured against",
		Long: `Open --cameras plain WebSocket clients against a herd/1 target, each of which
connects, reads its welcome, sends one event, waits for its ack and holds
the socket; then print the connect rate and the memory per socket as JSON.
Run it against a target in another process ('herd target', or 'herd target
--cells N' for large fleets; --target takes the cells' URLs comma-separated
and routes by the cell rule) so that the memory figure is the clients'
alone. A fleet larger than one process's open-file budget is spread over
--processes processes (by default as many as needed), each dialing from its
own loopback source addresses, all starting on one instant.
scripts/floor-vs-herd.sh runs it and 'herd run' side by side.`,
		Example: `  herd target --listen 127.0.0.1:18080 --admin-token secret &
  herd bench floor --target http://127.0.0.1:18080 --admin-token secret --cameras 10000
  herd target --cells 8 --listen 127.0.0.1:18080 --admin-token secret &
  herd bench floor --target http://127.0.0.1:18080,http://127.0.0.1:18081,... --admin-token secret --cameras 100000`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if p, ok := procs.FromParent(c.InOrStdin()); ok {
				return floor.ServeProcess(c.Context(), p) // one process of a spread run
			}
			if targetURL == "" {
				return usagef(c, errors.New("--target is required (start one with 'herd target')"))
			}
			budget, err := procs.FileBudget()
			if err != nil {
				return usagef(c, err)
			}
			if in.Key, err = oracle.NewKey(); err != nil { // the floor's fleet is a run of its own
				return err
			}
			in.Target = strings.Split(targetURL, ",")
			l, err := sim.NewLayout(in.Cameras, in.Seed, in.Key)
			if err != nil {
				return usagef(c, err)
			}
			ctx := c.Context()
			if provision {
				if err := sim.Provision(ctx, sim.Drill{Layout: l, Target: sim.Target{Cells: in.Target, AdminToken: adminToken}}); err != nil {
					return err
				}
			}
			if processes == 0 {
				processes = budget.Processes(in.Cameras, 1, sim.MaxPerWorker)
			}
			var res floor.Result
			if processes > 1 {
				res, err = floor.Spread(ctx, in, processes, []string{"bench", "floor"}, c.ErrOrStderr())
			} else {
				res, err = floor.RunFleet(ctx, in, time.Time{}, func(n, total int) { fmt.Fprintf(c.ErrOrStderr(), "herd: floor: %d/%d connected\n", n, total) })
			}
			if err != nil {
				return interruptedOr(ctx, err)
			}
			return printFloor(c.OutOrStdout(), res)
		},
	}
	f := c.Flags()
	f.StringVar(&targetURL, "target", "", "base URL of the target (comma-separated for cells)")
	f.StringVar(&adminToken, "admin-token", "", "admin token of the target, to provision the fleet")
	f.IntVar(&in.Cameras, "cameras", 1000, "sockets to open")
	f.Uint64Var(&in.Seed, "seed", 1, "fleet seed")
	f.BoolVar(&provision, "provision", true, "provision the fleet first")
	f.IntVar(&in.MaxDialing, "max-dialing", floor.DefaultMaxDialing, "sockets in the handshake at once (split between processes)")
	f.IntVar(&processes, "processes", 0, "processes to spread the sockets over (default: as many as the open-file limit needs)")
	return c
}

func printFloor(w io.Writer, res floor.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		floor.Result
		ElapsedS float64 `json:"elapsed_s"`
	}{res, res.Elapsed.Round(time.Millisecond).Seconds()})
}
