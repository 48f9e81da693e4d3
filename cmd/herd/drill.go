package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/cloud"
)

// drillOutputs is how a running drill reports as it goes.
type drillOutputs struct {
	progress func(live.Status) // about every second
	latency  bool              // with latency histograms (for Prometheus)
	planEnd  func()            // when the plan's last phase ends
}

// setGC sets the garbage collector's target of a drill's process, unless
// GOGC is set: memory per camera is what bounds a fleet on one machine (the
// README's Benchmarks section has the figures).
func setGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
}

// DefaultGCPercent is the garbage collector's target of a drill's process.
const DefaultGCPercent = 35

// runOne runs drill d in this process — a whole drill, a shard, a worker's
// part — and builds its result: every path that runs a drill runs it
// here. Provisioning and the preflight are the caller's.
func runOne(ctx context.Context, d sim.Drill, info reports.TargetInfo, o drillOutputs) (*reports.Result, error) {
	var opts []sim.Option
	if o.progress != nil {
		opts = append(opts, sim.WithProgress(time.Second, o.progress))
	}
	if o.latency {
		opts = append(opts, sim.WithProgressLatency())
	}
	if o.planEnd != nil {
		opts = append(opts, sim.WithPlanEnd(o.planEnd))
	}
	fleet, err := sim.New(d, opts...)
	if err != nil {
		return nil, err
	}
	out, err := fleet.Run(ctx)
	if err != nil {
		return nil, err
	}
	return reports.Build(d.Scenario, out, info, herdVersion()), nil
}

// cellLookupTimeout is the registry look-up time-out of the cells herd run
// starts for its built-in target: on a machine the fleet shares with the
// target, a 25 ms time-out measures the CPU scheduler rather than the
// target.
const cellLookupTimeout = 250 * time.Millisecond

// startBuiltinTarget starts the reference target for d: in this process,
// or as cell processes when plan says so. It sets d's target and info.
func startBuiltinTarget(c *cobra.Command, fl *runFlags, plan sim.ProcessPlan, d *sim.Drill, info *reports.TargetInfo) (stop func(), err error) {
	faults, err := cloud.ParseFaults(fl.faults)
	if err != nil {
		return nil, usagef(c, fmt.Errorf("--target-fault: %w", err))
	}
	info.Embedded = true
	for _, f := range cloud.AllFaults() {
		if faults.Has(f) {
			info.Faults = append(info.Faults, string(f))
		}
	}
	token, err := cloud.NewToken()
	if err != nil {
		return nil, err
	}
	if plan.Cells == 0 {
		url, stop, err := cloud.ServeLoopback(cloud.Config{AdminToken: token, Faults: faults, MaxConnectRate: fl.tgtRate, ConnectBurst: fl.tgtBurst})
		if err != nil {
			return nil, err
		}
		d.Target = sim.Target{Cells: []string{url}, AdminToken: token}
		return stop, nil
	}
	extra := []string{"--lookup-timeout=" + cellLookupTimeout.String()}
	if fl.faults != "" {
		extra = append(extra, "--fault="+fl.faults)
	}
	if fl.tgtRate > 0 {
		// The rate is the target's: each cell takes its share.
		extra = append(extra, fmt.Sprintf("--max-connect-rate=%g", fl.tgtRate/float64(plan.Cells)), fmt.Sprintf("--connect-burst=%d", max(1, fl.tgtBurst/plan.Cells)))
	}
	logf(c.ErrOrStderr(), fl.quiet, "starting the built-in target as %d cell processes", plan.Cells)
	cells, err := cloud.StartCells(c.Context(), plan.Cells, "127.0.0.1", 0, token, extra, nil)
	if err != nil {
		return nil, interruptedOr(c.Context(), err)
	}
	d.Target = sim.Target{Cells: cells.URLs, AdminToken: token}
	return func() { cells.Stop(15 * time.Second) }, nil
}
