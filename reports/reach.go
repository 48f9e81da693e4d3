package reports

import (
	"fmt"
	"slices"
	"time"

	"github.com/herd-drill/herd/sim"
)

// UnreachableSpan is a span of the drill in which the target answered
// nothing at any cell while herd kept asking (sim.UnreachableAfter). To is
// null when it lasted to the end of the drill.
type UnreachableSpan struct {
	From   time.Time  `json:"from"`
	To     *time.Time `json:"to"`
	FromMs float64    `json:"from_ms"` // from the drill's start
	ToMs   *float64   `json:"to_ms"`
	Detail string     `json:"detail"` // "connection refused at every cell"
}

func unreachableOf(us []sim.Unreachable) []UnreachableSpan {
	out := []UnreachableSpan{}
	for _, u := range us {
		s := UnreachableSpan{From: u.From.UTC(), Detail: u.Detail}
		if !u.To.IsZero() {
			to := u.To.UTC()
			s.To = &to
		}
		out = append(out, s)
	}
	return out
}

// addUnreachable adds the spans of o to those of a: overlapping spans are
// one (the workers of a run see the same target go away).
func addUnreachable(a, o []UnreachableSpan) []UnreachableSpan {
	all := append(slices.Clone(a), o...)
	slices.SortFunc(all, func(x, y UnreachableSpan) int { return x.From.Compare(y.From) })
	var out []UnreachableSpan
	for _, s := range all {
		if n := len(out); n > 0 && (out[n-1].To == nil || !s.From.After(*out[n-1].To)) {
			last := &out[n-1]
			if last.To != nil && (s.To == nil || s.To.After(*last.To)) {
				last.To = s.To
			}
			continue
		}
		out = append(out, s)
	}
	if out == nil {
		out = []UnreachableSpan{}
	}
	return out
}

// finalizeUnreachable sets the spans' times from the drill's start.
func finalizeUnreachable(spans []UnreachableSpan, started time.Time) {
	for i := range spans {
		s := &spans[i]
		s.FromMs = ms(s.From.Sub(started))
		s.ToMs = nil
		if s.To != nil {
			v := ms(s.To.Sub(started))
			s.ToMs = &v
		}
	}
}

// unreachableReason is the verdict's reason when the target was still
// unreachable at the end, "" when it was not.
func unreachableReason(spans []UnreachableSpan) string {
	if n := len(spans); n > 0 && spans[n-1].To == nil && spans[n-1].ToMs == nil {
		return fmt.Sprintf("target unreachable since +%.1fs (%s)", spans[n-1].FromMs/1000, spans[n-1].Detail)
	}
	return ""
}
