package live

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// newHDR is a histogram with herd's bounds: 1 µs to 1 hour, 3 digits.
func newHDR(t *testing.T, micros ...int64) *hdrhistogram.Histogram {
	t.Helper()
	h := hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
	for _, v := range micros {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestBucketsFromHDR(t *testing.T) {
	upper := []float64{0.001, 0.01, 1, 2.5}
	tests := []struct {
		name       string
		micros     []int64
		upper      []float64
		wantUpper  []float64
		wantCounts []uint64
		wantCount  uint64
	}{
		{"empty", nil, upper, upper, []uint64{0, 0, 0, 0}, 0},
		{"one in each and one beyond",
			[]int64{500, 5_000, 500_000, 2_000_000, 100_000_000}, upper,
			upper, []uint64{1, 2, 3, 4}, 5},
		// Values recorded exactly at a bound count at or below it, even
		// where the bound falls inside an HDR slot (1 s is inside the
		// 512 µs slot from 999,936 µs).
		{"exactly at bounds", []int64{1_000, 10_000, 1_000_000, 2_500_000}, upper,
			upper, []uint64{1, 2, 3, 4}, 4},
		// 1.001 s is beyond 1 s by more than HDR's precision there.
		{"just past a bound", []int64{1_001, 1_001_000}, upper,
			upper, []uint64{0, 1, 1, 2}, 2},
		{"zero", []int64{0}, upper, upper, []uint64{1, 1, 1, 1}, 1},
		{"bounds in any order, duplicates dropped", []int64{5_000}, []float64{1, 0.001, 0.01, 1},
			[]float64{0.001, 0.01, 1}, []uint64{0, 1, 1}, 1},
		{"default bounds", []int64{300, 70_000_000}, nil,
			DefaultUpper(), append([]uint64{0}, slices.Repeat([]uint64{1}, 16)...), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := BucketsFromHDR(newHDR(t, tc.micros...), tc.upper)
			if !slices.Equal(got.Upper, tc.wantUpper) || !slices.Equal(got.Counts, tc.wantCounts) || got.Count != tc.wantCount {
				t.Errorf("got le %v counts %v count %d, want le %v counts %v count %d",
					got.Upper, got.Counts, got.Count, tc.wantUpper, tc.wantCounts, tc.wantCount)
			}
			var wantSum float64
			for _, v := range tc.micros {
				wantSum += float64(v) / 1e6
			}
			if math.Abs(got.Sum-wantSum) > 0.001*wantSum+1e-9 {
				t.Errorf("Sum = %v s, want %v s within HDR's 0.1%%", got.Sum, wantSum)
			}
			if err := got.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestBucketsFromHDRNil(t *testing.T) {
	got := BucketsFromHDR(nil, nil)
	if !slices.Equal(got.Upper, DefaultUpper()) || got.Count != 0 || slices.ContainsFunc(got.Counts, func(c uint64) bool { return c != 0 }) {
		t.Errorf("BucketsFromHDR(nil, nil) = %+v, want default bounds and no counts", got)
	}
}

func TestBucketsFromHDRLeavesBoundsAlone(t *testing.T) {
	upper := []float64{1, 0.5}
	BucketsFromHDR(newHDR(t, 1), upper)
	if !slices.Equal(upper, []float64{1, 0.5}) {
		t.Errorf("caller's bounds changed to %v", upper)
	}
}

func TestDefaultUpperAscends(t *testing.T) {
	b := Buckets{Upper: DefaultUpper(), Counts: make([]uint64, len(DefaultUpper()))}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if first, last := b.Upper[0], b.Upper[len(b.Upper)-1]; first > 0.001 || last != 60 {
		t.Errorf("default bounds %v..%v, want from 1 ms or less up to 60 s", first, last)
	}
}

func TestBucketsValidate(t *testing.T) {
	tests := []struct {
		name string
		b    Buckets
		ok   bool
	}{
		{"zero", Buckets{}, true},
		{"good", Buckets{Upper: []float64{0.1, 1}, Counts: []uint64{1, 3}, Count: 4, Sum: 9}, true},
		{"lengths differ", Buckets{Upper: []float64{0.1, 1}, Counts: []uint64{1}, Count: 1}, false},
		{"bounds descend", Buckets{Upper: []float64{1, 0.1}, Counts: []uint64{1, 1}, Count: 1}, false},
		{"bound repeated", Buckets{Upper: []float64{1, 1}, Counts: []uint64{1, 1}, Count: 1}, false},
		{"+Inf bound", Buckets{Upper: []float64{1, math.Inf(1)}, Counts: []uint64{1, 1}, Count: 1}, false},
		{"NaN bound", Buckets{Upper: []float64{math.NaN()}, Counts: []uint64{1}, Count: 1}, false},
		{"not cumulative", Buckets{Upper: []float64{0.1, 1}, Counts: []uint64{3, 1}, Count: 4}, false},
		{"count below last bucket", Buckets{Upper: []float64{0.1, 1}, Counts: []uint64{1, 3}, Count: 2}, false},
	}
	for _, tc := range tests {
		if err := tc.b.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestBucketsAdd(t *testing.T) {
	a := Buckets{Upper: []float64{0.1, 1}, Counts: []uint64{1, 2}, Count: 3, Sum: 2}
	b := Buckets{Upper: []float64{0.1, 1}, Counts: []uint64{0, 4}, Count: 4, Sum: 3}
	got, err := a.Add(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Buckets{Upper: []float64{0.1, 1}, Counts: []uint64{1, 6}, Count: 7, Sum: 5}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Add = %+v, want %+v", got, want)
	}
	if a.Counts[1] != 2 {
		t.Error("Add changed its receiver")
	}
	if z, err := (Buckets{}).Add(a); err != nil || !reflect.DeepEqual(z, a) {
		t.Errorf("zero.Add(a) = %+v, %v; want a", z, err)
	}
	if z, err := a.Add(Buckets{}); err != nil || !reflect.DeepEqual(z, a) {
		t.Errorf("a.Add(zero) = %+v, %v; want a", z, err)
	}
	if _, err := a.Add(Buckets{Upper: []float64{0.1, 2}, Counts: []uint64{0, 0}}); err == nil {
		t.Error("adding different bounds: no error")
	}
}

func TestSum(t *testing.T) {
	lat := func(n uint64) map[string]Buckets {
		return map[string]Buckets{"ack": {Upper: []float64{1}, Counts: []uint64{n}, Count: n, Sum: float64(n) / 2}}
	}
	parts := []Status{
		{Phase: "steady", Elapsed: 9 * time.Second, Cameras: 100, Connected: 90, Connects: 120, ConnectsPerSec: 3,
			EventsAcked: 1000, Errors: 5, ErrorsByClass: map[string]int64{"timeout": 5},
			Violations: 1, ViolationsByClass: map[string]int64{"cross_account": 1}, Latency: lat(10)},
		{Phase: "outage", Elapsed: 10 * time.Second, Cameras: 100, Connected: 40, Connects: 110, ConnectsPerSec: 2,
			EventsAcked: 900, Errors: 3, ErrorsByClass: map[string]int64{"timeout": 1, "http_503": 2}, Latency: lat(20)},
		{Phase: "outage", Elapsed: 10 * time.Second, Cameras: 50, WorkersDead: 1},
	}
	got, err := Sum(parts...)
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Phase: "outage", Elapsed: 10 * time.Second, Cameras: 250, Connected: 130, Connects: 230, ConnectsPerSec: 5,
		EventsAcked: 1900, Errors: 8, ErrorsByClass: map[string]int64{"timeout": 6, "http_503": 2},
		Violations: 1, ViolationsByClass: map[string]int64{"cross_account": 1}, Latency: lat(30), WorkersDead: 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sum =\n%+v\nwant\n%+v", got, want)
	}
	if parts[0].ErrorsByClass["timeout"] != 5 || parts[0].Latency["ack"].Count != 10 {
		t.Error("Sum changed its parts")
	}

	parts[1].Latency = map[string]Buckets{"ack": {Upper: []float64{2}, Counts: []uint64{1}, Count: 1}}
	if _, err := Sum(parts...); err == nil {
		t.Error("summing different bounds: no error")
	}
	if got, err := Sum(); err != nil || !reflect.DeepEqual(got, Status{}) {
		t.Errorf("Sum() = %+v, %v; want the zero Status", got, err)
	}
}

func TestSumPhaseTie(t *testing.T) {
	got, _ := Sum(Status{Phase: "steady"}, Status{}, Status{Phase: "outage"})
	if got.Phase != "steady" {
		t.Errorf("Phase = %q, want the first listed of equals, steady", got.Phase)
	}
}

func TestByClass(t *testing.T) {
	got := byClass(10, map[string]int64{"b": 2, "a": 2, "c": 5})
	want := []classCount{{"c", 5}, {"a", 2}, {"b", 2}, {"unclassified", 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("byClass = %v, want %v", got, want)
	}
	if got := byClass(0, nil); len(got) != 0 {
		t.Errorf("byClass(0, nil) = %v, want none", got)
	}
}
