package oracle

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-drill/herd/sim/wire"
)

func TestEventID(t *testing.T) {
	tests := []struct {
		id      string
		wantDev string
		wantSeq uint64
		wantOK  bool
	}{
		{"cam-00000117/17", "cam-00000117", 17, true},
		{"a/b/c/1", "a/b/c", 1, true},
		{"cam/18446744073709551615", "cam", 1<<64 - 1, true},
		{"cam/18446744073709551616", "", 0, false},
		{"cam/0", "", 0, false},
		{"cam/017", "", 0, false},
		{"cam/+17", "", 0, false},
		{"cam/-1", "", 0, false},
		{"cam/1a", "", 0, false},
		{"cam/", "", 0, false},
		{"/17", "", 0, false},
		{"cam-17", "", 0, false},
		{"", "", 0, false},
	}
	for _, tt := range tests {
		dev, seq, ok := ParseEventID(tt.id)
		if dev != tt.wantDev || seq != tt.wantSeq || ok != tt.wantOK {
			t.Errorf("ParseEventID(%q) = %q, %d, %v; want %q, %d, %v", tt.id, dev, seq, ok, tt.wantDev, tt.wantSeq, tt.wantOK)
		}
		if ok {
			if back := EventID(dev, seq); back != tt.id {
				t.Errorf("EventID(%q, %d) = %q, want %q", dev, seq, back, tt.id)
			}
		}
	}
}

