package reports

import (
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"math"
	"slices"

	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/oracle"
)

func hist(valuesMs ...int64) *sim.Outcome {
	h := sim.NewHistogram()
	for _, v := range valuesMs {
		h.RecordValue(v * 1000)
	}
	o := &sim.Outcome{Histograms: map[string]*hdrhistogram.Histogram{sim.HistRecovery: h}}
	return o
}

func TestRecoveryCountsCamerasThatNeverCameBack(t *testing.T) {
	ms := func(v float64) *float64 { return &v }
	cases := []struct {
		name                string
		affected            int64
		values              []int64
		t50, t90, t99, t100 *float64
	}{
		{"all back", 10, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ms(5), ms(9), ms(10), ms(10)},
		{"one never", 10, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}, ms(5), ms(9), nil, nil},
		{"half never", 4, []int64{100, 200}, ms(200), nil, nil, nil},
		{"no outage", 0, nil, nil, nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := hist(tc.values...).Histograms[sim.HistRecovery]
			got := recoveryOf(tc.affected, int64(len(tc.values)), h)
			for _, c := range []struct {
				name      string
				got, want *float64
			}{{"t50", got.T50Ms, tc.t50}, {"t90", got.T90Ms, tc.t90}, {"t99", got.T99Ms, tc.t99}, {"t100", got.T100Ms, tc.t100}} {
				// HDR answers within its 3 significant digits.
				if (c.got == nil) != (c.want == nil) || (c.got != nil && math.Abs(*c.got-*c.want) > *c.want/500) {
					t.Errorf("%s = %v, want %v", c.name, show(c.got), show(c.want))
				}
			}
		})
	}
}

func show(p *float64) any {
	if p == nil {
		return "never"
	}
	return *p
}

