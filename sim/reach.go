package sim

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-drill/herd/sim/link"
)

// UnreachableAfter is how long every cell of the target must have answered
// nothing, while herd kept asking, before herd says the target is
// unreachable. A target that sheds, refuses tokens or answers errors is
// answering; one that is slow still acks the cameras it holds.
const UnreachableAfter = 3 * time.Second

// UnreachableAudit is how long the final audit waits for a first answer
// from a target that was unreachable when the audit began (else it waits
// DefaultAuditStall).
const UnreachableAudit = 10 * time.Second

// Unreachable is a span of the drill in which the target answered nothing.
type Unreachable struct {
	From, To time.Time // To is zero while it lasts (to the end of the drill)
	Detail   string    // how it failed: "connection refused at every cell"
}

// reach watches whether the target answers at all: per cell, when it last
// answered (a welcome, an ack, any HTTP status) and how it last failed to.
// Answers are stamped with a clock the sampler advances, so the cameras'
// hot paths only load and store.
type reach struct {
	start time.Time
	clock atomic.Int64     // Unix ns, advanced by tick
	now   func() time.Time // the real clock, which failures read
	cells []cellReach

	mu    sync.Mutex
	spans []Unreachable
}

type cellReach struct {
	answered atomic.Int64 // Unix ns of the last answer (the sampler's clock)
	missed   atomic.Int64 // Unix ns of the last failure that got no answer
	// firstMiss is the Unix ns of the first failure after the last answer:
	// when the cell went quiet. Failures read the real clock; they are
	// not the hot path of a target that answers.
	firstMiss atomic.Int64
	class     atomic.Pointer[string]
}

func newReach(cells int, start time.Time) *reach {
	r := &reach{start: start, cells: make([]cellReach, max(cells, 1)), now: time.Now}
	r.clock.Store(start.UnixNano())
	for i := range r.cells {
		r.cells[i].answered.Store(start.UnixNano()) // no alarm before anyone asked
	}
	return r
}

// answer records an answer from cell.
func (r *reach) answer(cell int) {
	if r != nil && cell >= 0 && cell < len(r.cells) {
		if now := r.clock.Load(); r.cells[cell].answered.Load() < now {
			r.cells[cell].answered.Store(now)
		}
	}
}

// miss records that asking cell failed without an answer, of class.
func (r *reach) miss(cell int, class string) {
	if r != nil && cell >= 0 && cell < len(r.cells) {
		c := &r.cells[cell]
		now := r.now().UnixNano()
		if c.missed.Load() <= c.answered.Load() {
			c.firstMiss.Store(now)
		}
		c.missed.Store(now)
		if p := c.class.Load(); p == nil || *p != class {
			c.class.Store(&class)
		}
	}
}

// result records how asking cell failed: with an answer (an HTTP status,
// a close code) or without one (refused, timed out, reset).
func (r *reach) result(cell int, err error) {
	if r == nil {
		return
	}
	switch class := link.ClassOf(err); class {
	case ErrRefused, ErrTimeout, ErrNetwork:
		r.miss(cell, class)
	case ErrFileLimit, ErrAddrNotAvail: // herd's own limits say nothing of the target
	default:
		r.answer(cell)
	}
}

// tick advances the clock to now and opens or closes a span.
func (r *reach) tick(now time.Time) {
	r.clock.Store(now.UnixNano())
	since, detail, down := r.state(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.spans)
	open := n > 0 && r.spans[n-1].To.IsZero()
	switch {
	case down && !open:
		r.spans = append(r.spans, Unreachable{From: since, Detail: detail})
	case !down && open:
		r.spans[n-1].To = now
	}
}

// state says whether every cell has been failing, unanswered, for
// UnreachableAfter at now, since when, and how.
func (r *reach) state(now time.Time) (since time.Time, detail string, down bool) {
	if r == nil {
		return time.Time{}, "", false
	}
	classes := map[string]int{}
	var last int64 // the cell that went quiet last makes the target quiet
	for i := range r.cells {
		c := &r.cells[i]
		a, m := c.answered.Load(), c.missed.Load()
		if m <= a || now.UnixNano()-a < int64(UnreachableAfter) {
			return time.Time{}, "", false
		}
		last = max(last, c.firstMiss.Load())
		if p := c.class.Load(); p != nil {
			classes[*p]++
		}
	}
	return time.Unix(0, last), describeMisses(classes, len(r.cells)), true
}

// describeMisses says how the cells failed.
func describeMisses(classes map[string]int, cells int) string {
	words := map[string]string{ErrRefused: "connection refused", ErrTimeout: "no answer in time", ErrNetwork: "network errors"}
	where := "at every cell"
	if cells == 1 {
		where = "at the target"
	}
	if len(classes) == 1 {
		for c := range classes {
			w := words[c]
			if w == "" {
				w = c
			}
			return w + " " + where
		}
	}
	var parts []string
	for c, n := range classes {
		w := words[c]
		if w == "" {
			w = c
		}
		parts = append(parts, fmt.Sprintf("%s at %d", w, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ") + " of " + fmt.Sprint(cells) + " cells"
}

// down is the live status's line while the target is unreachable, "" else.
func (r *reach) down(now time.Time) string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.spans); n > 0 && r.spans[n-1].To.IsZero() {
		return fmt.Sprintf("target unreachable since +%.1fs (%s)", r.spans[n-1].From.Sub(r.start).Seconds(), r.spans[n-1].Detail)
	}
	return ""
}

// all returns the spans so far.
func (r *reach) all() []Unreachable {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Unreachable(nil), r.spans...)
}
