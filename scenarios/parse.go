package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest scenario Parse accepts, in bytes. Scenarios
// are a few dozen lines; anything near this size is the wrong file.
const MaxFileSize = 1 << 20

// maxPairs bounds the mapping entries Parse visits. Aliases let a small file
// name the same mapping many times over; past this, the file is refused
// rather than walked.
const maxPairs = 100_000

// Field names of each mapping, in the order they are documented. They match
// the yaml tags of the types (a test checks it), so Marshal output parses.
var (
	scenarioFields  = []string{"name", "description", "fleet", "camera", "reconnect", "app", "audit", "phases", "thresholds", "allow_violations"}
	fleetFields     = []string{"cameras", "seed"}
	cameraFields    = []string{"events_per_minute", "thumb_bytes", "frame_bytes", "backlog", "kinds", "mqtt"}
	mqttFields      = []string{"keepalive", "clean_start", "session_expiry"}
	reconnectFields = []string{"policy", "base", "cap", "reset_after", "honour_retry_after", "honour_1013"}
	appFields       = []string{"active", "poll", "surge", "surge_window", "thumbnails", "live", "probes", "page_size"}
	auditFields     = []string{"thumbnails"}
	phaseFields     = []string{"name", "kind", "duration", "fraction", "select", "mode", "down", "stagger", "repeat"}
)

// Parse reads the scenario in data, which came from file (a path, or a name
// such as "builtin:aws-outage" that errors will show). It applies defaults
// to everything the file leaves out, then validates. Its error is an *Error
// when there is one problem and an ErrorList when there are several.
func Parse(file string, data []byte) (*Scenario, error) {
	d := &decoder{file: file, lines: map[string]int{}, budget: maxPairs}
	if len(data) > MaxFileSize {
		return nil, d.newError(0, "", fmt.Sprintf("the file is %d bytes, more than the %d a scenario may have", len(data), MaxFileSize),
			"a scenario is a few dozen lines of YAML; check the file name")
	}
	root, err := d.document(data)
	if err != nil {
		return nil, err
	}
	s := Defaults()
	s.Source = file
	d.scenario(root, s)
	if s.Name == "" && d.lines["name"] == 0 {
		s.Name = defaultName(file)
	}
	s.lines = d.lines
	errs := d.errs
	for _, e := range s.Validate() {
		if !d.masked(e) {
			errs = append(errs, e)
		}
	}
	switch len(errs) {
	case 0:
		return s, nil
	case 1:
		return nil, errs[0]
	}
	sortByLine(errs)
	return nil, ErrorList(errs)
}

// defaultName is the name of a scenario that gives none: its file's base
// name without extension, or its built-in name.
func defaultName(file string) string {
	if n, ok := strings.CutPrefix(file, builtinPrefix); ok {
		return n
	}
	base := filepath.Base(file)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	if !validName(base) {
		return ""
	}
	return base
}

// decoder walks a YAML node tree into a Scenario, collecting every error
// rather than stopping at the first.
type decoder struct {
	file  string
	errs  []error
	lines map[string]int // field path → line of its key
	// bad holds field paths (or whole phases) whose parse failed: their
	// values are defaults or zero, and validation errors about them would
	// only repeat the problem already reported.
	bad    []string
	budget int // mapping entries left to visit
}

func (d *decoder) newError(line int, field, msg, remedy string) *Error {
	return &Error{File: d.file, Line: line, Field: field, Msg: msg, Remedy: remedy}
}

func (d *decoder) fail(line int, field, msg, remedy string) {
	d.errs = append(d.errs, d.newError(line, field, msg, remedy))
}

// markBad records that path failed to parse: its value is a default or
// zero, and validation errors about it would only repeat the problem.
func (d *decoder) markBad(path string) { d.bad = append(d.bad, path) }

