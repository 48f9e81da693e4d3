package sim

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herd-drill/herd/sim/link"
)

func TestIntervalsGiveOnePointPerIntervalAndStartAfresh(t *testing.T) {
	m := newMetrics()
	iv := newIntervals()
	var c Curve

	// First interval: 1..100 ms of acks over both stripes, one recovery.
	for v := 1; v <= 100; v++ {
		m.record(v, hAck, time.Duration(v)*time.Millisecond)
	}
	m.record(0, hRecovery, 5*time.Second)
	iv.take(m, &c, 1)
	// Second interval: nothing but one slow connect.
	m.record(1, hConnect, 2*time.Second)
	iv.take(m, &c, 1)

	if _, ok := c.Latency[HistRecovery]; ok {
		t.Error("recovery has a latency series; its curve is the connected cameras")
	}
	for _, name := range HistogramNames {
		if name == HistRecovery {
			continue
		}
		if s := c.Latency[name]; s == nil || len(s.Count) != 2 || len(s.P50) != 2 || len(s.P99) != 2 {
			t.Fatalf("%s series = %+v, want two points", name, c.Latency[name])
		}
	}
	ack := c.Latency[HistAck]
	near := func(got, want time.Duration) bool {
		return math.Abs(float64(got-want)) <= float64(want)/50 // two significant digits
	}
	if ack.Count[0] != 100 || !near(ack.P50[0], 50*time.Millisecond) || !near(ack.P99[0], 99*time.Millisecond) {
		t.Errorf("ack interval 0 = %d values, p50 %v, p99 %v; want 100, ~50ms, ~99ms", ack.Count[0], ack.P50[0], ack.P99[0])
	}
	if ack.Count[1] != 0 || ack.P50[1] != 0 || ack.P99[1] != 0 {
		t.Errorf("ack interval 1 = %d values, p50 %v: the first interval leaked into the second", ack.Count[1], ack.P50[1])
	}
	conn := c.Latency[HistConnect]
	if conn.Count[0] != 0 || conn.Count[1] != 1 || !near(conn.P99[1], 2*time.Second) {
		t.Errorf("connect counts %v, p99 %v; want [0 1] and ~2s in the second", conn.Count, conn.P99)
	}
	// The run's histograms still hold everything.
	if n := m.merged()[HistAck].TotalCount(); n != 100 {
		t.Errorf("run ack histogram has %d values, want 100", n)
	}
}

func TestIntervalsLoseNothingUnderConcurrentRecording(t *testing.T) {
	m := newMetrics()
	iv := newIntervals()
	var c Curve
	const writers, each = 4, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m.record(w*each+i, hList, time.Millisecond)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		iv.take(m, &c, 1)
	}
	var total int64
	for _, n := range c.Latency[HistList].Count {
		total += n
	}
	if total != writers*each {
		t.Errorf("intervals saw %d values, want %d", total, writers*each)
	}
}

func TestIntervalsSpreadALateIntervalOverItsSteps(t *testing.T) {
	m := newMetrics()
	iv := newIntervals()
	var c Curve
	for range 7 {
		m.record(0, hAck, 10*time.Millisecond)
	}
	iv.take(m, &c, 3) // the sampler was two seconds late
	ack := c.Latency[HistAck]
	if len(ack.Count) != 3 || ack.Count[0]+ack.Count[1]+ack.Count[2] != 7 {
		t.Fatalf("counts %v, want 3 points summing to 7", ack.Count)
	}
	for i, p := range ack.P50 {
		if p < 9*time.Millisecond || p > 11*time.Millisecond {
			t.Errorf("point %d p50 = %v, want ~10ms in every step the interval spans", i, p)
		}
	}
}

func TestCurveAddFillsTheStepsALateSamplerMissed(t *testing.T) {
	var c Curve
	c.add(1, 10, 10, 0, 0)
	c.add(4, 50, 7, 2, 1) // three ticks were dropped
	want := Curve{
		Connected: []int64{10, 20, 30, 40, 50}, Connects: []int64{10, 1, 2, 2, 2},
		Errors: []int64{0, 0, 1, 0, 1}, Violations: []int64{0, 0, 0, 0, 1},
	}
	for _, s := range []struct {
		name      string
		got, want []int64
	}{{"connected", c.Connected, want.Connected}, {"connects", c.Connects, want.Connects}, {"errors", c.Errors, want.Errors}, {"violations", c.Violations, want.Violations}} {
		if !slices.Equal(s.got, s.want) {
			t.Errorf("%s = %v, want %v", s.name, s.got, s.want)
		}
	}
}

// An unexpected status is counted as http_other with its code, so the
// result can say which; a shed status is its own class.
func TestUnexpectedStatusesKeepTheirCodes(t *testing.T) {
	m := newMetrics()
	m.failStatus(500)
	m.failStatus(418)
	m.failStatus(418)
	m.failStatus(503)
	m.failErr(&link.Failure{Class: ErrHTTPOther, Err: errors.New("bad gateway"), Status: 502})
	errs := m.errMap()
	if errs[ErrHTTPOther] != 4 || errs[ErrHTTP503] != 1 {
		t.Errorf("errors %v, want 4 http_other and 1 http_503", errs)
	}
	if codes := m.otherCodeMap(); len(codes) != 3 || codes["418"] != 2 || codes["500"] != 1 || codes["502"] != 1 {
		t.Errorf("http_other codes %v, want 418×2 500×1 502×1", codes)
	}
}
