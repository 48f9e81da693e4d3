package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/sim/oracle"
)

// A target whose cache keys thumbnails by event id alone leaks across
// accounts: the drill fails, the summary says the exposure first and in the
// incident's words, the merged exposure of two workers is exactly the
// union of theirs, and --evidence holds every record the oracle found.
func TestSharedCacheKeyLeakIsMeasuredAsExposure(t *testing.T) {
	t.Setenv("HERD_TEST_AS_HERD", "1")
	dir := t.TempDir()
	out, parts, ev := filepath.Join(dir, "result.json"), filepath.Join(dir, "parts"), filepath.Join(dir, "evidence.jsonl")
	// Every account has events before the apps open together after the
	// outage: the first Events-tab page cached is never an empty one.
	sc := filepath.Join(dir, "cache.yaml")
	os.WriteFile(sc, []byte(`name: cache
camera: {events_per_minute: 120}
app: {active: 0, surge: 1, surge_window: 500ms, thumbnails: 1, live: 0, probes: 0}
phases:
  - {kind: steady, duration: 3s}
  - {kind: outage, duration: 1s, fraction: 1, mode: reset}
  - {kind: settle, duration: 3s}
`), 0o600)
	code, stdout, stderr := herd(t, context.Background(), "run", sc, "--cameras", "200", "--workers", "2",
		"--target-fault", "shared-cache-key", "--quiet", "--out", out, "--parts", parts, "--evidence", ev)
	if code != exitcode.Failed {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := readResult(t, out)
	e := r.Exposure
	if e.ViewersListed == 0 || e.Victims == 0 || e.DevicesExposed == 0 || e.FirstMs == nil {
		t.Fatalf("exposure = %+v, want viewers, victims, devices and a first instant", e)
	}
	exp, vio := strings.Index(stdout, "Exposure"), strings.Index(stdout, "Violations")
	if exp < 0 || vio < 0 || exp > vio || !strings.Contains(stdout, "shown another account's events") {
		t.Errorf("summary does not say the exposure before the violations:\n%s", stdout)
	}
	// Accounts are split between workers, so viewers add up; a victim can
	// be seen from both, so victims are a union, not a sum.
	var viewers int64
	var victims oracle.Set
	names, _ := filepath.Glob(filepath.Join(parts, "*.json"))
	if len(names) != 2 {
		t.Fatalf("parts %v, want 2", names)
	}
	for _, name := range names {
		p := readResult(t, name)
		viewers += p.Exposure.ViewersListed
		victims = victims.Union(p.Exposure.Sets.Victims)
	}
	if viewers != e.ViewersListed || int64(victims.Len()) != e.Victims || e.Sets.Victims.Len() != victims.Len() {
		t.Errorf("merged viewers %d victims %d; parts' viewers sum to %d and victims' union is %d", e.ViewersListed, e.Victims, viewers, victims.Len())
	}
	f, err := os.Open(ev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines int64
	ls := bufio.NewScanner(f)
	ls.Buffer(nil, 1<<20)
	for ls.Scan() {
		var rec oracle.Evidence
		if err := json.Unmarshal(ls.Bytes(), &rec); err != nil || rec.Class == "" {
			t.Fatalf("evidence line %d %q: %v", lines+1, ls.Text(), err)
		}
		lines++
	}
	if lines != r.Violations.Total {
		t.Errorf("--evidence holds %d records, the result counts %d violations", lines, r.Violations.Total)
	}
}

// A drill in which no event was acknowledged tested nothing: it fails and
// says why. (herd run --time-scale 0.001 may or may not ack an event in
// its few milliseconds; a camera that captures nothing never does.)
func TestHollowDrillFails(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "quiet.yaml")
	os.WriteFile(sc, []byte(`name: quiet
camera: {events_per_minute: 0}
phases:
  - {kind: steady, duration: 1s}
  - {kind: outage, duration: 1s, fraction: 1, mode: reset}
  - {kind: settle, duration: 2s}
`), 0o600)
	out := filepath.Join(dir, "result.json")
	code, stdout, stderr := herd(t, context.Background(), "run", sc, "--cameras", "50", "--quiet", "--out", out)
	if code != exitcode.Failed {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := readResult(t, out)
	if r.Verdict != reports.Fail || r.Violations.Total != 0 {
		t.Errorf("verdict %s with %d violations, want a fail for testing nothing", r.Verdict, r.Violations.Total)
	}
	if !strings.Contains(strings.Join(r.Reasons, "\n"), "the drill tested nothing: no event was acknowledged") {
		t.Errorf("reasons %q do not say what the drill did not test", r.Reasons)
	}
	if !strings.Contains(stdout, "the drill tested nothing") {
		t.Errorf("summary does not say it:\n%s", stdout)
	}
}

// SIGINT and SIGTERM stop a drill with a partial result: the verdict is
// interrupted and thresholds it never measured are not failed.
func TestSignalsWriteAnInterruptedResult(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, exitcode.Interrupted}, {syscall.SIGTERM, exitcode.Terminated}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "result.json")
			cmd := exec.Command(exe, "run", "--cameras", "40", "--quiet", "--out", out)
			cmd.Env = append(os.Environ(), "HERD_TEST_AS_HERD=1")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Second)
			cmd.Process.Signal(tc.sig)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Fatalf("exit %v, want %d", err, tc.code)
			}
			r := readResult(t, out)
			if !r.Interrupted || r.Verdict != reports.Interrupted {
				t.Errorf("interrupted=%v verdict=%s, want interrupted", r.Interrupted, r.Verdict)
			}
			for _, th := range r.Thresholds {
				if th.Status == reports.ThresholdFail {
					t.Errorf("threshold %s failed in a drill stopped at +3s: %+v", th.Expr, th)
				}
			}
			if !strings.Contains(strings.Join(r.Reasons, "\n"), "interrupted") {
				t.Errorf("reasons %q do not say the drill was interrupted", r.Reasons)
			}
		})
	}
}

