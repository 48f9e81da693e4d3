// Package reports turns what a drill measured into a versioned Result,
// judges it against the scenario's thresholds, and writes it for people
// (a terminal summary) and for machines (JSON). Each output format is a
// function writing to an io.Writer.
package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/tidwall/gjson"

	"github.com/herd-drill/herd/catalog"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/oracle"
)

// Schema is the version tag of a Result; readers check it.
const Schema = "herd.result/v1"

// Verdicts.
const (
	Pass = "pass"
	Fail = "fail"
	// Interrupted: the drill was stopped before it ended, and found no
	// violation in what it ran; its thresholds were not measured.
	Interrupted = "interrupted"
	// Error: the drill could not run (provisioning failed, say); nothing
	// was measured.
	Error = "error"
)

// Threshold statuses.
const (
	ThresholdPass        = "pass"
	ThresholdFail        = "fail"
	ThresholdNotMeasured = "not_measured" // the drill was interrupted before it could
)

// Result is one drill's outcome, judged: the herd.result/v1 document.
type Result struct {
	Schema         string `json:"schema"`
	HerdVersion    string `json:"herd_version"`
	Scenario       string `json:"scenario"`
	ScenarioSource string `json:"scenario_source"`
	// ScenarioYAML is the scenario as run (every default, override and
	// time scale applied): merge re-judges a merged result by it.
	ScenarioYAML string `json:"scenario_yaml"`
	Seed         uint64 `json:"seed"`
	// Cameras and Accounts are what this result covers; FleetCameras is
	// the whole seeded layout's size (more than Cameras for a shard).
	Cameras      int `json:"cameras"`
	Accounts     int `json:"accounts"`
	FleetCameras int `json:"fleet_cameras"`
	// Shards lists the parts this result is made of: one for a run in one
	// process, one per worker or shard once merged.
	Shards []ShardInfo `json:"shards"`
	// KeyID names the oracle key (a hash of it, not the key): shards can
	// only check each other's provenance when they share it.
	KeyID string `json:"key_id"`
	// Run is the run namespace every account, device and token of the
	// drill started with (derived from the key): the drill's own names on
	// a backend that keeps earlier drills' data.
	Run         string             `json:"run"`
	Policy      string             `json:"policy"`
	Target      TargetInfo         `json:"target"`
	Started     time.Time          `json:"started"`
	Ended       time.Time          `json:"ended"`
	DurationMs  int64              `json:"duration_ms"`
	Verdict     string             `json:"verdict"`
	Reasons     []string           `json:"reasons"`
	Interrupted bool               `json:"interrupted"`
	Thresholds  []ThresholdResult  `json:"thresholds"`
	Violations  Violations         `json:"violations"`
	Exposure    Exposure           `json:"exposure"`
	Recovery    Recovery           `json:"recovery"`
	Latency     map[string]Latency `json:"latency"`
	Events      Events             `json:"events"`
	Errors      Errors             `json:"errors"`
	Counts      map[string]int64   `json:"counts"`
	Audit       Audit              `json:"audit"`
	Phases      []sim.PhaseSpan    `json:"phases"`
	OutageEnds  []time.Time        `json:"outage_ends"`
	Curve       Curve              `json:"curve"`
	Generator   Generator          `json:"generator"`
}

// ShardInfo is one part of a run: shard Index of Of, its size, and whether
// it finished.
type ShardInfo struct {
	Index    int    `json:"index"`
	Of       int    `json:"of"`
	Cameras  int    `json:"cameras"`
	Accounts int    `json:"accounts"`
	Status   string `json:"status"` // ShardOK, ShardInterrupted or ShardFailed
	Detail   string `json:"detail,omitempty"`
	PID      int    `json:"pid,omitempty"`
}

// Shard statuses.
const (
	ShardOK          = "ok"
	ShardInterrupted = "interrupted"
	ShardFailed      = "failed" // no result: its cameras are missing from the totals
)