func (d *decoder) masked(err error) bool {
	e, ok := err.(*Error)
	if !ok {
		return false
	}
	for _, b := range d.bad {
		if e.Field == b || strings.HasPrefix(e.Field, b) && len(e.Field) > len(b) && (e.Field[len(b)] == '.' || e.Field[len(b)] == '[') {
			return true
		}
	}
	return false
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// syntaxError turns a YAML parser error into an *Error with its line.
// The parser names the line where the construct it was reading began (a
// scalar, a flow sequence), which is often the line before the fault; for
// the faults herd can find in the text itself it names their own line.
func (d *decoder) syntaxError(err error, data []byte) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	remedy := "fix the YAML: check the indentation, and quote values that contain \": \" or \" #\""
	switch {
	case strings.Contains(msg, "tab character"):
		if at := tabIndented(data, line); at > 0 {
			line, msg, remedy = at, "a tab in the indentation", "indent with spaces: YAML does not allow tabs there"
		}
	case strings.HasPrefix(msg, "did not find expected ',' or"):
		// An unclosed [ or {: the parser names the line before the one it
		// opened on, or where it gave up; name the bracket's own line.
		if at := unclosed(data); at > 0 {
			line, remedy = at, "close the [ or { opened on this line, or put each item on its own line without brackets"
		}
	case strings.HasPrefix(msg, "did not find expected key"), strings.HasPrefix(msg, "did not find expected '-'"):
		// The parser counts these from 0: the fault is on the next line.
		line = min(line+1, strings.Count(strings.TrimRight(string(data), "\n"), "\n")+1)
	}
	return d.newError(line, "", msg, remedy)
}

// unclosed is the line (1-based) of the innermost [ or { that data never
// closes, or 0. Quoted strings and comments are skipped.
func unclosed(data []byte) int {
	var open []int // lines of the brackets still open
	line, quote := 1, byte(0)
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '\n':
			line++
			if quote == '\'' || quote == '"' { // a quoted scalar may span lines
				continue
			}
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || data[i-1] == ' ' || data[i-1] == '\n'):
			for i < len(data)-1 && data[i+1] != '\n' {
				i++
			}
		case c == '[' || c == '{':
			open = append(open, line)
		case (c == ']' || c == '}') && len(open) > 0:
			open = open[:len(open)-1]
		}
	}
	if len(open) == 0 {
		return 0
	}
	return open[len(open)-1]
}

// tabIndented is the first line from line on (1-based) whose indentation
// holds a tab, or 0.
func tabIndented(data []byte, line int) int {
	for i, l := range strings.Split(string(data), "\n") {
		if i+1 < line {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if strings.Contains(indent, "\t") {
			return i + 1
		}
	}
	return 0
}

// document parses data into the root mapping of its one YAML document.
func (d *decoder) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, d.newError(0, "", "the file is empty", "start from a built-in: herd scenarios show "+Default)
		}
		return nil, d.syntaxError(err, data)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, d.syntaxError(err, data)
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		return nil, d.newError(next.Content[0].Line, "", "a second YAML document in the file", "keep one scenario per file, without --- separators")
	}
	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		return nil, d.newError(0, "", "the file is empty", "start from a built-in: herd scenarios show "+Default)
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, d.newError(root.Line, "", "a scenario is a mapping of fields, got "+describe(root),
			"write fields such as name:, fleet: and phases:, as herd scenarios show "+Default+" does")
	}
	return root, nil
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	case isNull(n):
		return "nothing"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return strconv.Quote(v)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

type entry struct {
	name     string
	key, val *yaml.Node
}

// entries lists a mapping's keys and values with merge keys (<<) applied:
// the mapping's own keys win over merged ones, and earlier merged mappings
// win over later ones, as the YAML merge-key spec says.
func (d *decoder) entries(n *yaml.Node, path string, depth int) []entry {
	var own, merged []entry
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if d.budget--; d.budget < 0 {
			if d.budget == -1 {
				d.fail(n.Line, path, "the document expands to too many fields through aliases", "write the fields out, or use fewer aliases")
			}
			return nil
		}
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k.Line, path, "a key must be a plain name, got "+describe(k), "write fields as name: value")
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(v, path, depth)...)
			continue
		}
		if l, dup := firstLine[k.Value]; dup {
			d.fail(k.Line, join(path, k.Value), fmt.Sprintf("given twice (first on line %d)", l), "keep one of them")
			d.markBad(join(path, k.Value))
			continue
		}
		firstLine[k.Value] = k.Line
		own = append(own, entry{k.Value, k, v})
	}
	for _, e := range merged {
		if _, dup := firstLine[e.name]; !dup {
			firstLine[e.name] = e.key.Line
			own = append(own, e)
		}
	}
	return own
}

