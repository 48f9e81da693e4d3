// Package sim is herd's fleet engine: a seeded fleet of simulated cameras,
// each with a real connection (a sim/link transport; herd/1 over WebSocket
// today), and their owners' apps, driven through a scenario's phases
// against a target while an oracle checks every byte that comes back.
//
// A run is a value plus an engine: a Drill (a validated scenario, its
// Layout, the run's key, the target and the segment of the fleet to run)
// is given to New, and Fleet.Run drives it until the plan ends, audits
// every account, and returns an Outcome. Run is synchronous and is
// cancelled through its context.
package sim

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/backoff"
	"github.com/herd-drill/herd/sim/internal/timers"
	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/mqtt"
	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/ws"
)

// Defaults of a fleet's options.
const (
	DefaultRampRate     = 3000.0           // initial connects per second before the first phase
	DefaultQuietTimeout = 20 * time.Second // how long to wait for the last acks after the plan
	// DefaultAuditStall is how long the audit waits for the target to
	// answer any of its pages before it gives up: an audit of a target
	// that sheds every call would otherwise retry account after account
	// for hours.
	DefaultAuditStall = time.Minute
	DefaultSampleStep = 100 * time.Millisecond
	// DefaultLatencyStep is the interval of the latency-over-time series: a
	// percentile of one 100 ms step has too few values to mean much.
	DefaultLatencyStep = time.Second
	DefaultAppConns    = 256                 // concurrent app HTTP connections per target cell
	DefaultPerSource   = ws.DefaultPerSource // cameras per loopback source address
	// DefaultMaxDialing bounds the sockets one fleet process has in the
	// handshake at once. Beyond the target's accept backlog (somaxconn,
	// often 4096) the kernel drops SYNs and the drill would measure TCP's
	// 1 s retransmission timer instead of the target.
	DefaultMaxDialing = 1024
)

// Target is where a fleet drives: one or more cells of one backend. An
// account lives in cell FNV-1a(account id) mod len(Cells).
type Target struct {
	Cells      []string // base URLs: http://host:port or https://
	AdminToken string
	// Brokers, when set, put the device channel on MQTT brokers
	// (mqtt://host:port, one per cell or one for all): herd/1 over MQTT.
	// The app channel stays on Cells.
	Brokers []string `json:",omitempty"`
	MQTT    mqtt.Options
	TLS     link.TLS // for https:// cells (wss:// devices) and mqtts:// or wss:// brokers
}

// httpTransport is tr, trusting what the target's TLS says (its CA,
// or nothing in a lab) on https:// cells: the app channel's and
// provisioning's. Device certificates are the devices' own.
func (t Target) httpTransport(tr *http.Transport) (*http.Transport, error) {
	for _, c := range t.Cells {
		if strings.HasPrefix(c, "https://") {
			conf, err := t.TLS.Config("")
			tr.TLSClientConfig = conf
			return tr, err
		}
	}
	return tr, nil
}

// CellOf returns the index of the cell that owns account, by herd's cell
// routing rule: FNV-1a (32-bit) of the account id, modulo the cell count.
func CellOf(account string, cells int) int {
	if cells <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(account))
	return int(h.Sum32() % uint32(cells))
}

// Option configures a Fleet.
type Option func(*Fleet) error

// WithProgress calls fn about every interval with a snapshot of the run,
// for the live display and Prometheus.
func WithProgress(interval time.Duration, fn func(live.Status)) Option {
	return func(f *Fleet) error {
		if interval <= 0 {
			return fmt.Errorf("sim: WithProgress: interval must be positive, got %v", interval)
		}
		f.progressEvery, f.progress = interval, fn
		return nil
	}
}

// WithProgressLatency fills in the snapshots' latency histograms (for
// Prometheus); copying them every second costs a loaded worker several
// percent of its CPU, so they are left out unless asked for.
func WithProgressLatency() Option {
	return func(f *Fleet) error {
		f.progressLatency = true
		return nil
	}
}

// WithQuietTimeout bounds the wait for the last acks after the plan ends.
func WithQuietTimeout(d time.Duration) Option {
	return func(f *Fleet) error {
		if d < 0 {
			return fmt.Errorf("sim: quiet timeout must not be negative, got %v", d)
		}
		f.quietTimeout = d
		return nil
	}
}

// WithAuditStall sets how long the audit goes on while the target answers
// none of its pages (DefaultAuditStall); then it gives up, and the accounts
// it has not read count as failed.
func WithAuditStall(d time.Duration) Option {
	return func(f *Fleet) error {
		if d <= 0 {
			return fmt.Errorf("sim: audit stall time-out must be positive, got %v", d)
		}
		f.auditStall = d
		return nil
	}
}

// WithPlanEnd calls fn once when the plan's last phase ends, with every
// camera still up: the moment to profile herd's memory.
func WithPlanEnd(fn func()) Option {
	return func(f *Fleet) error { f.planEnd = fn; return nil }
}

// WithEvidence hands every evidence record the oracle reports to fn as it
// does (fn must be safe for concurrent use): for a file of all of them,
// beyond what the Outcome keeps.
func WithEvidence(fn func(oracle.Evidence)) Option {
	return func(f *Fleet) error { f.evidence = fn; return nil }
}

