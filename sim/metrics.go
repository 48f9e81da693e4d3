package sim

import (
	"errors"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/herd-drill/herd/catalog"
	"github.com/herd-drill/herd/sim/link"
)

// Histogram names: the latencies package catalog names, and two of herd's
// own. Latencies are recorded in microseconds.
const (
	HistConnect   = catalog.HistConnect   // TCP + upgrade + welcome
	HistAck       = catalog.HistAck       // from the event's intended send time to its ack
	HistList      = catalog.HistList      // Events-tab page, from the intended request time
	HistThumbnail = catalog.HistThumbnail // thumbnail fetch
	HistLive      = catalog.HistLive      // live-view request to frame
	HistFirstAck  = catalog.HistFirstAck  // reconnect to the first ack on the new socket
	HistPuback    = catalog.HistPuback    // MQTT: publish to the broker's PUBACK
	HistRecovery  = "recovery"            // a camera's outage end to its reconnect
	HistLag       = "lag"                 // how late the generator ran its own schedule
)

// HistogramNames lists every histogram a run records.
var HistogramNames = []string{HistConnect, HistAck, HistList, HistThumbnail, HistLive, HistFirstAck, HistRecovery, HistLag, HistPuback} // in histID order

// Histogram bounds: 1 µs to 1 hour at 3 significant digits.
const (
	histMin    = 1
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 3
)

// NewHistogram returns an empty histogram with herd's bounds.
func NewHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// stripes is how many recorders the fleet spreads its goroutines over.
// hdrhistogram-go has no locks, so each recorder's histograms are touched
// only under that recorder's mutex; with stripes chosen by camera, two
// goroutines rarely contend and no histogram is written concurrently. A
// recorder holds eight histograms of about 230 KB each, so two suffice: a
// record takes well under a microsecond under its lock.
const stripes = 2

type recorder struct {
	mu    sync.Mutex
	hists [numHists]*hdrhistogram.Histogram
	// win holds the same values for the current interval only, for the
	// latency-over-time series; the sampler swaps it for an empty set once
	// per LatencyStep (a pointer swap under the lock).
	win *histSet
}

// histSet is one interval's histograms. Two significant digits are plenty
// for a plotted point and keep a histogram near 27 KB (a run histogram is
// 188 KB), so the interval sets, two per stripe, add under 1 MB to a fleet.
type histSet [numHists]*hdrhistogram.Histogram

const winDigits = 2

func newHistSet() *histSet {
	w := &histSet{}
	for h := range w {
		w[h] = hdrhistogram.New(histMin, histMax, winDigits)
	}
	return w
}

// numHists is len(HistogramNames), as a constant for the array.
const numHists = 9

type histID uint8

const (
	hConnect histID = iota
	hAck
	hList
	hThumb
	hLive
	hFirstAck
	hRecovery
	hLag
	hPuback
)

// Counter names of a run.
const (
	CountConnectAttempts = "connect_attempts"
	CountConnects        = "connects"
	CountEventsCaptured  = "events_captured"
	CountEventsSent      = "events_sent"
	CountEventsResent    = "events_resent"
	CountEventsAcked     = "events_acked"
	CountEventsNacked    = "events_nacked"
	CountBacklogDropped  = "backlog_dropped"
	CountAcksUnexpected  = "acks_unexpected"
	CountLiveRequests    = "live_requests"
	CountFramesSent      = "frames_sent"
	CountAppRequests     = "app_requests"
	CountProbes          = "probes"
	CountProbesRefused   = "probes_refused"
	CountProbesShed      = "probes_shed"
	CountProbesList      = "probes_list"
	CountProbesCursor    = "probes_cursor"
	CountProbesThumb     = "probes_thumbnail"
	CountProbesLive      = "probes_live"
	CountThumbsChecked   = "thumbnails_checked"
	CountEventsListed    = "events_listed"
	CountAudited         = "events_audited"
)

type countID uint8

const (
	cConnectAttempts countID = iota
	cConnects
	cEventsCaptured
	cEventsSent
	cEventsResent
	cEventsAcked
	cEventsNacked
	cBacklogDropped
	cAcksUnexpected
	cLiveRequests
	cFramesSent
	cAppRequests
	cProbes
	cProbesRefused
	cProbesShed
	cProbesList
	cProbesCursor
	cProbesThumb
	cProbesLive
	cThumbsChecked
	cEventsListed
	cAudited
	numCounts
)

