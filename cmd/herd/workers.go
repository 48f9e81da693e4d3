package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/internal/procstat"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
)

// A process here may hold a limited number of open files (20,000 on the
// machines herd is developed on, and the hard limit cannot be raised), so
// herd spreads a large fleet over worker processes and the built-in target
// over cell processes by itself.
const (
	// fileSlack is what a process keeps for app connections, listeners,
	// pipes and its own files.
	fileSlack = 1500
	// maxPerWorker bounds one worker's cameras even under a large limit:
	// more processes use both cores better than a few large heaps.
	maxPerWorker = 15_000
	// maxPerCell bounds one target cell's device sockets.
	maxPerCell = 14_000
)

// processPlan is how a drill is spread over processes.
type processPlan struct {
	workers int // fleet processes; 1 runs the fleet in this process
	cells   int // target cell processes; 0 runs the built-in target in this process
}

// planProcesses sizes workers and cells for sc under the open-file limit
// (raised to the hard limit first). forcedWorkers and forcedCells (0 =
// choose) come from --workers and --cells.
func planProcesses(sc *scenarios.Scenario, embedded bool, forcedWorkers, forcedCells int) (processPlan, error) {
	limit := int(procstat.RaiseFileLimit())
	if limit == 0 || limit > 1<<20 {
		limit = 1 << 20
	}
	if limit <= 2*fileSlack {
		return processPlan{}, fmt.Errorf("the open-file limit is %d, too small for a drill (herd needs more than %d): raise it with 'ulimit -n'", limit, 2*fileSlack)
	}
	// A silent outage leaves each camera's old socket open on both sides
	// until the target notices: two files per camera per side.
	perCamera := 1
	for _, p := range sc.Phases {
		if p.Kind == scenarios.KindOutage && p.Mode == scenarios.ModeSilent {
			perCamera = 2
		}
	}
	n := sc.Fleet.Cameras
	fits := func(sockets int) bool { return sockets*perCamera+fileSlack <= limit }
	p := processPlan{workers: forcedWorkers, cells: forcedCells}
	if !embedded && forcedCells > 0 {
		return p, fmt.Errorf("--cells applies to the built-in target only; for your own target pass every cell in --target")
	}
	if p.workers == 0 {
		// Fleet and built-in target in one process if both fit.
		if embedded && p.cells == 0 && fits(2*n) {
			return processPlan{workers: 1}, nil
		}
		perWorker := min(maxPerWorker, (limit-fileSlack)/perCamera)
		p.workers = ceilDiv(n, perWorker)
	}
	if embedded && p.cells == 0 && (p.workers > 1 || !fits(2*n)) {
		perCell := min(maxPerCell, (limit-fileSlack)/perCamera)
		p.cells = ceilDiv(n, perCell)
	}
	if p.workers > n {
		return p, fmt.Errorf("--workers %d is more than the %d cameras", p.workers, n)
	}
	return p, nil
}

// workerEnv is what a worker's environment adds to herd's. A camera's
// parked socket reader needs just under the runtime's smallest stack
// (2 KB), but while cameras connect the runtime sees many deep stacks
// (handshakes) and starts new goroutines at 4 KB: readers started then
// keep 4 KB for the socket's life, since the runtime shrinks a stack only
// when a quarter of it is in use. Without adaptive starting sizes every
// reader starts, and stays, at 2 KB: 2 KB less per camera.
func workerEnv() []string {
	godebug := "adaptivestackstart=0"
	if v := os.Getenv("GODEBUG"); v != "" {
		godebug += "," + v // the user's settings win
	}
	return []string{"GODEBUG=" + godebug}
}

// minDialingPerWorker is the least of --max-dialing a worker gets when
// the run's total is split between workers.
const minDialingPerWorker = 64

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// workerRun is one worker process of a coordinated drill.
type workerRun struct {
	shard    int
	cameras  int
	accounts int
	out      string
	ch       *child
	last     *live.Status
	ready    bool
	done     bool
	errMsg   string
}

