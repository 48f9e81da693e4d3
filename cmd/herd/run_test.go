package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
)

func herd(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func readResult(t *testing.T, path string) *reports.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := reports.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunDefaultDrillPasses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "result.json")
	code, stdout, stderr := herd(t, context.Background(), "run", "--cameras", "60", "--time-scale", "0.1", "--quiet", "--out", out)
	if code != exitcode.OK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "VERDICT  PASS") {
		t.Errorf("summary lacks the verdict:\n%s", stdout)
	}
	r := readResult(t, out)
	if r.Verdict != reports.Pass || r.Cameras != 60 || r.Scenario != "aws-outage" || r.Interrupted {
		t.Errorf("result = %s %d cameras %s interrupted=%v", r.Verdict, r.Cameras, r.Scenario, r.Interrupted)
	}
	var raw map[string]any
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "scenario", "seed", "cameras", "policy", "verdict", "thresholds", "violations", "recovery", "latency", "errors", "interrupted"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("result lacks %q", k)
		}
	}
	rec := raw["recovery"].(map[string]any)
	for _, k := range []string{"t50_ms", "t90_ms", "t99_ms", "t100_ms"} {
		if v, ok := rec[k].(float64); !ok || v <= 0 {
			t.Errorf("recovery.%s = %v, want a positive number", k, rec[k])
		}
	}
}

func TestRunFailsOnAFault(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "probing.yaml")
	os.WriteFile(sc, []byte(`name: probing
app: {active: 1, poll: 200ms, probes: 0.5}
phases:
  - {kind: steady, duration: 2s}
thresholds: [violations.idor == 0]
`), 0o600)
	out := filepath.Join(dir, "result.json")
	code, stdout, _ := herd(t, context.Background(), "run", sc, "--cameras", "40", "--target-fault", "idor", "--quiet", "--out", out)
	if code != exitcode.Failed {
		t.Fatalf("exit %d, want 3\n%s", code, stdout)
	}
	r := readResult(t, out)
	if r.Violations.Counts["idor"] == 0 || len(r.Violations.Evidence) == 0 || r.Target.Faults[0] != "idor" {
		t.Errorf("violations %+v, faults %v: want idor with evidence", r.Violations.Counts, r.Target.Faults)
	}
	if !strings.Contains(stdout, "idor") || !strings.Contains(stdout, "FAIL violations.idor == 0") {
		t.Errorf("summary does not name the idor violations:\n%s", stdout)
	}
}

// A fleet still coming back when the plan ends is waited for: a camera
// with nothing to upload is not quiet until it is connected again. Here
// the target admits 60 connects a second and the plan ends a second after
// the outage, with few events (most cameras have none to send): every camera is back, and the drill
// passes, instead of stopping with those still shed counted as never back.
func TestRecoveryPastThePlanIsWaitedFor(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "slow-back.yaml")
	os.WriteFile(sc, []byte(`name: slow-back
camera: {events_per_minute: 2}
app: {active: 0, surge: 0}
reconnect: {policy: immediate}
phases:
  - {kind: steady, duration: 4s}
  - {kind: outage, duration: 1s, fraction: 1, mode: reset}
  - {kind: settle, duration: 1s}
thresholds: [violations.total == 0, recovery.t100 < 20s]
`), 0o600)
	out := filepath.Join(dir, "result.json")
	code, stdout, _ := herd(t, context.Background(), "run", sc, "--cameras", "200", "--ramp-rate", "100",
		"--target-max-connect-rate", "60", "--target-connect-burst", "10", "--quiet", "--out", out)
	r := readResult(t, out)
	if code != exitcode.OK || r.Recovery.Affected != 200 || r.Recovery.Reconnected != 200 {
		t.Errorf("exit %d, %d of %d back\n%s", code, r.Recovery.Reconnected, r.Recovery.Affected, stdout)
	}
}

func TestRunInterruptedWritesPartialResult(t *testing.T) {
	out := filepath.Join(t.TempDir(), "result.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code, stdout, stderr := herd(t, ctx, "run", "--cameras", "30", "--quiet", "--out", out)
	if code != exitcode.Interrupted {
		t.Fatalf("exit %d, want 130\n%s\n%s", code, stdout, stderr)
	}
	r := readResult(t, out)
	if !r.Interrupted || r.Verdict != reports.Interrupted {
		t.Errorf("interrupted=%v verdict=%s, want a partial result marked interrupted", r.Interrupted, r.Verdict)
	}
	if r.Latency["connect"].Count == 0 {
		t.Error("the partial result lost what was measured before the interrupt")
	}
}

func TestRunUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "no-such-drill"}, "no-such-drill"},
		{[]string{"run", "--time-scale", "0"}, "--time-scale must be positive"},
		{[]string{"run", "--cameras", "0"}, "cameras"},
		{[]string{"run", "--policy", "sometimes"}, "--policy"},
		{[]string{"run", "--target-fault", "gremlins"}, `unknown fault "gremlins"`},
		{[]string{"run", "--target", "http://127.0.0.1:9"}, "--admin-token"},
		{[]string{"run", "--target", "http://127.0.0.1:9", "--admin-token", "x", "--target-fault", "idor"}, "built-in target only"},
		{[]string{"run", "a", "b"}, "accepts at most 1 arg"},
		{[]string{"fleet", "export", "--cameras", "-1"}, "--cameras"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := herd(t, context.Background(), tc.args...)
			if code != exitcode.Usage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestRunAgainstAnUnreachableTargetSaysSo(t *testing.T) {
	code, _, stderr := herd(t, context.Background(), "run", "--target", "http://127.0.0.1:9", "--admin-token", "x", "--cameras", "5", "--quiet")
	if code != exitcode.Runtime || !strings.Contains(stderr, "provisioning http://127.0.0.1:9/v1/fleet") {
		t.Errorf("exit %d, stderr %q; want 1 naming the failed provisioning", code, stderr)
	}
}

func TestFleetExport(t *testing.T) {
	keyFile := writeKey(t)
	code, stdout, _ := herd(t, context.Background(), "fleet", "export", "--cameras", "25", "--seed", "4", "--key-file", keyFile)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	_, again, _ := herd(t, context.Background(), "fleet", "export", "--cameras", "25", "--seed", "4", "--key-file", keyFile)
	if stdout != again || strings.Count(stdout, `"device":`) != 25 {
		t.Errorf("export is not reproducible or lacks devices:\n%s", stdout)
	}
	_, other, _ := herd(t, context.Background(), "fleet", "export", "--cameras", "25", "--seed", "4", "--key-file", writeKey(t))
	if other == stdout || strings.Count(other, `"device":`) != 25 {
		t.Errorf("another run's key exported the same names")
	}
	if code, _, stderr := herd(t, context.Background(), "fleet", "export", "--cameras", "25"); code != exitcode.Usage || !strings.Contains(stderr, "--key-file") {
		t.Errorf("export without a key: exit %d, %q", code, stderr)
	}
}

// writeKey writes a fresh run key from 'herd key' to a file.
func writeKey(t *testing.T) string {
	t.Helper()
	code, key, stderr := herd(t, context.Background(), "key")
	if code != 0 {
		t.Fatalf("herd key: %d %s", code, stderr)
	}
	f := filepath.Join(t.TempDir(), "key.hex")
	if err := os.WriteFile(f, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