// A target killed mid-drill is named, with when, in the summary and the
// reasons, and the drill still ends by itself.
func TestATargetThatDiesIsNamed(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	target := exec.Command(exe, "target", "--listen", addr, "--admin-token", "T")
	target.Env = append(os.Environ(), "HERD_TEST_AS_HERD=1")
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { target.Process.Kill(); target.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		} else if i == 100 {
			t.Fatalf("herd target did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	started := time.Now()
	killed := make(chan time.Duration, 1)
	time.AfterFunc(5*time.Second, func() { target.Process.Kill(); killed <- time.Since(started) })
	out := filepath.Join(t.TempDir(), "result.json")
	code, stdout, stderr := herd(t, context.Background(), "run", "--target", "http://"+addr, "--admin-token", "T",
		"--cameras", "40", "--time-scale", "0.15", "--policy", "fixed", "--quiet", "--out", out)
	if code != exitcode.Failed {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	at := (<-killed).Seconds()
	r := readResult(t, out)
	var since float64
	reasons := strings.Join(r.Reasons, "\n")
	if _, err := fmt.Sscanf(reasons[max(strings.Index(reasons, "target unreachable since +"), 0):], "target unreachable since +%fs", &since); err != nil ||
		since < at-1 || since > at+1 || !strings.Contains(reasons, "(connection refused at the target)") {
		t.Errorf("reasons %q do not name the target gone at +%.1fs (killed then)", r.Reasons, at)
	}
	if !strings.Contains(stdout, "the target answered nothing from +") {
		t.Errorf("summary does not say the target went away:\n%s", stdout)
	}
	if len(r.Target.Unreachable) == 0 {
		t.Errorf("the result keeps no unreachable span: %+v", r.Target)
	}
}

// Output paths are checked before the drill, and a result whose file
// cannot be written at the end is kept at a fallback path.
func TestOutputPathsAreCheckedFirstAndNothingIsLost(t *testing.T) {
	dir := t.TempDir()
	for _, flag := range []string{"--out", "--html", "--junit", "--evidence"} {
		start := time.Now()
		code, _, stderr := herd(t, context.Background(), "run", "--cameras", "20", "--quiet", flag, filepath.Join(dir, "missing", "f"))
		if code != exitcode.Usage || !strings.Contains(stderr, flag+" ") || time.Since(start) > 5*time.Second {
			t.Errorf("%s into a missing directory: exit %d after %v, stderr %q; want 2 at once, naming the flag", flag, code, time.Since(start), stderr)
		}
	}
	afile := filepath.Join(dir, "afile")
	os.WriteFile(afile, nil, 0o600)
	code, _, stderr := herd(t, context.Background(), "run", "--cameras", "20", "--quiet", "--parts", filepath.Join(afile, "p")) // a file where a directory must go
	if code != exitcode.Usage || !strings.Contains(stderr, "--parts") {
		t.Errorf("--parts under a file: exit %d, stderr %q", code, stderr)
	}

	res := &reports.Result{Schema: reports.Schema, Run: "fallback-test", Verdict: reports.Pass}
	gone := filepath.Join(dir, "gone")
	os.Mkdir(gone, 0o755)
	path := filepath.Join(gone, "result.json")
	os.RemoveAll(gone) // the directory went away during the drill
	var sum strings.Builder
	err := reports.Deliver(&sum, res, reports.Files{JSON: path})
	fb := reports.Fallback(res)
	defer os.Remove(fb)
	if err == nil || !strings.Contains(err.Error(), fb) {
		t.Fatalf("err %v, want it to name the fallback %s", err, fb)
	}
	if _, err := os.Stat(fb); err != nil {
		t.Errorf("no result at the fallback: %v", err)
	}
}

// A provisioning failure is a result too: verdict error, and why.
func TestProvisioningFailureWritesAnErrorResult(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	out := filepath.Join(t.TempDir(), "result.json")
	code, _, stderr := herd(t, context.Background(), "run", "--target", "http://"+addr, "--admin-token", "x", "--cameras", "5", "--quiet", "--out", out)
	if code != exitcode.Runtime || !strings.Contains(stderr, "provisioning") {
		t.Fatalf("exit %d, stderr %q; want 1 naming provisioning", code, stderr)
	}
	r := readResult(t, out)
	if r.Verdict != reports.Error || !strings.Contains(strings.Join(r.Reasons, "\n"), "provisioning") {
		t.Errorf("verdict %s reasons %q, want error naming provisioning", r.Verdict, r.Reasons)
	}
}

// herd report refuses a result that lacks what a verdict needs.
func TestReportRefusesAHollowResult(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "hollow.json")
	os.WriteFile(in, []byte(`{"schema":"herd.result/v1"}`), 0o600)
	junit := filepath.Join(dir, "junit.xml")
	code, _, stderr := herd(t, context.Background(), "report", in, "--junit", junit)
	if code != exitcode.Usage || !strings.Contains(stderr, "verdict") {
		t.Errorf("exit %d, stderr %q; want 2 naming a missing field", code, stderr)
	}
	if _, err := os.Stat(junit); err == nil {
		t.Error("a JUnit file was written from a hollow result")
	}
}

// Bad flags are blamed on the flag.
func TestFlagErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--cameras", "-5"}, "--cameras -5"},
		{[]string{"run", "--workers", "-1"}, "--workers -1"},
		{[]string{"run", "--cells", "-2"}, "--cells -2"},
	} {
		code, _, stderr := herd(t, context.Background(), tc.args...)
		if code != exitcode.Usage || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "builtin:") {
			t.Errorf("%v: exit %d, stderr %q; want 2 blaming %q", tc.args, code, stderr, tc.want)
		}
	}
}

// herd version names the revision it was built from.
func TestVersionNamesTheRevision(t *testing.T) {
	if testing.Short() {
		t.Skip("builds herd")
	}
	rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not in a git checkout:", err)
	}
	bin := filepath.Join(t.TempDir(), "herd")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(rev))[:12]; !strings.Contains(string(out), want) {
		t.Errorf("herd version says %q, want revision %s", out, want)
	}
}

// Shell completion offers scenario names, policies and faults.
func TestCompletionOffersNames(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "run", ""}, "aws-outage"},
		{[]string{"__complete", "run", "--policy", ""}, "full-jitter"},
		{[]string{"__complete", "run", "--target-fault", "idor,"}, "idor,shared-cache-key"},
		{[]string{"__complete", "scenarios", "show", ""}, "aws-outage"},
	} {
		code, stdout, stderr := herd(t, context.Background(), tc.args...)
		if code != exitcode.OK || !strings.Contains(stdout, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}
