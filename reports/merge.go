package reports

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/oracle"
)

// Input is one result to merge and where it came from, for error messages.
type Input struct {
	Name string // a file name, or "worker 3"
	R    *Result
}

// Merge combines the results of the shards of one run into one Result,
// exactly: histograms are merged bucket by bucket, counts summed, curves
// summed on the wall clock, evidence picked again over all shards, and the
// thresholds judged again on the whole. It refuses results of different
// scenarios, seeds, fleet sizes, policies or oracle keys, and a shard
// given twice. Missing shards are listed in the verdict's reasons; extra
// shards that failed (ShardFailed, no data) can be passed in failed.
func Merge(in []Input, failed ...ShardInfo) (*Result, error) {
	if len(in) == 0 {
		return nil, errors.New("merge: no results")
	}
	first := in[0]
	if first.R.ScenarioYAML == "" {
		return nil, fmt.Errorf("merge: %s has no scenario_yaml: it was written by an older herd and cannot be re-judged", first.Name)
	}
	sc, err := scenarios.Parse(first.R.Scenario+" (from "+first.Name+")", []byte(first.R.ScenarioYAML))
	if err != nil {
		return nil, fmt.Errorf("merge: %s: its scenario does not parse: %w", first.Name, err)
	}
	seen := map[int]string{}
	for _, x := range in {
		r := x.R
		if r.Schema != Schema {
			return nil, fmt.Errorf("merge: %s is %q, want %q", x.Name, r.Schema, Schema)
		}
		for _, diff := range []struct {
			what      string
			got, want any
		}{
			{"scenario", r.Scenario, first.R.Scenario},
			{"seed", r.Seed, first.R.Seed},
			{"fleet size", r.FleetCameras, first.R.FleetCameras},
			{"policy", r.Policy, first.R.Policy},
			{"oracle key", r.KeyID, first.R.KeyID},
			{"run namespace", r.Run, first.R.Run},
			{"shard count", shardCount(r), shardCount(first.R)},
			{"curve step", r.Curve.StepMs, first.R.Curve.StepMs},
			{"scenario (as run)", r.ScenarioYAML, first.R.ScenarioYAML},
		} {
			if diff.got != diff.want {
				if diff.what == "scenario (as run)" {
					return nil, fmt.Errorf("merge: %s and %s ran the scenario with different settings (durations, thresholds or reconnect policy): results of one run only", x.Name, first.Name)
				}
				return nil, fmt.Errorf("merge: %s has %s %v, but %s has %v: results of one run only", x.Name, diff.what, diff.got, first.Name, diff.want)
			}
		}
		for _, s := range r.Shards {
			if prev, ok := seen[s.Index]; ok {
				return nil, fmt.Errorf("merge: shard %d of %d is in both %s and %s: give each shard once", s.Index, s.Of, prev, x.Name)
			}
			seen[s.Index] = x.Name
		}
	}
	for _, s := range failed {
		if prev, ok := seen[s.Index]; ok {
			return nil, fmt.Errorf("merge: shard %d both failed and has a result (%s)", s.Index, prev)
		}
	}

	m := &Result{
		Schema: Schema, HerdVersion: first.R.HerdVersion, Scenario: first.R.Scenario,
		ScenarioSource: first.R.ScenarioSource, ScenarioYAML: first.R.ScenarioYAML, KeyID: first.R.KeyID, Run: first.R.Run,
		Seed: first.R.Seed, FleetCameras: first.R.FleetCameras, Policy: first.R.Policy, Target: first.R.Target,
		Latency: map[string]Latency{}, Counts: map[string]int64{},
		Violations: Violations{Counts: map[string]int64{}},
		Errors:     Errors{ByClass: map[string]int64{}, Remedies: map[string]string{}},
		Audit:      Audit{Done: true, ThumbnailSample: first.R.Audit.ThumbnailSample},
	}
	hists := map[string]*hdrhistogram.Histogram{}
	var recovery *hdrhistogram.Histogram
	var evidence []oracle.Evidence
	var peak, base int64
	allConnected := time.Time{}
	everyAllConnected := true
	for i, x := range in {
		r := x.R
		if i == 0 || r.Started.Before(m.Started) {
			m.Started = r.Started
			m.Phases, m.OutageEnds = r.Phases, r.OutageEnds
		}
		if r.Ended.After(m.Ended) {
			m.Ended = r.Ended
		}
		m.Interrupted = m.Interrupted || r.Interrupted
		m.Cameras += r.Cameras
		m.Accounts += r.Accounts
		m.Shards = append(m.Shards, r.Shards...)
		for _, u := range r.Target.URLs {
			if !slices.Contains(m.Target.URLs, u) {
				m.Target.URLs = append(m.Target.URLs, u)
			}
		}
		for k, v := range r.Counts {
			m.Counts[k] += v
		}
		for k, v := range r.Violations.Counts {
			m.Violations.Counts[k] += v
			m.Violations.Total += v
		}
		evidence = append(evidence, r.Violations.Evidence...)
		for name, l := range r.Latency {
			if err := mergeHDR(hists, name, l.HDR); err != nil {
				return nil, fmt.Errorf("merge: %s: latency %s: %w", x.Name, name, err)
			}
		}
		if r.Recovery.HDR != "" {
			h, err := hdrhistogram.Decode([]byte(r.Recovery.HDR))
			if err != nil {
				return nil, fmt.Errorf("merge: %s: recovery histogram: %w", x.Name, err)
			}
			if recovery == nil {
				recovery = h
			} else {
				recovery.Merge(h)
			}
		}
		m.Recovery.Affected += r.Recovery.Affected
		m.Recovery.Reconnected += r.Recovery.Reconnected
		e := &m.Events
		e.Captured += r.Events.Captured
		e.Sent += r.Events.Sent
		e.Resent += r.Events.Resent
		e.Acked += r.Events.Acked
		e.Nacked += r.Events.Nacked
		e.BacklogDropped += r.Events.BacklogDropped
		for k, v := range r.Errors.ByClass {
			m.Errors.ByClass[k] += v
		}
		for k, v := range r.Errors.Remedies {
			m.Errors.Remedies[k] = v
		}
		m.Errors.Operations += r.Errors.Operations
		m.Errors.Total += r.Errors.Total
		m.Errors.Shed += r.Errors.Shed
		m.Audit.Done = m.Audit.Done && r.Audit.Done
		m.Audit.Accounts += r.Audit.Accounts
		m.Audit.FailedAccounts += r.Audit.FailedAccounts
		m.Audit.Events += r.Audit.Events
		m.Audit.GaveUp = m.Audit.GaveUp || r.Audit.GaveUp
		for k, n := range r.Audit.Unread {
			if m.Audit.Unread == nil {
				m.Audit.Unread = map[string]int{}
			}
			m.Audit.Unread[k] += n
		}
		m.Audit.Thumbnails.add(r.Audit.Thumbnails)

		g, mg := r.Generator, &m.Generator
		if g.Saturated {
			mg.Saturated = true
			mg.Evidence = joinEvidence(mg.Evidence, fmt.Sprintf("%s: %s", x.Name, g.Evidence))
		}
		mg.Processes += max(g.Processes, 1)
		mg.LagP99Ms = max(mg.LagP99Ms, g.LagP99Ms)
		mg.LagMaxMs = max(mg.LagMaxMs, g.LagMaxMs)
		mg.CPUSeconds += g.CPUSeconds
		// The share of one machine's cores: right for local workers; for
		// shards on several machines it overstates the load of each.
		mg.CPUShare += g.CPUShare
		if mg.FileLimit == 0 || (g.FileLimit > 0 && g.FileLimit < mg.FileLimit) {
			mg.FileLimit = g.FileLimit
		}
		mg.PeakOpenFiles = max(mg.PeakOpenFiles, g.PeakOpenFiles)
		mg.PortRange = max(mg.PortRange, g.PortRange)
		mg.PerSourceDest = max(mg.PerSourceDest, g.PerSourceDest)
		mg.PeakHeapBytes += g.PeakHeapBytes
		mg.PeakStackBytes += g.PeakStackBytes
		peak += g.PeakRSSBytes
		base += g.BaseRSSBytes
		if g.AllConnectedMs > 0 {
			at := r.Started.Add(time.Duration(g.AllConnectedMs * float64(time.Millisecond)))
			if at.After(allConnected) {
				allConnected = at
			}
		} else if r.Cameras > 0 {
			everyAllConnected = false
		}
	}
	m.DurationMs = m.Ended.Sub(m.Started).Milliseconds()
	m.Shards = append(m.Shards, failed...)
	slices.SortFunc(m.Shards, func(a, b ShardInfo) int { return a.Index - b.Index })

	for name, h := range hists {
		m.Latency[name] = latencyOf(h)
	}
	for _, x := range in {
		for name := range x.R.Latency {
			if _, ok := m.Latency[name]; !ok {
				m.Latency[name] = latencyOf(nil)
			}
		}
	}
	affected, reconnected := m.Recovery.Affected, m.Recovery.Reconnected
	m.Recovery = recoveryOf(affected, reconnected, recovery)
	m.Recovery.HDR = encode(recovery)
	m.Events.Lost = m.Violations.Counts[string(oracle.Lost)]
	m.Violations.Evidence = pickEvidence(evidence, MaxEvidence)
	if m.Violations.Evidence == nil {
		m.Violations.Evidence = []oracle.Evidence{}
	}
	if m.Errors.Operations > 0 {
		m.Errors.Rate = float64(m.Errors.Total) / float64(m.Errors.Operations)
		m.Errors.ShedRate = float64(m.Errors.Shed) / float64(m.Errors.Operations)
	}
	m.Curve = mergeCurves(in)
	mg := &m.Generator
	mg.PeakRSSBytes, mg.BaseRSSBytes = peak, base
	if m.Cameras > 0 {
		mg.RSSPerCameraKB = float64(peak-base) / float64(m.Cameras) / 1024
	}
	if everyAllConnected && !allConnected.IsZero() {
		mg.AllConnectedMs = ms(allConnected.Sub(m.Started))
	}
	Judge(m, sc)
	if len(m.Shards) == 1 && m.Shards[0].Of > 1 {
		// One shard of several, merged alone: the others are missing.
		m.Reasons = append(m.Reasons, shardReasons(m.Shards, true)...)
		slices.Sort(m.Reasons)
		m.Reasons = slices.Compact(m.Reasons)
		m.Verdict = Fail
	}
	return m, nil
}