var countNames = [numCounts]string{
	CountConnectAttempts, CountConnects, CountEventsCaptured, CountEventsSent, CountEventsResent,
	CountEventsAcked, CountEventsNacked, CountBacklogDropped, CountAcksUnexpected, CountLiveRequests,
	CountFramesSent, CountAppRequests, CountProbes, CountProbesRefused, CountProbesShed, CountProbesList, CountProbesCursor,
	CountProbesThumb, CountProbesLive, CountThumbsChecked,
	CountEventsListed, CountAudited,
}

// Error classes: what went wrong, counted, never hidden. Most are the
// device channel's and the app channel's alike (sim/link names them); the
// last two are herd/1's own refusals.
const (
	ErrRefused       = link.ErrRefused
	ErrTimeout       = link.ErrTimeout
	ErrHTTP401       = link.ErrHTTP401
	ErrHTTP429       = link.ErrHTTP429
	ErrHTTP503       = link.ErrHTTP503
	ErrHTTPOther     = link.ErrHTTPOther
	ErrClose1013     = link.ErrClose1013
	ErrClose1001     = link.ErrClose1001
	ErrCloseOther    = link.ErrCloseOther
	ErrProtocol      = link.ErrProtocol
	ErrNetwork       = link.ErrNetwork
	ErrFileLimit     = link.ErrFileLimit
	ErrAddrNotAvail  = link.ErrAddrNotAvail
	ErrNackedByShed  = "nack"         // target answered an event with nack
	ErrLiveUnanswerd = "live_timeout" // live view answered 504
)

// errNames lists every error class, in report order.
var errNames = [...]string{
	ErrRefused, ErrTimeout, ErrHTTP401, ErrHTTP429, ErrHTTP503, ErrHTTPOther, ErrClose1013,
	ErrClose1001, ErrCloseOther, ErrProtocol, ErrNetwork, ErrFileLimit, ErrAddrNotAvail,
	ErrNackedByShed, ErrLiveUnanswerd,
}

const numErrs = len(errNames)

// errIndex is the position of each class in errNames.
var errIndex = func() map[string]int {
	m := make(map[string]int, numErrs)
	for i, n := range errNames {
		m[n] = i
	}
	return m
}()

// metrics is the fleet's measurement state: striped histograms, atomic
// counters and the time series sampled by one goroutine.
type metrics struct {
	rec       [stripes]recorder
	counts    [numCounts]atomic.Int64
	errs      [numErrs]atomic.Int64
	connected atomic.Int64 // cameras with an open, welcomed socket

	otherMu    sync.Mutex
	otherCodes map[string]int64 // http_other by status code
}

func newMetrics() *metrics {
	m := &metrics{}
	for i := range m.rec {
		for h := range m.rec[i].hists {
			m.rec[i].hists[h] = NewHistogram()
		}
		m.rec[i].win = newHistSet()
	}
	return m
}

// record adds one latency of histogram h, from goroutine key (a camera or
// account index) so that goroutines spread over the stripes.
func (m *metrics) record(key int, h histID, d time.Duration) {
	us := d.Microseconds()
	if us < histMin {
		us = histMin
	}
	if us > histMax {
		us = histMax
	}
	r := &m.rec[key%stripes]
	r.mu.Lock()
	_ = r.hists[h].RecordValue(us)
	if h != hRecovery { // recovery has its own curve: connected cameras
		_ = r.win[h].RecordValue(us)
	}
	r.mu.Unlock()
}

func (m *metrics) add(c countID, n int64) { m.counts[c].Add(n) }

// fail counts one failure of class (an Err* constant); a class herd does
// not know counts as network.
func (m *metrics) fail(class string) {
	i, ok := errIndex[class]
	if !ok {
		i = errIndex[ErrNetwork]
	}
	m.errs[i].Add(1)
}

// failStatus counts an unexpected HTTP status: its class, and the code
// itself when the class is http_other, so that the result can say which.
func (m *metrics) failStatus(code int) {
	class := link.Status(code)
	m.fail(class)
	if class == ErrHTTPOther {
		m.otherMu.Lock()
		if m.otherCodes == nil {
			m.otherCodes = map[string]int64{}
		}
		m.otherCodes[strconv.Itoa(code)]++
		m.otherMu.Unlock()
	}
}