func mustThreshold(t *testing.T, expr string) scenarios.Threshold {
	t.Helper()
	th, err := scenarios.ParseThreshold(expr)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

func TestJudge(t *testing.T) {
	base := func() *Result {
		return &Result{
			Violations: Violations{Counts: map[string]int64{"cross_account": 0}},
			Recovery:   Recovery{Affected: 10, Reconnected: 10, T99Ms: ptr(4000)},
			Latency:    map[string]Latency{"connect": {Count: 5, P99Ms: 120}, "list": {Count: 3}},
			Errors:     Errors{Operations: 100, Total: 2, Rate: 0.02},
			Events:     Events{Acked: 40},
			Audit:      Audit{Done: true, Accounts: 10, Events: 40},
		}
	}
	cases := []struct {
		name       string
		thresholds []string
		allow      bool
		mutate     func(*Result)
		want       string
		reasons    int
	}{
		{"all hold", []string{"recovery.t99 < 60s", "connect.p99 < 2s", "errors.rate < 5%"}, false, nil, Pass, 0},
		{"slow recovery", []string{"recovery.t99 < 3s"}, false, nil, Fail, 1},
		{"error rate", []string{"errors.rate < 1%"}, false, nil, Fail, 1},
		{"violation fails without a threshold", nil, false, func(r *Result) { r.Violations.Total = 1 }, Fail, 1},
		{"violation allowed", nil, true, func(r *Result) { r.Violations.Total = 1 }, Pass, 0},
		{"never recovered", []string{"recovery.t99 < 60s"}, false, func(r *Result) { r.Recovery.T99Ms = nil }, Fail, 1},
		{"no live data passes", []string{"live.p99 < 1s"}, false, nil, Pass, 0},
		// An interrupted drill measured nothing to the end: not a failure
		// of its thresholds, unless it had found a leak already.
		{"interrupted", []string{"recovery.t99 < 3s"}, false, func(r *Result) { r.Interrupted = true }, Interrupted, 1},
		{"interrupted after a leak", nil, false, func(r *Result) { r.Interrupted, r.Violations.Total = true, 2 }, Fail, 2},
		// What the audit could not read went unchecked, allowed or not.
		{"accounts the audit could not read", nil, true, func(r *Result) { r.Audit = Audit{Done: true, Accounts: 10, FailedAccounts: 3, Events: 40} }, Fail, 1},
		{"every account read", nil, false, func(r *Result) { r.Audit = Audit{Done: true, Accounts: 10, Events: 40} }, Pass, 0},
		// A drill that tested nothing proves nothing.
		{"no event acked", nil, false, func(r *Result) { r.Events.Acked = 0 }, Fail, 1},
		{"no account audited", nil, false, func(r *Result) { r.Audit.Accounts, r.Audit.FailedAccounts = 0, 0 }, Fail, 1},
		{"only empty tabs audited: events lost, not hollow", nil, false, func(r *Result) { r.Audit.Events = 0 }, Pass, 0},
		{"no camera back from the outage", nil, false, func(r *Result) { r.Recovery = Recovery{} }, Fail, 1},
		{"no app check", nil, false, func(r *Result) { delete(r.Latency, "list") }, Fail, 1},
		{"hollow in every way", nil, false, func(r *Result) { *r = Result{Violations: Violations{Counts: map[string]int64{}}} }, Fail, 3},
		{"no outage, no recovery to test", nil, false, func(r *Result) { r.Recovery = Recovery{} }, Pass, 0},
		{"target gone at the end", nil, false, func(r *Result) {
			r.Target.Unreachable = []UnreachableSpan{{FromMs: 5000, Detail: "connection refused at the target"}}
		}, Fail, 1},
		{"target back before the end", nil, false, func(r *Result) {
			r.Target.Unreachable = []UnreachableSpan{{FromMs: 5000, ToMs: ptr(9000), Detail: "connection refused at the target"}}
		}, Pass, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := scenarios.Defaults()
			if !strings.HasPrefix(tc.name, "no outage") {
				sc.Phases = append(sc.Phases, scenarios.Phase{Name: "outage", Kind: scenarios.KindOutage})
			}
			sc.AllowViolations = tc.allow
			for _, e := range tc.thresholds {
				sc.Thresholds = append(sc.Thresholds, mustThreshold(t, e))
			}
			r := base()
			if tc.mutate != nil {
				tc.mutate(r)
			}
			Judge(r, sc)
			if r.Verdict != tc.want || len(r.Reasons) != tc.reasons {
				t.Errorf("verdict %s with reasons %q; want %s with %d reasons", r.Verdict, r.Reasons, tc.want, tc.reasons)
			}
			if len(r.Thresholds) != len(tc.thresholds) {
				t.Errorf("%d threshold results, want %d", len(r.Thresholds), len(tc.thresholds))
			}
			for _, th := range r.Thresholds {
				if want := map[bool]string{true: ThresholdNotMeasured, false: map[bool]string{true: ThresholdPass, false: ThresholdFail}[th.Pass]}[r.Interrupted]; th.Status != want {
					t.Errorf("threshold %s: status %q, want %q", th.Expr, th.Status, want)
				}
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }

func TestBuildAndSummary(t *testing.T) {
	sc := scenarios.Defaults()
	sc.Name = "unit"
	sc.Thresholds = []scenarios.Threshold{mustThreshold(t, "violations.cross_account == 0")}
	h := map[string]*hdrhistogram.Histogram{}
	for _, n := range sim.HistogramNames {
		h[n] = sim.NewHistogram()
	}
	h[sim.HistConnect].RecordValue(1500)
	since := 2.5
	o := &sim.Outcome{
		Scenario: "unit", Seed: 1, Cameras: 3, Accounts: 2, Policy: "immediate",
		Started: time.Unix(1000, 0), Ended: time.Unix(1010, 0), Histograms: h,
		Counts:     map[string]int64{sim.CountEventsAcked: 7},
		Errors:     map[string]int64{sim.ErrTimeout: 1, sim.ErrFileLimit: 1, sim.ErrHTTP503: 3},
		Operations: 10,
		Violations: oracle.Violations{
			Counts:   map[oracle.Class]int64{oracle.CrossAccount: 1},
			Evidence: []oracle.Evidence{{Class: oracle.CrossAccount, Viewer: "acct-0000001", Owner: "acct-0000000", Device: "cam-00000000", Event: "cam-00000000/3", Path: "/v1/accounts/acct-0000001/events", SinceOutageEndS: &since, Detail: "listed"}},
		},
	}
	r := Build(sc, o, TargetInfo{URLs: []string{"http://127.0.0.1:1"}, Embedded: true, Faults: []string{"stale-reply"}}, "test")
	if r.Verdict != Fail || r.Violations.Total != 1 {
		t.Fatalf("verdict %s, violations %d; want fail with 1", r.Verdict, r.Violations.Total)
	}
	for _, c := range oracle.Classes() {
		if _, ok := r.Violations.Counts[string(c)]; !ok {
			t.Errorf("class %s missing from counts", c)
		}
	}
	if r.Errors.Rate != 0.2 || r.Errors.Shed != 3 || r.Errors.ShedRate != 0.3 || r.Errors.Remedies[sim.ErrFileLimit] == "" {
		t.Errorf("errors = %+v, want rate 0.2 (shedding apart: 3, 0.3) and a remedy for emfile", r.Errors)
	}
	if r.Latency["connect"].P50Ms != 1.5 || r.Latency["connect"].HDR == "" {
		t.Errorf("connect latency = %+v, want p50 1.5 ms and the encoded histogram", r.Latency["connect"])
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&js)
	if err != nil {
		t.Fatal(err)
	}
	if back.Verdict != r.Verdict || back.Violations.Evidence[0].Event != "cam-00000000/3" {
		t.Errorf("JSON round trip lost data: %+v", back.Violations)
	}
	var sum bytes.Buffer
	if err := WriteSummary(&sum, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"VERDICT  FAIL", "cross_account viewer acct-0000001, owner acct-0000000", "+2.5s after the outage ended", "FAIL violations.cross_account == 0", "herd ran out of file descriptors"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

func TestReadJSONRejectsOtherSchemas(t *testing.T) {
	if _, err := ReadJSON(strings.NewReader(`{"schema":"herd.result/v0"}`)); err == nil {
		t.Error("accepted schema v0")
	}
	if _, err := ReadJSON(strings.NewReader(`not json`)); err == nil {
		t.Error("accepted garbage")
	}
}

func TestPickEvidenceKeepsEveryClass(t *testing.T) {
	var all []oracle.Evidence
	for i := 0; i < 150; i++ {
		all = append(all, oracle.Evidence{Class: oracle.Lost, AtMs: int64(i), Detail: "lost"})
	}
	all = append(all, oracle.Evidence{Class: oracle.CrossAccount, AtMs: 999, Detail: "leak"})
	got := pickEvidence(all, MaxEvidence)
	if len(got) != MaxEvidence {
		t.Fatalf("kept %d records, want %d", len(got), MaxEvidence)
	}
	if got[0].Class != oracle.CrossAccount {
		t.Errorf("first record is %s, want the leak first", got[0].Class)
	}
	if got[1].AtMs != 0 || got[len(got)-1].AtMs != 98 {
		t.Errorf("lost records kept: %d..%d, want the earliest 0..98", got[1].AtMs, got[len(got)-1].AtMs)
	}
}

func TestCurveCarriesLatencyAndViolationsOverTime(t *testing.T) {
	start := time.Unix(1000, 0)
	c := curveOf(sim.Curve{
		Start: start, Step: 100 * time.Millisecond, Connected: []int64{1, 2}, Connects: []int64{1, 1},
		Errors: []int64{0, 0}, Violations: []int64{0, 3}, LatencyStep: time.Second,
		Latency: map[string]*sim.LatencySeries{sim.HistAck: {
			Count: []int64{4, 0}, P50: []time.Duration{1500 * time.Microsecond, 0}, P99: []time.Duration{20 * time.Millisecond, 0},
		}},
	})
	ack := c.Latency[sim.HistAck]
	if c.LatencyStepMs != 1000 || len(c.Violations) != 2 || c.Violations[1] != 3 {
		t.Errorf("curve = step %d, violations %v; want 1000 and [0 3]", c.LatencyStepMs, c.Violations)
	}
	if ack.P50Ms[0] == nil || *ack.P50Ms[0] != 1.5 || ack.P99Ms[0] == nil || *ack.P99Ms[0] != 20 {
		t.Fatalf("ack point 0 = %v, %v; want 1.5 and 20 ms", show(ack.P50Ms[0]), show(ack.P99Ms[0]))
	}
	if ack.P50Ms[1] != nil || ack.P99Ms[1] != nil || ack.Count[1] != 0 {
		t.Errorf("an interval without values has p50 %v: want null, not 0", show(ack.P50Ms[1]))
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, &Result{Schema: Schema, Curve: c}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"latency_step_ms": 1000`, `"p50_ms": [`, `"violations": [`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

// leastResult is the least a result holds, as herd wrote them before it
// kept time series.
const leastResult = `"scenario":"aws-outage","seed":1,"cameras":10,"started":"2026-01-01T00:00:00Z","ended":"2026-01-01T00:01:00Z",` +
	`"verdict":"pass","reasons":[],"thresholds":[],"violations":{"total":0,"counts":{}},"events":{"acked":5},` +
	`"recovery":{"affected":10},"errors":{"operations":20},"audit":{"accounts":4},"shards":[]`

func TestReadJSONRefusesAHollowResult(t *testing.T) {
	for _, doc := range []string{`{"schema":"herd.result/v1"}`, `{"schema":"herd.result/v1",` + strings.Replace(leastResult, `"verdict":"pass",`, "", 1) + `}`} {
		_, err := ReadJSON(strings.NewReader(doc))
		if err == nil || !strings.Contains(err.Error(), "verdict") {
			t.Errorf("ReadJSON(%.60s…) = %v, want it refused, naming the missing verdict", doc, err)
		}
	}
	if _, err := ReadJSON(strings.NewReader(`{"schema":"herd.result/v1",` + strings.Replace(leastResult, `"pass"`, `"maybe"`, 1) + `}`)); err == nil {
		t.Error("a verdict that is none of herd's was read")
	}
}

func TestReadJSONAcceptsResultsWithoutTheTimeSeries(t *testing.T) {
	old := `{"schema":"herd.result/v1",` + leastResult + `,"curve":{"start":"2026-01-01T00:00:00Z","step_ms":100,"connected":[1],"connects":[1],"errors":[0]}}`
	r, err := ReadJSON(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if r.Curve.Violations != nil || r.Curve.Latency != nil || r.Curve.LatencyStepMs != 0 {
		t.Errorf("old result read with time series %+v; want them absent", r.Curve)
	}
}

// Shards' audits add up: one shard that gave up and left accounts unread
// makes the merged audit give up and the merged verdict fail.
func TestMergeCarriesAnAuditThatGaveUp(t *testing.T) {
	unread := func(r string) bool { return strings.Contains(r, "could not read 40 of") }
	a, b := fixture(t), fixture(t)
	if slices.ContainsFunc(a.Reasons, unread) {
		t.Fatalf("fixture reasons %q already name unread accounts", a.Reasons)
	}
	for _, r := range []*Result{a, b} {
		r.Shards[0].Of = 2
	}
	b.Shards[0].Index = 1
	b.Audit.FailedAccounts, b.Audit.GaveUp = 40, true
	m, err := Merge([]Input{{"a", a}, {"b", b}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Audit.GaveUp || m.Audit.FailedAccounts != 40 || m.Audit.Accounts != a.Audit.Accounts+b.Audit.Accounts {
		t.Errorf("merged audit %+v, want gave_up with 40 of %d accounts unread", m.Audit, a.Audit.Accounts+b.Audit.Accounts)
	}
	if m.Verdict != Fail || !slices.ContainsFunc(m.Reasons, unread) {
		t.Errorf("merged verdict %s (%q), want fail naming the unread accounts", m.Verdict, m.Reasons)
	}
	var out strings.Builder
	WriteSummary(&out, m)
	if !strings.Contains(out.String(), "40 accounts could not be read whole (gave up: the target stopped answering)") {
		t.Errorf("summary does not say the audit gave up:\n%s", out.String())
	}
	var page strings.Builder
	if err := WriteHTML(&page, m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "40 accounts could not be read whole</span> <span class=\"fail\">(gave up: the target stopped answering)") {
		t.Error("the HTML report does not say the audit gave up")
	}
}
