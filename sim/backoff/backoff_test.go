package backoff

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"
)

const ms = time.Millisecond

func TestNextFormulas(t *testing.T) {
	base := Policy{Base: 100 * ms, Cap: 10 * time.Second}
	with := func(k Kind) Policy { p := base; p.Kind = k; return p }
	tests := []struct {
		name    string
		p       Policy
		attempt uint32
		prev    time.Duration
		u       float64
		want    time.Duration
	}{
		{"exponential n=0", with(Exponential), 0, 0, 0.9, 100 * ms},
		{"exponential n=1", with(Exponential), 1, 0, 0.9, 200 * ms},
		{"exponential n=6", with(Exponential), 6, 0, 0.9, 6400 * ms},
		{"exponential capped at n=7", with(Exponential), 7, 0, 0, 10 * time.Second},
		{"full-jitter u=0", with(FullJitter), 3, 0, 0, 0},
		{"full-jitter u=.5 n=3", with(FullJitter), 3, 0, 0.5, 400 * ms},
		{"full-jitter u=.25 n=0", with(FullJitter), 0, 0, 0.25, 25 * ms},
		{"full-jitter capped", with(FullJitter), 20, 0, 0.5, 5 * time.Second},
		{"equal-jitter u=0 n=2", with(EqualJitter), 2, 0, 0, 200 * ms},
		{"equal-jitter u=.5 n=2", with(EqualJitter), 2, 0, 0.5, 300 * ms},
		{"equal-jitter capped u=.5", with(EqualJitter), 30, 0, 0.5, 7500 * ms},
		{"decorrelated first, u=0", with(DecorrelatedJitter), 0, 0, 0, 100 * ms},
		{"decorrelated first, u=.5", with(DecorrelatedJitter), 0, 0, 0.5, 200 * ms},
		{"decorrelated prev 1s, u=.5", with(DecorrelatedJitter), 4, time.Second, 0.5, 1550 * ms},
		{"decorrelated capped", with(DecorrelatedJitter), 9, 8 * time.Second, 0.5, 10 * time.Second},
		{"fixed", with(Fixed), 12, 0, 0.7, 100 * ms},
		{"immediate", with(Immediate), 12, 0, 0.7, 0},
		{"u out of range is clamped", with(FullJitter), 0, 0, 1.5, 100*ms - 1},
		{"negative u is clamped", with(FullJitter), 0, 0, -3, 0},
		{"NaN u is clamped", with(FullJitter), 0, 0, math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := State{Attempt: tt.attempt, Prev: tt.prev}
			if got := tt.p.Next(&st, tt.u); got != tt.want {
				t.Errorf("Next = %v, want %v", got, tt.want)
			}
			if st.Attempt != tt.attempt+1 || st.Prev != tt.want {
				t.Errorf("state after = %+v, want attempt %d prev %v", st, tt.attempt+1, tt.want)
			}
		})
	}
}

// Whatever the attempt count, 2^n never overflows: delays stay in [0, cap].
func TestNextOverflowSafe(t *testing.T) {
	attempts := []uint32{31, 32, 61, 62, 63, 64, 100, 1 << 31, math.MaxUint32 - 1, math.MaxUint32}
	for _, k := range Kinds() {
		for _, capped := range []time.Duration{0, time.Hour} {
			for _, base := range []time.Duration{1, 3 * ms, time.Hour, math.MaxInt64 / 2} {
				p := Policy{Kind: k, Base: base}
				if capped > 0 {
					p.Cap = max(capped, base) // a valid cap is at least base
				}
				ceiling := p.Cap
				if ceiling == 0 {
					ceiling = math.MaxInt64
				}
				for _, n := range attempts {
					for _, u := range []float64{0, 0.5, math.Nextafter(1, 0)} {
						st := State{Attempt: n, Prev: math.MaxInt64}
						got := p.Next(&st, u)
						if got < 0 || got > max(ceiling, base) {
							t.Fatalf("%v base %v cap %v attempt %d u %v: Next = %v, outside [0, %v]", k, base, p.Cap, n, u, got, ceiling)
						}
						if k == Exponential && n >= 63 && got != ceiling {
							t.Fatalf("exponential at attempt %d = %v, want the ceiling %v", n, got, ceiling)
						}
						if n == math.MaxUint32 && st.Attempt != math.MaxUint32 {
							t.Fatalf("attempt counter wrapped to %d", st.Attempt)
						}
					}
				}
			}
		}
	}
}