func TestClasses(t *testing.T) {
	want := []Class{"cross_account", "forged", "mislabelled", "lost", "duplicate", "misaddressed", "idor"}
	got := Classes()
	if strings.Join(classStrings(got), ",") != strings.Join(classStrings(want), ",") {
		t.Errorf("Classes() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if Classes()[0] != CrossAccount {
		t.Errorf("Classes returns its own array")
	}
}

func classStrings(cs []Class) []string {
	var s []string
	for _, c := range cs {
		s = append(s, string(c))
	}
	return s
}

// wantOnly checks that the oracle found exactly one violation, of class
// want (or none when want is ""), and returns its evidence.
func wantOnly(t *testing.T, o *Oracle, want Class) Evidence {
	t.Helper()
	v := o.Snapshot()
	got := nonZero(v)
	wantCounts := map[Class]int64{}
	if want != "" {
		wantCounts[want] = 1
	}
	if !maps.Equal(got, wantCounts) {
		t.Fatalf("counts = %v, want %v; evidence %.2000v", got, wantCounts, v.Evidence)
	}
	if len(v.Counts) != len(Classes()) {
		t.Errorf("Snapshot has %d classes, want every one of %d", len(v.Counts), len(Classes()))
	}
	if want == "" {
		return Evidence{}
	}
	if len(v.Evidence) != 1 {
		t.Fatalf("evidence = %+v, want one record", v.Evidence)
	}
	e := v.Evidence[0]
	if e.Class != want || e.AtMs != testNow.UnixMilli() || e.Detail == "" {
		t.Errorf("evidence %+v: want class %s, at_ms %d and a detail", e, want, testNow.UnixMilli())
	}
	return e
}

func TestCheckThumb(t *testing.T) {
	r := newRig(t)
	other := testKey(t)
	earlier := testKey(t)
	earlierFleet := newTestFleet(earlier, 3, 2)
	viewer := r.acct(0)
	ev := r.info(0, 1) // the event the viewer's app asked about: cam 0's event 1
	good := r.thumb(0, 1)
	flipped := r.thumb(0, 1)
	flipped[500] ^= 4
	random := make([]byte, 1024)
	_, _ = rand.NewChaCha8([32]byte{3, 4}).Read(random)
	tests := []struct {
		name      string
		ev        *wire.EventInfo
		body      []byte
		want      Class
		wantOwner string
	}{
		{"genuine", ev, good, "", ""},
		{"genuine, no listed event", nil, good, "", ""},
		{"replayed from another account's camera", ev, r.thumb(2, 1), CrossAccount, r.acct(2)},
		{"another account's camera, no listed event", nil, r.thumb(5, 9), CrossAccount, r.acct(5)},
		{"truncated", ev, good[:512], Forged, ""},
		{"one bit flipped", ev, flipped, Forged, ""},
		{"sealed with another key", ev, other.Seal(nil, Stamp{KindThumb, viewer, r.dev(0), 1, 0, ""}, 1024), Forged, ""},
		{"empty", ev, nil, Forged, ""},
		{"random", ev, random, Forged, ""},
		{"re-labelled: camera 1's blob as camera 0's event", ev, r.thumb(1, 1), Mislabelled, viewer},
		{"re-labelled: another seq of the same camera", ev, r.thumb(0, 2), Mislabelled, viewer},
		{"re-labelled: another account's blob as the viewer's event", ev, r.thumb(3, 1), CrossAccount, r.acct(3)},
		{"a live frame served as a thumbnail", ev, r.frame(0, 1), Mislabelled, viewer},
		{"event id not herd's", &wire.EventInfo{ID: "bogus"}, good, Mislabelled, viewer},
		{"listed at another time than captured", func() *wire.EventInfo { e := r.info(0, 1); e.At++; return e }(), good, Mislabelled, viewer},
		{"listed as another kind than seen", func() *wire.EventInfo { e := r.info(0, 1); e.Kind = "package"; return e }(), good, Mislabelled, viewer},
		{"an earlier run's picture", ev, earlier.Seal(nil, Stamp{Kind: KindThumb, Account: earlierFleet.Account(0), Device: earlierFleet.Device(0), Seq: 1}, 1024), CrossAccount, earlierFleet.Account(0)},
		{"an error body naming a stranger's device", ev, []byte(`{"error":"event belongs to ` + r.dev(4) + `"}`), CrossAccount, r.acct(4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.o = New(r.key, r.fleet, WithClock(func() time.Time { return testNow }))
			ok := r.o.CheckThumb(viewer, tt.ev, tt.body, "/v1/events/x/thumbnail")
			if ok != (tt.want == "") {
				t.Errorf("CheckThumb = %v, want %v", ok, tt.want == "")
			}
			e := wantOnly(t, r.o, tt.want)
			if tt.want != "" && (e.Viewer != viewer || e.Owner != tt.wantOwner || e.Path != "/v1/events/x/thumbnail") {
				t.Errorf("evidence %+v: want viewer %s, owner %q, the path", e, viewer, tt.wantOwner)
			}
		})
	}
}

func TestCheckListed(t *testing.T) {
	r := newRig(t)
	viewer := r.acct(0)
	earlierFleet := newTestFleet(testKey(t), 3, 2)
	earlierInfo := &wire.EventInfo{ID: EventID(earlierFleet.Device(0), 1), Device: earlierFleet.Device(0), Account: earlierFleet.Account(0), Seq: 1}
	relabel := func(cam int, seq uint64, f func(*wire.EventInfo)) *wire.EventInfo {
		ev := r.info(cam, seq)
		f(ev)
		return ev
	}
	tests := []struct {
		name      string
		ev        *wire.EventInfo
		want      Class
		wantOwner string
	}{
		{"own event", r.info(0, 1), "", ""},
		{"own event, last sent", r.info(1, 3), "", ""},
		{"id not herd's", &wire.EventInfo{ID: "evt-1", Device: r.dev(0), Account: viewer, Seq: 1}, Forged, ""},
		{"leading zero", relabel(0, 1, func(e *wire.EventInfo) { e.ID = r.dev(0) + "/01" }), Forged, ""},
		{"a camera beyond the fleet", relabel(0, 1, func(e *wire.EventInfo) { e.ID = r.fleet.names.Device(99) + "/1" }), Forged, ""},
		{"no namespace", relabel(0, 1, func(e *wire.EventInfo) { e.ID = "cam-00000000/1" }), Forged, ""},
		{"seq beyond what was sent", r.info(0, 4), Forged, r.acct(0)},
		{"captured, never sent", r.info(1, 4), Forged, r.acct(0)},
		{"another account's event", r.info(2, 1), CrossAccount, r.acct(2)},
		{"another account's event that camera never sent", r.info(4, 1), CrossAccount, r.acct(4)},
		{"another account's event labelled as the viewer's", relabel(2, 1, func(e *wire.EventInfo) { e.Account = viewer; e.Device = r.dev(0) }), CrossAccount, r.acct(2)},
		{"an earlier run's event", earlierInfo, CrossAccount, "an account of herd run " + earlierFleet.names.Namespace()},
		{"labelled another device", relabel(0, 1, func(e *wire.EventInfo) { e.Device = r.dev(1) }), Mislabelled, viewer},
		{"labelled another seq", relabel(0, 1, func(e *wire.EventInfo) { e.Seq = 2 }), Mislabelled, viewer},
		{"labelled another account", relabel(0, 1, func(e *wire.EventInfo) { e.Account = r.acct(2) }), CrossAccount, r.acct(2)},
		{"labelled another account's device", relabel(0, 1, func(e *wire.EventInfo) { e.Device = r.dev(5) }), CrossAccount, r.acct(5)},
		{"labelled garbage", relabel(0, 1, func(e *wire.EventInfo) { e.Account = "nobody" }), Mislabelled, viewer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.o = New(r.key, r.fleet, WithClock(func() time.Time { return testNow }))
			for cam, n := range []uint64{3, 3, 2} {
				sendUpTo(r.o, cam, n)
			}
			r.o.Captured(1, 4)
			ok := r.o.CheckListed(viewer, tt.ev, wire.EventsPath(viewer))
			if ok != (tt.want == "") {
				t.Errorf("CheckListed = %v, want %v", ok, tt.want == "")
			}
			e := wantOnly(t, r.o, tt.want)
			if tt.want != "" && (e.Viewer != viewer || e.Owner != tt.wantOwner || e.Event != tt.ev.ID) {
				t.Errorf("evidence %+v: want viewer %s, owner %q, event %q", e, viewer, tt.wantOwner, tt.ev.ID)
			}
		})
	}
}