// Fleet is a runnable drill. Make one with New; call Run once.
type Fleet struct {
	sc     *scenarios.Scenario
	layout *Layout
	target Target
	seed   uint64
	draws  draws

	key    *oracle.Key
	oracle *oracle.Oracle
	policy backoff.Policy
	m      *metrics
	plan   *plan

	rampRate        float64
	maxDialing      int
	quietTimeout    time.Duration
	auditStall      time.Duration
	progressEvery   time.Duration
	progressLatency bool
	progress        func(live.Status)
	planEnd         func()
	evidence        func(oracle.Evidence)
	start           time.Time
	seg             Segment
	sourceOffset    int
	mine            []int      // the accounts this fleet runs, ascending
	apps            []*appUser // their app users, in the same order
	cameras         int        // the cameras of those accounts

	link    link.Dialer // the device channel's transport
	httpc   *http.Client
	scratch sync.Pool // *scratch
	quiet   sync.WaitGroup
	sched   *timers.Heap[*camera]
	reach   *reach // whether the target answers at all; set by Run
	// dialq holds the cameras waiting for a dial worker. Its capacity is the
	// fleet, so queuing never blocks a tick: a camera is in it at most once.
	dialq chan *camera
	lives sync.WaitGroup // live requests being answered

	affectedSeen atomic.Int64
	recovered    atomic.Int64
	phase        atomic.Pointer[string]
}

// New makes drill d runnable; opts set how it reports while it runs.
func New(d Drill, opts ...Option) (*Fleet, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	sc, l := d.Scenario, d.Layout
	kind, err := backoff.ParseKind(sc.Reconnect.Policy)
	if err != nil {
		return nil, err
	}
	f := &Fleet{
		sc: sc, layout: l, target: d.Target, seed: l.Seed(), draws: newDraws(l.Seed()), key: l.Key(), seg: d.Segment,
		start: d.Start, rampRate: d.RampRate, maxDialing: d.MaxDialing, sourceOffset: d.SourceOffset,
		policy: backoff.Policy{
			Kind: kind, Base: sc.Reconnect.Base.Duration, Cap: sc.Reconnect.Cap.Duration,
			ResetAfter: sc.Reconnect.ResetAfter.Duration, HonourRetryAfter: sc.Reconnect.HonourRetryAfter,
			Honour1013: sc.Reconnect.Honour1013,
		},
		m:            newMetrics(),
		quietTimeout: DefaultQuietTimeout,
		auditStall:   DefaultAuditStall,
	}
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, err
		}
	}
	f.mine = f.seg.Accounts(l)
	f.cameras = f.seg.Cameras(l)
	f.oracle = oracle.New(f.key, l, oracle.WithAccounts(f.seg.Owns), oracle.WithPhases(f.phaseAt), oracle.WithEvidenceSink(f.evidence))
	for _, a := range f.mine {
		f.apps = append(f.apps, f.newApp(a))
	}
	f.sched = timers.New[*camera]()
	f.dialq = make(chan *camera, f.cameras)
	f.scratch.New = func() any { return new(scratch) }
	if f.link, err = newLink(d, f.cameras, f.sourceOffset); err != nil {
		return nil, err
	}
	tr, err := d.Target.httpTransport(&http.Transport{
		MaxConnsPerHost:     DefaultAppConns,
		MaxIdleConnsPerHost: DefaultAppConns,
		IdleConnTimeout:     30 * time.Second,
		DialContext:         (&net.Dialer{Timeout: ws.DialTimeout}).DialContext,
	})
	if err != nil {
		return nil, err
	}
	f.httpc = newAppClient(tr)
	return f, nil
}

// newLink is the transport of d's device channel for a process of cameras
// cameras: herd/1 over MQTT on the target's brokers, or over WebSocket on
// the cells' hosts.
// The MQTT session is the scenario's camera.mqtt.
func newLink(d Drill, cameras, sourceOffset int) (link.Dialer, error) {
	target := d.Target
	if len(target.Brokers) > 0 {
		opt, spec := target.MQTT, d.Scenario.Camera.MQTT
		opt.Keepalive, opt.Persistent, opt.SessionExpiry = spec.Keepalive.Duration, !spec.CleanStart, spec.SessionExpiry.Duration
		return mqtt.NewDialer(target.Brokers, opt, target.TLS, cameras, sourceOffset)
	}
	return ws.NewDialer(target.Cells, target.TLS, cameras, sourceOffset)
}

func (f *Fleet) cell(account int) int {
	if len(f.target.Cells) <= 1 {
		return 0 // no account id to build and hash
	}
	return CellOf(f.layout.AccountID(account), len(f.target.Cells))
}

// cellOfURL is the cell a request URL goes to (0 when none matches).
func (f *Fleet) cellOfURL(rawURL string) int {
	for i, c := range f.target.Cells {
		if rest, ok := strings.CutPrefix(rawURL, strings.TrimSuffix(c, "/")); ok && (rest == "" || rest[0] == '/') {
			return i
		}
	}
	return 0
}

