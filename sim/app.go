package sim

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
)

// Limits of the app simulation.
const (
	maxBody       = 16 << 20 // largest response body herd reads
	maxOpenPages  = 5        // pages an app reads when it opens the Events tab
	auditWorkers  = 16
	auditAttempts = 20
)

// appUser is one account's app: it keeps its Events-tab cursor between polls.
type appUser struct {
	f      *Fleet
	acct   int
	id     string
	token  string
	cursor string
	n      uint64 // requests made: feeds the deterministic dice
}

func (f *Fleet) newApp(a int) *appUser {
	return &appUser{f: f, acct: a, id: AccountName(a), token: f.layout.UserToken(a)}
}

// dice returns a deterministic uniform number for the app's next decision.
func (u *appUser) dice(salt uint64) float64 {
	u.n++
	return unit(u.f.seed ^ salt ^ uint64(u.acct)<<24 ^ u.n<<1)
}

// appTask is one app action due at a time: a poll (which schedules the
// next) or a surge opening.
type appTask struct {
	at    time.Time
	u     *appUser
	every time.Duration // poll interval; 0 for a one-off opening
}

// appQueue is the app actions by due time.
type appQueue []appTask

func (q appQueue) Len() int           { return len(q) }
func (q appQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q appQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *appQueue) Push(x any)        { *q = append(*q, x.(appTask)) }
func (q *appQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	*q = old[:len(old)-1]
	return t
}

// runApps runs the apps: the share of accounts that keep the app open poll
// their Events tab through the whole plan, and after each outage most
// users open the app at once (the surge). A fixed pool of workers, one per
// app connection, takes the actions as they fall due; an action a busy pool
// starts late still counts its latency from when it was due.
func (f *Fleet) runApps(ctx context.Context) {
	app := f.sc.App
	poll := app.Poll.Duration
	var q appQueue
	for _, a := range f.mine {
		if unit(f.seed^0xa99^uint64(a)) >= app.Active || poll <= 0 {
			continue
		}
		first := f.plan.start.Add(time.Duration(unit(f.seed^0xf1^uint64(a)) * float64(poll)))
		q = append(q, appTask{at: first, u: f.newApp(a), every: poll})
	}
	for i := range f.plan.outages {
		o := &f.plan.outages[i]
		end := o.end()
		for _, a := range f.mine {
			if unit(f.seed^0x5e6e^uint64(o.index+1)<<40^uint64(a)) >= app.Surge {
				continue
			}
			at := end.Add(time.Duration(unit(f.seed^0x0be^uint64(o.index+1)<<40^uint64(a)) * float64(app.SurgeWindow.Duration)))
			q = append(q, appTask{at: at, u: f.newApp(a)})
		}
	}
	heap.Init(&q)
	var mu sync.Mutex // guards q: workers put polls back
	kick := make(chan struct{}, 1)
	work := make(chan appTask)
	var wg sync.WaitGroup
	for w := 0; w < DefaultAppConns; w++ {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case t := <-work:
					t.u.act(ctx, t)
					if next := t.at.Add(t.every); t.every > 0 && next.Before(f.plan.end) {
						mu.Lock()
						heap.Push(&q, appTask{at: next, u: t.u, every: t.every})
						mu.Unlock()
						select {
						case kick <- struct{}{}:
						default:
						}
					}
				}
			}
		})
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		mu.Lock()
		if len(q) > 0 && !q[0].at.After(time.Now()) {
			t := heap.Pop(&q).(appTask)
			mu.Unlock()
			select {
			case work <- t:
			case <-ctx.Done():
			}
			continue
		}
		d := time.Hour
		if len(q) > 0 {
			d = time.Until(q[0].at)
		}
		mu.Unlock()
		timer.Reset(d)
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-kick:
		}
	}
	wg.Wait()
}

// act runs one app action: a poll on a fixed schedule (latency counts from
// its intended time, so a slow target shows in the tail instead of slowing
// the schedule down) or an opening of the app.
func (u *appUser) act(ctx context.Context, t appTask) {
	if t.every == 0 || u.cursor == "" {
		u.open(ctx, t.at)
		return
	}
	u.listPages(ctx, t.at, 1)
	if u.dice(0x11fe) < u.f.sc.App.Live {
		u.live(ctx)
	}
}