// runWorkers runs the drill on p.workers worker processes of this binary,
// each running the shard of accounts a mod workers, starting together on
// one wall-clock instant, and merges their results into one.
func runWorkers(c *cobra.Command, d *drillSetup, tgt sim.Target, info reports.TargetInfo, fl *runFlags, p processPlan, lv *liveOutputs) (*reports.Result, error) {
	ctx := c.Context()
	stderr := c.ErrOrStderr()
	key := d.layout.Key()
	yml, err := reports.ScenarioYAML(d.sc)
	if err != nil {
		return nil, err
	}
	dir := fl.parts
	if dir == "" {
		if dir, err = os.MkdirTemp("", "herd-parts-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--parts: %w", err)
	}

	// Each worker dials from its own loopback source addresses.
	ws := make([]*workerRun, p.workers)
	for i := range ws {
		ws[i] = &workerRun{shard: i, out: filepath.Join(dir, fmt.Sprintf("shard-%03d.json", i))}
	}
	for a := 0; a < d.layout.Accounts(); a++ {
		first, end := d.layout.CamerasOf(a)
		ws[a%p.workers].cameras += end - first
		ws[a%p.workers].accounts++
	}
	offset := 0
	msgs := make(chan func(), 256) // state changes, applied by the loop below
	var readers sync.WaitGroup
	defer func() {
		for _, w := range ws {
			if w.ch != nil {
				w.ch.stop(10 * time.Second)
			}
		}
		readers.Wait()
	}()
	for _, w := range ws {
		spec := workerSpec{
			Scenario: d.sc.Source, ScenarioYAML: yml,
			Shard: w.shard, Shards: p.workers, Target: tgt, TargetInfo: info, Key: hex.EncodeToString(key.Bytes()),
			RampRate: fl.rampRate, MaxDialing: max(minDialingPerWorker, fl.maxDialing/p.workers), SourceOffset: offset, Progress: time.Second, Out: w.out,
			Latency: fl.metricsListen != "",
		}
		offset += max(1, ceilDiv(w.cameras, sim.DefaultPerSource))
		ch, err := startChild(fmt.Sprintf("worker %d", w.shard), []string{"worker"}, workerEnv(), nil)
		if err != nil {
			return nil, err
		}
		w.ch = ch
		logf(stderr, fl.quiet, "worker %d: pid %d, %d cameras in %d accounts, from source address %d on", w.shard, ch.pid(), w.cameras, w.accounts, spec.SourceOffset)
		line, _ := json.Marshal(spec)
		if _, err := ch.stdin.Write(append(line, '\n')); err != nil {
			return nil, fmt.Errorf("worker %d: %s", w.shard, ch.failure())
		}
		readers.Go(func() {
			for ch.lines.Scan() {
				var m workerMsg
				if json.Unmarshal(ch.lines.Bytes(), &m) != nil {
					continue
				}
				msgs <- func() {
					switch {
					case m.Ready:
						w.ready = true
					case m.Status != nil:
						w.last = m.Status
					case m.Done:
						w.done = true
					case m.Error != "":
						w.errMsg = m.Error
					}
				}
			}
			<-ch.done
			msgs <- func() {}
		})
	}
	logf(stderr, fl.quiet, "%d cameras over %d worker processes (%d to %d cameras each), %d target cells", d.layout.Cameras(), p.workers, minCams(ws), maxCams(ws), len(tgt.Cells))

	// Wait until every worker is ready (or dead), then start them all on
	// one instant.
	alive := func(w *workerRun) bool {
		select {
		case <-w.ch.done:
			return false
		default:
			return true
		}
	}
	for {
		waiting := 0
		for _, w := range ws {
			if !w.ready && alive(w) {
				waiting++
			}
		}
		if waiting == 0 {
			break
		}
		select {
		case f := <-msgs:
			f()
		case <-ctx.Done():
			return nil, interruptedOr(ctx, ctx.Err())
		case <-time.After(2 * time.Minute):
			return nil, fmt.Errorf("%d workers not ready after 2 minutes", waiting)
		}
	}
	start := time.Now().Add(500 * time.Millisecond)
	line, _ := json.Marshal(startMsg{Start: start})
	for _, w := range ws {
		if w.ready {
			_, _ = w.ch.stdin.Write(append(line, '\n'))
		}
	}

	// Run: show live totals, forward Ctrl-C, wait for every worker to end.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	interrupted := false
	intr := ctx.Done()
	for {
		running := 0
		for _, w := range ws {
			if alive(w) {
				running++
			}
		}
		if running == 0 {
			break
		}
		select {
		case f := <-msgs:
			f()
		case <-intr:
			interrupted, intr = true, nil
			for _, w := range ws {
				w.ch.signal(syscall.SIGINT) // each writes its partial result
			}
		case <-tick.C:
			lv.update(workersStatus(ws, d.layout.Cameras()))
		}
	}
	for len(msgs) > 0 {
		(<-msgs)()
	}

	var in []reports.Input
	var failed []reports.ShardInfo
	for _, w := range ws {
		r, err := loadResult(w.out)
		if err != nil || !w.done && !interrupted {
			detail := w.ch.failure()
			if w.errMsg != "" {
				detail += ": " + w.errMsg
			}
			if err == nil {
				detail += " (its result was not complete)"
			}
			logf(stderr, false, "worker %d failed: %s; the drill goes on without its %d cameras", w.shard, detail, w.cameras)
			failed = append(failed, reports.ShardInfo{Index: w.shard, Of: p.workers, Cameras: w.cameras, Accounts: w.accounts,
				Status: reports.ShardFailed, Detail: detail, PID: w.ch.pid()})
			continue
		}
		in = append(in, reports.Input{Name: fmt.Sprintf("worker %d (%s)", w.shard, w.out), R: r})
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("every worker failed; the first: %s", failed[0].Detail)
	}
	res, err := reports.Merge(in, failed...)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func minCams(ws []*workerRun) int {
	m := ws[0].cameras
	for _, w := range ws {
		m = min(m, w.cameras)
	}
	return m
}

func maxCams(ws []*workerRun) int {
	m := 0
	for _, w := range ws {
		m = max(m, w.cameras)
	}
	return m
}

// workersStatus sums the workers' last live statuses; a dead worker's
// last one stays in the sum, so counters never go back.
func workersStatus(ws []*workerRun, cameras int) live.Status {
	var parts []live.Status
	dead := 0
	for _, w := range ws {
		select {
		case <-w.ch.done:
			if !w.done {
				dead++
			}
		default:
		}
		if w.last != nil {
			parts = append(parts, *w.last)
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
