package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/herd-drill/herd/catalog"
)

// Bounds that Validate enforces. They are wide: they catch a slip of the
// keyboard (a fleet of 10^9 cameras, a 30-day phase), not unusual drills.
const (
	maxCameras   = 10_000_000
	maxEventRate = 600 // events per minute per camera: ten a second
	minThumb     = 64
	maxBlob      = 512 << 10 // thumbnails and frames: base64 keeps an event frame under herd/1's 1 MiB
	maxBacklog   = 100_000
	maxKinds     = 64
	maxPhases    = 1000
	maxRepeat    = 10_000
	maxZones     = 1000
	maxTotal     = 7 * 24 * time.Hour
	maxPageSize  = 500 // herd/1's largest Events-tab page
)

var (
	kinds   = []string{KindSteady, KindOutage, KindSettle}
	selects = []string{SelectRandom, SelectZone}
	modes   = []string{ModeReset, ModeClose, ModeSilent}
)

// Validate checks s and returns every problem found, each an *Error that
// names s.Source, the line (when s came from a file) and the field. Parse
// calls it; call it yourself on a scenario built or changed in code.
func (s *Scenario) Validate() []error {
	v := &validator{s: s}
	v.top()
	v.fleet()
	v.camera()
	v.reconnect()
	v.app()
	v.phases()
	v.thresholds()
	return v.errs
}

type validator struct {
	s    *Scenario
	errs []error
}

func (v *validator) add(field, msg, remedy string) {
	v.errs = append(v.errs, &Error{File: v.s.Source, Line: v.s.line(field), Field: field, Msg: msg, Remedy: remedy})
}

// line is the source line of field: its own when the file wrote it,
// otherwise its phase's or threshold's, otherwise its section's.
func (s *Scenario) line(field string) int {
	if l, ok := s.lines[field]; ok {
		return l
	}
	for _, list := range []string{"phases[", "thresholds["} {
		rest, ok := strings.CutPrefix(field, list)
		if !ok {
			continue
		}
		end := strings.IndexByte(rest, ']')
		i, err := strconv.Atoi(rest[:max(end, 0)])
		switch {
		case err != nil:
		case list == "phases[" && i < len(s.Phases) && s.Phases[i].Line > 0:
			return s.Phases[i].Line
		case list == "thresholds[" && i < len(s.Thresholds) && s.Thresholds[i].Line > 0:
			return s.Thresholds[i].Line
		}
	}
	for f := field; ; {
		i := strings.LastIndexAny(f, ".[")
		if i <= 0 {
			return 0
		}
		f = f[:i]
		if l, ok := s.lines[f]; ok {
			return l
		}
	}
}

// inRange reports lo <= x <= hi; NaN is in no range.
func inRange(x, lo, hi float64) bool { return lo <= x && x <= hi }

func (v *validator) intRange(field string, x, lo, hi int, remedy string) {
	if x < lo || x > hi {
		v.add(field, fmt.Sprintf("must be between %d and %d, got %d", lo, hi, x), remedy)
	}
}

func (v *validator) fraction(field string, x float64) {
	if !inRange(x, 0, 1) {
		v.add(field, fmt.Sprintf("must be a fraction between 0 and 1, got %g", x), "write e.g. 0.1 for one in ten")
	}
}

func (v *validator) enum(field, got string, values []string) {
	for _, x := range values {
		if got == x {
			return
		}
	}
	if got == "" {
		v.add(field, "missing", "use "+oneOf(values))
		return
	}
	v.add(field, fmt.Sprintf("unknown value %q", got), didYouMean(got, values))
}

// validName reports whether s can name a scenario or phase: 1–64 characters
// from [A-Za-z0-9._-], safe in reports and file names.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (v *validator) name(field, name, example string) {
	switch {
	case name == "":
		v.add(field, "missing", "add "+example)
	case !validName(name):
		v.add(field, fmt.Sprintf("%q is not a name", name), "use 1 to 64 letters, digits, '.', '_' or '-', e.g. "+example)
	}
}

func (v *validator) top() { v.name("name", v.s.Name, "name: my-drill") }

