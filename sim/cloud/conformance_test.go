package cloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/sim/wire"
)

// The conformance suite drives a real target over loopback sockets through
// every rule of herd/1 (docs/PROTOCOL.md) and through bad input.

func TestProvisioning(t *testing.T) {
	good := fleetBody(fleetOf(3, 2))
	tests := []struct {
		name     string
		token    string
		body     string
		wantCode int
		wantMsg  string // substring of the error
		wantOK   []string
		wantGone []string // device tokens that must not be registered
	}{
		{name: "good", token: testAdmin, body: string(good), wantCode: 204, wantOK: []string{"cam-0-0", "cam-2-1"}},
		{name: "blank lines are skipped", token: testAdmin, body: "\n" + string(good) + "\n\n", wantCode: 204, wantOK: []string{"cam-1-1"}},
		{name: "missing admin token", body: string(good), wantCode: 401, wantGone: []string{"cam-0-0"}},
		{name: "wrong admin token", token: "nope", body: string(good), wantCode: 401, wantGone: []string{"cam-0-0"}},
		{name: "bad JSON on line 3 rejects all", token: testAdmin, body: string(good) + "{not json\n", wantCode: 400, wantMsg: "line 4", wantGone: []string{"cam-0-0", "cam-2-1"}},
		{name: "bad identifier", token: testAdmin, body: string(good) + `{"account":"a b","user_token":"u","devices":[]}` + "\n", wantCode: 400, wantMsg: "line 4", wantGone: []string{"cam-0-0"}},
		{name: "device in two lines", token: testAdmin, body: string(good) + `{"account":"x","user_token":"ux","devices":[{"device":"cam-0-0","token":"t"}]}` + "\n", wantCode: 400, wantMsg: "line 4", wantGone: []string{"cam-1-0"}},
		{name: "account twice", token: testAdmin, body: string(good) + `{"account":"acct-1","user_token":"ux","devices":[]}` + "\n", wantCode: 400, wantMsg: "line 4"},
		{name: "device token reused", token: testAdmin, body: `{"account":"x","user_token":"ux","devices":[{"device":"d1","token":"t"},{"device":"d2","token":"t"}]}` + "\n", wantCode: 400, wantMsg: "line 1"},
		{name: "no user token", token: testAdmin, body: `{"account":"x","devices":[]}` + "\n", wantCode: 400, wantMsg: "line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := startTarget(t, Config{})
			code, msg := tt.provisionRaw(t, tc.token, []byte(tc.body))
			if code != tc.wantCode || !strings.Contains(msg, tc.wantMsg) {
				t.Fatalf("got %d %q, want %d containing %q", code, msg, tc.wantCode, tc.wantMsg)
			}
			for _, d := range tc.wantOK {
				tt.mustDial(t, d)
			}
			for _, d := range tc.wantGone {
				if _, _, resp, err := tt.dial(t, "tok-"+d); err == nil || resp == nil || resp.StatusCode != 401 {
					t.Errorf("device %s: connect after a rejected request: %v, want 401", d, err)
				}
			}
		})
	}
}

