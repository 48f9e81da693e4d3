package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/herd-drill/herd/catalog"
	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/scenarios"
)

// DiffMetrics are the figures herd diff sets side by side, in order.
var DiffMetrics = []string{
	"violations.total", "exposure.viewers_listed", "exposure.viewers_opened", "exposure.viewers_watched", "exposure.victims", "exposure.devices_exposed",
	"recovery.t50", "recovery.t90", "recovery.t99", "recovery.t100",
	"connect.p50", "connect.p99", "ack.p50", "ack.p99", "first_ack.p99", "list.p99", "thumbnail.p99", "live.p99",
	"errors.rate", "errors.total", "shed.rate", "shed.total", "events.acked", "events.lost", "generator.lag_p99",
}

// DiffRow is one figure of two results side by side; nil where a result
// has no data for it.
type DiffRow struct {
	Metric string   `json:"metric"`
	Unit   string   `json:"unit"`
	Base   *float64 `json:"base"`
	New    *float64 `json:"new"`
	Change *float64 `json:"change"` // new − base
	Ratio  *float64 `json:"ratio"`  // new / base, when base is not 0
}

// Rule is a regression rule of herd diff: METRIC OP LIMIT, where LIMIT is
// a value in the metric's unit (60s, 1%, 10), or relative to the base
// result: F*base, base*F, base+V or base-V. A rule that holds is a
// regression.
type Rule struct {
	Expr     string
	Metric   string
	Op       string
	Factor   float64 // the base's factor; 0 for an absolute limit
	Offset   float64 // added to Factor × base, in the metric's unit
	Relative bool
}

// ParseRule reads a rule such as "recovery.t99 > 1.1*base".
func ParseRule(expr string) (Rule, error) {
	r := Rule{Expr: strings.TrimSpace(expr)}
	opAt, op := -1, ""
	for i := 0; i < len(r.Expr); i++ {
		if c := r.Expr[i]; c == '<' || c == '>' || c == '=' || c == '!' {
			opAt, op = i, string(c)
			if i+1 < len(r.Expr) && r.Expr[i+1] == '=' {
				op += "="
			}
			break
		}
	}
	bad := func(msg string) (Rule, error) {
		return Rule{}, fmt.Errorf("--fail-on %q: %s (write e.g. 'recovery.t99 > 1.1*base' or 'errors.rate > base+1%%' or 'violations.total > 0')", expr, msg)
	}
	if opAt < 0 {
		return bad("no comparison")
	}
	r.Metric, r.Op = strings.TrimSpace(r.Expr[:opAt]), op
	rhs := strings.ReplaceAll(strings.TrimSpace(r.Expr[opAt+len(op):]), " ", "")
	m, ok := catalog.LookupMetric(r.Metric)
	if !ok {
		return bad(fmt.Sprintf("unknown metric %q (see herd scenarios metrics)", r.Metric))
	}
	value := func(s string) (float64, error) { // s in the metric's unit, as a threshold writes it
		t, err := scenarios.ParseThreshold(m.Name + " " + op + " " + s)
		return t.Value, err
	}
	switch {
	case strings.Contains(rhs, "base"):
		r.Relative = true
		switch {
		case strings.HasSuffix(rhs, "*base"):
			f, err := strconv.ParseFloat(strings.TrimSuffix(rhs, "*base"), 64)
			if err != nil || f < 0 {
				return bad("the factor before *base is not a number")
			}
			r.Factor = f
		case strings.HasPrefix(rhs, "base*"):
			f, err := strconv.ParseFloat(strings.TrimPrefix(rhs, "base*"), 64)
			if err != nil || f < 0 {
				return bad("the factor after base* is not a number")
			}
			r.Factor = f
		case rhs == "base":
			r.Factor = 1
		case strings.HasPrefix(rhs, "base+"), strings.HasPrefix(rhs, "base-"):
			v, err := value(rhs[5:])
			if err != nil {
				return bad(err.Error())
			}
			r.Factor, r.Offset = 1, v
			if rhs[4] == '-' {
				r.Offset = -v
			}
		default:
			return bad("a relative limit is F*base, base*F, base+V or base-V")
		}
	default:
		v, err := value(rhs)
		if err != nil {
			return bad(err.Error())
		}
		r.Offset = v
	}
	if !strings.Contains("< <= > >= == !=", op) {
		return bad(fmt.Sprintf("unknown comparison %q", op))
	}
	return r, nil
}

