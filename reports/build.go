package reports

import (
	"fmt"
	"slices"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/herd-drill/herd/catalog"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/oracle"
)

// A Result is built the way vegeta builds its metrics: its parts are what
// was measured (counts, histograms, curves, evidence), each of which can
// add another's; one finalize derives every figure from them (rates,
// percentiles, recovery, lost events, the evidence kept, memory per
// camera); then Judge gives the verdict. Build adds the one part an
// outcome makes, Merge adds every shard's: a figure is computed in one
// place, for one process and for a thousand shards alike.

// Build makes the Result of outcome o for scenario sc and judges it.
func Build(sc *scenarios.Scenario, o *sim.Outcome, target TargetInfo, herdVersion string) *Result {
	var t total
	if err := t.add("", partOf(sc, o, target, herdVersion)); err != nil {
		// The part's histograms were encoded a moment ago: they decode.
		panic("reports: Build: " + err.Error())
	}
	r := t.finalize()
	judge(r, sc, false)
	return r
}

// partOf is outcome o as a Result's parts: what was measured, none of
// what finalize derives from it.
func partOf(sc *scenarios.Scenario, o *sim.Outcome, target TargetInfo, herdVersion string) *Result {
	yml, err := scenarios.Marshal(sc)
	if err != nil {
		yml = nil // the scenario's own types always marshal; merge then refuses this result
	}
	status := ShardOK
	if o.Interrupted {
		status = ShardInterrupted
	}
	seg := o.Segment
	if seg.Count == 0 {
		seg = sim.Whole
	}
	r := &Result{
		Schema: Schema, HerdVersion: herdVersion, Scenario: o.Scenario, ScenarioSource: o.Source,
		ScenarioYAML: string(yml), KeyID: o.KeyID, Run: o.Run,
		Seed: o.Seed, Cameras: o.Cameras, Accounts: o.Accounts, FleetCameras: max(o.FleetCameras, o.Cameras),
		Shards: []ShardInfo{{Index: seg.Index, Of: seg.Count, Cameras: o.Cameras, Accounts: o.Accounts, Status: status, PID: o.PID}},
		Policy: o.Policy, Target: target,
		Started: o.Started.UTC(), Ended: o.Ended.UTC(),
		Interrupted: o.Interrupted, Counts: o.Counts, Phases: o.Phases, OutageEnds: o.OutageEnds,
		Latency: map[string]Latency{},
		Errors:  Errors{ByClass: o.Errors, Operations: o.Operations, HTTPOtherCodes: o.HTTPOtherCodes},
		Audit: Audit{
			Done: o.Audit.Done, Accounts: o.Audit.Accounts, FailedAccounts: o.Audit.FailedAccounts, Unread: o.Audit.Unread,
			Events: o.Audit.Events, GaveUp: o.Audit.GaveUp, Thumbnails: o.Audit.Thumbnails, ThumbnailSample: o.Audit.ThumbnailSample,
		},
		Curve:      curveOf(o.Curve),
		Violations: Violations{Counts: map[string]int64{}, Evidence: o.Violations.Evidence},
		Exposure:   exposureOf(o.Exposure),
	}
	r.Target.Unreachable = unreachableOf(o.Unreachable)
	for c, n := range o.Violations.Counts {
		r.Violations.Counts[string(c)] = n
	}
	for _, name := range sim.HistogramNames {
		if name != sim.HistRecovery {
			r.Latency[name] = Latency{HDR: encode(o.Histograms[name])}
		}
	}
	r.Recovery = Recovery{Affected: o.Affected, Reconnected: o.Recovered, HDR: encode(o.Histograms[sim.HistRecovery])}
	c := o.Counts
	r.Events = Events{
		Captured: c[sim.CountEventsCaptured], Sent: c[sim.CountEventsSent], Resent: c[sim.CountEventsResent],
		Acked: c[sim.CountEventsAcked], Nacked: c[sim.CountEventsNacked], BacklogDropped: c[sim.CountBacklogDropped],
	}
	g := o.Generator
	r.Generator = Generator{
		Saturated: g.Saturated, Evidence: g.Evidence, LagP99Ms: ms(g.LagP99), LagMaxMs: ms(g.LagMax),
		CPUSeconds: g.CPUSeconds, FileLimit: g.FileLimit, PeakOpenFiles: g.PeakOpenFile,
		PeakRSSBytes: g.PeakRSS, BaseRSSBytes: g.BaseRSS,
		PeakHeapBytes: g.PeakHeap, PeakStackBytes: g.PeakStack, AllConnectedMs: ms(o.AllConnected),
		Processes: 1, PortRange: g.PortRange, PerSourceDest: g.PerSourceDest, Cores: o.Cores,
	}
	if wall := o.Ended.Sub(o.Started).Seconds(); wall > 0 && o.Cores > 0 {
		r.Generator.CPUShare = g.CPUSeconds / (wall * float64(o.Cores))
	}
	return r
}