func (v *validator) fleet() {
	v.intRange("fleet.cameras", v.s.Fleet.Cameras, 1, maxCameras, "shard bigger fleets over several herd processes")
}

func (v *validator) camera() {
	c := v.s.Camera
	if !inRange(c.EventsPerMinute, 0, maxEventRate) {
		v.add("camera.events_per_minute", fmt.Sprintf("must be between 0 and %d, got %g", maxEventRate, c.EventsPerMinute), "a busy camera records a few events a minute, e.g. 6")
	}
	v.intRange("camera.thumb_bytes", c.ThumbBytes, minThumb, maxBlob, "thumbnails are a few KiB, e.g. 1024")
	v.intRange("camera.frame_bytes", c.FrameBytes, 1, maxBlob, "a live frame is a few KiB, e.g. 4096")
	v.intRange("camera.backlog", c.Backlog, 0, maxBacklog, "a camera keeps a few dozen events while offline, e.g. 20")
	if k := c.MQTT.Keepalive.Duration; k < time.Second || k > 18*time.Hour || k%time.Second != 0 {
		v.add("camera.mqtt.keepalive", fmt.Sprintf("must be whole seconds from 1s to 18h, got %s", c.MQTT.Keepalive), "MQTT counts keep-alive in seconds, e.g. keepalive: 30s")
	}
	if e := c.MQTT.SessionExpiry.Duration; e < 0 || e%time.Second != 0 || e > time.Duration(1<<32-1)*time.Second {
		v.add("camera.mqtt.session_expiry", fmt.Sprintf("must be whole seconds from 0, got %s", c.MQTT.SessionExpiry), "e.g. session_expiry: 5m")
	} else if e > 0 && c.MQTT.CleanStart {
		v.add("camera.mqtt.session_expiry", "a session expiry with clean_start true: a clean session is not kept", "set clean_start: false for a persistent session")
	}
	switch {
	case len(c.Kinds) == 0:
		v.add("camera.kinds", "no event kinds", "list at least one, e.g. kinds: [motion, person, package]")
	case len(c.Kinds) > maxKinds:
		v.add("camera.kinds", fmt.Sprintf("%d kinds, more than %d", len(c.Kinds), maxKinds), "list fewer kinds")
	}
	seen := map[string]bool{}
	for i, k := range c.Kinds {
		field := fmt.Sprintf("camera.kinds[%d]", i)
		switch {
		case !validKind(k):
			v.add(field, fmt.Sprintf("%q is not a kind", k), "use 1 to 64 letters, digits or . _ : / -")
		case seen[k]:
			v.add(field, fmt.Sprintf("%q listed twice", k), "list each kind once")
		}
		seen[k] = true
	}
}

// validKind reports whether k is a herd/1 identifier, since kinds travel
// in event frames.
func validKind(k string) bool {
	if len(k) == 0 || len(k) > 64 {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:/-", c) >= 0) {
			return false
		}
	}
	return true
}

func (v *validator) reconnect() {
	r := v.s.Reconnect
	v.enum("reconnect.policy", r.Policy, policies)
	immediate := r.Policy == PolicyImmediate
	switch {
	case r.Base.Duration < 0 || r.Base.Duration == 0 && !immediate:
		v.add("reconnect.base", "must be more than 0, got "+r.Base.String(), "write e.g. base: 1s, or use policy: immediate")
	case r.Cap.Duration < r.Base.Duration:
		v.add("reconnect.cap", fmt.Sprintf("cap %s is below base %s", r.Cap, r.Base), "make cap at least base, e.g. cap: 30s")
	}
	if r.ResetAfter.Duration < 0 {
		v.add("reconnect.reset_after", "must not be negative, got "+r.ResetAfter.String(), "write e.g. reset_after: 30s")
	}
}

