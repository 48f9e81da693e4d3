package scenarios

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in scenario files as a Go duration
// string with a unit: "250ms", "10s", "2m".
type Duration struct{ time.Duration }

// String returns d the way a scenario file writes it, without the zero
// parts time.Duration prints ("1m", not "1m0s").
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalYAML writes d back as its duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes d as its duration string, so that JSON reports show
// "10s" rather than nanoseconds.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration string; a unit is required except for "0".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

var errNoUnit = errors.New("a duration needs a unit")

// parseDuration is time.ParseDuration that refuses bare numbers other than
// 0: "30" could mean seconds or milliseconds, and guessing wrong by a factor
// of a thousand makes a drill meaningless.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if s != "" && (s[len(s)-1] == '.' || s[len(s)-1] >= '0' && s[len(s)-1] <= '9') {
		return 0, errNoUnit
	}
	return time.ParseDuration(s)
}

// Scenario is one drill: a seeded fleet, its behaviour, the phases it goes
// through and the thresholds that fail it. Get one from Parse or Load (which
// apply defaults and validate) or start from Defaults when building one in
// code, and call Validate before running it.
type Scenario struct {
	// Name names the drill in reports; 1–64 characters from [A-Za-z0-9._-].
	Name string `yaml:"name" json:"name"`
	// Description is one line shown by `herd scenarios`.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Source is where the scenario came from: "builtin:NAME" or the file
	// path. Parse and Load set it; errors name it.
	Source string `yaml:"-" json:"source,omitempty"`

	Fleet     FleetSpec     `yaml:"fleet" json:"fleet"`
	Camera    CameraSpec    `yaml:"camera" json:"camera"`
	Reconnect ReconnectSpec `yaml:"reconnect" json:"reconnect"`
	App       AppSpec       `yaml:"app" json:"app"`
	Audit     AuditSpec     `yaml:"audit" json:"audit"`

	// Phases run in order; at least one is required.
	Phases []Phase `yaml:"phases" json:"phases"`
	// Thresholds fail the drill when any of them does not hold.
	Thresholds []Threshold `yaml:"thresholds,omitempty" json:"thresholds,omitempty"`
	// AllowViolations lets a drill pass despite oracle violations (cross-
	// account data, lost events...). It is false by default because a
	// violation is a bug in the target, whatever the thresholds say.
	AllowViolations bool `yaml:"allow_violations" json:"allow_violations"`

	// lines maps field paths ("phases[1].down") to source lines, so that
	// Validate can point at the line it complains about.
	lines map[string]int
}

// FleetSpec sizes the simulated fleet. Accounts own 1 to about 16 cameras
// each; the seed fixes the layout and every random choice of the drill.
type FleetSpec struct {
	// Cameras is the number of simulated cameras (default 1000).
	Cameras int `yaml:"cameras" json:"cameras"`
	// Seed seeds the fleet layout and every random draw (default 1): the
	// same seed drills the same fleet the same way.
	Seed uint64 `yaml:"seed" json:"seed"`
}

// CameraSpec is how each simulated camera behaves.
type CameraSpec struct {
	// EventsPerMinute is the mean rate of a camera's Poisson event process
	// (default 6).
	EventsPerMinute float64 `yaml:"events_per_minute" json:"events_per_minute"`
	// ThumbBytes is the size of an event's thumbnail (default 1024, 64 to
	// 512 KiB; the upper bound keeps a base64 event frame under the 1 MiB
	// herd/1 frame limit).
	ThumbBytes int `yaml:"thumb_bytes" json:"thumb_bytes"`
	// FrameBytes is the size of a live-view frame (default 4096, 1 to
	// 512 KiB for the same reason).
	FrameBytes int `yaml:"frame_bytes" json:"frame_bytes"`
	// Backlog is how many events a camera keeps while offline and uploads
	// after reconnecting (default 20); older ones are dropped, as on a
	// camera with little flash.
	Backlog int `yaml:"backlog" json:"backlog"`
	// Kinds are the event kinds drawn uniformly (default motion, person,
	// package).
	Kinds []string `yaml:"kinds,flow" json:"kinds"`
	// MQTT is the camera's MQTT session, when the drill runs over MQTT.
	MQTT MQTTSpec `yaml:"mqtt" json:"mqtt"`
}

