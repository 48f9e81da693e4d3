// Package catalog names, once, what a drill measures and judges: the
// oracle's violation classes, the latency histograms, and the metrics a
// scenario's thresholds test, each with its unit, its help and where its
// value stands in a herd.result/v1 file. Thresholds, the summary, JUnit,
// Prometheus and the HTML page all read them from here.
package catalog

import (
	"slices"
	"strings"
)

// The oracle's violation classes.
const (
	CrossAccount = "cross_account"
	Forged       = "forged"
	Mislabelled  = "mislabelled"
	Lost         = "lost"
	Duplicate    = "duplicate"
	Misaddressed = "misaddressed"
	IDOR         = "idor"
)

// Class is one kind of oracle violation.
type Class struct {
	Name string
	Help string // what it means, for people
}

var classes = []Class{
	{CrossAccount, "a person was shown an event, thumbnail or live frame made by a camera of another account (the leak)"},
	{Forged, "data came back that no simulated camera produced: bytes without valid provenance, or an event id no camera of herd sent"},
	{Mislabelled, "genuine and owned by the viewer, but labelled as another device, sequence, account, time or kind"},
	{Lost, "acknowledged by the target, absent from its account's Events tab at the final audit"},
	{Duplicate, "the same event listed more than once for an account"},
	{Misaddressed, "a welcome, ack, live request or frame meant for another device"},
	{IDOR, "a deliberate probe for another account's data was answered instead of refused"},
}

// Classes returns every violation class, the leak first.
func Classes() []Class { return slices.Clone(classes) }

// ClassHelp says what class means; a class this herd does not know is one
// of a newer herd's.
func ClassHelp(class string) string {
	for _, c := range classes {
		if c.Name == class {
			return c.Help
		}
	}
	return "a violation class of a newer herd"
}

// The latency histograms a drill records.
const (
	HistConnect   = "connect"
	HistAck       = "ack"
	HistFirstAck  = "first_ack"
	HistList      = "list"
	HistThumbnail = "thumbnail"
	HistLive      = "live"
	HistPuback    = "puback"
)

// Histogram is one latency a drill records.
type Histogram struct {
	Name string
	Help string
}

var histograms = []Histogram{
	{HistConnect, "device connection: dial to welcome"},
	{HistAck, "event sent to ack"},
	{HistFirstAck, "a camera's reconnection to its first acknowledged event"},
	{HistList, "Events-tab page request"},
	{HistThumbnail, "thumbnail fetch"},
	{HistLive, "live-view request to frame"},
	{HistPuback, "an MQTT camera's publish to the broker's PUBACK (the broker took it; the target's ack is ack)"},
}

// Histograms returns the latency histograms, in the order reports show
// them.
func Histograms() []Histogram { return slices.Clone(histograms) }

// Units of metrics.
const (
	UnitMillis = "ms"    // a time; thresholds write it as a duration ("60s")
	UnitRatio  = "ratio" // a share between 0 and 1; written "5%" or 0.05
	UnitCount  = "count" // a number of things; written as a plain number
)

// Metric is one figure of a drill's result that a threshold can test.
type Metric struct {
	Name string
	Unit string // UnitMillis, UnitRatio or UnitCount
	Help string
	// Path is where the value stands in a herd.result/v1 document, as a
	// GJSON path (github.com/tidwall/gjson); a null or absent value is no
	// data.
	Path string
	// Data, when set, is a path whose number is 0 when the run has no data
	// for the metric (no operations, no samples in the histogram).
	Data string
}

var metrics, metricIndex = build()

