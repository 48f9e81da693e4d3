package oracle

import (
	"fmt"
	"math/bits"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/herd-drill/herd/sim/wire"
)

// auditState is the final audit's bookkeeping. It is touched once per
// account, so a mutex is fine here.
type auditState struct {
	mu     sync.Mutex
	done   map[int]struct{} // accounts audited, read whole or not
	closed bool
	// foreign counts the audited accounts whose Events tab was wholly
	// another's, and the acknowledged events they hold: herd could not
	// see theirs, which is not the target losing them.
	foreign, foreignAcked int64
	events                atomic.Int64
}

// AuditStats sums up the final audit.
type AuditStats struct {
	// Accounts is how many accounts were audited.
	Accounts int `json:"accounts"`
	// Events is how many listed events were checked.
	Events int64 `json:"events"`
	// Unaudited is how many accounts holding acknowledged events were
	// never audited (their listing failed, say): their events are neither
	// found nor counted lost.
	Unaudited int `json:"unaudited"`
	// UnauditedAcked is how many acknowledged events those accounts hold.
	UnauditedAcked int64 `json:"unaudited_acked"`
	// Foreign is how many of them were audited, but their Events tab held
	// only other accounts' events: what they hold was not shown.
	Foreign int `json:"foreign"`
}

// begin marks account as audited, once; it panics on a second audit of one
// account, or one after AuditDone, which would count its violations twice.
func (o *Oracle) begin(account string) (a int) {
	a = o.viewerIndex(account)
	o.audit.mu.Lock()
	defer o.audit.mu.Unlock()
	if o.audit.done == nil {
		o.audit.done = make(map[int]struct{})
	}
	switch _, again := o.audit.done[a]; {
	case a < 0:
		panic("oracle: Audit of " + account + ", which is not an account of this run")
	case o.audit.closed:
		panic("oracle: Audit of " + account + " after AuditDone")
	case again:
		panic("oracle: account " + account + " audited twice")
	}
	o.audit.done[a] = struct{}{}
	return a
}

// Audit is the final audit of account's full Events tab, read at path.
// Each listed event is checked as by CheckListed; an id listed again is a
// duplicate (and is not checked again); and every acknowledged event of the
// account's cameras that is not listed is lost, one evidence per event with
// exact counts. It returns the positions in events of the account's own
// clean events, whose thumbnails the audit fetches next (AuditThumb). Call
// it once per account, after the fleet has stopped sending, then
// AuditDone.
func (o *Oracle) Audit(account string, events []wire.EventInfo, path string) (clean []int) {
	a := o.begin(account)
	o.audit.events.Add(int64(len(events)))
	first, end := o.fleet.CamerasOf(a)
	seen := make([][]uint64, end-first) // per own camera, bit seq-1: listed
	var others map[string]struct{}      // ids that are not the account's own
	for i := range events {
		ev := &events[i]
		if o.listedBefore(first, end, ev, seen, &others) {
			o.report(Duplicate, account, "", ev.Device, ev.ID, path, "event %q is listed more than once", ev.ID)
			continue
		}
		if o.CheckListed(account, ev, path) {
			clean = append(clean, i)
		}
	}
	if len(others) > 0 && !slices.ContainsFunc(seen, func(s []uint64) bool { return s != nil }) {
		// Not one of the account's own events, only others': the tab
		// served is another's (a cache keyed without the account, say).
		// Those are reported above; what the account holds herd could not
		// see, which is not the target losing it.
		n := o.ackedOf(a)
		o.audit.mu.Lock()
		o.audit.foreign++
		o.audit.foreignAcked += n
		o.audit.mu.Unlock()
		return clean
	}
	for cam := first; cam < end; cam++ {
		l := o.ledger(cam)
		if l == nil {
			continue
		}
		acked, n := l.ackedSet()
		if n == 0 {
			continue
		}
		listed := seen[cam-first]
		for w, word := range acked {
			if w < len(listed) {
				word &^= listed[w]
			}
			for word != 0 {
				b := bits.TrailingZeros64(word)
				word &^= 1 << b
				id := EventID(o.device(cam), uint64(w)*64+uint64(b)+1)
				o.report(Lost, account, account, o.device(cam), id, path, "event %q was acknowledged but is absent from the Events tab (%d events listed)", id, len(events))
			}
		}
	}
	return clean
}