// TargetInfo says what was drilled.
type TargetInfo struct {
	URLs     []string `json:"urls"`
	Embedded bool     `json:"embedded"`
	Faults   []string `json:"faults"`
	// Brokers are the MQTT brokers the cameras connected to (herd/1 over
	// MQTT, of MQTTVersion "5" or "3.1.1"); none over WebSocket.
	Brokers     []string `json:"brokers,omitempty"`
	MQTTVersion string   `json:"mqtt_version,omitempty"`
	// Unreachable are the spans in which the target answered nothing.
	Unreachable []UnreachableSpan `json:"unreachable"`
}

// ThresholdResult is one threshold, its measured value and its verdict.
// Value is nil when the run produced no data for the metric.
type ThresholdResult struct {
	Expr   string   `json:"expr"`
	Metric string   `json:"metric"`
	Value  *float64 `json:"value"`
	Unit   string   `json:"unit"`
	Pass   bool     `json:"pass"`
	Status string   `json:"status"` // ThresholdPass, ThresholdFail or ThresholdNotMeasured
	Note   string   `json:"note,omitempty"`
}

// Violations are the oracle's findings: a count for every class (0
// included) and up to 100 evidence records.
type Violations struct {
	Total    int64             `json:"total"`
	Counts   map[string]int64  `json:"counts"`
	Evidence []oracle.Evidence `json:"evidence"`
}

// Recovery is how fast cameras came back after their outage ended. A
// T-value is nil when that share of cameras never reconnected.
type Recovery struct {
	Affected    int64    `json:"affected"`
	Reconnected int64    `json:"reconnected"`
	T50Ms       *float64 `json:"t50_ms"`
	T90Ms       *float64 `json:"t90_ms"`
	T99Ms       *float64 `json:"t99_ms"`
	T100Ms      *float64 `json:"t100_ms"`
	HDR         string   `json:"hdr"` // time to reconnect per camera-outage window, µs, for exact merges
}

