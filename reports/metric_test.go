package reports

import (
	"testing"

	"github.com/herd-drill/herd/catalog"
)

// Every metric a threshold can test stands where the catalog says in a
// result: a wrong path would leave a threshold passing for "no data".
func TestEveryMetricHasAValueInALifelikeResult(t *testing.T) {
	r := fixture(t)
	for _, m := range catalog.Metrics() {
		if _, ok := MetricValue(r, m.Name); !ok {
			t.Errorf("%s: no value at %q in a result that has every figure", m.Name, m.Path)
		}
	}
}

func TestMetricValues(t *testing.T) {
	r := fixture(t)
	for _, tt := range []struct {
		metric string
		want   float64
	}{
		{"violations.total", float64(r.Violations.Total)},
		{"violations.cross_account", float64(r.Violations.Counts[catalog.CrossAccount])},
		{"recovery.t99", *r.Recovery.T99Ms},
		{"first_ack.p99", r.Latency["first_ack"].P99Ms},
		{"connect.p999", r.Latency["connect"].P999Ms},
		{"list.mean", r.Latency["list"].MeanMs},
		{"errors.rate", r.Errors.Rate},
		{"shed.rate", r.Errors.ShedRate},
		{"shed.total", float64(r.Errors.Shed)},
		{"events.lost", float64(r.Events.Lost)},
		{"generator.lag_p99", r.Generator.LagP99Ms},
	} {
		if got, ok := MetricValue(r, tt.metric); !ok || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.metric, got, ok, tt.want)
		}
	}
}

func TestMetricsWithoutData(t *testing.T) {
	r := fixture(t)
	r.Recovery.T99Ms = nil
	r.Errors.Operations = 0
	live := r.Latency["live"]
	live.Count = 0
	r.Latency["live"] = live
	delete(r.Latency, "thumbnail")
	delete(r.Violations.Counts, catalog.IDOR)
	for _, m := range []string{"recovery.t99", "errors.rate", "shed.rate", "live.p99", "thumbnail.max", "violations.idor", "no.such"} {
		if v, ok := MetricValue(r, m); ok {
			t.Errorf("%s = %v, want no data", m, v)
		}
	}
	if _, ok := MetricValue(r, "errors.total"); !ok {
		t.Error("errors.total: a count has data even with no operations")
	}
}
