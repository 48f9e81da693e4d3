package sim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/herd-drill/herd/sim/internal/draw"
	"github.com/herd-drill/herd/sim/internal/timers"
	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
)

// Limits of the app simulation.
const (
	maxBody      = 16 << 20 // largest response body herd reads
	maxOpenPages = 5        // pages an app reads when it opens the Events tab
	// recentThumbs is how many of its latest thumbnail fetches an app user
	// remembers for probes: a cache that checks ownership only on a miss
	// serves what the owner fetched moments ago to anyone.
	recentThumbs = 4
	// recentFor is how long a fetched thumbnail counts as recent.
	recentFor = 10 * time.Second
)

// appUser is one account's app. A person does one thing at a time, so its
// polls and its openings after an outage take turns (busy); what other
// users' probes may ask for (its cursor, its latest thumbnails) is kept
// apart under shownMu, held only briefly, so that no lock is held while
// another is taken.
type appUser struct {
	f     *Fleet
	acct  int
	id    string
	token string

	busy   sync.Mutex
	cursor string // where the Events tab was left; under busy
	n      uint64 // requests made: feeds the deterministic dice; under busy

	shownMu     sync.Mutex
	shownCursor string
	recent      [recentThumbs]recentThumb
	nextRecent  int
}

// recentThumb is a thumbnail an app user fetched.
type recentThumb struct {
	url string
	at  time.Time
}

func (f *Fleet) newApp(a int) *appUser {
	return &appUser{f: f, acct: a, id: f.layout.AccountID(a), token: f.layout.UserToken(a)}
}

// app returns the app user of account a, one of this fleet's accounts.
func (f *Fleet) app(a int) *appUser { return f.apps[(a-f.seg.Index)/f.seg.Count] }

// dice returns a deterministic uniform number for the app's next decision.
// Under busy.
func (u *appUser) dice(s draw.Stream) float64 {
	u.n++
	return s.Unit2(uint64(u.acct), u.n)
}

// appTask is one app action, due at its slot's time: a poll (which
// schedules the next) or a surge opening.
type appTask struct {
	timers.Slot
	u     *appUser
	every time.Duration // poll interval; 0 for a one-off opening
}

// runApps runs the apps: the share of accounts that keep the app open poll
// their Events tab through the whole plan, and after each outage most
// users open the app at once (the surge). A fixed pool of workers, one per
// app connection, takes the actions as they fall due; an action a busy pool
// starts late still counts its latency from when it was due.
func (f *Fleet) runApps(ctx context.Context) {
	app := f.sc.App
	poll := app.Poll.Duration
	q := timers.New[*appTask]()
	for _, a := range f.mine {
		if f.draws.appActive.Unit(uint64(a)) >= app.Active || poll <= 0 {
			continue
		}
		first := f.plan.start.Add(time.Duration(f.draws.appFirstPoll.Unit(uint64(a)) * float64(poll)))
		q.At(&appTask{u: f.app(a), every: poll}, first)
	}
	for i := range f.plan.outages {
		o := &f.plan.outages[i]
		end := o.end()
		for _, a := range f.mine {
			if f.draws.surge.Unit2(uint64(o.index), uint64(a)) >= app.Surge {
				continue
			}
			at := end.Add(time.Duration(f.draws.surgeAt.Unit2(uint64(o.index), uint64(a)) * float64(app.SurgeWindow.Duration)))
			q.At(&appTask{u: f.app(a)}, at)
		}
	}
	q.Run(ctx, DefaultAppConns, func(t *appTask) {
		t.u.act(ctx, t)
		if next := t.Due().Add(t.every); t.every > 0 && next.Before(f.plan.end) {
			q.At(t, next)
		}
	})
}

// act runs one app action: a poll on a fixed schedule (latency counts from
// its intended time, so a slow target shows in the tail instead of slowing
// the schedule down) or an opening of the app.
func (u *appUser) act(ctx context.Context, t *appTask) {
	u.busy.Lock()
	defer u.busy.Unlock()
	if t.every == 0 || u.cursor == "" {
		u.open(ctx, t.Due())
		return
	}
	u.listPages(ctx, t.Due(), 1)
	if u.dice(u.f.draws.appLive) < u.f.sc.App.Live {
		u.live(ctx)
	}
}

// open is a person opening the Events tab: the first pages, some
// thumbnails, sometimes live view, and now and then a probe.
func (u *appUser) open(ctx context.Context, intended time.Time) {
	u.cursor = ""
	u.listPages(ctx, intended, maxOpenPages)
	if u.dice(u.f.draws.appLive) < u.f.sc.App.Live {
		u.live(ctx)
	}
}

