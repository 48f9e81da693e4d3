// Package engine runs a drill end to end — the built-in target, provisioning,
// the preflight, the fleet in this process or over worker processes — and
// builds its Result; herd run, its workers and herd capacity's drills all
// run through it.
package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/cloud"
)

// Run is one drill as herd run asks for it.
type Run struct {
	// Drill is what to run. Its target is set by Do when Builtin is.
	Drill sim.Drill
	// Builtin, when set, is the reference target to start for the drill.
	Builtin *Builtin
	// Processes is how the drill is spread (sim.PlanProcesses); the zero
	// plan runs everything in this process.
	Processes sim.ProcessPlan
	// Provision provisions the fleet before the drill.
	Provision bool
	// Parts is a directory that keeps each worker's own result; "" keeps
	// them in a temporary one, removed afterwards.
	Parts string
	// Progress gets the live status about every second; nil for none.
	Progress func(live.Status)
	// Latency adds latency histograms to each status (for Prometheus).
	Latency bool
	// PlanEnd is called when the plan's last phase ends (one process only).
	PlanEnd func()
	// Log gets a line at each step; nil for none.
	Log func(format string, args ...any)
	// Version is herd's, recorded in the result.
	Version string
	// Evidence, when set, is a JSON Lines file that gets every evidence
	// record the drill finds, in the order found.
	Evidence string
}

// Builtin is the reference target a drill starts for itself.
type Builtin struct {
	// MQTT puts the devices on the target's embedded broker (herd/1 over
	// MQTT) instead of its WebSocket.
	MQTT           bool
	Faults         cloud.Faults
	MaxConnectRate float64 // the whole target's; cells take shares
	ConnectBurst   int
}

// Do runs r: it starts the built-in target if asked, provisions, checks
// that the target answers a camera's handshake, runs the fleet and builds
// the result. The result of an interrupted drill is still returned.
func (r Run) Do(ctx context.Context) (*reports.Result, error) {
	tuneGC()
	d := r.Drill
	info := reports.TargetInfo{Faults: []string{}}
	if r.Builtin != nil {
		stop, err := r.Builtin.start(ctx, r.Processes.Cells, &d, r.logf)
		if err != nil {
			return nil, err
		}
		defer stop()
		info.Embedded = true
		for _, f := range cloud.AllFaults() {
			if r.Builtin.Faults.Has(f) {
				info.Faults = append(info.Faults, string(f))
			}
		}
	}
	info.URLs = d.Target.Cells
	if len(d.Target.Brokers) > 0 {
		info.Brokers, info.MQTTVersion = d.Target.Brokers, map[byte]string{4: "3.1.1", 5: "5"}[d.Target.MQTT.Version]
	}
	started := time.Now()
	if r.Provision {
		r.logf("provisioning %d cameras in %d accounts (seed %d, run %s) at %s", d.Segment.Cameras(d.Layout), len(d.Segment.Accounts(d.Layout)),
			d.Scenario.Fleet.Seed, d.Layout.Namespace(), strings.Join(d.Target.Cells, ","))
		if err := sim.Provision(ctx, d); err != nil {
			return failed(ctx, d, info, r.Version, started, err)
		}
	}
	if err := sim.Preflight(ctx, d); err != nil {
		return failed(ctx, d, info, r.Version, started, err)
	}
	sc := d.Scenario
	r.logf("drill %s: %s of phases, policy %s", sc.Name, sc.Total().Round(time.Second), sc.Reconnect.Policy)
	if r.Processes.Workers > 1 {
		return r.workers(ctx, d, info)
	}
	return runHere(ctx, d, info, r.Version, outputs{progress: r.Progress, latency: r.Latency, planEnd: r.PlanEnd, evidence: r.Evidence})
}

// failed is a drill that could not run: its result (verdict error) and
// why; an interrupt is only an interrupt.
func failed(ctx context.Context, d sim.Drill, info reports.TargetInfo, version string, started time.Time, err error) (*reports.Result, error) {
	if ctx.Err() != nil {
		return nil, err
	}
	return reports.Failed(d, info, version, started, err), err
}

