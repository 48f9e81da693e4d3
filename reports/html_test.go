package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func renderHTML(t *testing.T, r *Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("HERD_ARTIFACTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".html"), b.Bytes(), 0o644)
	}
	return b.String()
}

func TestHTMLIsSelfContained(t *testing.T) {
	page := renderHTML(t, fixture(t))
	for _, m := range regexp.MustCompile(`(?i)\b(src|href|action|srcset|poster|data)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if m[1] != "href" || !strings.HasPrefix(m[2], "#") {
			t.Errorf("the page refers to %s=%q; it may only link within itself", m[1], m[2])
		}
	}
	for _, bad := range []string{"https://", "url(", "@import", "<link", "<iframe", "<img", "github.com"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if !strings.Contains(page, `Content-Security-Policy" content="default-src 'none'`) {
		t.Error("the page lacks the policy that forbids it any request")
	}
	if !strings.Contains(page, "uPlot v1.6.32, MIT License") {
		t.Error("the inlined chart library lost its licence banner")
	}
}

func TestHTMLEscapesWhatTheResultHolds(t *testing.T) {
	const evil = `</script><script>alert("x")</script><b onmouseover=alert(1)>`
	r := fixture(t)
	r.Scenario = evil
	r.Violations.Evidence[0].Detail = evil
	r.Violations.Evidence[0].Path = evil
	r.Thresholds[0].Expr = evil
	r.Target.URLs = []string{evil}
	r.Target.Faults = []string{evil}
	r.Curve.Latency[evil] = r.Curve.Latency["ack"]
	r.Latency[evil] = r.Latency["ack"]
	page := renderHTML(t, r)
	for _, raw := range []string{`<script>alert(`, `<b onmouseover`} {
		if strings.Contains(page, raw) {
			t.Errorf("raw %q made it into the page", raw)
		}
	}
	if n := strings.Count(page, "<script>"); n != 3 {
		t.Errorf("%d <script> elements, want herd's 3", n)
	}
	if !strings.Contains(page, "&lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)") {
		t.Error("the evidence detail is not shown, escaped")
	}
}

func TestHTMLPutsTheVerdictFirst(t *testing.T) {
	page := renderHTML(t, fixture(t))
	verdict := strings.Index(page, `<section id="verdict" class="verdict fail">`)
	failed := strings.Index(page, "<code>violations.total == 0</code>: measured 9")
	for name, at := range map[string]int{"verdict": verdict, "failed threshold": failed} {
		if at < 0 {
			t.Fatalf("the page lacks the %s", name)
		}
	}
	for _, later := range []string{`id="violations"`, `id="recovery"`, `id="latency"`, `id="scenario"`, `id="generator"`} {
		if at := strings.Index(page, later); at < failed {
			t.Errorf("%s comes before the failed thresholds", later)
		}
	}
	for _, want := range []string{
		"cam-00000851/30", "/v1/accounts/acct-0000117/events", "09:30:22.100", "&#43;0.7 s", // evidence
		"T99 5.2s", `"recoveryMarks":[{"label":"T50`, // recovery, annotated
		`id="chart-latency-first_ack"`, `"latencyX":[0.5,1.5`, // latency over time
		"The scenario as it ran", "policy: immediate", "seed 1", "open files</th><td>peak 2107", // scenario, fleet, generator
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func TestHTMLOfAPassingResultAndOfOneWithoutACurve(t *testing.T) {
	r := fixture(t)
	r.Verdict, r.Reasons, r.Thresholds = Pass, nil, nil
	r.Curve = Curve{}
	page := renderHTML(t, r)
	for _, want := range []string{`class="verdict pass"`, ">PASS<", "This result has no time series."} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="chart-recovery"`) {
		t.Error("a chart placeholder without data")
	}
}
