package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// CapacitySchema is the version tag of a Capacity document; readers
// check it.
const CapacitySchema = "herd.capacity/v1"

// CapacityPoint is one drill of a capacity sweep: the fleet size and what
// it measured. A recovery time is nil when that share of cameras never
// reconnected.
type CapacityPoint struct {
	Cameras        int      `json:"cameras"`
	RecoveryT99Ms  *float64 `json:"recovery_t99_ms"`
	RecoveryT100Ms *float64 `json:"recovery_t100_ms"`
	ConnectP99Ms   float64  `json:"connect_p99_ms"`
	AckP99Ms       float64  `json:"ack_p99_ms"`
	ErrorRate      float64  `json:"error_rate"`
	Violations     int64    `json:"violations"`
	// Throughput is events acknowledged per second of the drill.
	Throughput float64 `json:"throughput_eps"`
	Verdict    string  `json:"verdict"`
	// FailedThresholds are the expressions of the thresholds that failed.
	FailedThresholds []string `json:"failed_thresholds"`
	// ResultFile is the herd.result/v1 file the point came from.
	ResultFile string `json:"result_file"`
}

// Passed reports whether the drill met every threshold with no oracle
// violation: a drill that passed only because its scenario allows
// violations does not count.
func (p CapacityPoint) Passed() bool {
	return p.Verdict == Pass && p.Violations == 0 && len(p.FailedThresholds) == 0
}

// Leaks are the sizes at which the oracle found violations: findings
// about the target, not capacity data.
func (c *Capacity) Leaks() []CapacityPoint {
	var out []CapacityPoint
	for _, p := range c.Points {
		if p.Violations > 0 {
			out = append(out, p)
		}
	}
	return out
}

// LeakSentence says the leaks first, for the summary and the page; "" when
// there are none.
func (c *Capacity) LeakSentence() string {
	leaks := c.Leaks()
	if len(leaks) == 0 {
		return ""
	}
	var sizes []string
	var n int64
	for _, p := range leaks {
		sizes = append(sizes, strconv.Itoa(p.Cameras))
		n += p.Violations
	}
	return fmt.Sprintf("the oracle found %d violations at %s cameras: a bug in the target to fix, whatever its capacity (see each size's result)", n, strings.Join(sizes, ", "))
}

// CapacityPointOf summarises one drill's result as a point of a sweep;
// resultFile is where the result was written. Throughput is events
// acknowledged per second between the drill's start and end.
func CapacityPointOf(r *Result, resultFile string) CapacityPoint {
	p := CapacityPoint{
		Cameras:          r.Cameras,
		RecoveryT99Ms:    r.Recovery.T99Ms,
		RecoveryT100Ms:   r.Recovery.T100Ms,
		ConnectP99Ms:     r.Latency["connect"].P99Ms,
		AckP99Ms:         r.Latency["ack"].P99Ms,
		ErrorRate:        r.Errors.Rate,
		Violations:       r.Violations.Total,
		Verdict:          r.Verdict,
		FailedThresholds: []string{},
		ResultFile:       resultFile,
	}
	if r.DurationMs > 0 {
		p.Throughput = float64(r.Events.Acked) / (float64(r.DurationMs) / 1000)
	}
	for _, t := range r.Thresholds {
		if !t.Pass {
			p.FailedThresholds = append(p.FailedThresholds, t.Expr)
		}
	}
	return p
}

// Knee is where a sweep stops meeting its thresholds. A size passes when
// every drill of that size passed (CapacityPoint.Passed).
type Knee struct {
	// Cameras is the largest size that passed; 0 when none did.
	Cameras int `json:"cameras"`
	// FirstFailure is the smallest failing size above Cameras (the knee
	// lies between the two); 0 when every size above it passed or none
	// was drilled.
	FirstFailure int `json:"first_failure"`
	// FailedBelow are sizes smaller than Cameras that failed although
	// Cameras passed: the boundary is not clean.
	FailedBelow []int `json:"failed_below"`
	// LargestDrilled is the largest size drilled.
	LargestDrilled int `json:"largest_drilled"`
	// Note says in one or two sentences what the sweep shows.
	Note string `json:"note"`
}