// Latency is one histogram's percentiles in milliseconds, plus the whole
// histogram, compressed, so results merge exactly.
type Latency struct {
	Count  int64   `json:"count"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
	HDR    string  `json:"hdr"`
}

// Events counts what the cameras did with their events.
type Events struct {
	Captured       int64 `json:"captured"`
	Sent           int64 `json:"sent"`
	Resent         int64 `json:"resent"`
	Acked          int64 `json:"acked"`
	Nacked         int64 `json:"nacked"`
	BacklogDropped int64 `json:"backlog_dropped"`
	Lost           int64 `json:"lost"`
}

// Errors counts failed operations by class. Load shedding (429, 503,
// close 1013, nack: the target refusing work the way herd/1 allows) is in
// ByClass but counted in Shed, not in Total.
type Errors struct {
	Total      int64             `json:"total"`
	Operations int64             `json:"operations"`
	Rate       float64           `json:"rate"`
	Shed       int64             `json:"shed"`
	ShedRate   float64           `json:"shed_rate"`
	ByClass    map[string]int64  `json:"by_class"`
	Remedies   map[string]string `json:"remedies,omitempty"`
	// HTTPOtherCodes counts the statuses behind by_class's http_other.
	HTTPOtherCodes map[string]int64 `json:"http_other_codes,omitempty"`
}

// Audit says how the final audit went.
type Audit struct {
	Done           bool `json:"done"`
	Accounts       int  `json:"accounts"`
	FailedAccounts int  `json:"failed_accounts"`
	// Unread counts the accounts in FailedAccounts by reason: cursor_stuck,
	// shed, unreachable, bad_page, gave_up, status_NNN.
	Unread map[string]int `json:"unread,omitempty"`
	Events int64          `json:"events"`
	// GaveUp: the target answered no audit request for the audit's stall
	// time-out (a minute by default), and the audit stopped; the accounts
	// it had not read are in FailedAccounts.
	GaveUp bool `json:"gave_up,omitempty"`
	// Thumbnails is what the audit's fetches of listed events' thumbnails
	// found, and ThumbnailSample the share of listed events it fetched
	// (the scenario's audit.thumbnails; 1 is every one).
	Thumbnails      AuditThumbnails `json:"thumbnails"`
	ThumbnailSample float64         `json:"thumbnail_sample"`
}

// AuditThumbnails counts the final audit's thumbnail fetches: Listed own
// clean events the sample chose, Checked byte for byte, Lost (acknowledged
// and unfetchable: counted in violations.lost too), Missing (unfetchable,
// never acknowledged) and Errors (the target failed the fetch until the
// audit gave up on it).
type AuditThumbnails = sim.AuditThumbnails

// Curve is the run's time series: Connected, Connects, Errors and
// Violations have a point per StepMs from Start (the last three count what
// happened during the step); Latency has a point per LatencyStepMs.
// Results written before Violations and Latency existed lack them: readers
// treat them as absent, not as zero.
type Curve struct {
	Start      time.Time `json:"start"`
	StepMs     int64     `json:"step_ms"`
	Connected  []int64   `json:"connected"`
	Connects   []int64   `json:"connects"`
	Errors     []int64   `json:"errors"`
	Violations []int64   `json:"violations"`
	// ViolationsByClass is Violations for each class that was found.
	ViolationsByClass map[string][]int64       `json:"violations_by_class,omitempty"`
	LatencyStepMs     int64                    `json:"latency_step_ms"`
	Latency           map[string]LatencySeries `json:"latency"`
}

// LatencySeries is one histogram's latency over time: per interval, how
// many values were recorded and their p50 and p99 in milliseconds (null
// when the interval recorded none).
type LatencySeries struct {
	Count []int64    `json:"count"`
	P50Ms []*float64 `json:"p50_ms"`
	P99Ms []*float64 `json:"p99_ms"`
}

// Generator is herd's own health during the run (herd is the load
// generator): when Saturated, the figures describe herd rather than the
// target.
type Generator struct {
	Saturated bool   `json:"saturated"`
	Evidence  string `json:"evidence,omitempty"`
	Processes int    `json:"processes"` // herd processes that ran cameras
	// PortRange is the kernel's ephemeral port range; PerSourceDest the
	// most sockets herd opened from one source address to one cell.
	PortRange     int     `json:"port_range"`
	PerSourceDest int     `json:"per_source_dest"`
	CPUShare      float64 `json:"cpu_share"` // herd's CPU time / (wall time × cores)
	LagP99Ms      float64 `json:"lag_p99_ms"`
	LagMaxMs      float64 `json:"lag_max_ms"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	FileLimit     uint64  `json:"file_limit"`
	PeakOpenFiles int     `json:"peak_open_files"`
	// PeakRSSBytes is herd's peak resident memory; with the built-in target
	// it includes the target's.
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	BaseRSSBytes   int64   `json:"base_rss_bytes"`
	PeakHeapBytes  uint64  `json:"peak_heap_bytes"`
	PeakStackBytes uint64  `json:"peak_stack_bytes"`
	RSSPerCameraKB float64 `json:"rss_per_camera_kb"` // (peak - base) / cameras
	// AllConnectedMs is when, after the start, every camera was first
	// connected at once (0 if never): cameras / this is the connect rate.
	AllConnectedMs float64 `json:"all_connected_ms"`
	// Cores are the machine's cores, for CPUShare.
	Cores int `json:"cores,omitempty"`
}

// MaxEvidence is how many evidence records a Result keeps.
const MaxEvidence = 100

