package sim_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/cloud"
	"github.com/herd-drill/herd/sim/oracle"
)

// These tests run real drills: a fleet of cameras over loopback sockets
// against the reference target in this process, with and without each
// fault. They are sized to finish in seconds and to trigger each fault by
// its real mechanism.

// startTarget serves a reference target on a loopback port until the test ends.
func startTarget(t *testing.T, cfg cloud.Config) string {
	t.Helper()
	cfg.AdminToken = "test-admin"
	srv, err := cloud.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("target: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// drill runs scenario text (YAML) with n cameras against a fresh target.
func drill(t *testing.T, cfg cloud.Config, yaml string, n int, opts ...sim.Option) *sim.Outcome {
	t.Helper()
	return drillAt(t, startTarget(t, cfg), yaml, n, opts...)
}

// drillAt runs scenario text (YAML) with n cameras against the target at
// base, whose admin token is test-admin.
func drillAt(t *testing.T, base, yaml string, n int, opts ...sim.Option) *sim.Outcome {
	t.Helper()
	return drillRun(t, base, yaml, n, newKey(t), opts...)
}

func newKey(t testing.TB) *oracle.Key {
	t.Helper()
	key, err := oracle.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// layoutOf is the layout a drill of yaml with n cameras runs under key.
func layoutOf(t testing.TB, yaml string, n int, key *oracle.Key) *sim.Layout {
	t.Helper()
	return drillOf(t, "http://127.0.0.1:1", yaml, n, key).Layout
}

// drillOf is the drill of scenario text (YAML) with n cameras against the
// target at base, whose admin token is test-admin, in the run of key.
func drillOf(t testing.TB, base, yaml string, n int, key *oracle.Key) sim.Drill {
	t.Helper()
	d, err := drillSpec(base, yaml, n, key)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func drillSpec(base, yaml string, n int, key *oracle.Key) (sim.Drill, error) {
	sc, err := scenarios.Parse("test.yaml", []byte(yaml))
	if err != nil {
		return sim.Drill{}, err
	}
	sc.Fleet.Cameras = n
	d, err := sim.NewDrill(sc, key, sim.Target{Cells: []string{base}, AdminToken: "test-admin"})
	d.RampRate = 2000
	return d, err
}

// drillRun is drillAt for the run of key.
func drillRun(t *testing.T, base, yaml string, n int, key *oracle.Key, opts ...sim.Option) *sim.Outcome {
	t.Helper()
	return runOn(t, drillOf(t, base, yaml, n, key), opts...)
}

// runOn provisions, preflights and runs drill d.
func runOn(t *testing.T, d sim.Drill, opts ...sim.Option) *sim.Outcome {
	t.Helper()
	out, err := runDrill(d, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if out.Interrupted {
		t.Fatal("drill interrupted")
	}
	return out
}

// runDrill is runOn for a goroutine of its own: it returns its error.
func runDrill(d sim.Drill, opts ...sim.Option) (*sim.Outcome, error) {
	f, err := sim.New(d, append([]sim.Option{sim.WithQuietTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sim.Provision(ctx, d); err != nil {
		return nil, err
	}
	if err := sim.Preflight(ctx, d); err != nil {
		return nil, err
	}
	return f.Run(ctx)
}

// scenario returns a short drill: steady, an outage of the given mode, settle.
func scenario(policy, mode string, extra string) string {
	return `
name: test
fleet: {seed: 3}
camera: {events_per_minute: 60, thumb_bytes: 256, frame_bytes: 512, backlog: 10}
reconnect: {policy: ` + policy + `, base: 200ms, cap: 2s, reset_after: 5s}
app: {active: 0.3, poll: 500ms, surge: 1, surge_window: 500ms, thumbnails: 1, live: 0.2, probes: 0.05, page_size: 50}
phases:
  - {kind: steady, duration: 1500ms}
  - {kind: outage, duration: 1s, mode: ` + mode + `}
  - {kind: settle, duration: 3s}
` + extra
}

func violations(out *sim.Outcome) map[oracle.Class]int64 { return out.Violations.Counts }

func TestDrillHonestTargetHasNoViolations(t *testing.T) {
	for _, mode := range []string{scenarios.ModeReset, scenarios.ModeClose, scenarios.ModeSilent} {
		t.Run(mode, func(t *testing.T) {
			out := drill(t, cloud.Config{PingInterval: 300 * time.Millisecond}, scenario("immediate", mode, ""), 200)
			for c, n := range violations(out) {
				if n != 0 {
					t.Errorf("%s = %d on an honest target; evidence: %+v", c, n, out.Violations.Evidence)
				}
			}
			if !out.Audit.Done || out.Audit.FailedAccounts != 0 || out.Audit.GaveUp {
				t.Errorf("audit = %+v, want done with every account listed", out.Audit)
			}
			if acked := out.Counts[sim.CountEventsAcked]; acked < 200 {
				t.Errorf("only %d events acked", acked)
			}
			if out.Audit.Events < out.Counts[sim.CountEventsAcked]-out.Counts[sim.CountEventsResent] {
				t.Errorf("audit listed %d events, fewer than the %d acked", out.Audit.Events, out.Counts[sim.CountEventsAcked])
			}
			if out.Affected != 200 || out.Recovered != 200 {
				t.Errorf("affected %d, recovered %d; want 200 and 200", out.Affected, out.Recovered)
			}
			// The target pings every 300 ms and drops a socket that stays
			// silent for 600 ms: a camera that answers every ping never
			// loses its socket to the target.
			for _, class := range []string{sim.ErrNetwork, sim.ErrCloseOther, sim.ErrTimeout} {
				if n := out.Errors[class]; n != 0 {
					t.Errorf("%d %s errors on an honest target: %v", n, class, out.Errors)
				}
			}
			// A loaded machine times out a registry look-up now and then,
			// and the target sheds that probe: neither refused nor data.
			if p, r, s := out.Counts[sim.CountProbes], out.Counts[sim.CountProbesRefused], out.Counts[sim.CountProbesShed]; p == 0 || r == 0 || r+s != p {
				t.Errorf("probes %d, refused %d, shed %d: want some, all refused or shed", p, r, s)
			}
			if out.Counts[sim.CountThumbsChecked] == 0 {
				t.Error("no thumbnail was checked")
			}
		})
	}
}

// Phases that trigger live-misroute: half the fleet goes silent and comes
// back while the target still holds its old sockets; once the target drops
// them, the other half reconnects into the slots the faulty clean-up freed,
// and the apps ask for live view.
const misroutePhases = `
phases:
  - {kind: steady, duration: 1500ms}
  - {kind: outage, duration: 2500ms, down: 300ms, fraction: 0.5, mode: silent}
  - {kind: outage, duration: 1s, down: 300ms, fraction: 0.5, mode: reset}
  - {kind: settle, duration: 3s}
`

func TestDrillDetectsEachFault(t *testing.T) {
	base := scenario("immediate", scenarios.ModeReset, "")
	misroute := base[:strings.Index(base, "phases:")] + misroutePhases
	misroute = strings.Replace(misroute, "live: 0.2", "live: 1", 1)
	// No app opens a thumbnail: only the audit's check of every one can
	// see that the bytes are a stranger's.
	noAppThumbs := strings.Replace(base, "thumbnails: 1,", "thumbnails: 0,", 1)
	moreProbes := strings.Replace(base, "probes: 0.05", "probes: 0.2", 1)
	cases := []struct {
		fault cloud.Fault
		yaml  string
		cfg   cloud.Config
		want  []oracle.Class // at least one of these fires
	}{
		{cloud.IDOR, base, cloud.Config{}, []oracle.Class{oracle.IDOR}},
		{cloud.SharedCacheKey, base, cloud.Config{}, []oracle.Class{oracle.CrossAccount}},
		// A small write-behind queue in front of a slow store overflows when
		// the herd flushes its backlogs.
		{cloud.DropAcked, base, cloud.Config{WriteQueue: 64, WriteCost: 2 * time.Millisecond}, []oracle.Class{oracle.Lost}},
		// A store near its capacity acks late, so the outage cuts events in
		// flight, and the cameras send them again after reconnecting.
		{cloud.DupOnRetry, base, cloud.Config{WriteCost: 3 * time.Millisecond}, []oracle.Class{oracle.Duplicate}},
		{cloud.LiveMisroute, misroute, cloud.Config{PingInterval: 500 * time.Millisecond}, []oracle.Class{oracle.CrossAccount, oracle.Misaddressed}},
		{cloud.ThumbCacheKey, noAppThumbs, cloud.Config{}, []oracle.Class{oracle.CrossAccount}},
		// A store slow enough that the blob queue overflows when the herd
		// flushes its backlogs.
		{cloud.DropThumb, base, cloud.Config{WriteCost: 500 * time.Microsecond}, []oracle.Class{oracle.Lost}},
		{cloud.IDORAfter, moreProbes, cloud.Config{}, []oracle.Class{oracle.IDOR}},
	}
	for _, tc := range cases {
		t.Run(string(tc.fault), func(t *testing.T) {
			for _, on := range []bool{true, false} {
				cfg := tc.cfg
				if on {
					cfg.Faults = cloud.Faults{tc.fault: true}
				}
				out := drill(t, cfg, tc.yaml, 300)
				fired := int64(0)
				for _, c := range tc.want {
					fired += violations(out)[c]
				}
				t.Logf("%s on=%v: %v", tc.fault, on, violations(out))
				switch {
				case on && fired == 0:
					t.Errorf("%s on: none of %v fired; violations %v", tc.fault, tc.want, violations(out))
				case !on && out.Violations.Total() != 0:
					t.Errorf("%s off, same load: violations %v; evidence %+v", tc.fault, violations(out), out.Violations.Evidence[:min(3, len(out.Violations.Evidence))])
				}
				for _, e := range out.Violations.Evidence {
					if e.Detail == "" || e.Class == "" {
						t.Errorf("evidence without class or detail: %+v", e)
					}
				}
			}
		})
	}
}

// stale-reply is a load bug: a herd reconnecting at once overruns the
// registry and replies shift; the same fleet ramping up and back gently does not.
func TestDrillStaleReplyFiresOnlyUnderAHerd(t *testing.T) {
	// A registry of 500 look-ups a second with a 1 s time-out: a herd of
	// 1,000 at once queues more than a second of look-ups, so some time out
	// and shift the pool. The gentle runs stay near a third of the capacity,
	// so a time-out would need a stall of a whole second.
	cfg := cloud.Config{
		Faults:        cloud.Faults{cloud.StaleReply: true},
		LookupService: 2 * time.Millisecond, LookupTimeout: time.Second,
	}
	// Both runs ramp up at 200/s and have the same calm apps (40 polling,
	// 40 opening the app after the outage, few thumbnails); only the
	// reconnect policy differs. The steady phase outlasts the ramp: an
	// outage that resets connects still in flight cancels their look-ups,
	// and a cancelled look-up shifts the stale pool just as a timed-out one
	// does (the redis-py bug was a cancellation), load or not.
	// The thumbnails the audit fetches would load the slow registry for
	// long after the herd; a tenth of them keeps the drills short.
	calm := func(s string) string {
		s += "audit: {thumbnails: 0.1}\n"
		s = strings.Replace(s, "{kind: steady, duration: 1500ms}", "{kind: steady, duration: 6s}", 1)
		s = strings.Replace(s, "active: 0.3, poll: 500ms", "active: 0.1, poll: 1s", 1)
		return strings.Replace(s, "surge: 1, surge_window: 500ms, thumbnails: 1", "surge: 0.1, surge_window: 4s, thumbnails: 0.05", 1)
	}
	slowRamp := func(yaml string) *sim.Outcome {
		d := drillOf(t, startTarget(t, cfg), yaml, 1000, newKey(t))
		d.RampRate = 200
		return runOn(t, d)
	}
	herd := slowRamp(calm(scenario("immediate", scenarios.ModeReset, "")))
	t.Logf("immediate: %v", violations(herd))
	if n := violations(herd)[oracle.CrossAccount] + violations(herd)[oracle.Misaddressed]; n == 0 {
		t.Errorf("immediate reconnect: no cross_account or misaddressed; violations %v", violations(herd))
	}
	// Full jitter over 10 s: the fleet returns at about 100 cameras a second.
	gentle := strings.Replace(calm(scenario("full-jitter", scenarios.ModeReset, "")), "base: 200ms, cap: 2s", "base: 10s, cap: 10s", 1)
	gentle = strings.Replace(gentle, "{kind: settle, duration: 3s}", "{kind: settle, duration: 13s}", 1)
	quiet := slowRamp(gentle)
	if quiet.Violations.Total() != 0 {
		t.Errorf("gentle return: violations %v, want none; evidence %+v", violations(quiet), quiet.Violations.Evidence[:min(3, len(quiet.Violations.Evidence))])
	}
}