func TestProvisioningIsIdempotentAndReplaces(t *testing.T) {
	tt := startTarget(t, Config{})
	accts := fleetOf(2, 2)
	tt.provision(t, accts)
	c := tt.mustDial(t, "cam-0-0")
	sendAndAck(t, c, eventMsg("cam-0-0", 1))
	tt.provision(t, accts) // the same request again
	if got := tt.listAll(t, "acct-0", "user-0"); len(got) != 1 {
		t.Fatalf("after re-provisioning: %d events, want the 1 stored before", len(got))
	}
	// acct-0 again with a new user token and cam-1-0 moved in; cam-0-1 left out.
	moved := wire.Account{Account: "acct-0", UserToken: "user-0-new", Devices: []wire.Device{
		{Device: "cam-0-0", Token: "tok-cam-0-0"}, {Device: "cam-1-0", Token: "tok-cam-1-0-new"},
	}}
	tt.provision(t, []wire.Account{moved})
	if code, _, _ := tt.appDo(t, "GET", wire.EventsPath("acct-0"), "user-0"); code != 401 {
		t.Errorf("old user token: %d, want 401", code)
	}
	if code, _, _ := tt.appDo(t, "GET", wire.EventsPath("acct-0"), "user-0-new"); code != 200 {
		t.Errorf("new user token: %d, want 200", code)
	}
	for _, tc := range []struct {
		token   string
		want    int
		account string
	}{
		{"tok-cam-0-1", 401, ""},
		{"tok-cam-1-0", 401, ""},
		{"tok-cam-1-0-new", 101, "acct-0"},
		{"tok-cam-1-1", 101, "acct-1"},
	} {
		c, m, resp, err := tt.dial(t, tc.token)
		switch {
		case tc.want == 101 && err != nil:
			t.Errorf("%s: %v, want a welcome", tc.token, err)
		case tc.want == 101 && m.Account != tc.account:
			t.Errorf("%s: welcome %+v, want account %s", tc.token, m, tc.account)
		case tc.want != 101 && (resp == nil || resp.StatusCode != tc.want):
			t.Errorf("%s: %v, want %d", tc.token, err, tc.want)
		}
		if c != nil {
			c.Close()
		}
	}
	// A token still held by a device outside the request cannot be taken.
	thief := wire.Account{Account: "acct-9", UserToken: "user-9", Devices: []wire.Device{{Device: "cam-9", Token: "tok-cam-1-1"}}}
	if code, msg := tt.provisionRaw(t, testAdmin, fleetBody([]wire.Account{thief})); code != 400 || !strings.Contains(msg, "line 1") {
		t.Errorf("token of another device: %d %q, want 400 naming line 1", code, msg)
	}
}

func TestConnect(t *testing.T) {
	tt := startTarget(t, Config{})
	tt.provision(t, fleetOf(1, 1))
	tests := []struct {
		name     string
		header   string
		wantCode int
	}{
		{"no token", "", 401},
		{"not bearer", "Basic dG9rLWNhbS0wLTA=", 401},
		{"unknown token", "Bearer nope", 401},
		{"device token", "Bearer tok-cam-0-0", 101},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			c, resp, err := testDialer.Dial(tt.wsURL(), h)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if c == nil {
				return
			}
			defer c.Close()
			m, err := readMsg(c)
			if err != nil || m.Type != wire.TypeWelcome || m.Device != "cam-0-0" || m.Account != "acct-0" {
				t.Fatalf("first frame %+v (%v), want a welcome for cam-0-0 of acct-0", m, err)
			}
		})
	}
	// A plain GET without the upgrade is refused too, after the token check.
	req, _ := http.NewRequest("GET", tt.url+wire.PathConnect, nil)
	req.Header.Set("Authorization", "Bearer tok-cam-0-0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("GET without upgrade: %d, want 400", resp.StatusCode)
	}
}

func TestEventsAckListAndThumbnail(t *testing.T) {
	tt := startTarget(t, Config{})
	tt.provision(t, fleetOf(2, 2))
	a := tt.mustDial(t, "cam-0-0")
	b := tt.mustDial(t, "cam-0-1")
	var sent []*wire.Message
	for seq := 1; seq <= 5; seq++ {
		for _, x := range []struct {
			c   *websocket.Conn
			dev string
		}{{a, "cam-0-0"}, {b, "cam-0-1"}} {
			m := eventMsg(x.dev, seq)
			if got := sendAndAck(t, x.c, m); got.Type != wire.TypeAck {
				t.Fatalf("%s: %+v, want ack", m.ID, got)
			}
			sent = append(sent, m)
		}
	}
	// A resend (the device missed the ack) is acked and stored once.
	if got := sendAndAck(t, a, eventMsg("cam-0-0", 3)); got.Type != wire.TypeAck {
		t.Fatalf("resend: %+v, want ack", got)
	}
	// An event without a thumbnail stores no bytes.
	bare := &wire.Message{Type: wire.TypeEvent, ID: "cam-0-0:bare", Kind: "ring"}
	sendAndAck(t, a, bare)
	sent = append(sent, bare)

	got := tt.listAll(t, "acct-0", "user-0")
	if len(got) != len(sent) {
		t.Fatalf("listed %d events, want %d", len(got), len(sent))
	}
	for i, m := range sent {
		dev := strings.SplitN(m.ID, "/", 2)[0]
		if m == bare {
			dev = "cam-0-0"
		}
		want := wire.EventInfo{ID: m.ID, Device: dev, Account: "acct-0", Seq: m.Seq, At: m.At, Kind: m.Kind, ThumbURL: wire.ThumbPath(m.ID)}
		if got[i] != want {
			t.Errorf("event %d: got %+v, want %+v (in store order)", i, got[i], want)
		}
		code, hdr, body := tt.appDo(t, "GET", got[i].ThumbURL, "user-0")
		if code != 200 || !bytes.Equal(body, m.Thumb) || hdr.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("thumbnail of %s: %d %q %q, want 200 with the uploaded bytes", m.ID, code, hdr.Get("Content-Type"), body)
		}
	}
	if other := tt.listAll(t, "acct-1", "user-1"); len(other) != 0 {
		t.Errorf("acct-1 lists %d events of acct-0", len(other))
	}
}

