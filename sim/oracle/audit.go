package oracle

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/herd-drill/herd/sim/wire"
)

// auditState is the final audit's bookkeeping. It is touched once per
// account, so a mutex is fine here.
type auditState struct {
	once      sync.Once
	byAccount map[string][]int32 // account → its cameras, ascending

	mu     sync.Mutex
	done   map[string]struct{}
	closed bool
	events atomic.Int64
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
}

func (o *Oracle) indexAccounts() {
	m := make(map[string][]int32)
	for cam := range o.fleet.Cameras() {
		a := o.fleet.Account(cam)
		m[a] = append(m[a], int32(cam))
	}
	o.audit.byAccount = m
}

// Audit is the final audit of account's full Events tab, read at path. Each
// listed event is checked as by CheckListed; an id listed again is a
// duplicate (and is not checked again); and every acknowledged event of the
// account's cameras that is not listed is lost, one evidence per event with
// exact counts. Call it once per account, after the fleet has stopped
// sending, then AuditDone. Auditing an account twice, or after AuditDone,
// panics: it would count its violations twice.
func (o *Oracle) Audit(account string, events []wire.EventInfo, path string) {
	o.audit.once.Do(o.indexAccounts)
	o.audit.mu.Lock()
	if o.audit.done == nil {
		o.audit.done = make(map[string]struct{})
	}
	_, again := o.audit.done[account]
	closed := o.audit.closed
	o.audit.done[account] = struct{}{}
	o.audit.mu.Unlock()
	switch {
	case closed:
		panic("oracle: Audit of " + account + " after AuditDone")
	case again:
		panic("oracle: account " + account + " audited twice")
	}
	o.audit.events.Add(int64(len(events)))

	cams := o.audit.byAccount[account]
	seen := make([][]uint64, len(cams)) // per own camera, bit seq-1: listed
	var others map[string]struct{}      // ids that are not the account's own
	for i := range events {
		ev := &events[i]
		if o.listedBefore(account, ev, cams, seen, &others) {
			o.report(Duplicate, account, "", ev.Device, ev.ID, path, "event %q is listed more than once", ev.ID)
			continue
		}
		o.CheckListed(account, ev, path)
	}

	for pos, cam := range cams {
		acked, n := o.cams[cam].acked(0)
		if n == 0 {
			continue
		}
		dev := o.fleet.Device(int(cam))
		for w, a := range acked {
			if w < len(seen[pos]) {
				a &^= seen[pos][w]
			}
			for a != 0 {
				b := bits.TrailingZeros64(a)
				a &^= 1 << b
				id := EventID(dev, uint64(w)*64+uint64(b)+1)
				o.report(Lost, account, account, dev, id, path, "event %q was acknowledged but is absent from the Events tab (%d events listed)", id, len(events))
			}
		}
	}
}

// listedBefore marks ev as listed and reports whether it already was.
// Events of the account's own cameras are tracked in bitsets; anything
// else (cross-account, forged) in a map, which a clean account never needs.
func (o *Oracle) listedBefore(account string, ev *wire.EventInfo, cams []int32, seen [][]uint64, others *map[string]struct{}) bool {
	if dev, seq, ok := ParseEventID(ev.ID); ok {
		if cam, owner, ok := o.fleet.Camera(dev); ok && owner == account {
			if pos, ok := slices.BinarySearch(cams, int32(cam)); ok {
				if sent := o.cams[cam].sent.Load(); seq <= sent {
					if seen[pos] == nil {
						seen[pos] = make([]uint64, (sent+63)/64)
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
	o.audit.once.Do(o.indexAccounts)
	o.audit.mu.Lock()
	defer o.audit.mu.Unlock()
	o.audit.closed = true
	st := AuditStats{Accounts: len(o.audit.done), Events: o.audit.events.Load()}
	for acct, cams := range o.audit.byAccount {
		if _, ok := o.audit.done[acct]; ok {
			continue
		}
		var n int64
		for _, cam := range cams {
			n += int64(o.cams[cam].ackedCount())
		}
		if n > 0 {
			st.Unaudited++
			st.UnauditedAcked += n
		}
	}
	return st
}

// String summarises the stats for a log line.
func (s AuditStats) String() string {
	return fmt.Sprintf("%d accounts audited, %d events checked, %d accounts (%d acked events) not audited",
		s.Accounts, s.Events, s.Unaudited, s.UnauditedAcked)
}
