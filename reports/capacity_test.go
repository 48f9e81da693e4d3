package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// updateCapacity rewrites the capacity golden files:
// go test ./reports -run Capacity -update-capacity
var updateCapacity = flag.Bool("update-capacity", false, "rewrite the capacity golden files in testdata")

func passPoint(n int, eps float64) CapacityPoint {
	t99, t100 := float64(n)*2, float64(n)*3
	return CapacityPoint{Cameras: n, Verdict: Pass, Throughput: eps, RecoveryT99Ms: &t99, RecoveryT100Ms: &t100,
		FailedThresholds: []string{}, ResultFile: "results/" + strconv.Itoa(n) + ".json"}
}

func failPoint(n int, eps float64, failed ...string) CapacityPoint {
	p := passPoint(n, eps)
	p.Verdict, p.FailedThresholds = Fail, append([]string{}, failed...)
	return p
}

func TestKneeOf(t *testing.T) {
	violated := passPoint(3000, 1)
	violated.Violations = 2 // passed only because the scenario allows violations
	cases := []struct {
		name         string
		points       []CapacityPoint
		knee, first  int
		below        []int
		largest      int
		noteContains []string
	}{
		{name: "none", points: nil, noteContains: []string{"No sizes were drilled."}},
		{name: "all pass", points: []CapacityPoint{passPoint(1000, 1), passPoint(4000, 1), passPoint(2000, 1)},
			knee: 4000, largest: 4000, noteContains: []string{"at or above 4000", "drill larger sizes"}},
		{name: "all fail", points: []CapacityPoint{failPoint(2000, 1, "x"), failPoint(1000, 1, "x")},
			first: 1000, largest: 2000, noteContains: []string{"Every size failed", "below 1000 cameras"}},
		{name: "clean knee", points: []CapacityPoint{passPoint(1000, 1), passPoint(2000, 1), failPoint(4000, 1, "recovery.t99 < 60s"), failPoint(8000, 1, "x")},
			knee: 2000, first: 4000, largest: 8000, noteContains: []string{"2000 cameras is the largest size", "4000 failed."}},
		{name: "smaller failed, larger passed", points: []CapacityPoint{failPoint(1000, 1, "x"), passPoint(2000, 1), failPoint(3000, 1, "x"), passPoint(4000, 1), failPoint(8000, 1)},
			knee: 4000, first: 8000, below: []int{1000, 3000}, largest: 8000,
			noteContains: []string{"But 1000 and 3000 failed although 4000 passed", "rerun those sizes"}},
		{name: "violations fail a size even with a pass verdict", points: []CapacityPoint{passPoint(1000, 1), violated},
			knee: 1000, first: 3000, largest: 3000},
		{name: "a size passes only if every drill of it passed", points: []CapacityPoint{passPoint(1000, 1), passPoint(2000, 1), failPoint(2000, 1, "x")},
			knee: 1000, first: 2000, largest: 2000},
		{name: "repeated failure below", points: []CapacityPoint{passPoint(1000, 1), failPoint(1000, 1), passPoint(2000, 1)},
			knee: 2000, below: []int{1000}, largest: 2000, noteContains: []string{"But 1000 failed although 2000 passed", "rerun that size"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := KneeOf(tc.points)
			want := tc.below
			if want == nil {
				want = []int{}
			}
			if k.Cameras != tc.knee || k.FirstFailure != tc.first || k.LargestDrilled != tc.largest || !reflect.DeepEqual(k.FailedBelow, want) {
				t.Errorf("knee %d, first failure %d, largest %d, failed below %v; want %d, %d, %d, %v",
					k.Cameras, k.FirstFailure, k.LargestDrilled, k.FailedBelow, tc.knee, tc.first, tc.largest, want)
			}
			for _, s := range tc.noteContains {
				if !strings.Contains(k.Note, s) {
					t.Errorf("note %q does not contain %q", k.Note, s)
				}
			}
		})
	}
}

