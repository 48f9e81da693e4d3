package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/sim"
)

// WorkerArgs is herd's command line of a worker process.
var WorkerArgs = []string{"worker"}

// workerExtra is what a worker is told besides its drill.
type workerExtra struct {
	TargetInfo reports.TargetInfo `json:"target_info"`
	Out        string             `json:"out"`      // where it writes its result
	Evidence   string             `json:"evidence"` // where it writes every evidence record, when asked
	Latency    bool               `json:"latency"`  // latency buckets in each status (for Prometheus)
	Version    string             `json:"version"`
}

// workers runs drill d on worker processes and merges their results; a
// worker that dies is reported and the drill goes on without it.
func (r Run) workers(ctx context.Context, d sim.Drill, info reports.TargetInfo) (*reports.Result, error) {
	dir := r.Parts
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "herd-parts-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("the parts directory: %w", err)
	}
	n := r.Processes.Workers
	var evidence []string // the workers' evidence files
	outcomes, err := sim.RunWorkers(ctx, d, sim.Workers{
		N: n, Args: WorkerArgs, Env: sim.WorkerEnv(), Status: r.Progress, Log: r.Log,
		Extra: func(i int) any {
			x := workerExtra{TargetInfo: info, Out: filepath.Join(dir, fmt.Sprintf("shard-%03d.json", i)), Latency: r.Latency, Version: r.Version}
			if r.Evidence != "" {
				x.Evidence = filepath.Join(dir, fmt.Sprintf("evidence-%03d.jsonl", i))
				evidence = append(evidence, x.Evidence)
			}
			return x
		},
	})
	if err != nil {
		return nil, err
	}
	if r.Evidence != "" {
		if _, err := reports.MergeEvidence(r.Evidence, evidence); err != nil {
			return nil, fmt.Errorf("--evidence: %w", err)
		}
	}
	var in []reports.Input
	var failed []reports.ShardInfo
	for _, o := range outcomes {
		var out string
		res, err := resultOf(o, &out)
		if err != nil {
			r.logf("worker %d failed: %s; the drill goes on without its %d cameras", o.Index, o.Failure, o.Cameras)
			failed = append(failed, reports.ShardInfo{Index: o.Index, Of: n, Cameras: o.Cameras, Accounts: o.Accounts, Status: reports.ShardFailed, Detail: o.Failure, PID: o.PID})
			continue
		}
		in = append(in, reports.Input{Name: fmt.Sprintf("worker %d (%s)", o.Index, out), R: res})
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("every worker failed; the first: %s", failed[0].Detail)
	}
	return reports.Merge(in, failed...)
}

// resultOf reads the result a worker's done message names.
func resultOf(o sim.WorkerOutcome, out *string) (*reports.Result, error) {
	if o.Done == nil || json.Unmarshal(o.Done, out) != nil {
		return nil, errors.New("no result")
	}
	return reports.ReadFile(*out)
}

// ServeWorker is a worker process (WorkerArgs): its segment of the drill,
// its result written where the coordinator says.
func ServeWorker(ctx context.Context, stdin io.Reader) error {
	tuneGC()
	return sim.ServeWorker(ctx, stdin, func(ctx context.Context, in sim.WorkerInput, status func(live.Status)) (any, error) {
		var extra workerExtra
		if err := json.Unmarshal(in.Extra, &extra); err != nil {
			return nil, err
		}
		res, err := runHere(ctx, in.Drill, extra.TargetInfo, extra.Version, outputs{progress: status, latency: extra.Latency, evidence: extra.Evidence})
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(extra.Out, func(w io.Writer) error { return reports.WriteJSON(w, res) }); err != nil {
			return nil, fmt.Errorf("worker: writing %s: %w", extra.Out, err)
		}
		return extra.Out, nil
	})
}

// Child runs 'herd run' with args as a child process that writes its
// result to file, and reads that result; cancelling ctx interrupts the
// child as Ctrl-C would, and its partial result is still read. Its stderr
// goes to stderr.
func Child(ctx context.Context, name string, args, env []string, file string, stderr io.Writer) (*reports.Result, error) {
	ch, err := procs.Start(procs.Spec{Name: name, Env: env, Forward: stderr, Args: append([]string{"run", "--out=" + file}, args...)})
	if err != nil {
		return nil, err
	}
	select {
	case <-ch.Done():
	case <-ctx.Done():
		ch.Signal(syscall.SIGINT)
		<-ch.Done()
	}
	r, err := reports.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("the %s wrote no result: %s", name, ch.Failure())
	}
	return r, nil
}