// total is parts of one run being added up. The Result it holds has the
// first part's identity (scenario, seed, key, run) and the sums of
// everyone's measurements; the histograms are kept decoded until finalize.
type total struct {
	r        *Result
	n        int
	latency  map[string]*hdrhistogram.Histogram
	recovery *hdrhistogram.Histogram
	evidence []oracle.Evidence
	// allConnected is the latest instant at which a part had every one
	// of its cameras connected; every says whether every part had one.
	allConnected time.Time
	every        bool
	cpuShares    float64 // the parts' own CPU shares, for parts without cores
	cores        int     // the parts' cores, 0 when one lacked them
}

// add adds part p, called name where the total's figures name their
// parts ("" for the one part of a Build).
func (t *total) add(name string, p *Result) error {
	if t.r == nil {
		t.r = &Result{
			Schema: Schema, HerdVersion: p.HerdVersion, Scenario: p.Scenario, ScenarioSource: p.ScenarioSource,
			ScenarioYAML: p.ScenarioYAML, KeyID: p.KeyID, Run: p.Run, Seed: p.Seed, FleetCameras: p.FleetCameras,
			Policy: p.Policy, Target: p.Target, Started: p.Started, Ended: p.Ended, Phases: p.Phases, OutageEnds: p.OutageEnds,
			Counts: map[string]int64{}, Latency: map[string]Latency{},
			Violations: Violations{Counts: map[string]int64{}},
			Errors:     Errors{ByClass: map[string]int64{}},
			Audit:      Audit{Done: true, ThumbnailSample: p.Audit.ThumbnailSample},
			Curve:      Curve{StepMs: p.Curve.StepMs},
		}
		t.r.Target.URLs, t.r.Target.Unreachable = nil, nil
		t.latency = map[string]*hdrhistogram.Histogram{}
		t.every, t.cores = true, p.Generator.Cores
	}
	m := t.r
	t.n++
	if p.Started.Before(m.Started) {
		m.Started, m.Phases, m.OutageEnds = p.Started, p.Phases, p.OutageEnds
	}
	if p.Ended.After(m.Ended) {
		m.Ended = p.Ended
	}
	m.Interrupted = m.Interrupted || p.Interrupted
	m.Cameras += p.Cameras
	m.Accounts += p.Accounts
	m.Shards = append(m.Shards, p.Shards...)
	m.Target.Unreachable = addUnreachable(m.Target.Unreachable, p.Target.Unreachable)
	for _, u := range p.Target.URLs {
		if !slices.Contains(m.Target.URLs, u) {
			m.Target.URLs = append(m.Target.URLs, u)
		}
	}
	for k, v := range p.Counts {
		m.Counts[k] += v
	}
	for k, v := range p.Violations.Counts {
		m.Violations.Counts[k] += v
	}
	t.evidence = append(t.evidence, p.Violations.Evidence...)
	m.Exposure.add(p.Exposure)
	for name, l := range p.Latency {
		if err := mergeHDR(t.latency, name, l.HDR); err != nil {
			return fmt.Errorf("latency %s: %w", name, err)
		}
	}
	if p.Recovery.HDR != "" {
		h, err := hdrhistogram.Decode([]byte(p.Recovery.HDR))
		if err != nil {
			return fmt.Errorf("recovery histogram: %w", err)
		}
		if t.recovery == nil {
			t.recovery = h
		} else {
			t.recovery.Merge(h)
		}
	}
	m.Recovery.Affected += p.Recovery.Affected
	m.Recovery.Reconnected += p.Recovery.Reconnected
	e := &m.Events
	e.Captured += p.Events.Captured
	e.Sent += p.Events.Sent
	e.Resent += p.Events.Resent
	e.Acked += p.Events.Acked
	e.Nacked += p.Events.Nacked
	e.BacklogDropped += p.Events.BacklogDropped
	for k, v := range p.Errors.ByClass {
		m.Errors.ByClass[k] += v
	}
	for k, v := range p.Errors.HTTPOtherCodes {
		if m.Errors.HTTPOtherCodes == nil {
			m.Errors.HTTPOtherCodes = map[string]int64{}
		}
		m.Errors.HTTPOtherCodes[k] += v
	}
	m.Errors.Operations += p.Errors.Operations
	a := &m.Audit
	a.Done = a.Done && p.Audit.Done
	a.Accounts += p.Audit.Accounts
	a.FailedAccounts += p.Audit.FailedAccounts
	a.Events += p.Audit.Events
	a.GaveUp = a.GaveUp || p.Audit.GaveUp
	for k, n := range p.Audit.Unread {
		if a.Unread == nil {
			a.Unread = map[string]int{}
		}
		a.Unread[k] += n
	}
	a.Thumbnails.Add(p.Audit.Thumbnails)
	m.Curve.add(p.Curve)

	g, mg := p.Generator, &m.Generator
	if g.Saturated {
		mg.Saturated = true
		ev := g.Evidence
		if name != "" {
			ev = name + ": " + ev
		}
		mg.Evidence = joinEvidence(mg.Evidence, ev)
	}
	mg.Processes += max(g.Processes, 1)
	mg.LagP99Ms = max(mg.LagP99Ms, g.LagP99Ms)
	mg.LagMaxMs = max(mg.LagMaxMs, g.LagMaxMs)
	mg.CPUSeconds += g.CPUSeconds
	t.cpuShares += g.CPUShare
	if g.Cores == 0 {
		t.cores = 0
	}
	if mg.FileLimit == 0 || (g.FileLimit > 0 && g.FileLimit < mg.FileLimit) {
		mg.FileLimit = g.FileLimit
	}
	mg.PeakOpenFiles = max(mg.PeakOpenFiles, g.PeakOpenFiles)
	mg.PortRange = max(mg.PortRange, g.PortRange)
	mg.PerSourceDest = max(mg.PerSourceDest, g.PerSourceDest)
	mg.PeakHeapBytes += g.PeakHeapBytes
	mg.PeakStackBytes += g.PeakStackBytes
	mg.PeakRSSBytes += g.PeakRSSBytes
	mg.BaseRSSBytes += g.BaseRSSBytes
	if g.AllConnectedMs > 0 {
		if at := p.Started.Add(time.Duration(g.AllConnectedMs * float64(time.Millisecond))); at.After(t.allConnected) {
			t.allConnected = at
		}
	} else if p.Cameras > 0 {
		t.every = false
	}
	return nil
}