// pickEvidence keeps at most n records, taken in turn from each class in
// the oracle's order (the leak first), so that a flood of one class cannot
// crowd out the one record of another; each class keeps its earliest.
func pickEvidence(all []oracle.Evidence, n int) []oracle.Evidence {
	byClass := map[oracle.Class][]oracle.Evidence{}
	for _, e := range all {
		byClass[e.Class] = append(byClass[e.Class], e)
	}
	order := oracle.Classes()
	for c := range byClass {
		if !slices.Contains(order, c) {
			order = append(order, c)
		}
	}
	for _, c := range order {
		sort.SliceStable(byClass[c], func(i, j int) bool { return byClass[c][i].AtMs < byClass[c][j].AtMs })
	}
	out := []oracle.Evidence{}
	for round := 0; len(out) < n; round++ {
		took := false
		for _, c := range order {
			if round < len(byClass[c]) && len(out) < n {
				out = append(out, byClass[c][round])
				took = true
			}
		}
		if !took {
			break
		}
	}
	// Present them class by class.
	sort.SliceStable(out, func(i, j int) bool {
		return slices.Index(order, out[i].Class) < slices.Index(order, out[j].Class)
	})
	return out
}

func curveOf(c sim.Curve) Curve {
	out := Curve{
		Start: c.Start.UTC(), StepMs: c.Step.Milliseconds(), Connected: nonNil(c.Connected),
		Connects: nonNil(c.Connects), Errors: nonNil(c.Errors), Violations: nonNil(c.Violations),
		LatencyStepMs: c.LatencyStep.Milliseconds(), Latency: make(map[string]LatencySeries, len(c.Latency)),
	}
	for class, v := range c.ViolationsByClass {
		if out.ViolationsByClass == nil {
			out.ViolationsByClass = map[string][]int64{}
		}
		out.ViolationsByClass[class] = nonNil(v)
	}
	for name, s := range c.Latency {
		ls := LatencySeries{Count: nonNil(s.Count), P50Ms: make([]*float64, len(s.Count)), P99Ms: make([]*float64, len(s.Count))}
		for i, n := range s.Count {
			if n > 0 && i < len(s.P50) && i < len(s.P99) {
				p50, p99 := usToMs(float64(s.P50[i].Microseconds())), usToMs(float64(s.P99[i].Microseconds()))
				ls.P50Ms[i], ls.P99Ms[i] = &p50, &p99
			}
		}
		out.Latency[name] = ls
	}
	return out
}

func nonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// usToMs converts a histogram value in microseconds to milliseconds.
func usToMs(v float64) float64 { return math.Round(v) / 1000 }

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{HDR: encode(h)}
	}
	return Latency{
		Count: h.TotalCount(),
		P50Ms: usToMs(float64(h.ValueAtQuantile(50))), P90Ms: usToMs(float64(h.ValueAtQuantile(90))),
		P99Ms: usToMs(float64(h.ValueAtQuantile(99))), P999Ms: usToMs(float64(h.ValueAtQuantile(99.9))),
		MaxMs: usToMs(float64(h.Max())), MeanMs: usToMs(h.Mean()),
		HDR: encode(h),
	}
}

func encode(h *hdrhistogram.Histogram) string {
	if h == nil {
		return ""
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return ""
	}
	return string(b)
}

// recoveryOf computes T50..T100 over every camera-outage window: Tq is the
// time by which q% of the affected cameras had reconnected, counting those
// that never did as never; so Tq is nil when fewer than q% reconnected.
func recoveryOf(affected, reconnected int64, h *hdrhistogram.Histogram) Recovery {
	r := Recovery{Affected: affected, Reconnected: reconnected}
	if affected == 0 || h == nil || h.TotalCount() == 0 {
		return r
	}
	t := func(q float64) *float64 {
		need := int64(math.Ceil(q / 100 * float64(affected)))
		if need > h.TotalCount() {
			return nil
		}
		v := usToMs(float64(h.ValueAtQuantile(100 * float64(need) / float64(h.TotalCount()))))
		return &v
	}
	r.T50Ms, r.T90Ms, r.T99Ms, r.T100Ms = t(50), t(90), t(99), t(100)
	return r
}

