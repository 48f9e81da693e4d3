package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/floor"
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
		transport, brokers    string
	)
	c := &cobra.Command{
		Use:   "floor",
		Short: "Bare clients (WebSocket or MQTT): the floor herd is measured against",
		Long: `Open --cameras plain WebSocket clients against a herd/1 target, each of which
connects, reads its welcome, sends one event, waits for its ack and holds
the socket; then print the connect rate and the memory per socket as JSON.
With --transport mqtt the clients are bare MQTT clients on mochi-mqtt's
packet codec (herd's own) at --broker: CONNECT, SUBSCRIBE, hello and its
welcome, one QoS 1 event and its ack, then hold.
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
  herd bench floor --target http://127.0.0.1:18080,http://127.0.0.1:18081,... --admin-token secret --cameras 100000
  herd target --listen 127.0.0.1:18080 --admin-token secret --mqtt-listen 127.0.0.1:11883 &
  herd bench floor --transport mqtt --broker mqtt://127.0.0.1:11883 --target http://127.0.0.1:18080 --admin-token secret`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if p, ok := procs.FromParent(c.InOrStdin()); ok {
				return floor.ServeProcess(c.Context(), p) // one process of a spread run
			}
			if targetURL == "" {
				return usagef(c, errors.New("--target is required (start one with 'herd target')"))
			}
			if in.Cameras < 1 {
				return usagef(c, fmt.Errorf("--cameras %d: want at least 1", in.Cameras))
			}
			budget, err := procs.FileBudget()
			if err != nil {
				return usagef(c, err)
			}
			if processes == 0 {
				processes = budget.Processes(in.Cameras, 1, sim.MaxPerWorker)
			}
			switch {
			case !provision:
				adminToken = ""
			case adminToken == "":
				return usagef(c, errors.New("--admin-token is required to provision the fleet (or --provision=false for a fleet already provisioned)"))
			}
			if in.Target = strings.Split(targetURL, ","); transport == "mqtt" && brokers != "" {
				in.Brokers = strings.Split(brokers, ",")
			} else if transport != "ws" || brokers != "" {
				return usagef(c, fmt.Errorf("--transport %q with --broker %q: want ws, or mqtt with the target's --broker", transport, brokers))
			}
			res, err := floor.Bench(c.Context(), in, adminToken, processes, []string{"bench", "floor"}, c.ErrOrStderr())
			if err != nil {
				return interruptedOr(c.Context(), err)
			}
			return res.WriteJSON(c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&targetURL, "target", "", "base URL of the target (comma-separated for cells)")
	f.StringVar(&transport, "transport", "ws", "the clients' transport: ws (herd/1 over WebSocket) or mqtt (over MQTT 5 at --broker)")
	f.StringVar(&brokers, "broker", "", "with --transport mqtt: the target's broker (mqtt://HOST:PORT; comma-separated, one per cell)")
	f.StringVar(&adminToken, "admin-token", "", "admin token of the target, to provision the fleet")
	f.IntVar(&in.Cameras, "cameras", 1000, "sockets to open")
	f.Uint64Var(&in.Seed, "seed", 1, "fleet seed")
	f.BoolVar(&provision, "provision", true, "provision the fleet first")
	f.IntVar(&in.MaxDialing, "max-dialing", floor.DefaultMaxDialing, "sockets in the handshake at once (split between processes)")
	f.IntVar(&processes, "processes", 0, "processes to spread the sockets over (default: as many as the open-file limit needs)")
	return c
}