func (v *validator) app() {
	a := v.s.App
	v.fraction("app.active", a.Active)
	v.fraction("app.surge", a.Surge)
	v.fraction("app.thumbnails", a.Thumbnails)
	v.fraction("app.live", a.Live)
	v.fraction("app.probes", a.Probes)
	if a.Poll.Duration <= 0 {
		v.add("app.poll", "must be more than 0, got "+a.Poll.String(), "write e.g. poll: 5s")
	}
	if a.SurgeWindow.Duration < 0 {
		v.add("app.surge_window", "must not be negative, got "+a.SurgeWindow.String(), "write e.g. surge_window: 2s, or 0 for all at once")
	}
	v.intRange("app.page_size", a.PageSize, 1, maxPageSize, "herd/1 pages hold 1 to 500 events, e.g. 50")
	v.fraction("audit.thumbnails", v.s.Audit.Thumbnails)
}

func (v *validator) phases() {
	ps := v.s.Phases
	switch {
	case len(ps) == 0:
		v.add("phases", "no phases", "add at least one, e.g. phases: [{kind: steady, duration: 30s}]")
		return
	case len(ps) > maxPhases:
		v.add("phases", fmt.Sprintf("%d phases, more than %d", len(ps), maxPhases), "use repeat: to run a phase many times")
		return
	}
	names := map[string]int{}
	for i, p := range ps {
		v.phase(fmt.Sprintf("phases[%d]", i), p)
		if p.Name == "" {
			continue
		}
		if j, dup := names[p.Name]; dup {
			v.add(fmt.Sprintf("phases[%d].name", i), fmt.Sprintf("%q is also the name of phases[%d]", p.Name, j), "give each phase its own name")
		}
		names[p.Name] = i
	}
	if t := v.s.Total(); t > maxTotal {
		v.add("phases", fmt.Sprintf("the drill lasts %s, more than %s", Duration{t}, Duration{maxTotal}), "shorten the phases or their repeats")
	}
}

func (v *validator) phase(pp string, p Phase) {
	f := func(name string) string { return pp + "." + name }
	v.enum(f("kind"), p.Kind, kinds)
	if p.Kind != "" && (p.Kind == KindSteady || p.Kind == KindOutage || p.Kind == KindSettle) {
		v.name(f("name"), p.Name, "name: "+p.Kind)
	} else if p.Name != "" && !validName(p.Name) {
		v.name(f("name"), p.Name, "name: outage")
	}
	if p.Duration.Duration <= 0 {
		if _, written := v.s.lines[f("duration")]; p.Duration.Duration == 0 && !written {
			v.add(f("duration"), "missing", "every phase needs one, e.g. duration: 10s")
		} else {
			v.add(f("duration"), "must be more than 0, got "+p.Duration.String(), "write e.g. duration: 10s")
		}
	}
	v.intRange(f("repeat"), p.Repeat, 1, maxRepeat, "write e.g. repeat: 3, or leave it out to run the phase once")
	switch p.Kind {
	case KindOutage:
	case KindSteady, KindSettle:
		// Outage fields on another kind are a misplaced line or a wrong
		// kind; ignoring them would drill something other than intended.
		set := map[string]bool{
			"fraction": p.Fraction != 0, "select": p.Select != "", "mode": p.Mode != "",
			"down": p.Down.Duration != 0, "stagger": p.Stagger.Duration != 0,
		}
		for _, name := range []string{"fraction", "select", "mode", "down", "stagger"} {
			if _, written := v.s.lines[f(name)]; set[name] || written {
				v.add(f(name), "applies only to outage phases", "remove it, or make this phase kind: outage")
			}
		}
		return
	default:
		return // the kind is wrong, and judging the rest by a guess would mislead
	}
	if !(p.Fraction > 0 && p.Fraction <= 1) {
		v.add(f("fraction"), fmt.Sprintf("must be more than 0 and at most 1, got %g", p.Fraction), "write e.g. fraction: 0.5 for half the cameras")
	}
	v.enum(f("select"), p.Select, selects)
	v.enum(f("mode"), p.Mode, modes)
	if p.Select == SelectZone && p.Fraction > 0 && p.Fraction <= 1 {
		z := p.Zones()
		if math.Abs(1/float64(z)-p.Fraction) > 0.1*p.Fraction {
			v.add(f("fraction"), fmt.Sprintf("select: zone fails one of 1/fraction zones, and %g is not close to 1/N", p.Fraction),
				"use a fraction such as 1, 0.5, 0.34, 0.25 or 0.2, or select: random")
		}
	}
	if p.Duration.Duration <= 0 {
		return // down and stagger are judged against the duration
	}
	switch {
	case p.Down.Duration <= 0:
		v.add(f("down"), "must be more than 0, got "+p.Down.String(), "write e.g. down: 5s, or leave it out to stay down the whole phase")
	case p.Down.Duration > p.Duration.Duration:
		v.add(f("down"), fmt.Sprintf("down %s is longer than the phase's duration %s", p.Down, p.Duration), "shorten down, or lengthen duration")
	}
	switch {
	case p.Stagger.Duration < 0:
		v.add(f("stagger"), "must not be negative, got "+p.Stagger.String(), "write e.g. stagger: 30s, or 0 for all at once")
	case p.Down.Duration > 0 && p.Down.Duration <= p.Duration.Duration && p.Stagger.Duration > p.Duration.Duration-p.Down.Duration:
		v.add(f("stagger"), fmt.Sprintf("stagger %s + down %s is longer than the phase's duration %s, so the last cameras would still be down when it ends", p.Stagger, p.Down, p.Duration),
			fmt.Sprintf("make duration at least %s, or shorten stagger or down", Duration{addSat(p.Stagger.Duration, p.Down.Duration)}))
	}
}

