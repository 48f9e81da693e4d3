package sim

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/internal/procstat"
	"github.com/herd-drill/herd/sim/oracle"
)

// Run drives the drill: the initial ramp, every phase of the plan, the wait
// for the last acks, and the final audit. It returns when every goroutine
// it started has ended. When ctx is cancelled it stops at once and returns
// what was measured, marked Interrupted.
// DefaultTickWorkers is how many goroutines run cameras' ticks. A camera
// owns no goroutine of its own apart from its socket's reader: its timed
// work (capture an event, go down, come back, retry) runs on these when it
// falls due. A tick is short; a write that stalls on a slow target holds
// one worker at most for the write time-out, and shows as generator lag.
const DefaultTickWorkers = 32

func (f *Fleet) Run(ctx context.Context) (*Outcome, error) {
	baseRSS := procstat.RSS()
	started := f.start
	if started.IsZero() {
		started = time.Now()
	}
	// The ramp is the whole layout's, so that shards sharing a start
	// together connect at the ramp rate.
	ramp := time.Duration(float64(f.layout.Cameras()) / f.rampRate * float64(time.Second))
	f.plan = newPlan(f.sc, f.seed, started.Add(ramp+time.Second))
	f.reach = newReach(len(f.target.Cells), started)
	f.setPhase("ramp")

	camCtx, stopCams := context.WithCancel(ctx)
	defer stopCams()
	cams := make([]*camera, 0, f.cameras)
	f.quiet.Add(f.cameras)
	for _, a := range f.mine {
		first, end := f.layout.CamerasOf(a)
		cell := f.cell(a)
		for i := first; i < end; i++ {
			c := &camera{f: f, idx: i, nth: len(cams), account: a, cell: cell}
			c.nextEvent = f.plan.start.Add(c.interval(0))
			c.attemptAt = started.Add(time.Duration(f.draws.ramp.Unit(uint64(i)) * float64(ramp)))
			cams = append(cams, c)
			f.sched.At(c, c.attemptAt)
		}
	}
	// A start instant shared with other shards may lie ahead: the curve and
	// the engine begin at it.
	sleepUntil(ctx, started)
	// The engine: the scheduler's tick workers and the dial workers, at most
	// maxDialing cameras in the handshake at once.
	var engine sync.WaitGroup
	engine.Go(func() { f.sched.Run(camCtx, DefaultTickWorkers, (*camera).tick) })
	for w := 0; w < f.maxDialing; w++ {
		engine.Go(func() {
			for {
				select {
				case <-camCtx.Done():
					return
				case c := <-f.dialq:
					c.dial(camCtx)
				}
			}
		})
	}

	sampCtx, stopSampler := context.WithCancel(context.Background())
	sampled := make(chan sampleResult, 1) // the sampler's one final answer
	go func() { sampled <- f.sample(sampCtx, started) }()

	appCtx, stopApps := context.WithCancel(ctx)
	var apps sync.WaitGroup
	apps.Go(func() { f.runApps(appCtx) })
	f.scheduleOutageEnds(appCtx, &apps)

	// Phases run on the wall clock; wait for the plan to end.
	interrupted := !sleepUntil(ctx, f.plan.end)
	if !interrupted && f.planEnd != nil {
		f.planEnd()
	}
	if !interrupted {
		f.setPhase("quiet")
		interrupted = !f.waitQuiet(ctx)
	}
	stopApps()
	apps.Wait()

	// The cameras stop before the audit: it judges every acknowledgement
	// against the Events tab, so none may arrive after an account is read
	// (a camera still reconnecting when the quiet timeout passes would
	// otherwise have events acknowledged that no audit looked for).
	f.setPhase("closing")
	stopCams()
	engine.Wait()
	for _, c := range cams {
		c.stop()
	}
	f.link.Close() // every reader and handler has ended: no live request comes now
	f.lives.Wait()
	var audit AuditSummary
	if !interrupted {
		f.setPhase("audit")
		audit = f.audit(ctx)
		interrupted = ctx.Err() != nil
	}
	stopSampler()
	s := <-sampled

	out := f.outcome(started, s, audit, interrupted)
	out.Generator.BaseRSS = baseRSS
	out.PID, out.Cores = os.Getpid(), runtime.NumCPU()
	return out, nil
}

func (f *Fleet) setPhase(p string) { f.phase.Store(&p) }

// Phase returns the phase the run is in now.
func (f *Fleet) Phase() string {
	if p := f.phase.Load(); p != nil {
		return *p
	}
	return ""
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// waitQuiet waits until every camera has its events acknowledged, or the
// quiet timeout passes. It reports false if ctx ended.
func (f *Fleet) waitQuiet(ctx context.Context) bool {
	all := make(chan struct{})
	go func() { f.quiet.Wait(); close(all) }()
	tm := time.NewTimer(f.quietTimeout)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-all:
	case <-tm.C:
	}
	return true
}