func TestCheckWelcome(t *testing.T) {
	r := newRig(t)
	welcome := func(dev, acct string) wire.Message {
		return wire.Message{Type: wire.TypeWelcome, Device: dev, Account: acct}
	}
	tests := []struct {
		name string
		got  wire.Message
		want Class
	}{
		{"own", welcome(r.dev(1), r.acct(1)), ""},
		{"another device of the account", welcome(r.dev(0), r.acct(1)), Misaddressed},
		{"own device, another account", welcome(r.dev(1), r.acct(2)), Misaddressed},
		{"another account's device", welcome(r.dev(4), r.acct(4)), Misaddressed},
		{"unknown device", welcome("cam-x", r.acct(1)), Misaddressed},
		{"an earlier run's own device", welcome(newTestFleet(testKey(t), 3, 2).Device(1), r.acct(1)), Misaddressed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.o = New(r.key, r.fleet, WithClock(func() time.Time { return testNow }))
			if ok := r.o.CheckWelcome(1, tt.got); ok != (tt.want == "") {
				t.Errorf("CheckWelcome = %v, want %v", ok, tt.want == "")
			}
			e := wantOnly(t, r.o, tt.want)
			if tt.want != "" && (e.Path != "ws:welcome" || e.Device != r.dev(1) || e.Viewer != r.acct(1)) {
				t.Errorf("evidence %+v: want path ws:welcome, camera 1's device and account", e)
			}
		})
	}
}

func TestCheckAck(t *testing.T) {
	r := newRig(t)
	tests := []struct {
		name    string
		id      string
		want    Class
		wantSeq uint64
	}{
		{"first", EventID(r.dev(1), 1), "", 1},
		{"last sent", EventID(r.dev(1), 5), "", 5},
		{"captured, never sent", EventID(r.dev(1), 6), Misaddressed, 0},
		{"never captured", EventID(r.dev(1), 8), Misaddressed, 0},
		{"another camera's event", EventID(r.dev(0), 1), Misaddressed, 0},
		{"another account's event", EventID(r.dev(3), 1), Misaddressed, 0},
		{"not an event id", "ack-1", Misaddressed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.o = New(r.key, r.fleet, WithClock(func() time.Time { return testNow }))
			sendUpTo(r.o, 1, 5)
			sendUpTo(r.o, 0, 5)
			r.o.Captured(1, 7)
			seq, ok := r.o.CheckAck(1, tt.id)
			if ok != (tt.want == "") || seq != tt.wantSeq {
				t.Errorf("CheckAck = %d, %v; want %d, %v", seq, ok, tt.wantSeq, tt.want == "")
			}
			e := wantOnly(t, r.o, tt.want)
			if tt.want != "" && (e.Path != "ws:ack" || e.Event != tt.id || e.Device != r.dev(1)) {
				t.Errorf("evidence %+v: want path ws:ack, the id and camera 1's device", e)
			}
		})
	}
}

