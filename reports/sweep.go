package reports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sweep is a capacity sweep: the drill at each size in turn, smallest
// first, each in a fresh process (the caller's Drill), with a pause after
// a large size for the kernel's TIME_WAIT table to drain, so that the next
// size is measured on a clean machine.
type Sweep struct {
	Sizes []int
	// Pause is waited after a size of PauseAfter cameras or more (every
	// size, with PauseAfter 0).
	Pause      time.Duration
	PauseAfter int
	// Drill runs the drill of n cameras and returns its result and the
	// file it was written to.
	Drill func(ctx context.Context, n int) (*Result, string, error)
	// Log gets a line about each size as it goes; nil for none.
	Log func(format string, args ...any)
}

// ErrSweepInterrupted is Run's error when the sweep was interrupted: the
// Capacity returned holds the sizes that finished.
var ErrSweepInterrupted = errors.New("the sweep was interrupted")

// Run runs the sweep and names the knee. It stops at the first size that
// was interrupted; a Capacity of the sizes before it comes back with
// ErrSweepInterrupted.
func (s Sweep) Run(ctx context.Context, scenario string, seed uint64) (*Capacity, error) {
	log := s.Log
	if log == nil {
		log = func(string, ...any) {}
	}
	var points []CapacityPoint
	var stopped error
	for i, n := range s.Sizes {
		if i > 0 && s.Pause > 0 && s.Sizes[i-1] >= s.PauseAfter {
			log("waiting %s for the kernel's TIME_WAIT table to drain", s.Pause)
			select {
			case <-ctx.Done():
			case <-time.After(s.Pause):
			}
		}
		if ctx.Err() != nil {
			stopped = ErrSweepInterrupted
			break
		}
		log("capacity: drilling %d cameras (%d of %d)", n, i+1, len(s.Sizes))
		start := time.Now()
		r, file, err := s.Drill(ctx, n)
		if err != nil || r.Interrupted {
			if ctx.Err() != nil || (err == nil && r.Interrupted) {
				stopped = ErrSweepInterrupted
				break
			}
			return nil, err
		}
		seed = r.Seed
		p := CapacityPointOf(r, file)
		points = append(points, p)
		log("capacity: %d cameras: %s in %s, T99 %s, T100 %s, connect p99 %.0f ms, %.0f events/s, %d violations",
			n, r.Verdict, time.Since(start).Round(time.Second), msOrDash(p.RecoveryT99Ms), msOrDash(p.RecoveryT100Ms), p.ConnectP99Ms, p.Throughput, p.Violations)
	}
	if len(points) == 0 {
		return nil, fmt.Errorf("%w before the first size finished", ErrSweepInterrupted)
	}
	return NewCapacity(scenario, seed, points), stopped
}

// ParseSizes reads a sweep's sizes, "1000,2000,5000": positive, each once,
// returned smallest first.
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--cameras %q: %q is not a positive number of cameras", s, part)
		}
		out = append(out, n)
	}
	sort.Ints(out)
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			return nil, fmt.Errorf("--cameras %q: %d given twice", s, out[i])
		}
	}
	return out, nil
}

func msOrDash(v *float64) string {
	if v == nil {
		return "-"
	}
	return (time.Duration(*v * float64(time.Millisecond))).Round(time.Millisecond).String()
}

// WriteCapacitySummary writes the sweep for a terminal: a line per size,
// the knee and the fit.
func WriteCapacitySummary(w io.Writer, c *Capacity) error {
	p := &printer{w: w}
	p.f("herd capacity %s (seed %d)\n\n", c.Scenario, c.Seed)
	if leak := c.LeakSentence(); leak != "" {
		p.f("LEAK  %s\n\n", leak)
	}
	p.f("%10s  %-7s %9s %9s %12s %10s %8s %10s %12s\n", "cameras", "verdict", "T99", "T100", "connect p99", "ack p99", "errors", "violations", "events/s")
	for _, pt := range c.Points {
		p.f("%10d  %-7s %9s %9s %10.0fms %8.0fms %7.2f%% %10d %12.0f\n", pt.Cameras, pt.Verdict, msOrDash(pt.RecoveryT99Ms), msOrDash(pt.RecoveryT100Ms),
			pt.ConnectP99Ms, pt.AckP99Ms, 100*pt.ErrorRate, pt.Violations, pt.Throughput)
	}
	k := c.Knee
	if k.Cameras > 0 {
		p.f("\nknee: %d cameras", k.Cameras)
	} else {
		p.f("\nknee: none")
	}
	if k.Note != "" {
		p.f(": %s", k.Note)
	}
	p.f("\n")
	if f := c.Fit; f != nil {
		p.f("USL fit: lambda %.3g events/s per camera, contention sigma %.3g, coherency kappa %.3g, R² %.3f", f.Lambda, f.Sigma, f.Kappa, f.R2)
		if f.Peak != nil {
			p.f("; predicted peak %.0f events/s at %.0f cameras", f.Peak.X, f.Peak.N)
			if f.Peak.Extrapolated {
				p.f(" (beyond the sizes drilled)")
			}
		}
		p.f("\n")
	} else if c.FitError != "" {
		p.f("USL fit: %s\n", c.FitError)
	}
	return p.err
}