// open is a person opening the Events tab: the first pages, some
// thumbnails, sometimes live view, and now and then a probe.
func (u *appUser) open(ctx context.Context, intended time.Time) {
	u.cursor = ""
	u.listPages(ctx, intended, maxOpenPages)
	if u.dice(0x11fe) < u.f.sc.App.Live {
		u.live(ctx)
	}
}

// listPages reads up to pages pages after the app's cursor and checks them.
func (u *appUser) listPages(ctx context.Context, intended time.Time, pages int) {
	f := u.f
	for p := 0; p < pages; p++ {
		u.maybeProbe(ctx)
		path := wire.EventsPath(u.id) + "?limit=" + strconv.Itoa(f.sc.App.PageSize)
		if u.cursor != "" {
			path += "&after=" + url.QueryEscape(u.cursor)
		}
		st, body, _, err := f.do(ctx, http.MethodGet, f.baseURL(u.acct)+path, u.token)
		if err != nil {
			return
		}
		f.m.record(u.acct, hList, time.Since(intended))
		if st != http.StatusOK {
			f.m.fail(statusErr(st))
			return
		}
		var page wire.EventsPage
		if err := json.Unmarshal(body, &page); err != nil {
			f.m.fail(eProtocol)
			return
		}
		f.m.add(cEventsListed, int64(len(page.Events)))
		for i := range page.Events {
			ev := &page.Events[i]
			if !f.oracle.CheckListed(u.id, ev, path) {
				continue
			}
			if u.dice(0x7b) < f.sc.App.Thumbnails {
				u.thumbnail(ctx, ev)
			}
		}
		if page.Next != "" {
			u.cursor = page.Next
		}
		if !page.More {
			return
		}
		intended = time.Now()
	}
}

func (u *appUser) thumbnail(ctx context.Context, ev *wire.EventInfo) {
	f := u.f
	if ev.ThumbURL == "" {
		f.m.fail(eProtocol)
		return
	}
	start := time.Now()
	st, body, _, err := f.do(ctx, http.MethodGet, f.baseURL(u.acct)+ev.ThumbURL, u.token)
	if err != nil {
		return
	}
	f.m.record(u.acct, hThumb, time.Since(start))
	if st != http.StatusOK {
		f.m.fail(statusErr(st))
		return
	}
	f.m.add(cThumbsChecked, 1)
	f.oracle.CheckThumb(u.id, ev, body, ev.ThumbURL)
}

func (u *appUser) live(ctx context.Context) {
	f := u.f
	first, end := f.layout.CamerasOf(u.acct)
	cam := first + int(u.dice(0x1e)*float64(end-first))
	device := DeviceName(cam)
	path := wire.LivePath(device)
	start := time.Now()
	st, body, _, err := f.do(ctx, http.MethodPost, f.baseURL(u.acct)+path, u.token)
	if err != nil {
		return
	}
	f.m.record(u.acct, hLive, time.Since(start))
	switch st {
	case http.StatusOK:
		f.oracle.CheckFrame(u.id, device, body, path)
	case http.StatusGatewayTimeout:
		f.m.fail(eLive504)
	default:
		f.m.fail(statusErr(st))
	}
}

// maybeProbe, now and then, asks for another account's events, thumbnail
// or camera with this user's token. The target must refuse; data in the
// answer is an idor violation.
func (u *appUser) maybeProbe(ctx context.Context) {
	f := u.f
	if f.sc.App.Probes <= 0 || f.layout.Accounts() < 2 || u.dice(0x960be) >= f.sc.App.Probes {
		return
	}
	victim := -1
	for try := 0; try < 8; try++ {
		v := int(u.dice(0x71c) * float64(f.layout.Accounts()))
		if v != u.acct && f.cell(v) == f.cell(u.acct) {
			victim = v
			break
		}
	}
	if victim < 0 {
		return
	}
	vfirst, _ := f.layout.CamerasOf(victim)
	var method, path string
	switch int(u.dice(0x3a7) * 3) {
	case 0:
		method, path = http.MethodGet, wire.EventsPath(AccountName(victim))+"?limit=10"
	case 1:
		method, path = http.MethodGet, wire.ThumbPath(oracle.EventID(DeviceName(vfirst), 1))
	default:
		method, path = http.MethodPost, wire.LivePath(DeviceName(vfirst))
	}
	f.m.add(cProbes, 1)
	st, body, _, err := f.do(ctx, method, f.baseURL(u.acct)+path, u.token)
	if err != nil {
		return
	}
	// Any success is a breach, even an empty page: the target answered a
	// question about an account the token does not own.
	if st >= 200 && st < 300 {
		f.oracle.ProbeAnswered(u.id, AccountName(victim), path, st, "status "+strconv.Itoa(st)+" with "+strconv.Itoa(len(body))+" bytes for another account's "+probeWhat(path))
		return
	}
	f.m.add(cProbesRefused, 1)
}