// merge returns the entries a merge key's value brings in.
func (d *decoder) merge(v *yaml.Node, path string, depth int) []entry {
	const remedy = "<< merges an alias to a mapping, or a list of them, e.g. <<: *outage"
	if depth >= 3 {
		d.fail(v.Line, path, "merge keys nested too deep", "merge at most three levels deep")
		return nil
	}
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return d.entries(v, path, depth+1)
	case yaml.SequenceNode:
		var es []entry
		for _, m := range v.Content {
			m = resolve(m)
			if m.Kind != yaml.MappingNode {
				d.fail(m.Line, path, "cannot merge "+describe(m), remedy)
				continue
			}
			es = append(es, d.entries(m, path, depth+1)...)
		}
		return es
	}
	d.fail(v.Line, path, "cannot merge "+describe(v), remedy)
	return nil
}

// mapping walks the fields of mapping n at path, calling set for each known
// one, and reports the unknown ones. A missing or empty mapping is fine:
// everything in it takes its default. It returns the fields present.
func (d *decoder) mapping(n *yaml.Node, path string, names []string, set func(name, path string, v *yaml.Node)) map[string]bool {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "want a mapping of fields, got "+describe(n), "indent fields such as "+names[0]+": under "+path+":")
		d.markBad(path)
		return nil
	}
	seen := map[string]bool{}
	for _, e := range d.entries(n, path, 0) {
		fp := join(path, e.name)
		if !slices.Contains(names, e.name) {
			remedy := "known fields: " + strings.Join(names, ", ")
			if s := suggest(e.name, names); s != "" {
				remedy = "did you mean " + s + "?"
				// The field the user meant is missing too; saying so again
				// would only repeat this error.
				d.markBad(join(path, s))
			}
			d.fail(e.key.Line, fp, "unknown field", remedy)
			continue
		}
		seen[e.name] = true
		d.lines[fp] = e.key.Line
		set(e.name, fp, e.val)
	}
	return seen
}

// scalar returns v when it is a scalar with a value, and reports it
// otherwise.
func (d *decoder) scalar(v *yaml.Node, path, want, example string) *yaml.Node {
	v = resolve(v)
	if v.Kind != yaml.ScalarNode || isNull(v) {
		d.fail(v.Line, path, "want "+want+", got "+describe(v), "write e.g. "+example)
		d.markBad(path)
		return nil
	}
	return v
}

// typed decodes scalar v into dst when its YAML tag is one of tags.
func (d *decoder) typed(v *yaml.Node, path, want, example string, dst any, tags ...string) {
	n := d.scalar(v, path, want, example)
	if n == nil {
		return
	}
	if slices.Contains(tags, n.ShortTag()) && n.Decode(dst) == nil {
		return
	}
	remedy := "write e.g. " + example
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		remedy = "remove the quotes"
	}
	d.fail(n.Line, path, "want "+want+", got "+describe(n), remedy)
	d.markBad(path)
}

func (d *decoder) int(v *yaml.Node, path string, dst *int, example string) {
	d.typed(v, path, "a whole number", example, dst, "!!int")
}

func (d *decoder) uint64(v *yaml.Node, path string, dst *uint64, example string) {
	d.typed(v, path, "a whole number >= 0", example, dst, "!!int")
}

func (d *decoder) float(v *yaml.Node, path string, dst *float64, example string) {
	d.typed(v, path, "a number", example, dst, "!!int", "!!float")
}

func (d *decoder) bool(v *yaml.Node, path string, dst *bool) {
	d.typed(v, path, "true or false", "true", dst, "!!bool")
}

func (d *decoder) str(v *yaml.Node, path string, dst *string, example string) {
	if n := d.scalar(v, path, "a string", example); n != nil {
		*dst = n.Value
	}
}

func (d *decoder) duration(v *yaml.Node, path string, dst *Duration, example string) {
	n := d.scalar(v, path, "a duration", example)
	if n == nil {
		return
	}
	x, err := parseDuration(n.Value)
	if err != nil {
		msg := fmt.Sprintf("bad duration %s", describe(n))
		if errors.Is(err, errNoUnit) {
			msg = fmt.Sprintf("duration %s has no unit", n.Value)
		}
		d.fail(n.Line, path, msg, "write e.g. "+example+"; units are ms, s, m and h")
		d.markBad(path)
		return
	}
	dst.Duration = x
}