// eventsPath is the path of account id's Events-tab page of limit events
// after cursor ("" for the first).
func eventsPath(id string, limit int, cursor string) string {
	path := wire.EventsPath(id) + "?limit=" + strconv.Itoa(limit)
	if cursor != "" {
		path += "&after=" + url.QueryEscape(cursor)
	}
	return path
}

// readPage decodes an Events-tab page the target answered to account id,
// as the app and the audit read them. A page that is not 200 or does not
// decode is counted as a failure, its body still checked for other
// accounts' names, and why says what it was.
func (f *Fleet) readPage(id string, st int, body []byte, path string) (page wire.EventsPage, why string) {
	switch {
	case st != http.StatusOK:
		f.m.failStatus(st)
		why = "status_" + strconv.Itoa(st)
	case json.Unmarshal(body, &page) != nil:
		f.m.fail(ErrProtocol)
		why = UnreadBadPage
	default:
		return page, ""
	}
	f.oracle.CheckBody(id, body, path, path, nil)
	return wire.EventsPage{}, why
}

// listPages reads up to pages pages after the app's cursor and checks them:
// every event (CheckListed), then the whole page for other accounts' names
// wherever they stand (CheckBody), past the events already flagged.
func (u *appUser) listPages(ctx context.Context, intended time.Time, pages int) {
	f := u.f
	for p := 0; p < pages; p++ {
		u.maybeProbe(ctx)
		path := eventsPath(u.id, f.sc.App.PageSize, u.cursor)
		st, body, _, err := f.do(ctx, http.MethodGet, f.baseURL(u.acct)+path, u.token)
		if err != nil {
			return
		}
		f.m.record(u.acct, hList, time.Since(intended))
		page, why := f.readPage(u.id, st, body, path)
		if why != "" {
			return
		}
		f.m.add(cEventsListed, int64(len(page.Events)))
		var flagged map[int]bool
		for i := range page.Events {
			ev := &page.Events[i]
			if !f.oracle.CheckListed(u.id, ev, path) {
				if flagged == nil {
					flagged = map[int]bool{}
				}
				flagged[i] = true
				continue
			}
			if u.dice(u.f.draws.appThumb) < f.sc.App.Thumbnails {
				u.thumbnail(ctx, ev)
			}
		}
		f.oracle.CheckBody(u.id, body, path, path, func(jsonPath string) bool { return flagged[oracle.EventIndex(jsonPath)] })
		if page.Next != "" {
			u.cursor = page.Next
			u.shownMu.Lock()
			u.shownCursor = page.Next
			u.shownMu.Unlock()
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
		f.m.fail(ErrProtocol)
		return
	}
	start := time.Now()
	st, body, _, err := f.do(ctx, http.MethodGet, f.baseURL(u.acct)+ev.ThumbURL, u.token)
	if err != nil {
		return
	}
	f.m.record(u.acct, hThumb, time.Since(start))
	if st != http.StatusOK {
		f.m.failStatus(st)
		f.oracle.CheckBody(u.id, body, ev.ThumbURL, ev.ThumbURL, nil)
		return
	}
	u.shownMu.Lock()
	u.recent[u.nextRecent] = recentThumb{url: ev.ThumbURL, at: time.Now()}
	u.nextRecent = (u.nextRecent + 1) % recentThumbs
	u.shownMu.Unlock()
	f.m.add(cThumbsChecked, 1)
	f.oracle.CheckThumb(u.id, ev, body, ev.ThumbURL)
}

func (u *appUser) live(ctx context.Context) {
	f := u.f
	first, end := f.layout.CamerasOf(u.acct)
	cam := first + int(u.dice(u.f.draws.appLiveCam)*float64(end-first))
	device := f.layout.Device(cam)
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
		f.m.fail(ErrLiveUnanswerd)
		f.oracle.CheckBody(u.id, body, path, path, nil)
	default:
		f.m.failStatus(st)
		f.oracle.CheckBody(u.id, body, path, path, nil)
	}
}

// Kinds of probe, drawn from the seed in turn: every resource and parameter
// the app channel has, since backends that check ownership on one code path
// often forget another (only without a cursor, only on a cache miss, only
// on the list and not on the picture or the camera).
const (
	probeList   = iota // the victim's Events tab, first page
	probeCursor        // the victim's Events tab after a cursor: the victim's own, or the prober's
	probeThumb         // the thumbnail of an event the victim has, one it fetched moments ago when there is one
	probeLive          // live view of one of the victim's cameras
	probeKinds
)

