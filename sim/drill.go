package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/oracle"
)

// Drill is one drill as a value: everything a process needs to run its
// part of it. The scenario as run and the layout (whose key names the run
// and seals its provenance) are the whole fleet's; Segment says which
// accounts this process runs; Start, when set, is the instant every
// process of the run starts on. A coordinator hands a Drill to its worker
// processes as JSON (key included: never on a command line); every path
// that runs a drill — one process, a worker, a shard on another machine —
// builds one and gives it to New.
type Drill struct {
	Scenario *scenarios.Scenario
	Layout   *Layout
	Target   Target
	// Segment is the part of the fleet this process runs (the zero value
	// and Whole are all of it).
	Segment Segment
	// Start is when the run starts: its ramp begins, and the phases follow
	// the ramp. Shards of one run share it, so the outage and the herd are
	// simultaneous in all of them; it must not be in the past when Run is
	// called, or the ramp is compressed. Zero is when Run is called.
	Start time.Time
	// RampRate is how fast the fleet first connects, in connects per
	// second (0: DefaultRampRate).
	RampRate float64
	// MaxDialing bounds the cameras of this process in the connect
	// handshake at once (0: DefaultMaxDialing).
	MaxDialing int
	// SourceOffset makes this process dial from loopback source addresses
	// after the first SourceOffset, so that the processes of one run each
	// dial from their own (see internal/loopback).
	SourceOffset int
}

// NewDrill is the whole drill of scenario sc against target under key: a
// fresh layout of the scenario's fleet, named for key's run.
func NewDrill(sc *scenarios.Scenario, key *oracle.Key, target Target) (Drill, error) {
	l, err := NewLayout(sc.Fleet.Cameras, sc.Fleet.Seed, key)
	if err != nil {
		return Drill{}, err
	}
	return Drill{Scenario: sc, Layout: l, Target: target, Segment: Whole}, nil
}

// segment is d's segment, the whole fleet when unset.
func (d *Drill) segment() Segment {
	if d.Segment.Count == 0 {
		return Whole
	}
	return d.Segment
}

// check validates d and fills in its defaults.
func (d *Drill) check() error {
	switch {
	case d.Scenario == nil || d.Layout == nil:
		return errors.New("sim: a drill needs a scenario and a layout")
	case d.Layout.Cameras() != d.Scenario.Fleet.Cameras || d.Layout.Seed() != d.Scenario.Fleet.Seed:
		return fmt.Errorf("sim: the layout of %d cameras (seed %d) is not the scenario's fleet of %d (seed %d)",
			d.Layout.Cameras(), d.Layout.Seed(), d.Scenario.Fleet.Cameras, d.Scenario.Fleet.Seed)
	case len(d.Target.Cells) == 0:
		return errors.New("sim: no target cells")
	case d.RampRate < 0:
		return fmt.Errorf("sim: ramp rate must be positive, got %v", d.RampRate)
	case d.MaxDialing < 0:
		return fmt.Errorf("sim: max dialing must be at least 1, got %d", d.MaxDialing)
	case d.SourceOffset < 0:
		return fmt.Errorf("sim: source offset must not be negative, got %d", d.SourceOffset)
	}
	if err := d.segment().Valid(); err != nil {
		return err
	}
	if errs := d.Scenario.Validate(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	d.Segment = d.segment()
	if d.RampRate == 0 {
		d.RampRate = DefaultRampRate
	}
	if d.MaxDialing == 0 {
		d.MaxDialing = DefaultMaxDialing
	}
	return nil
}

// drillJSON is a Drill on the wire: the scenario as YAML, and the key
// (from which, with the scenario's fleet, the layout is derived again).
type drillJSON struct {
	Source       string      `json:"scenario_source"`
	ScenarioYAML string      `json:"scenario_yaml"`
	Key          *oracle.Key `json:"key"`
	Target       Target      `json:"target"`
	Segment      Segment     `json:"segment"`
	Start        time.Time   `json:"start,omitzero"`
	RampRate     float64     `json:"ramp_rate,omitempty"`
	MaxDialing   int         `json:"max_dialing,omitempty"`
	SourceOffset int         `json:"source_offset,omitempty"`
}

// MarshalJSON writes d for a worker process; it holds the run's key, so
// it goes only to a pipe of herd's own, never to a file or a log.
func (d Drill) MarshalJSON() ([]byte, error) {
	if d.Scenario == nil || d.Layout == nil {
		return nil, errors.New("sim: marshalling a drill without a scenario or layout")
	}
	yml, err := scenarios.Marshal(d.Scenario)
	if err != nil {
		return nil, err
	}
	return json.Marshal(drillJSON{
		Source: d.Scenario.Source, ScenarioYAML: string(yml), Key: d.Layout.Key(), Target: d.Target,
		Segment: d.segment(), Start: d.Start, RampRate: d.RampRate, MaxDialing: d.MaxDialing, SourceOffset: d.SourceOffset,
	})
}

// UnmarshalJSON reads a drill MarshalJSON wrote.
func (d *Drill) UnmarshalJSON(b []byte) error {
	var j drillJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Key == nil {
		return errors.New("sim: a drill without its key")
	}
	sc, err := scenarios.Parse(j.Source, []byte(j.ScenarioYAML))
	if err != nil {
		return err
	}
	nd, err := NewDrill(sc, j.Key, j.Target)
	if err != nil {
		return err
	}
	nd.Segment, nd.Start, nd.RampRate, nd.MaxDialing, nd.SourceOffset = j.Segment, j.Start, j.RampRate, j.MaxDialing, j.SourceOffset
	*d = nd
	return nil
}