// seq returns the items of list v; nothing counts as an empty list.
func (d *decoder) seq(v *yaml.Node, path, want, example string) []*yaml.Node {
	v = resolve(v)
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		d.fail(v.Line, path, "want "+want+", got "+describe(v), "write one item a line, each starting with \"- \", e.g. "+example)
		d.markBad(path)
		return nil
	}
	return v.Content
}

func (d *decoder) scenario(n *yaml.Node, s *Scenario) {
	d.mapping(n, "", scenarioFields, func(name, path string, v *yaml.Node) {
		switch name {
		case "name":
			d.str(v, path, &s.Name, "name: my-drill")
		case "description":
			d.str(v, path, &s.Description, "description: one line about the drill")
		case "fleet":
			d.fleet(v, path, &s.Fleet)
		case "camera":
			d.camera(v, path, &s.Camera)
		case "reconnect":
			d.reconnect(v, path, &s.Reconnect)
		case "app":
			d.app(v, path, &s.App)
		case "audit":
			d.audit(v, path, &s.Audit)
		case "phases":
			d.phases(v, path, s)
		case "thresholds":
			d.thresholds(v, path, s)
		case "allow_violations":
			d.bool(v, path, &s.AllowViolations)
		}
	})
}

func (d *decoder) fleet(n *yaml.Node, path string, f *FleetSpec) {
	d.mapping(n, path, fleetFields, func(name, path string, v *yaml.Node) {
		switch name {
		case "cameras":
			d.int(v, path, &f.Cameras, "cameras: 1000")
		case "seed":
			d.uint64(v, path, &f.Seed, "seed: 1")
		}
	})
}

func (d *decoder) camera(n *yaml.Node, path string, c *CameraSpec) {
	d.mapping(n, path, cameraFields, func(name, path string, v *yaml.Node) {
		switch name {
		case "events_per_minute":
			d.float(v, path, &c.EventsPerMinute, "events_per_minute: 6")
		case "thumb_bytes":
			d.int(v, path, &c.ThumbBytes, "thumb_bytes: 1024")
		case "frame_bytes":
			d.int(v, path, &c.FrameBytes, "frame_bytes: 4096")
		case "backlog":
			d.int(v, path, &c.Backlog, "backlog: 20")
		case "kinds":
			c.Kinds = nil
			for i, item := range d.seq(v, path, "a list of event kinds", "kinds: [motion, person]") {
				var k string
				d.str(item, fmt.Sprintf("%s[%d]", path, i), &k, "kinds: [motion, person]")
				c.Kinds = append(c.Kinds, k)
			}
		case "mqtt":
			d.mapping(v, path, mqttFields, func(name, path string, v *yaml.Node) {
				switch name {
				case "keepalive":
					d.duration(v, path, &c.MQTT.Keepalive, "keepalive: 30s")
				case "clean_start":
					d.bool(v, path, &c.MQTT.CleanStart)
				case "session_expiry":
					d.duration(v, path, &c.MQTT.SessionExpiry, "session_expiry: 5m")
				}
			})
		}
	})
}

func (d *decoder) reconnect(n *yaml.Node, path string, r *ReconnectSpec) {
	d.mapping(n, path, reconnectFields, func(name, path string, v *yaml.Node) {
		switch name {
		case "policy":
			d.str(v, path, &r.Policy, "policy: full-jitter")
		case "base":
			d.duration(v, path, &r.Base, "base: 1s")
		case "cap":
			d.duration(v, path, &r.Cap, "cap: 30s")
		case "reset_after":
			d.duration(v, path, &r.ResetAfter, "reset_after: 30s")
		case "honour_retry_after":
			d.bool(v, path, &r.HonourRetryAfter)
		case "honour_1013":
			d.bool(v, path, &r.Honour1013)
		}
	})
}

