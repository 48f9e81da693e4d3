package scenarios

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// minimal is the smallest valid scenario; most error cases add one mistake.
const minimal = "phases: [{kind: steady, duration: 1s}]\n"

func TestParseErrors(t *testing.T) {
	const known = "known fields: name, description, fleet, camera, reconnect, app, audit, phases, thresholds, allow_violations"
	tests := []struct {
		name string
		yaml string
		want []string // every error, in order
	}{
		{"empty", "", []string{
			"t.yaml: the file is empty (start from a built-in: herd scenarios show aws-outage)"}},
		{"only comments", "# nothing here\n", []string{
			"t.yaml: the file is empty (start from a built-in: herd scenarios show aws-outage)"}},
		{"syntax", "phases: [\n  {kind: steady\n", []string{
			`t.yaml:2: did not find expected ',' or '}' (close the [ or { opened on this line, or put each item on its own line without brackets)`}},
		{"unclosed flow sequence", "name: x\nthresholds: [violations.total == 0\nphases: []\n", []string{
			`t.yaml:2: did not find expected ',' or ']' (close the [ or { opened on this line, or put each item on its own line without brackets)`}},
		{"misindented list item", "name: x\nphases:\n  - {kind: steady, duration: 1s}\n - {kind: settle, duration: 1s}\n", []string{
			`t.yaml:4: did not find expected key (fix the YAML: check the indentation, and quote values that contain ": " or " #")`}},
		{"tab on line 4", "name: x\nfleet:\n  cameras: 1\n\tseed: 2\n", []string{
			`t.yaml:4: a tab in the indentation (indent with spaces: YAML does not allow tabs there)`}},
		{"tab indentation", "fleet:\n\tcameras: 1\n", []string{
			`t.yaml:2: found character that cannot start any token (fix the YAML: check the indentation, and quote values that contain ": " or " #")`}},
		{"top level list", "- kind: steady\n", []string{
			"t.yaml:1: a scenario is a mapping of fields, got a list (write fields such as name:, fleet: and phases:, as herd scenarios show aws-outage does)"}},
		{"second document", minimal + "---\nname: other\n", []string{
			"t.yaml:3: a second YAML document in the file (keep one scenario per file, without --- separators)"}},
		{"too big", minimal + "#" + strings.Repeat("x", MaxFileSize), []string{
			"t.yaml: the file is 1048616 bytes, more than the 1048576 a scenario may have (a scenario is a few dozen lines of YAML; check the file name)"}},
		{"unknown top field with suggestion", minimal + "threshold: []\n", []string{
			"t.yaml:2: threshold: unknown field (did you mean thresholds?)"}},
		{"unknown top field without suggestion", minimal + "xyzzy: 1\n", []string{
			"t.yaml:2: xyzzy: unknown field (" + known + ")"}},
		{"camelCase field", minimal + "camera: {eventsPerMinute: 3}\n", []string{
			"t.yaml:2: camera.eventsPerMinute: unknown field (did you mean events_per_minute?)"}},
		{"misspelt section masks its missing twin", "phase: [{kind: steady, duration: 1s}]\n", []string{
			"t.yaml:1: phase: unknown field (did you mean phases?)"}},
		{"duplicate field", minimal + "name: a\nname: b\n", []string{
			"t.yaml:3: name: given twice (first on line 2) (keep one of them)"}},
		{"section not a mapping", minimal + "fleet: 10\n", []string{
			`t.yaml:2: fleet: want a mapping of fields, got "10" (indent fields such as cameras: under fleet:)`}},
		{"int as word", minimal + "fleet: {cameras: many}\n", []string{
			`t.yaml:2: fleet.cameras: want a whole number, got "many" (write e.g. cameras: 1000)`}},
		{"int quoted", minimal + "fleet: {cameras: \"10\"}\n", []string{
			`t.yaml:2: fleet.cameras: want a whole number, got "10" (remove the quotes)`}},
		{"int with fraction", minimal + "camera: {backlog: 1.5}\n", []string{
			`t.yaml:2: camera.backlog: want a whole number, got "1.5" (write e.g. backlog: 20)`}},
		{"negative seed", minimal + "fleet: {seed: -1}\n", []string{
			`t.yaml:2: fleet.seed: want a whole number >= 0, got "-1" (write e.g. seed: 1)`}},
		{"yes is not a bool", minimal + "reconnect: {honour_1013: yes}\n", []string{
			`t.yaml:2: reconnect.honour_1013: want true or false, got "yes" (write e.g. true)`}},
		{"null value", minimal + "name:\n", []string{
			"t.yaml:2: name: want a string, got nothing (write e.g. name: my-drill)"}},
		{"duration without unit", minimal + "app: {poll: 5}\n", []string{
			"t.yaml:2: app.poll: duration 5 has no unit (write e.g. poll: 5s; units are ms, s, m and h)"}},
		{"bad duration", minimal + "app: {poll: 5 s}\n", []string{
			`t.yaml:2: app.poll: bad duration "5 s" (write e.g. poll: 5s; units are ms, s, m and h)`}},
		{"fraction out of range", minimal + "app:\n  active: 1.5\n  probes: .nan\n", []string{
			"t.yaml:3: app.active: must be a fraction between 0 and 1, got 1.5 (write e.g. 0.1 for one in ten)",
			"t.yaml:4: app.probes: must be a fraction between 0 and 1, got NaN (write e.g. 0.1 for one in ten)"}},
		{"ranges", minimal + "fleet: {cameras: 0}\ncamera: {thumb_bytes: 10, frame_bytes: 600000, events_per_minute: 1000}\napp: {page_size: 501}\n", []string{
			"t.yaml:2: fleet.cameras: must be between 1 and 10000000, got 0 (shard bigger fleets over several herd processes)",
			"t.yaml:3: camera.events_per_minute: must be between 0 and 600, got 1000 (a busy camera records a few events a minute, e.g. 6)",
			"t.yaml:3: camera.thumb_bytes: must be between 64 and 524288, got 10 (thumbnails are a few KiB, e.g. 1024)",
			"t.yaml:3: camera.frame_bytes: must be between 1 and 524288, got 600000 (a live frame is a few KiB, e.g. 4096)",
			"t.yaml:4: app.page_size: must be between 1 and 500, got 501 (herd/1 pages hold 1 to 500 events, e.g. 50)"}},
		{"kinds", minimal + "camera:\n  kinds: [motion, motion, \"a b\"]\n", []string{
			`t.yaml:3: camera.kinds[1]: "motion" listed twice (list each kind once)`,
			`t.yaml:3: camera.kinds[2]: "a b" is not a kind (use 1 to 64 letters, digits or . _ : / -)`}},
		{"no kinds", minimal + "camera: {kinds: []}\n", []string{
			"t.yaml:2: camera.kinds: no event kinds (list at least one, e.g. kinds: [motion, person, package])"}},
		{"policy typo", minimal + "reconnect: {policy: full_jitter}\n", []string{
			`t.yaml:2: reconnect.policy: unknown value "full_jitter" (did you mean full-jitter? use immediate, fixed, exponential, full-jitter, equal-jitter or decorrelated-jitter)`}},
		{"cap below base", minimal + "reconnect:\n  base: 2s\n  cap: 1s\n", []string{
			"t.yaml:4: reconnect.cap: cap 1s is below base 2s (make cap at least base, e.g. cap: 30s)"}},
		{"zero base", minimal + "reconnect: {base: 0}\n", []string{
			"t.yaml:2: reconnect.base: must be more than 0, got 0s (write e.g. base: 1s, or use policy: immediate)"}},
		{"no phases", "name: x\n", []string{
			"t.yaml: phases: no phases (add at least one, e.g. phases: [{kind: steady, duration: 30s}])"}},
		{"phases not a list", "phases: {kind: steady}\n", []string{
			`t.yaml:1: phases: want a list of phases, got a mapping (write one item a line, each starting with "- ", e.g. - {kind: steady, duration: 10s})`}},
		{"phase not a mapping", "phases:\n  - steady\n", []string{
			`t.yaml:2: phases[0]: want a phase, a mapping with kind and duration, got "steady" (write e.g. - {kind: outage, duration: 10s})`}},
		{"phase without kind and duration", "phases:\n  - name: warmup\n", []string{
			"t.yaml:2: phases[0].kind: missing (use steady, outage or settle)",
			"t.yaml:2: phases[0].duration: missing (every phase needs one, e.g. duration: 10s)"}},
		{"kind typo", "phases:\n  - kind: outge\n    duration: 5s\n", []string{
			`t.yaml:2: phases[0].kind: unknown value "outge" (did you mean outage? use steady, outage or settle)`}},
		{"misspelt phase field", "phases:\n  - kind: outage\n    duraton: 5s\n", []string{
			"t.yaml:3: phases[0].duraton: unknown field (did you mean duration?)"}},
		{"negative duration", "phases:\n  - kind: steady\n    duration: -5s\n", []string{
			"t.yaml:3: phases[0].duration: must be more than 0, got -5s (write e.g. duration: 10s)"}},
		{"outage field on steady", "phases:\n  - kind: steady\n    duration: 5s\n    fraction: 0\n    mode: reset\n", []string{
			"t.yaml:4: phases[0].fraction: applies only to outage phases (remove it, or make this phase kind: outage)",
			"t.yaml:5: phases[0].mode: applies only to outage phases (remove it, or make this phase kind: outage)"}},
		{"outage values", "phases:\n  - kind: outage\n    duration: 5s\n    fraction: 0\n    select: zones\n    mode: rst\n    repeat: 0\n", []string{
			`t.yaml:4: phases[0].fraction: must be more than 0 and at most 1, got 0 (write e.g. fraction: 0.5 for half the cameras)`,
			`t.yaml:5: phases[0].select: unknown value "zones" (did you mean zone? use random or zone)`,
			`t.yaml:6: phases[0].mode: unknown value "rst" (use reset, close or silent)`,
			`t.yaml:7: phases[0].repeat: must be between 1 and 10000, got 0 (write e.g. repeat: 3, or leave it out to run the phase once)`}},
		{"down longer than phase", "phases:\n  - kind: outage\n    duration: 5s\n    down: 6s\n", []string{
			"t.yaml:4: phases[0].down: down 6s is longer than the phase's duration 5s (shorten down, or lengthen duration)"}},
		{"stagger past the end", "phases:\n  - kind: outage\n    duration: 1m\n    down: 10s\n    stagger: 55s\n", []string{
			"t.yaml:5: phases[0].stagger: stagger 55s + down 10s is longer than the phase's duration 1m, so the last cameras would still be down when it ends (make duration at least 1m5s, or shorten stagger or down)"}},
		{"zone fraction not 1/N", "phases:\n  - {kind: outage, duration: 5s, select: zone, fraction: 0.7}\n", []string{
			"t.yaml:2: phases[0].fraction: select: zone fails one of 1/fraction zones, and 0.7 is not close to 1/N (use a fraction such as 1, 0.5, 0.34, 0.25 or 0.2, or select: random)"}},
		{"duplicate phase names", "phases:\n  - {name: a, kind: steady, duration: 1s}\n  - {name: a, kind: settle, duration: 1s}\n", []string{
			`t.yaml:3: phases[1].name: "a" is also the name of phases[0] (give each phase its own name)`}},
		{"too long", "phases:\n  - {kind: steady, duration: 100h, repeat: 100}\n", []string{
			"t.yaml:1: phases: the drill lasts 10000h, more than 168h (shorten the phases or their repeats)"}},
		{"bad name", "name: my drill\n" + minimal, []string{
			`t.yaml:1: name: "my drill" is not a name (use 1 to 64 letters, digits, '.', '_' or '-', e.g. name: my-drill)`}},
		{"thresholds", minimal + "thresholds:\n  - recovery.p99 < 60s\n  - connect.p99 < 5000\n  - errors.total < 5%\n  - errors.rate < 5\n  - errors.rate = 0\n  - errors.rate: 1%\n  - 42\n", []string{
			`t.yaml:3: thresholds[0]: unknown metric "recovery.p99" (did you mean recovery.t99? see herd scenarios metrics for the list)`,
			"t.yaml:4: thresholds[1]: connect.p99 is a time but 5000 has no time unit (write a duration such as 5s or 250ms)",
			"t.yaml:5: thresholds[2]: errors.total is a count but 5% is a percentage (write a plain number, or test a rate such as errors.rate)",
			"t.yaml:6: thresholds[3]: errors.rate is a ratio between 0 and 1, got 5 (write a percentage or a fraction, e.g. 5% or 0.05)",
			"t.yaml:7: thresholds[4]: = is not a comparison (use == to test equality)",
			"t.yaml:8: thresholds[5]: want a threshold, METRIC OP VALUE as one string, got a mapping (write e.g. recovery.t99 < 60s)",
			`t.yaml:9: thresholds[6]: no comparison in "42" (write METRIC OP VALUE, e.g. recovery.t99 < 60s, with OP one of < <= > >= == !=)`}},
		{"recovery without outage", minimal + "thresholds: [recovery.t99 < 10s]\n", []string{
			"t.yaml:2: thresholds[0]: recovery.t99 measures recovery from an outage, and no phase is an outage (add a phase with kind: outage, or drop this threshold)"}},
		{"bad merge", "base: &b 3\nphases:\n  - <<: *b\n    kind: steady\n    duration: 1s\n", []string{
			"t.yaml:1: base: unknown field (known fields: name, description, fleet, camera, reconnect, app, audit, phases, thresholds, allow_violations)",
			`t.yaml:1: phases[0]: cannot merge "3" (<< merges an alias to a mapping, or a list of them, e.g. <<: *outage)`}},
		{"errors in line order across parse and validate", "phases:\n  - {kind: steady, duration: 5}\ncamera: {thumb_bytes: 1}\nfleet: {camras: 5}\n", []string{
			"t.yaml:2: phases[0].duration: duration 5 has no unit (write e.g. duration: 10s; units are ms, s, m and h)",
			"t.yaml:3: camera.thumb_bytes: must be between 64 and 524288, got 1 (thumbnails are a few KiB, e.g. 1024)",
			"t.yaml:4: fleet.camras: unknown field (did you mean cameras?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("t.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want errors", s)
			}
			if s != nil {
				t.Errorf("Parse returned a scenario with its error")
			}
			var got []string
			for _, e := range Errors(err) {
				var pe *Error
				if !errors.As(e, &pe) {
					t.Errorf("error %v is a %T, want *Error", e, e)
				}
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\ngot  %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
			// One problem is an *Error, several an ErrorList.
			var list ErrorList
			if isList := errors.As(err, &list); isList != (len(tt.want) > 1) {
				t.Errorf("error is a %T for %d problems", err, len(tt.want))
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse("drills/my-drill.yaml", []byte(`
phases:
  - kind: steady
    duration: 10s
  - kind: outage
    duration: 20s
  - kind: steady
    duration: 5s
  - kind: settle
    duration: 1m
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Name = "my-drill"
	want.Source = "drills/my-drill.yaml"
	want.Phases = []Phase{
		{Name: "steady", Kind: KindSteady, Duration: Duration{10 * time.Second}, Repeat: 1, Line: 3},
		{Name: "outage", Kind: KindOutage, Duration: Duration{20 * time.Second}, Fraction: 1, Select: SelectRandom,
			Mode: ModeReset, Down: Duration{20 * time.Second}, Repeat: 1, Line: 5},
		{Name: "steady-2", Kind: KindSteady, Duration: Duration{5 * time.Second}, Repeat: 1, Line: 7},
		{Name: "settle", Kind: KindSettle, Duration: Duration{time.Minute}, Repeat: 1, Line: 9},
	}
	s.lines, want.lines = nil, nil
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
	if got, want := s.Total(), 95*time.Second; got != want {
		t.Errorf("Total() = %v, want %v", got, want)
	}
}

func TestParseAnchorsAndMerge(t *testing.T) {
	s, err := Parse("t.yaml", []byte(`
name: flaps
phases:
  - {kind: steady, duration: 5s}
  - &flap {kind: outage, duration: 10s, down: 2s, fraction: 0.5}
  - *flap
  - <<: *flap
    down: 3s
    name: long-flap
thresholds:
  - &zero violations.total == 0
`))
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Name string
		Down time.Duration
	}
	var gots []got
	for _, p := range s.Phases {
		gots = append(gots, got{p.Name, p.Down.Duration})
	}
	want := []got{{"steady", 0}, {"outage", 2 * time.Second}, {"outage-2", 2 * time.Second}, {"long-flap", 3 * time.Second}}
	if !reflect.DeepEqual(gots, want) {
		t.Errorf("phases = %v, want %v", gots, want)
	}
	if s.Phases[3].Fraction != 0.5 {
		t.Errorf("merged fraction = %v, want 0.5", s.Phases[3].Fraction)
	}
}

func TestParseAliasBomb(t *testing.T) {
	// Each level names the previous one ten times over: 10^6 phases'
	// worth of mappings from a few hundred bytes.
	var b strings.Builder
	b.WriteString("x0: &a0 {kind: steady, duration: 1s}\n")
	for i := 1; i <= 6; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("phases:\n  - <<: *a6\n")
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("Parse accepted an alias bomb")
	}
}

func TestThresholdLinesAndValues(t *testing.T) {
	s, err := Parse("t.yaml", []byte(minimal+`thresholds:
  - connect.p99 < 1.5s
  - errors.rate <= 5%
  - errors.total==3
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Threshold{
		{Expr: "connect.p99 < 1.5s", Metric: "connect.p99", Op: "<", Value: 1500, Line: 3},
		{Expr: "errors.rate <= 5%", Metric: "errors.rate", Op: "<=", Value: 0.05, Line: 4},
		{Expr: "errors.total==3", Metric: "errors.total", Op: "==", Value: 3, Line: 5},
	}
	if !reflect.DeepEqual(s.Thresholds, want) {
		t.Errorf("thresholds = %+v, want %+v", s.Thresholds, want)
	}
}

// TestFieldNamesMatchTags keeps the parser's field lists and the types'
// yaml tags in step: a field the parser knows but Marshal writes under
// another name would not survive a round trip.
func TestFieldNamesMatchTags(t *testing.T) {
	tests := []struct {
		typ   reflect.Type
		names []string
	}{
		{reflect.TypeFor[Scenario](), scenarioFields},
		{reflect.TypeFor[FleetSpec](), fleetFields},
		{reflect.TypeFor[CameraSpec](), cameraFields},
		{reflect.TypeFor[ReconnectSpec](), reconnectFields},
		{reflect.TypeFor[AppSpec](), appFields},
		{reflect.TypeFor[Phase](), phaseFields},
	}
	for _, tt := range tests {
		var got []string
		for i := range tt.typ.NumField() {
			f := tt.typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if f.IsExported() && name != "-" {
				got = append(got, name)
			}
		}
		if !reflect.DeepEqual(got, tt.names) {
			t.Errorf("%v: yaml tags %v, parser fields %v", tt.typ, got, tt.names)
		}
	}
}

// roundTrip marshals s and parses the result, which must equal s.
func roundTrip(t testing.TB, s *Scenario) {
	t.Helper()
	out, err := yaml.Marshal(s)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, err := Parse(s.Source, out)
	if err != nil {
		t.Fatalf("parsing Marshal's output: %v\n%s", err, out)
	}
	if a, b := comparable(s), comparable(back); !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip changed the scenario:\nbefore %+v\nafter  %+v\n%s", a, b, out)
	}
}

// comparable is s without what depends on its source's layout.
func comparable(s *Scenario) Scenario {
	c := *s
	c.lines = nil
	c.Phases = append([]Phase(nil), s.Phases...)
	for i := range c.Phases {
		c.Phases[i].Line = 0
	}
	c.Thresholds = append([]Threshold(nil), s.Thresholds...)
	for i := range c.Thresholds {
		c.Thresholds[i].Line = 0
	}
	return c
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, b := range Builtins() {
		t.Run(b.Name, func(t *testing.T) {
			s, err := Load(b.Name)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, s)
		})
	}
}

func BenchmarkParse(b *testing.B) {
	src, _ := BuiltinSource(Default)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}
