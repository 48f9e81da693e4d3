package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/herd-drill/herd/catalog"
)

// Units of threshold metrics, the values of MetricInfo.Unit.
const (
	UnitMillis = catalog.UnitMillis
	UnitRatio  = catalog.UnitRatio
	UnitCount  = catalog.UnitCount
)

// MetricInfo describes one metric a threshold can test (package catalog
// holds them).
type MetricInfo = catalog.Metric

// Metrics returns the metrics thresholds can test, violations first.
func Metrics() []MetricInfo { return catalog.Metrics() }

// LookupMetric returns the metric called name.
func LookupMetric(name string) (MetricInfo, bool) { return catalog.LookupMetric(name) }

// Threshold is one condition a drill must meet, such as "recovery.t99 < 60s".
type Threshold struct {
	// Expr is the condition as written.
	Expr string `json:"expr"`
	// Metric is the metric's name, one of Metrics.
	Metric string `json:"metric"`
	// Op is one of < <= > >= == !=.
	Op string `json:"op"`
	// Value is normalised to the metric's unit: durations in milliseconds,
	// percentages as fractions (1% = 0.01), plain numbers as they are.
	Value float64 `json:"value"`
	// Line is the threshold's line in its file, 0 when built in code.
	Line int `json:"-"`
}

var ops = []string{"<", "<=", ">", ">=", "==", "!="}

// Check reports whether v, a measurement in the metric's unit, meets the
// threshold. NaN (no measurement) meets none: a promise cannot be shown to
// hold without data.
func (t Threshold) Check(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch t.Op {
	case "<":
		return v < t.Value
	case "<=":
		return v <= t.Value
	case ">":
		return v > t.Value
	case ">=":
		return v >= t.Value
	case "==":
		return v == t.Value
	case "!=":
		return v != t.Value
	}
	return false
}

// String returns the threshold as written, or as herd would write it when
// it was built in code.
func (t Threshold) String() string {
	if t.Expr != "" {
		return t.Expr
	}
	v := strconv.FormatFloat(t.Value, 'g', -1, 64)
	if m, ok := LookupMetric(t.Metric); ok {
		switch m.Unit {
		case UnitMillis:
			v += "ms"
		case UnitRatio:
			v = strconv.FormatFloat(t.Value*100, 'g', -1, 64) + "%"
		}
	}
	return t.Metric + " " + t.Op + " " + v
}

// MarshalYAML writes the threshold as its expression, the way files hold it.
func (t Threshold) MarshalYAML() (any, error) { return t.String(), nil }

const thresholdExample = "write METRIC OP VALUE, e.g. recovery.t99 < 60s, with OP one of < <= > >= == !="

// ParseThreshold parses "METRIC OP VALUE". VALUE must be written in the
// metric's unit: a duration ("60s", "250ms") for times, a percentage ("5%")
// or a fraction for ratios, a plain number for counts. Errors are *Error
// with a remedy and no file or line.
func ParseThreshold(expr string) (Threshold, error) {
	expr = strings.TrimSpace(expr)
	fail := func(msg, remedy string) (Threshold, error) {
		return Threshold{}, &Error{Msg: msg, Remedy: remedy}
	}
	if expr == "" {
		return fail("empty threshold", thresholdExample)
	}
	i := strings.IndexAny(expr, "<>=!")
	if i < 0 {
		return fail(fmt.Sprintf("no comparison in %q", expr), thresholdExample)
	}
	metric := strings.TrimSpace(expr[:i])
	j := i
	for j < len(expr) && strings.IndexByte("<>=!", expr[j]) >= 0 {
		j++
	}
	op, value := expr[i:j], strings.TrimSpace(expr[j:])
	switch op {
	case "<", "<=", ">", ">=", "==", "!=":
	case "=":
		return fail("= is not a comparison", "use == to test equality")
	case "=<", "=>":
		return fail(op+" is not a comparison", "did you mean "+string(op[1])+"=?")
	default:
		return fail(fmt.Sprintf("unknown comparison %q", op), "use one of < <= > >= == !=")
	}
	if metric == "" {
		return fail("no metric before "+op, thresholdExample)
	}
	m, ok := LookupMetric(metric)
	if !ok {
		remedy := "see herd scenarios metrics for the list"
		if s := suggest(metric, catalog.MetricNames()); s != "" {
			remedy = "did you mean " + s + "? " + remedy
		}
		return fail(fmt.Sprintf("unknown metric %q", metric), remedy)
	}
	if value == "" {
		return fail("no value after "+op, thresholdExample)
	}
	v, unit, err := parseThresholdValue(value)
	if err != nil {
		return fail(fmt.Sprintf("bad value %q", value), "write a plain number (10), a percentage (5%) or a duration (60s)")
	}
	if v < 0 {
		return fail(fmt.Sprintf("negative value %s", value), "metrics are never negative")
	}
	if msg, remedy := unitMismatch(m, value, unit, v); msg != "" {
		return fail(msg, remedy)
	}
	return Threshold{Expr: expr, Metric: metric, Op: op, Value: v}, nil
}

// parseThresholdValue reads a threshold's value and the unit it was written
// in: UnitMillis for a duration, UnitRatio for a percentage, "" for a plain
// number (which counts and ratios both take).
func parseThresholdValue(s string) (float64, string, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := parseFinite(strings.TrimSpace(p))
		return f / 100, UnitRatio, err
	}
	if c := s[len(s)-1]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		d, err := parseDuration(s)
		if err != nil {
			return 0, "", err
		}
		return float64(d) / 1e6, UnitMillis, nil
	}
	f, err := parseFinite(s)
	return f, "", err
}

func parseFinite(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		err = fmt.Errorf("%q is not a finite number", s)
	}
	return f, err
}

// unitMismatch explains why value, written in unit, does not fit metric m,
// or returns "" when it does.
func unitMismatch(m MetricInfo, value, unit string, v float64) (msg, remedy string) {
	switch m.Unit {
	case UnitMillis:
		if unit != UnitMillis {
			return fmt.Sprintf("%s is a time but %s has no time unit", m.Name, value),
				"write a duration such as 5s or 250ms"
		}
	case UnitRatio:
		switch {
		case unit == UnitMillis:
			return fmt.Sprintf("%s is a ratio but %s is a duration", m.Name, value),
				"write a percentage or a fraction, e.g. 5% or 0.05"
		case v > 1:
			return fmt.Sprintf("%s is a ratio between 0 and 1, got %s", m.Name, value),
				"write a percentage or a fraction, e.g. 5% or 0.05"
		}
	case UnitCount:
		switch unit {
		case UnitMillis:
			return fmt.Sprintf("%s is a count but %s is a duration", m.Name, value),
				"write a plain number, e.g. " + m.Name + " == 0"
		case UnitRatio:
			return fmt.Sprintf("%s is a count but %s is a percentage", m.Name, value),
				"write a plain number, or test a rate such as errors.rate"
		}
	}
	return "", ""
}
