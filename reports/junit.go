package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herd-drill/herd/catalog"
	"github.com/herd-drill/herd/sim/oracle"
)

// WriteJUnit writes r as JUnit XML, the test-report format CI servers
// read: one test suite for the drill, one test case per threshold, one per
// violation class (passing when the oracle found none of it) and one that
// fails when the drill was interrupted, so that the report fails exactly
// when the verdict does. Failures carry their evidence; the suite's
// system-out is the terminal summary.
func WriteJUnit(w io.Writer, r *Result) error {
	suite := junitSuite{
		Name:      "herd." + r.Scenario,
		Time:      seconds(r.DurationMs),
		Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{
			{"scenario", r.Scenario}, {"scenario_source", firstLine(r.ScenarioSource)},
			{"seed", strconv.FormatUint(r.Seed, 10)}, {"cameras", strconv.Itoa(r.Cameras)},
			{"accounts", strconv.Itoa(r.Accounts)}, {"policy", r.Policy},
			{"target", strings.Join(r.Target.URLs, ",")}, {"target_faults", strings.Join(r.Target.Faults, ",")},
			{"verdict", r.Verdict}, {"herd_version", r.HerdVersion},
		},
	}
	for _, t := range r.Thresholds {
		c := junitCase{Classname: "herd.thresholds", Name: t.Expr, SystemOut: "measured " + measured(t)}
		switch {
		case t.Status == ThresholdNotMeasured:
			c.Skipped, c.SystemOut = t.Note, ""
		case !t.Pass:
			c.Failure = &junitFailure{
				Type:    "threshold",
				Message: t.Expr + " failed: measured " + measured(t),
				Text:    fmt.Sprintf("threshold %s\nmetric    %s\nmeasured  %s\n", t.Expr, t.Metric, measured(t)),
			}
		}
		suite.Cases = append(suite.Cases, c)
	}
	fail := violationsFail(r)
	for _, class := range violationClasses(r) {
		n := r.Violations.Counts[class]
		c := junitCase{Classname: "herd.violations", Name: class}
		if n > 0 {
			msg := fmt.Sprintf("%d %s violations: %s", n, class, catalog.ClassHelp(class))
			text := evidenceText(r, class)
			if fail {
				c.Failure = &junitFailure{Type: class, Message: msg, Text: text}
			} else {
				c.SystemOut = msg + " (allowed by the scenario: allow_violations)\n" + text
			}
		}
		suite.Cases = append(suite.Cases, c)
	}
	run := junitCase{Classname: "herd.run", Name: "drill ran to the end"}
	if r.Interrupted {
		run.Failure = &junitFailure{Type: "interrupted", Message: "the drill was interrupted: its figures are partial"}
	}
	suite.Cases = append(suite.Cases, run)
	audit := junitCase{Classname: "herd.run", Name: "audit read every account"}
	tested := junitCase{Classname: "herd.run", Name: "drill tested events, recovery and the app"}
	switch {
	case r.Interrupted:
		audit.Skipped, tested.Skipped = "not measured: the drill was interrupted", "not measured: the drill was interrupted"
	default:
		if why := auditReason(r.Audit); why != "" {
			audit.Failure = &junitFailure{Type: "audit", Message: why}
		}
		if why := hollowOf(r.Reasons); len(why) > 0 {
			tested.Failure = &junitFailure{Type: "hollow", Message: why[0], Text: strings.Join(why, "\n") + "\n"}
		}
	}
	suite.Cases = append(suite.Cases, audit, tested)
	if why := unreachableReason(r.Target.Unreachable); why != "" {
		suite.Cases = append(suite.Cases, junitCase{Classname: "herd.run", Name: "target reachable to the end",
			Failure: &junitFailure{Type: "unreachable", Message: why}})
	}
	if why := shardReasons(r.Shards, len(r.Shards) > 1); len(why) > 0 {
		suite.Cases = append(suite.Cases, junitCase{Classname: "herd.run", Name: "every shard reported",
			Failure: &junitFailure{Type: "shard", Message: why[0], Text: strings.Join(why, "\n") + "\n"}})
	}

	for _, c := range suite.Cases {
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Skipped != "":
			suite.Skipped++
		}
	}
	suite.Tests = len(suite.Cases)
	var sum bytes.Buffer
	if err := WriteSummary(&sum, r); err != nil {
		return err
	}
	suite.SystemOut = sum.String()
	doc := junitSuites{Name: "herd", Tests: suite.Tests, Failures: suite.Failures, Time: suite.Time, Suites: []junitSuite{suite}}

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Skipped   string        `xml:"skipped,omitempty"` // why it was not run
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Type    string `xml:"type,attr"`
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func seconds(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// measured is a threshold's measured value in its unit, with its note.
func measured(t ThresholdResult) string {
	v := "no data"
	if t.Value != nil {
		v = formatValue(*t.Value, t.Unit)
	}
	if t.Note != "" {
		v += " (" + t.Note + ")"
	}
	return v
}

// violationClasses lists r's violation classes: the oracle's order (the
// leak first), then any others the result names, sorted.
func violationClasses(r *Result) []string {
	var out, extra []string
	known := map[string]bool{}
	for _, c := range oracle.Classes() {
		known[string(c)] = true
		if _, ok := r.Violations.Counts[string(c)]; ok {
			out = append(out, string(c))
		}
	}
	for c := range r.Violations.Counts {
		if !known[c] {
			extra = append(extra, c)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

// evidenceText lists r's evidence records of class, one a line, and says
// how many more the oracle counted than the result kept.
func evidenceText(r *Result, class string) string {
	var b strings.Builder
	kept := 0
	for _, e := range r.Violations.Evidence {
		if string(e.Class) != class {
			continue
		}
		kept++
		fmt.Fprintf(&b, "viewer %s, owner %s, device %s", dash(e.Viewer), dash(e.Owner), dash(e.Device))
		if e.Event != "" {
			fmt.Fprintf(&b, ", event %s", e.Event)
		}
		fmt.Fprintf(&b, ", at %s, %s", dash(e.Path), evidenceTime(e))
		fmt.Fprintf(&b, ": %s\n", e.Detail)
	}
	if more := r.Violations.Counts[class] - int64(kept); more > 0 {
		fmt.Fprintf(&b, "… %d more not kept in the result (it keeps %d records)\n", more, MaxEvidence)
	}
	return b.String()
}

// evidenceTime says when a record was observed: UTC wall clock, and the
// seconds since the outage ended when known.
func evidenceTime(e oracle.Evidence) string {
	s := time.UnixMilli(e.AtMs).UTC().Format("15:04:05.000")
	if e.SinceOutageEndS != nil {
		s += fmt.Sprintf(" (%+.1fs after the outage ended)", *e.SinceOutageEndS)
	}
	return s
}
