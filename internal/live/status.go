// Package live shows a running drill as it goes: a progress display for a
// person or a CI log, and Prometheus metrics for a dashboard.
//
// Both are fed the same plain snapshot, Status. A drill in one process
// builds it from its own counters; a drill spread over worker processes
// sums the workers' snapshots with Sum. Every count in a Status is
// cumulative from the start of the drill, so summing snapshots is exact and
// exporting them as Prometheus counters needs no bookkeeping here.
package live

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Status is a drill's live state, summed over worker processes. Counts are
// cumulative from the start of the drill and never go down; Cameras,
// Connected, ConnectsPerSec and WorkersDead are readings of the moment.
type Status struct {
	Phase   string
	Elapsed time.Duration

	Cameras, Connected int64
	Connects           int64 // cumulative successful connects
	ConnectsPerSec     float64
	EventsAcked        int64

	// Errors counts failures seen by the fleet, and Shed the target's
	// load shedding (429, 503, close 1013, nack), apart as in the result;
	// ErrorsByClass breaks both down, e.g. "http_503", "timeout".
	Errors        int64
	Shed          int64
	ErrorsByClass map[string]int64

	// TargetDown, when set, says since when the target has answered
	// nothing ("target unreachable since +5.0s (connection refused at
	// every cell)").
	TargetDown string

	// Violations counts what the oracle flagged; ViolationsByClass breaks
	// it down, e.g. "cross_account". A class present with a zero count is
	// exported as zero, so a caller that lists every class up front gives
	// Prometheus a zero to take the first increase from.
	Violations        int64
	ViolationsByClass map[string]int64

	// Latency holds one cumulative histogram per operation ("connect",
	// "ack", "first_ack", "list", "thumbnail", "live"), in seconds.
	Latency map[string]Buckets

	WorkersDead int
}

// Buckets is a latency histogram in Prometheus's shape: Counts[i] is the
// number of observations at or below Upper[i] seconds (cumulative, like a
// Prometheus "le" bucket), Count is the number of all observations
// including those above the last bound (the +Inf bucket), and Sum is their
// total in seconds. Upper ascends strictly and does not include +Inf.
type Buckets struct {
	Upper  []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// Validate reports whether b is a well-formed histogram.
func (b Buckets) Validate() error {
	if len(b.Upper) != len(b.Counts) {
		return fmt.Errorf("live: %d bucket bounds but %d counts", len(b.Upper), len(b.Counts))
	}
	for i, u := range b.Upper {
		if math.IsNaN(u) || math.IsInf(u, 0) {
			return fmt.Errorf("live: bucket bound %v is not a finite number", u)
		}
		if i > 0 && u <= b.Upper[i-1] {
			return fmt.Errorf("live: bucket bounds must ascend, got %v after %v", u, b.Upper[i-1])
		}
		if i > 0 && b.Counts[i] < b.Counts[i-1] {
			return fmt.Errorf("live: bucket counts must be cumulative, got %d at le=%v after %d", b.Counts[i], u, b.Counts[i-1])
		}
	}
	if n := len(b.Counts); n > 0 && b.Counts[n-1] > b.Count {
		return fmt.Errorf("live: bucket le=%v holds %d observations but Count is %d", b.Upper[n-1], b.Counts[n-1], b.Count)
	}
	return nil
}

// Add returns the histogram of b's and o's observations together. Both must
// have the same bounds, unless one of them is the zero Buckets.
func (b Buckets) Add(o Buckets) (Buckets, error) {
	switch {
	case b.Upper == nil && b.Count == 0:
		return o.clone(), nil
	case o.Upper == nil && o.Count == 0:
		return b.clone(), nil
	case !slices.Equal(b.Upper, o.Upper) || len(b.Counts) != len(o.Counts):
		return Buckets{}, errors.New("live: cannot add histograms with different bucket bounds")
	}
	sum := b.clone()
	for i, c := range o.Counts {
		sum.Counts[i] += c
	}
	sum.Count += o.Count
	sum.Sum += o.Sum
	return sum, nil
}

func (b Buckets) clone() Buckets {
	b.Upper, b.Counts = slices.Clone(b.Upper), slices.Clone(b.Counts)
	return b
}

// DefaultUpper returns the default bucket bounds in seconds: 250 µs to 60 s
// in steps of about 2.5×, the 1-2.5-5 series of Prometheus's own default
// buckets stretched at both ends: down for loopback drills, whose connects
// and acks take well under a millisecond, and up to the minute that a
// reconnect storm can take.
func DefaultUpper() []float64 {
	return []float64{
		0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
		0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60,
	}
}

// BucketsFromHDR turns a histogram of microseconds into Buckets with the
// given bounds in seconds (DefaultUpper if upperSeconds is empty; any
// order, duplicates dropped). h may be nil, for a histogram with no
// observations.
//
// HDR histograms keep values at a given precision (3 significant digits in
// herd), so a bound can fall inside the range of values one HDR slot
// stands for. Such a slot is counted at or below the bound: a value
// recorded exactly at a bound is always counted there, and a value counted
// there exceeds the bound by at most the histogram's precision. Sum is the
// HDR mean times the count, the mean HDR itself reports.
func BucketsFromHDR(h *hdrhistogram.Histogram, upperSeconds []float64) Buckets {
	upper := slices.Clone(upperSeconds)
	if len(upper) == 0 {
		upper = DefaultUpper()
	}
	slices.Sort(upper)
	upper = slices.Compact(upper)
	b := Buckets{Upper: upper, Counts: make([]uint64, len(upper))}
	if h == nil || h.TotalCount() == 0 {
		return b
	}
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		// Divide, not multiply the bounds: 1000 µs / 1e6 is exactly the
		// float64 0.001, while 0.001 * 1e6 need not be exactly 1000.
		lowest := float64(bar.From) / 1e6
		if i := sort.SearchFloat64s(upper, lowest); i < len(upper) {
			b.Counts[i] += uint64(bar.Count)
		}
	}
	for i := 1; i < len(b.Counts); i++ {
		b.Counts[i] += b.Counts[i-1]
	}
	b.Count = uint64(h.TotalCount())
	b.Sum = h.Mean() * float64(h.TotalCount()) / 1e6
	return b
}

