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

// floorInput is what a floor run tells each of its processes.
type floorInput struct {
	Target       []string    `json:"target"`
	Key          *oracle.Key `json:"key"`
	Cameras      int         `json:"cameras"`
	Seed         uint64      `json:"seed"`
	Segment      sim.Segment `json:"segment"`
	SourceOffset int         `json:"source_offset"`
	MaxDialing   int         `json:"max_dialing"`
}

func newBenchFloorCmd() *cobra.Command {
	var (
		targetURL, adminToken string
		in                    floorInput
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
				return floorChild(c, p)
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
				processes = budget.Processes(in.Cameras, 1, maxPerWorker)
			}
			var res floor.Result
			if processes > 1 {
				res, err = floorProcesses(c, in, processes)
			} else {
				in.Segment = sim.Whole
				res, err = runFloor(c, in, time.Time{}, func(n, total int) { fmt.Fprintf(c.ErrOrStderr(), "herd: floor: %d/%d connected\n", n, total) })
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

// runFloor opens the sockets of in's segment from this process, from start
// on (zero: now).
func runFloor(c *cobra.Command, in floorInput, start time.Time, progress func(n, total int)) (floor.Result, error) {
	l, err := sim.NewLayout(in.Cameras, in.Seed, in.Key)
	if err != nil {
		return floor.Result{}, err
	}
	return floor.Run(c.Context(), floor.Config{
		Targets: in.Target, Cell: func(i int) int { return sim.CellOf(l.Account(i), len(in.Target)) },
		Cameras: in.Cameras, Only: in.Segment.CameraIndexes(l), MaxDialing: in.MaxDialing, SourceOffset: in.SourceOffset,
		Device: l.Device, Token: l.DeviceToken, Progress: progress, Start: start,
	})
}

// floorChild is one process of a floor run spread over several.
func floorChild(c *cobra.Command, p *procs.Parent) error {
	var in floorInput
	if err := p.Input(&in); err != nil {
		return p.Fail(err)
	}
	p.Ready(nil)
	start, err := p.WaitStart(c.Context())
	if err != nil {
		return p.Fail(err)
	}
	res, err := runFloor(c, in, start, nil)
	if err != nil {
		return p.Fail(err)
	}
	p.Done(res)
	return nil
}

func printFloor(w io.Writer, res floor.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		floor.Result
		ElapsedS float64 `json:"elapsed_s"`
	}{res, res.Elapsed.Round(time.Millisecond).Seconds()})
}

// floorProcesses runs the floor as n processes of this binary, one
// segment each, starting on one instant, and sums them.
func floorProcesses(c *cobra.Command, in floorInput, n int) (floor.Result, error) {
	specs := make([]procs.Spec, n)
	offset := 0
	per := (in.Cameras + n - 1) / n
	for i, seg := range sim.Split(n) {
		pi := in
		pi.Segment, pi.SourceOffset = seg, offset
		pi.MaxDialing = max(minDialingPerWorker, in.MaxDialing/n)
		offset += (per+floor.DefaultPerSource-1)/floor.DefaultPerSource + 1
		specs[i] = procs.Spec{Name: fmt.Sprintf("floor %d", i), Args: []string{"bench", "floor"}, Input: pi, Forward: c.ErrOrStderr()}
	}
	g, err := procs.StartGroup(specs)
	if err != nil {
		return floor.Result{}, err
	}
	defer g.Stop(10 * time.Second)
	if _, err := g.Ready(c.Context(), time.Minute); err != nil {
		return floor.Result{}, err
	}
	start := time.Now().Add(time.Second)
	g.StartAt(start)
	fmt.Fprintf(c.ErrOrStderr(), "herd: floor: %d cameras over %d processes, starting together at %s\n", in.Cameras, n, start.Format(time.TimeOnly))
	var parts []floor.Result
	for i, o := range g.Run(c.Context(), procs.Watch{}) {
		var r floor.Result
		if o.Done == nil || json.Unmarshal(o.Done, &r) != nil {
			return floor.Result{}, fmt.Errorf("floor process %d: %s %s", i, o.Failure, o.Error)
		}
		parts = append(parts, r)
	}
	return floor.Sum(parts...), nil
}