func (d *decoder) app(n *yaml.Node, path string, a *AppSpec) {
	d.mapping(n, path, appFields, func(name, path string, v *yaml.Node) {
		switch name {
		case "active":
			d.float(v, path, &a.Active, "active: 0.1")
		case "poll":
			d.duration(v, path, &a.Poll, "poll: 5s")
		case "surge":
			d.float(v, path, &a.Surge, "surge: 0.8")
		case "surge_window":
			d.duration(v, path, &a.SurgeWindow, "surge_window: 2s")
		case "thumbnails":
			d.float(v, path, &a.Thumbnails, "thumbnails: 0.5")
		case "live":
			d.float(v, path, &a.Live, "live: 0.05")
		case "probes":
			d.float(v, path, &a.Probes, "probes: 0.02")
		case "page_size":
			d.int(v, path, &a.PageSize, "page_size: 50")
		}
	})
}

func (d *decoder) audit(n *yaml.Node, path string, a *AuditSpec) {
	d.mapping(n, path, auditFields, func(name, path string, v *yaml.Node) {
		switch name {
		case "thumbnails":
			d.float(v, path, &a.Thumbnails, "thumbnails: 1")
		}
	})
}

func (d *decoder) phases(v *yaml.Node, path string, s *Scenario) {
	items := d.seq(v, path, "a list of phases", "- {kind: steady, duration: 10s}")
	s.Phases = make([]Phase, 0, len(items))
	for i, item := range items {
		pp := fmt.Sprintf("%s[%d]", path, i)
		item = resolve(item)
		p := Phase{Repeat: 1, Line: item.Line}
		if item.Kind != yaml.MappingNode && !isNull(item) {
			d.fail(item.Line, pp, "want a phase, a mapping with kind and duration, got "+describe(item), "write e.g. - {kind: outage, duration: 10s}")
			d.markBad(pp)
			s.Phases = append(s.Phases, p)
			continue
		}
		seen := d.mapping(item, pp, phaseFields, func(name, path string, v *yaml.Node) {
			switch name {
			case "name":
				d.str(v, path, &p.Name, "name: outage")
			case "kind":
				d.str(v, path, &p.Kind, "kind: outage")
			case "duration":
				d.duration(v, path, &p.Duration, "duration: 10s")
			case "fraction":
				d.float(v, path, &p.Fraction, "fraction: 0.5")
			case "select":
				d.str(v, path, &p.Select, "select: random")
			case "mode":
				d.str(v, path, &p.Mode, "mode: reset")
			case "down":
				d.duration(v, path, &p.Down, "down: 5s")
			case "stagger":
				d.duration(v, path, &p.Stagger, "stagger: 30s")
			case "repeat":
				d.int(v, path, &p.Repeat, "repeat: 3")
			}
		})
		if p.Kind == KindOutage {
			if !seen["fraction"] {
				p.Fraction = 1
			}
			if !seen["select"] {
				p.Select = SelectRandom
			}
			if !seen["mode"] {
				p.Mode = ModeReset
			}
			if !seen["down"] {
				p.Down = p.Duration
			}
		}
		s.Phases = append(s.Phases, p)
	}
	// Unnamed phases are named after their kind, made unique, so that
	// reports can key on names.
	used := map[string]bool{}
	for _, p := range s.Phases {
		used[p.Name] = true
	}
	for i := range s.Phases {
		p := &s.Phases[i]
		if p.Name != "" || !slices.Contains(kinds, p.Kind) {
			continue
		}
		name := p.Kind
		for k := 2; used[name]; k++ {
			name = p.Kind + "-" + strconv.Itoa(k)
		}
		used[name] = true
		p.Name = name
	}
}

func (d *decoder) thresholds(v *yaml.Node, path string, s *Scenario) {
	const example = "- recovery.t99 < 60s"
	for i, item := range d.seq(v, path, "a list of thresholds", example) {
		tp := fmt.Sprintf("%s[%d]", path, i)
		n := d.scalar(item, tp, "a threshold, METRIC OP VALUE as one string", "recovery.t99 < 60s")
		if n == nil {
			s.Thresholds = append(s.Thresholds, Threshold{Line: resolve(item).Line})
			continue
		}
		d.lines[tp] = n.Line
		t, err := ParseThreshold(n.Value)
		if err != nil {
			e := err.(*Error)
			e.File, e.Line, e.Field = d.file, n.Line, tp
			d.errs = append(d.errs, e)
			d.markBad(tp)
			t = Threshold{Expr: n.Value}
		}
		t.Line = n.Line
		s.Thresholds = append(s.Thresholds, t)
	}
}
