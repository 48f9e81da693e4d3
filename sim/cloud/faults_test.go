package cloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/sim/wire"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"", "none", ""},
		{"none", "none", ""},
		{"idor", "idor", ""},
		{"live-misroute, stale-reply", "stale-reply,live-misroute", ""},
		{"idor,idor", "idor", ""},
		{"stale-reply,drop-acked,dup-on-retry,shared-cache-key,idor,live-misroute", "stale-reply,shared-cache-key,idor,drop-acked,dup-on-retry,live-misroute", ""},
		{"idor-after,drop-thumb,thumb-cache-key", "thumb-cache-key,drop-thumb,idor-after", ""},
		{"idor,bogus", "", `unknown fault "bogus" (valid: drop-acked, drop-thumb, dup-on-retry, idor, idor-after, live-misroute, shared-cache-key, stale-reply, thumb-cache-key)`},
	}
	for _, tc := range tests {
		got, err := ParseFaults(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseFaults(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseFaults(%q) = %v, %v, want %s", tc.in, got, err, tc.want)
		}
		if again, err := ParseFaults(got.String()); err != nil || again.String() != got.String() {
			t.Errorf("String does not round-trip: %q → %v", got.String(), again)
		}
	}
	if len(AllFaults()) != 9 {
		t.Errorf("AllFaults() = %v", AllFaults())
	}
}

// faultDrill applies the load that triggers one fault and counts what came
// back wrong: data of another account or device, or an acked event lost or
// doubled.
type faultDrill func(t *testing.T, tt *testTarget) (wrong int)

// TestFaults runs each fault's drill twice: with the fault on it must
// produce wrong data, with it off (and the same load) none.
func TestFaults(t *testing.T) {
	tests := []struct {
		fault Fault
		cfg   Config
		drill faultDrill
	}{
		// A registry slow enough that 150 simultaneous connects queue past
		// the look-up time-out even under the race detector.
		{StaleReply, Config{LookupService: time.Millisecond, LookupTimeout: 50 * time.Millisecond}, staleReplyDrill},
		{SharedCacheKey, Config{ListingTTL: time.Minute}, sharedCacheKeyDrill},
		{IDOR, Config{LiveTimeout: 2 * time.Second}, idorDrill},
		// A small queue and a slow store, so that backlogs overflow it.
		{DropAcked, Config{WriteQueue: 8, WriteCost: time.Millisecond}, dropAckedDrill},
		{DupOnRetry, Config{}, dupOnRetryDrill},
		{LiveMisroute, Config{PingInterval: 100 * time.Millisecond, LiveTimeout: 2 * time.Second}, liveMisrouteDrill},
		{ThumbCacheKey, Config{}, thumbCacheKeyDrill},
		// A slow store, so that a burst overflows the small blob queue.
		{DropThumb, Config{WriteQueue: 4096, WriteCost: time.Millisecond}, dropThumbDrill},
		{IDORAfter, Config{}, idorAfterDrill},
	}
	for _, tc := range tests {
		for _, on := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/on=%v", tc.fault, on), func(t *testing.T) {
				cfg := tc.cfg
				if on {
					cfg.Faults = Faults{tc.fault: true}
				}
				tt := startTarget(t, cfg)
				wrong := tc.drill(t, tt)
				t.Logf("wrong = %d, stats %+v", wrong, tt.Stats())
				if on && wrong == 0 {
					t.Errorf("fault %s on: no wrong data under its triggering load", tc.fault)
				}
				if !on && wrong != 0 {
					t.Errorf("fault %s off: %d wrong results", tc.fault, wrong)
				}
			})
		}
	}
}

// ownedBy is the account a test device belongs to: cam-I-J is acct-I's.
func ownedBy(device string) string {
	parts := strings.Split(device, "-")
	return "acct-" + parts[1]
}

// tryList is one Events-tab page; ok is false on any non-200 answer.
func (tt *testTarget) tryList(t testing.TB, account, token, query string) (wire.EventsPage, bool) {
	code, _, body := tt.appDo(t, http.MethodGet, wire.EventsPath(account)+query, token)
	var p wire.EventsPage
	if code != http.StatusOK || json.Unmarshal(body, &p) != nil {
		return p, false
	}
	return p, true
}

