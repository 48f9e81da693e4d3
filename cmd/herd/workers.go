package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/sim"
)

// workerInput is what a coordinator tells a worker process on its stdin
// (the drill holds the run's key: never on a command line).
type workerInput struct {
	Drill      sim.Drill          `json:"drill"`
	TargetInfo reports.TargetInfo `json:"target_info"`
	Out        string             `json:"out"`     // where the worker writes its result
	Latency    bool               `json:"latency"` // latency buckets in each status (for Prometheus)
}

// workerDone is a worker's done message.
type workerDone struct {
	Out string `json:"out"`
}

// workerEnv is what a worker's environment adds to herd's. A camera's
// parked socket reader needs just under the runtime's smallest stack
// (2 KB; see sim/ws), but while cameras connect the runtime sees many deep
// stacks (handshakes) and starts new goroutines at 4 KB, and a reader
// started then keeps 4 KB for its socket's life. Without adaptive starting
// sizes every reader starts, and stays, at 2 KB.
func workerEnv() []string {
	godebug := "adaptivestackstart=0"
	if v := os.Getenv("GODEBUG"); v != "" {
		godebug += "," + v // the user's settings win
	}
	return []string{"GODEBUG=" + godebug}
}

// runWorkers runs drill d on p.workers worker processes of this binary,
// one segment each, started together on one instant, and merges their
// results into one. A worker that dies is reported and the drill goes on
// without it.
func runWorkers(c *cobra.Command, d sim.Drill, info reports.TargetInfo, fl *runFlags, p processPlan, lv *liveOutputs) (*reports.Result, error) {
	ctx, stderr := c.Context(), c.ErrOrStderr()
	dir := fl.parts
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "herd-parts-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--parts: %w", err)
	}
	segs := sim.Split(p.workers)
	specs := make([]procs.Spec, len(segs))
	offset := 0 // each worker dials from its own loopback source addresses
	for i, seg := range segs {
		wd := d
		wd.Segment, wd.SourceOffset = seg, offset
		wd.MaxDialing = max(minDialingPerWorker, d.MaxDialing/p.workers)
		offset += max(1, (seg.Cameras(d.Layout)+sim.DefaultPerSource-1)/sim.DefaultPerSource)
		specs[i] = procs.Spec{Name: fmt.Sprintf("worker %d", i), Args: []string{"worker"}, Env: workerEnv(),
			Input: workerInput{Drill: wd, TargetInfo: info, Out: filepath.Join(dir, fmt.Sprintf("shard-%03d.json", i)), Latency: fl.metricsListen != ""}}
	}
	g, err := procs.StartGroup(specs)
	if err != nil {
		return nil, err
	}
	defer g.Stop(10 * time.Second)
	least, most := d.Layout.Cameras(), 0
	for i, seg := range segs {
		in, cams := specs[i].Input.(workerInput), seg.Cameras(d.Layout)
		least, most = min(least, cams), max(most, cams)
		logf(stderr, fl.quiet, "worker %d: pid %d, %d cameras in %d accounts, from source address %d on", i, g.Children[i].PID(),
			cams, len(seg.Accounts(d.Layout)), in.Drill.SourceOffset)
	}
	logf(stderr, fl.quiet, "%d cameras over %d worker processes (%d to %d cameras each), %d target cells", d.Layout.Cameras(), p.workers, least, most, len(d.Target.Cells))
	if _, err := g.Ready(ctx, 2*time.Minute); err != nil {
		return nil, interruptedOr(ctx, err)
	}
	g.StartAt(time.Now().Add(500 * time.Millisecond))

	// Show live totals, forward Ctrl-C, wait for every worker to end.
	statuses := make([]*live.Status, len(specs))
	outcomes := g.Run(ctx, procs.Watch{
		Status: func(i int, raw json.RawMessage) {
			var s live.Status
			if json.Unmarshal(raw, &s) == nil {
				statuses[i] = &s
			}
		},
		Every: time.Second,
		Tick:  func() { lv.update(sumStatus(statuses, d.Layout.Cameras(), len(specs)-g.Running())) },
	})

	var in []reports.Input
	var failed []reports.ShardInfo
	for i, o := range outcomes {
		var done workerDone
		r, err := loadResultOf(o, &done)
		if err != nil {
			detail := o.Failure
			if o.Error != "" {
				detail += ": " + o.Error
			}
			logf(stderr, false, "worker %d failed: %s; the drill goes on without its %d cameras", i, detail, segs[i].Cameras(d.Layout))
			failed = append(failed, reports.ShardInfo{Index: i, Of: p.workers, Cameras: segs[i].Cameras(d.Layout), Accounts: len(segs[i].Accounts(d.Layout)),
				Status: reports.ShardFailed, Detail: detail, PID: o.PID})
			continue
		}
		in = append(in, reports.Input{Name: fmt.Sprintf("worker %d (%s)", i, done.Out), R: r})
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("every worker failed; the first: %s", failed[0].Detail)
	}
	return reports.Merge(in, failed...)
}

// loadResultOf reads the result a worker's done message names.
func loadResultOf(o procs.Outcome, done *workerDone) (*reports.Result, error) {
	if o.Done == nil {
		return nil, fmt.Errorf("no result")
	}
	if err := json.Unmarshal(o.Done, done); err != nil {
		return nil, err
	}
	return loadResult(done.Out)
}

// sumStatus sums the workers' last live statuses; a dead worker's last one
// stays in the sum, so counters never go back.
func sumStatus(statuses []*live.Status, cameras, dead int) live.Status {
	var parts []live.Status
	for _, s := range statuses {
		if s != nil {
			parts = append(parts, *s)
		}
	}
	s := live.Status{Phase: "starting"}
	if len(parts) > 0 {
		var err error
		if s, err = live.Sum(parts...); err != nil {
			s = parts[0] // histograms of different bounds: never from one herd
		}
	}
	s.Cameras = int64(cameras)
	s.WorkersDead = dead
	return s
}