func build() ([]Metric, map[string]Metric) {
	var ms []Metric
	add := func(m Metric) { ms = append(ms, m) }
	add(Metric{Name: "violations.total", Unit: UnitCount, Help: "oracle violations of every class", Path: "violations.total"})
	for _, c := range classes {
		add(Metric{Name: "violations." + c.Name, Unit: UnitCount, Help: c.Help, Path: "violations.counts." + c.Name})
	}
	for _, e := range []struct{ name, help string }{
		{"viewers_listed", "accounts shown at least one other account's event in a list"},
		{"viewers_opened", "accounts whose app opened at least one other account's thumbnail"},
		{"viewers_watched", "accounts that received at least one other account's live frame"},
		{"victims", "accounts whose data (events, thumbnails, frames, identifiers) was shown to another account"},
		{"devices_exposed", "cameras of those accounts whose data was shown"},
	} {
		add(Metric{Name: "exposure." + e.name, Unit: UnitCount, Help: e.help, Path: "exposure." + e.name})
	}
	for _, q := range []string{"50", "90", "99", "100"} {
		add(Metric{Name: "recovery.t" + q, Unit: UnitMillis, Path: "recovery.t" + q + "_ms",
			Help: "time from the outage's end until " + q + "% of the affected cameras are connected again"})
	}
	for _, q := range []string{"50", "99"} {
		add(Metric{Name: "first_ack.p" + q, Unit: UnitMillis, Path: "latency.first_ack.p" + q + "_ms", Data: "latency.first_ack.count",
			Help: "time from a camera's reconnection to its first acknowledged event, p" + q})
	}
	stats := []struct{ suffix, help string }{
		{"p50", "median"}, {"p90", "90th percentile"}, {"p99", "99th percentile"},
		{"p999", "99.9th percentile"}, {"max", "maximum"}, {"mean", "mean"},
	}
	for _, h := range histograms {
		if h.Name == HistFirstAck {
			continue // first_ack.p50 and .p99, above
		}
		for _, st := range stats {
			add(Metric{Name: h.Name + "." + st.suffix, Unit: UnitMillis, Help: st.help + " latency of " + h.Help,
				Path: "latency." + h.Name + "." + st.suffix + "_ms", Data: "latency." + h.Name + ".count"})
		}
	}
	add(Metric{Name: "errors.rate", Unit: UnitRatio, Path: "errors.rate", Data: "errors.operations",
		Help: "failed operations / operations (connects, events, requests); load shedding (429, 503, close 1013, nack) is counted apart, as shed"})
	add(Metric{Name: "errors.total", Unit: UnitCount, Path: "errors.total", Help: "failed operations, not counting load shedding"})
	add(Metric{Name: "shed.rate", Unit: UnitRatio, Path: "errors.shed_rate", Data: "errors.operations",
		Help: "operations the target refused as load shedding (429, 503, close 1013, nack) / operations"})
	add(Metric{Name: "shed.total", Unit: UnitCount, Path: "errors.shed", Help: "operations the target refused as load shedding"})
	add(Metric{Name: "events.lost", Unit: UnitCount, Path: "events.lost", Help: "acknowledged events missing from their account's Events tab at the end"})
	add(Metric{Name: "events.acked", Unit: UnitCount, Path: "events.acked", Help: "events the target acknowledged"})
	add(Metric{Name: "generator.lag_p99", Unit: UnitMillis, Path: "generator.lag_p99_ms",
		Help: "how late herd itself started operations, p99; when high, herd was the bottleneck, not the target"})
	idx := make(map[string]Metric, len(ms))
	for _, m := range ms {
		idx[m.Name] = m
	}
	return ms, idx
}

// Metrics returns the metrics thresholds can test, violations first.
func Metrics() []Metric { return slices.Clone(metrics) }

// LookupMetric returns the metric called name.
func LookupMetric(name string) (Metric, bool) {
	m, ok := metricIndex[name]
	return m, ok
}

// MetricNames lists every metric's name, in Metrics order.
func MetricNames() []string {
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = m.Name
	}
	return names
}

// IsRecovery reports whether metric is a recovery time, which has no data
// when no camera was affected by an outage or when that share of them
// never came back.
func IsRecovery(metric string) bool { return strings.HasPrefix(metric, "recovery.") }

