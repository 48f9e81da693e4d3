package reports

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/herd-drill/herd/catalog"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
)

// The HTML report is one self-contained file: uPlot (a small time-series
// chart library, MIT licensed, vendored from its npm package; see
// assets/README.md), the report's own script and styles are inlined, and a
// Content-Security-Policy forbids the page any request.
var (
	//go:embed assets/uPlot.iife.min.js
	uplotJS string
	//go:embed assets/uPlot.min.css
	uplotCSS string
	//go:embed assets/report.js
	reportJS string
	//go:embed assets/report.css
	reportCSS string
	//go:embed assets/report.html.tmpl
	reportHTML string
)

// uplotBanner is the library's first-line comment, which names its home
// page; the report replaces it with one that names no address, so that the
// page holds no external URL at all.
const uplotBanner = "/*! https://github.com/leeoniya/uPlot (v1.6.32) */"

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":       func(v float64) string { return formatValue(v, "ms") },
	"msp":      msp,
	"pct":      func(v float64) string { return formatValue(v, "ratio") },
	"measured": measured,
	"bytes":    func(v int64) string { return formatBytes(float64(v)) },
	"ubytes":   func(v uint64) string { return formatBytes(float64(v)) },
}).Parse(reportHTML))

// WriteHTML writes r as one self-contained HTML page for people: the
// verdict and failed thresholds first, then violations with their evidence,
// the recovery curve, connects and errors over time, latency percentiles
// over time, the scenario and fleet, and herd's own health. It reads well
// on a laptop and prints. Everything from r is escaped.
func WriteHTML(w io.Writer, r *Result) error {
	return htmlTemplate.Execute(w, newHTMLView(r))
}

// codeList is "404 ×10, 500 ×2": the statuses behind http_other.
func codeList(codes map[string]int64) string {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, codes[k])
	}
	return strings.Join(parts, ", ")
}

// pagePairs is how many viewer → victim pairs the page lists.
const pagePairs = 50

type htmlView struct {
	R                     *Result
	Verdict, VerdictClass string
	When, Ended, Duration string
	FailedThresholds      []ThresholdResult
	OtherReasons          []string
	Classes               []classRow
	Evidence              []evidenceRow
	MoreEvidence          bool
	Pairs                 []ExposurePair
	MorePairs             bool
	LatencyRows           []latencyRow
	LatencyStep           string
	ErrorRows             []errorRow
	Phases                []phaseRow
	ScenarioYAML          string
	ScenarioNote          string
	HasCurve              bool
	HasViolationsCurve    bool
	Charts                chartData
	UplotJS, JS           template.JS
	UplotCSS, CSS         template.CSS
}

type classRow struct {
	Name, Meaning string
	Count         int64
}

type evidenceRow struct {
	No                                                             int
	Class, Viewer, Owner, Device, Event, Path, Time, Since, Detail string
	Related                                                        string // "same device as #2"
}

type latencyRow struct {
	Name, Meaning string
	L             Latency
}

type errorRow struct {
	Class, Meaning, Remedy string
	N                      int64
	Shed                   bool
}

type phaseRow struct{ Name, Kind, Starts, Lasts string }

// chartData is what the page's script draws; x values are seconds since
// the curve's start.
type chartData struct {
	StepMs     int64     `json:"stepMs"`
	X          []float64 `json:"x"`
	Connected  []int64   `json:"connected"`
	Connects   []int64   `json:"connects"`
	Errors     []int64   `json:"errors"`
	Violations []int64   `json:"violations"` // null in results that predate it
	// ViolationsByClass is one series per class found, most first.
	ViolationsByClass []classSeries  `json:"violationsByClass"`
	Phases            []phaseMark    `json:"phases"`
	OutageEnds        []float64      `json:"outageEnds"`
	RecoveryMarks     []mark         `json:"recoveryMarks"`
	LatencyX          []float64      `json:"latencyX"`
	Latency           []latencyChart `json:"latency"`
}

type classSeries struct {
	Class  string  `json:"class"`
	Values []int64 `json:"values"`
}

type phaseMark struct {
	Name string  `json:"name"`
	Kind string  `json:"kind"`
	From float64 `json:"from"`
	To   float64 `json:"to"`
}

type mark struct {
	Label string  `json:"label"`
	At    float64 `json:"at"`
}

type latencyChart struct {
	Name string     `json:"name"`
	P50  []*float64 `json:"p50"`
	P99  []*float64 `json:"p99"`
}

