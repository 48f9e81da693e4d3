package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-drill/herd/sim/oracle"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		expr           string
		factor, offset float64
		relative       bool
	}{
		{"recovery.t99 > 1.1*base", 1.1, 0, true},
		{"recovery.t99 > base*2", 2, 0, true},
		{"errors.rate > base+1%", 1, 0.01, true},
		{"recovery.t100 >= base-5s", 1, -5000, true},
		{"connect.p99 > base", 1, 0, true},
		{"violations.total > 0", 0, 0, false},
		{"recovery.t99 > 60s", 0, 60000, false},
	} {
		r, err := ParseRule(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if r.Factor != tc.factor || r.Offset != tc.offset || r.Relative != tc.relative {
			t.Errorf("%s = %+v, want factor %v offset %v relative %v", tc.expr, r, tc.factor, tc.offset, tc.relative)
		}
	}
	for _, bad := range []string{"recovery.t99", "nosuch.metric > 1", "recovery.t99 > x*base", "recovery.t99 > base/2", "recovery.t99 > soon"} {
		if _, err := ParseRule(bad); err == nil || !strings.Contains(err.Error(), "--fail-on") {
			t.Errorf("%q: err %v, want one naming --fail-on", bad, err)
		}
	}
}

// A slower recovery and a leak regress against the fixture; the same
// result against itself does not.
func TestDiffFiresOnARegressionOnly(t *testing.T) {
	base := fixture(t)
	rules, err := ParseRules([]string{"recovery.t99 > 1.1*base", "violations.total > base", "exposure.viewers_listed > 0"})
	if err != nil {
		t.Fatal(err)
	}
	same := NewDiff(base, base, "a.json", "a.json", rules)
	if same.Rules[0].Fired || same.Rules[1].Fired {
		t.Errorf("a result regressed against itself: %+v", same.Rules)
	}
	if !same.Rules[2].Fired {
		t.Errorf("the fixture's exposure did not fire an absolute rule: %+v", same.Rules[2])
	}
	worse := fixture(t)
	t99 := *worse.Recovery.T99Ms * 1.5
	worse.Recovery.T99Ms = &t99
	worse.Violations.Total += 5
	d := NewDiff(base, worse, "base.json", "new.json", rules)
	if !d.Rules[0].Fired || !d.Rules[1].Fired || !d.Regressed() {
		t.Errorf("a 1.5× slower recovery and 5 more violations did not regress: %+v", d.Rules)
	}
	var text bytes.Buffer
	if err := WriteDiffText(&text, d); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"recovery.t99", "REGRESSED  recovery.t99 > 1.1*base", "exposure.victims", "1.50"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("diff text lacks %q:\n%s", want, text.String())
		}
	}
	page := filepath.Join(t.TempDir(), "diff.html")
	if err := WriteDiffFile(page, d); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(page); !bytes.Contains(b, []byte("recovery.t99 &gt; 1.1*base")) {
		t.Errorf("diff page lacks the rule")
	}
}

// Workers' evidence files merge into one, earliest first, every record
// kept.
func TestMergeEvidenceOrdersByTime(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, ats ...int64) string {
		p := filepath.Join(dir, name)
		f, err := CreateEvidence(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range ats {
			f.Add(oracle.Evidence{Class: oracle.CrossAccount, AtMs: at})
		}
		if _, err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := write("a.jsonl", 1, 4, 9), write("b.jsonl", 2, 3, 10, 11)
	out := filepath.Join(dir, "all.jsonl")
	n, err := MergeEvidence(out, []string{a, b, filepath.Join(dir, "died-first.jsonl")})
	if err != nil || n != 7 {
		t.Fatalf("merged %d records, err %v; want 7", n, err)
	}
	got, _ := os.ReadFile(out)
	var ats []string
	for _, line := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		i := strings.Index(line, `"at_ms":`)
		ats = append(ats, strings.TrimRight(strings.SplitN(line[i+8:], ",", 2)[0], "}"))
	}
	if strings.Join(ats, " ") != "1 2 3 4 9 10 11" {
		t.Errorf("merged order %v", ats)
	}
}