// Reasons a verdict fails for, besides failed thresholds.
const (
	reasonViolations  = "the oracle found violations"
	reasonInterrupted = "the drill was interrupted"
)

// violationsFail reports whether r's violations failed its verdict: false
// when the scenario allowed them (allow_violations).
func violationsFail(r *Result) bool { return slices.Contains(r.Reasons, reasonViolations) }

// Judge evaluates sc's thresholds against r and sets the verdict: fail when
// a threshold fails, when the oracle found any violation (unless the
// scenario allows them), when the audit could not read every account, when
// a shard failed, when the target was unreachable at the end, or when the
// drill tested nothing (hollow). A drill that was interrupted has its
// thresholds not measured and the verdict interrupted, unless it had
// already found violations: those fail it. A result of several shards is
// judged as a whole: a shard missing from it fails it too.
func Judge(r *Result, sc *scenarios.Scenario) { judge(r, sc, len(r.Shards) > 1) }

// judge is Judge; whole says r stands for the whole run (a merge), so that
// a shard missing from it fails it.
func judge(r *Result, sc *scenarios.Scenario, whole bool) {
	r.Thresholds = []ThresholdResult{}
	r.Reasons = []string{}
	doc, docErr := json.Marshal(r)
	for _, t := range sc.Thresholds {
		tr := ThresholdResult{Expr: t.Expr, Metric: t.Metric}
		if mi, ok := catalog.LookupMetric(t.Metric); ok {
			tr.Unit = mi.Unit
		}
		v, ok := metricValue(doc, t.Metric)
		switch {
		case r.Interrupted:
			tr.Note = "not measured: the drill was interrupted"
			if ok {
				tr.Value = &v
			}
		case docErr != nil: // cannot happen to a result herd wrote; never a pass
			tr.Pass, tr.Note = false, "the result cannot be read: "+docErr.Error()
		case ok:
			tr.Value = &v
			tr.Pass = t.Check(v)
		case catalog.IsRecovery(t.Metric):
			if r.Recovery.Affected == 0 {
				tr.Pass, tr.Note = true, "no outage in this run"
			} else {
				tr.Pass, tr.Note = false, "that share of cameras never reconnected"
			}
		default:
			tr.Pass, tr.Note = true, "no data"
		}
		switch {
		case r.Interrupted:
			tr.Status = ThresholdNotMeasured
		case tr.Pass:
			tr.Status = ThresholdPass
		default:
			tr.Status = ThresholdFail
			r.Reasons = append(r.Reasons, "threshold failed: "+t.Expr)
		}
		r.Thresholds = append(r.Thresholds, tr)
	}
	violations := r.Violations.Total > 0 && !sc.AllowViolations
	if violations {
		r.Reasons = append(r.Reasons, reasonViolations)
	}
	if r.Interrupted {
		r.Reasons = append(r.Reasons, reasonInterrupted)
	}
	if why := unreachableReason(r.Target.Unreachable); why != "" {
		r.Reasons = append(r.Reasons, why)
	}
	if !r.Interrupted {
		if why := auditReason(r.Audit); why != "" {
			r.Reasons = append(r.Reasons, why)
		}
		r.Reasons = append(r.Reasons, hollowReasons(r, sc)...)
	}
	r.Reasons = append(r.Reasons, shardReasons(r.Shards, whole)...)
	sort.Strings(r.Reasons)
	switch {
	case r.Interrupted && !violations:
		r.Verdict = Interrupted
	case len(r.Reasons) > 0:
		r.Verdict = Fail
	default:
		r.Verdict = Pass
	}
}

// hollowOf picks the hollow-drill reasons out of a verdict's reasons.
func hollowOf(reasons []string) []string {
	var out []string
	for _, r := range reasons {
		if strings.HasPrefix(r, hollowPrefix) {
			out = append(out, r)
		}
	}
	return out
}