func TestEventsPaging(t *testing.T) {
	tt := startTarget(t, Config{})
	tt.provision(t, fleetOf(1, 1))
	c := tt.mustDial(t, "cam-0-0")
	for seq := 1; seq <= 7; seq++ {
		sendAndAck(t, c, eventMsg("cam-0-0", seq))
	}
	page := func(after string, limit int) wire.EventsPage {
		t.Helper()
		path := wire.EventsPath("acct-0") + "?limit=" + strconv.Itoa(limit)
		if after != "" {
			path += "&after=" + after
		}
		code, _, body := tt.appDo(t, "GET", path, "user-0")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var p wire.EventsPage
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	seqs := func(p wire.EventsPage) string {
		var s []string
		for _, e := range p.Events {
			s = append(s, strconv.FormatUint(e.Seq, 10))
		}
		return strings.Join(s, ",") + fmt.Sprintf(" more=%v", p.More)
	}
	p1 := page("", 3)
	p2 := page(p1.Next, 3)
	p3 := page(p2.Next, 3)
	for _, tc := range []struct{ got, want string }{
		{seqs(p1), "1,2,3 more=true"},
		{seqs(p2), "4,5,6 more=true"},
		{seqs(p3), "7 more=false"},
	} {
		if tc.got != tc.want {
			t.Errorf("page: got %s, want %s", tc.got, tc.want)
		}
	}
	// The last cursor is kept by a polling app and yields what comes later.
	empty := page(p3.Next, 3)
	if len(empty.Events) != 0 || empty.More || empty.Next == "" {
		t.Errorf("poll with nothing new: %+v", empty)
	}
	sendAndAck(t, c, eventMsg("cam-0-0", 8))
	if got := seqs(page(p3.Next, 3)); got != "8 more=false" {
		t.Errorf("poll after a new event: %s, want 8 more=false", got)
	}
	// Without limit the page size is the default.
	if got := seqs(page("", DefaultPageLimit)); got != "1,2,3,4,5,6,7,8 more=false" {
		t.Errorf("default limit: %s", got)
	}
}

func TestAppErrors(t *testing.T) {
	tt := startTarget(t, Config{LiveTimeout: 300 * time.Millisecond})
	tt.provision(t, fleetOf(2, 2))
	a := tt.mustDial(t, "cam-0-0")
	m := eventMsg("cam-0-0", 1)
	sendAndAck(t, a, m)
	// cam-0-1 is online but never answers live requests.
	tt.mustDial(t, "cam-0-1")
	b := tt.startDevice(t, "cam-1-0")
	_ = b
	page1, _, _ := tt.appDo(t, "GET", wire.EventsPath("acct-0")+"?limit=1", "user-0")
	if page1 != 200 {
		t.Fatal("listing failed")
	}
	var p wire.EventsPage
	_, _, body := tt.appDo(t, "GET", wire.EventsPath("acct-1"), "user-1")
	json.Unmarshal(body, &p)
	otherCursor := p.Next

	tests := []struct {
		name, method, path, token string
		want                      int
	}{
		{"list: no token", "GET", wire.EventsPath("acct-0"), "", 401},
		{"list: wrong token", "GET", wire.EventsPath("acct-0"), "nope", 401},
		{"list: device token is not a user token", "GET", wire.EventsPath("acct-0"), "tok-cam-0-0", 401},
		{"list: other account", "GET", wire.EventsPath("acct-0"), "user-1", 403},
		{"list: unknown account", "GET", wire.EventsPath("acct-404"), "user-0", 403},
		{"list: limit 0", "GET", wire.EventsPath("acct-0") + "?limit=0", "user-0", 400},
		{"list: limit 501", "GET", wire.EventsPath("acct-0") + "?limit=501", "user-0", 400},
		{"list: limit not a number", "GET", wire.EventsPath("acct-0") + "?limit=ten", "user-0", 400},
		{"list: limit empty", "GET", wire.EventsPath("acct-0") + "?limit=", "user-0", 400},
		{"list: limit 500", "GET", wire.EventsPath("acct-0") + "?limit=500", "user-0", 200},
		{"list: forged cursor", "GET", wire.EventsPath("acct-0") + "?after=AAAAAAAAAAAAAAAAAAAA", "user-0", 400},
		{"list: cursor not base64", "GET", wire.EventsPath("acct-0") + "?after=%25%25", "user-0", 400},
		{"list: another account's cursor", "GET", wire.EventsPath("acct-0") + "?after=" + otherCursor, "user-0", 400},
		{"list: wrong method", "POST", wire.EventsPath("acct-0"), "user-0", 405},
		{"thumb: no token", "GET", wire.ThumbPath(m.ID), "", 401},
		{"thumb: other account", "GET", wire.ThumbPath(m.ID), "user-1", 403},
		{"thumb: unknown event", "GET", wire.ThumbPath("cam-0-0/999"), "user-0", 404},
		{"thumb: raw slash in id", "GET", "/v1/events/" + m.ID + "/thumbnail", "user-0", 200},
		{"live: no token", "POST", wire.LivePath("cam-1-0"), "", 401},
		{"live: other account", "POST", wire.LivePath("cam-1-0"), "user-0", 403},
		{"live: unknown device", "POST", wire.LivePath("cam-404"), "user-0", 404},
		{"live: offline", "POST", wire.LivePath("cam-1-1"), "user-1", 504},
		{"live: no frame in time", "POST", wire.LivePath("cam-0-1"), "user-0", 504},
		{"live: wrong method", "GET", wire.LivePath("cam-1-0"), "user-1", 405},
		{"live: frame", "POST", wire.LivePath("cam-1-0"), "user-1", 200},
		{"unknown route", "GET", "/v1/nothing", "user-0", 404},
		{"invalid identifier", "GET", "/v1/accounts/a%20b/events", "user-0", 404},
		{"fleet: wrong method", "GET", wire.PathFleet, testAdmin, 405},
		{"connect: wrong method", "POST", wire.PathConnect, "tok-cam-0-0", 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := tt.appDo(t, tc.method, tc.path, tc.token)
			if code != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
			}
			if code >= 400 {
				var eb wire.ErrorBody
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error == "" {
					t.Errorf("error body %q is not a wire.ErrorBody", body)
				}
				if hdr.Get("Content-Type") != "application/json" {
					t.Errorf("error Content-Type %q", hdr.Get("Content-Type"))
				}
			}
			if tc.name == "live: frame" && string(body) != "frame from cam-1-0" {
				t.Errorf("live frame %q, want the device's bytes", body)
			}
		})
	}
}

