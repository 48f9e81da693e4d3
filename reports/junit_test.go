package reports

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-drill/herd/scenarios"
)

func TestJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "result.golden.json", b.Bytes())
}

func TestJUnitGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJUnit(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "result.golden.junit.xml", b.Bytes())
}

// parsed is the part of a JUnit document the tests look at.
type parsed struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
		SystemOut string `xml:"system-out"`
	} `xml:"testsuite"`
}

func junitOf(t *testing.T, r *Result) (parsed, []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	var p parsed
	if err := xml.Unmarshal(b.Bytes(), &p); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	return p, b.Bytes()
}

func TestJUnitHasACasePerThresholdAndViolationClass(t *testing.T) {
	r := fixture(t)
	p, _ := junitOf(t, r)
	if len(p.Suites) != 1 {
		t.Fatalf("%d test suites, want 1", len(p.Suites))
	}
	s := p.Suites[0]
	want := len(r.Thresholds) + len(r.Violations.Counts) + 3
	if s.Tests != want || len(s.Cases) != want || p.Tests != want {
		t.Fatalf("tests = %d (%d cases, %d in testsuites), want %d: thresholds, classes, the run, the audit, what it tested", s.Tests, len(s.Cases), p.Tests, want)
	}
	failed := map[string]string{}
	for _, c := range s.Cases {
		if c.Failure != nil {
			failed[c.Classname+"/"+c.Name] = c.Failure.Message + "\n" + c.Failure.Text
		}
	}
	if s.Failures != len(failed) || p.Failures != len(failed) {
		t.Errorf("failures attribute %d, %d failing cases", s.Failures, len(failed))
	}
	leak, ok := failed["herd.violations/cross_account"]
	if !ok || !strings.Contains(leak, "7 cross_account violations") || !strings.Contains(leak, "viewer acct-0000117, owner acct-0000342, device cam-00000851, event cam-00000851/30") {
		t.Errorf("cross_account case fails with %q; want the count and the evidence", leak)
	}
	if _, ok := failed["herd.thresholds/violations.total == 0"]; !ok {
		t.Errorf("threshold violations.total == 0 does not fail; failing: %v", keys(failed))
	}
	for _, passing := range []string{"herd.violations/lost", "herd.violations/idor", "herd.thresholds/recovery.t99 < 60s", "herd.run/drill ran to the end"} {
		if _, ok := failed[passing]; ok {
			t.Errorf("%s fails; want it passing", passing)
		}
	}
	if !strings.Contains(s.SystemOut, "VERDICT  FAIL") {
		t.Errorf("suite system-out lacks the summary:\n%s", s.SystemOut)
	}
}

