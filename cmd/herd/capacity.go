package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/internal/procs"
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

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--cameras %q: %q is not a positive number of cameras", s, part)
		}
		out = append(out, n)
	}
	sort.Ints(out)
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			return nil, fmt.Errorf("--cameras %q: %d given twice", s, out[i])
		}
	}
	return out, nil
}

func runCapacity(c *cobra.Command, name string, fl *capacityFlags) error {
	ctx, stderr := c.Context(), c.ErrOrStderr()
	sizes, err := parseSizes(fl.sizes)
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
	scenarioArg := name
	base := []string{"--quiet", fmt.Sprintf("--time-scale=%g", fl.timeScale)}
	if fl.policy != "" {
		base = append(base, "--policy="+fl.policy)
	}
	if c.Flags().Changed("seed") {
		base = append(base, fmt.Sprintf("--seed=%d", fl.seed))
	}
	if fl.faults != "" {
		base = append(base, "--target-fault="+fl.faults)
	}
	if fl.tgtRate != 0 {
		base = append(base, fmt.Sprintf("--target-max-connect-rate=%g", fl.tgtRate))
	}
	if fl.tgtBurst != 0 {
		base = append(base, fmt.Sprintf("--target-connect-burst=%d", fl.tgtBurst))
	}
	var env []string
	if fl.target != "" {
		base = append(base, "--target="+fl.target)
		env = append(env, "HERD_ADMIN_TOKEN="+fl.token)
	}

	var points []reports.CapacityPoint
	seed := sc.Fleet.Seed
	interrupted := false
	for i, n := range sizes {
		if i > 0 && (fl.pauseSet || sizes[i-1] >= 20_000) && fl.pause > 0 {
			logf(stderr, false, "waiting %s for the kernel's TIME_WAIT table to drain", fl.pause)
			if !sleepUntilCtx(ctx, fl.pause) {
				interrupted = true
				break
			}
		}
		file := filepath.Join(fl.dir, fmt.Sprintf("cameras-%d.json", n))
		args := append([]string{"run", scenarioArg, fmt.Sprintf("--cameras=%d", n), "--out=" + file}, base...)
		logf(stderr, false, "capacity: drilling %d cameras (%d of %d)", n, i+1, len(sizes))
		start := time.Now()
		ch, err := procs.Start(procs.Spec{Name: fmt.Sprintf("drill of %d cameras", n), Args: args, Env: env, Forward: stderr})
		if err != nil {
			return err
		}
		select { // its summary is in its result
		case <-ch.Done():
		case <-ctx.Done():
			ch.Signal(syscall.SIGINT)
			<-ch.Done()
			interrupted = true
		}
		r, rerr := loadResult(file)
		if rerr != nil {
			if interrupted {
				break
			}
			return fmt.Errorf("the drill of %d cameras wrote no result: %s", n, ch.Failure())
		}
		if r.Interrupted {
			interrupted = true
			break
		}
		seed = r.Seed
		p := reports.CapacityPointOf(r, file)
		points = append(points, p)
		logf(stderr, false, "capacity: %d cameras: %s in %s, T99 %s, T100 %s, connect p99 %.0f ms, %.0f events/s, %d violations",
			n, r.Verdict, time.Since(start).Round(time.Second), msOrDash(p.RecoveryT99Ms), msOrDash(p.RecoveryT100Ms), p.ConnectP99Ms, p.Throughput, p.Violations)
		if interrupted {
			break
		}
	}
	if len(points) == 0 {
		return exitcode.With(exitcode.Interrupted, fmt.Errorf("interrupted before the first size finished"))
	}
	capy := reports.NewCapacity(sc.Name, seed, points)
	werr := atomicfile.Write(fl.out, func(w io.Writer) error { return reports.WriteCapacityJSON(w, capy) })
	if err := atomicfile.Write(fl.html, func(w io.Writer) error { return reports.WriteCapacityHTML(w, capy) }); err != nil && werr == nil {
		werr = err
	}
	writeCapacitySummary(c.OutOrStdout(), capy)
	fmt.Fprintf(c.OutOrStdout(), "\nwrote %s and %s\n", fl.out, fl.html)
	if werr != nil {
		return werr
	}
	if interrupted {
		return exitcode.With(exitcode.Interrupted, nil)
	}
	return nil
}

func sleepUntilCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func msOrDash(v *float64) string {
	if v == nil {
		return "-"
	}
	return (time.Duration(*v * float64(time.Millisecond))).Round(time.Millisecond).String()
}

func writeCapacitySummary(w io.Writer, c *reports.Capacity) {
	fmt.Fprintf(w, "herd capacity %s (seed %d)\n\n", c.Scenario, c.Seed)
	fmt.Fprintf(w, "%10s  %-7s %9s %9s %12s %10s %8s %10s %12s\n", "cameras", "verdict", "T99", "T100", "connect p99", "ack p99", "errors", "violations", "events/s")
	for _, p := range c.Points {
		fmt.Fprintf(w, "%10d  %-7s %9s %9s %10.0fms %8.0fms %7.2f%% %10d %12.0f\n", p.Cameras, p.Verdict, msOrDash(p.RecoveryT99Ms), msOrDash(p.RecoveryT100Ms),
			p.ConnectP99Ms, p.AckP99Ms, 100*p.ErrorRate, p.Violations, p.Throughput)
	}
	k := c.Knee
	switch {
	case k.Cameras > 0:
		fmt.Fprintf(w, "\nknee: %d cameras", k.Cameras)
	default:
		fmt.Fprintf(w, "\nknee: none")
	}
	if k.Note != "" {
		fmt.Fprintf(w, ": %s", k.Note)
	}
	fmt.Fprintln(w)
	if c.Fit != nil {
		f := c.Fit
		fmt.Fprintf(w, "USL fit: lambda %.3g events/s per camera, contention sigma %.3g, coherency kappa %.3g, R² %.3f", f.Lambda, f.Sigma, f.Kappa, f.R2)
		if f.Peak != nil {
			fmt.Fprintf(w, "; predicted peak %.0f events/s at %.0f cameras", f.Peak.X, f.Peak.N)
			if f.Peak.Extrapolated {
				fmt.Fprint(w, " (beyond the sizes drilled)")
			}
		}
		fmt.Fprintln(w)
	} else if c.FitError != "" {
		fmt.Fprintf(w, "USL fit: %s\n", c.FitError)
	}
}
