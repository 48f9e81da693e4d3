package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/internal/procstat"
)

// Local worker processes. A fleet that does not fit one process (see
// Plan) runs as worker processes of herd's own binary, one segment each:
// the coordinator hands each its Drill (key included) on its stdin, waits
// until all are ready, starts them on one wall-clock instant so that the
// outage and the herd are simultaneous in all of them, shows their live
// statuses summed, forwards Ctrl-C, and reports each one's outcome, a
// dead one's included.

// minDialingPerWorker is the least of the run's handshake budget a worker
// gets when it is split between workers.
const minDialingPerWorker = 64

// WorkerInput is what a worker process is told: its part of the drill,
// and whatever the coordinator adds (where to write its result, say).
type WorkerInput struct {
	Index int             `json:"index"`
	Drill Drill           `json:"drill"`
	Extra json.RawMessage `json:"extra,omitempty"`
}

// Workers says how to run a drill on worker processes.
type Workers struct {
	N    int      // worker processes
	Args []string // herd's command line of a worker
	Env  []string // added to a worker's environment
	// Extra is what worker i is told besides its drill.
	Extra func(i int) any
	// Log gets a line about each worker as it starts; nil for none.
	Log func(format string, args ...any)
	// Status gets the workers' live statuses summed, every second.
	Status func(live.Status)
}

// WorkerOutcome is what became of one worker.
type WorkerOutcome struct {
	Index    int
	Segment  Segment
	Cameras  int
	Accounts int
	PID      int
	// Done is the worker's done message; nil when it did not finish, and
	// Failure then says how it ended (exit status, stderr, its error).
	Done    json.RawMessage
	Failure string
}

// RunWorkers runs drill d on w.N worker processes and returns what became
// of each once all have ended.
func RunWorkers(ctx context.Context, d Drill, w Workers) ([]WorkerOutcome, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	segs := Split(w.N)
	specs := make([]procs.Spec, len(segs))
	out := make([]WorkerOutcome, len(segs))
	offset := 0 // each worker dials from its own loopback source addresses
	for i, seg := range segs {
		wd := d
		wd.Segment, wd.SourceOffset = seg, offset
		wd.MaxDialing = max(minDialingPerWorker, d.MaxDialing/w.N)
		out[i] = WorkerOutcome{Index: i, Segment: seg, Cameras: seg.Cameras(d.Layout), Accounts: len(seg.Accounts(d.Layout))}
		offset += max(1, (out[i].Cameras+DefaultPerSource-1)/DefaultPerSource)
		in := WorkerInput{Index: i, Drill: wd}
		if w.Extra != nil {
			extra, err := json.Marshal(w.Extra(i))
			if err != nil {
				return nil, err
			}
			in.Extra = extra
		}
		specs[i] = procs.Spec{Name: fmt.Sprintf("worker %d", i), Args: w.Args, Env: w.Env, Input: in}
	}
	g, err := procs.StartGroup(specs)
	if err != nil {
		return nil, err
	}
	defer g.Stop(10 * time.Second)
	least, most := d.Layout.Cameras(), 0
	for i, o := range out {
		out[i].PID = g.Children[i].PID()
		least, most = min(least, o.Cameras), max(most, o.Cameras)
		if w.Log != nil {
			w.Log("worker %d: pid %d, %d cameras in %d accounts, from source address %d on", i, out[i].PID, o.Cameras, o.Accounts, specs[i].Input.(WorkerInput).Drill.SourceOffset)
		}
	}
	if w.Log != nil {
		w.Log("%d cameras over %d worker processes (%d to %d cameras each), %d target cells", d.Layout.Cameras(), w.N, least, most, len(d.Target.Cells))
	}
	if _, err := g.Ready(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	g.StartAt(time.Now().Add(500 * time.Millisecond))

	statuses := make([]*live.Status, len(specs))
	watch := procs.Watch{Status: func(i int, raw json.RawMessage) {
		var s live.Status
		if json.Unmarshal(raw, &s) == nil {
			statuses[i] = &s
		}
	}}
	if w.Status != nil {
		watch.Every = time.Second
		watch.Tick = func() { w.Status(sumStatus(statuses, d.Layout.Cameras(), g.Failed())) }
	}
	for i, o := range g.Run(ctx, watch) {
		out[i].Done, out[i].Failure = o.Done, o.Failure
		if o.Error != "" {
			out[i].Failure += ": " + o.Error
		}
	}
	return out, nil
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

// ServeWorker is a worker process's side: it reads its input from the
// coordinator, says it is ready, waits for the start instant, and gives
// its drill (starting then) to run, whose answer is its done message. It
// stops the drill when the coordinator is gone.
func ServeWorker(ctx context.Context, stdin io.Reader, run func(ctx context.Context, in WorkerInput, status func(live.Status)) (any, error)) error {
	p, ok := procs.FromParent(stdin)
	if !ok {
		return errors.New("herd worker runs a segment of a drill for 'herd run', which starts it")
	}
	procstat.RaiseFileLimit()
	var in WorkerInput
	start, err := p.Begin(ctx, &in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-p.Gone()
		cancel()
	}()
	in.Drill.Start = start
	done, err := run(ctx, in, func(s live.Status) { p.Status(s) })
	if err != nil {
		return p.Fail(err)
	}
	p.Done(done)
	return nil
}

// WorkerEnv is what a worker's environment adds to herd's: goroutines
// start at the runtime's smallest stack even while cameras connect
// (adaptive starting sizes would start readers then at 4 KB, for their
// socket's life; sim/ws tells why a reader's stack is what counts).
func WorkerEnv() []string {
	godebug := "adaptivestackstart=0"
	if v := os.Getenv("GODEBUG"); v != "" {
		godebug += "," + v // the user's settings win
	}
	return []string{"GODEBUG=" + godebug}
}