// TestBadFrames: every bad frame closes the socket with its documented code,
// events acked before stay stored, and the target goes on serving.
func TestBadFrames(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  int
	}{
		{"malformed JSON", []byte(`{"type":"event",`), wire.CloseInvalidData},
		{"not an object", []byte(`[1,2]`), wire.CloseInvalidData},
		{"unknown type", []byte(`{"type":"selfie","id":"x"}`), wire.CloseInvalidData},
		{"no type", []byte(`{"id":"x"}`), wire.CloseInvalidData},
		{"bad base64", []byte(`{"type":"event","id":"cam-0-0/9","kind":"motion","thumb":"not base64!"}`), wire.CloseInvalidData},
		{"bad base64 in frame", []byte(`{"type":"frame","req":"r","data":"@@@"}`), wire.CloseInvalidData},
		{"event without kind", []byte(`{"type":"event","id":"cam-0-0/9"}`), wire.CloseInvalidData},
		{"invalid event id", []byte(`{"type":"event","id":"a b","kind":"motion"}`), wire.CloseInvalidData},
		{"type only the target sends", []byte(`{"type":"ack","id":"cam-0-0/1"}`), wire.CloseInvalidData},
		{"another device's event id", wire.Encode(eventMsg("cam-0-1", 1)), wire.CloseInvalidData},
		{"frame over 1 MiB", append(append([]byte(`{"type":"event","id":"x","kind":"k","thumb":"`), bytes.Repeat([]byte("A"), wire.MaxFrame)...), `"}`...), wire.CloseTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := startTarget(t, Config{})
			tt.provision(t, fleetOf(1, 2))
			other := tt.mustDial(t, "cam-0-1")
			sendAndAck(t, other, eventMsg("cam-0-1", 1))
			c := tt.mustDial(t, "cam-0-0")
			acked := eventMsg("cam-0-0", 1)
			sendAndAck(t, c, acked)
			if err := c.WriteMessage(websocket.TextMessage, tc.frame); err != nil {
				t.Fatal(err)
			}
			if got := closeCode(t, c); got != tc.want {
				t.Fatalf("close code %d, want %d", got, tc.want)
			}
			waitFor(t, "socket closed on the target", 5*time.Second, func() bool { return tt.Stats().SocketsOpen == 1 })
			evs := tt.listAll(t, "acct-0", "user-0")
			ids := map[string]int{}
			for _, e := range evs {
				ids[e.ID]++
			}
			if len(evs) != 2 || ids[acked.ID] != 1 || ids["cam-0-1/1"] != 1 {
				t.Errorf("after the bad frame the account lists %v, want both acked events once", ids)
			}
			if got := tt.Stats().SocketsClosedBadData; got != 1 {
				t.Errorf("SocketsClosedBadData = %d, want 1", got)
			}
			// The target still serves, and the device may come back.
			c2 := tt.mustDial(t, "cam-0-0")
			sendAndAck(t, c2, eventMsg("cam-0-0", 2))
		})
	}
}

