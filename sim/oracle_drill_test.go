package sim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/cloud"
	"github.com/herd-drill/herd/sim/internal/doubles"
	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
)

// These drills put a rewriting proxy (sim/internal/doubles) in front of an
// honest reference target, to give it the habits of backends the reference
// target does not have: honest but awkward ones, which must pass, and buggy
// ones, whose bug must be caught and named right.

const proxyCameras = 200

// proxyScenario is a short drill with probes often enough that every kind
// of probe is made many times.
var proxyScenario = strings.Replace(scenario("immediate", scenarios.ModeReset, ""), "probes: 0.05", "probes: 0.2", 1)

// throughProxy serves an honest target behind p and returns p's URL.
func throughProxy(t *testing.T, cfg cloud.Config, p *doubles.Proxy) string {
	t.Helper()
	base, err := p.Start(startTarget(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return base
}

// clean fails t unless out found nothing and read every account.
func clean(t *testing.T, out *sim.Outcome) {
	t.Helper()
	if n := out.Violations.Total(); n != 0 {
		t.Errorf("violations %v on an honest target; evidence %+v", nonZeroCounts(out), out.Violations.Evidence[:min(3, len(out.Violations.Evidence))])
	}
	if !out.Audit.Done || out.Audit.FailedAccounts != 0 {
		t.Errorf("audit %+v: want every account read", out.Audit)
	}
}

func nonZeroCounts(out *sim.Outcome) map[oracle.Class]int64 {
	m := map[oracle.Class]int64{}
	for c, n := range out.Violations.Counts {
		if n > 0 {
			m[c] = n
		}
	}
	return m
}

// An honest backend can be awkward in ways the protocol allows; none of
// them is a violation, and the audit still reads every account.
func TestDrillHonestButAwkwardBackendsPass(t *testing.T) {
	cases := []struct {
		name  string
		proxy func(planEnded *atomic.Bool) *doubles.Proxy
		check func(t *testing.T, out *sim.Outcome)
	}{
		{"acks come late", func(*atomic.Bool) *doubles.Proxy {
			return &doubles.Proxy{Down: func(c *doubles.Conn, msg []byte) [][]byte {
				if doubles.Type(msg) != wire.TypeAck {
					return [][]byte{msg}
				}
				go func() {
					time.Sleep(700 * time.Millisecond)
					_ = c.Send(msg)
				}()
				return nil
			}}
		}, nil},
		{"acks are lost in a reset", func(*atomic.Bool) *doubles.Proxy {
			var mu sync.Mutex
			reset := map[string]bool{} // devices whose socket was cut once
			return &doubles.Proxy{Down: func(c *doubles.Conn, msg []byte) [][]byte {
				if doubles.Type(msg) != wire.TypeAck {
					return [][]byte{msg}
				}
				n, _ := c.Value("acks").(int)
				c.SetValue("acks", n+1)
				mu.Lock()
				cut := n == 2 && !reset[c.Device]
				reset[c.Device] = reset[c.Device] || cut
				mu.Unlock()
				if cut {
					c.Reset() // the ack never arrives; the camera resends
					return nil
				}
				return [][]byte{msg}
			}}
		}, func(t *testing.T, out *sim.Outcome) {
			if out.Counts[sim.CountEventsResent] == 0 {
				t.Error("no event was resent: the resets did not cut acks")
			}
		}},
		{"the audit is shed", func(planEnded *atomic.Bool) *doubles.Proxy {
			var mu sync.Mutex
			shed := map[string]int{}
			return &doubles.Proxy{Answer: func(r *http.Request, a *doubles.Answer) {
				if !planEnded.Load() || r.Method != http.MethodGet {
					return
				}
				mu.Lock()
				n := shed[r.URL.RequestURI()]
				shed[r.URL.RequestURI()]++
				k := len(shed)
				mu.Unlock()
				// Every page of the audit is shed twice first, and one
				// thumbnail in eight once, each with a Retry-After.
				if n < 2 && strings.HasSuffix(r.URL.Path, "/events") || n < 1 && k%8 == 0 {
					*a = doubles.Answer{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"1"}}, Body: []byte(`{"error":"busy"}`)}
				}
			}}
		}, func(t *testing.T, out *sim.Outcome) {
			if out.Errors[sim.ErrHTTP503] == 0 {
				t.Error("nothing was shed")
			}
			if out.Audit.Thumbnails.Checked == 0 {
				t.Error("no thumbnail checked at the audit")
			}
		}},
		{"refusals redirect to a login page", func(*atomic.Bool) *doubles.Proxy {
			return &doubles.Proxy{Answer: func(r *http.Request, a *doubles.Answer) {
				switch {
				case r.URL.Path == "/login":
					*a = doubles.Answer{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/html"}}, Body: []byte("<html>please log in</html>")}
				case a.Status == http.StatusForbidden:
					*a = doubles.Answer{Status: http.StatusFound, Header: http.Header{"Location": {"/login?next=" + url.QueryEscape(r.URL.RequestURI())}}, Body: []byte("<a href=/login>Found</a>")}
				}
			}}
		}, func(t *testing.T, out *sim.Outcome) {
			if p, r, s := out.Counts[sim.CountProbes], out.Counts[sim.CountProbesRefused], out.Counts[sim.CountProbesShed]; r == 0 || r+s != p {
				t.Errorf("probes %d, refused %d, shed %d: want every redirect taken as a refusal", p, r, s)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var planEnded atomic.Bool
			base := throughProxy(t, cloud.Config{}, tc.proxy(&planEnded))
			out := drillAt(t, base, proxyScenario, proxyCameras, sim.WithPlanEnd(func() { planEnded.Store(true) }))
			clean(t, out)
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

// ownerOf is the account index that owns what an app request path names
// (an account's Events tab, an event's thumbnail, a device's live view).
func ownerOf(l *sim.Layout, path string) (int, bool) {
	names := l.Names()
	switch {
	case strings.HasPrefix(path, "/v1/accounts/"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/accounts/"), "/events")
		return names.ParseAccount(id)
	case strings.HasPrefix(path, "/v1/events/"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/events/"), "/thumbnail")
		dev, _, ok := oracle.ParseEventID(id)
		if !ok {
			return 0, false
		}
		cam, ok := names.ParseDevice(dev)
		if !ok || cam >= l.Cameras() {
			return 0, false
		}
		return l.AccountOf(cam), true
	case strings.HasPrefix(path, "/v1/devices/"):
		cam, ok := names.ParseDevice(strings.TrimSuffix(strings.TrimPrefix(path, "/v1/devices/"), "/live"))
		if !ok || cam >= l.Cameras() {
			return 0, false
		}
		return l.AccountOf(cam), true
	}
	return 0, false
}

// callerOf is the account whose user token r carries.
func callerOf(l *sim.Layout, r *http.Request) (int, bool) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	nm, ok := l.Names().Parse(tok)
	if !ok || nm.Kind != oracle.NameUserToken {
		return 0, false
	}
	return nm.Index, true
}

// asOwner makes a request go to the target as the owner of what it asks
// for: a backend that skips its ownership check on that path.
func asOwner(l *sim.Layout, r *http.Request) {
	if a, ok := ownerOf(l, r.URL.Path); ok {
		r.Header.Set("Authorization", "Bearer "+l.UserToken(a))
	}
}

// Bugs the reference target does not have, each caught by its real
// mechanism and named by its class, and nothing else misnamed on the way.
// The same drill through a proxy that changes nothing is clean.
func TestDrillCatchesBackendBugsThroughAProxy(t *testing.T) {
	type bug struct {
		name  string
		proxy func(l *sim.Layout) *doubles.Proxy
		want  oracle.Class // must fire
		check func(t *testing.T, out *sim.Outcome)
	}
	page := func(l *sim.Layout, r *http.Request, a *doubles.Answer, edit func(acct int, page map[string]any)) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/events") {
			return
		}
		if acct, ok := ownerOf(l, r.URL.Path); ok {
			doubles.EditPage(a, func(p map[string]any) { edit(acct, p) })
		}
	}
	events := func(p map[string]any) []any { evs, _ := p["events"].([]any); return evs }
	cases := []bug{
		{"a second welcome on an open socket", func(*sim.Layout) *doubles.Proxy {
			return &doubles.Proxy{Down: func(c *doubles.Conn, msg []byte) [][]byte {
				if doubles.Type(msg) == wire.TypeWelcome {
					c.SetValue("welcome", msg)
					return [][]byte{msg}
				}
				if w, _ := c.Value("welcome").([]byte); w != nil && doubles.Type(msg) == wire.TypeAck && c.Value("again") == nil {
					c.SetValue("again", true)
					return [][]byte{w, msg}
				}
				return [][]byte{msg}
			}}
		}, oracle.Misaddressed, nil},
		{"acks for events never sent", func(*sim.Layout) *doubles.Proxy {
			var mu sync.Mutex
			highest := map[string]uint64{} // device → highest seq it sent through the proxy
			return &doubles.Proxy{
				Up: func(c *doubles.Conn, msg []byte) [][]byte {
					if m := doubles.Message(msg); m.Type == wire.TypeEvent {
						mu.Lock()
						highest[c.Device] = max(highest[c.Device], m.Seq)
						mu.Unlock()
					}
					return [][]byte{msg}
				},
				Down: func(c *doubles.Conn, msg []byte) [][]byte {
					if doubles.Type(msg) != wire.TypeWelcome {
						return [][]byte{msg}
					}
					mu.Lock()
					next := highest[c.Device] + 1
					reconnect := highest[c.Device] > 0
					mu.Unlock()
					if !reconnect {
						return [][]byte{msg}
					}
					// Back after the outage: ack what the camera captured
					// offline and has not sent yet.
					return [][]byte{msg, doubles.Encode(wire.Message{Type: wire.TypeAck, ID: oracle.EventID(c.Device, next)})}
				},
			}
		}, oracle.Misaddressed, func(t *testing.T, out *sim.Outcome) {
			if out.Violations.Counts[oracle.Lost] != 0 || out.Violations.Counts[oracle.Forged] != 0 {
				t.Errorf("an ack never asked for was taken for a delivery: %v", nonZeroCounts(out))
			}
		}},
		{"listed at the time received, not captured", func(l *sim.Layout) *doubles.Proxy {
			return &doubles.Proxy{Answer: func(r *http.Request, a *doubles.Answer) {
				page(l, r, a, func(acct int, p map[string]any) {
					for _, e := range events(p) {
						if ev, ok := e.(map[string]any); ok && acct%3 == 0 {
							at, _ := ev["at"].(json.Number).Int64()
							ev["at"] = at + 1500
						}
					}
				})
			}}
		}, oracle.Mislabelled, nil},
		{"listed as another kind", func(l *sim.Layout) *doubles.Proxy {
			return &doubles.Proxy{Answer: func(r *http.Request, a *doubles.Answer) {
				page(l, r, a, func(acct int, p map[string]any) {
					for _, e := range events(p) {
						if ev, ok := e.(map[string]any); ok && acct%3 == 0 {
							ev["kind"] = "doorbell"
						}
					}
				})
			}}
		}, oracle.Mislabelled, nil},
		{"another account's device token in a field herd does not know", func(l *sim.Layout) *doubles.Proxy {
			return &doubles.Proxy{Answer: func(r *http.Request, a *doubles.Answer) {
				page(l, r, a, func(acct int, p map[string]any) {
					if acct%4 == 1 {
						first, _ := l.CamerasOf((acct + 1) % l.Accounts())
						p["debug"] = map[string]any{"peer": map[string]any{"token": l.DeviceToken(first)}}
					}
				})
			}}
		}, oracle.CrossAccount, func(t *testing.T, out *sim.Outcome) {
			for _, e := range out.Violations.Evidence {
				if e.JSONPath != "$.debug.peer.token" || strings.Contains(e.Detail, ".dtok-") {
					t.Errorf("evidence %+v: want json_path $.debug.peer.token and no token printed", e)
				}
			}
		}},
		{"another account's device id in the device label", func(l *sim.Layout) *doubles.Proxy {
			return &doubles.Proxy{Answer: func(r *http.Request, a *doubles.Answer) {
				page(l, r, a, func(acct int, p map[string]any) {
					if evs := events(p); len(evs) > 0 && acct%4 == 2 {
						first, _ := l.CamerasOf((acct + 1) % l.Accounts())
						evs[0].(map[string]any)["device"] = l.Device(first)
					}
				})
			}}
		}, oracle.CrossAccount, func(t *testing.T, out *sim.Outcome) {
			if out.Violations.Counts[oracle.Mislabelled] != 0 {
				t.Errorf("a stranger's device id was called mislabelled: %v", nonZeroCounts(out))
			}
		}},
		{"a refusal that names the owner", func(l *sim.Layout) *doubles.Proxy {
			var n atomic.Int64
			return &doubles.Proxy{Answer: func(r *http.Request, a *doubles.Answer) {
				if a.Status != http.StatusForbidden {
					return
				}
				owner, ok := ownerOf(l, r.URL.Path)
				if !ok {
					return
				}
				a.Body = []byte(`{"error":"forbidden: this belongs to ` + l.AccountID(owner) + `"}`)
				if n.Add(1)%2 == 0 { // half of them by redirect
					a.Status, a.Header = http.StatusFound, http.Header{"Location": {"/login"}}
				}
			}}
		}, oracle.IDOR, nil},
		{"the Events tab checks ownership only without a cursor", func(l *sim.Layout) *doubles.Proxy {
			return &doubles.Proxy{Request: func(r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/events") && r.URL.Query().Get("after") != "" {
					asOwner(l, r)
				}
			}}
		}, oracle.IDOR, func(t *testing.T, out *sim.Outcome) {
			if out.Counts[sim.CountProbesCursor] == 0 {
				t.Error("no probe asked with a cursor")
			}
		}},
		{"thumbnails check ownership only on a cache miss", func(l *sim.Layout) *doubles.Proxy {
			var mu sync.Mutex
			cached := map[string]time.Time{} // thumbnail paths their owners fetched
			return &doubles.Proxy{
				Request: func(r *http.Request) {
					if !strings.HasSuffix(r.URL.Path, "/thumbnail") {
						return
					}
					mu.Lock()
					at, hit := cached[r.URL.Path]
					mu.Unlock()
					if hit && time.Since(at) < 5*time.Second {
						asOwner(l, r)
					}
				},
				Answer: func(r *http.Request, a *doubles.Answer) {
					if a.Status == http.StatusOK && strings.HasSuffix(r.URL.Path, "/thumbnail") {
						mu.Lock()
						cached[r.URL.Path] = time.Now()
						mu.Unlock()
					}
				},
			}
		}, oracle.IDOR, nil},
		{"thumbnails never check ownership", func(l *sim.Layout) *doubles.Proxy {
			return &doubles.Proxy{Request: func(r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/thumbnail") {
					asOwner(l, r)
				}
			}}
		}, oracle.IDOR, nil},
		{"live view never checks ownership", func(l *sim.Layout) *doubles.Proxy {
			return &doubles.Proxy{Request: func(r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/live") {
					if c, ok := callerOf(l, r); ok && c%2 == 0 {
						asOwner(l, r)
					}
				}
			}}
		}, oracle.IDOR, func(t *testing.T, out *sim.Outcome) {
			if out.Counts[sim.CountProbesLive] == 0 {
				t.Error("no probe asked for live view")
			}
		}},
	}
	t.Run("nothing changed", func(t *testing.T) {
		clean(t, drillAt(t, throughProxy(t, cloud.Config{}, &doubles.Proxy{}), proxyScenario, proxyCameras))
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := newKey(t)
			l := layoutOf(t, proxyScenario, proxyCameras, key)
			out := drillRun(t, throughProxy(t, cloud.Config{}, tc.proxy(l)), proxyScenario, proxyCameras, key)
			t.Logf("violations %v", nonZeroCounts(out))
			if out.Violations.Counts[tc.want] == 0 {
				t.Errorf("no %s; violations %v", tc.want, nonZeroCounts(out))
			}
			if !out.Audit.Done || out.Audit.FailedAccounts != 0 {
				t.Errorf("audit %+v: want every account read", out.Audit)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

// A cursor that never advances, or that cycles, would keep the audit
// asking for ever: the account is unread as cursor_stuck, every other
// account is still audited, and the drill ends by itself.
func TestAuditOfAStuckCursorEnds(t *testing.T) {
	for _, cycle := range []bool{false, true} {
		t.Run("cycle="+strconv.FormatBool(cycle), func(t *testing.T) {
			key := newKey(t)
			l := layoutOf(t, proxyScenario, proxyCameras, key)
			stuck := l.AccountID(3)
			var n atomic.Int64
			next := func() string {
				if cycle && n.Add(1)%2 == 0 {
					return "stuck-b"
				}
				return "stuck-a"
			}
			p := &doubles.Proxy{Answer: func(r *http.Request, a *doubles.Answer) {
				if r.URL.Path != wire.EventsPath(stuck) {
					return
				}
				if strings.HasPrefix(r.URL.Query().Get("after"), "stuck-") {
					*a = doubles.Answer{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"events":[],"next":"` + next() + `","more":true}`)}
					return
				}
				doubles.EditPage(a, func(p map[string]any) { p["next"], p["more"] = next(), true })
			}}
			out := drillRun(t, throughProxy(t, cloud.Config{}, p), proxyScenario, proxyCameras, key, sim.WithAuditStall(5*time.Second))
			a := out.Audit
			if !a.Done || a.FailedAccounts != 1 || a.Unread[sim.UnreadCursorStuck] != 1 {
				t.Errorf("audit %+v: want it done, with one account unread as cursor_stuck", a)
			}
			if out.Violations.Total() != 0 {
				t.Errorf("violations %v", nonZeroCounts(out))
			}
			if a.Thumbnails.Checked == 0 {
				t.Error("the other accounts were not audited")
			}
		})
	}
}

// A leak between accounts that different processes run is named the same
// as in one process: shards know only their own cameras' sequences, so the
// owner is judged first.
func TestShardedLeakHasTheClassesOfOneProcess(t *testing.T) {
	// A long TTL: every listing after the first one of its query is
	// whoever's page was cached first, in every layout.
	cfg := cloud.Config{Faults: cloud.Faults{cloud.SharedCacheKey: true}, ListingTTL: 10 * time.Minute}
	yaml := scenario("immediate", scenarios.ModeReset, "")
	classes := func(out []*sim.Outcome) map[oracle.Class]bool {
		m := map[oracle.Class]bool{}
		for _, o := range out {
			for c, n := range o.Violations.Counts {
				if n > 0 {
					m[c] = true
				}
			}
		}
		return m
	}
	one := classes([]*sim.Outcome{drill(t, cfg, yaml, 200)})
	base := startTarget(t, cfg)
	key := newKey(t)
	start := time.Now().Add(2 * time.Second)
	outs := make([]*sim.Outcome, 4)
	errs := make([]error, len(outs))
	var wg sync.WaitGroup
	for i := range outs {
		wg.Go(func() {
			d, err := drillSpec(base, yaml, 200, key)
			if err != nil {
				errs[i] = err
				return
			}
			d.Segment, d.Start = sim.Segment{Index: i, Count: len(outs)}, start
			outs[i], errs[i] = runDrill(d)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	four := classes(outs)
	t.Logf("one process: %v; four shards: %v", one, four)
	if !one[oracle.CrossAccount] || !four[oracle.CrossAccount] {
		t.Errorf("the leak is not cross_account in both layouts: one %v, four %v", one, four)
	}
	if four[oracle.Forged] || one[oracle.Forged] {
		t.Errorf("the leak was called forged: one %v, four %v", one, four)
	}
	for c := range one {
		if !four[c] {
			t.Errorf("%s in one process but not in four shards", c)
		}
	}
	for c := range four {
		if !one[c] {
			t.Errorf("%s in four shards but not in one process", c)
		}
	}
}
