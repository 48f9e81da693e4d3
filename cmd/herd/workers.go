package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/sim"
)

// workerExtra is what a worker is told besides its drill.
type workerExtra struct {
	TargetInfo reports.TargetInfo `json:"target_info"`
	Out        string             `json:"out"`     // where it writes its result
	Latency    bool               `json:"latency"` // latency buckets in each status (for Prometheus)
}

// runWorkers runs drill d on n worker processes and merges their results;
// a worker that dies is reported and the drill goes on without it.
func runWorkers(c *cobra.Command, d sim.Drill, info reports.TargetInfo, fl *runFlags, n int, lv *liveOutputs) (*reports.Result, error) {
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
	outcomes, err := sim.RunWorkers(c.Context(), d, sim.Workers{
		N: n, Args: []string{"worker"}, Env: sim.WorkerEnv(), Status: lv.update,
		Extra: func(i int) any {
			return workerExtra{TargetInfo: info, Out: filepath.Join(dir, fmt.Sprintf("shard-%03d.json", i)), Latency: fl.metricsListen != ""}
		},
		Log: func(format string, args ...any) { logf(c.ErrOrStderr(), fl.quiet, format, args...) },
	})
	if err != nil {
		return nil, interruptedOr(c.Context(), err)
	}
	var in []reports.Input
	var failed []reports.ShardInfo
	for _, o := range outcomes {
		var out string
		r, err := loadResultOf(o, &out)
		if err != nil {
			logf(c.ErrOrStderr(), false, "worker %d failed: %s; the drill goes on without its %d cameras", o.Index, o.Failure, o.Cameras)
			failed = append(failed, reports.ShardInfo{Index: o.Index, Of: n, Cameras: o.Cameras, Accounts: o.Accounts, Status: reports.ShardFailed, Detail: o.Failure, PID: o.PID})
			continue
		}
		in = append(in, reports.Input{Name: fmt.Sprintf("worker %d (%s)", o.Index, out), R: r})
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("every worker failed; the first: %s", failed[0].Detail)
	}
	return reports.Merge(in, failed...)
}

// loadResultOf reads the result a worker's done message names.
func loadResultOf(o sim.WorkerOutcome, out *string) (*reports.Result, error) {
	if o.Done == nil || json.Unmarshal(o.Done, out) != nil {
		return nil, fmt.Errorf("no result")
	}
	return reports.ReadFile(*out)
}

// runWorker is a worker process: its segment of the drill, written where
// the coordinator says.
func runWorker(ctx context.Context, stdin io.Reader) error {
	setGC()
	return sim.ServeWorker(ctx, stdin, func(ctx context.Context, in sim.WorkerInput, status func(live.Status)) (any, error) {
		var extra workerExtra
		if err := json.Unmarshal(in.Extra, &extra); err != nil {
			return nil, err
		}
		res, err := runOne(ctx, in.Drill, extra.TargetInfo, drillOutputs{progress: status, latency: extra.Latency})
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(extra.Out, func(w io.Writer) error { return reports.WriteJSON(w, res) }); err != nil {
			return nil, fmt.Errorf("worker: writing %s: %w", extra.Out, err)
		}
		return extra.Out, nil
	})
}