func TestDecorrelatedSequence(t *testing.T) {
	p := Policy{Kind: DecorrelatedJitter, Base: 100 * ms, Cap: 2 * time.Second}
	var st State
	// prev·3 grows: 100→ rand(100,300) → rand(100, 3·prev) …, capped at 2s.
	us := []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0, 0.5}
	want := []time.Duration{200 * ms, 350 * ms, 575 * ms, 912500 * time.Microsecond, 1418750 * time.Microsecond, 100 * ms, 200 * ms}
	for i, u := range us {
		if got := p.Next(&st, u); got != want[i] {
			t.Fatalf("step %d: Next = %v, want %v", i, got, want[i])
		}
	}
	st = State{Prev: 1500 * ms}
	if got := p.Next(&st, 0.9); got != 2*time.Second {
		t.Errorf("Next from prev 1.5s = %v, want the 2s cap", got)
	}
}

func TestConnectedResets(t *testing.T) {
	p := Policy{Kind: DecorrelatedJitter, Base: time.Second, Cap: time.Minute, ResetAfter: 30 * time.Second}
	tests := []struct {
		up   time.Duration
		want State
	}{
		{0, State{Attempt: 3, Prev: 9 * time.Second}},
		{29 * time.Second, State{Attempt: 3, Prev: 9 * time.Second}},
		{30 * time.Second, State{}},
		{time.Hour, State{}},
	}
	for _, tt := range tests {
		st := State{Attempt: 3, Prev: 9 * time.Second}
		p.Connected(&st, tt.up)
		if st != tt.want {
			t.Errorf("Connected(up %v) state = %+v, want %+v", tt.up, st, tt.want)
		}
	}
	// After a reset the schedule starts over at Base.
	st := State{Attempt: 3, Prev: 9 * time.Second}
	p.Connected(&st, time.Minute)
	if got := p.Next(&st, 0); got != time.Second {
		t.Errorf("first delay after reset = %v, want base 1s", got)
	}
	// ResetAfter 0: any connection resets.
	p.ResetAfter = 0
	st = State{Attempt: 5}
	p.Connected(&st, 0)
	if st.Attempt != 0 {
		t.Errorf("ResetAfter 0 did not reset: %+v", st)
	}
}

