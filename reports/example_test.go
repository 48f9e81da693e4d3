package reports_test

import (
	"fmt"

	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/scenarios"
)

// Judge evaluates a scenario's thresholds against a result and sets its
// verdict; MetricValue reads a metric the way thresholds see it.
func ExampleJudge() {
	sc := scenarios.Defaults()
	for _, expr := range []string{"recovery.t99 < 60s", "errors.rate < 1%"} {
		th, err := scenarios.ParseThreshold(expr)
		if err != nil {
			panic(err)
		}
		sc.Thresholds = append(sc.Thresholds, th)
	}
	t99 := 42_000.0
	r := &reports.Result{
		Recovery: reports.Recovery{Affected: 1000, Reconnected: 1000, T99Ms: &t99},
		Errors:   reports.Errors{Operations: 1000, Total: 30, Rate: 0.03},
		Events:   reports.Events{Acked: 5000},
		Audit:    reports.Audit{Done: true, Accounts: 400, Events: 5000},
		Latency:  map[string]reports.Latency{"list": {Count: 120}},
	}
	reports.Judge(r, sc)
	for _, t := range r.Thresholds {
		fmt.Printf("%-20s %v\n", t.Expr, t.Pass)
	}
	fmt.Println(r.Verdict, r.Reasons)
	// Output:
	// recovery.t99 < 60s   true
	// errors.rate < 1%     false
	// fail [threshold failed: errors.rate < 1%]
}