// hollowPrefix starts every reason hollowReasons gives.
const hollowPrefix = "the drill tested "

// hollowReasons say what a drill that ran to its end did not test: no
// event acknowledged and audited, no camera through an outage and back
// (when the scenario has one), no app check (when its app users act). A
// hollow drill proves nothing, and must not pass.
func hollowReasons(r *Result, sc *scenarios.Scenario) []string {
	var out []string
	switch {
	case r.Events.Acked == 0:
		out = append(out, "the drill tested nothing: no event was acknowledged")
	case r.Audit.Accounts == r.Audit.FailedAccounts:
		// Events were acked but no account's Events tab was read: nothing
		// could be checked. (An audit that read empty pages did check:
		// the acked events are lost to it.)
		out = append(out, "the drill tested nothing: the audit read no account's events")
	}
	outage := false
	for _, p := range sc.Phases {
		outage = outage || p.Kind == scenarios.KindOutage
	}
	if outage && r.Recovery.Reconnected == 0 {
		out = append(out, "the drill tested no recovery: no camera went through an outage and came back")
	}
	checks := r.Latency[catalog.HistList].Count + r.Latency[catalog.HistThumbnail].Count + r.Latency[catalog.HistLive].Count
	if (sc.App.Active > 0 || sc.App.Surge > 0) && checks == 0 {
		out = append(out, "the drill tested no app: no app user's request was answered")
	}
	return out
}

// MetricValue returns the value of a threshold metric in r, in the
// metric's unit (milliseconds, ratio or count); false when r has no data.
// It reads r as its herd.result/v1 JSON, where package catalog says each
// metric stands.
func MetricValue(r *Result, metric string) (float64, bool) {
	doc, err := json.Marshal(r)
	if err != nil {
		return 0, false
	}
	return metricValue(doc, metric)
}

// metricValue reads metric from a herd.result/v1 document.
func metricValue(doc []byte, metric string) (float64, bool) {
	m, ok := catalog.LookupMetric(metric)
	if !ok {
		return 0, false
	}
	v := gjson.GetBytes(doc, m.Path)
	if v.Type != gjson.Number || (m.Data != "" && gjson.GetBytes(doc, m.Data).Num == 0) {
		return 0, false
	}
	return v.Num, true
}

// auditReason says why the audit fails the verdict, or "" when it read
// every account. An account it could not read had its acknowledged events
// unchecked: a target that refuses the audit must not pass for having lost
// nothing.
func auditReason(a Audit) string {
	if a.FailedAccounts == 0 {
		return ""
	}
	why := ""
	if len(a.Unread) > 0 {
		reasons := make([]string, 0, len(a.Unread))
		for r := range a.Unread {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for i, r := range reasons {
			reasons[i] = fmt.Sprintf("%s %d", r, a.Unread[r])
		}
		why = " (" + strings.Join(reasons, ", ") + ")"
	}
	return fmt.Sprintf("the audit could not read %d of %d accounts%s, so their events went unchecked", a.FailedAccounts, a.Accounts, why)
}

// shardReasons fails a result some of whose shards failed, and a merged
// (whole) result some of whose shards are missing: its totals then lack
// those shards' cameras. A shard's own result is judged on its own.
func shardReasons(shards []ShardInfo, whole bool) []string {
	if len(shards) == 0 {
		return nil
	}
	var out []string
	seen := map[int]bool{}
	for _, s := range shards {
		seen[s.Index] = true
		if s.Status == ShardFailed {
			out = append(out, fmt.Sprintf("shard %d of %d failed (%s): its %d cameras are not in the totals", s.Index, s.Of, s.Detail, s.Cameras))
		}
	}
	for i := 0; i < shards[0].Of && whole; i++ {
		if !seen[i] {
			out = append(out, fmt.Sprintf("shard %d of %d is missing: its cameras are not in the totals", i, shards[0].Of))
		}
	}
	return out
}