// MQTTSpec is a camera's MQTT session (herd/1 over MQTT).
type MQTTSpec struct {
	// Keepalive is the keep-alive the camera asks for (default 30s): a
	// silent outage is noticed by the broker after one and a half of it.
	Keepalive Duration `yaml:"keepalive" json:"keepalive"`
	// CleanStart false asks for a persistent session (MQTT 5: Clean Start
	// 0 with SessionExpiry; 3.1.1: Clean Session 0). Default true.
	CleanStart bool `yaml:"clean_start" json:"clean_start"`
	// SessionExpiry is how long the broker keeps a persistent session
	// (MQTT 5; default 0, with clean_start true).
	SessionExpiry Duration `yaml:"session_expiry" json:"session_expiry"`
}

// Reconnect policies, the values of ReconnectSpec.Policy. The delay before
// attempt n (counting from 0) is:
const (
	PolicyImmediate          = "immediate"           // 0: the herd at its worst
	PolicyFixed              = "fixed"               // Base
	PolicyExponential        = "exponential"         // min(Cap, Base·2ⁿ), no jitter
	PolicyFullJitter         = "full-jitter"         // uniform(0, min(Cap, Base·2ⁿ))
	PolicyEqualJitter        = "equal-jitter"        // e/2 + uniform(0, e/2) with e = min(Cap, Base·2ⁿ)
	PolicyDecorrelatedJitter = "decorrelated-jitter" // min(Cap, uniform(Base, 3·previous delay))
)

// policies lists the reconnect policies in the order the docs give them.
var policies = []string{PolicyImmediate, PolicyFixed, PolicyExponential, PolicyFullJitter, PolicyEqualJitter, PolicyDecorrelatedJitter}

// ReconnectSpec is how a camera that lost its connection comes back.
type ReconnectSpec struct {
	// Policy is one of the Policy constants (default full-jitter, as AWS's
	// "Exponential Backoff and Jitter" recommends).
	Policy string `yaml:"policy" json:"policy"`
	// Base is the first delay (default 1s).
	Base Duration `yaml:"base" json:"base"`
	// Cap bounds every delay (default 30s).
	Cap Duration `yaml:"cap" json:"cap"`
	// ResetAfter is how long a connection must stay up before the attempt
	// count goes back to zero (default 30s); shorter-lived connections keep
	// backing off, so a target that accepts and then drops does not get a
	// fresh herd each time.
	ResetAfter Duration `yaml:"reset_after" json:"reset_after"`
	// HonourRetryAfter makes cameras wait at least as long as a refusal's
	// Retry-After header or a nack's retry_after_ms asks (default true).
	HonourRetryAfter bool `yaml:"honour_retry_after" json:"honour_retry_after"`
	// Honour1013 makes a camera whose socket the target closed with 1013
	// (try again later) wait at least Base before its next attempt, or its
	// policy's delay when that is longer (default true): the target said it
	// is shedding load, and coming straight back is what it asked not to
	// happen. When false, 1013 is treated like any other drop.
	Honour1013 bool `yaml:"honour_1013" json:"honour_1013"`
}

// AppSpec is how the app users (one per account) use the Events tab.
type AppSpec struct {
	// Active is the fraction of accounts with the app open during steady
	// state, polling their Events tab (default 0.1).
	Active float64 `yaml:"active" json:"active"`
	// Poll is the interval between an open app's Events-tab requests
	// (default 5s).
	Poll Duration `yaml:"poll" json:"poll"`
	// Surge is the fraction of accounts that open the app when an outage
	// ends, to see what they missed (default 0.8).
	Surge float64 `yaml:"surge" json:"surge"`
	// SurgeWindow spreads the surge's app openings over this window after
	// the outage ends (default 2s).
	SurgeWindow Duration `yaml:"surge_window" json:"surge_window"`
	// Thumbnails is the fraction of newly listed events whose thumbnail the
	// app fetches (default 0.5).
	Thumbnails float64 `yaml:"thumbnails" json:"thumbnails"`
	// Live is the fraction of app openings that ask for live view (default
	// 0.05).
	Live float64 `yaml:"live" json:"live"`
	// Probes is the fraction of app requests that deliberately ask for
	// another account's data, which the target must refuse (default 0.02).
	Probes float64 `yaml:"probes" json:"probes"`
	// PageSize is the Events-tab page size, the listing's limit (default 50,
	// 1 to 500).
	PageSize int `yaml:"page_size" json:"page_size"`
}

// AuditSpec is what the final audit checks besides every account's whole
// Events tab.
type AuditSpec struct {
	// Thumbnails is the share of listed events whose thumbnail the audit
	// fetches and checks byte for byte (default 1: every one). A leak that
	// shows only in the bytes — the metadata right, the picture a
	// stranger's — is found only here. Lower it for very large fleets; the
	// sample is drawn from the seed, and the result gives the coverage.
	Thumbnails float64 `yaml:"thumbnails" json:"thumbnails"`
}