// impossible says why no measured value of m can meet t ("" when one can):
// every metric is at least 0, a ratio at most 1, a count a whole number.
func impossible(t Threshold, m MetricInfo) string {
	most, what := math.Inf(1), "a count is never below 0"
	switch m.Unit {
	case UnitRatio:
		most, what = 1, "a ratio lies between 0 and 1"
	case UnitMillis:
		what = "a time is never below 0"
	}
	switch {
	case t.Op == "<" && t.Value <= 0:
		return what
	case t.Op == ">" && t.Value >= most:
		return what
	case m.Unit == UnitCount && t.Op == "==" && t.Value != math.Trunc(t.Value):
		return "a count is a whole number"
	}
	return ""
}

// example is a threshold one could mean for m.
func example(m MetricInfo) string {
	switch m.Unit {
	case UnitRatio:
		return m.Name + " < 1%"
	case UnitMillis:
		return m.Name + " < 60s"
	}
	return m.Name + " == 0"
}

func (v *validator) thresholds() {
	outage := false
	for _, p := range v.s.Phases {
		outage = outage || p.Kind == KindOutage
	}
	for i, t := range v.s.Thresholds {
		field := fmt.Sprintf("thresholds[%d]", i)
		m, ok := LookupMetric(t.Metric)
		if !ok {
			remedy := "see herd scenarios metrics for the list"
			if s := suggest(t.Metric, catalog.MetricNames()); s != "" {
				remedy = "did you mean " + s + "? " + remedy
			}
			v.add(field, fmt.Sprintf("unknown metric %q", t.Metric), remedy)
			continue
		}
		validOp := false
		for _, op := range ops {
			validOp = validOp || t.Op == op
		}
		if !validOp {
			v.add(field, fmt.Sprintf("unknown comparison %q", t.Op), "use one of < <= > >= == !=")
		}
		switch {
		case math.IsNaN(t.Value) || math.IsInf(t.Value, 0) || t.Value < 0:
			v.add(field, fmt.Sprintf("value %g is not a finite number >= 0", t.Value), "metrics are never negative")
		case m.Unit == UnitRatio && t.Value > 1:
			v.add(field, fmt.Sprintf("%s is a ratio between 0 and 1, got %g", t.Metric, t.Value), "write a percentage or a fraction, e.g. 5% or 0.05")
		case validOp:
			if why := impossible(t, m); why != "" {
				v.add(field, fmt.Sprintf("%s can never hold: %s", t, why), "a threshold that no run can meet fails every drill; write the promise you mean, e.g. "+example(m))
			}
		}
		if strings.HasPrefix(t.Metric, "recovery.") && !outage {
			v.add(field, t.Metric+" measures recovery from an outage, and no phase is an outage", "add a phase with kind: outage, or drop this threshold")
		}
	}
}
