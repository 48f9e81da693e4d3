package oracle

import (
	"slices"
	"testing"
	"time"
)

// Each way of being shown a stranger's data counts its viewer once, the
// victim and the camera once, in the phase it happened in; what is not a
// person looking (the audit's fetches, identifiers, probes) exposes the
// victim without making a viewer.
func TestExposureCountsPeopleAndVictims(t *testing.T) {
	phase := "steady"
	r := newRig(t, WithPhases(func(time.Time) string { return phase }))
	for cam := range 6 {
		sendUpTo(r.o, cam, 3)
	}
	viewer := r.acct(0) // account 0, shown account 1's and 2's data
	r.o.CheckListed(viewer, r.info(2, 1), "/list")
	r.o.CheckListed(viewer, r.info(2, 2), "/list") // the same pair again: counted once in the sets
	phase = "recovery"
	r.o.CheckThumb(r.acct(2), r.info(4, 1), r.thumb(4, 1), "/thumb")      // account 1 opens account 2's picture
	r.o.CheckFrame(viewer, r.dev(0), r.frame(5, 1), "/live")              // account 0 watches account 2's camera 5
	r.o.AuditThumb(r.acct(4), r.info(0, 1), 200, r.thumb(3, 1), "/audit") // the audit: account 1 exposed, no viewer
	r.o.CheckBody(r.acct(0), []byte(`{"peer":"`+r.dev(2)+`"}`), "", "/list", nil)
	r.o.Probe(viewer, r.acct(2), "", 200, "", []byte(`{}`), "/probe") // idor, not exposure

	e := r.o.Exposure()
	want := [3]Set{{0}, {1}, {0}}
	for i := range want {
		if !slices.Equal(e.Viewers[i], want[i]) {
			t.Errorf("viewers %d = %v, want %v", i, e.Viewers[i], want[i])
		}
	}
	if !slices.Equal(e.Victims, Set{1, 2}) {
		t.Errorf("victims = %v, want accounts 1 and 2", e.Victims)
	}
	if !slices.Equal(e.Devices, Set{2, 3, 4, 5}) {
		t.Errorf("devices = %v, want cameras 2, 3 (the audit's), 4 and 5", e.Devices)
	}
	if len(e.Phases) != 2 || e.Phases[0].Phase != "steady" || !slices.Equal(e.Phases[0].Viewers[0], Set{0}) ||
		e.Phases[1].Phase != "recovery" || !slices.Equal(e.Phases[1].Viewers[1], Set{1}) || !slices.Equal(e.Phases[1].Viewers[2], Set{0}) {
		t.Errorf("phases = %+v, want account 0 listed in steady; 1 opened, 0 watched in recovery", e.Phases)
	}
	if !e.First.Equal(testNow) || e.FirstSinceOutageEnd != nil {
		t.Errorf("first = %v (%v since the outage), want the first exposure's time, and no outage", e.First, e.FirstSinceOutageEnd)
	}
	if len(e.Pairs) != 4 || e.Pairs[0].Viewer != viewer || e.Pairs[0].Victim != r.acct(2) || e.Pairs[0].Counts != [4]int64{1, 2, 0, 0} {
		t.Errorf("pairs = %+v, want four, account 0 → 1 first: twice listed, once an identifier", e.Pairs)
	}

	clean := newRig(t)
	sendUpTo(clean.o, 0, 1)
	clean.o.CheckListed(clean.acct(0), clean.info(0, 1), "/list")
	clean.o.CheckThumb(clean.acct(0), clean.info(0, 1), clean.thumb(0, 1), "/thumb")
	if e := clean.o.Exposure(); len(e.Victims)+len(e.Viewers[0])+len(e.Devices) != 0 || !e.First.IsZero() {
		t.Errorf("an account shown its own data: exposure %+v, want none", e)
	}
}

func TestSetTextAndUnion(t *testing.T) {
	for _, s := range []Set{{}, {0}, {7}, {0, 1, 2, 3}, {5, 300, 70_000, 4_000_000}} {
		text, _ := s.MarshalText()
		var back Set
		if err := back.UnmarshalText(text); err != nil || !slices.Equal(back, s) {
			t.Errorf("%v → %q → %v, %v", s, text, back, err)
		}
	}
	var bad Set
	if bad.UnmarshalText([]byte("AAA")) == nil { // gaps of zero after the first: not increasing
		t.Error("a set with repeated members was read")
	}
	if got := (Set{1, 3, 5}).Union(Set{2, 3, 9}); !slices.Equal(got, Set{1, 2, 3, 5, 9}) {
		t.Errorf("union = %v", got)
	}
	dense := make(Set, 100_000)
	for i := range dense {
		dense[i] = uint32(i)
	}
	if text, _ := dense.MarshalText(); len(text) > 140_000 {
		t.Errorf("100,000 consecutive members take %d bytes: want under 1.4 a member", len(text))
	}
}