// ParseRules reads every rule, or says what is wrong with each.
func ParseRules(exprs []string) ([]Rule, error) {
	var rules []Rule
	var errs []error
	for _, e := range exprs {
		r, err := ParseRule(e)
		if err != nil {
			errs = append(errs, err)
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// WriteDiffFile writes d's page to path, atomically.
func WriteDiffFile(path string, d *Diff) error {
	return atomicfile.Write(path, func(w io.Writer) error { return WriteDiffHTML(w, d) })
}

// RuleResult is a rule applied to two results.
type RuleResult struct {
	Rule  string   `json:"rule"`
	Unit  string   `json:"unit"`
	Limit *float64 `json:"limit"`
	New   *float64 `json:"new"`
	Fired bool     `json:"fired"` // the rule holds: a regression
	Note  string   `json:"note,omitempty"`
}

// Diff is two results side by side, and the rules applied to them.
type Diff struct {
	Schema string       `json:"schema"`
	Base   string       `json:"base"` // the results' files
	New    string       `json:"new"`
	Rows   []DiffRow    `json:"rows"`
	Rules  []RuleResult `json:"rules"`
}

// DiffSchema is the schema of herd diff's JSON.
const DiffSchema = "herd.diff/v1"

// NewDiff compares result n with result b (named baseName, newName) and
// applies rules.
func NewDiff(b, n *Result, baseName, newName string, rules []Rule) *Diff {
	d := &Diff{Schema: DiffSchema, Base: baseName, New: newName, Rows: []DiffRow{}, Rules: []RuleResult{}}
	bdoc, _ := json.Marshal(b)
	ndoc, _ := json.Marshal(n)
	get := func(doc []byte, metric string) *float64 {
		if v, ok := metricValue(doc, metric); ok {
			return &v
		}
		return nil
	}
	for _, name := range DiffMetrics {
		m, _ := catalog.LookupMetric(name)
		row := DiffRow{Metric: name, Unit: m.Unit, Base: get(bdoc, name), New: get(ndoc, name)}
		if row.Base != nil && row.New != nil {
			c := *row.New - *row.Base
			row.Change = &c
			if *row.Base != 0 {
				q := *row.New / *row.Base
				row.Ratio = &q
			}
		}
		d.Rows = append(d.Rows, row)
	}
	for _, r := range rules {
		m, _ := catalog.LookupMetric(r.Metric)
		rr := RuleResult{Rule: r.Expr, Unit: m.Unit, New: get(ndoc, r.Metric)}
		base := get(bdoc, r.Metric)
		switch {
		case r.Relative && base == nil:
			rr.Note = "no data in the base result"
		case rr.New == nil:
			rr.Note = "no data in the new result"
		default:
			limit := r.Offset
			if r.Relative {
				limit += r.Factor * *base
			}
			rr.Limit = &limit
			rr.Fired = scenarios.Threshold{Metric: r.Metric, Op: r.Op, Value: limit}.Check(*rr.New)
		}
		d.Rules = append(d.Rules, rr)
	}
	return d
}

// Regressed reports whether a rule fired.
func (d *Diff) Regressed() bool {
	for _, r := range d.Rules {
		if r.Fired {
			return true
		}
	}
	return false
}

// WriteDiffText writes d as a table for a terminal or a CI log.
func WriteDiffText(w io.Writer, d *Diff) error {
	p := &printer{w: w}
	p.f("herd diff  base %s\n           new  %s\n\n", d.Base, d.New)
	p.f("%-26s %14s %14s %14s %9s\n", "metric", "base", "new", "change", "ratio")
	for _, r := range d.Rows {
		p.f("%-26s %14s %14s %14s %9s\n", r.Metric, diffValue(r.Base, r.Unit), diffValue(r.New, r.Unit), diffChange(r.Change, r.Unit), diffRatio(r.Ratio))
	}
	if len(d.Rules) > 0 {
		p.f("\n")
		for _, r := range d.Rules {
			word := "ok        "
			if r.Fired {
				word = "REGRESSED "
			}
			p.f("%s %s", word, r.Rule)
			if r.Limit != nil && r.New != nil {
				p.f(": new %s, limit %s", diffValue(r.New, r.Unit), diffValue(r.Limit, r.Unit))
			}
			if r.Note != "" {
				p.f(" (%s)", r.Note)
			}
			p.f("\n")
		}
	}
	return p.err
}

func diffValue(v *float64, unit string) string {
	if v == nil {
		return "–"
	}
	return formatValue(*v, unit)
}

func diffChange(v *float64, unit string) string {
	if v == nil {
		return "–"
	}
	s := formatValue(math.Abs(*v), unit)
	if *v < 0 {
		return "−" + s
	}
	return "+" + s
}

func diffRatio(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("×%.2f", *v)
}

var diffTemplate = template.Must(template.New("diff").Funcs(template.FuncMap{
	"value": diffValue, "change": diffChange, "ratio": diffRatio,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>herd diff</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; color: #222; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: 0.25rem 0.6rem; border-bottom: 1px solid #e5e5e5; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.worse { color: #b71c1c; } .better { color: #2e7d32; }
.fired { background: #fdecea; font-weight: 600; }
code { font-size: 0.92em; }
</style></head><body>
<h1>herd diff</h1>
<p>base <code>{{.Base}}</code><br>new <code>{{.New}}</code></p>
{{- if .Rules}}
<h2>Rules</h2>
<table><tr><th></th><th>rule</th><th class="n">new</th><th class="n">limit</th><th>note</th></tr>
{{- range .Rules}}
<tr{{if .Fired}} class="fired"{{end}}><td>{{if .Fired}}REGRESSED{{else}}ok{{end}}</td><td><code>{{.Rule}}</code></td><td class="n">{{value .New .Unit}}</td><td class="n">{{value .Limit .Unit}}</td><td>{{.Note}}</td></tr>
{{- end}}
</table>
{{- end}}
<h2>Figures</h2>
<table><tr><th>metric</th><th class="n">base</th><th class="n">new</th><th class="n">change</th><th class="n">ratio</th></tr>
{{- range .Rows}}
<tr><td><code>{{.Metric}}</code></td><td class="n">{{value .Base .Unit}}</td><td class="n">{{value .New .Unit}}</td><td class="n">{{change .Change .Unit}}</td><td class="n">{{ratio .Ratio}}</td></tr>
{{- end}}
</table>
</body></html>
`))

// WriteDiffHTML writes d as one self-contained page.
func WriteDiffHTML(w io.Writer, d *Diff) error { return diffTemplate.Execute(w, d) }
