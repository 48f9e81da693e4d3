package sim

import (
	"context"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
)

// The final audit reads every account's whole Events tab once the cameras
// are quiet, and the thumbnail of every listed event, and hands both to
// the oracle: what was acked and is missing, or whose picture its owner
// cannot fetch, is lost; what appears twice is a duplicate; what belongs
// elsewhere is a leak.
//
// It is bounded so that it always ends by itself. A target that sheds (429
// or 503) or fails (5xx, a dropped connection, a time-out) is asked again,
// after its Retry-After and at least auditRetryMin, backing off to
// auditRetryMax: an account it has answered nothing for in twice the stall
// time-out is unread, and when the target answers no request at all for
// the stall time-out the audit gives up on every account left. An account's listing is bounded by the
// events its cameras can have sent: a cursor that repeats, or more pages
// than those events could fill, is a stuck cursor, and that account is
// unread too while the others are still audited.
const (
	auditWorkers  = 32
	auditRetryMin = 200 * time.Millisecond
	auditRetryMax = 5 * time.Second
)

// Reasons an account's Events tab could not be read whole, the keys of
// AuditSummary.Unread.
const (
	UnreadCursorStuck = "cursor_stuck" // the cursor repeated, or the pages outran what the account can hold
	UnreadShed        = "shed"         // the target kept shedding (429, 503) for the stall time-out
	UnreadUnreachable = "unreachable"  // connections failed or timed out for the stall time-out
	UnreadBadPage     = "bad_page"     // a 200 that is not an Events-tab page
	UnreadGaveUp      = "gave_up"      // the audit gave up: the target answered nothing for the stall time-out
	UnreadForeign     = "foreign"      // the tab held only other accounts' events (reported as leaks): the account's own were not shown
	// Other reasons are "status_NNN": a status that will not change by
	// asking again (401, 403, 404, 400...), or a 5xx that persisted.
)

// audit runs the final audit over this fleet's accounts.
func (f *Fleet) audit(ctx context.Context) AuditSummary {
	f.oracle.FreezeAcks()
	actx, stop := context.WithCancel(ctx)
	defer stop()
	var gaveUp atomic.Bool
	wait := f.auditStall
	if _, _, down := f.reach.state(time.Now()); down {
		// The target has answered nothing for a while: it still gets its
		// chance, but not a minute of it.
		wait = min(wait, UnreachableAudit)
	}
	stall := time.AfterFunc(wait, func() { gaveUp.Store(true); stop() })
	defer stall.Stop()
	answered := func() { stall.Reset(f.auditStall) }

	var mu sync.Mutex
	sum := AuditSummary{Accounts: len(f.mine), Unread: map[string]int{}, ThumbnailSample: f.sc.Audit.Thumbnails}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < auditWorkers; w++ {
		wg.Go(func() {
			for a := range next {
				r := f.auditAccount(actx, a, answered)
				if r.unread != "" && gaveUp.Load() {
					r.unread = UnreadGaveUp
				}
				mu.Lock()
				sum.Events += r.events
				sum.Thumbnails.Add(r.thumbs)
				if r.unread != "" {
					sum.FailedAccounts++
					sum.Unread[r.unread]++
				}
				mu.Unlock()
			}
		})
	}
	sent := 0
	for _, a := range f.mine {
		if actx.Err() != nil {
			break
		}
		next <- a
		sent++
	}
	close(next)
	wg.Wait()
	sum.Done = ctx.Err() == nil
	if sum.Done {
		// Accounts never handed out were not read either.
		if left := len(f.mine) - sent; left > 0 {
			sum.FailedAccounts += left
			sum.Unread[UnreadGaveUp] += left
		}
		sum.GaveUp = gaveUp.Load()
	}
	if st := f.oracle.AuditDone(); st.Foreign > 0 {
		sum.FailedAccounts += st.Foreign
		sum.Unread[UnreadForeign] += st.Foreign
	}
	return sum
}

// accountAudit is what the audit of one account found.
type accountAudit struct {
	events int64
	thumbs AuditThumbnails
	unread string // why its tab could not be read whole; "" when it was
}