func probeWhat(path string) string {
	switch {
	case strings.HasSuffix(path, "/live"):
		return "camera"
	case strings.Contains(path, "/thumbnail"):
		return "thumbnail"
	}
	return "events"
}

// do makes one app request and reads its body.
func (f *Fleet) do(ctx context.Context, method, rawURL, token string) (int, []byte, http.Header, error) {
	f.m.add(cAppRequests, 1)
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		f.m.fail(eProtocol)
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.httpc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			f.m.fail(classifyNet(err))
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() == nil {
			f.m.fail(classifyNet(err))
		}
		return 0, nil, nil, err
	}
	return resp.StatusCode, body, resp.Header, nil
}

func statusErr(st int) errID {
	switch st {
	case http.StatusUnauthorized:
		return e401
	case http.StatusTooManyRequests:
		return e429
	case http.StatusServiceUnavailable:
		return e503
	}
	return eHTTPOther
}

// audit lists every account's whole Events tab once cameras are quiet and
// hands it to the oracle: what was acked and is missing is lost, what
// appears twice is a duplicate, what belongs elsewhere is a leak.
//
// It gives up when the target answers none of its pages for f.auditStall:
// the accounts not read by then count as failed, so the run still ends by
// itself against a target that sheds every call.
func (f *Fleet) audit(ctx context.Context) AuditSummary {
	f.oracle.FreezeAcks()
	actx, stop := context.WithCancel(ctx)
	defer stop()
	var gaveUp atomic.Bool
	stall := time.AfterFunc(f.auditStall, func() { gaveUp.Store(true); stop() })
	defer stall.Stop()
	answered := func() { stall.Reset(f.auditStall) }

	var mu sync.Mutex
	sum := AuditSummary{Accounts: len(f.mine)}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < auditWorkers; w++ {
		wg.Go(func() {
			for a := range next {
				evs, path, err := f.listAll(actx, a, answered)
				mu.Lock()
				if err != nil {
					sum.FailedAccounts++
				} else {
					sum.Events += int64(len(evs))
				}
				mu.Unlock()
				if err == nil {
					f.m.add(cAudited, int64(len(evs)))
					f.oracle.Audit(AccountName(a), evs, path)
				}
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
		sum.FailedAccounts += len(f.mine) - sent
		sum.GaveUp = gaveUp.Load()
	}
	f.oracle.AuditDone()
	return sum
}

var errAuditGaveUp = errors.New("audit: the target kept refusing")

// listAll reads account a's whole Events tab, waiting out load shedding;
// it calls answered for each page the target answers.
func (f *Fleet) listAll(ctx context.Context, a int, answered func()) ([]wire.EventInfo, string, error) {
	id := AccountName(a)
	token := f.layout.UserToken(a)
	base := wire.EventsPath(id) + "?limit=" + strconv.Itoa(wire.MaxPage)
	var all []wire.EventInfo
	cursor := ""
	for attempt := 0; attempt < auditAttempts; {
		path := base
		if cursor != "" {
			path += "&after=" + url.QueryEscape(cursor)
		}
		st, body, hdr, err := f.do(ctx, http.MethodGet, f.baseURL(a)+path, token)
		if err != nil {
			if ctx.Err() != nil {
				return nil, base, err
			}
			attempt++
			sleepUntil(ctx, time.Now().Add(200*time.Millisecond))
			continue
		}
		if st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable {
			f.m.fail(statusErr(st))
			attempt++
			wait := retryAfter(hdr.Get("Retry-After"))
			sleepUntil(ctx, time.Now().Add(max(wait, 200*time.Millisecond)))
			continue
		}
		if st != http.StatusOK {
			f.m.fail(statusErr(st))
			return nil, base, errors.New("audit: " + id + ": status " + strconv.Itoa(st))
		}
		answered()
		var page wire.EventsPage
		if err := json.Unmarshal(body, &page); err != nil {
			f.m.fail(eProtocol)
			return nil, base, err
		}
		all = append(all, page.Events...)
		if !page.More || page.Next == "" {
			return all, base, nil
		}
		cursor = page.Next
	}
	return nil, base, errAuditGaveUp
}