// ErrorClass is one kind of failure a drill counts: what it means and what
// to do about it. Shed classes are the target's documented load shedding,
// counted apart from errors.
type ErrorClass struct {
	Name    string
	Meaning string
	Remedy  string
	Shed    bool
}

var errorClasses = []ErrorClass{
	{Name: "refused", Meaning: "the target refused the TCP connection: nothing listened there",
		Remedy: "check --target (and --broker), and that the target (every cell) and its broker are running"},
	{Name: "timeout", Meaning: "a dial, handshake, welcome or request got no answer in time",
		Remedy: "the target is overloaded or unreachable: look at its CPU and queues; herd's own lag (the herd line) says whether herd was the bottleneck"},
	{Name: "http_401", Meaning: "the target refused a device or user token (over MQTT: CONNACK 0x86/0x87, or a refused subscription)",
		Remedy: "provision the fleet (drop --provision=false), or provision it from 'herd fleet export' with the same --key-file, --cameras and --seed"},
	{Name: "http_429", Meaning: "the target shed load with 429 Too Many Requests", Shed: true,
		Remedy: "expected under a herd: the reconnect policy and Retry-After decide how fast it clears"},
	{Name: "http_503", Meaning: "the target shed load with 503 Service Unavailable (over MQTT: CONNACK 0x88, 0x89, 0x97 or 0x9F)", Shed: true,
		Remedy: "expected under a herd: the reconnect policy and Retry-After decide how fast it clears"},
	{Name: "http_other", Meaning: "the target answered a status herd/1 does not promise for that request (the codes are listed beside it)",
		Remedy: "look up those status codes in the target's logs"},
	{Name: "close_1013", Meaning: "the target shed an open connection with close code 1013, try again later (over MQTT: DISCONNECT 0x89 or 0x97)", Shed: true,
		Remedy: "expected under a herd: cameras come back under their reconnect policy"},
	{Name: "close_1001", Meaning: "the target closed connections as going away (1001; over MQTT: DISCONNECT 0x8B): a restart or a deploy",
		Remedy: "check whether the target restarted during the drill"},
	{Name: "close_other", Meaning: "a connection closed with another code, or dropped without one",
		Remedy: "look at the target's and any proxy's idle and connection limits"},
	{Name: "protocol", Meaning: "a message or response body broke herd/1",
		Remedy: "compare the target's messages with docs/PROTOCOL.md"},
	{Name: "network", Meaning: "a reset, a broken pipe or another network failure",
		Remedy: "look at the target's and any load balancer's logs for resets"},
	{Name: "emfile", Meaning: "herd ran out of file descriptors: herd's limit, not the target's",
		Remedy: "lower --cameras, or run the target in another process (herd target) and pass --target"},
	{Name: "eaddrnotavail", Meaning: "herd ran out of local ports or addresses: herd's limit, not the target's",
		Remedy: "spread cameras over more loopback source addresses (more worker processes), or wait ~60 s for TIME_WAIT to drain"},
	{Name: "nack", Meaning: "the target answered an event with nack: it did not take it (load shedding)", Shed: true,
		Remedy: "expected under a herd: the camera resends it later"},
	{Name: "live_timeout", Meaning: "a live-view request answered 504: the device's frame did not reach the app in time",
		Remedy: "look at the target's live-view relay and its time-out"},
}

// ErrorClasses returns every error class, in report order.
func ErrorClasses() []ErrorClass { return slices.Clone(errorClasses) }

// LookupError returns the error class called name.
func LookupError(name string) (ErrorClass, bool) {
	for _, e := range errorClasses {
		if e.Name == name {
			return e, true
		}
	}
	return ErrorClass{}, false
}

// IsShed reports whether class is load shedding rather than an error.
func IsShed(class string) bool {
	e, ok := LookupError(class)
	return ok && e.Shed
}