func TestHints(t *testing.T) {
	both := Policy{Kind: FullJitter, Base: time.Second, Cap: time.Minute, HonourRetryAfter: true, Honour1013: true}
	none := Policy{Kind: FullJitter, Base: time.Second, Cap: time.Minute}
	tests := []struct {
		name        string
		p           Policy
		delay, hint time.Duration
		want        time.Duration
	}{
		{"retry-after longer", both, 300 * ms, 2 * time.Second, 2 * time.Second},
		{"retry-after shorter", both, 5 * time.Second, 2 * time.Second, 5 * time.Second},
		{"retry-after beyond cap is honoured", both, 300 * ms, 2 * time.Minute, 2 * time.Minute},
		{"no hint", both, 300 * ms, 0, 300 * ms},
		{"negative hint", both, 300 * ms, -time.Second, 300 * ms},
		{"not honoured", none, 300 * ms, 2 * time.Second, 300 * ms},
	}
	for _, tt := range tests {
		if got := tt.p.Hint(tt.delay, tt.hint); got != tt.want {
			t.Errorf("%s: Hint(%v, %v) = %v, want %v", tt.name, tt.delay, tt.hint, got, tt.want)
		}
	}
	closes := []struct {
		name  string
		p     Policy
		delay time.Duration
		code  int
		want  time.Duration
	}{
		{"1013 lifts a short delay to base", both, 10 * ms, 1013, time.Second},
		{"1013 keeps a longer delay", both, 3 * time.Second, 1013, 3 * time.Second},
		{"1001 is not a hint", both, 10 * ms, 1001, 10 * ms},
		{"1013 not honoured", none, 10 * ms, 1013, 10 * ms},
	}
	for _, tt := range closes {
		if got := tt.p.Closed(tt.delay, tt.code); got != tt.want {
			t.Errorf("%s: Closed(%v, %d) = %v, want %v", tt.name, tt.delay, tt.code, got, tt.want)
		}
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds() {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	_, err := ParseKind("jitter")
	if err == nil || !strings.Contains(err.Error(), "full-jitter, equal-jitter, decorrelated-jitter, fixed, immediate") {
		t.Errorf("ParseKind error %v does not list the valid names", err)
	}
	if got := Kind(0).String(); got != "Kind(0)" {
		t.Errorf("Kind(0).String() = %q", got)
	}
	var v struct {
		Policy Kind `json:"policy"`
	}
	if err := json.Unmarshal([]byte(`{"policy":"equal-jitter"}`), &v); err != nil || v.Policy != EqualJitter {
		t.Errorf("UnmarshalText: %v, %v", v.Policy, err)
	}
	if err := json.Unmarshal([]byte(`{"policy":"sometimes"}`), &v); err == nil {
		t.Errorf("UnmarshalText accepted an unknown name")
	}
	if b, err := json.Marshal(v); err != nil || string(b) != `{"policy":"equal-jitter"}` {
		t.Errorf("MarshalText = %s, %v", b, err)
	}
	if _, err := Kind(0).MarshalText(); err == nil {
		t.Errorf("MarshalText of Kind(0) succeeded")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		p       Policy
		wantErr string // "" for valid
	}{
		{Policy{Kind: FullJitter, Base: ms, Cap: time.Second}, ""},
		{Policy{Kind: Exponential, Base: ms}, ""},
		{Policy{Kind: Immediate}, ""},
		{Policy{Kind: Fixed}, ""},
		{Policy{}, "kind Kind(0)"},
		{Policy{Kind: 9, Base: ms}, "kind Kind(9)"},
		{Policy{Kind: FullJitter, Cap: time.Second}, "needs a base above 0"},
		{Policy{Kind: DecorrelatedJitter, Base: time.Second, Cap: ms}, "cap 1ms is below base 1s"},
		{Policy{Kind: Fixed, Base: -1}, "negative duration"},
		{Policy{Kind: Fixed, ResetAfter: -1}, "negative duration"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.p, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tt.p, err, tt.wantErr)
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Next with Kind(0) did not panic")
		}
	}()
	Policy{}.Next(&State{}, 0)
}

func TestStateIsTiny(t *testing.T) {
	if n := unsafe.Sizeof(State{}); n > 16 {
		t.Errorf("State is %d bytes; a fleet keeps one per camera, keep it at 16", n)
	}
}

func TestUniform(t *testing.T) {
	seen := map[float64]bool{}
	for cam := range 100 {
		for a := range uint32(100) {
			u := Uniform(42, cam, a)
			if u < 0 || u >= 1 {
				t.Fatalf("Uniform(42, %d, %d) = %v, outside [0,1)", cam, a, u)
			}
			if u != Uniform(42, cam, a) {
				t.Fatalf("Uniform is not deterministic")
			}
			seen[u] = true
		}
	}
	if len(seen) != 100*100 {
		t.Errorf("%d distinct values for 10,000 inputs", len(seen))
	}
	if Uniform(1, 7, 0) == Uniform(2, 7, 0) || Uniform(1, 7, 0) == Uniform(1, 8, 0) || Uniform(1, 7, 0) == Uniform(1, 7, 1) {
		t.Errorf("seed, cam or attempt does not change the draw")
	}
}

// Full-jitter spreads 10,000 cameras' first retries evenly over [0, base).
// Uniform is deterministic, so this cannot flake: it fails only if the hash
// or the formula clumps.
func TestFullJitterSpreads(t *testing.T) {
	p := Policy{Kind: FullJitter, Base: 10 * time.Second, Cap: time.Minute}
	const cams, bins = 10_000, 20
	for _, seed := range []uint64{0, 1, 42, 1 << 63} {
		var count [bins]int
		for cam := range cams {
			var st State
			d := p.Next(&st, Uniform(seed, cam, st.Attempt))
			if d < 0 || d >= p.Base {
				t.Fatalf("first full-jitter retry %v outside [0, %v)", d, p.Base)
			}
			count[d*bins/p.Base]++
		}
		const want = cams / bins
		chi2 := 0.0
		for i, n := range count {
			if n < want*8/10 || n > want*12/10 {
				t.Errorf("seed %d: bin %d holds %d retries, want %d ± 20%%", seed, i, n, want)
			}
			chi2 += float64((n-want)*(n-want)) / want
		}
		// 19 degrees of freedom: a fair draw exceeds 43.8 once in a
		// thousand seeds.
		if chi2 > 43.8 {
			t.Errorf("seed %d: chi² = %.1f over %d bins, want < 43.8; counts %v", seed, chi2, bins, count)
		}
	}
}
