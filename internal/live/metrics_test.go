package live

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs url and parses the text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain") // the classic text format, not protobuf or OpenMetrics
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value is the value of the family's series with the given label pairs
// (name, value, ...); ok is false if there is no such series.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		var got []string
		for _, lp := range m.GetLabel() {
			got = append(got, lp.GetName(), lp.GetValue())
		}
		if !slices.Equal(got, labels) {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// series is one expected sample: family, labels, value.
type series struct {
	name   string
	labels []string
	want   float64
}

func checkSeries(t *testing.T, fams map[string]*dto.MetricFamily, want []series) {
	t.Helper()
	for _, s := range want {
		got, ok := value(fams, s.name, s.labels...)
		if !ok {
			t.Errorf("%s%v: missing", s.name, s.labels)
		} else if got != s.want {
			t.Errorf("%s%v = %v, want %v", s.name, s.labels, got, s.want)
		}
	}
}

func TestServeMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m := NewMetrics()
	addr, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr + "/metrics"

	if fams := scrape(t, url); len(fams) != 0 {
		t.Errorf("before the first Update: %d families, want none", len(fams))
	}

	s := sample(5 * time.Second)
	s.Phase = "steady"
	s.Errors = 9 // two more than the classes say
	s.Latency = map[string]Buckets{
		"connect": {Upper: []float64{0.01, 0.1, 1}, Counts: []uint64{5, 8, 9}, Count: 10, Sum: 2.5},
		"ack":     {Upper: []float64{0.01, 0.1, 1}, Counts: []uint64{1, 1, 1}, Count: 1, Sum: 0.002},
	}
	m.Update(s)
	s.ErrorsByClass["timeout"] = 1000 // Update took a copy
	fams := scrape(t, url)
	checkSeries(t, fams, []series{
		{"herd_cameras", nil, 1000},
		{"herd_cameras_connected", nil, 512},
		{"herd_connects_total", nil, 1400},
		{"herd_events_acked_total", nil, 12034},
		{"herd_errors_total", []string{"class", "http_503"}, 5},
		{"herd_errors_total", []string{"class", "timeout"}, 2},
		{"herd_errors_total", []string{"class", "unclassified"}, 2},
		{"herd_violations_total", []string{"class", "cross_account"}, 1},
		{"herd_violations_total", []string{"class", "forged"}, 0},
		{"herd_phase", []string{"phase", "steady"}, 1},
		{"herd_workers_dead", nil, 0},
		{"herd_latency_seconds", []string{"op", "connect"}, 10},
		{"herd_latency_seconds", []string{"op", "ack"}, 1},
	})
	wantTypes := map[string]dto.MetricType{
		"herd_cameras": dto.MetricType_GAUGE, "herd_cameras_connected": dto.MetricType_GAUGE,
		"herd_connects_total": dto.MetricType_COUNTER, "herd_events_acked_total": dto.MetricType_COUNTER,
		"herd_errors_total": dto.MetricType_COUNTER, "herd_violations_total": dto.MetricType_COUNTER,
		"herd_latency_seconds": dto.MetricType_HISTOGRAM, "herd_phase": dto.MetricType_GAUGE,
		"herd_workers_dead": dto.MetricType_GAUGE,
	}
	for name, typ := range wantTypes {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: family %v, want type %v", name, f, typ)
		}
	}
	if len(fams) != len(wantTypes) {
		t.Errorf("%d families, want %d", len(fams), len(wantTypes))
	}
	checkHistogram(t, fams, "connect", 10, 2.5, []float64{0.01, 0.1, 1}, []uint64{5, 8, 9})

	// A later snapshot with larger counts, a new phase and a dead worker.
	s = sample(15 * time.Second)
	s.Connects, s.EventsAcked, s.Violations = 2000, 20000, 3
	s.ViolationsByClass = map[string]int64{"cross_account": 3}
	s.WorkersDead = 1
	s.Latency = map[string]Buckets{"connect": {Upper: []float64{0.01, 0.1, 1}, Counts: []uint64{6, 9, 12}, Count: 14, Sum: 4}}
	m.Update(s)
	fams = scrape(t, url)
	checkSeries(t, fams, []series{
		{"herd_connects_total", nil, 2000},
		{"herd_events_acked_total", nil, 20000},
		{"herd_violations_total", []string{"class", "cross_account"}, 3},
		{"herd_phase", []string{"phase", "steady"}, 0},
		{"herd_phase", []string{"phase", "outage"}, 1},
		{"herd_workers_dead", nil, 1},
	})
	checkHistogram(t, fams, "connect", 14, 4, []float64{0.01, 0.1, 1}, []uint64{6, 9, 12})

	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			break // stopped
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still serving 5s after ctx ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func checkHistogram(t *testing.T, fams map[string]*dto.MetricFamily, op string, count uint64, sum float64, upper []float64, cum []uint64) {
	t.Helper()
	for _, m := range fams["herd_latency_seconds"].GetMetric() {
		if m.GetLabel()[0].GetValue() != op {
			continue
		}
		h := m.GetHistogram()
		if h.GetSampleCount() != count || h.GetSampleSum() != sum {
			t.Errorf("%s: count %d sum %v, want %d and %v", op, h.GetSampleCount(), h.GetSampleSum(), count, sum)
		}
		var gotUpper []float64
		var gotCum []uint64
		for _, b := range h.GetBucket() {
			gotUpper = append(gotUpper, b.GetUpperBound())
			gotCum = append(gotCum, b.GetCumulativeCount())
		}
		// The text format carries +Inf as a bucket of its own.
		if n := len(gotUpper); n > 0 && gotUpper[n-1] > 1e300 {
			if gotCum[n-1] != count {
				t.Errorf("%s: +Inf bucket %d, want the count %d", op, gotCum[n-1], count)
			}
			gotUpper, gotCum = gotUpper[:n-1], gotCum[:n-1]
		}
		if !slices.Equal(gotUpper, upper) || !slices.Equal(gotCum, cum) {
			t.Errorf("%s: buckets le %v = %v, want le %v = %v", op, gotUpper, gotCum, upper, cum)
		}
		return
	}
	t.Errorf("herd_latency_seconds{op=%q} missing", op)
}

func TestMetricsBadHistogramLeftOut(t *testing.T) {
	m := NewMetrics()
	m.Update(Status{Phase: "steady", Cameras: 3, Latency: map[string]Buckets{
		"ack":  {Upper: []float64{1, 0.5}, Counts: []uint64{1, 1}, Count: 1}, // bounds descend
		"list": {Upper: []float64{0.5, 1}, Counts: []uint64{1, 2}, Count: 2, Sum: 1},
	}})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv.URL)
	checkSeries(t, fams, []series{{"herd_cameras", nil, 3}, {"herd_latency_seconds", []string{"op", "list"}, 2}})
	if _, ok := value(fams, "herd_latency_seconds", "op", "ack"); ok {
		t.Error("malformed ack histogram exported")
	}
}

func TestServeBadAddress(t *testing.T) {
	if _, err := NewMetrics().Serve(t.Context(), "127.0.0.1:notaport"); err == nil {
		t.Error("no error for a bad address")
	}
}

func TestMetricsOtherPaths(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, err := NewMetrics().Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: %s, want 404", resp.Status)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Errorf("Serve returned %q, want the port it listens on", addr)
	}
}
