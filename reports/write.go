package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/herd-drill/herd/catalog"
	"github.com/herd-drill/herd/sim/oracle"
)

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a Result and checks its schema, and that it holds what a
// verdict needs: a hollow document is not a result that passed.
func ReadJSON(rd io.Reader) (*Result, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("not a herd result: %w", err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("schema %q is not %q", r.Schema, Schema)
	}
	var missing []string
	for _, field := range required {
		if v := gjson.GetBytes(data, field); !v.Exists() || v.Type == gjson.Null || (v.Type == gjson.String && v.Str == "") {
			missing = append(missing, field)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the result lacks %s, which a verdict needs", strings.Join(missing, ", "))
	}
	switch r.Verdict {
	case Pass, Fail, Interrupted, Error:
	default:
		return nil, fmt.Errorf("verdict %q is none of pass, fail, interrupted, error", r.Verdict)
	}
	return &r, nil
}

// required are the fields of herd.result/v1 that a verdict rests on.
var required = []string{"scenario", "seed", "cameras", "started", "ended", "verdict", "reasons", "thresholds",
	"violations.total", "violations.counts", "events.acked", "recovery.affected", "errors.operations", "audit.accounts", "shards"}

// WriteSummary writes the human summary of r: the verdict first, then
// violations with evidence, recovery, latency, events and errors.
func WriteSummary(w io.Writer, r *Result) error {
	p := &printer{w: w}
	faults := "none"
	if len(r.Target.Faults) > 0 {
		faults = strings.Join(r.Target.Faults, ",")
	}
	where := strings.Join(r.Target.URLs, ",")
	if r.Target.Embedded {
		where += " (built-in target, faults: " + faults + ")"
	}
	if len(r.Target.Brokers) > 0 {
		where += ", cameras over MQTT " + r.Target.MQTTVersion + " at " + strings.Join(r.Target.Brokers, ",")
	}
	p.f("herd drill %s: %d cameras in %d accounts, seed %d, policy %s\n", r.Scenario, r.Cameras, r.Accounts, r.Seed, r.Policy)
	p.f("target %s, %s\n", where, (time.Duration(r.DurationMs) * time.Millisecond).Round(100*time.Millisecond))
	for _, u := range r.Target.Unreachable {
		to := "the end"
		if u.ToMs != nil {
			to = fmt.Sprintf("+%.1fs", *u.ToMs/1000)
		}
		p.f("  ! the target answered nothing from +%.1fs to %s (%s)\n", u.FromMs/1000, to, u.Detail)
	}
	p.f("\n")

	verdict := strings.ToUpper(r.Verdict)
	if r.Interrupted {
		verdict += " (interrupted: partial results)"
	}
	p.f("VERDICT  %s\n", verdict)
	for _, reason := range r.Reasons {
		p.f("  - %s\n", reason)
	}
	if r.Generator.Saturated {
		p.f("  ! herd itself was the bottleneck (%s): these figures describe herd, not the target\n", r.Generator.Evidence)
	}

	p.f("\nExposure    %s\n", r.Exposure.Sentence())
	p.f("\nViolations  %d", r.Violations.Total)
	classes := make([]string, 0, len(r.Violations.Counts))
	for c := range r.Violations.Counts {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		p.f("  %s=%d", c, r.Violations.Counts[c])
	}
	p.f("\n")
	// In time, so that a cause (a welcome naming another device) is read
	// before its consequences (that device's events in a stranger's tab).
	shown := map[oracle.Class]int{}
	var listed []oracle.Evidence
	for _, e := range r.Violations.Evidence {
		if shown[e.Class] == evidencePerClass {
			continue
		}
		shown[e.Class]++
		listed = append(listed, e)
		p.f("  #%-3d %-13s viewer %s, owner %s, device %s", len(listed), e.Class, dash(e.Viewer), dash(e.Owner), dash(e.Device))
		if e.Event != "" {
			p.f(", event %s", e.Event)
		}
		p.f(", at %s", dash(evidencePath(e)))
		if e.SinceOutageEndS != nil {
			p.f(", %+.1fs after the outage ended", *e.SinceOutageEndS)
		}
		if link := relatedTo(listed[:len(listed)-1], e); link != "" {
			p.f(" (%s)", link)
		}
		p.f("\n  %-18s %s\n", "", e.Detail)
	}
	if n := len(r.Violations.Evidence) - sum(shown); n > 0 {
		p.f("  … %d more evidence records in the JSON result\n", n)
	}

	rc := r.Recovery
	p.f("\nRecovery    %d of %d cameras back", rc.Reconnected, rc.Affected)
	if rc.Affected > 0 {
		p.f("  T50 %s  T90 %s  T99 %s  T100 %s", msp(rc.T50Ms), msp(rc.T90Ms), msp(rc.T99Ms), msp(rc.T100Ms))
	}
	p.f("\n\nLatency (ms)     count      p50      p90      p99    p99.9      max\n")
	for _, h := range catalog.Histograms() {
		name := h.Name
		l, ok := r.Latency[name]
		if !ok || name == catalog.HistPuback && l.Count == 0 && len(r.Target.Brokers) == 0 {
			continue // puback: MQTT drills only
		}
		p.f("  %-10s %9d %8.1f %8.1f %8.1f %8.1f %8.1f\n", name, l.Count, l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs)
	}
	ev := r.Events
	p.f("\nEvents      captured %d  sent %d  acked %d  resent %d  nacked %d  backlog dropped %d  lost %d\n",
		ev.Captured, ev.Sent, ev.Acked, ev.Resent, ev.Nacked, ev.BacklogDropped, ev.Lost)
	p.f("Audit       %d events in %d accounts, %d of %d sampled thumbnails checked (sample %s)", r.Audit.Events, r.Audit.Accounts,
		r.Audit.Thumbnails.Checked, r.Audit.Thumbnails.Listed, formatValue(r.Audit.ThumbnailSample, "ratio"))
	if !r.Audit.Done {
		p.f(" (not done)")
	}
	if r.Audit.FailedAccounts > 0 {
		p.f(", %d accounts could not be read whole", r.Audit.FailedAccounts)
		reasons := make([]string, 0, len(r.Audit.Unread))
		for why, n := range r.Audit.Unread {
			reasons = append(reasons, fmt.Sprintf("%s %d", why, n))
		}
		sort.Strings(reasons)
		if len(reasons) > 0 {
			p.f(" (%s)", strings.Join(reasons, ", "))
		}
	}
	if r.Audit.GaveUp {
		p.f(" (gave up: the target stopped answering)")
	}
	p.f("\nErrors      %d of %d operations (%.2f%%); shed by the target %d (%.2f%%)", r.Errors.Total, r.Errors.Operations, 100*r.Errors.Rate, r.Errors.Shed, 100*r.Errors.ShedRate)
	names := make([]string, 0, len(r.Errors.ByClass))
	for c, n := range r.Errors.ByClass {
		if n > 0 {
			names = append(names, c)
		}
	}
	sort.Strings(names)
	p.f("\n")
	for _, c := range names {
		ec, _ := catalog.LookupError(c)
		meaning := ec.Meaning
		if meaning == "" {
			meaning = "a class of a newer herd"
		}
		if codes := r.Errors.HTTPOtherCodes; c == "http_other" && len(codes) > 0 {
			meaning += ": " + codeList(codes)
		}
		kind := "error"
		if ec.Shed {
			kind = "shed"
		}
		p.f("  %-13s %8d  %s: %s", c, r.Errors.ByClass[c], kind, meaning)
		if rem, ok := r.Errors.Remedies[c]; ok {
			p.f("; %s", rem)
		}
		p.f("\n")
	}
	g := r.Generator
	p.f("herd        %d %s, CPU %.0f%% of the machine, peak RSS %.0f MB (%.1f KB per camera), schedule lag p99 %.0f ms, peak open files %d of %d\n",
		max(g.Processes, 1), plural(max(g.Processes, 1), "process", "processes"), 100*g.CPUShare, float64(g.PeakRSSBytes)/(1<<20),
		g.RSSPerCameraKB, g.LagP99Ms, g.PeakOpenFiles, g.FileLimit)
	for _, s := range r.Shards {
		if s.Status != ShardOK {
			p.f("  shard %d of %d %s: %s\n", s.Index, s.Of, s.Status, dash(s.Detail))
		}
	}
	if len(r.Thresholds) > 0 {
		p.f("\nThresholds\n")
		for _, t := range r.Thresholds {
			mark := "ok  "
			switch {
			case t.Status == ThresholdNotMeasured:
				mark = "skip" // not measured: an interrupted drill, or one that did not run
			case !t.Pass:
				mark = "FAIL"
			}
			val := "no data"
			if t.Value != nil {
				val = formatValue(*t.Value, t.Unit)
			}
			note := ""
			if t.Note != "" {
				note = " (" + t.Note + ")"
			}
			p.f("  %s %-32s measured %s%s\n", mark, t.Expr, val, note)
		}
	}
	return p.err
}

// evidencePerClass is how many evidence records of each class the summary
// prints.
const evidencePerClass = 2

func sum(m map[oracle.Class]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// evidencePath is where a violation was seen: the request path, and where
// in its body when the oracle knows.
func evidencePath(e oracle.Evidence) string {
	if e.JSONPath == "" {
		return e.Path
	}
	return e.Path + " " + e.JSONPath
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func msp(v *float64) string {
	if v == nil {
		return "never"
	}
	return formatValue(*v, "ms")
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "ms":
		d := time.Duration(v * float64(time.Millisecond))
		if d >= time.Second {
			return d.Round(10 * time.Millisecond).String()
		}
		return fmt.Sprintf("%.1fms", v)
	case "ratio":
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	return fmt.Sprintf("%g", v)
}

// relatedTo links e to the first of earlier records that shares its
// device or one of its accounts: "same device as #2".
func relatedTo(earlier []oracle.Evidence, e oracle.Evidence) string {
	for i, o := range earlier {
		switch {
		case e.Device != "" && o.Device == e.Device:
			return fmt.Sprintf("same device as #%d", i+1)
		case e.Owner != "" && (o.Owner == e.Owner || o.Viewer == e.Owner):
			return fmt.Sprintf("same account as #%d", i+1)
		case e.Viewer != "" && (o.Viewer == e.Viewer || o.Owner == e.Viewer):
			return fmt.Sprintf("same account as #%d", i+1)
		}
	}
	return ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