// foreignEvents counts listed events that are not account's devices'.
func foreignEvents(account string, evs []wire.EventInfo) int {
	n := 0
	for _, e := range evs {
		dev := strings.SplitN(e.ID, "/", 2)[0]
		if ownedBy(dev) != account || e.Account != account {
			n++
		}
	}
	return n
}

// staleReplyDrill: a herd of cameras reconnects at once, each retrying
// after a jittered pause of about Retry-After when shed, as a fleet does; each checks that
// its welcome names itself, then sends an event, and every account checks
// its Events tab.
func staleReplyDrill(t *testing.T, tt *testTarget) int {
	const n = 150
	tt.provision(t, fleetOf(n, 1))
	var wrong atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprintf("cam-%d-0", i)
			<-start
			for try := 0; try < 10; try++ {
				c, m, _, err := tt.dial(t, "tok-"+dev)
				if err != nil {
					// Shed (503), or 401 from another caller's empty answer.
					time.Sleep(time.Duration(100+(i*37+try*53)%500) * time.Millisecond)
					continue
				}
				defer c.Close()
				if m.Device != dev || m.Account != ownedBy(dev) {
					wrong.Add(1)
				}
				if sendMsg(c, eventMsg(dev, 1)) != nil {
					return
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				readMsg(c)
				return
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		acct := fmt.Sprintf("acct-%d", i)
		if p, ok := tt.tryList(t, acct, fmt.Sprintf("user-%d", i), "?limit=500"); ok {
			wrong.Add(int64(foreignEvents(acct, p.Events)))
		}
	}
	return int(wrong.Load())
}

// sharedCacheKeyDrill: ten accounts with an event each read their first
// page at the same moment.
func sharedCacheKeyDrill(t *testing.T, tt *testTarget) int {
	const n = 10
	tt.provision(t, fleetOf(n, 1))
	for i := range n {
		dev := fmt.Sprintf("cam-%d-0", i)
		c := tt.mustDial(t, dev)
		sendAndAck(t, c, eventMsg(dev, 1))
	}
	var wrong atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acct := fmt.Sprintf("acct-%d", i)
			p, ok := tt.tryList(t, acct, fmt.Sprintf("user-%d", i), "?limit=50")
			if !ok {
				t.Errorf("%s: listing failed", acct)
				return
			}
			wrong.Add(int64(foreignEvents(acct, p.Events)))
			if len(p.Events) == 1 && p.Events[0].ID != fmt.Sprintf("cam-%d-0/1", i) {
				return // already counted as foreign
			}
			if len(p.Events) != 1 {
				wrong.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(wrong.Load())
}

// idorDrill: user-0 asks for acct-1's Events tab, one of its thumbnails
// and its camera's live view.
func idorDrill(t *testing.T, tt *testTarget) int {
	tt.provision(t, fleetOf(2, 1))
	c := tt.startDevice(t, "cam-1-0")
	c.send(eventMsg("cam-1-0", 1))
	waitFor(t, "the ack", 5*time.Second, func() bool { a, _ := c.answered(); return a == 1 })
	wrong := 0
	for _, req := range []struct{ method, path string }{
		{"GET", wire.EventsPath("acct-1")},
		{"GET", wire.ThumbPath("cam-1-0/1")},
		{"POST", wire.LivePath("cam-1-0")},
	} {
		code, _, body := tt.appDo(t, req.method, req.path, "user-0")
		switch {
		case code == 200:
			wrong++
		case code != 403:
			t.Errorf("%s %s as user-0: %d %s, want 403 (or 200 under idor)", req.method, req.path, code, body)
		}
	}
	return wrong
}

// flushBacklogs provisions one account of devices cameras, connects them,
// and has each send backlog events at once without waiting for acks; it
// returns them once every event has been acked or nacked.
func flushBacklogs(t *testing.T, tt *testTarget, devices, backlog int) []*device {
	t.Helper()
	tt.provision(t, fleetOf(1, devices))
	var devs []*device
	for i := range devices {
		devs = append(devs, tt.startDevice(t, fmt.Sprintf("cam-0-%d", i)))
	}
	for _, d := range devs {
		go func() {
			for seq := 1; seq <= backlog; seq++ {
				if d.send(eventMsg(d.name, seq)) != nil {
					return
				}
			}
		}()
	}
	waitFor(t, "every event answered", 60*time.Second, func() bool {
		total := 0
		for _, d := range devs {
			a, n := d.answered()
			total += a + n
		}
		return total == devices*backlog
	})
	return devs
}

// dropAckedDrill: a herd of cameras flushes its backlogs at once, without
// waiting for acks; every acked event must then be listed.
func dropAckedDrill(t *testing.T, tt *testTarget) int {
	const devices, backlog = 10, 40
	devs := flushBacklogs(t, tt, devices, backlog)
	// Let the write-behind queue drain before looking.
	waitFor(t, "the write-behind queue to drain", 30*time.Second, func() bool {
		st := tt.Stats()
		return st.EventsStored+st.EventsDropped+st.Nacks == devices*backlog
	})
	listed := map[string]bool{}
	for _, e := range tt.listAll(t, "acct-0", "user-0") {
		listed[e.ID] = true
	}
	lost := 0
	for _, d := range devs {
		d.mu.Lock()
		for id := range d.acks {
			if !listed[id] {
				lost++
			}
		}
		d.mu.Unlock()
	}
	return lost
}

// dupOnRetryDrill: cameras store events, reconnect and resend them, as a
// camera that missed its acks does.
func dupOnRetryDrill(t *testing.T, tt *testTarget) int {
	const devices, events = 5, 3
	tt.provision(t, fleetOf(1, devices))
	for i := range devices {
		dev := fmt.Sprintf("cam-0-%d", i)
		for range 2 { // first connection, then the reconnect
			c := tt.mustDial(t, dev)
			for seq := 1; seq <= events; seq++ {
				if got := sendAndAck(t, c, eventMsg(dev, seq)); got.Type != wire.TypeAck {
					t.Fatalf("%s/%d: %+v, want ack", dev, seq, got)
				}
			}
			c.Close()
		}
	}
	seen := map[string]int{}
	wrong := 0
	for _, e := range tt.listAll(t, "acct-0", "user-0") {
		seen[e.ID]++
		if seen[e.ID] > 1 {
			wrong++
		}
	}
	if len(seen) != devices*events {
		t.Errorf("listed %d distinct events, want %d", len(seen), devices*events)
	}
	return wrong
}

// liveMisrouteDrill: cameras reconnect while their old sockets linger
// unanswered (the silent outage); the target drops the old sockets after
// missed pongs; other cameras connect; then every owner of a reconnected
// camera asks for live view.
func liveMisrouteDrill(t *testing.T, tt *testTarget) int {
	const accounts, perAccount = 16, 4
	tt.provision(t, fleetOf(accounts, perAccount))
	var reconnecting, others []string
	for i := range accounts {
		for j := range perAccount {
			dev := fmt.Sprintf("cam-%d-%d", i, j)
			if j < perAccount/2 {
				reconnecting = append(reconnecting, dev)
			} else {
				others = append(others, dev)
			}
		}
	}
	// Old sockets: nobody reads them any more, so nobody answers pings.
	var old []*websocket.Conn
	for _, dev := range reconnecting {
		old = append(old, tt.mustDial(t, dev))
	}
	for _, dev := range reconnecting {
		tt.startDevice(t, dev)
	}
	waitFor(t, "the old sockets to be dropped", 10*time.Second, func() bool {
		return tt.Stats().SocketsTimedOut >= int64(len(old))
	})
	for _, dev := range others {
		tt.startDevice(t, dev)
	}
	wrong := 0
	for _, dev := range reconnecting {
		user := "user-" + strings.TrimPrefix(ownedBy(dev), "acct-")
		code, _, body := tt.appDo(t, "POST", wire.LivePath(dev), user)
		switch {
		case code == 200 && string(body) != "frame from "+dev:
			wrong++
		case code != 200 && code != 504:
			t.Errorf("live %s: %d %s", dev, code, body)
		case code == 504 && !tt.Faults().Has(LiveMisroute):
			t.Errorf("live %s: 504 with the device online", dev)
		}
	}
	return wrong
}

// thumbCacheKeyDrill: ten cameras of ten accounts store their event 1;
// each owner fetches its thumbnail, and must get its own camera's bytes.
func thumbCacheKeyDrill(t *testing.T, tt *testTarget) int {
	const n = 10
	tt.provision(t, fleetOf(n, 1))
	for i := range n {
		dev := fmt.Sprintf("cam-%d-0", i)
		sendAndAck(t, tt.mustDial(t, dev), eventMsg(dev, 1))
	}
	wrong := 0
	for i := range n {
		dev := fmt.Sprintf("cam-%d-0", i)
		code, _, body := tt.appDo(t, http.MethodGet, wire.ThumbPath(dev+"/1"), fmt.Sprintf("user-%d", i))
		if code != http.StatusOK {
			t.Errorf("%s's thumbnail: %d %s", dev, code, body)
			continue
		}
		if !bytes.Equal(body, eventMsg(dev, 1).Thumb) {
			wrong++
		}
	}
	return wrong
}

// dropThumbDrill: ten cameras flush their backlogs at once; every acked
// event's thumbnail must then be there.
func dropThumbDrill(t *testing.T, tt *testTarget) int {
	const devices, backlog = 10, 40
	devs := flushBacklogs(t, tt, devices, backlog)
	// Let the blob queue drain before looking.
	waitFor(t, "the blob queue to drain", 30*time.Second, func() bool {
		st := tt.Stats()
		return (tt.blobs == nil || len(tt.blobs.q) == 0) && st.EventsStored+st.Nacks == devices*backlog
	})
	time.Sleep(50 * time.Millisecond) // the last blob being written
	missing := 0
	for _, d := range devs {
		d.mu.Lock()
		ids := make([]string, 0, len(d.acks))
		for id := range d.acks {
			ids = append(ids, id)
		}
		d.mu.Unlock()
		for _, id := range ids {
			if code, _, _ := tt.appDo(t, http.MethodGet, wire.ThumbPath(id), "user-0"); code != http.StatusOK {
				missing++
			}
		}
	}
	return missing
}

// idorAfterDrill: user-0 asks for acct-1's Events tab with acct-1's own
// cursor, which acct-1's app got from its first page.
func idorAfterDrill(t *testing.T, tt *testTarget) int {
	tt.provision(t, fleetOf(2, 1))
	c := tt.mustDial(t, "cam-1-0")
	for seq := 1; seq <= 3; seq++ {
		sendAndAck(t, c, eventMsg("cam-1-0", seq))
	}
	first, ok := tt.tryList(t, "acct-1", "user-1", "?limit=1")
	if !ok || first.Next == "" {
		t.Fatalf("acct-1's first page: %+v", first)
	}
	wrong := 0
	for _, q := range []string{"?limit=10", "?limit=10&after=" + url.QueryEscape(first.Next)} {
		code, _, body := tt.appDo(t, http.MethodGet, wire.EventsPath("acct-1")+q, "user-0")
		switch {
		case code == 200:
			wrong++
		case code != 403:
			t.Errorf("acct-1's tab %s as user-0: %d %s, want 403 (or 200 under the fault)", q, code, body)
		}
	}
	return wrong
}

// TestStaleReplyQuietAtLowLoad: with the fault on and default settings,
// connects one after another never get another device's welcome.
func TestStaleReplyQuietAtLowLoad(t *testing.T) {
	const n = 100
	tt := startTarget(t, Config{Faults: Faults{StaleReply: true}})
	tt.provision(t, fleetOf(n, 1))
	wrong := 0
	for i := range n {
		dev := fmt.Sprintf("cam-%d-0", i)
		c, m, _, err := tt.dial(t, "tok-"+dev)
		if err != nil {
			continue
		}
		if m.Device != dev {
			wrong++
		}
		c.Close()
	}
	if timeouts := tt.Stats().LookupTimeouts; timeouts > 0 {
		t.Skipf("%d look-ups timed out one at a time: this machine is too loaded to tell (wrong = %d)", timeouts, wrong)
	}
	if wrong != 0 {
		t.Errorf("%d of %d sequential connects got another device's welcome", wrong, n)
	}
}

// TestListingCacheShowsAckedEvents: the response cache never hides an
// acked event from its own account.
func TestListingCacheShowsAckedEvents(t *testing.T) {
	tt := startTarget(t, Config{ListingTTL: time.Minute})
	tt.provision(t, fleetOf(1, 1))
	c := tt.mustDial(t, "cam-0-0")
	for seq := 1; seq <= 3; seq++ {
		sendAndAck(t, c, eventMsg("cam-0-0", seq))
		p, ok := tt.tryList(t, "acct-0", "user-0", "?limit=10")
		if !ok || len(p.Events) != seq {
			t.Fatalf("after %d acks the first page lists %d events", seq, len(p.Events))
		}
	}
}
