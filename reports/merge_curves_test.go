package reports

import (
	"slices"
	"testing"
	"time"
)

// curvesOf adds the parts' curves as Merge does.
func curvesOf(parts ...*Result) Curve {
	var c Curve
	for _, p := range parts {
		c.add(p.Curve)
	}
	return c
}

func TestMergeCurvesCarriesViolationsAndLatencyOverTime(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	a := &Result{Curve: Curve{
		Start: t0, StepMs: 100, Connected: []int64{1, 2}, Connects: []int64{1, 1}, Errors: []int64{0, 0}, Violations: []int64{0, 2},
		LatencyStepMs: 1000, Latency: map[string]LatencySeries{"ack": {Count: []int64{3, 0}, P50Ms: []*float64{f(10), nil}, P99Ms: []*float64{f(40), nil}}},
	}}
	// The second shard started one latency step (ten curve steps) later.
	b := &Result{Curve: Curve{
		Start: t0.Add(time.Second), StepMs: 100, Connected: []int64{5}, Connects: []int64{5}, Errors: []int64{1}, Violations: []int64{4},
		LatencyStepMs: 1000, Latency: map[string]LatencySeries{"ack": {Count: []int64{1, 2}, P50Ms: []*float64{f(20), f(5)}, P99Ms: []*float64{f(90), f(6)}}},
	}}
	m := curvesOf(a, b)
	if want := []int64{0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 4}; !slices.Equal(m.Violations, want) {
		t.Errorf("violations = %v, want %v: summed on the wall clock", m.Violations, want)
	}
	ack := m.Latency["ack"]
	if m.LatencyStepMs != 1000 || !slices.Equal(ack.Count, []int64{3, 1, 2}) {
		t.Fatalf("ack counts = %v (step %d), want [3 1 2] at 1000 ms", ack.Count, m.LatencyStepMs)
	}
	if got := []any{show(ack.P50Ms[0]), show(ack.P50Ms[1]), show(ack.P50Ms[2])}; got[0] != 10.0 || got[1] != 20.0 || got[2] != 5.0 {
		t.Errorf("p50 = %v, want [10 20 5]", got)
	}
	if *ack.P99Ms[1] != 90 || *ack.P99Ms[0] != 40 {
		t.Errorf("p99 = %v, %v; want the highest shard's: 40, 90", show(ack.P99Ms[0]), show(ack.P99Ms[1]))
	}

	// A shard from before the series existed: the merge has none, not zeros.
	b.Curve.Violations, b.Curve.Latency, b.Curve.LatencyStepMs = nil, nil, 0
	m = curvesOf(a, b)
	if m.Violations != nil || m.Latency != nil {
		t.Errorf("merged with an old shard: violations %v, latency %v; want both absent", m.Violations, m.Latency)
	}
}

func TestMergeCurvesWeighsMediansByCount(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	shard := func(n int64, p50 float64) *Result {
		return &Result{Curve: Curve{Start: t0, StepMs: 100, Connected: []int64{1}, Connects: []int64{0}, Errors: []int64{0}, Violations: []int64{0},
			LatencyStepMs: 1000, Latency: map[string]LatencySeries{"list": {Count: []int64{n}, P50Ms: []*float64{f(p50)}, P99Ms: []*float64{f(p50)}}}}}
	}
	m := curvesOf(shard(3, 10), shard(1, 30))
	if p := m.Latency["list"].P50Ms[0]; p == nil || *p != 15 {
		t.Errorf("p50 = %v, want 15 (3×10 + 1×30) / 4", show(p))
	}
}
