package sim

import (
	"strconv"
	"time"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/internal/draw"
)

// PhaseSpan is one phase of a run on the wall clock.
type PhaseSpan struct {
	Name  string    `json:"name"`
	Kind  string    `json:"kind"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// outage is one outage window of the plan: phase repeats are unrolled.
type outage struct {
	index    int // position in plan.outages: keys the random selection
	start    time.Time
	fraction float64
	zoned    bool
	zones    int
	mode     string
	down     time.Duration
	stagger  time.Duration
}

// end is when the last camera of the outage comes back.
func (o *outage) end() time.Time { return o.start.Add(o.stagger + o.down) }

// plan is a scenario laid on the wall clock. Every process of a run derives
// the same plan from the same scenario, seed and start instant, so cameras
// need no messages to go down and come back together.
type plan struct {
	start   time.Time // the first phase begins
	end     time.Time // the last phase ends; cameras stop capturing events
	phases  []PhaseSpan
	outages []outage
	// Which cameras an outage of a fraction takes down, and when within
	// its stagger each goes.
	hit, at draw.Stream
}

func newPlan(sc *scenarios.Scenario, seed uint64, start time.Time) *plan {
	p := &plan{start: start, hit: draw.New(seed, "outage.hit"), at: draw.New(seed, "outage.at")}
	t := start
	for _, ph := range sc.Phases {
		repeat := ph.Repeat
		if repeat < 1 {
			repeat = 1
		}
		for r := 0; r < repeat; r++ {
			d := ph.Duration.Duration
			name := ph.Name
			if repeat > 1 {
				name = name + "#" + strconv.Itoa(r+1)
			}
			p.phases = append(p.phases, PhaseSpan{Name: name, Kind: ph.Kind, Start: t, End: t.Add(d)})
			if ph.Kind == scenarios.KindOutage {
				o := outage{
					index: len(p.outages), start: t, fraction: ph.Fraction, mode: ph.Mode,
					down: ph.Down.Duration, stagger: ph.Stagger.Duration,
				}
				if o.fraction <= 0 || o.fraction > 1 {
					o.fraction = 1
				}
				if o.down <= 0 {
					o.down = d
				}
				if o.mode == "" {
					o.mode = scenarios.ModeReset
				}
				if ph.Select == scenarios.SelectZone && o.fraction < 1 {
					o.zoned = true
					o.zones = ph.Zones()
				}
				p.outages = append(p.outages, o)
			}
			t = t.Add(d)
		}
	}
	p.end = t
	return p
}

// window is one camera's stay offline.
type window struct {
	down, up time.Time
	mode     string
}

// windowFor returns camera cam's window in outage o, if o takes it down.
// A zoned outage takes down one zone (rotating with each repeat); a random
// one a seeded share of cameras.
func (p *plan) windowFor(o *outage, cam, account int, l *Layout) (window, bool) {
	if o.zoned {
		if l.Zone(account, o.zones) != o.index%o.zones {
			return window{}, false
		}
	} else if o.fraction < 1 && p.hit.Unit2(uint64(o.index), uint64(cam)) >= o.fraction {
		return window{}, false
	}
	down := o.start
	if o.stagger > 0 {
		down = down.Add(time.Duration(p.at.Unit2(uint64(o.index), uint64(cam)) * float64(o.stagger)))
	}
	return window{down: down, up: down.Add(o.down), mode: o.mode}, true
}
