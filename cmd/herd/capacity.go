package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/herd-drill/herd/engine"
	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/scenarios"
)

func init() { subcommands = append(subcommands, newCapacityCmd) }

type capacityFlags struct {
	sizes     string
	dir       string
	out       string
	html      string
	pause     time.Duration
	pauseSet  bool
	timeScale float64
	policy    string
	seed      uint64
	faults    string
	tgtRate   float64
	tgtBurst  int
	target    string
	token     string
}

func newCapacityCmd() *cobra.Command {
	var fl capacityFlags
	c := &cobra.Command{
		Use:   "capacity [SCENARIO|FILE]",
		Short: "Run the drill at several fleet sizes and find the largest the target survives",
		Long: `capacity runs the drill once per size in --cameras, smallest first, each in a
fresh herd process against a fresh built-in target (or against --target,
whose state then carries over between sizes), and reports per size the
recovery T99/T100, p99 connect and ack latency, error rate, violations and
the target's throughput (events acknowledged per second).

It names the knee, the largest size that met every threshold with no
violation, and fits the Universal Scalability Law to throughput against
size: contention (sigma), coherency (kappa) and the predicted peak. It writes
the sweep as JSON (herd.capacity/v1) and as an HTML page with the plots;
each size's own herd.result/v1 is kept in --dir.

After a size of 20,000 cameras or more it waits --pause (65 s) for the
kernel's TIME_WAIT table to drain, so that the next size is measured on a
clean machine.`,
		Example: `  herd capacity --cameras 10000,20000,50000,100000
  herd capacity az-outage --cameras 1000,2000,5000 --time-scale 0.5 --html capacity.html
  herd capacity --cameras 500,1000,2000 --target-max-connect-rate 500 --target-connect-burst 500`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			name := scenarios.Default
			if len(args) == 1 {
				name = args[0]
			}
			fl.pauseSet = c.Flags().Changed("pause")
			return runCapacity(c, name, &fl)
		},
	}
	f := c.Flags()
	f.StringVar(&fl.sizes, "cameras", "1000,2000,5000,10000", "fleet sizes to drill, comma-separated")
	f.StringVar(&fl.dir, "dir", "capacity", "directory for each size's result")
	f.StringVar(&fl.out, "out", "", "write the sweep as herd.capacity/v1 JSON here (default DIR/capacity.json)")
	f.StringVar(&fl.html, "html", "", "write the sweep's HTML page here (default DIR/capacity.html)")
	f.DurationVar(&fl.pause, "pause", 65*time.Second, "wait this long after a size of 20,000 cameras or more (TIME_WAIT); given explicitly, after every size")
	f.Float64Var(&fl.timeScale, "time-scale", 1, "multiply every scenario duration by this")
	f.StringVar(&fl.policy, "policy", "", "reconnect policy (default: the scenario's)")
	f.Uint64Var(&fl.seed, "seed", 0, "fleet seed (default: the scenario's)")
	f.StringVar(&fl.faults, "target-fault", "", "faults of the built-in target, comma-separated")
	f.Float64Var(&fl.tgtRate, "target-max-connect-rate", 0, "the built-in target's admission rate (0 = unlimited)")
	f.IntVar(&fl.tgtBurst, "target-connect-burst", 0, "the built-in target's token-bucket size")
	f.StringVar(&fl.target, "target", "", "drill this target instead of the built-in one (comma-separated cells)")
	f.StringVar(&fl.token, "admin-token", os.Getenv("HERD_ADMIN_TOKEN"), "admin token of --target (env HERD_ADMIN_TOKEN)")
	return c
}

func runCapacity(c *cobra.Command, name string, fl *capacityFlags) error {
	ctx, stderr := c.Context(), c.ErrOrStderr()
	sizes, err := reports.ParseSizes(fl.sizes)
	if err != nil {
		return usagef(c, err)
	}
	sc, err := scenarios.Load(name)
	if err != nil {
		return usagef(c, err)
	}
	if fl.target != "" && (fl.faults != "" || fl.tgtRate != 0 || fl.tgtBurst != 0) {
		return usagef(c, fmt.Errorf("--target-fault and --target-max-connect-rate/--target-connect-burst apply to the built-in target only"))
	}
	if err := os.MkdirAll(fl.dir, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	if fl.out == "" {
		fl.out = filepath.Join(fl.dir, "capacity.json")
	}
	if fl.html == "" {
		fl.html = filepath.Join(fl.dir, "capacity.html")
	}
	// Each size is a 'herd run' with the flags of herd run given here.
	base := []string{"--quiet"}
	c.Flags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "time-scale", "policy", "seed", "target-fault", "target-max-connect-rate", "target-connect-burst", "target":
			base = append(base, "--"+f.Name+"="+f.Value.String())
		}
	})
	env := []string{"HERD_ADMIN_TOKEN=" + fl.token} // not on the command line, where ps shows it

	sweep := reports.Sweep{
		Sizes: sizes, Pause: fl.pause, PauseAfter: 20_000,
		Log: func(format string, args ...any) { logf(stderr, false, format, args...) },
		Drill: func(ctx context.Context, n int) (*reports.Result, string, error) {
			file := filepath.Join(fl.dir, fmt.Sprintf("cameras-%d.json", n))
			r, err := engine.Child(ctx, fmt.Sprintf("drill of %d cameras", n), append([]string{name, fmt.Sprintf("--cameras=%d", n)}, base...), env, file, stderr)
			if err != nil {
				return nil, "", err
			}
			return r, file, nil
		},
	}
	if fl.pauseSet {
		sweep.PauseAfter = 0
	}
	if c.Flags().Changed("seed") {
		sc.Fleet.Seed = fl.seed
	}
	capy, err := sweep.Run(ctx, sc.Name, sc.Fleet.Seed)
	if capy == nil {
		return exitcode.With(exitcode.Interrupted, err)
	}
	werr := atomicfile.Write(fl.out, func(w io.Writer) error { return reports.WriteCapacityJSON(w, capy) })
	werr = errors.Join(werr, atomicfile.Write(fl.html, func(w io.Writer) error { return reports.WriteCapacityHTML(w, capy) }))
	if err := reports.WriteCapacitySummary(c.OutOrStdout(), capy); err != nil {
		return err
	}
	fmt.Fprintf(c.OutOrStdout(), "\nwrote %s and %s\n", fl.out, fl.html)
	if werr != nil {
		return werr
	}
	if err != nil {
		return exitcode.With(exitcode.Interrupted, nil)
	}
	if len(capy.Leaks()) > 0 {
		return exitcode.With(exitcode.Failed, nil) // the summary says it first
	}
	return nil
}