// Phase kinds, the values of Phase.Kind.
const (
	KindSteady = "steady" // cameras connected, events flowing, apps polling
	KindOutage = "outage" // some or all cameras lose their connection
	KindSettle = "settle" // after an outage: the herd comes back, recovery is measured
)

// How an outage picks its cameras, the values of Phase.Select.
const (
	SelectRandom = "random" // a seeded random share of the cameras
	SelectZone   = "zone"   // every camera of the accounts in one zone
)

// How an outage cuts a camera's connection, the values of Phase.Mode.
const (
	ModeReset  = "reset"  // TCP RST: both sides learn at once
	ModeClose  = "close"  // a clean WebSocket close, as before a reboot
	ModeSilent = "silent" // the camera stops talking and abandons the socket: a half-open connection the target must detect
)

// Phase is one stage of a drill. The outage fields are zero in other kinds.
type Phase struct {
	// Name names the phase in reports (default: its kind, made unique with
	// a suffix such as "steady-2").
	Name string `yaml:"name" json:"name"`
	// Kind is one of the Kind constants.
	Kind string `yaml:"kind" json:"kind"`
	// Duration is how long the phase lasts (required, > 0).
	Duration Duration `yaml:"duration" json:"duration"`

	// Fraction is the share of cameras that go offline, 0 < f <= 1
	// (default 1).
	Fraction float64 `yaml:"fraction,omitempty" json:"fraction,omitempty"`
	// Select is how the cameras are chosen (default random). With zone,
	// accounts are hashed into Zones() zones and one zone fails together,
	// as when a cloud availability zone goes: all cameras of an account
	// share its fate.
	Select string `yaml:"select,omitempty" json:"select,omitempty"`
	// Mode is how connections are cut (default reset).
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Down is how long each affected camera stays offline (default
	// Duration); Stagger+Down must fit in Duration, so that every camera is
	// back before the next phase.
	Down Duration `yaml:"down,omitempty" json:"down,omitempty"`
	// Stagger spreads the affected cameras' going-down instants over this
	// window from the phase's start (a rolling reboot); 0 means all at once.
	Stagger Duration `yaml:"stagger,omitempty" json:"stagger,omitempty"`

	// Repeat runs the phase this many times back to back (default 1); an
	// outage repeated with Down < Duration is a flapping network, and each
	// repetition draws its random cameras afresh.
	Repeat int `yaml:"repeat" json:"repeat"`

	// Line is the phase's line in its file, 0 for a phase built in code.
	Line int `yaml:"-" json:"-"`
}

// Zones is the number of zones a zone-select outage divides the accounts
// into: 1/Fraction rounded to the nearest whole number, at least 1.
func (p Phase) Zones() int {
	if !(p.Fraction > 0) {
		return 1
	}
	z := math.Round(1 / p.Fraction)
	if z < 1 {
		return 1
	}
	if z > maxZones {
		return maxZones
	}
	return int(z)
}

// Defaults returns a scenario with every section at its default and no
// phases, a base for scenarios built in code.
func Defaults() *Scenario {
	return &Scenario{
		Fleet: FleetSpec{Cameras: 1000, Seed: 1},
		Camera: CameraSpec{
			EventsPerMinute: 6,
			ThumbBytes:      1024,
			FrameBytes:      4096,
			Backlog:         20,
			Kinds:           []string{"motion", "person", "package"},
			MQTT:            MQTTSpec{Keepalive: Duration{30 * time.Second}, CleanStart: true},
		},
		Reconnect: ReconnectSpec{
			Policy:           PolicyFullJitter,
			Base:             Duration{time.Second},
			Cap:              Duration{30 * time.Second},
			ResetAfter:       Duration{30 * time.Second},
			HonourRetryAfter: true,
			Honour1013:       true,
		},
		App: AppSpec{
			Active:      0.1,
			Poll:        Duration{5 * time.Second},
			Surge:       0.8,
			SurgeWindow: Duration{2 * time.Second},
			Thumbnails:  0.5,
			Live:        0.05,
			Probes:      0.02,
			PageSize:    50,
		},
		Audit: AuditSpec{Thumbnails: 1},
	}
}

// Marshal encodes s as scenario YAML, with every default, override and
// time scale applied: Parse reads it back to the same scenario (a test
// checks it). Results carry it (scenario_yaml), and workers get their
// scenario this way.
func Marshal(s *Scenario) ([]byte, error) { return yaml.Marshal(s) }

// Total is how long the drill's phases last: the sum of each phase's
// duration times its repeats. It saturates rather than overflows.
func (s *Scenario) Total() time.Duration {
	var total time.Duration
	for _, p := range s.Phases {
		total = addSat(total, mulSat(p.Duration.Duration, p.Repeat))
	}
	return total
}

func mulSat(d time.Duration, n int) time.Duration {
	if d <= 0 || n <= 0 {
		return 0
	}
	if d > math.MaxInt64/time.Duration(n) {
		return math.MaxInt64
	}
	return d * time.Duration(n)
}

func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Scaled returns a copy of s with every duration multiplied by f: phase
// durations, downs and staggers, the app's poll interval and surge window,
// and the reconnect policy's base, cap and reset-after. It is how a drill is
// shortened for a quick check or stretched into a soak.
//
// Thresholds on time are not scaled: they are promises about the target
// ("99% of cameras are back within 60s"), and a drill run faster or slower
// does not change what the target promised. A nonzero duration stays at
// least 1ns, so scaling a valid scenario down (f <= 1) keeps it valid;
// scaling up may pass the 7-day limit, so validate the result. Scaled
// panics unless f is finite and > 0 (a programming error, like a negative
// slice length).
func (s *Scenario) Scaled(f float64) *Scenario {
	if !(f > 0) || math.IsInf(f, 0) {
		panic(fmt.Sprintf("scenarios: Scaled(%v): the factor must be a finite number > 0", f))
	}
	c := *s
	c.Camera.Kinds = append([]string(nil), s.Camera.Kinds...)
	c.Thresholds = append([]Threshold(nil), s.Thresholds...)
	c.Phases = append([]Phase(nil), s.Phases...)
	scale := func(d *Duration) { d.Duration = scaleDuration(d.Duration, f) }
	for i := range c.Phases {
		p := &c.Phases[i]
		scale(&p.Duration)
		scale(&p.Down)
		scale(&p.Stagger)
		// Rounding each duration separately may push Stagger+Down past
		// Duration by a nanosecond; take it from the stagger.
		if p.Stagger.Duration+p.Down.Duration > p.Duration.Duration && p.Down.Duration <= p.Duration.Duration {
			p.Stagger.Duration = p.Duration.Duration - p.Down.Duration
		}
	}
	scale(&c.App.Poll)
	scale(&c.App.SurgeWindow)
	scale(&c.Reconnect.Base)
	scale(&c.Reconnect.Cap)
	scale(&c.Reconnect.ResetAfter)
	return &c
}

func scaleDuration(d time.Duration, f float64) time.Duration {
	if d == 0 {
		return 0
	}
	v := math.Round(float64(d) * f)
	switch {
	case v >= math.MaxInt64:
		return math.MaxInt64
	case v <= math.MinInt64:
		return math.MinInt64
	case v == 0 && d > 0:
		return 1
	case v == 0 && d < 0:
		return -1
	}
	return time.Duration(v)
}

// Override is what a command line changes of a scenario: herd run's
// --time-scale, --cameras, --seed and --policy.
type Override struct {
	TimeScale float64 // multiplies every duration: more than 0, 1 for none
	Cameras   *int
	Seed      *uint64
	Policy    string // "" leaves the scenario's
}

// With returns s with o applied, and validated: an error names the flag
// whose value it refuses, or holds every problem of the result.
func (s *Scenario) With(o Override) (*Scenario, error) {
	if !(o.TimeScale > 0) || math.IsInf(o.TimeScale, 0) {
		return nil, fmt.Errorf("--time-scale must be positive, got %v", o.TimeScale)
	}
	if o.Cameras != nil && *o.Cameras < 1 {
		return nil, fmt.Errorf("--cameras %d: a fleet needs at least one camera", *o.Cameras)
	}
	c := s.Scaled(o.TimeScale) // a copy, even at 1
	if o.Cameras != nil {
		c.Fleet.Cameras = *o.Cameras
	}
	if o.Seed != nil {
		c.Fleet.Seed = *o.Seed
	}
	if o.Policy != "" {
		if !slices.Contains(policies, o.Policy) {
			return nil, fmt.Errorf("--policy %q: want one of %s", o.Policy, strings.Join(policies, ", "))
		}
		c.Reconnect.Policy = o.Policy
	}
	if errs := c.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}
