package reports

import (
	"math"
	"slices"
	"time"
)

// add adds the series of o to c on the wall clock: a sample of a curve
// that started later lands in the step of its own instant. Violations are
// kept only while every curve added has them, and so is latency over time
// (at one step). A percentile of percentiles cannot add up: p50 becomes
// the count-weighted mean of the medians, and p99 the highest p99, a bound
// the true p99 of all values never exceeds.
func (c *Curve) add(o Curve) {
	if c.Connected == nil {
		*c = o.clone()
		return
	}
	step := time.Duration(c.StepMs) * time.Millisecond
	if step <= 0 || o.StepMs != c.StepMs {
		return // results of one run share a step; Merge checks it
	}
	start, was := c.Start, c.Start
	if o.Start.Before(start) {
		start = o.Start
	}
	at := func(t time.Time, d time.Duration) int { return int((t.Sub(start) + d/2) / d) }
	shift := at(was, step)
	c.Start = start
	c.Connected = addAt(shiftRight(c.Connected, shift), at(o.Start, step), o.Connected)
	c.Connects = addAt(shiftRight(c.Connects, shift), at(o.Start, step), o.Connects)
	c.Errors = addAt(shiftRight(c.Errors, shift), at(o.Start, step), o.Errors)
	if c.Violations != nil && o.Violations != nil {
		c.Violations = addAt(shiftRight(c.Violations, shift), at(o.Start, step), o.Violations)
		for len(c.Violations) < len(c.Connected) {
			c.Violations = append(c.Violations, 0)
		}
	} else {
		c.Violations = nil
	}
	if len(c.ViolationsByClass) > 0 || len(o.ViolationsByClass) > 0 {
		by := make(map[string][]int64, len(c.ViolationsByClass)+len(o.ViolationsByClass))
		for class, v := range c.ViolationsByClass {
			by[class] = shiftRight(v, shift)
		}
		for class, v := range o.ViolationsByClass {
			by[class] = addAt(by[class], at(o.Start, step), v)
		}
		c.ViolationsByClass = by
	}
	lstep := time.Duration(c.LatencyStepMs) * time.Millisecond
	if c.Latency == nil || o.Latency == nil || lstep <= 0 || o.LatencyStepMs != c.LatencyStepMs {
		c.Latency, c.LatencyStepMs = nil, 0
		return
	}
	lshift, loff := at(was, lstep), at(o.Start, lstep)
	merged := make(map[string]LatencySeries, len(c.Latency))
	for name, s := range c.Latency {
		merged[name] = s.shifted(lshift)
	}
	for name, s := range o.Latency {
		merged[name] = merged[name].plus(loff, s)
	}
	c.Latency = merged
}

// clone deep-copies c, so that adding to a total never writes to a part.
func (c Curve) clone() Curve {
	out := c
	out.Connected = nonNil(slices.Clone(c.Connected))
	out.Connects = nonNil(slices.Clone(c.Connects))
	out.Errors = nonNil(slices.Clone(c.Errors))
	out.Violations = slices.Clone(c.Violations)
	if c.ViolationsByClass != nil {
		out.ViolationsByClass = make(map[string][]int64, len(c.ViolationsByClass))
		for class, v := range c.ViolationsByClass {
			out.ViolationsByClass[class] = slices.Clone(v)
		}
	}
	if c.Latency != nil {
		out.Latency = make(map[string]LatencySeries, len(c.Latency))
		for name, s := range c.Latency {
			out.Latency[name] = s.shifted(0)
		}
	}
	return out
}

// shifted is s starting k steps later.
func (s LatencySeries) shifted(k int) LatencySeries {
	out := LatencySeries{
		Count: append(make([]int64, k), s.Count...),
		P50Ms: append(make([]*float64, k), s.P50Ms...),
		P99Ms: append(make([]*float64, k), s.P99Ms...),
	}
	return out
}

// plus adds o, starting off steps in, to s.
func (s LatencySeries) plus(off int, o LatencySeries) LatencySeries {
	n := max(len(s.Count), off+len(o.Count))
	for len(s.Count) < n {
		s.Count, s.P50Ms, s.P99Ms = append(s.Count, 0), append(s.P50Ms, nil), append(s.P99Ms, nil)
	}
	for j, cnt := range o.Count {
		k := off + j
		var p50, p99 *float64
		if j < len(o.P50Ms) {
			p50 = o.P50Ms[j]
		}
		if j < len(o.P99Ms) {
			p99 = o.P99Ms[j]
		}
		if cnt > 0 && p50 != nil {
			if s.Count[k] > 0 && s.P50Ms[k] != nil {
				v := math.Round((*s.P50Ms[k]*float64(s.Count[k])+*p50*float64(cnt))/float64(s.Count[k]+cnt)*1000) / 1000
				s.P50Ms[k] = &v
			} else {
				v := *p50
				s.P50Ms[k] = &v
			}
		}
		if p99 != nil && (s.P99Ms[k] == nil || *p99 > *s.P99Ms[k]) {
			v := *p99
			s.P99Ms[k] = &v
		}
		s.Count[k] += cnt
	}
	return s
}

// shiftRight is s starting k steps later.
func shiftRight(s []int64, k int) []int64 {
	if k <= 0 {
		return s
	}
	return append(make([]int64, k), s...)
}

// addAt adds src to dst from index off, growing dst as needed.
func addAt(dst []int64, off int, src []int64) []int64 {
	for len(dst) < off+len(src) {
		dst = append(dst, 0)
	}
	for j, v := range src {
		dst[off+j] += v
	}
	return dst
}