// latencyOrder is the order of the latency table and charts, with what
// each histogram measures.
var latencyOrder = []struct{ name, meaning string }{
	{sim.HistConnect, "TCP, WebSocket upgrade and welcome, from the policy's attempt time"},
	{sim.HistAck, "an event's capture to its ack"},
	{sim.HistFirstAck, "a reconnect to the first ack on the new socket"},
	{sim.HistList, "an Events-tab page, from the poll's schedule"},
	{sim.HistThumbnail, "a thumbnail fetch"},
	{sim.HistLive, "a live-view request to its frame"},
	{sim.HistLag, "how late herd ran its own schedule"},
}

func newHTMLView(r *Result) *htmlView {
	v := &htmlView{
		R: r, Verdict: strings.ToUpper(r.Verdict), VerdictClass: r.Verdict,
		When: r.Started.UTC().Format("2006-01-02 15:04:05 UTC"), Ended: r.Ended.UTC().Format("15:04:05 UTC"),
		Duration: (time.Duration(r.DurationMs) * time.Millisecond).Round(100 * time.Millisecond).String(),
		UplotJS:  template.JS(strings.Replace(uplotJS, uplotBanner, "/*! uPlot v1.6.32, MIT License, (c) 2022 Leon Sorokin */", 1)),
		JS:       template.JS(reportJS), UplotCSS: template.CSS(uplotCSS), CSS: template.CSS(reportCSS),
	}
	if v.Verdict == "" {
		v.Verdict, v.VerdictClass = "NO VERDICT", Fail
	}
	for _, t := range r.Thresholds {
		if !t.Pass && t.Status != ThresholdNotMeasured {
			v.FailedThresholds = append(v.FailedThresholds, t)
		}
	}
	for _, reason := range r.Reasons {
		if !strings.HasPrefix(reason, "threshold failed: ") {
			v.OtherReasons = append(v.OtherReasons, reason)
		}
	}
	for _, c := range violationClasses(r) {
		v.Classes = append(v.Classes, classRow{Name: c, Count: r.Violations.Counts[c], Meaning: catalog.ClassHelp(c)})
	}
	for i, e := range r.Violations.Evidence {
		row := evidenceRow{
			No: i + 1, Related: relatedTo(r.Violations.Evidence[:i], e),
			Class: string(e.Class), Viewer: dash(e.Viewer), Owner: dash(e.Owner), Device: dash(e.Device),
			Event: dash(e.Event), Path: dash(evidencePath(e)), Since: "–", Detail: e.Detail,
			Time: time.UnixMilli(e.AtMs).UTC().Format("15:04:05.000"),
		}
		if e.SinceOutageEndS != nil {
			row.Since = fmt.Sprintf("%+.1f s", *e.SinceOutageEndS)
		}
		v.Evidence = append(v.Evidence, row)
	}
	v.MoreEvidence = int64(len(r.Violations.Evidence)) < r.Violations.Total
	v.Pairs = r.Exposure.Pairs
	if len(v.Pairs) > pagePairs {
		v.Pairs, v.MorePairs = v.Pairs[:pagePairs], true
	}
	known := map[string]bool{}
	for _, l := range latencyOrder {
		known[l.name] = true
		if lat, ok := r.Latency[l.name]; ok {
			v.LatencyRows = append(v.LatencyRows, latencyRow{Name: l.name, Meaning: l.meaning, L: lat})
		}
	}
	for _, name := range sortedKeys(r.Latency) {
		if !known[name] {
			v.LatencyRows = append(v.LatencyRows, latencyRow{Name: name, L: r.Latency[name]})
		}
	}
	for _, c := range sortedKeys(r.Errors.ByClass) {
		if n := r.Errors.ByClass[c]; n > 0 {
			ec, _ := catalog.LookupError(c)
			meaning := ec.Meaning
			if codes := r.Errors.HTTPOtherCodes; c == sim.ErrHTTPOther && len(codes) > 0 {
				meaning += ": " + codeList(codes)
			}
			v.ErrorRows = append(v.ErrorRows, errorRow{Class: c, N: n, Shed: ec.Shed, Meaning: meaning, Remedy: r.Errors.Remedies[c]})
		}
	}
	for _, p := range r.Phases {
		v.Phases = append(v.Phases, phaseRow{
			Name: p.Name, Kind: p.Kind,
			Starts: "+" + p.Start.Sub(r.Started).Round(100*time.Millisecond).String(),
			Lasts:  p.End.Sub(p.Start).Round(100 * time.Millisecond).String(),
		})
	}
	switch name, builtin := strings.CutPrefix(r.ScenarioSource, "builtin:"); {
	case r.ScenarioYAML != "":
		v.ScenarioYAML = r.ScenarioYAML
		v.ScenarioNote = "The scenario as it ran: every default, command-line override and time scale applied."
	case builtin:
		// Results from before scenario_yaml: the built-in as this herd ships it.
		if src, ok := scenarios.BuiltinSource(name); ok {
			v.ScenarioYAML = string(src)
			v.ScenarioNote = "The built-in scenario " + name + " as this herd ships it; this result does not record the scenario as run, so command-line overrides (--cameras, --seed, --policy, --time-scale) are not in this text: the fleet above is what ran."
		}
	}
	v.LatencyStep = (time.Duration(r.Curve.LatencyStepMs) * time.Millisecond).String()
	v.Charts = chartsOf(r)
	v.HasCurve = len(v.Charts.X) > 0
	v.HasViolationsCurve = v.Charts.Violations != nil
	return v
}