// Sum adds worker processes' snapshots into the drill's: counts, readings
// and histograms add up, Elapsed is the longest, and Phase is the one most
// parts report (the earliest listed among equals), since workers cross a
// phase boundary a moment apart. It fails only if two parts hold histograms
// of one name with different bounds.
func Sum(parts ...Status) (Status, error) {
	var t Status
	votes := map[string]int{}
	best := 0
	for _, p := range parts {
		if p.Phase != "" {
			votes[p.Phase]++
			if n := votes[p.Phase]; n > best {
				best, t.Phase = n, p.Phase
			}
		}
		t.Elapsed = max(t.Elapsed, p.Elapsed)
		t.Cameras += p.Cameras
		t.Connected += p.Connected
		t.Connects += p.Connects
		t.ConnectsPerSec += p.ConnectsPerSec
		t.EventsAcked += p.EventsAcked
		t.Errors += p.Errors
		t.Shed += p.Shed
		t.ErrorsByClass = addCounts(t.ErrorsByClass, p.ErrorsByClass)
		if t.TargetDown == "" {
			t.TargetDown = p.TargetDown
		}
		t.Violations += p.Violations
		t.ViolationsByClass = addCounts(t.ViolationsByClass, p.ViolationsByClass)
		t.WorkersDead += p.WorkersDead
		for name, b := range p.Latency {
			if t.Latency == nil {
				t.Latency = make(map[string]Buckets, len(p.Latency))
			}
			sum, err := t.Latency[name].Add(b)
			if err != nil {
				return Status{}, fmt.Errorf("live: latency %q: %w", name, err)
			}
			t.Latency[name] = sum
		}
	}
	return t, nil
}

func addCounts(into, from map[string]int64) map[string]int64 {
	if len(from) == 0 {
		return into
	}
	if into == nil {
		into = make(map[string]int64, len(from))
	}
	for k, v := range from {
		into[k] += v
	}
	return into
}

// classCount is one class of errors or violations.
type classCount struct {
	class string
	n     int64
}

// byClass lists the classes of a total, largest first, with whatever the
// classes do not account for as "unclassified".
func byClass(total int64, classes map[string]int64) []classCount {
	out := make([]classCount, 0, len(classes)+1)
	var sum int64
	for _, k := range slices.Sorted(maps.Keys(classes)) {
		out = append(out, classCount{k, classes[k]})
		sum += classes[k]
	}
	if total > sum {
		out = append(out, classCount{"unclassified", total - sum})
	}
	slices.SortStableFunc(out, func(a, b classCount) int { return cmp.Compare(b.n, a.n) })
	return out
}
