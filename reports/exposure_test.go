package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/herd-drill/herd/sim/oracle"
)

// Two workers' exposures merge as sets: viewers, split between workers,
// add up; a victim both saw is counted once; the earliest first wins.
func TestExposureMergesAsSets(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	early, late := start.Add(3*time.Second), start.Add(5*time.Second)
	a := exposureOf(oracle.Exposure{Viewers: [3]oracle.Set{{1, 3}, {3}, {}}, Victims: oracle.Set{10, 11}, Devices: oracle.Set{20, 21}, First: late,
		Pairs: []oracle.Pair{{Viewer: "a1", Victim: "a10", Counts: [4]int64{0, 2, 0, 0}}}})
	b := exposureOf(oracle.Exposure{Viewers: [3]oracle.Set{{2}, {}, {2}}, Victims: oracle.Set{11, 12}, Devices: oracle.Set{21, 22, 23}, First: early,
		Pairs: []oracle.Pair{{Viewer: "a2", Victim: "a11", Counts: [4]int64{0, 1, 0, 0}}, {Viewer: "a1", Victim: "a10", Counts: [4]int64{0, 1, 0, 0}}}})
	var e Exposure
	e.add(a)
	e.add(b)
	e.finalize(start)
	if e.ViewersListed != 3 || e.ViewersOpened != 1 || e.ViewersWatched != 1 || e.Victims != 3 || e.DevicesExposed != 4 {
		t.Errorf("merged counts %d/%d/%d victims %d devices %d, want 3/1/1, 3, 4", e.ViewersListed, e.ViewersOpened, e.ViewersWatched, e.Victims, e.DevicesExposed)
	}
	if e.FirstMs == nil || *e.FirstMs != 3000 {
		t.Errorf("first_ms %v, want 3000", e.FirstMs)
	}
	if len(e.Pairs) != 2 || e.Pairs[0].Viewer != "a1" || e.Pairs[0].Listed != 3 {
		t.Errorf("pairs %+v, want a1→a10 listed 3 first", e.Pairs)
	}
	s := e.Sentence()
	for _, want := range []string{"3 accounts were shown another account's events", "1 opened a stranger's thumbnail", "1 watched a stranger's live view", "data of 3 accounts (4 cameras) exposed"} {
		if !strings.Contains(s, want) {
			t.Errorf("sentence %q lacks %q", s, want)
		}
	}
	var none Exposure
	none.finalize(start)
	if none.Any() || !strings.HasPrefix(none.Sentence(), "none") {
		t.Errorf("empty exposure says %q", none.Sentence())
	}
}

// The summary and the page say each error class's meaning, and which
// statuses http_other stands for; shed is not counted as an error.
func TestErrorsSayWhatTheyMean(t *testing.T) {
	r := fixture(t)
	r.Errors.ByClass["http_other"] = 3
	r.Errors.HTTPOtherCodes = map[string]int64{"500": 1, "418": 2}
	var sum, page bytes.Buffer
	if err := WriteSummary(&sum, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"418 ×2, 500 ×1", "http_503", "shed: "} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	if !strings.Contains(page.String(), "418 ×2, 500 ×1") {
		t.Error("page lacks the http_other codes")
	}
}
