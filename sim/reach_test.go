package sim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herd-drill/herd/sim/link"
)

func TestReachNamesATargetThatStoppedAnswering(t *testing.T) {
	start := time.Now()
	r := newReach(2, start)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	var clock time.Time
	r.now = func() time.Time { return clock }
	tick := func(t time.Time) { clock = t; r.tick(t) }
	refused := link.Fail(ErrRefused, errors.New("connect: connection refused"))

	// Both cells answer; then cell 0 refuses while cell 1 still answers:
	// the target is up.
	tick(at(time.Second))
	r.answer(0)
	r.answer(1)
	tick(at(2 * time.Second))
	r.result(0, refused)
	for s := 3; s <= 8; s++ {
		tick(at(time.Duration(s) * time.Second))
		r.answer(1)
		r.result(0, refused)
	}
	if d := r.down(at(8 * time.Second)); d != "" || len(r.all()) != 0 {
		t.Fatalf("one cell answering, yet %q %v", d, r.all())
	}
	// A shed request, a 503, is an answer: not unreachable.
	r.result(1, link.Fail(ErrHTTP503, errors.New("503")))
	// Cell 1 stops answering too: after UnreachableAfter the target is down
	// since cell 1's first unanswered failure.
	tick(at(9 * time.Second))
	clock = at(9*time.Second + 300*time.Millisecond)
	quiet := clock
	r.result(1, refused)
	r.result(0, refused)
	tick(at(10 * time.Second))
	if d := r.down(at(10 * time.Second)); d != "" {
		t.Fatalf("down after 1 s: %q", d)
	}
	tick(quiet.Add(UnreachableAfter + time.Second))
	d := r.down(clock)
	if !strings.Contains(d, "connection refused at every cell") || !strings.HasPrefix(d, "target unreachable since +") {
		t.Fatalf("down = %q", d)
	}
	spans := r.all()
	if len(spans) != 1 || !spans[0].From.Equal(quiet) || !spans[0].To.IsZero() || !strings.Contains(d, "since +9.3s") {
		t.Fatalf("spans %+v, want one open span from %v", spans, quiet)
	}
	// It answers again: the span closes.
	r.answer(0)
	r.answer(1)
	back := quiet.Add(UnreachableAfter + 2*time.Second)
	tick(back)
	if spans := r.all(); len(spans) != 1 || !spans[0].To.Equal(back) || r.down(back) != "" {
		t.Fatalf("after the target came back: %+v %q", spans, r.down(back))
	}
}

func TestReachIgnoresHerdsOwnLimits(t *testing.T) {
	start := time.Now().Add(-time.Minute)
	r := newReach(1, start)
	for i := range 10 {
		r.result(0, link.Fail(ErrFileLimit, errors.New("too many open files")))
		r.tick(start.Add(time.Duration(i) * time.Second))
	}
	if len(r.all()) != 0 {
		t.Fatalf("herd's own file limit called the target unreachable: %+v", r.all())
	}
}