func TestJUnitFailsExactlyWhenTheVerdictDoes(t *testing.T) {
	pass := fixture(t)
	pass.Violations.Counts = map[string]int64{"cross_account": 0, "lost": 0}
	pass.Violations.Evidence = nil
	pass.Thresholds = []ThresholdResult{{Expr: "connect.p99 < 5s", Metric: "connect.p99", Value: ptr(120), Unit: "ms", Pass: true}}
	pass.Reasons, pass.Verdict = nil, Pass
	if p, _ := junitOf(t, pass); p.Failures != 0 {
		t.Errorf("a passing drill has %d failures", p.Failures)
	}

	allowed := fixture(t)
	allowed.Reasons = []string{} // the scenario allowed violations
	p, _ := junitOf(t, allowed)
	for _, c := range p.Suites[0].Cases {
		if c.Classname == "herd.violations" && c.Failure != nil {
			t.Errorf("%s fails although the scenario allowed violations", c.Name)
		}
		if c.Name == "cross_account" && !strings.Contains(c.SystemOut, "allowed by the scenario") {
			t.Errorf("allowed violations leave no trace: %q", c.SystemOut)
		}
	}

	cut := fixture(t)
	cut.Interrupted = true
	p, _ = junitOf(t, cut)
	for _, c := range p.Suites[0].Cases {
		if c.Name == "drill ran to the end" && c.Failure == nil {
			t.Error("an interrupted drill's run case passes")
		}
	}

	// Failures the verdict counts beside thresholds and violations.
	for name, mutate := range map[string]func(*Result){
		"audit read every account": func(r *Result) { r.Audit.FailedAccounts = 7 },
		"every shard reported": func(r *Result) {
			r.Shards = []ShardInfo{{Index: 0, Of: 2, Status: ShardOK}, {Index: 1, Of: 2, Status: ShardFailed, Detail: "killed"}}
		},
	} {
		r := fixture(t)
		mutate(r)
		r.Violations.Counts = map[string]int64{"cross_account": 0}
		r.Violations.Total = 0
		r.Violations.Evidence = nil
		r.Thresholds = nil
		sc := scenarios.Defaults()
		sc.Thresholds = nil
		Judge(r, sc)
		p, _ := junitOf(t, r)
		failed := 0
		for _, c := range p.Suites[0].Cases {
			if c.Failure != nil {
				failed++
				if c.Name != name {
					t.Errorf("%s: case %q fails too", name, c.Name)
				}
			}
		}
		if r.Verdict != Fail || failed != 1 {
			t.Errorf("%s: verdict %s (%q), %d failing cases; want fail with that case failing", name, r.Verdict, r.Reasons, failed)
		}
	}
}

func TestJUnitEscapesWhatTheTargetSent(t *testing.T) {
	r := fixture(t)
	r.Violations.Evidence[0].Detail = "<script>alert(1)</script> & \x00\x1b]0;"
	r.Thresholds[0].Expr = `connect.p99 < 5s "quoted"`
	p, raw := junitOf(t, r)
	if bytes.Contains(raw, []byte("<script>")) || bytes.ContainsRune(raw, 0) || bytes.ContainsRune(raw, 0x1b) {
		t.Errorf("raw markup or control characters in the XML")
	}
	if p.Suites[0].Cases[0].Name != `connect.p99 < 5s "quoted"` {
		t.Errorf("name came back as %q", p.Suites[0].Cases[0].Name)
	}
	validate(t, raw)
}

// TestJUnitValidatesAgainstTheJenkinsSchema checks the output against
// Jenkins' junit-4.xsd, the schema CI test reporters accept, with xmllint.
func TestJUnitValidatesAgainstTheJenkinsSchema(t *testing.T) {
	_, raw := junitOf(t, fixture(t))
	validate(t, raw)
	// And the schema really constrains: a suite without a name is refused.
	bad := bytes.Replace(raw, []byte(`<testsuite name="herd.aws-outage"`), []byte(`<testsuite`), 1)
	if err := xmllint(t, bad); err == nil {
		t.Error("xmllint accepted a testsuite without its required name")
	}
}

func validate(t *testing.T, doc []byte) {
	t.Helper()
	if err := xmllint(t, doc); err != nil {
		t.Errorf("not valid against testdata/junit-4.xsd: %v", err)
	}
}

func xmllint(t *testing.T, doc []byte) error {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		missingTool(t, "xmllint not installed (Debian package libxml2-utils): JUnit schema validation skipped; .ci/run installs it")
	}
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--noout", "--schema", filepath.Join("testdata", "junit-4.xsd"), path).CombinedOutput()
	if err != nil {
		return &lintError{string(out)}
	}
	return nil
}

type lintError struct{ out string }

func (e *lintError) Error() string { return e.out }

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// missingTool skips a test that needs a tool this machine lacks, or fails
// it where HERD_REQUIRE_TOOLS is set (CI sets it after installing them), so
// that CI cannot pass by skipping.
func missingTool(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("HERD_REQUIRE_TOOLS") != "" {
		t.Fatal(msg + " (HERD_REQUIRE_TOOLS is set)")
	}
	t.Skip(msg)
}
