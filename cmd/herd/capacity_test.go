package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
)

// A target whose admission lets 200 connects through at once breaks
// between 100 and 400 cameras reconnecting together: capacity must name
// 100 as the knee.
//
// The threshold sits where the token bucket puts it, not where this
// machine's speed does: 400 cameras cannot all be back in under 4 s (200
// more connects at 50/s), so T100 < 3s fails them by construction, while
// 100 cameras still pass when a loaded CI machine times out a registry
// look-up and a camera waits out one Retry-After of 1 s (seen: T100 1.13 s).
func TestCapacityFindsTheKneeOfAnAdmissionLimitedTarget(t *testing.T) {
	t.Setenv("HERD_TEST_AS_HERD", "1")
	dir := t.TempDir()
	scenario := filepath.Join(dir, "knee.yaml")
	yaml := `
name: knee
fleet: {cameras: 100, seed: 7}
camera: {events_per_minute: 30, thumb_bytes: 256, frame_bytes: 512, backlog: 5}
reconnect: {policy: immediate, base: 1s, cap: 5s, honour_retry_after: true}
app: {active: 0, surge: 0, probes: 0}
# The audit's app calls pass the same 50/s bucket: a sample of the
# thumbnails keeps each size's audit to seconds.
audit: {thumbnails: 0.05}
phases:
  - {kind: steady, duration: 2s}
  - {kind: outage, duration: 1s, mode: reset}
  - {kind: settle, duration: 5s}
thresholds:
  - violations.total == 0
  - recovery.t100 < 3s
`
	if err := os.WriteFile(scenario, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := herd(t, context.Background(), "capacity", scenario, "--cameras", "50,100,400",
		"--dir", dir, "--target-max-connect-rate", "50", "--target-connect-burst", "200")
	if code != exitcode.OK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	f, err := os.Open(filepath.Join(dir, "capacity.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	capy, err := reports.ReadCapacityJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(capy.Points) != 3 {
		t.Fatalf("%d points, want 3", len(capy.Points))
	}
	for _, p := range capy.Points {
		t.Logf("%d cameras: %s T100 %v failed %v", p.Cameras, p.Verdict, deref(p.RecoveryT100Ms), p.FailedThresholds)
	}
	if capy.Knee.Cameras != 100 {
		t.Errorf("knee %d cameras, want 100\n%s", capy.Knee.Cameras, stdout)
	}
	if !strings.Contains(stdout, "knee: 100 cameras") {
		t.Errorf("summary does not name the knee:\n%s", stdout)
	}
	html, err := os.ReadFile(filepath.Join(dir, "capacity.html"))
	if err != nil || !strings.Contains(string(html), "<svg") {
		t.Errorf("capacity.html: %v, %d bytes without a plot", err, len(html))
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}