func TestCapacityPointOf(t *testing.T) {
	t99 := 4200.0
	r := &Result{
		Cameras: 5000, Verdict: Fail, DurationMs: 20_000,
		Recovery:   Recovery{T99Ms: &t99},
		Latency:    map[string]Latency{"connect": {P99Ms: 120}, "ack": {P99Ms: 35}},
		Errors:     Errors{Rate: 0.004},
		Violations: Violations{Total: 3},
		Events:     Events{Acked: 10_000},
		Thresholds: []ThresholdResult{{Expr: "recovery.t100 < 60s", Pass: false}, {Expr: "errors.rate < 1%", Pass: true}, {Expr: "connect.p99 < 100ms", Pass: false}},
	}
	got := CapacityPointOf(r, "runs/5000.json")
	want := CapacityPoint{
		Cameras: 5000, RecoveryT99Ms: &t99, ConnectP99Ms: 120, AckP99Ms: 35, ErrorRate: 0.004, Violations: 3,
		Throughput: 500, Verdict: Fail, FailedThresholds: []string{"recovery.t100 < 60s", "connect.p99 < 100ms"},
		ResultFile: "runs/5000.json",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.Passed() {
		t.Error("a failed drill counts as passed")
	}
}

func TestNewCapacity(t *testing.T) {
	truth := USL{Lambda: 0.1, Sigma: 0.02, Kappa: 1e-8}
	var pts []CapacityPoint
	for _, n := range []int{8000, 1000, 4000, 2000, 16000} {
		pts = append(pts, passPoint(n, truth.At(float64(n))))
	}
	pts = append(pts, failPoint(32000, 0, "events.acked > 0"))
	c := NewCapacity("aws-outage", 7, pts)
	var sizes []int
	for _, p := range c.Points {
		sizes = append(sizes, p.Cameras)
	}
	if !reflect.DeepEqual(sizes, []int{1000, 2000, 4000, 8000, 16000, 32000}) {
		t.Errorf("points in order %v", sizes)
	}
	if pts[0].Cameras != 8000 {
		t.Error("NewCapacity reordered its caller's slice")
	}
	if c.Schema != CapacitySchema || c.Scenario != "aws-outage" || c.Seed != 7 {
		t.Errorf("header %q %q %d", c.Schema, c.Scenario, c.Seed)
	}
	if c.Knee.Cameras != 16000 || c.Knee.FirstFailure != 32000 {
		t.Errorf("knee %+v", c.Knee)
	}
	if !reflect.DeepEqual(c.FitExcluded, []int{32000}) {
		t.Errorf("fit excluded %v, want [32000]", c.FitExcluded)
	}
	if c.Fit == nil {
		t.Fatalf("no fit: %s", c.FitError)
	}
	if c.FitError != "" || c.Fit.Points != 5 || !uslWithin(c.Fit.Kappa, truth.Kappa, 1e-6, 0) || !uslWithin(c.Fit.Sigma, truth.Sigma, 1e-6, 0) {
		t.Errorf("fit %+v (error %q), want %+v over 5 points", c.Fit, c.FitError, truth)
	}

	few := NewCapacity("aws-outage", 7, []CapacityPoint{passPoint(1000, 100), passPoint(2000, 190), failPoint(4000, 0)})
	if few.Fit != nil || !strings.Contains(few.FitError, "at least 3 distinct sizes, got 2") {
		t.Errorf("fit %+v, error %q; want no fit and the reason", few.Fit, few.FitError)
	}
}

// capacityFixture is a sweep with every feature the report shows: a knee,
// a smaller size that failed below it, a size that never recovered and
// one that acknowledged nothing.
func capacityFixture() *Capacity {
	truth := USL{Lambda: 0.1, Sigma: 0.002, Kappa: 4e-8}
	at := func(n int, wobble float64) float64 { return truth.At(float64(n)) * wobble }
	p1000 := passPoint(1000, at(1000, 1.01))
	p2000 := failPoint(2000, at(2000, 0.98))
	p2000.Violations = 1
	p2000.FailedThresholds = []string{}
	p8000 := failPoint(8000, at(8000, 0.99), "recovery.t99 < 20s", "connect.p99 < 1s")
	p8000.ConnectP99Ms, p8000.AckP99Ms, p8000.ErrorRate = 1520.5, 80.25, 0.0123
	p16000 := failPoint(16000, at(16000, 1.02), "recovery.t100 < 60s")
	p16000.RecoveryT100Ms = nil
	p32000 := failPoint(32000, 0, "events.acked > 0", "recovery.t99 < 20s")
	p32000.RecoveryT99Ms, p32000.RecoveryT100Ms = nil, nil
	c := NewCapacity("aws-outage <fleet & co>", 42,
		[]CapacityPoint{p8000, p1000, p2000, passPoint(4000, at(4000, 1)), passPoint(3000, at(3000, 1.005)), p16000, p32000})
	// Fits may differ in their last bits where a compiler fuses
	// multiply-adds; the golden files hold six significant digits.
	if u := c.Fit; u != nil {
		r := func(v float64) float64 { f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64); return f }
		u.Lambda, u.Sigma, u.Kappa, u.R2 = r(u.Lambda), r(u.Sigma), r(u.Kappa), r(u.R2)
		u.Peak = peakOf(u, 16000)
		u.Peak.N, u.Peak.X = r(u.Peak.N), r(u.Peak.X)
	}
	return c
}