// failErr counts a transport's failure: its class, and its HTTP status
// when it had one.
func (m *metrics) failErr(err error) {
	var lf *link.Failure
	if errors.As(err, &lf) && lf.Status != 0 {
		m.failStatus(lf.Status)
		return
	}
	m.fail(link.ClassOf(err))
}

// otherCodeMap is the http_other codes counted so far.
func (m *metrics) otherCodeMap() map[string]int64 {
	m.otherMu.Lock()
	defer m.otherMu.Unlock()
	return maps.Clone(m.otherCodes)
}

// merged returns one histogram per name, merging the stripes.
func (m *metrics) merged() map[string]*hdrhistogram.Histogram {
	out := make(map[string]*hdrhistogram.Histogram, len(HistogramNames))
	for h, name := range HistogramNames {
		all := NewHistogram()
		for i := range m.rec {
			m.rec[i].mu.Lock()
			all.Merge(m.rec[i].hists[h])
			m.rec[i].mu.Unlock()
		}
		out[name] = all
	}
	return out
}

// intervals turns each stripe's interval histograms into one latency point
// per histogram (recovery excepted) and starts the next interval. spare is
// the sampler's own empty set per stripe: it is swapped in under the
// stripe's lock, so the merge and the reset happen outside every lock.
type intervals struct {
	spare [stripes]*histSet
	all   *hdrhistogram.Histogram
}

func newIntervals() *intervals {
	iv := &intervals{all: hdrhistogram.New(histMin, histMax, winDigits)}
	for i := range iv.spare {
		iv.spare[i] = newHistSet()
	}
	return iv
}

// take appends the interval that ends now to c.Latency as a point per
// latency step it spans: one, unless the sampler ran late, and then each
// step gets the interval's percentiles and an even share of its count.
func (iv *intervals) take(m *metrics, c *Curve, steps int) {
	for i := range m.rec {
		r := &m.rec[i]
		r.mu.Lock()
		r.win, iv.spare[i] = iv.spare[i], r.win
		r.mu.Unlock()
	}
	if c.Latency == nil {
		c.Latency = make(map[string]*LatencySeries, numHists-1)
	}
	for h, name := range HistogramNames {
		if histID(h) == hRecovery {
			continue
		}
		iv.all.Reset()
		for i := range iv.spare {
			iv.all.Merge(iv.spare[i][h])
			iv.spare[i][h].Reset()
		}
		s := c.Latency[name]
		if s == nil {
			s = &LatencySeries{}
			c.Latency[name] = s
		}
		count := iv.all.TotalCount()
		var p50, p99 time.Duration
		if count > 0 {
			p50 = time.Duration(iv.all.ValueAtQuantile(50)) * time.Microsecond
			p99 = time.Duration(iv.all.ValueAtQuantile(99)) * time.Microsecond
		}
		for j := 1; j <= steps; j++ {
			s.Count = append(s.Count, share(count, steps, j))
			s.P50 = append(s.P50, p50)
			s.P99 = append(s.P99, p99)
		}
	}
}

// share is the j-th of n even shares of total (j from 1), the shares summing
// to total exactly.
func share(total int64, n, j int) int64 {
	return total*int64(j)/int64(n) - total*int64(j-1)/int64(n)
}

func (m *metrics) countMap() map[string]int64 {
	out := make(map[string]int64, numCounts)
	for i := range m.counts {
		out[countNames[i]] = m.counts[i].Load()
	}
	return out
}

func (m *metrics) errMap() map[string]int64 {
	out := make(map[string]int64, numErrs)
	for i := range m.errs {
		out[errNames[i]] = m.errs[i].Load()
	}
	return out
}

// errTotal is the failures counted so far, not counting load shedding.
func (m *metrics) errTotal() int64 {
	errs, _ := m.errSplit()
	return errs
}

// errSplit is the failures and the load shedding counted so far.
func (m *metrics) errSplit() (errs, shed int64) {
	for i := range m.errs {
		if isShed[i] {
			shed += m.errs[i].Load()
		} else {
			errs += m.errs[i].Load()
		}
	}
	return errs, shed
}

// isShed marks the classes of errNames that are load shedding.
var isShed = func() (out [numErrs]bool) {
	for i, n := range errNames {
		out[i] = catalog.IsShed(n)
	}
	return out
}()