func (f *Fleet) baseURL(account int) string {
	return strings.TrimSuffix(f.target.Cells[f.cell(account)], "/")
}

// Outcome is everything a run measured: the input of reports.
type Outcome struct {
	Scenario string
	Source   string
	Seed     uint64
	Cameras  int // the cameras this run (or shard) ran
	Accounts int
	// FleetCameras is the whole layout's size; Segment is the part of it
	// this run ran (Whole for a whole run).
	FleetCameras int
	Segment      Segment
	KeyID        string // oracle.Key.ID of the key the fleet sealed with
	// Run is the run namespace every identifier of the fleet starts with.
	Run        string
	Policy     string
	Targets    []string
	Started    time.Time
	Ended      time.Time
	Phases     []PhaseSpan
	OutageEnds []time.Time
	Histograms map[string]*hdrhistogram.Histogram
	Counts     map[string]int64
	Errors     map[string]int64
	// HTTPOtherCodes counts the statuses behind Errors' http_other.
	HTTPOtherCodes map[string]int64
	Operations     int64 // connect attempts + events sent + app requests: the denominator of the error rate
	Curve          Curve
	// AllConnected is how long after Started every camera was first
	// connected at once; 0 if that never happened.
	AllConnected time.Duration
	Affected     int64 // camera-outage windows that ended
	Recovered    int64 // of those, how many reconnected
	Violations   oracle.Violations
	Exposure     oracle.Exposure
	// Unreachable are the spans in which the target answered nothing.
	Unreachable []Unreachable
	Audit       AuditSummary
	Interrupted bool
	Generator   Generator
	// PID and Cores are the process that ran the fleet and its machine's
	// cores: facts a result keeps, which the code that builds it must not
	// read from the process it happens to run in.
	PID   int
	Cores int
}

// Curve is the run's time series, one sample per Step from Start, and
// one latency point per LatencyStep from Start. Sample k closes step k even
// when the sampler ran late: the steps it missed share what it measured.
type Curve struct {
	Start      time.Time
	Step       time.Duration
	Connected  []int64 // cameras connected at the sample
	Connects   []int64 // successful connects during the step
	Errors     []int64 // errors during the step
	Violations []int64 // oracle violations found during the step
	// ViolationsByClass is Violations by class, for every class found.
	ViolationsByClass map[string][]int64
	// LatencyStep is the interval of Latency's points; the last point may
	// cover a shorter, final interval.
	LatencyStep time.Duration
	// Latency has a series for every histogram but recovery, whose curve
	// is Connected.
	Latency map[string]*LatencySeries
}

// LatencySeries is one histogram's latency over time, a point per
// Curve.LatencyStep: how many values were recorded in the interval and
// their median and 99th percentile (0 when Count is 0).
type LatencySeries struct {
	Count []int64
	P50   []time.Duration
	P99   []time.Duration
}

// AuditSummary says how the final audit went.
type AuditSummary struct {
	Done           bool // false when the run was interrupted during the audit
	Accounts       int
	FailedAccounts int // accounts whose Events tab was never read whole
	// Unread counts those accounts by reason (UnreadCursorStuck, ...).
	Unread map[string]int
	Events int64
	// GaveUp is set when the target answered no audit request for the
	// audit stall time-out: the accounts not yet read count as failed.
	GaveUp bool
	// Thumbnails is what the audit's fetches of listed events' thumbnails
	// found; ThumbnailSample the share of them it fetched (audit.thumbnails).
	Thumbnails      AuditThumbnails
	ThumbnailSample float64
}

// AuditThumbnails counts the final audit's thumbnail fetches (as
// herd.result/v1 writes them).
type AuditThumbnails struct {
	Listed  int64 `json:"listed"`  // own clean listed events the sample chose
	Checked int64 `json:"checked"` // fetched and checked byte for byte
	Lost    int64 `json:"lost"`    // acknowledged, and its owner could not fetch it (403, 404, 410): counted in violations.lost too
	Missing int64 `json:"missing"` // not acknowledged, and unfetchable
	Errors  int64 `json:"errors"`  // the target failed the fetch (shed, 5xx, unreachable) until the audit gave up on it
}

// Add adds o's counts to t's.
func (t *AuditThumbnails) Add(o AuditThumbnails) {
	t.Listed += o.Listed
	t.Checked += o.Checked
	t.Lost += o.Lost
	t.Missing += o.Missing
	t.Errors += o.Errors
}

// Generator is herd's view of its own health during the run.
type Generator struct {
	LagP99       time.Duration
	LagMax       time.Duration
	CPUSeconds   float64
	FileLimit    uint64
	PeakOpenFile int
	PeakRSS      int64  // bytes; includes an in-process target
	BaseRSS      int64  // bytes, before the first camera started
	PeakHeap     uint64 // bytes of heap in use, sampled every 5 s
	PeakStack    uint64 // bytes of goroutine stacks in use, sampled every 5 s
	// PortRange is the kernel's ephemeral range; PerSourceDest the most
	// sockets herd opens from one source address to one target cell: the
	// port headroom is the difference.
	PortRange     int
	PerSourceDest int
	Saturated     bool
	Evidence      string
}