// AuditUnread is the final audit of an account whose Events tab could not
// be read whole (its cursor never advanced, say): the events it did show
// are still checked, each once, since someone was shown them, but nothing
// is counted lost or duplicated, since herd could not see the rest.
func (o *Oracle) AuditUnread(account string, events []wire.EventInfo, path string) {
	o.begin(account)
	seen := make(map[string]struct{}, len(events))
	for i := range events {
		ev := &events[i]
		if _, dup := seen[ev.ID]; dup {
			continue
		}
		seen[ev.ID] = struct{}{}
		o.audit.events.Add(1)
		o.CheckListed(account, ev, path)
	}
}

// ThumbAudit is what the final audit's fetch of a listed event's thumbnail
// showed.
type ThumbAudit uint8

// Outcomes of AuditThumb.
const (
	ThumbChecked    ThumbAudit = iota // fetched and checked, as by CheckThumb
	ThumbLost                         // acknowledged, listed, and its owner cannot fetch it: lost, reported
	ThumbMissing                      // listed but unfetchable, and never acknowledged: not a loss herd can claim
	ThumbUnexpected                   // any other status: neither
)

// AuditThumb judges the final audit's fetch of the thumbnail of ev, one of
// account's own clean events (from Audit), answered with status and body
// at path. A 200 is checked as by CheckThumb; a 403, 404 or 410 for an
// acknowledged event is lost, since its owner has lost the picture.
func (o *Oracle) AuditThumb(account string, ev *wire.EventInfo, status int, body []byte, path string) ThumbAudit {
	switch status {
	case http.StatusOK:
		o.checkThumb(SeenData, account, ev, body, path) // the audit, not a person, opened it
		return ThumbChecked
	case http.StatusForbidden, http.StatusNotFound, http.StatusGone:
	default:
		return ThumbUnexpected
	}
	dev, seq, _ := ParseEventID(ev.ID)
	cam, _ := o.names.ParseDevice(dev)
	if l := o.ledger(cam); l == nil || !l.wasAcked(seq) {
		return ThumbMissing
	}
	o.report(Lost, account, account, dev, ev.ID, path, "event %q is acknowledged and listed, but its thumbnail answered %d: its owner cannot see the picture", ev.ID, status)
	return ThumbLost
}

// listedBefore marks ev as listed and reports whether it already was.
// Events of the account's own cameras (first..end) are tracked in bitsets;
// anything else (cross-account, forged) in a map, which a clean account
// never needs.
func (o *Oracle) listedBefore(first, end int, ev *wire.EventInfo, seen [][]uint64, others *map[string]struct{}) bool {
	if dev, seq, ok := ParseEventID(ev.ID); ok {
		if cam, ok := o.names.ParseDevice(dev); ok && cam >= first && cam < end {
			if l := o.ledger(cam); l != nil {
				if captured := l.captured.Load(); seq <= captured {
					pos := cam - first
					if seen[pos] == nil {
						seen[pos] = make([]uint64, (captured+63)/64)
					}
					w, bit := (seq-1)/64, uint64(1)<<((seq-1)%64)
					dup := seen[pos][w]&bit != 0
					seen[pos][w] |= bit
					return dup
				}
			}
		}
	}
	if *others == nil {
		*others = make(map[string]struct{})
	}
	if _, dup := (*others)[ev.ID]; dup {
		return true
	}
	(*others)[ev.ID] = struct{}{}
	return false
}

// AuditDone marks the end of the final audit and sums it up. Accounts that
// hold acknowledged events but were never audited are counted in the stats,
// not as lost: herd could not look, which is not the target losing them.
func (o *Oracle) AuditDone() AuditStats {
	o.audit.mu.Lock()
	defer o.audit.mu.Unlock()
	o.audit.closed = true
	st := AuditStats{Accounts: len(o.audit.done), Events: o.audit.events.Load(), Foreign: int(o.audit.foreign), Unaudited: int(o.audit.foreign), UnauditedAcked: o.audit.foreignAcked}
	for a := range o.fleet.Accounts() {
		if _, ok := o.audit.done[a]; ok {
			continue
		}
		if n := o.ackedOf(a); n > 0 {
			st.Unaudited++
			st.UnauditedAcked += n
		}
	}
	return st
}

// ackedOf is how many events of account a's cameras were acknowledged.
func (o *Oracle) ackedOf(a int) int64 {
	var n int64
	first, end := o.fleet.CamerasOf(a)
	for cam := first; cam < end; cam++ {
		if l := o.ledger(cam); l != nil {
			n += int64(l.ackedCount())
		}
	}
	return n
}

// String summarises the stats for a log line.
func (s AuditStats) String() string {
	return fmt.Sprintf("%d accounts audited, %d events checked, %d accounts (%d acked events) not audited",
		s.Accounts, s.Events, s.Unaudited, s.UnauditedAcked)
}