// scheduleOutageEnds tells the oracle when each outage ended, so evidence
// carries the seconds since.
func (f *Fleet) scheduleOutageEnds(ctx context.Context, wg *sync.WaitGroup) {
	for i := range f.plan.outages {
		end := f.plan.outages[i].end()
		wg.Go(func() {
			if sleepUntil(ctx, end) {
				f.oracle.SetOutageEnd(end)
			}
		})
	}
}

type sampleResult struct {
	curve        Curve
	peakFiles    int
	allConnected time.Duration
	peakHeap     uint64
	peakStack    uint64
}

// sample records the time series every DefaultSampleStep and reports
// progress; it returns the series when ctx ends. Sample k closes step k
// from start, also when the sampler runs late (a loaded machine drops
// ticks): the steps it missed share what it then measured.
func (f *Fleet) sample(ctx context.Context, start time.Time) sampleResult {
	c := Curve{Start: start, Step: DefaultSampleStep, LatencyStep: DefaultLatencyStep}
	tick := time.NewTicker(DefaultSampleStep)
	defer tick.Stop()
	iv := newIntervals()
	perLatency := int(DefaultLatencyStep / DefaultSampleStep)
	latencyPoints := 0
	var lastConnects, lastErrs, lastViolations int64
	lastByClass := map[string]int64{}
	lastProgress := start
	var lastProgConnects int64
	peak := 0
	var all time.Duration
	var heap, stack uint64
	var ms runtime.MemStats
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			// A last, shorter step, so that the series add up to the run's
			// totals (the audit's findings come at the very end).
			now := time.Now()
			steps := max(int(now.Sub(start)/DefaultSampleStep)-len(c.Connected), 1)
			c.add(steps, f.m.connected.Load(), f.m.counts[cConnects].Load()-lastConnects, f.m.errTotal()-lastErrs, f.oracle.Total()-lastViolations)
			c.addClasses(f.oracle.Counts(), lastByClass, steps)
			if n := (len(c.Connected)+perLatency-1)/perLatency - latencyPoints; n > 0 {
				iv.take(f.m, &c, n)
			}
			return sampleResult{curve: c, peakFiles: peak, allConnected: all, peakHeap: heap, peakStack: stack}
		case now := <-tick.C:
			f.reach.tick(now)
			connects := f.m.counts[cConnects].Load()
			errs, shed := f.m.errSplit()
			conn := f.m.connected.Load()
			violations := f.oracle.Total()
			if all == 0 && conn == int64(f.cameras) {
				all = now.Sub(start)
			}
			steps := max(int(now.Sub(start)/DefaultSampleStep)-len(c.Connected), 1)
			c.add(steps, conn, connects-lastConnects, errs-lastErrs, violations-lastViolations)
			if violations != lastViolations || c.ViolationsByClass != nil {
				c.addClasses(f.oracle.Counts(), lastByClass, steps)
			}
			lastConnects, lastErrs, lastViolations = connects, errs, violations
			if n := len(c.Connected)/perLatency - latencyPoints; n > 0 {
				iv.take(f.m, &c, n)
				latencyPoints += n
			}
			if i%50 == 0 {
				peak = max(peak, procstat.OpenFiles())
				runtime.ReadMemStats(&ms)
				heap, stack = max(heap, ms.HeapInuse), max(stack, ms.StackInuse)
			}
			if f.progress != nil && now.Sub(lastProgress) >= f.progressEvery {
				el := now.Sub(lastProgress).Seconds()
				st := live.Status{
					Phase: f.phaseAt(now), Elapsed: now.Sub(start), Cameras: int64(f.cameras),
					Connected: conn, Connects: connects,
					ConnectsPerSec: float64(connects-lastProgConnects) / el,
					Errors:         errs, Shed: shed, Violations: violations, TargetDown: f.reach.down(now),
					EventsAcked:   f.m.counts[cEventsAcked].Load(),
					ErrorsByClass: f.m.errMap(), ViolationsByClass: f.oracle.Counts(),
				}
				if f.progressLatency {
					st.Latency = map[string]live.Buckets{}
					for name, h := range f.m.merged() {
						if name != HistRecovery { // recovery's curve is the connected cameras
							st.Latency[name] = live.BucketsFromHDR(h, nil)
						}
					}
				}
				f.progress(st)
				lastProgress, lastProgConnects = now, connects
			}
		}
	}
}