// finalize derives every figure of the total from its parts, and returns
// the Result, not yet judged.
func (t *total) finalize() *Result {
	m := t.r
	m.DurationMs = m.Ended.Sub(m.Started).Milliseconds()
	slices.SortFunc(m.Shards, func(a, b ShardInfo) int { return a.Index - b.Index })
	if m.Target.Faults == nil {
		m.Target.Faults = []string{}
	}
	if m.Target.URLs == nil {
		m.Target.URLs = []string{}
	}
	if m.Target.Unreachable == nil {
		m.Target.Unreachable = []UnreachableSpan{}
	}
	finalizeUnreachable(m.Target.Unreachable, m.Started)

	for _, c := range oracle.Classes() {
		m.Violations.Counts[string(c)] += 0
	}
	m.Violations.Total = 0
	for _, n := range m.Violations.Counts {
		m.Violations.Total += n
	}
	m.Violations.Evidence = pickEvidence(t.evidence, MaxEvidence)
	m.Events.Lost = m.Violations.Counts[string(oracle.Lost)]
	m.Exposure.finalize(m.Started)

	for name, h := range t.latency {
		m.Latency[name] = latencyOf(h)
	}
	for _, name := range sim.HistogramNames {
		if _, ok := m.Latency[name]; !ok && name != sim.HistRecovery {
			m.Latency[name] = latencyOf(nil)
		}
	}
	affected, reconnected := m.Recovery.Affected, m.Recovery.Reconnected
	m.Recovery = recoveryOf(affected, reconnected, t.recovery)
	m.Recovery.HDR = encode(t.recovery)

	er := &m.Errors
	er.Total, er.Shed, er.Remedies = 0, 0, map[string]string{}
	for class, n := range er.ByClass {
		if catalog.IsShed(class) {
			er.Shed += n
		} else {
			er.Total += n
		}
		if ec, ok := catalog.LookupError(class); ok && n > 0 {
			er.Remedies[class] = ec.Remedy
		}
	}
	er.Rate, er.ShedRate = 0, 0
	if er.Operations > 0 {
		er.Rate = float64(er.Total) / float64(er.Operations)
		er.ShedRate = float64(er.Shed) / float64(er.Operations)
	}

	mg := &m.Generator
	mg.Cores = t.cores
	mg.CPUShare = t.cpuShares // parts from before cores were kept: their own shares, summed
	if wall := m.Ended.Sub(m.Started).Seconds(); wall > 0 && t.cores > 0 {
		mg.CPUShare = mg.CPUSeconds / (wall * float64(t.cores))
	}
	mg.RSSPerCameraKB = 0
	if m.Cameras > 0 {
		mg.RSSPerCameraKB = float64(mg.PeakRSSBytes-mg.BaseRSSBytes) / float64(m.Cameras) / 1024
	}
	mg.AllConnectedMs = 0
	if t.every && !t.allConnected.IsZero() {
		mg.AllConnectedMs = ms(t.allConnected.Sub(m.Started))
	}
	return m
}

