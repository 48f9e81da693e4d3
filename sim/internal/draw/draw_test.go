package draw

import (
	"math"
	"testing"
)

func TestStreamsAreApartAndUniform(t *testing.T) {
	a, b := New(1, "ramp"), New(1, "retry")
	if a == b || New(1, "ramp") != a || New(2, "ramp") == a {
		t.Fatal("a stream must depend on its seed and its name, and on nothing else")
	}
	const n = 200_000
	var sum, sumAB float64
	buckets := make([]int, 10)
	for i := range uint64(n) {
		x, y := a.Unit(i), b.Unit(i)
		if x < 0 || x >= 1 {
			t.Fatalf("Unit(%d) = %v, outside [0,1)", i, x)
		}
		sum += x
		sumAB += (x - 0.5) * (y - 0.5)
		buckets[int(x*10)]++
	}
	if mean := sum / n; math.Abs(mean-0.5) > 0.005 {
		t.Errorf("mean %v, want 0.5", mean)
	}
	if cov := sumAB / n; math.Abs(cov) > 0.002 {
		t.Errorf("covariance of two streams over one key = %v, want about 0: one stream's draws must not follow another's", cov)
	}
	for i, c := range buckets {
		if math.Abs(float64(c)-n/10) > n/10*0.05 {
			t.Errorf("decile %d holds %d draws, want about %d", i, c, n/10)
		}
	}
}

func TestUnit2KeysDoNotCommute(t *testing.T) {
	s := New(7, "outage")
	same := 0
	for i := range uint64(1000) {
		if s.Unit2(i, i+1) == s.Unit2(i+1, i) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of 1000 draws equal with their keys swapped: (outage 1, camera 2) must not be (outage 2, camera 1)", same)
	}
}

func TestIndexStaysInRange(t *testing.T) {
	s := New(3, "victim")
	seen := make([]bool, 5)
	for i := range uint64(1000) {
		k := s.Index(5, i, 0)
		if k < 0 || k >= 5 {
			t.Fatalf("Index(5) = %d", k)
		}
		seen[k] = true
	}
	for k, ok := range seen {
		if !ok {
			t.Errorf("Index(5) never drew %d in 1000 draws", k)
		}
	}
}