func TestPings(t *testing.T) {
	tt := startTarget(t, Config{PingInterval: 50 * time.Millisecond})
	tt.provision(t, fleetOf(1, 2))

	// A device that reads answers pings and stays.
	live := tt.startDevice(t, "cam-0-0")
	pinged := make(chan struct{}, 1)
	live.c.SetPingHandler(func(data string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return live.c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	// The target answers the device's pings too.
	ponged := make(chan struct{}, 1)
	live.c.SetPongHandler(func(string) error {
		select {
		case ponged <- struct{}{}:
		default:
		}
		return nil
	})
	if err := live.c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan struct{}{pinged, ponged} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("no ping or pong within 5s")
		}
	}
	// A device that never reads never pongs: it is dropped after two intervals.
	silent := tt.mustDial(t, "cam-0-1")
	_ = silent
	waitFor(t, "the silent socket to be dropped", 5*time.Second, func() bool { return tt.Stats().SocketsTimedOut == 1 })
	time.Sleep(200 * time.Millisecond)
	if st := tt.Stats(); st.SocketsOpen != 1 || st.SocketsTimedOut != 1 {
		t.Errorf("stats %+v: want the reading device kept and the silent one dropped", st)
	}
}

func TestShutdownClosesWith1001(t *testing.T) {
	s, err := New(Config{AdminToken: testAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tt := &testTarget{Server: s}
	ln := listen(t)
	tt.url = "http://" + ln.Addr().String()
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	tt.provision(t, fleetOf(1, 3))
	var conns []*websocket.Conn
	for i := range 3 {
		conns = append(conns, tt.mustDial(t, fmt.Sprintf("cam-0-%d", i)))
	}
	sendAndAck(t, conns[0], eventMsg("cam-0-0", 1))
	cancel()
	for _, c := range conns {
		if got := closeCode(t, c); got != wire.CloseGoingAway {
			t.Errorf("close code %d, want %d", got, wire.CloseGoingAway)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if got := s.Stats().SocketsOpen; got != 0 {
		t.Errorf("SocketsOpen after Serve returned: %d", got)
	}
}

func TestRateLimit(t *testing.T) {
	tt := startTarget(t, Config{MaxConnectRate: 0.5, ConnectBurst: 2})
	tt.provision(t, fleetOf(1, 3))
	tt.mustDial(t, "cam-0-0")
	tt.mustDial(t, "cam-0-1")
	_, _, resp, err := tt.dial(t, "tok-cam-0-2")
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("third connect within the burst: %v, want 503", err)
	}
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1..2 whole seconds", resp.Header.Get("Retry-After"))
	}
	// App calls have a bucket of their own, with the same rate and burst.
	var codes []int
	for range 3 {
		code, hdr, _ := tt.appDo(t, "GET", wire.EventsPath("acct-0"), "user-0")
		codes = append(codes, code)
		if code == 503 && hdr.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	if fmt.Sprint(codes) != "[200 200 503]" {
		t.Errorf("app calls: %v, want [200 200 503]", codes)
	}
	if st := tt.Stats(); st.ConnectsRefused != 1 || st.AppShed != 1 {
		t.Errorf("stats %+v: want 1 connect refused and 1 app call shed", st)
	}
}

// TestLookupTimeoutSheds: with every fault off, a registry look-up that
// times out is a 503 with Retry-After, never a wrong answer.
func TestLookupTimeoutSheds(t *testing.T) {
	tt := startTarget(t, Config{LookupService: 20 * time.Millisecond, LookupTimeout: 5 * time.Millisecond})
	tt.provision(t, fleetOf(1, 1))
	_, _, resp, err := tt.dial(t, "tok-cam-0-0")
	if err == nil || resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("connect with a slow registry: %v, want 503 with Retry-After: 1", err)
	}
	code, hdr, _ := tt.appDo(t, "GET", wire.EventsPath("acct-0"), "user-0")
	if code != 503 || hdr.Get("Retry-After") == "" {
		t.Errorf("app call with a slow registry: %d, want 503 with Retry-After", code)
	}
	if got := tt.Stats().LookupTimeouts; got < 2 {
		t.Errorf("LookupTimeouts = %d, want 2", got)
	}
}

// TestNackWhenQueueFull: with the write-behind queue full the target nacks
// with retry_after_ms, and everything it acked is listed.
func TestNackWhenQueueFull(t *testing.T) {
	tt := startTarget(t, Config{WriteQueue: 2, WriteCost: 5 * time.Millisecond})
	const devices, backlog = 8, 10
	tt.provision(t, fleetOf(1, devices))
	var devs []*device
	for i := range devices {
		devs = append(devs, tt.startDevice(t, fmt.Sprintf("cam-0-%d", i)))
	}
	for _, d := range devs {
		d.c.SetReadDeadline(time.Time{})
		go func() {
			for seq := 1; seq <= backlog; seq++ {
				d.send(eventMsg(d.name, seq))
			}
		}()
	}
	waitFor(t, "every event answered", 20*time.Second, func() bool {
		total := 0
		for _, d := range devs {
			a, n := d.answered()
			total += a + n
		}
		return total == devices*backlog
	})
	st := tt.Stats()
	if st.Nacks == 0 {
		t.Fatalf("stats %+v: want nacks from a full queue", st)
	}
	for _, d := range devs {
		if d.badNack != 0 {
			t.Errorf("%s got %d nacks without a positive retry_after_ms", d.name, d.badNack)
		}
	}
	listed := map[string]bool{}
	for _, e := range tt.listAll(t, "acct-0", "user-0") {
		listed[e.ID] = true
	}
	for _, d := range devs {
		d.mu.Lock()
		for id := range d.acks {
			if !listed[id] {
				t.Errorf("acked event %s is not listed", id)
			}
		}
		d.mu.Unlock()
	}
}