// Failed is the Result of a drill that could not run (its provisioning or
// preflight failed): what was asked for, verdict error, and why. It keeps
// what a verdict needs, so that every report reads it.
func Failed(d sim.Drill, target TargetInfo, herdVersion string, started time.Time, why error) *Result {
	yml, _ := scenarios.Marshal(d.Scenario)
	seg := d.Segment
	if seg.Count == 0 {
		seg = sim.Whole
	}
	cams, accts := seg.Cameras(d.Layout), len(seg.Accounts(d.Layout))
	now := time.Now().UTC()
	r := &Result{
		Schema: Schema, HerdVersion: herdVersion, Scenario: d.Scenario.Name, ScenarioSource: d.Scenario.Source, ScenarioYAML: string(yml),
		KeyID: d.Layout.Key().ID(), Run: d.Layout.Namespace(), Seed: d.Scenario.Fleet.Seed, Cameras: cams, Accounts: accts, FleetCameras: d.Layout.Cameras(),
		Shards: []ShardInfo{{Index: seg.Index, Of: seg.Count, Cameras: cams, Accounts: accts, Status: ShardFailed, Detail: why.Error()}},
		Policy: d.Scenario.Reconnect.Policy, Target: target, Started: started.UTC(), Ended: now,
		Counts: map[string]int64{}, Latency: map[string]Latency{}, Errors: Errors{ByClass: map[string]int64{}},
	}
	var t total
	if err := t.add("", r); err != nil {
		panic("reports: Failed: " + err.Error()) // no histograms to decode
	}
	out := t.finalize()
	out.Thresholds = []ThresholdResult{}
	for _, th := range d.Scenario.Thresholds {
		out.Thresholds = append(out.Thresholds, ThresholdResult{Expr: th.Expr, Metric: th.Metric, Status: ThresholdNotMeasured, Note: "not measured: the drill did not run"})
	}
	out.Verdict, out.Reasons = Error, []string{"the drill did not run: " + why.Error()}
	return out
}
