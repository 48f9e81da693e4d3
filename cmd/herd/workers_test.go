package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
)

// TestMain lets this test binary stand in for herd when herd starts
// worker and cell processes of itself (os.Executable is the test binary).
func TestMain(m *testing.M) {
	if os.Getenv("HERD_TEST_AS_HERD") == "1" {
		ctx, stop := signalContext()
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe to write from the drill and read from
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A drill forced onto three worker processes and two target cells: the
// merged result is exactly the sum of the workers' own results.
func TestWorkersMergeToTheSumOfTheirParts(t *testing.T) {
	t.Setenv("HERD_TEST_AS_HERD", "1")
	dir := t.TempDir()
	parts := filepath.Join(dir, "parts")
	out := filepath.Join(dir, "merged.json")
	code, stdout, stderr := herd(t, context.Background(), "run", "--cameras", "300", "--workers", "3", "--cells", "2",
		"--time-scale", "0.15", "--parts", parts, "--out", out, "--progress-every", "1s")
	if code != exitcode.OK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	merged := readResult(t, out)
	files, _ := filepath.Glob(filepath.Join(parts, "shard-*.json"))
	if len(files) != 3 {
		t.Fatalf("%d part results, want 3: %v", len(files), files)
	}
	var sum reports.Result
	sum.Counts = map[string]int64{}
	sum.Violations.Counts = map[string]int64{}
	latency := map[string]int64{}
	var sources []string
	for _, f := range files {
		r := readResult(t, f)
		if r.Shards[0].Of != 3 || r.Cameras == 0 {
			t.Errorf("%s: shard %+v with %d cameras", f, r.Shards[0], r.Cameras)
		}
		sum.Cameras += r.Cameras
		sum.Accounts += r.Accounts
		sum.Events.Acked += r.Events.Acked
		sum.Recovery.Affected += r.Recovery.Affected
		sum.Audit.Events += r.Audit.Events
		sum.Errors.Operations += r.Errors.Operations
		for k, v := range r.Counts {
			sum.Counts[k] += v
		}
		for k, v := range r.Violations.Counts {
			sum.Violations.Counts[k] += v
		}
		for k, l := range r.Latency {
			latency[k] += l.Count
		}
		sources = append(sources, r.KeyID)
	}
	if merged.Cameras != 300 || sum.Cameras != 300 || merged.FleetCameras != 300 {
		t.Errorf("cameras: merged %d, parts %d, fleet %d; want 300", merged.Cameras, sum.Cameras, merged.FleetCameras)
	}
	if merged.Accounts != sum.Accounts || merged.Events.Acked != sum.Events.Acked || merged.Recovery.Affected != sum.Recovery.Affected ||
		merged.Audit.Events != sum.Audit.Events || merged.Errors.Operations != sum.Errors.Operations {
		t.Errorf("merged totals differ from the sum of the parts:\nmerged accounts %d acked %d affected %d audited %d ops %d\nparts  accounts %d acked %d affected %d audited %d ops %d",
			merged.Accounts, merged.Events.Acked, merged.Recovery.Affected, merged.Audit.Events, merged.Errors.Operations,
			sum.Accounts, sum.Events.Acked, sum.Recovery.Affected, sum.Audit.Events, sum.Errors.Operations)
	}
	for k, v := range sum.Counts {
		if merged.Counts[k] != v {
			t.Errorf("count %s: merged %d, parts %d", k, merged.Counts[k], v)
		}
	}
	for k, v := range latency {
		if merged.Latency[k].Count != v {
			t.Errorf("latency %s: merged count %d, parts %d", k, merged.Latency[k].Count, v)
		}
	}
	for k, v := range merged.Violations.Counts {
		if v != 0 || sum.Violations.Counts[k] != 0 {
			t.Errorf("violations %s: merged %d, parts %d on an honest target", k, v, sum.Violations.Counts[k])
		}
	}
	if sources[0] != sources[1] || sources[1] != sources[2] || sources[0] == "" {
		t.Errorf("workers used different oracle keys: %v", sources)
	}
	if merged.Verdict != reports.Pass || len(merged.Shards) != 3 || merged.Generator.Processes != 3 || len(merged.Target.URLs) != 2 {
		t.Errorf("merged: verdict %s, shards %+v, processes %d, cells %v", merged.Verdict, merged.Shards, merged.Generator.Processes, merged.Target.URLs)
	}
	if n := len(merged.Curve.Connected); n == 0 || merged.Curve.Connected[n-1] > 300 {
		t.Errorf("merged curve: %d samples, last %v", n, merged.Curve.Connected[max(0, n-1):])
	}
}

// A worker killed mid-drill is reported with its shard marked failed; the
// other workers' results are kept and the verdict fails.
func TestKilledWorkerIsReportedAndTheRestComplete(t *testing.T) {
	t.Setenv("HERD_TEST_AS_HERD", "1")
	out := filepath.Join(t.TempDir(), "result.json")
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"run", "--cameras", "300", "--workers", "3", "--cells", "1",
			"--time-scale", "0.15", "--out", out, "--progress-every", "1s"}, &stdout, &stderr)
	}()
	pidRE := regexp.MustCompile(`worker 1: pid (\d+), (\d+) cameras`)
	var pid, cams int
	deadline := time.Now().Add(time.Minute)
	for pid == 0 && time.Now().Before(deadline) {
		if m := pidRE.FindStringSubmatch(stderr.String()); m != nil {
			pid, _ = strconv.Atoi(m[1])
			cams, _ = strconv.Atoi(m[2])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatalf("no worker 1 pid in stderr:\n%s", stderr.String())
	}
	// Kill it once the fleet is connected (the steady phase).
	for !regexp.MustCompile(`steady|outage|recovery`).MatchString(stderr.String()) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing worker 1 (pid %d): %v", pid, err)
	}
	code := <-done
	if code != exitcode.Failed {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitcode.Failed, stdout.String(), stderr.String())
	}
	r := readResult(t, out)
	if len(r.Shards) != 3 || r.Shards[1].Status != reports.ShardFailed || r.Shards[0].Status != reports.ShardOK || r.Shards[2].Status != reports.ShardOK {
		t.Fatalf("shards %+v: want 1 failed, 0 and 2 ok", r.Shards)
	}
	if !regexp.MustCompile(`killed`).MatchString(r.Shards[1].Detail) {
		t.Errorf("failed shard's detail %q does not say it was killed", r.Shards[1].Detail)
	}
	if r.Cameras != 300-cams || r.FleetCameras != 300 {
		t.Errorf("cameras %d of %d, want %d of 300 (worker 1 had %d)", r.Cameras, r.FleetCameras, 300-cams, cams)
	}
	if r.Verdict != reports.Fail || r.Events.Acked == 0 || r.Audit.Accounts == 0 {
		t.Errorf("verdict %s, acked %d, audited accounts %d: want fail with the others' data", r.Verdict, r.Events.Acked, r.Audit.Accounts)
	}
	found := false
	for _, reason := range r.Reasons {
		if regexp.MustCompile(`shard 1 of 3 failed`).MatchString(reason) {
			found = true
		}
	}
	if !found {
		t.Errorf("reasons %q do not name shard 1", r.Reasons)
	}
	if r.Violations.Total != 0 {
		t.Errorf("violations %v after a worker died: the others' oracles must not blame the target", r.Violations.Counts)
	}
}
