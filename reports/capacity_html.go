package reports

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteCapacityHTML writes c as one self-contained HTML page (no scripts,
// no external requests): the knee, throughput against size with the
// fitted USL curve, recovery T99/T100 against size, and a table of the
// drills. The plots are inline SVG.
func WriteCapacityHTML(w io.Writer, c *Capacity) error {
	v := capacityView{
		C:          c,
		Clean:      c.Knee.Cameras > 0 && len(c.Knee.FailedBelow) == 0,
		Throughput: template.HTML(throughputSVG(c)), // built from numbers and escaped text only
		Recovery:   template.HTML(recoverySVG(c)),
		FitText:    fitText(c),
	}
	return capacityPage.Execute(w, v)
}

type capacityView struct {
	C          *Capacity
	Clean      bool
	Throughput template.HTML
	Recovery   template.HTML
	FitText    []string
}

var capacityPage = template.Must(template.New("capacity").Funcs(template.FuncMap{
	"msp": msp,
	"ms":  func(v float64) string { return formatValue(v, "ms") },
	"pct": func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) },
	"eps": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>herd capacity: {{.C.Scenario}}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; color: #222; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #666; margin-top: 0; }
.knee { padding: 0.6rem 0.8rem; border-left: 4px solid #2e7d32; background: #f1f8f1; }
.leak { padding: 0.6rem 0.8rem; border-left: 4px solid #b71c1c; background: #fdecea; }
.knee.warn { border-color: #ef6c00; background: #fff6ec; }
figure { margin: 0; }
figcaption { color: #555; font-size: 0.9rem; }
svg { width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
svg .grid { stroke: #e6e6e6; }
svg .axis { stroke: #333; }
svg .curve { fill: none; stroke: #1565c0; stroke-width: 2; }
svg .pass { fill: #2e7d32; }
svg .fail { fill: #c62828; }
svg .never { fill: none; stroke: #c62828; stroke-width: 1.5; }
svg .knee-line { stroke: #555; stroke-dasharray: 6 4; }
svg .peak { fill: #fff; stroke: #1565c0; stroke-width: 2; }
svg .t99 { fill: none; stroke: #1565c0; stroke-width: 2; }
svg .t100 { fill: none; stroke: #ef6c00; stroke-width: 2; }
svg .m99 { fill: #1565c0; }
svg .m100 { fill: #ef6c00; }
.dot { display: inline-block; width: 0.7em; height: 0.7em; border-radius: 50%; }
.dot.pass { background: #2e7d32; } .dot.fail { background: #c62828; }
.key99 { color: #1565c0; } .key100 { color: #ef6c00; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: right; padding: 0.25rem 0.5rem; border-bottom: 1px solid #ddd; }
th:last-child, td:last-child, td.list { text-align: left; }
tr.fail td:nth-child(2) { color: #c62828; font-weight: 600; }
</style>
</head>
<body>
<h1>Capacity: {{.C.Scenario}}</h1>
{{- with .C.LeakSentence}}
<p class="leak"><strong>Leak.</strong> {{.}}</p>
{{- end}}
<p class="meta">seed {{.C.Seed}} · {{len .C.Points}} drills · {{.C.Schema}}</p>

<h2>Knee</h2>
<p class="knee{{if not .Clean}} warn{{end}}">{{.C.Knee.Note}}</p>

<h2>Throughput</h2>
<figure>
{{.Throughput}}
<figcaption>Events acknowledged per second against fleet size: <span class="dot pass"></span> passed, <span class="dot fail"></span> failed; the line is the fitted Universal Scalability Law, the dashed line the knee.</figcaption>
</figure>
{{range .FitText}}<p>{{.}}</p>
{{end}}
<h2>Recovery</h2>
<figure>
{{.Recovery}}
<figcaption>Time for 99% (<span class="key99">T99</span>) and all (<span class="key100">T100</span>) of the cameras to reconnect after the outage ended; an open triangle at the top means that share never came back.</figcaption>
</figure>

<h2>Drills</h2>
<table>
<thead><tr><th>cameras</th><th>verdict</th><th>events/s</th><th>T99</th><th>T100</th><th>connect p99</th><th>ack p99</th><th>errors</th><th>violations</th><th>failed thresholds</th><th>result</th></tr></thead>
<tbody>
{{range .C.Points}}<tr class="{{if .Passed}}pass{{else}}fail{{end}}"><td>{{.Cameras}}</td><td>{{.Verdict}}</td><td>{{eps .Throughput}}</td><td>{{msp .RecoveryT99Ms}}</td><td>{{msp .RecoveryT100Ms}}</td><td>{{ms .ConnectP99Ms}}</td><td>{{ms .AckP99Ms}}</td><td>{{pct .ErrorRate}}</td><td>{{.Violations}}</td><td class="list">{{range $i, $t := .FailedThresholds}}{{if $i}}; {{end}}{{$t}}{{end}}</td><td>{{.ResultFile}}</td></tr>
{{end}}</tbody>
</table>
</body>
</html>
`))

// fitText says in sentences what the fit found.
func fitText(c *Capacity) []string {
	var out []string
	if len(c.FitExcluded) > 0 {
		out = append(out, fmt.Sprintf("Left out of the fit: %s cameras (nothing acknowledged).", joinSizes(c.FitExcluded)))
	}
	u := c.Fit
	if u == nil {
		return append(out, "The Universal Scalability Law could not be fitted: "+c.FitError+".")
	}
	largest := 0
	for _, p := range c.Points {
		largest = max(largest, p.Cameras)
	}
	out = append(out, fmt.Sprintf("Fitted X(N) = λN / (1 + σ(N−1) + κN(N−1)) to %d drills: λ = %s events/s per camera, σ = %s (contention), κ = %s (coherency), R² = %.3f.",
		u.Points, capSig(u.Lambda), capSig(u.Sigma), capSig(u.Kappa), u.R2))
	switch p := u.Peak; {
	case p == nil && u.Sigma > 0:
		out = append(out, fmt.Sprintf("No peak: coherency has no measurable effect up to %d cameras, so throughput levels off toward λ/σ = %s events/s instead of falling.", largest, capSig(u.Lambda/u.Sigma)))
	case p == nil:
		out = append(out, fmt.Sprintf("No contention or coherency measured: throughput grows in proportion to size up to %d cameras.", largest))
	case p.N <= 1:
		out = append(out, "Throughput does not grow with size at all: every camera queues for the same thing (σ = 1).")
	case p.Extrapolated:
		out = append(out, fmt.Sprintf("Predicted peak: about %.0f cameras (%s events/s), beyond the largest size drilled (%d); a prediction, not a measurement.", p.N, capSig(p.X), largest))
	default:
		out = append(out, fmt.Sprintf("Throughput peaks at about %.0f cameras (%s events/s); past it, more cameras get less done.", p.N, capSig(p.X)))
	}
	if u.R2 < 0.9 {
		out = append(out, fmt.Sprintf("R² is only %.2f: the law fits these drills poorly, so read the curve as a sketch.", u.R2))
	}
	return out
}

// capSig formats v with three significant digits.
func capSig(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// The plots' geometry, in SVG user units.
const (
	capPlotW, capPlotH = 680.0, 340.0
	capPadL, capPadR   = 72.0, 24.0
	capPadT, capPadB   = 20.0, 48.0
)

// capPlot draws one chart: axes from zero to rounded maxima, then marks.
type capPlot struct {
	b          strings.Builder
	xMax, yMax float64
}

func (p *capPlot) f(format string, args ...any) { fmt.Fprintf(&p.b, format, args...) }

func (p *capPlot) x(v float64) float64 { return capPadL + v/p.xMax*(capPlotW-capPadL-capPadR) }
func (p *capPlot) y(v float64) float64 {
	return capPlotH - capPadB - v/p.yMax*(capPlotH-capPadT-capPadB)
}

func newCapPlot(label string, xMax, yMax float64, xLabel, yLabel string) *capPlot {
	xs, xd := capTicks(xMax)
	ys, yd := capTicks(yMax)
	p := &capPlot{xMax: xs[len(xs)-1], yMax: ys[len(ys)-1]}
	p.f(`<svg viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`+"\n", capPlotW, capPlotH, template.HTMLEscapeString(label))
	bottom, top := p.y(0), p.y(p.yMax)
	for _, t := range xs {
		p.f(`<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
			p.x(t), top, p.x(t), bottom, p.x(t), bottom+16, strconv.FormatFloat(t, 'f', xd, 64))
	}
	for _, t := range ys {
		p.f(`<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			p.x(0), p.y(t), p.x(p.xMax), p.y(t), p.x(0)-6, p.y(t)+4, strconv.FormatFloat(t, 'f', yd, 64))
	}
	p.f(`<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n",
		p.x(0), bottom, p.x(p.xMax), bottom, p.x(0), bottom, p.x(0), top)
	p.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", (p.x(0)+p.x(p.xMax))/2, capPlotH-8, template.HTMLEscapeString(xLabel))
	p.f(`<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", (top+bottom)/2, template.HTMLEscapeString(yLabel))
	return p
}

// knee draws the knee as a dashed vertical line, labelled.
func (p *capPlot) knee(k Knee) {
	if k.Cameras <= 0 {
		return
	}
	x := p.x(float64(k.Cameras))
	anchor, dx := "start", 4.0
	if x > capPlotW-capPadR-80 {
		anchor, dx = "end", -4
	}
	p.f(`<line class="knee-line" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><text x="%.1f" y="%.1f" text-anchor="%s">knee %d</text>`+"\n",
		x, p.y(p.yMax), x, p.y(0), x+dx, p.y(p.yMax)+12, anchor, k.Cameras)
}

func (p *capPlot) String() string { return p.b.String() + "</svg>" }

// capNoData is the plot shown when there is nothing to draw.
func capNoData(label, why string) string {
	return fmt.Sprintf(`<svg viewBox="0 0 %.0f 60" role="img" aria-label="%s"><text x="%.0f" y="34" text-anchor="middle">%s</text></svg>`,
		capPlotW, template.HTMLEscapeString(label), capPlotW/2, template.HTMLEscapeString(why))
}

// capCurveSamples is how many segments draw the fitted curve.
const capCurveSamples = 160

func throughputSVG(c *Capacity) string {
	const label = "Throughput against fleet size"
	if len(c.Points) == 0 {
		return capNoData(label, "no drills")
	}
	xMax, yMax := 0.0, 0.0
	for _, pt := range c.Points {
		xMax = math.Max(xMax, float64(pt.Cameras))
		yMax = math.Max(yMax, pt.Throughput)
	}
	u := c.Fit
	// Show a peak that lies a little beyond the data; one far beyond it
	// would squash the measurements into a corner.
	if u != nil && u.Peak != nil && u.Peak.N <= 1.5*xMax {
		xMax = math.Max(xMax, u.Peak.N*1.1)
	}
	if u != nil {
		_, axisMax := capTicksMax(xMax)
		for i := 0; i <= capCurveSamples; i++ {
			yMax = math.Max(yMax, u.At(1+(axisMax-1)*float64(i)/capCurveSamples))
		}
	}
	p := newCapPlot(label, xMax, yMax*1.05, "cameras", "events acknowledged per second")
	if u != nil {
		pts := make([]string, 0, capCurveSamples+1)
		for i := 0; i <= capCurveSamples; i++ {
			n := 1 + (p.xMax-1)*float64(i)/capCurveSamples
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", p.x(n), p.y(math.Min(u.At(n), p.yMax))))
		}
		p.f(`<polyline class="curve" points="%s"/>`+"\n", strings.Join(pts, " "))
		if pk := u.Peak; pk != nil && pk.N <= p.xMax && pk.N > 1 {
			x, y := p.x(pk.N), p.y(pk.X)
			p.f(`<path class="peak" d="M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ"><title>USL peak: about %.0f cameras, %s events/s</title></path>`+"\n",
				x, y-7, x+7, y, x, y+7, x-7, y, pk.N, capSig(pk.X))
			p.f(`<text x="%.1f" y="%.1f" text-anchor="middle">peak</text>`+"\n", x, y-11)
		}
	}
	p.knee(c.Knee)
	for _, pt := range c.Points {
		class := "pass"
		if !pt.Passed() {
			class = "fail"
		}
		p.f(`<circle class="%s" cx="%.1f" cy="%.1f" r="4.5"><title>%s</title></circle>`+"\n",
			class, p.x(float64(pt.Cameras)), p.y(pt.Throughput),
			template.HTMLEscapeString(fmt.Sprintf("%d cameras: %.1f events/s, %s", pt.Cameras, pt.Throughput, pt.Verdict)))
	}
	return p.String()
}

func recoverySVG(c *Capacity) string {
	const label = "Recovery time against fleet size"
	if len(c.Points) == 0 {
		return capNoData(label, "no drills")
	}
	xMax, yMax := 0.0, 0.0
	for _, pt := range c.Points {
		xMax = math.Max(xMax, float64(pt.Cameras))
		for _, v := range []*float64{pt.RecoveryT99Ms, pt.RecoveryT100Ms} {
			if v != nil {
				yMax = math.Max(yMax, *v/1000)
			}
		}
	}
	if yMax == 0 {
		yMax = 1 // no recovery measured: an axis to mark "never" on
	}
	p := newCapPlot(label, xMax, yMax*1.05, "cameras", "seconds after the outage ended")
	series := []struct {
		name, line, mark string
		get              func(CapacityPoint) *float64
	}{
		{"T99", "t99", "m99", func(pt CapacityPoint) *float64 { return pt.RecoveryT99Ms }},
		{"T100", "t100", "m100", func(pt CapacityPoint) *float64 { return pt.RecoveryT100Ms }},
	}
	for _, s := range series {
		var line []string
		for _, pt := range c.Points {
			if v := s.get(pt); v != nil {
				line = append(line, fmt.Sprintf("%.1f,%.1f", p.x(float64(pt.Cameras)), p.y(*v/1000)))
			}
		}
		if len(line) > 1 {
			p.f(`<polyline class="%s" points="%s"/>`+"\n", s.line, strings.Join(line, " "))
		}
	}
	p.knee(c.Knee)
	for _, s := range series {
		for _, pt := range c.Points {
			x := p.x(float64(pt.Cameras))
			v := s.get(pt)
			if v == nil {
				y := p.y(p.yMax)
				p.f(`<path class="never" d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ"><title>%d cameras: %s never (some cameras did not reconnect)</title></path>`+"\n",
					x-5, y+9, x+5, y+9, x, y, pt.Cameras, s.name)
				continue
			}
			p.f(`<circle class="%s" cx="%.1f" cy="%.1f" r="3.5"><title>%d cameras: %s %s</title></circle>`+"\n",
				s.mark, x, p.y(*v/1000), pt.Cameras, s.name, template.HTMLEscapeString(msp(v)))
		}
	}
	return p.String()
}

// capTicks returns axis ticks from 0 to at least limit in steps of 1, 2 or
// 5 times a power of ten (about five of them), and the decimals their
// labels need.
func capTicks(limit float64) ([]float64, int) {
	step, top := capTicksMax(limit)
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var ticks []float64
	for i := 0; ; i++ {
		t := float64(i) * step
		ticks = append(ticks, t)
		if t >= top-step/2 {
			break
		}
	}
	return ticks, decimals
}

// capTicksMax returns the tick step for an axis reaching limit, and the
// axis's end (a multiple of the step).
func capTicksMax(limit float64) (step, top float64) {
	if !(limit > 0) || math.IsInf(limit, 0) {
		limit = 1
	}
	raw := limit / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / mag; {
	case f <= 1:
		step = mag
	case f <= 2:
		step = 2 * mag
	case f <= 5:
		step = 5 * mag
	default:
		step = 10 * mag
	}
	return step, math.Ceil(limit/step-1e-9) * step
}