// chartsOf turns r's curve into the charts' series. A series shorter than
// the x axis (a result cut short mid-sample) is padded, so that uPlot gets
// aligned arrays.
func chartsOf(r *Result) chartData {
	c := r.Curve
	d := chartData{StepMs: c.StepMs, Phases: []phaseMark{}, OutageEnds: []float64{}, RecoveryMarks: []mark{}, Latency: []latencyChart{}}
	if c.StepMs <= 0 || c.Start.IsZero() || len(c.Connected) == 0 {
		return d
	}
	since := func(t time.Time) float64 { return math.Round(t.Sub(c.Start).Seconds()*1000) / 1000 }
	n := len(c.Connected)
	d.X = make([]float64, n)
	for i := range d.X {
		d.X[i] = float64(int64(i+1)*c.StepMs) / 1000 // a sample closes its step
	}
	d.Connected = c.Connected
	d.Connects, d.Errors = pad(c.Connects, n), pad(c.Errors, n)
	if c.Violations != nil {
		d.Violations = pad(c.Violations, n)
	}
	d.ViolationsByClass = []classSeries{}
	for class, vs := range c.ViolationsByClass {
		d.ViolationsByClass = append(d.ViolationsByClass, classSeries{Class: class, Values: pad(vs, n)})
	}
	total := func(s classSeries) (t int64) {
		for _, v := range s.Values {
			t += v
		}
		return t
	}
	slices.SortFunc(d.ViolationsByClass, func(a, b classSeries) int {
		return cmp.Or(cmp.Compare(total(b), total(a)), cmp.Compare(a.Class, b.Class))
	})
	for _, p := range r.Phases {
		d.Phases = append(d.Phases, phaseMark{Name: p.Name, Kind: p.Kind, From: since(p.Start), To: since(p.End)})
	}
	for _, e := range r.OutageEnds {
		d.OutageEnds = append(d.OutageEnds, since(e))
	}
	// T-values are times from each camera's own outage end; drawn after the
	// plan's outage end only when there is exactly one, where they mean
	// what they seem to.
	if len(r.OutageEnds) == 1 {
		end := since(r.OutageEnds[0])
		for _, t := range []struct {
			label string
			v     *float64
		}{{"T50", r.Recovery.T50Ms}, {"T90", r.Recovery.T90Ms}, {"T99", r.Recovery.T99Ms}, {"T100", r.Recovery.T100Ms}} {
			if t.v != nil {
				d.RecoveryMarks = append(d.RecoveryMarks, mark{Label: t.label + " " + formatValue(*t.v, "ms"), At: end + *t.v/1000})
			}
		}
	}
	if c.LatencyStepMs > 0 && len(c.Latency) > 0 {
		points := 0
		for _, s := range c.Latency {
			points = max(points, len(s.P50Ms), len(s.P99Ms))
		}
		d.LatencyX = make([]float64, points)
		for i := range d.LatencyX {
			// A point is drawn at the middle of its interval.
			d.LatencyX[i] = (float64(i) + 0.5) * float64(c.LatencyStepMs) / 1000
		}
		order := make([]string, 0, len(c.Latency))
		for _, l := range latencyOrder {
			order = append(order, l.name)
		}
		for _, name := range sortedKeys(c.Latency) {
			if !slices.Contains(order, name) {
				order = append(order, name)
			}
		}
		for _, name := range order {
			s, ok := c.Latency[name]
			if !ok || !anyValue(s.P99Ms) {
				continue
			}
			d.Latency = append(d.Latency, latencyChart{Name: name, P50: padPtr(s.P50Ms, points), P99: padPtr(s.P99Ms, points)})
		}
	}
	return d
}

func pad(s []int64, n int) []int64 {
	out := make([]int64, n)
	copy(out, s)
	return out
}

func padPtr(s []*float64, n int) []*float64 {
	out := make([]*float64, n)
	copy(out, s)
	return out
}

func anyValue(s []*float64) bool {
	for _, v := range s {
		if v != nil {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func formatBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}
