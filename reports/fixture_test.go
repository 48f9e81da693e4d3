package reports

import (
	"bytes"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/oracle"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// fixtureOutcome is a made-up but lifelike outcome of the aws-outage drill
// against a target with the stale-reply fault: 1000 cameras connect, all
// drop at once, come back as a herd within a few seconds while the target
// sheds load, and the stale replies leak a few events across accounts.
// Everything derives from a fixed seed, so its Result is a golden input.
func fixtureOutcome(t *testing.T) (*scenarios.Scenario, *sim.Outcome) {
	t.Helper()
	sc, err := scenarios.Load("aws-outage")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	start := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	const cameras = 1000
	steadyAt, outageAt, endAt, planEnd, runEnd := 1.4, 11.4, 21.4, 61.4, 63.9

	hists := map[string]*hdrhistogram.Histogram{}
	for _, n := range sim.HistogramNames {
		hists[n] = sim.NewHistogram()
	}
	rec := func(name string, ms float64) { hists[name].RecordValue(int64(ms * 1000)) }
	lognormal := func(medianMs, spread float64) float64 { return medianMs * math.Exp(spread*rng.NormFloat64()) }

	// The curve, 100 ms a step; latency a point per second.
	c := sim.Curve{Start: start, Step: 100 * time.Millisecond, LatencyStep: time.Second, Latency: map[string]*sim.LatencySeries{}}
	steps := int(runEnd * 10)
	var connected float64
	for i := range steps {
		s := float64(i+1) / 10
		var want, errs float64
		switch {
		case s < outageAt:
			want = math.Min(cameras, cameras*s/0.4)
		case s < endAt:
			want = 0
			errs = float64(rng.IntN(3)) // cameras retrying a target that is away
		default:
			// The herd: a logistic return, half the fleet back 1.8 s in.
			want = cameras / (1 + math.Exp(-(s-endAt-1.8)*2.6))
			if s-endAt < 4 {
				errs = float64(rng.IntN(40))
			}
		}
		if s > planEnd+0.5 {
			want = cameras
		}
		conn := int64(math.Round(want))
		connects := max(conn-int64(math.Round(connected)), 0)
		connected = want
		c.Connected = append(c.Connected, conn)
		c.Connects = append(c.Connects, connects)
		c.Errors = append(c.Errors, int64(errs))
		c.Violations = append(c.Violations, 0) // filled from the evidence below
	}
	for sec := 0; sec < int(math.Ceil(runEnd)); sec++ {
		s := float64(sec) + 0.5
		herd := s > endAt && s < endAt+5
		for _, name := range sim.HistogramNames {
			if name == sim.HistRecovery || name == sim.HistPuback { // a WebSocket drill: no PUBACKs
				continue
			}
			ls := c.Latency[name]
			if ls == nil {
				ls = &sim.LatencySeries{}
				c.Latency[name] = ls
			}
			base := map[string]float64{sim.HistConnect: 4, sim.HistAck: 3, sim.HistFirstAck: 6, sim.HistList: 8, sim.HistThumbnail: 5, sim.HistLive: 40, sim.HistLag: 0.3}[name]
			n := int64(0)
			switch {
			case s > outageAt && s < endAt && name != sim.HistList && name != sim.HistLag:
			case name == sim.HistConnect && (s > 1.5 && !herd):
			case name == sim.HistFirstAck && !herd:
			default:
				n = int64(20 + rng.IntN(200))
			}
			if herd {
				base *= 40
			}
			var p50, p99 time.Duration
			if n > 0 {
				p50 = time.Duration(base * (1 + 0.2*rng.Float64()) * float64(time.Millisecond))
				p99 = time.Duration(base * (4 + 2*rng.Float64()) * float64(time.Millisecond))
				for range n {
					rec(name, lognormal(base, 0.6))
				}
			}
			ls.Count = append(ls.Count, n)
			ls.P50 = append(ls.P50, p50)
			ls.P99 = append(ls.P99, p99)
		}
	}
	for range cameras {
		rec(sim.HistRecovery, 1800*math.Exp(0.5*rng.NormFloat64()))
		rec(sim.HistConnect, lognormal(120, 1))
	}

	ends := at(endAt)
	var evidence []oracle.Evidence
	for i := range 9 {
		since := 0.7 + 0.3*float64(i)
		class, path := oracle.CrossAccount, "/v1/accounts/acct-0000117/events"
		detail := "listed in another account's Events tab: its provenance says cam-00000851 of acct-0000342 made it"
		if i >= 7 {
			class, path = oracle.Misaddressed, "ws:ack"
			detail = "an ack for an event this camera never sent"
		}
		evidence = append(evidence, oracle.Evidence{
			Class: class, Viewer: "acct-0000117", Owner: "acct-0000342", Device: "cam-00000851",
			Event: "cam-00000851/" + strconv.Itoa(30+i), Path: path, SinceOutageEndS: &since,
			Detail: detail,
			AtMs:   ends.Add(time.Duration(since * float64(time.Second))).UnixMilli(),
		})
	}
	c.ViolationsByClass = map[string][]int64{}
	for _, e := range evidence {
		k := time.UnixMilli(e.AtMs).Sub(start) / c.Step
		c.Violations[k]++
		if c.ViolationsByClass[string(e.Class)] == nil {
			c.ViolationsByClass[string(e.Class)] = make([]int64, len(c.Violations))
		}
		c.ViolationsByClass[string(e.Class)][k]++
	}
	// A result has every figure: PUBACK latency too, as over MQTT (no
	// draws from rng, so the rest of the fixture stays as it was).
	for i := range 50 {
		rec(sim.HistPuback, 0.5+float64(i)*0.02)
	}
	// What those seven leaked events exposed: one account shown another's
	// events in the recovery phase, from 0.7 s after the outage ended.
	firstSince := 700 * time.Millisecond
	exposure := oracle.Exposure{
		Viewers: [3]oracle.Set{{117}, {}, {}}, Victims: oracle.Set{342}, Devices: oracle.Set{851},
		Phases: []oracle.PhaseExposure{{Phase: "recovery", Viewers: [3]oracle.Set{{117}, {}, {}}}},
		Pairs:  []oracle.Pair{{Viewer: "acct-0000117", Victim: "acct-0000342", Counts: [4]int64{0, 7, 0, 0}}},
		First:  ends.Add(firstSince), FirstSinceOutageEnd: &firstSince,
	}
	phase := func(name, kind string, from, to float64) sim.PhaseSpan {
		return sim.PhaseSpan{Name: name, Kind: kind, Start: at(from), End: at(to)}
	}
	o := &sim.Outcome{
		Scenario: sc.Name, Source: sc.Source, Seed: 1, Cameras: cameras, Accounts: 402, Policy: "immediate",
		Targets: []string{"http://127.0.0.1:41231"}, Started: start, Ended: at(runEnd),
		Phases:     []sim.PhaseSpan{phase("steady", "steady", steadyAt, outageAt), phase("outage", "outage", outageAt, endAt), phase("recovery", "settle", endAt, planEnd)},
		OutageEnds: []time.Time{ends}, Histograms: hists,
		Counts: map[string]int64{
			sim.CountConnectAttempts: 2310, sim.CountConnects: 2000, sim.CountEventsCaptured: 6012, sim.CountEventsSent: 6012,
			sim.CountEventsResent: 97, sim.CountEventsAcked: 6012, sim.CountAppRequests: 3120, sim.CountProbes: 61, sim.CountProbesRefused: 61,
		},
		Errors:     map[string]int64{sim.ErrHTTP503: 288, sim.ErrRefused: 22, sim.ErrTimeout: 3},
		Operations: 2310 + 6012 + 3120, Curve: c, AllConnected: 400 * time.Millisecond,
		Affected: cameras, Recovered: cameras,
		Violations: oracle.Violations{Counts: map[oracle.Class]int64{oracle.CrossAccount: 7, oracle.Misaddressed: 2}, Evidence: evidence},
		Exposure:   exposure,
		Audit:      sim.AuditSummary{Done: true, Accounts: 402, Events: 6012},
		Generator: sim.Generator{
			LagP99: 2 * time.Millisecond, LagMax: 31 * time.Millisecond, CPUSeconds: 41.2, FileLimit: 1 << 20, PeakOpenFile: 2107,
			PeakRSS: 142 << 20, BaseRSS: 38 << 20, PeakHeap: 61 << 20, PeakStack: 9 << 20,
		},
	}
	return sc, o
}

// fixture is the Result of fixtureOutcome.
func fixture(t *testing.T) *Result {
	t.Helper()
	sc, o := fixtureOutcome(t)
	r := Build(sc, o, TargetInfo{URLs: o.Targets, Embedded: true, Faults: []string{"stale-reply"}}, "v0.0.0-golden")
	// What Build reads off this process and machine, pinned for the golden
	// files.
	for i := range r.Shards {
		r.Shards[i].PID = 0
	}
	r.Generator.CPUShare = 0.32
	return r
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./reports/ -run %s -update' to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file %s; if the change is meant, run 'go test ./reports/ -run %s -update' and review the diff\n%s",
			name, path, t.Name(), firstDiff(want, got))
	}
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got []byte) string {
	w, g := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b []byte
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if !bytes.Equal(a, b) {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + string(a) + "\n  got:  " + string(b)
		}
	}
	return ""
}