// shardCount is how many shards the run had, as r records it.
func shardCount(r *Result) int {
	if len(r.Shards) == 0 {
		return 1
	}
	return r.Shards[0].Of
}

func mergeHDR(into map[string]*hdrhistogram.Histogram, name, enc string) error {
	if enc == "" {
		return nil
	}
	h, err := hdrhistogram.Decode([]byte(enc))
	if err != nil {
		return err
	}
	if prev, ok := into[name]; ok {
		prev.Merge(h)
	} else {
		into[name] = h
	}
	return nil
}

// mergeCurves sums the shards' curves on the wall clock: a sample of a
// shard that started later lands in the step of its own instant.
func mergeCurves(in []Input) Curve {
	step := in[0].R.Curve.StepMs
	out := Curve{StepMs: step, Connected: []int64{}, Connects: []int64{}, Errors: []int64{}}
	if step <= 0 {
		return out
	}
	for i, x := range in {
		if i == 0 || x.R.Curve.Start.Before(out.Start) {
			out.Start = x.R.Curve.Start
		}
	}
	stepD := time.Duration(step) * time.Millisecond
	add := func(dst *[]int64, off int, src []int64) {
		for len(*dst) < off+len(src) {
			*dst = append(*dst, 0)
		}
		for j, v := range src {
			(*dst)[off+j] += v
		}
	}
	violations := true // only when every shard has them
	for _, x := range in {
		violations = violations && x.R.Curve.Violations != nil
	}
	if violations {
		out.Violations = []int64{}
	}
	for _, x := range in {
		c := x.R.Curve
		off := int((c.Start.Sub(out.Start) + stepD/2) / stepD)
		add(&out.Connected, off, c.Connected)
		add(&out.Connects, off, c.Connects)
		add(&out.Errors, off, c.Errors)
		if violations {
			add(&out.Violations, off, c.Violations)
		}
	}
	for len(out.Violations) > 0 && len(out.Violations) < len(out.Connected) {
		out.Violations = append(out.Violations, 0)
	}
	mergeLatencySeries(&out, in)
	return out
}

