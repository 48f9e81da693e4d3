package main

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
)

// goldenResult is the reports package's golden result: a lifelike
// aws-outage drill that failed on leaked events.
const goldenResult = "../../reports/testdata/result.golden.json"

func TestReportWritesEveryFormat(t *testing.T) {
	dir := t.TempDir()
	html, junit, hgrm := filepath.Join(dir, "report.html"), filepath.Join(dir, "junit.xml"), filepath.Join(dir, "hgrm")
	code, stdout, stderr := herd(t, context.Background(), "report", goldenResult, "--html", html, "--junit", junit, "--hgrm", hgrm)
	if code != exitcode.OK {
		t.Fatalf("exit %d, want 0 (whatever the verdict)\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "VERDICT  FAIL") || !strings.Contains(stdout, "cross_account=7") {
		t.Errorf("stdout lacks the summary:\n%s", stdout)
	}
	page, err := os.ReadFile(html)
	if err != nil || !strings.HasPrefix(string(page), "<!DOCTYPE html>") || !strings.Contains(string(page), "chart-recovery") {
		t.Errorf("HTML report: %v, %.80q", err, page)
	}
	var suites struct {
		Failures int `xml:"failures,attr"`
	}
	b, err := os.ReadFile(junit)
	if err != nil || xml.Unmarshal(b, &suites) != nil || suites.Failures == 0 {
		t.Errorf("JUnit report: %v, failures %d, want the failures of a failed drill", err, suites.Failures)
	}
	r := readResult(t, goldenResult)
	for name := range r.Latency {
		b, err := os.ReadFile(filepath.Join(hgrm, name+".hgrm"))
		if err != nil || !strings.HasPrefix(string(b), "       Value     Percentile TotalCount 1/(1-Percentile)") {
			t.Errorf("%s.hgrm: %v, %.60q", name, err, b)
		}
	}
	for _, want := range []string{"wrote the HTML report to " + html, "wrote the JUnit report to " + junit, "wrote 8 .hgrm histograms to " + hgrm} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestReportUsageErrors(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "notes.txt")
	os.WriteFile(notJSON, []byte("hello"), 0o600)
	oldSchema := filepath.Join(dir, "v0.json")
	os.WriteFile(oldSchema, []byte(`{"schema":"herd.result/v0"}`), 0o600)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"report"}, []string{"accepts 1 arg"}},
		{[]string{"report", "a.json", "b.json"}, []string{"accepts 1 arg"}},
		{[]string{"report", filepath.Join(dir, "missing.json")}, []string{"missing.json", "no such file", "herd run --out"}},
		{[]string{"report", notJSON}, []string{notJSON, "not a herd result", "herd.result/v1"}},
		{[]string{"report", oldSchema}, []string{oldSchema, `schema "herd.result/v0"`}},
		{[]string{"report", goldenResult, "--pdf", "x.pdf"}, []string{"unknown flag: --pdf"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := herd(t, context.Background(), tc.args...)
			if code != exitcode.Usage {
				t.Errorf("exit %d, want 2; stderr %q", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
		})
	}
}

func TestReportWriteErrorsNameTheFileAndTheRemedy(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "no-such-dir", "report.html")
	junit := filepath.Join(dir, "junit.xml")
	// Checked before anything is written: a usage error naming the flag.
	code, _, stderr := herd(t, context.Background(), "report", goldenResult, "--html", html, "--junit", junit)
	if code != exitcode.Usage {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr, "--html "+html) || !strings.Contains(stderr, "create its directory") {
		t.Errorf("stderr %q does not name --html %s and the remedy", stderr, html)
	}
	if _, err := os.Stat(junit); err == nil {
		t.Error("the JUnit report was written although the paths were refused")
	}
}

func TestWriteReportsKeepsHistogramFilesInTheirDirectory(t *testing.T) {
	dir := t.TempDir()
	r := readResult(t, goldenResult)
	r.Latency["../escaped"] = r.Latency["ack"]
	err := reports.WriteFiles(r, reports.Files{HGRM: filepath.Join(dir, "hgrm")})
	if err == nil || !strings.Contains(err.Error(), `"../escaped": not a plain name`) {
		t.Errorf("err = %v, want the bad name refused", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "escaped.hgrm")); err == nil {
		t.Error("a histogram file was written outside --hgrm")
	}
	if _, err := os.Stat(filepath.Join(dir, "hgrm", "ack.hgrm")); err != nil {
		t.Errorf("the good histograms were not written: %v", err)
	}
}

func TestReportRendersAResultWithoutTimeSeries(t *testing.T) {
	r := readResult(t, goldenResult)
	r.Curve.Violations, r.Curve.Latency, r.Curve.LatencyStepMs = nil, nil, 0
	dir := t.TempDir()
	if err := reports.WriteFiles(r, reports.Files{HTML: filepath.Join(dir, "r.html"), JUnit: filepath.Join(dir, "j.xml")}); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "r.html"))
	if !strings.Contains(string(page), "predates latency over time") {
		t.Error("the page does not say the result lacks latency over time")
	}
}

// A real drill, end to end: its result carries the time series whole, and
// herd report renders it.
func TestRunThenReport(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "probing.yaml")
	os.WriteFile(sc, []byte(`name: probing
app: {active: 1, poll: 200ms, probes: 0.5}
phases:
  - {kind: steady, duration: 2s}
`), 0o600)
	out := filepath.Join(dir, "result.json")
	if code, stdout, stderr := herd(t, context.Background(), "run", sc, "--cameras", "40", "--target-fault", "idor", "--quiet", "--out", out); code != exitcode.Failed {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, stdout, stderr)
	}
	r := readResult(t, out)
	c := r.Curve
	// The result's end comes a little after the sampler's last step (the
	// outcome is gathered in between, slowly on a loaded machine); a sampler
	// that dropped the ticks it missed kept a third fewer samples here.
	if want := int(r.DurationMs / c.StepMs); len(c.Connected) < want*85/100 || len(c.Connected) > want+2 {
		t.Errorf("%d samples in %d ms, want about %d: a sample per step of the run", len(c.Connected), r.DurationMs, want)
	}
	var found int64
	for _, n := range c.Violations {
		found += n
	}
	if found != r.Violations.Total || found == 0 {
		t.Errorf("violations over time add up to %d, the result counts %d", found, r.Violations.Total)
	}
	list, ok := c.Latency["list"]
	if !ok || c.LatencyStepMs != 1000 {
		t.Fatalf("latency over time: step %d ms, series %v; want 1000 and a list series", c.LatencyStepMs, c.Latency)
	}
	var listed int64
	for _, n := range list.Count {
		listed += n
	}
	if want := (len(c.Connected) + 9) / 10; len(list.Count) != want || listed != r.Latency["list"].Count {
		t.Errorf("list series: %d points holding %d values; want %d points holding the run's %d", len(list.Count), listed, want, r.Latency["list"].Count)
	}
	html := filepath.Join(dir, "report.html")
	if code, _, stderr := herd(t, context.Background(), "report", out, "--html", html, "--junit", filepath.Join(dir, "junit.xml"), "--hgrm", filepath.Join(dir, "hgrm")); code != exitcode.OK {
		t.Fatalf("herd report: exit %d\n%s", code, stderr)
	}
	page, _ := os.ReadFile(html)
	if !strings.Contains(string(page), `id="chart-latency-list"`) || !strings.Contains(string(page), `<code>idor</code>`) {
		t.Error("the report of the drill lacks its list latency chart or its idor violations")
	}
}