func (r Run) logf(format string, args ...any) {
	if r.Log != nil {
		r.Log(format, args...)
	}
}

// outputs are how a drill running in this process reports as it goes.
type outputs struct {
	progress func(live.Status)
	latency  bool
	planEnd  func()
	evidence string // a JSON Lines file of every evidence record
}

// runHere runs drill d in this process — a whole drill, a shard, a
// worker's part — and builds its result.
func runHere(ctx context.Context, d sim.Drill, info reports.TargetInfo, version string, o outputs) (*reports.Result, error) {
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
	var ef *reports.EvidenceFile
	if o.evidence != "" {
		var err error
		if ef, err = reports.CreateEvidence(o.evidence); err != nil {
			return nil, err
		}
		opts = append(opts, sim.WithEvidence(ef.Add))
	}
	fleet, err := sim.New(d, opts...)
	if err == nil {
		var out *sim.Outcome
		if out, err = fleet.Run(ctx); err == nil {
			res := reports.Build(d.Scenario, out, info, version)
			if ef != nil {
				_, err = ef.Close()
			}
			return res, err
		}
	}
	if ef != nil {
		ef.Close() // what was found is kept
	}
	return nil, err
}

// cellLookupTimeout is the registry look-up time-out of the cells a drill
// starts for its built-in target: on a machine the fleet shares with the
// target, a 25 ms time-out measures the CPU scheduler rather than the
// target.
const cellLookupTimeout = 250 * time.Millisecond

// start starts the target in this process, or as n cell processes, and
// points d at it.
func (b *Builtin) start(ctx context.Context, n int, d *sim.Drill, logf func(string, ...any)) (stop func(), err error) {
	token, err := cloud.NewToken()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		url, broker, stop, err := cloud.ServeLoopback(cloud.Config{AdminToken: token, Faults: b.Faults, MaxConnectRate: b.MaxConnectRate, ConnectBurst: b.ConnectBurst}, b.MQTT)
		if err != nil {
			return nil, err
		}
		d.Target.Cells, d.Target.AdminToken = []string{url}, token
		if broker != "" {
			d.Target.Brokers = []string{broker}
		}
		return stop, nil
	}
	extra := []string{"--lookup-timeout=" + cellLookupTimeout.String()}
	if b.MQTT {
		extra = append(extra, "--mqtt-listen=127.0.0.1:0")
	}
	if len(b.Faults) > 0 {
		extra = append(extra, "--fault="+b.Faults.String())
	}
	if b.MaxConnectRate > 0 {
		// The rate is the target's: each cell takes its share.
		extra = append(extra, fmt.Sprintf("--max-connect-rate=%g", b.MaxConnectRate/float64(n)), fmt.Sprintf("--connect-burst=%d", max(1, b.ConnectBurst/n)))
	}
	logf("starting the built-in target as %d cell processes", n)
	cells, err := cloud.StartCells(ctx, n, "127.0.0.1:0", token, extra, nil)
	if err != nil {
		return nil, err
	}
	d.Target.Cells, d.Target.Brokers, d.Target.AdminToken = cells.URLs, cells.Brokers, token
	return func() { cells.Stop(15 * time.Second) }, nil
}

// DefaultGCPercent is the garbage collector's target of a drill's process:
// memory per camera is what bounds a fleet on one machine (the README's
// Benchmarks section has the figures).
const DefaultGCPercent = 35

// tuneGC sets DefaultGCPercent, unless GOGC is set.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
}

// HeapProfile is a PlanEnd hook that writes a heap profile to path, for
// herd's own benchmarks; nil without a path.
func HeapProfile(path string, logf func(string, ...any)) func() {
	if path == "" {
		return nil
	}
	return func() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		logf("memprofile: heap in use %d MB, goroutine stacks %d MB, %d goroutines", ms.HeapInuse>>20, ms.StackInuse>>20, runtime.NumGoroutine())
		if err := atomicfile.Write(path, pprof.WriteHeapProfile); err != nil {
			logf("memprofile: %v", err)
		}
	}
}
