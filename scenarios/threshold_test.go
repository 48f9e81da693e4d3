package scenarios

import (
	"math"
	"strings"
	"testing"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		expr    string
		want    Threshold // Expr is filled in from expr when Err is ""
		wantErr string
	}{
		// Units: durations in ms, percentages as fractions, counts as is.
		{expr: "recovery.t99 < 60s", want: Threshold{Metric: "recovery.t99", Op: "<", Value: 60000}},
		{expr: "connect.p99<=250ms", want: Threshold{Metric: "connect.p99", Op: "<=", Value: 250}},
		{expr: "ack.mean > 1.5s", want: Threshold{Metric: "ack.mean", Op: ">", Value: 1500}},
		{expr: "live.max >= 2m", want: Threshold{Metric: "live.max", Op: ">=", Value: 120000}},
		{expr: "first_ack.p50 < 500us", want: Threshold{Metric: "first_ack.p50", Op: "<", Value: 0.5}},
		{expr: "errors.rate < 5%", want: Threshold{Metric: "errors.rate", Op: "<", Value: 0.05}},
		{expr: "errors.rate < 0.5 %", want: Threshold{Metric: "errors.rate", Op: "<", Value: 0.005}},
		{expr: "errors.rate != 0.25", want: Threshold{Metric: "errors.rate", Op: "!=", Value: 0.25}},
		{expr: "  violations.idor == 0  ", want: Threshold{Metric: "violations.idor", Op: "==", Value: 0}},
		{expr: "events.acked > 1e3", want: Threshold{Metric: "events.acked", Op: ">", Value: 1000}},

		{expr: "", wantErr: "empty threshold (write METRIC OP VALUE, e.g. recovery.t99 < 60s, with OP one of < <= > >= == !=)"},
		{expr: "recovery.t99", wantErr: `no comparison in "recovery.t99" (write METRIC OP VALUE, e.g. recovery.t99 < 60s, with OP one of < <= > >= == !=)`},
		{expr: "< 5s", wantErr: "no metric before < (write METRIC OP VALUE, e.g. recovery.t99 < 60s, with OP one of < <= > >= == !=)"},
		{expr: "connect.p99 <", wantErr: "no value after < (write METRIC OP VALUE, e.g. recovery.t99 < 60s, with OP one of < <= > >= == !=)"},
		{expr: "connect.p99 =< 5s", wantErr: "=< is not a comparison (did you mean <=?)"},
		{expr: "connect.p99 => 5s", wantErr: "=> is not a comparison (did you mean >=?)"},
		{expr: "connect.p99 <> 5s", wantErr: `unknown comparison "<>" (use one of < <= > >= == !=)`},
		{expr: "connect.p95 < 5s", wantErr: `unknown metric "connect.p95" (did you mean connect.p90? see herd scenarios metrics for the list)`},
		{expr: "latency < 5s", wantErr: `unknown metric "latency" (see herd scenarios metrics for the list)`},
		{expr: "connect.p99 < fast", wantErr: `bad value "fast" (write a plain number (10), a percentage (5%) or a duration (60s))`},
		{expr: "connect.p99 < NaN", wantErr: `bad value "NaN" (write a plain number (10), a percentage (5%) or a duration (60s))`},
		{expr: "errors.total < Inf", wantErr: `bad value "Inf" (write a plain number (10), a percentage (5%) or a duration (60s))`},
		{expr: "errors.total > -1", wantErr: "negative value -1 (metrics are never negative)"},
		{expr: "connect.p99 > -1s", wantErr: "negative value -1s (metrics are never negative)"},
		// A value in another unit than the metric's is refused both ways.
		{expr: "connect.p99 < 5000", wantErr: "connect.p99 is a time but 5000 has no time unit (write a duration such as 5s or 250ms)"},
		{expr: "connect.p99 < 5%", wantErr: "connect.p99 is a time but 5% has no time unit (write a duration such as 5s or 250ms)"},
		{expr: "violations.total < 1s", wantErr: "violations.total is a count but 1s is a duration (write a plain number, e.g. violations.total == 0)"},
		{expr: "events.lost < 1%", wantErr: "events.lost is a count but 1% is a percentage (write a plain number, or test a rate such as errors.rate)"},
		{expr: "errors.rate < 1s", wantErr: "errors.rate is a ratio but 1s is a duration (write a percentage or a fraction, e.g. 5% or 0.05)"},
		{expr: "errors.rate < 5", wantErr: "errors.rate is a ratio between 0 and 1, got 5 (write a percentage or a fraction, e.g. 5% or 0.05)"},
		{expr: "errors.rate < 150%", wantErr: "errors.rate is a ratio between 0 and 1, got 150% (write a percentage or a fraction, e.g. 5% or 0.05)"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := ParseThreshold(tt.expr)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseThreshold = %+v, want error %q", got, tt.wantErr)
				}
				if err.Error() != tt.wantErr {
					t.Errorf("error\ngot  %s\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Expr = got.Expr
			if got != want || got.Expr == "" {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestThresholdCheck(t *testing.T) {
	tests := []struct {
		expr string
		v    float64
		want bool
	}{
		{"recovery.t99 < 60s", 59999, true},
		{"recovery.t99 < 60s", 60000, false},
		{"recovery.t99 <= 60s", 60000, true},
		{"recovery.t99 <= 60s", 60000.1, false},
		{"events.acked > 10", 11, true},
		{"events.acked > 10", 10, false},
		{"events.acked >= 10", 10, true},
		{"violations.total == 0", 0, true},
		{"violations.total == 0", 1, false},
		{"errors.total != 0", 1, true},
		{"errors.total != 0", 0, false},
		{"errors.rate < 5%", 0.049, true},
		{"errors.rate < 5%", 0.05, false},
		// No measurement proves nothing.
		{"connect.p99 < 5s", math.NaN(), false},
		{"errors.total != 0", math.NaN(), false},
		{"connect.p99 < 5s", math.Inf(1), false},
	}
	for _, tt := range tests {
		th, err := ParseThreshold(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := th.Check(tt.v); got != tt.want {
			t.Errorf("%q.Check(%v) = %v, want %v", tt.expr, tt.v, got, tt.want)
		}
	}
	if (Threshold{Op: "~", Value: 1}).Check(1) {
		t.Error("a threshold with an unknown op passed")
	}
}

func TestThresholdString(t *testing.T) {
	tests := []struct {
		t    Threshold
		want string
	}{
		{Threshold{Expr: "errors.rate<5%", Metric: "errors.rate", Op: "<", Value: 0.05}, "errors.rate<5%"},
		{Threshold{Metric: "errors.rate", Op: "<", Value: 0.05}, "errors.rate < 5%"},
		{Threshold{Metric: "recovery.t99", Op: "<", Value: 1500}, "recovery.t99 < 1500ms"},
		{Threshold{Metric: "events.lost", Op: "==", Value: 0}, "events.lost == 0"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		// What String writes parses back to the same threshold.
		back, err := ParseThreshold(tt.t.String())
		if err != nil {
			t.Fatalf("ParseThreshold(%q): %v", tt.t.String(), err)
		}
		if back.Metric != tt.t.Metric || back.Op != tt.t.Op || math.Abs(back.Value-tt.t.Value) > 1e-12 {
			t.Errorf("ParseThreshold(%q) = %+v, want %+v", tt.t.String(), back, tt.t)
		}
	}
}

func TestMetrics(t *testing.T) {
	ms := Metrics()
	// 8 violation metrics, 5 exposure, 4 recovery, 2 first_ack, 6
	// histograms (puback among them) × 6, then errors.rate, errors.total,
	// shed.rate, shed.total, events.lost, events.acked, generator.lag_p99.
	if got, want := len(ms), 8+5+4+2+36+7; got != want {
		t.Errorf("%d metrics, want %d", got, want)
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.Name] {
			t.Errorf("metric %s listed twice", m.Name)
		}
		seen[m.Name] = true
		if m.Unit != UnitMillis && m.Unit != UnitRatio && m.Unit != UnitCount {
			t.Errorf("metric %s has unit %q", m.Name, m.Unit)
		}
		if m.Help == "" {
			t.Errorf("metric %s has no help", m.Name)
		}
		if got, ok := LookupMetric(m.Name); !ok || got != m {
			t.Errorf("LookupMetric(%q) = %+v, %v", m.Name, got, ok)
		}
	}
	for name, unit := range map[string]string{
		"violations.cross_account": UnitCount, "violations.idor": UnitCount, "recovery.t100": UnitMillis,
		"first_ack.p99": UnitMillis, "thumbnail.p999": UnitMillis, "live.mean": UnitMillis,
		"errors.rate": UnitRatio, "errors.total": UnitCount, "events.lost": UnitCount,
		"events.acked": UnitCount, "generator.lag_p99": UnitMillis,
	} {
		if m, ok := LookupMetric(name); !ok || m.Unit != unit {
			t.Errorf("LookupMetric(%q) = %+v, %v; want unit %s", name, m, ok, unit)
		}
	}
	// Metrics returns a copy: callers cannot change the table.
	ms[0].Name = "changed"
	if Metrics()[0].Name == "changed" {
		t.Error("Metrics shares its table with callers")
	}
}

// A threshold no run can meet is refused with its file, line and field.
func TestImpossibleThresholdsAreRefused(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"violations.total < 0", "t.yaml:5: thresholds[0]: violations.total < 0 can never hold"},
		{"errors.rate > 100%", "t.yaml:5: thresholds[0]: errors.rate > 100% can never hold"},
		{"recovery.t99 < 0s", "t.yaml:5: thresholds[0]: recovery.t99 < 0"},
	} {
		src := "name: x\nfleet: {cameras: 10}\nphases: [{kind: steady, duration: 1s}]\nthresholds:\n  - " + tc.expr + "\n"
		_, err := Parse("t.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.expr, err, tc.want)
		}
	}
	if _, err := Parse("t.yaml", []byte("name: x\nfleet: {cameras: 10}\nphases: [{kind: steady, duration: 1s}]\nthresholds: [violations.total == 0, errors.rate < 100%]\n")); err != nil {
		t.Errorf("possible thresholds refused: %v", err)
	}
}
