package scenarios

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDurationString(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{250 * time.Millisecond, "250ms"},
		{1500 * time.Millisecond, "1.5s"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{time.Hour + 30*time.Minute, "1h30m"},
		{time.Hour + 30*time.Second, "1h0m30s"},
	}
	for _, tt := range tests {
		d := Duration{tt.d}
		if got := d.String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.d, got, tt.want)
		}
		out, err := yaml.Marshal(struct{ D Duration }{d})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(out), "d: "+tt.want+"\n"; got != want {
			t.Errorf("yaml.Marshal = %q, want %q", got, want)
		}
		var back Duration
		if err := back.UnmarshalText([]byte(tt.want)); err != nil || back != d {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", tt.want, back, err, d)
		}
	}
}

func TestDurationUnmarshalText(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"10s", 10 * time.Second, false},
		{"0", 0, false},
		{" 2m ", 2 * time.Minute, false},
		{"10", 0, true}, // seconds or milliseconds? refuse to guess
		{"1.", 0, true},
		{"", 0, true},
		{"ten seconds", 0, true},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.wantErr || d.Duration != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, error %v", tt.in, d, err, tt.want, tt.wantErr)
		}
	}
}

func TestScenarioJSON(t *testing.T) {
	s, err := Load(Default)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"source":"builtin:aws-outage"`, `"poll":"5s"`, `"duration":"40s"`, `"expr":"recovery.t99 \u003c 60s"`, `"value":60000`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("JSON lacks %s:\n%s", want, out)
		}
	}
}

func TestScaled(t *testing.T) {
	s, err := Parse("t.yaml", []byte(`
app: {poll: 4s, surge_window: 2s}
reconnect: {base: 1s, cap: 30s, reset_after: 20s}
phases:
  - {kind: steady, duration: 10s}
  - {kind: outage, duration: 1m, down: 10s, stagger: 50s, repeat: 2}
thresholds: [recovery.t99 < 60s, errors.rate < 5%]
`))
	if err != nil {
		t.Fatal(err)
	}
	before := comparable(s)
	got := s.Scaled(0.5)

	want := comparable(s)
	want.App.Poll.Duration = 2 * time.Second
	want.App.SurgeWindow.Duration = time.Second
	want.Reconnect.Base.Duration = 500 * time.Millisecond
	want.Reconnect.Cap.Duration = 15 * time.Second
	want.Reconnect.ResetAfter.Duration = 10 * time.Second
	want.Phases[0].Duration.Duration = 5 * time.Second
	want.Phases[1].Duration.Duration = 30 * time.Second
	want.Phases[1].Down.Duration = 5 * time.Second
	want.Phases[1].Stagger.Duration = 25 * time.Second
	// Thresholds are promises about the target and stay as they are.
	if c := comparable(got); !reflect.DeepEqual(c, want) {
		t.Errorf("Scaled(0.5):\ngot  %+v\nwant %+v", c, want)
	}
	if got.Total() != s.Total()/2 {
		t.Errorf("Total() = %v, want %v", got.Total(), s.Total()/2)
	}
	// The original is untouched, slices included.
	got.Phases[0].Name = "changed"
	got.Thresholds[0].Expr = "changed"
	got.Camera.Kinds[0] = "changed"
	if !reflect.DeepEqual(comparable(s), before) {
		t.Errorf("Scaled changed its receiver")
	}
}

func TestScaledStaysValid(t *testing.T) {
	// Stagger + down == duration is as tight as it gets; odd factors round
	// each duration separately.
	s, err := Parse("t.yaml", []byte("phases:\n  - {kind: outage, duration: 7s, down: 3s, stagger: 4s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []float64{1, 1.0 / 3, 0.123456789, 1e-6, 1e-12, 2.5} {
		sc := s.Scaled(f)
		if errs := sc.Validate(); len(errs) > 0 {
			t.Errorf("Scaled(%v).Validate() = %v", f, errs)
		}
		if sc.Phases[0].Duration.Duration <= 0 {
			t.Errorf("Scaled(%v) made a phase last %v", f, sc.Phases[0].Duration)
		}
	}
}

func TestScaledPanicsOnBadFactor(t *testing.T) {
	for _, f := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Scaled(%v) did not panic", f)
				}
			}()
			Defaults().Scaled(f)
		}()
	}
}

func TestTotalSaturates(t *testing.T) {
	s := &Scenario{Phases: []Phase{
		{Duration: Duration{math.MaxInt64 / 2}, Repeat: 3},
		{Duration: Duration{time.Hour}, Repeat: 1},
	}}
	if got := s.Total(); got != math.MaxInt64 {
		t.Errorf("Total() = %v, want the largest duration", got)
	}
}

func TestZones(t *testing.T) {
	tests := []struct {
		fraction float64
		want     int
	}{{1, 1}, {0.5, 2}, {0.34, 3}, {0.33, 3}, {0.25, 4}, {0.2, 5}, {0.7, 1}, {0, 1}, {1e-9, maxZones}}
	for _, tt := range tests {
		if got := (Phase{Fraction: tt.fraction}).Zones(); got != tt.want {
			t.Errorf("Zones() with fraction %v = %d, want %d", tt.fraction, got, tt.want)
		}
	}
}

// TestValidateInCode covers scenarios built without a file: errors carry no
// line, and zero values are judged as written.
func TestValidateInCode(t *testing.T) {
	s := Defaults()
	s.Name = "coded"
	if got := s.Validate(); len(got) != 1 || got[0].Error() != "phases: no phases (add at least one, e.g. phases: [{kind: steady, duration: 30s}])" {
		t.Errorf("Validate() = %v", got)
	}

	s.Phases = []Phase{
		{Name: "warm", Kind: KindSteady, Duration: Duration{time.Second}, Repeat: 1, Mode: ModeReset},
		{Name: "cut", Kind: KindOutage, Duration: Duration{time.Second}, Repeat: 1, Fraction: 1, Select: SelectRandom, Mode: ModeReset},
	}
	s.Thresholds = []Threshold{{Metric: "nope", Op: "<", Value: 1}, {Metric: "errors.rate", Op: "<", Value: 2}}
	var got []string
	for _, e := range s.Validate() {
		got = append(got, e.Error())
	}
	want := []string{
		"phases[0].mode: applies only to outage phases (remove it, or make this phase kind: outage)",
		"phases[1].down: must be more than 0, got 0s (write e.g. down: 5s, or leave it out to stay down the whole phase)",
		`thresholds[0]: unknown metric "nope" (see herd scenarios metrics for the list)`,
		"thresholds[1]: errors.rate is a ratio between 0 and 1, got 2 (write a percentage or a fraction, e.g. 5% or 0.05)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Validate():\ngot  %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Field: "fleet.cameras", Msg: "bad", Remedy: "fix it"}, "a.yaml:3: fleet.cameras: bad (fix it)"},
		{Error{File: "a.yaml", Field: "phases", Msg: "bad"}, "a.yaml: phases: bad"},
		{Error{Line: 3, Msg: "bad"}, "line 3: bad"},
		{Error{Msg: "bad", Remedy: "fix it"}, "bad (fix it)"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"events_per_minute", "thumb_bytes", "frame_bytes", "backlog", "kinds"}
	tests := []struct{ in, want string }{
		{"evnts_per_minute", "events_per_minute"},
		{"eventsPerMinute", "events_per_minute"},
		{"events-per-minute", "events_per_minute"},
		{"thumb_byte", "thumb_bytes"},
		{"kind", "kinds"},
		{"color", ""},
		{"x", ""},
		{strings.Repeat("a", 10000), ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, names); got != tt.want {
			t.Errorf("suggest(%.20q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