func goldenCapacity(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateCapacity {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-capacity to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := "<none>", "<none>"
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\ngot  %s\nwant %s\n(run with -update-capacity if the change is intended)", path, i+1, g, w)
			}
		}
	}
}

func TestCapacityGolden(t *testing.T) {
	c := capacityFixture()
	var js, page bytes.Buffer
	if err := WriteCapacityJSON(&js, c); err != nil {
		t.Fatal(err)
	}
	if err := WriteCapacityHTML(&page, c); err != nil {
		t.Fatal(err)
	}
	goldenCapacity(t, "capacity.golden.json", js.Bytes())
	goldenCapacity(t, "capacity.golden.html", page.Bytes())
}

func TestCapacityJSONRoundTrip(t *testing.T) {
	c := capacityFixture()
	var b bytes.Buffer
	if err := WriteCapacityJSON(&b, c); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCapacityJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip changed the document:\ngot  %+v\nwant %+v", got, c)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"schema": "herd.result/v1"}`, `schema "herd.result/v1" is not "herd.capacity/v1"`},
		{`[1, 2]`, "not a herd capacity report"},
	} {
		if _, err := ReadCapacityJSON(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadCapacityJSON(%s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

var svgRe = regexp.MustCompile(`(?s)<svg .*?</svg>`)

// svgMarks parses each SVG of page as XML and returns, per plot, its
// circles (cx, cy, class) and its knee line's x.
func svgMarks(t *testing.T, page string) (plots [][]map[string]string, knees []string) {
	t.Helper()
	for _, s := range svgRe.FindAllString(page, -1) {
		d := xml.NewDecoder(strings.NewReader(s))
		var circles []map[string]string
		knee := ""
		for {
			tok, err := d.Token()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("SVG is not well-formed: %v\n%s", err, s)
				}
				break
			}
			el, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			attrs := map[string]string{}
			for _, a := range el.Attr {
				attrs[a.Name.Local] = a.Value
			}
			switch {
			case el.Name.Local == "circle":
				circles = append(circles, attrs)
			case el.Name.Local == "line" && attrs["class"] == "knee-line":
				knee = attrs["x1"]
			}
		}
		plots = append(plots, circles)
		knees = append(knees, knee)
	}
	return plots, knees
}

func TestCapacityHTML(t *testing.T) {
	c := capacityFixture()
	var b bytes.Buffer
	if err := WriteCapacityHTML(&b, c); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"http://", "https://", "<script", "src=", "<link", "url(", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: it must be self-contained", bad)
		}
	}
	if strings.Contains(page, "<fleet & co>") || !strings.Contains(page, "aws-outage &lt;fleet &amp; co&gt;") {
		t.Error("the scenario name is not escaped")
	}
	plots, knees := svgMarks(t, page)
	if len(plots) != 2 {
		t.Fatalf("%d plots, want 2 (throughput, recovery)", len(plots))
	}
	// Throughput: one marker a drill, coloured by its verdict, higher
	// throughput drawn higher; the knee line at 4000 cameras.
	tp := plots[0]
	if len(tp) != len(c.Points) {
		t.Fatalf("%d throughput markers, want %d", len(tp), len(c.Points))
	}
	xOf := map[int]float64{}
	for i, pt := range c.Points {
		want := "fail"
		if pt.Passed() {
			want = "pass"
		}
		if tp[i]["class"] != want {
			t.Errorf("%d cameras drawn as %q, want %q", pt.Cameras, tp[i]["class"], want)
		}
		xOf[pt.Cameras], _ = strconv.ParseFloat(tp[i]["cx"], 64)
		for j, other := range c.Points {
			yi, _ := strconv.ParseFloat(tp[i]["cy"], 64)
			yj, _ := strconv.ParseFloat(tp[j]["cy"], 64)
			if pt.Throughput > other.Throughput+1e-9 && !(yi < yj) {
				t.Errorf("%d cameras (%.1f/s) drawn at y %v, not above %d cameras (%.1f/s) at %v", pt.Cameras, pt.Throughput, yi, other.Cameras, other.Throughput, yj)
			}
		}
	}
	if kx, _ := strconv.ParseFloat(knees[0], 64); math.Abs(kx-xOf[4000]) > 0.11 {
		t.Errorf("knee line at x %v, want at the 4000-camera marker %v", kx, xOf[4000])
	}
	// Recovery: T99 and T100 markers for every measured value; the three
	// that never recovered are open triangles instead.
	measured := 0
	for _, pt := range c.Points {
		for _, v := range []*float64{pt.RecoveryT99Ms, pt.RecoveryT100Ms} {
			if v != nil {
				measured++
			}
		}
	}
	if len(plots[1]) != measured {
		t.Errorf("%d recovery markers, want %d", len(plots[1]), measured)
	}
	if n := strings.Count(page, `class="never"`); n != 2*len(c.Points)-measured {
		t.Errorf("%d never-markers, want %d", n, 2*len(c.Points)-measured)
	}
	for _, want := range []string{
		"But 2000 failed although 4000 passed",
		"Left out of the fit: 32000 cameras (nothing acknowledged).",
		"σ = 0.00221 (contention)",
		`<td class="list">recovery.t99 &lt; 20s; connect.p99 &lt; 1s</td>`,
		`class="knee warn"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestCapacityHTMLWithoutData(t *testing.T) {
	for _, c := range []*Capacity{
		NewCapacity("empty", 1, nil),
		NewCapacity("two", 1, []CapacityPoint{passPoint(1000, 10), passPoint(2000, 20)}),
	} {
		var b bytes.Buffer
		if err := WriteCapacityHTML(&b, c); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		if !strings.Contains(page, "could not be fitted: USL fit needs at least 3 distinct sizes") {
			t.Errorf("%s: page does not say why there is no fit", c.Scenario)
		}
		svgMarks(t, page) // well-formed
		if strings.Contains(page, "NaN") || strings.Contains(page, "Inf") {
			t.Errorf("%s: page has a NaN or Inf coordinate", c.Scenario)
		}
	}
}

func TestCapTicks(t *testing.T) {
	cases := []struct {
		limit    float64
		want     []float64
		decimals int
	}{
		{16000, []float64{0, 5000, 10000, 15000, 20000}, 0},
		{10000, []float64{0, 2000, 4000, 6000, 8000, 10000}, 0},
		{17600, []float64{0, 5000, 10000, 15000, 20000}, 0},
		{1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, 1},
		{0, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, 1},
		{93, []float64{0, 20, 40, 60, 80, 100}, 0},
		{0.031, []float64{0, 0.01, 0.02, 0.03, 0.04}, 2},
	}
	for _, tc := range cases {
		got, dec := capTicks(tc.limit)
		if len(got) != len(tc.want) || dec != tc.decimals {
			t.Errorf("capTicks(%g) = %v, %d decimals; want %v, %d", tc.limit, got, dec, tc.want, tc.decimals)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-9 {
				t.Errorf("capTicks(%g) = %v, want %v", tc.limit, got, tc.want)
				break
			}
		}
	}
}

// A violation at any size is a finding, said first: not capacity data.
func TestCapacityLeaksComeFirst(t *testing.T) {
	leak := failPoint(2000, 900, "violations.total == 0")
	leak.Violations = 312
	c := NewCapacity("aws-outage", 1, []CapacityPoint{passPoint(1000, 500), leak, failPoint(4000, 0, "recovery.t99 < 60s")})
	if got := c.Leaks(); len(got) != 1 || got[0].Cameras != 2000 {
		t.Fatalf("leaks %+v, want the 2000-camera size", got)
	}
	var sum bytes.Buffer
	if err := WriteCapacitySummary(&sum, c); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(sum.String(), "\n") // the heading, a blank line, then the leak
	if len(lines) < 3 || !strings.HasPrefix(lines[2], "LEAK  the oracle found 312 violations at 2000 cameras") {
		t.Errorf("summary does not say the leak before the sizes:\n%s", sum.String())
	}
	var page bytes.Buffer
	if err := WriteCapacityHTML(&page, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "the oracle found 312 violations") {
		t.Error("the page does not say the leak")
	}
	if c := NewCapacity("aws-outage", 1, []CapacityPoint{passPoint(1000, 500)}); len(c.Leaks()) != 0 || c.LeakSentence() != "" {
		t.Errorf("an honest sweep leaks: %q", c.LeakSentence())
	}
}