// KneeOf finds the knee of a sweep: the largest size meeting every
// threshold with zero violations. It does not assume that failure is
// monotonic in size: a smaller size that failed below a larger one that
// passed is reported in FailedBelow and in the note, not hidden.
func KneeOf(points []CapacityPoint) Knee {
	k := Knee{FailedBelow: []int{}}
	passed := map[int]bool{}
	var sizes []int
	for _, p := range points {
		ok, seen := passed[p.Cameras]
		if !seen {
			sizes = append(sizes, p.Cameras)
			ok = true
		}
		passed[p.Cameras] = ok && p.Passed()
	}
	sort.Ints(sizes)
	if len(sizes) == 0 {
		k.Note = "No sizes were drilled."
		return k
	}
	k.LargestDrilled = sizes[len(sizes)-1]
	for _, n := range sizes {
		if passed[n] {
			k.Cameras = n
		}
	}
	var failedAbove []int
	for _, n := range sizes {
		switch {
		case passed[n]:
		case n < k.Cameras:
			k.FailedBelow = append(k.FailedBelow, n)
		default:
			failedAbove = append(failedAbove, n)
		}
	}
	if len(failedAbove) > 0 {
		k.FirstFailure = failedAbove[0]
	}
	switch {
	case k.Cameras == 0:
		k.Note = fmt.Sprintf("Every size failed: the knee is below %d cameras, the smallest size drilled.", sizes[0])
	case k.FirstFailure == 0:
		k.Note = fmt.Sprintf("Every size up to %d cameras passed: the knee is at or above %d, the largest size drilled; drill larger sizes to find it.", k.Cameras, k.Cameras)
	default:
		k.Note = fmt.Sprintf("%d cameras is the largest size that met every threshold with zero violations; %d failed.", k.Cameras, k.FirstFailure)
	}
	if len(k.FailedBelow) > 0 {
		k.Note += fmt.Sprintf(" But %s failed although %d passed: the boundary is not clean (noise, or a failure that does not grow with size); rerun %s before trusting the knee.",
			joinSizes(k.FailedBelow), k.Cameras, plural(len(k.FailedBelow), "that size", "those sizes"))
	}
	return k
}

func joinSizes(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	switch len(s) {
	case 1:
		return s[0]
	case 2:
		return s[0] + " and " + s[1]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// Capacity is a capacity sweep, judged: the herd.capacity/v1 document.
type Capacity struct {
	Schema   string          `json:"schema"`
	Scenario string          `json:"scenario"`
	Seed     uint64          `json:"seed"`
	Points   []CapacityPoint `json:"points"`
	Knee     Knee            `json:"knee"`
	// Fit is the Universal Scalability Law fitted to throughput; nil with
	// FitError saying why when it could not be fitted.
	Fit      *USL   `json:"fit"`
	FitError string `json:"fit_error,omitempty"`
	// FitExcluded are sizes left out of the fit because they acknowledged
	// nothing (the law models positive throughput).
	FitExcluded []int `json:"fit_excluded"`
}

// NewCapacity makes the Capacity of a sweep of scenario (fleet seed seed):
// it orders points by size, finds the knee and fits the USL to the
// throughput of every point that acknowledged anything.
func NewCapacity(scenario string, seed uint64, points []CapacityPoint) *Capacity {
	c := &Capacity{
		Schema: CapacitySchema, Scenario: scenario, Seed: seed,
		Points: slices.Clone(points), FitExcluded: []int{},
	}
	if c.Points == nil {
		c.Points = []CapacityPoint{}
	}
	sort.SliceStable(c.Points, func(i, j int) bool { return c.Points[i].Cameras < c.Points[j].Cameras })
	for i := range c.Points {
		if c.Points[i].FailedThresholds == nil {
			c.Points[i].FailedThresholds = []string{}
		}
	}
	c.Knee = KneeOf(c.Points)
	var pts []USLPoint
	for _, p := range c.Points {
		if p.Throughput > 0 {
			pts = append(pts, USLPoint{N: float64(p.Cameras), X: p.Throughput})
		} else if !slices.Contains(c.FitExcluded, p.Cameras) {
			c.FitExcluded = append(c.FitExcluded, p.Cameras)
		}
	}
	fit, err := FitUSL(pts)
	if err != nil {
		c.FitError = err.Error()
	}
	c.Fit = fit
	return c
}

// WriteCapacityJSON writes c as indented JSON. Threshold expressions keep
// their < and > as they are (no HTML escaping): the document is data, not
// markup.
func WriteCapacityJSON(w io.Writer, c *Capacity) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}

// ReadCapacityJSON reads a Capacity and checks its schema.
func ReadCapacityJSON(rd io.Reader) (*Capacity, error) {
	var c Capacity
	if err := json.NewDecoder(rd).Decode(&c); err != nil {
		return nil, fmt.Errorf("not a herd capacity report: %w", err)
	}
	if c.Schema != CapacitySchema {
		return nil, fmt.Errorf("schema %q is not %q", c.Schema, CapacitySchema)
	}
	return &c, nil
}
