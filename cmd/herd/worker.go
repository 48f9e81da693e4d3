package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/internal/procstat"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/oracle"
)

func init() { subcommands = append(subcommands, newWorkerCmd) }

// workerSpec is what a coordinator tells a worker process, as the first
// line of its stdin (not on the command line: it holds the oracle key).
type workerSpec struct {
	Scenario     string             `json:"scenario"`      // name, for messages
	ScenarioYAML string             `json:"scenario_yaml"` // as run: fleet size and seed included
	Shard        int                `json:"shard"`
	Shards       int                `json:"shards"`
	Target       sim.Target         `json:"target"`
	TargetInfo   reports.TargetInfo `json:"target_info"`
	Key          string             `json:"key"` // hex
	RampRate     float64            `json:"ramp_rate"`
	MaxDialing   int                `json:"max_dialing"`
	SourceOffset int                `json:"source_offset"`
	Progress     time.Duration      `json:"progress"`
	Latency      bool               `json:"latency"` // latency buckets in each status (for Prometheus)
	Out          string             `json:"out"`
}

// workerMsg is one line a worker writes on stdout.
type workerMsg struct {
	Ready  bool         `json:"ready,omitempty"`
	Status *live.Status `json:"status,omitempty"`
	Done   bool         `json:"done,omitempty"`
	Error  string       `json:"error,omitempty"`
}

// startMsg is the coordinator's second line: when to start.
type startMsg struct {
	Start time.Time `json:"start"`
}

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "worker",
		Short:  "Run one shard of a drill for a coordinating 'herd run' (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runWorker(c.Context(), os.Stdin, c.OutOrStdout())
		},
	}
}

// runWorker reads its spec, builds its shard of the fleet, says it is
// ready, waits for the start instant, runs, and writes its result (partial
// if interrupted) to spec.Out. It stops when its stdin closes: the
// coordinator is gone.
func runWorker(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	procstat.RaiseFileLimit()
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	send := func(m workerMsg) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(m)
	}
	fail := func(err error) error {
		send(workerMsg{Error: err.Error()})
		return err
	}

	in := bufio.NewReader(stdin)
	var spec workerSpec
	if err := readJSONLine(in, &spec); err != nil {
		return fail(fmt.Errorf("worker: reading the spec: %w", err))
	}
	sc, err := scenarios.Parse(spec.Scenario, []byte(spec.ScenarioYAML))
	if err != nil {
		return fail(fmt.Errorf("worker: %w", err))
	}
	kb, err := hex.DecodeString(spec.Key)
	if err != nil {
		return fail(fmt.Errorf("worker: key: %w", err))
	}
	key, err := oracle.KeyFromBytes(kb)
	if err != nil {
		return fail(err)
	}
	l, err := sim.NewLayout(sc.Fleet.Cameras, sc.Fleet.Seed, key)
	if err != nil {
		return fail(err)
	}
	opts := []sim.Option{
		sim.WithShard(spec.Shard, spec.Shards), sim.WithRampRate(spec.RampRate),
		sim.WithMaxDialing(spec.MaxDialing), sim.WithSourceOffset(spec.SourceOffset),
	}
	if spec.Latency {
		opts = append(opts, sim.WithProgressLatency())
	}
	if spec.Progress > 0 {
		opts = append(opts, sim.WithProgress(spec.Progress, func(p sim.Progress) {
			st := statusOf(p)
			send(workerMsg{Status: &st})
		}))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	send(workerMsg{Ready: true})
	var sm startMsg
	if err := readJSONLine(in, &sm); err != nil {
		return fail(fmt.Errorf("worker: waiting for the start: %w", err))
	}
	// From now on, stdin closing means the coordinator is gone.
	go func() {
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()
	fleet, err := sim.New(sc, l, spec.Target, append(opts, sim.WithStart(sm.Start))...)
	if err != nil {
		return fail(err)
	}
	out, err := fleet.Run(ctx)
	if err != nil {
		return fail(err)
	}
	res := reports.Build(sc, out, spec.TargetInfo, herdVersion())
	if err := atomicfile.Write(spec.Out, func(w io.Writer) error { return reports.WriteJSON(w, res) }); err != nil {
		return fail(fmt.Errorf("worker: writing %s: %w", spec.Out, err))
	}
	send(workerMsg{Done: true})
	return nil
}

// readJSONLine decodes one line of r into v.
func readJSONLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if len(line) == 0 && err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("stdin closed")
		}
		return err
	}
	return json.Unmarshal(line, v)
}