// add appends steps samples that end now: the counts measured since the
// last sample are shared out evenly over them, and the connected count
// rises or falls linearly from the last sample's to conn.
func (c *Curve) add(steps int, conn, connects, errs, violations int64) {
	prev := conn
	if k := len(c.Connected); k > 0 {
		prev = c.Connected[k-1]
	}
	for j := 1; j <= steps; j++ {
		c.Connected = append(c.Connected, prev+(conn-prev)*int64(j)/int64(steps))
		c.Connects = append(c.Connects, share(connects, steps, j))
		c.Errors = append(c.Errors, share(errs, steps, j))
		c.Violations = append(c.Violations, share(violations, steps, j))
	}
}

// addClasses brings ViolationsByClass level with Violations after add
// appended steps samples: each class found gets what it found since the
// last call (last, which it updates), shared over those steps; a class
// found for the first time is zero before them.
func (c *Curve) addClasses(counts, last map[string]int64, steps int) {
	n := len(c.Violations)
	for class, total := range counts {
		s, seen := c.ViolationsByClass[class]
		if !seen && total == 0 {
			continue
		}
		if c.ViolationsByClass == nil {
			c.ViolationsByClass = map[string][]int64{}
		}
		for len(s) < n-steps {
			s = append(s, 0)
		}
		delta, k := total-last[class], n-len(s)
		for j := 1; j <= k; j++ {
			s = append(s, share(delta, k, j))
		}
		c.ViolationsByClass[class] = s
		last[class] = total
	}
}

// phaseAt names the phase at instant t: the plan's phase while it runs,
// else the run's own stage (ramp, quiet, audit).
func (f *Fleet) phaseAt(t time.Time) string {
	if f.plan == nil {
		return f.Phase()
	}
	for _, p := range f.plan.phases {
		if !t.Before(p.Start) && t.Before(p.End) {
			return p.Name
		}
	}
	return f.Phase()
}

func (f *Fleet) outcome(started time.Time, s sampleResult, audit AuditSummary, interrupted bool) *Outcome {
	hists := f.m.merged()
	counts := f.m.countMap()
	o := &Outcome{
		Scenario: f.sc.Name, Source: f.sc.Source, Seed: f.seed, Cameras: f.cameras,
		Accounts: len(f.mine), FleetCameras: f.layout.Cameras(), Segment: f.seg, KeyID: f.key.ID(), Run: f.layout.Namespace(), Policy: f.sc.Reconnect.Policy, Targets: f.target.Cells,
		Started: started, Ended: time.Now(), Phases: f.plan.phases,
		Histograms: hists, Counts: counts, Errors: f.m.errMap(), HTTPOtherCodes: f.m.otherCodeMap(),
		Operations: counts[CountConnectAttempts] + counts[CountEventsSent] + counts[CountAppRequests],
		Curve:      s.curve, AllConnected: s.allConnected, Affected: f.affectedSeen.Load(), Recovered: f.recovered.Load(),
		Violations: f.oracle.Snapshot(), Exposure: f.oracle.Exposure(), Audit: audit, Interrupted: interrupted,
		Unreachable: f.reach.all(),
	}
	for i := range f.plan.outages {
		o.OutageEnds = append(o.OutageEnds, f.plan.outages[i].end())
	}
	g := Generator{PeakOpenFile: s.peakFiles, PeakHeap: s.peakHeap, PeakStack: s.peakStack}
	lag := hists[HistLag]
	g.LagP99 = time.Duration(lag.ValueAtQuantile(99)) * time.Microsecond
	g.LagMax = time.Duration(lag.Max()) * time.Microsecond
	g.CPUSeconds = procstat.CPUSeconds()
	g.FileLimit = procstat.FileLimit()
	g.PeakRSS = procstat.PeakRSS()
	g.PortRange = procstat.PortRange()
	g.PerSourceDest = min(f.cameras, DefaultPerSource) // before spreading over cells: an upper bound
	switch {
	case g.PortRange > 0 && g.PerSourceDest > g.PortRange*9/10:
		g.Saturated = true
		g.Evidence = fmt.Sprintf("up to %d sockets from one source address to one cell, in an ephemeral port range of %d", g.PerSourceDest, g.PortRange)
	case g.LagP99 > time.Second:
		g.Saturated = true
		g.Evidence = "herd ran its own schedule late: p99 lag " + g.LagP99.Round(time.Millisecond).String()
	case o.Errors[ErrFileLimit] > 0 || o.Errors[ErrAddrNotAvail] > 0:
		g.Saturated = true
		g.Evidence = "herd ran out of file descriptors or local ports"
	}
	o.Generator = g
	return o
}

var _ oracle.Fleet = (*Layout)(nil)