// auditAccount reads account a's whole Events tab, hands it to the oracle,
// then fetches and checks the thumbnails of its own clean events.
func (f *Fleet) auditAccount(ctx context.Context, a int, answered func()) accountAudit {
	id := f.layout.AccountID(a)
	evs, path, why := f.listAll(ctx, a, answered)
	r := accountAudit{unread: why}
	switch why {
	case "":
	case UnreadCursorStuck:
		// Someone was shown these pages: they are checked, not counted.
		f.oracle.AuditUnread(id, evs, path)
		r.events = int64(len(evs))
		f.m.add(cAudited, r.events)
		return r
	default:
		return r
	}
	r.events = int64(len(evs))
	f.m.add(cAudited, r.events)
	clean := f.oracle.Audit(id, evs, path)
	token := f.layout.UserToken(a)
	for _, i := range clean {
		ev := &evs[i]
		if !f.auditSamples(ev.ID) {
			continue
		}
		r.thumbs.Listed++
		if ev.ThumbURL == "" {
			f.m.fail(ErrProtocol)
			r.thumbs.Errors++
			continue
		}
		st, body, _, why := f.auditGet(ctx, f.baseURL(a)+ev.ThumbURL, token, answered)
		if why != "" {
			r.thumbs.Errors++
			continue
		}
		switch f.oracle.AuditThumb(id, ev, st, body, ev.ThumbURL) {
		case oracle.ThumbChecked:
			r.thumbs.Checked++
		case oracle.ThumbLost:
			r.thumbs.Lost++
		case oracle.ThumbMissing:
			r.thumbs.Missing++
		default:
			f.m.failStatus(st)
			f.oracle.CheckBody(id, body, ev.ThumbURL, ev.ThumbURL, nil)
			r.thumbs.Errors++
		}
	}
	return r
}

// auditSamples reports whether the audit checks the thumbnail of event
// id: always at audit.thumbnails 1, else a sample drawn from the seed.
func (f *Fleet) auditSamples(id string) bool {
	share := f.sc.Audit.Thumbnails
	if share >= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return f.draws.auditSample.Unit(h.Sum64()) < share
}

// listAll reads account a's whole Events tab. why is "" when it was read
// whole, else the reason it was not (events then holds what was read).
func (f *Fleet) listAll(ctx context.Context, a int, answered func()) (events []wire.EventInfo, path, why string) {
	id := f.layout.AccountID(a)
	token := f.layout.UserToken(a)
	base := eventsPath(id, wire.MaxPage, "")
	// An honest tab holds at most what the account's cameras sent (each
	// event once; twice under a duplicating target): a listing that goes
	// on for more pages than that can fill does not end.
	var most uint64
	first, end := f.layout.CamerasOf(a)
	for cam := first; cam < end; cam++ {
		most += f.oracle.CapturedOf(cam)
	}
	maxPages := 2*most + 3
	var cursors map[string]struct{}
	cursor := ""
	for pages := uint64(0); ; pages++ {
		if pages >= maxPages {
			return events, base, UnreadCursorStuck
		}
		path := eventsPath(id, wire.MaxPage, cursor)
		st, body, _, why := f.auditGet(ctx, f.baseURL(a)+path, token, answered)
		if why != "" {
			return events, base, why
		}
		page, why := f.readPage(id, st, body, path)
		if why != "" {
			return events, base, why
		}
		f.oracle.CheckBody(id, body, path, path, func(jsonPath string) bool {
			i := oracle.EventIndex(jsonPath)
			return i >= 0 && i < len(page.Events) && f.oracle.Flags(id, &page.Events[i])
		})
		events = append(events, page.Events...)
		if !page.More || page.Next == "" {
			return events, base, ""
		}
		if cursors == nil {
			cursors = map[string]struct{}{cursor: {}}
		}
		if _, again := cursors[page.Next]; again {
			return events, base, UnreadCursorStuck
		}
		cursors[page.Next] = struct{}{}
		cursor = page.Next
	}
}

// auditGet makes one audit request, asking again while the target sheds
// or fails, honouring its Retry-After, until it answers or has answered
// nothing for the stall time-out. why is "" with the answer, else the
// reason it gave up (an unread account's reason).
func (f *Fleet) auditGet(ctx context.Context, rawURL, token string, answered func()) (st int, body []byte, hdr http.Header, why string) {
	// One account gets twice the stall time-out: when the whole target
	// stops answering, the audit's own stall fires first and gives up on
	// every account at once.
	deadline := time.Now().Add(2 * f.auditStall)
	backoff := auditRetryMin
	for {
		var err error
		st, body, hdr, err = f.do(ctx, http.MethodGet, rawURL, token)
		if ctx.Err() != nil {
			return 0, nil, nil, UnreadGaveUp
		}
		wait := backoff
		switch {
		case err != nil:
			why = UnreadUnreachable
		case st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable:
			f.m.failStatus(st)
			why = UnreadShed
			wait = max(wait, link.RetryAfter(hdr.Get("Retry-After")))
		case st >= 500:
			f.m.failStatus(st)
			why = "status_" + strconv.Itoa(st)
		default:
			answered()
			return st, body, hdr, ""
		}
		now := time.Now()
		if !now.Before(deadline) {
			return st, body, hdr, why
		}
		// A Retry-After beyond the budget is waited out to the budget's
		// end, and asked once more: the target may be back by then.
		if !sleepUntil(ctx, earliest(now.Add(wait), deadline)) {
			return 0, nil, nil, UnreadGaveUp
		}
		backoff = min(2*backoff, auditRetryMax)
	}
}
