package live

import (
	"context"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herd-drill/herd/catalog"
)

// Metrics exports a drill's Status to Prometheus. It holds the last Status
// and turns it into metrics at each scrape, so the cumulative counts of a
// Status, summed over workers or not, are exported exactly as they are:
// nothing is added up here, and nothing is counted twice.
//
// Update expects counts that never go down during a drill; a coordinator
// keeps a dead worker's last snapshot in its sum, or Prometheus would take
// the drop for a counter reset.
type Metrics struct {
	reg *prometheus.Registry
	c   *collector
}

// NewMetrics returns Metrics with nothing to export until the first Update.
// Its registry holds only herd's families: herd's own Go runtime is not the
// system under test.
func NewMetrics() *Metrics {
	c := &collector{phases: map[string]bool{}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return &Metrics{reg: reg, c: c}
}

// Update makes s the Status exported from now on. It copies s, so the
// caller may reuse its maps.
func (m *Metrics) Update(s Status) {
	s.ErrorsByClass = maps.Clone(s.ErrorsByClass)
	s.ViolationsByClass = maps.Clone(s.ViolationsByClass)
	lat := make(map[string]Buckets, len(s.Latency))
	for name, b := range s.Latency {
		lat[name] = b.clone()
	}
	s.Latency = lat
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	m.c.last, m.c.updated = s, true
	if s.Phase != "" {
		m.c.phases[s.Phase] = true
	}
}

// Handler serves the metrics in Prometheus's exposition formats. A latency
// histogram that is not well formed (see Buckets.Validate) is left out and
// the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve timeouts: a scrape is small, so a slow client is a stuck one.
const (
	readHeaderTimeout = 5 * time.Second
	writeTimeout      = 10 * time.Second
	shutdownTimeout   = 2 * time.Second
)

// Serve listens on addr (host:port; port 0 picks a free one) and serves
// the metrics at /metrics until ctx ends, then lets a scrape in flight
// finish for up to two seconds. It returns the address it listens on once
// it is listening, or the error that kept it from listening.
func (m *Metrics) Serve(ctx context.Context, addr string) (actualAddr string, err error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, WriteTimeout: writeTimeout}
	// Serve closes ln when it returns: with ErrServerClosed once Shutdown
	// starts, or early if accepting fails, and then there is no one left to
	// tell but the scraper, who sees the port closed.
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	return ln.Addr().String(), nil
}

// The families, described once.
var (
	descCameras    = prometheus.NewDesc("herd_cameras", "Simulated cameras in the drill.", nil, nil)
	descConnected  = prometheus.NewDesc("herd_cameras_connected", "Cameras connected now.", nil, nil)
	descConnects   = prometheus.NewDesc("herd_connects_total", "Successful camera connects since the drill started.", nil, nil)
	descAcked      = prometheus.NewDesc("herd_events_acked_total", "Events the target acknowledged.", nil, nil)
	descErrors     = prometheus.NewDesc("herd_errors_total", "Failures the fleet saw, by class; http_429, http_503, close_1013 and nack are the target's load shedding, counted apart from errors in the result.", []string{"class"}, nil)
	descViolations = prometheus.NewDesc("herd_violations_total", "What the oracle flagged, by class: "+classHelp()+".", []string{"class"}, nil)
	descLatency    = prometheus.NewDesc("herd_latency_seconds", "Latency of each operation, measured from its intended time: "+opHelp()+".", []string{"op"}, nil)
	descPhase      = prometheus.NewDesc("herd_phase", "1 for the drill's current phase, 0 for phases it has left.", []string{"phase"}, nil)
	descDead       = prometheus.NewDesc("herd_workers_dead", "Worker processes that ended before the drill did.", nil, nil)
)

// classHelp says what each violation class means.
func classHelp() string {
	var parts []string
	for _, c := range catalog.Classes() {
		parts = append(parts, c.Name+" is "+c.Help)
	}
	return strings.Join(parts, "; ")
}

// opHelp says what each latency measures.
func opHelp() string {
	var parts []string
	for _, h := range catalog.Histograms() {
		parts = append(parts, h.Name+" is "+h.Help)
	}
	return strings.Join(parts, "; ")
}

// collector turns the last Status into metrics at each scrape.
type collector struct {
	mu      sync.Mutex
	last    Status
	updated bool
	phases  map[string]bool // every phase seen, to export 0 for the past ones
}

var _ prometheus.Collector = (*collector)(nil)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCameras, descConnected, descConnects, descAcked, descErrors, descViolations, descLatency, descPhase, descDead} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.updated {
		return
	}
	s := c.last
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descCameras, float64(s.Cameras))
	gauge(descConnected, float64(s.Connected))
	counter(descConnects, s.Connects)
	counter(descAcked, s.EventsAcked)
	for _, cc := range byClass(s.Errors, s.ErrorsByClass) {
		counter(descErrors, cc.n, cc.class)
	}
	for _, cc := range byClass(s.Violations, s.ViolationsByClass) {
		counter(descViolations, cc.n, cc.class)
	}
	for _, op := range slices.Sorted(maps.Keys(s.Latency)) {
		ch <- constHistogram(op, s.Latency[op])
	}
	for p := range c.phases {
		v := 0.0
		if p == s.Phase {
			v = 1
		}
		gauge(descPhase, v, p)
	}
	gauge(descDead, float64(s.WorkersDead))
}

// constHistogram is b as a Prometheus histogram, or an invalid metric that
// says what is wrong with it.
func constHistogram(op string, b Buckets) prometheus.Metric {
	if err := b.Validate(); err != nil {
		return prometheus.NewInvalidMetric(descLatency, err)
	}
	buckets := make(map[float64]uint64, len(b.Upper))
	for i, u := range b.Upper {
		buckets[u] = b.Counts[i]
	}
	m, err := prometheus.NewConstHistogram(descLatency, b.Count, b.Sum, buckets, op)
	if err != nil {
		return prometheus.NewInvalidMetric(descLatency, err)
	}
	return m
}
