package floor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/oracle"
)

// Fleet is a floor run's fleet, laid out as herd's (the same accounts,
// devices and tokens of a run's key), and the part of it one process opens.
type Fleet struct {
	Target       []string    `json:"target"`            // the target's cells
	Brokers      []string    `json:"brokers,omitempty"` // herd/1 over MQTT: the cells' brokers (mqtt://)
	MQTTVersion  byte        `json:"mqtt_version,omitempty"`
	Key          *oracle.Key `json:"key"`
	Cameras      int         `json:"cameras"`
	Seed         uint64      `json:"seed"`
	Segment      sim.Segment `json:"segment"`
	SourceOffset int         `json:"source_offset"`
	MaxDialing   int         `json:"max_dialing"`
}

// RunFleet opens the sockets of f's segment from this process, from start
// on (zero: now).
func RunFleet(ctx context.Context, f Fleet, start time.Time, progress func(n, total int)) (Result, error) {
	l, err := sim.NewLayout(f.Cameras, f.Seed, f.Key)
	if err != nil {
		return Result{}, err
	}
	seg := f.Segment
	if seg.Count == 0 {
		seg = sim.Whole
	}
	return Run(ctx, Config{
		Targets: f.Target, Brokers: f.Brokers, MQTTVersion: f.MQTTVersion, Cell: func(i int) int { return sim.CellOf(l.Account(i), len(f.Target)) },
		Cameras: f.Cameras, Only: seg.CameraIndexes(l), MaxDialing: f.MaxDialing, SourceOffset: f.SourceOffset,
		Device: l.Device, Token: l.DeviceToken, Progress: progress, Start: start,
	})
}

// Spread runs f as n processes of herd's own binary (args is their command
// line), one segment each, each dialing from its own loopback source
// addresses, starting on one instant, and sums what they measured.
func Spread(ctx context.Context, f Fleet, n int, args []string, forward io.Writer) (Result, error) {
	specs := make([]procs.Spec, n)
	offset := 0
	per := (f.Cameras + n - 1) / n
	for i, seg := range sim.Split(n) {
		pf := f
		pf.Segment, pf.SourceOffset = seg, offset
		pf.MaxDialing = max(64, f.MaxDialing/n)
		offset += (per+DefaultPerSource-1)/DefaultPerSource + 1
		specs[i] = procs.Spec{Name: fmt.Sprintf("floor %d", i), Args: args, Input: pf, Forward: forward}
	}
	g, err := procs.StartGroup(specs)
	if err != nil {
		return Result{}, err
	}
	defer g.Stop(10 * time.Second)
	if _, err := g.Ready(ctx, time.Minute); err != nil {
		return Result{}, err
	}
	start := time.Now().Add(time.Second)
	g.StartAt(start)
	if forward != nil {
		fmt.Fprintf(forward, "herd: floor: %d cameras over %d processes, starting together at %s\n", f.Cameras, n, start.Format(time.TimeOnly))
	}
	var parts []Result
	for i, o := range g.Run(ctx, procs.Watch{}) {
		var r Result
		if o.Done == nil || json.Unmarshal(o.Done, &r) != nil {
			return Result{}, fmt.Errorf("floor process %d: %s %s", i, o.Failure, o.Error)
		}
		parts = append(parts, r)
	}
	return Sum(parts...), nil
}

// ServeProcess is one process of a Spread run: its segment, from the start
// instant, answered with what it measured.
func ServeProcess(ctx context.Context, p *procs.Parent) error {
	var f Fleet
	start, err := p.Begin(ctx, &f)
	if err != nil {
		return err
	}
	res, err := RunFleet(ctx, f, start, nil)
	if err != nil {
		return p.Fail(err)
	}
	p.Done(res)
	return nil
}

// Bench is the floor benchmark as 'herd bench floor' runs it: f (with a
// fresh key when it has none, being a run of its own) provisioned first
// when adminToken is set, then opened from n processes (Spread, when n > 1;
// args is their command line) or from this one. Progress goes to log.
func Bench(ctx context.Context, f Fleet, adminToken string, n int, args []string, log io.Writer) (Result, error) {
	if f.Key == nil {
		var err error
		if f.Key, err = oracle.NewKey(); err != nil {
			return Result{}, err
		}
	}
	l, err := sim.NewLayout(f.Cameras, f.Seed, f.Key)
	if err != nil {
		return Result{}, err
	}
	if adminToken != "" {
		if err := sim.Provision(ctx, sim.Drill{Layout: l, Target: sim.Target{Cells: f.Target, AdminToken: adminToken}}); err != nil {
			return Result{}, err
		}
	}
	if n > 1 {
		return Spread(ctx, f, n, args, log)
	}
	return RunFleet(ctx, f, time.Time{}, func(n, total int) { fmt.Fprintf(log, "herd: floor: %d/%d connected\n", n, total) })
}

// WriteJSON writes r as indented JSON, with the elapsed time in seconds.
func (r Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Result
		ElapsedS float64 `json:"elapsed_s"`
	}{r, r.Elapsed.Round(time.Millisecond).Seconds()})
}