// maybeProbe, now and then, asks for another account's data with this
// user's token. The target must refuse; data in the answer is an idor
// violation.
func (u *appUser) maybeProbe(ctx context.Context) {
	f := u.f
	if f.sc.App.Probes <= 0 || len(f.mine) < 2 || u.dice(u.f.draws.probe) >= f.sc.App.Probes {
		return
	}
	// The victim is an account of this process, so that the probe can ask
	// for what the victim really has: its cursor, its events, the
	// pictures it just opened. It lives in the prober's cell, or the cell
	// would answer for an account it does not hold.
	var victim *appUser
	for try := 0; try < 8; try++ {
		v := f.mine[int(u.dice(u.f.draws.probeVictim)*float64(len(f.mine)))]
		if v != u.acct && f.cell(v) == f.cell(u.acct) {
			victim = f.app(v)
			break
		}
	}
	if victim == nil {
		return
	}
	method, path, kind := http.MethodGet, wire.EventsPath(victim.id)+"?limit=10", int(u.dice(u.f.draws.probeKind)*probeKinds)
	switch kind {
	case probeCursor:
		victim.shownMu.Lock()
		cursor := victim.shownCursor
		victim.shownMu.Unlock()
		if cursor == "" {
			cursor = u.cursor
		}
		if cursor == "" {
			kind = probeList
			break
		}
		path += "&after=" + url.QueryEscape(cursor)
	case probeThumb:
		if p, ok := u.victimThumb(victim); ok {
			path = p
		} else {
			kind = probeList
		}
	case probeLive:
		first, end := f.layout.CamerasOf(victim.acct)
		method, path = http.MethodPost, wire.LivePath(f.layout.Device(first+int(u.dice(u.f.draws.probeLiveCam)*float64(end-first))))
	}
	f.m.add(cProbes, 1)
	f.m.add(probeCounts[kind], 1)
	st, body, hdr, err := f.do(ctx, method, f.baseURL(u.acct)+path, u.token)
	if err != nil {
		return
	}
	switch f.oracle.Probe(u.id, victim.id, path, st, hdr.Get("Location"), body, path) {
	case oracle.ProbeRefused:
		f.m.add(cProbesRefused, 1)
	case oracle.ProbeShed:
		f.m.add(cProbesShed, 1)
		f.m.failStatus(st)
	case oracle.ProbeUnexpected:
		f.m.failStatus(st)
	}
}

// probeCounts counts probes by kind.
var probeCounts = [probeKinds]countID{cProbesList, cProbesCursor, cProbesThumb, cProbesLive}

// victimThumb picks the path of a thumbnail victim has: one it fetched
// within recentFor when there is one, else one of its acknowledged events.
func (u *appUser) victimThumb(victim *appUser) (string, bool) {
	f := u.f
	now := time.Now()
	victim.shownMu.Lock()
	var fresh []string
	for _, r := range victim.recent {
		if r.url != "" && now.Sub(r.at) < recentFor {
			fresh = append(fresh, r.url)
		}
	}
	victim.shownMu.Unlock()
	if len(fresh) > 0 {
		return fresh[int(u.dice(u.f.draws.probeThumb)*float64(len(fresh)))], true
	}
	first, end := f.layout.CamerasOf(victim.acct)
	cam := first + int(u.dice(u.f.draws.probeCam)*float64(end-first))
	seq, ok := f.oracle.SomeAcked(cam, u.dice(u.f.draws.probeSeq))
	if !ok {
		return "", false
	}
	return wire.ThumbPath(oracle.EventID(f.layout.Device(cam), seq)), true
}

// do makes one app request and reads its body. Redirects are not followed
// (see newAppClient).
func (f *Fleet) do(ctx context.Context, method, rawURL, token string) (int, []byte, http.Header, error) {
	f.m.add(cAppRequests, 1)
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		f.m.fail(ErrProtocol)
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	cell := f.cellOfURL(rawURL)
	resp, err := f.httpc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			f.m.fail(link.Net(err))
			f.reach.result(cell, link.Fail(link.Net(err), err))
		}
		return 0, nil, nil, err
	}
	f.reach.answer(cell)
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() == nil {
			f.m.fail(link.Net(err))
		}
		return 0, nil, nil, err
	}
	return resp.StatusCode, body, resp.Header, nil
}

// newAppClient is the HTTP client of every app user and the audit. It
// never follows a redirect: herd/1 answers the app channel directly, and a
// refusal that redirects to a login page that answers 200 is still a
// refusal, which following it would hide.
func newAppClient(transport http.RoundTripper) *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
