package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/cloud"
)

// drillOutputs is how a running drill reports as it goes.
type drillOutputs struct {
	progress func(live.Status) // about every second
	latency  bool              // with latency histograms (for Prometheus)
	planEnd  func()            // when the plan's last phase ends
}

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

// The process layout of a drill. A process may hold a limited number of
// open files (see procs.Budget), and each camera holds a socket on each
// side.
const (
	// maxPerWorker bounds one worker's cameras even under a large limit:
	// more processes use the cores better than a few large heaps.
	maxPerWorker = 15_000
	// maxPerCell bounds one target cell's device sockets.
	maxPerCell = 14_000
	// minDialingPerWorker is the least of --max-dialing a worker gets when
	// the run's total is split between workers.
	minDialingPerWorker = 64
	// cellLookupTimeout is the registry look-up time-out of the cells herd
	// run starts for its built-in target: on a machine the fleet shares
	// with the target, a 25 ms time-out measures the CPU scheduler rather
	// than the target.
	cellLookupTimeout = 250 * time.Millisecond
)

// processPlan is how a drill is spread over processes.
type processPlan struct {
	workers int // fleet processes; 1 runs the fleet in this process
	cells   int // target cell processes; 0 runs the built-in target in this process
}

// filesPerCamera is what a camera holds open on each side: two where a
// silent outage leaves its old socket open until the target notices.
func filesPerCamera(sc *scenarios.Scenario) int {
	for _, p := range sc.Phases {
		if p.Kind == scenarios.KindOutage && p.Mode == scenarios.ModeSilent {
			return 2
		}
	}
	return 1
}

// planProcesses sizes workers and cells for sc within b. forcedWorkers
// and forcedCells (0 = choose) come from --workers and --cells.
func planProcesses(b procs.Budget, sc *scenarios.Scenario, embedded bool, forcedWorkers, forcedCells int) (processPlan, error) {
	n, files := sc.Fleet.Cameras, filesPerCamera(sc)
	p := processPlan{workers: forcedWorkers, cells: forcedCells}
	if !embedded && forcedCells > 0 {
		return p, fmt.Errorf("--cells applies to the built-in target only; for your own target pass every cell in --target")
	}
	if p.workers < 0 || p.cells < 0 {
		return p, fmt.Errorf("--workers and --cells must not be negative")
	}
	if p.workers == 0 {
		// Fleet and built-in target in one process if both fit.
		if embedded && p.cells == 0 && b.Fits(2*n, files) {
			return processPlan{workers: 1}, nil
		}
		p.workers = b.Processes(n, files, maxPerWorker)
	}
	if embedded && p.cells == 0 && (p.workers > 1 || !b.Fits(2*n, files)) {
		p.cells = b.Processes(n, files, maxPerCell)
	}
	if p.workers > n {
		return p, fmt.Errorf("--workers %d is more than the %d cameras", p.workers, n)
	}
	return p, nil
}

// startBuiltinTarget starts the reference target for d: in this process,
// or as cell processes when plan says so. It sets d's target and info.
func startBuiltinTarget(c *cobra.Command, fl *runFlags, plan processPlan, d *sim.Drill, info *reports.TargetInfo) (stop func(), err error) {
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
	if plan.cells == 0 {
		srv, err := cloud.New(cloud.Config{AdminToken: token, Faults: faults, MaxConnectRate: fl.tgtRate, ConnectBurst: fl.tgtBurst})
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			srv.Close()
			return nil, fmt.Errorf("starting the built-in target: %w", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		d.Target = sim.Target{Cells: []string{"http://" + ln.Addr().String()}, AdminToken: token}
		return func() { cancel(); <-done }, nil
	}
	extra := []string{"--lookup-timeout=" + cellLookupTimeout.String()}
	if fl.faults != "" {
		extra = append(extra, "--fault="+fl.faults)
	}
	if fl.tgtRate > 0 {
		// The rate is the target's: each cell takes its share.
		extra = append(extra, fmt.Sprintf("--max-connect-rate=%g", fl.tgtRate/float64(plan.cells)), fmt.Sprintf("--connect-burst=%d", max(1, fl.tgtBurst/plan.cells)))
	}
	logf(c.ErrOrStderr(), fl.quiet, "starting the built-in target as %d cell processes", plan.cells)
	cells, err := startCells(c.Context(), plan.cells, "127.0.0.1", 0, token, extra, nil)
	if err != nil {
		return nil, interruptedOr(c.Context(), err)
	}
	d.Target = sim.Target{Cells: cells.urls, AdminToken: token}
	return func() { cells.Stop(15 * time.Second) }, nil
}