// mergeLatencySeries combines the shards' latency over time on the wall
// clock, when every shard has it at one step. Counts add up exactly; a
// percentile of percentiles cannot, so p50 is the count-weighted mean of
// the shards' medians and p99 the highest shard's p99, a bound the true
// p99 of all values never exceeds.
func mergeLatencySeries(out *Curve, in []Input) {
	step := in[0].R.Curve.LatencyStepMs
	for _, x := range in {
		if step <= 0 || x.R.Curve.LatencyStepMs != step || x.R.Curve.Latency == nil {
			return
		}
	}
	stepD := time.Duration(step) * time.Millisecond
	type acc struct {
		count    []int64
		weighted []float64 // Σ p50 × count
		p99      []*float64
	}
	accs := map[string]*acc{}
	for _, x := range in {
		c := x.R.Curve
		off := int((c.Start.Sub(out.Start) + stepD/2) / stepD)
		for name, ls := range c.Latency {
			a := accs[name]
			if a == nil {
				a = &acc{}
				accs[name] = a
			}
			for j, n := range ls.Count {
				k := off + j
				for len(a.count) <= k {
					a.count, a.weighted, a.p99 = append(a.count, 0), append(a.weighted, 0), append(a.p99, nil)
				}
				a.count[k] += n
				if n > 0 && j < len(ls.P50Ms) && ls.P50Ms[j] != nil {
					a.weighted[k] += *ls.P50Ms[j] * float64(n)
				}
				if j < len(ls.P99Ms) && ls.P99Ms[j] != nil && (a.p99[k] == nil || *ls.P99Ms[j] > *a.p99[k]) {
					v := *ls.P99Ms[j]
					a.p99[k] = &v
				}
			}
		}
	}
	out.LatencyStepMs = step
	out.Latency = make(map[string]LatencySeries, len(accs))
	for name, a := range accs {
		ls := LatencySeries{Count: a.count, P50Ms: make([]*float64, len(a.count)), P99Ms: a.p99}
		for k, n := range a.count {
			if n > 0 {
				v := math.Round(a.weighted[k]/float64(n)*1000) / 1000
				ls.P50Ms[k] = &v
			}
		}
		out.Latency[name] = ls
	}
}

func joinEvidence(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