func TestCheckFrame(t *testing.T) {
	r := newRig(t)
	viewer := r.acct(4) // owns cameras 4 and 5
	asked := r.dev(4)
	tests := []struct {
		name      string
		body      []byte
		want      Class
		wantOwner string
	}{
		{"the asked camera's frame", r.frame(4, 10), "", ""},
		{"another camera of the same account", r.frame(5, 10), Misaddressed, viewer},
		{"another account's frame", r.frame(0, 10), CrossAccount, r.acct(0)},
		{"another account's thumbnail", r.thumb(1, 1), CrossAccount, r.acct(1)},
		{"the asked camera's thumbnail", r.thumb(4, 1), Mislabelled, viewer},
		{"truncated", r.frame(4, 10)[:100], Forged, ""},
		{"not herd's", []byte("\xff\xd8\xff\xe0 a jpeg"), Forged, ""},
		{"empty", nil, Forged, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.o = New(r.key, r.fleet, WithClock(func() time.Time { return testNow }))
			if ok := r.o.CheckFrame(viewer, asked, tt.body, wire.LivePath(asked)); ok != (tt.want == "") {
				t.Errorf("CheckFrame = %v, want %v", ok, tt.want == "")
			}
			e := wantOnly(t, r.o, tt.want)
			if tt.want != "" && (e.Viewer != viewer || e.Owner != tt.wantOwner || e.Device != asked || e.Path != wire.LivePath(asked)) {
				t.Errorf("evidence %+v: want viewer %s, owner %q, device %s and the live path", e, viewer, tt.wantOwner, asked)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	r := newRig(t)
	prober, victim := r.acct(0), r.acct(2)
	echo := wire.EventsPath(victim) + "?limit=10"
	tests := []struct {
		name     string
		status   int
		location string
		body     string
		want     ProbeResult
		class    Class
	}{
		{"200", 200, "", `{"events":[]}`, ProbeAnswered, IDOR},
		{"204", 204, "", "", ProbeAnswered, IDOR},
		{"403", 403, "", `{"error":"not your account"}`, ProbeRefused, ""},
		{"403 repeating what was asked", 403, "", `{"error":"` + victim + ` is not yours"}`, ProbeRefused, ""},
		{"404", 404, "", "", ProbeRefused, ""},
		{"401", 401, "", "", ProbeRefused, ""},
		{"302 to a login page", 302, "/login?next=" + echo, "<html>log in</html>", ProbeRefused, ""},
		{"302 carrying the victim's events", 302, "/login", `{"events":[{"id":"` + r.info(4, 1).ID + `"}]}`, ProbeAnswered, IDOR},
		{"403 naming the owner's device", 403, "", `{"error":"owned by ` + r.dev(5) + `"}`, ProbeAnswered, IDOR},
		{"404 carrying the victim's picture", 404, "", string(r.thumb(4, 1)), ProbeAnswered, IDOR},
		{"redirect to a URL with the victim's token", 307, "/x?t=" + r.fleet.names.UserToken(2), "", ProbeAnswered, IDOR},
		{"503", 503, "", "", ProbeShed, ""},
		{"429", 429, "", "", ProbeShed, ""},
		{"500", 500, "", "", ProbeUnexpected, ""},
		{"400", 400, "", "", ProbeUnexpected, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.o = New(r.key, r.fleet, WithClock(func() time.Time { return testNow }))
			if got := r.o.Probe(prober, victim, echo, tt.status, tt.location, []byte(tt.body), echo); got != tt.want {
				t.Errorf("Probe = %d, want %d", got, tt.want)
			}
			e := wantOnly(t, r.o, tt.class)
			if tt.class != "" && (e.Viewer != prober || e.Owner == "" || e.Path != echo) {
				t.Errorf("evidence %+v", e)
			}
			if strings.Contains(e.Detail, r.fleet.names.UserToken(2)) {
				t.Errorf("evidence prints a token: %q", e.Detail)
			}
		})
	}
}

// Any identifier or secret of another account in a response to a user is
// that account's data, wherever it stands; the viewer's own, and what the
// request carried, are not.
func TestCheckBody(t *testing.T) {
	r := newRig(t)
	n := r.fleet.names
	viewer := r.acct(0)
	own := r.info(0, 1)
	earlier := newTestFleet(testKey(t), 3, 2)
	page := func(extra string) string {
		b, _ := json.Marshal(wire.EventsPage{Events: []wire.EventInfo{*own}})
		if extra == "" {
			return string(b)
		}
		return strings.Replace(string(b), `"next"`, extra+`,"next"`, 1)
	}
	tests := []struct {
		name     string
		body     string
		echo     string
		want     int
		jsonPath string
		owner    string
	}{
		{"a clean page", page(""), "", 0, "", ""},
		{"the viewer's own secrets", page(`"me":"` + n.UserToken(0) + `","cam":"` + n.DeviceToken(1) + `"`), "", 0, "", ""},
		{"another account's device id in an extra field", page(`"related":{"device":"` + r.dev(3) + `"}`), "", 1, "$.related.device", r.acct(3)},
		{"another account's id in a list", page(`"shared_with":["x","` + r.acct(2) + `"]`), "", 1, "$.shared_with[1]", r.acct(2)},
		{"a device token", page(`"debug":{"k":"token=` + n.DeviceToken(4) + `"}`), "", 1, "$.debug.k", r.acct(4)},
		{"a user token as a key", page(`"m":{"a":0,"` + n.UserToken(1) + `":1}`), "", 1, "$.m (a key)", n.Account(1)},
		{"a forged token is not a token", page(`"x":"` + n.DeviceToken(4)[:30] + `00000000000000000000000000"`), "", 0, "", ""},
		{"an earlier run's device", page(`"x":"` + earlier.Device(1) + `"`), "", 1, "$.x", "an account of herd run " + earlier.names.Namespace()},
		{"two strangers in one value", page(`"x":"` + r.dev(2) + ` and ` + r.dev(4) + `"`), "", 1, "$.x", r.acct(2)},
		{"in two values", page(`"x":"` + r.dev(2) + `","y":"` + r.acct(2) + `"`), "", 2, "", ""},
		{"what the request asked for", `{"error":"` + r.acct(2) + ` is not yours"}`, wire.EventsPath(r.acct(2)), 0, "", ""},
		{"a text error body", "no access to " + r.dev(3), "", 1, "body", r.acct(3)},
		{"a truncated JSON body", `{"events":[{"id":"` + r.dev(3), "", 1, "", r.acct(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.o = New(r.key, r.fleet, WithClock(func() time.Time { return testNow }))
			if got := r.o.CheckBody(viewer, []byte(tt.body), tt.echo, "/p", nil); got != tt.want {
				t.Fatalf("CheckBody = %d, want %d; evidence %+v", got, tt.want, r.o.Snapshot().Evidence)
			}
			v := r.o.Snapshot()
			if v.Counts[CrossAccount] != int64(tt.want) {
				t.Errorf("counts %v, want %d cross_account", nonZero(v), tt.want)
			}
			for _, e := range v.Evidence {
				if tt.jsonPath != "" && e.JSONPath != tt.jsonPath {
					t.Errorf("json_path %q, want %q", e.JSONPath, tt.jsonPath)
				}
				if tt.owner != "" && e.Owner != tt.owner {
					t.Errorf("owner %q, want %q", e.Owner, tt.owner)
				}
				for a := range 3 {
					if strings.Contains(e.Detail, n.UserToken(a)) || strings.Contains(e.Detail, n.DeviceToken(2*a)) {
						t.Errorf("evidence prints a secret: %q", e.Detail)
					}
				}
			}
		})
	}
	// skip passes over what a check that understood it has reported.
	r.o = New(r.key, r.fleet)
	body := page(`"x":"` + r.dev(2) + `"`)
	if got := r.o.CheckBody(viewer, []byte(body), "", "/p", func(p string) bool { return p == "$.x" }); got != 0 {
		t.Errorf("CheckBody with skip = %d, want 0", got)
	}
	if EventIndex("$.events[12].device") != 12 || EventIndex("$.next") != -1 || EventIndex("$.events[x]") != -1 {
		t.Error("EventIndex")
	}
}

func TestReportCapAndOutage(t *testing.T) {
	now := testNow
	r := newRig(t)
	o := New(r.key, r.fleet, WithEvidenceCap(2), WithClock(func() time.Time { return now }))
	o.Report(Evidence{Class: Lost, Detail: "before any outage"})
	o.SetOutageEnd(testNow.Add(10 * time.Second))
	now = testNow.Add(12500 * time.Millisecond)
	for range 5 {
		o.Report(Evidence{Class: Forged, Detail: "f"})
	}
	o.Report(Evidence{Class: CrossAccount, Detail: "leak", AtMs: testNow.UnixMilli() + 3000})
	o.Report(Evidence{Class: "custom", Detail: "a caller's own class"})

	v := o.Snapshot()
	want := map[Class]int64{Lost: 1, Forged: 5, CrossAccount: 1, "custom": 1}
	if got := nonZero(v); !maps.Equal(got, want) {
		t.Errorf("counts = %v, want %v", got, want)
	}
	if o.Total() != 8 || v.Total() != 8 {
		t.Errorf("Total = %d / %d, want 8", o.Total(), v.Total())
	}
	var classes []Class
	for _, e := range v.Evidence {
		classes = append(classes, e.Class)
	}
	wantOrder := "lost,cross_account,forged,forged,custom"
	if got := strings.Join(classStrings(classes), ","); got != wantOrder {
		t.Errorf("evidence classes by time = %s, want %s (forged capped at 2)", got, wantOrder)
	}
	since := func(e Evidence) any {
		if e.SinceOutageEndS == nil {
			return nil
		}
		return *e.SinceOutageEndS
	}
	if got := since(v.Evidence[0]); got != nil {
		t.Errorf("evidence before SetOutageEnd has since_outage_end_s %v", got)
	}
	if got := since(v.Evidence[1]); got != -7.0 {
		t.Errorf("since_outage_end_s of the leak = %v, want -7", got)
	}
	if got := since(v.Evidence[2]); got != 2.5 {
		t.Errorf("since_outage_end_s = %v, want 2.5", got)
	}
}

func TestViolationsMergeAndJSON(t *testing.T) {
	ev := func(c Class, at int64) Evidence { return Evidence{Class: c, AtMs: at, Detail: "x"} }
	a := Violations{Counts: map[Class]int64{Forged: 3, Lost: 1}, Evidence: []Evidence{ev(Forged, 10), ev(Forged, 30), ev(Forged, 50), ev(Lost, 60)}, Cap: 3}
	b := Violations{Counts: map[Class]int64{Forged: 2, CrossAccount: 1}, Evidence: []Evidence{ev(Forged, 20), ev(CrossAccount, 40), ev(Forged, 45)}, Cap: 3}
	var m Violations
	m.Merge(a)
	m.Merge(b)
	wantCounts := map[Class]int64{CrossAccount: 1, Forged: 5, Mislabelled: 0, Lost: 1, Duplicate: 0, Misaddressed: 0, IDOR: 0}
	if !maps.Equal(m.Counts, wantCounts) {
		t.Errorf("counts = %v, want %v", m.Counts, wantCounts)
	}
	var got []int64
	for _, e := range m.Evidence {
		got = append(got, e.AtMs)
	}
	if want := []int64{10, 20, 30, 40, 60}; !slices.Equal(got, want) {
		t.Errorf("evidence at = %v, want %v (earliest 3 forged, by time)", got, want)
	}

	// Through JSON (as shards are), the cap falls back to the default.
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "Cap") || !strings.Contains(string(raw), `"counts":{`) || !strings.Contains(string(raw), `"idor":0`) {
		t.Errorf("JSON = %s", raw)
	}
	var back Violations
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	var empty Violations
	empty.Merge(Violations{})
	if len(empty.Counts) != len(Classes()) || empty.Evidence == nil {
		t.Errorf("merging nothing = %+v, want every class at 0 and an empty evidence list", empty)
	}
	many := Violations{Counts: map[Class]int64{Lost: 150}}
	for i := range 150 {
		many.Evidence = append(many.Evidence, ev(Lost, int64(i)))
	}
	back.Merge(many)
	if back.Counts[Lost] != 151 || len(back.Evidence) != 5-1+DefaultEvidenceCap {
		t.Errorf("after merging 150 lost: lost = %d, evidence = %d; want 151 and %d", back.Counts[Lost], len(back.Evidence), 4+DefaultEvidenceCap)
	}
}

// Many goroutines use one oracle at once, as cameras do; run with -race.
// The counts must come out exact.
func TestConcurrentUse(t *testing.T) {
	k := testKey(t)
	fleet := newTestFleet(k, 50, 4)
	o := New(k, fleet, WithEvidenceCap(3))
	const events = 40
	var wg sync.WaitGroup
	for cam := range fleet.Cameras() {
		wg.Go(func() {
			dev, acct := fleet.Device(cam), fleet.Account(cam)
			var buf []byte
			for seq := uint64(1); seq <= events; seq++ {
				o.Captured(cam, seq)
				o.Sent(cam, seq)
				buf = k.Seal(buf[:0], Stamp{KindThumb, acct, dev, seq, 1, "motion"}, 256)
				if s, ok := o.CheckAck(cam, EventID(dev, seq)); ok && seq%10 != 0 {
					o.Acked(cam, s) // every tenth event is never acked
				}
				ev := wire.EventInfo{ID: EventID(dev, seq), Device: dev, Account: acct, Seq: seq, At: 1, Kind: "motion"}
				if !o.CheckListed(acct, &ev, "p") || !o.CheckThumb(acct, &ev, buf, "p") {
					t.Errorf("clean event %s flagged", ev.ID)
				}
				if cam%2 == 0 && seq == 1 {
					// One leak per even camera: its thumbnail shown to the next account.
					o.CheckThumb(fleet.Account((cam+4)%fleet.Cameras()), &ev, buf, "p")
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			v := o.Snapshot()
			if int64(len(v.Evidence)) > v.Counts[CrossAccount] {
				t.Errorf("snapshot shows more evidence than its counts")
			}
		}
	})
	wg.Wait()
	if got, want := o.SentCount(), int64(fleet.Cameras()*events); got != want {
		t.Errorf("SentCount = %d, want %d", got, want)
	}
	if got, want := o.AckedCount(), int64(fleet.Cameras()*events*9/10); got != want {
		t.Errorf("AckedCount = %d, want %d", got, want)
	}
	want := map[Class]int64{CrossAccount: int64(fleet.Cameras() / 2)}
	if got := nonZero(o.Snapshot()); !maps.Equal(got, want) {
		t.Errorf("counts = %v, want %v", got, want)
	}
	if n := len(o.Snapshot().Evidence); n != 3 {
		t.Errorf("kept %d evidence records, want the cap of 3", n)
	}
}

func TestCleanPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	r := newRig(t)
	sendUpTo(r.o, 0, 1)
	ev := r.info(0, 1)
	body := r.thumb(0, 1)
	viewer := r.acct(0)
	page, _ := json.Marshal(wire.EventsPage{Events: []wire.EventInfo{*ev, *r.info(1, 1)}})
	if n := testing.AllocsPerRun(200, func() { r.o.CheckBody(viewer, page, "", "p", nil) }); n != 0 {
		t.Errorf("CheckBody allocates %v times on the clean path", n)
	}
	if n := testing.AllocsPerRun(200, func() { r.o.CheckThumb(viewer, ev, body, "p") }); n != 0 {
		t.Errorf("CheckThumb allocates %v times on the clean path", n)
	}
	if n := testing.AllocsPerRun(200, func() { r.o.CheckListed(viewer, ev, "p") }); n != 0 {
		t.Errorf("CheckListed allocates %v times on the clean path", n)
	}
	frame := r.frame(0, 1)
	dev := r.dev(0)
	if n := testing.AllocsPerRun(200, func() { r.o.CheckFrame(viewer, dev, frame, "p") }); n != 0 {
		t.Errorf("CheckFrame allocates %v times on the clean path", n)
	}
	if n := testing.AllocsPerRun(200, func() { r.o.Sent(0, 1); r.o.Acked(0, 1); r.o.CheckAck(0, ev.ID) }); n != 0 {
		t.Errorf("the ledger allocates %v times on the clean path", n)
	}
	if r.o.Total() != 0 {
		t.Errorf("clean path reported %v", r.o.Snapshot().Counts)
	}
}
