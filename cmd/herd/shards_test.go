package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/sim/cloud"
)

// serveTarget runs a reference target on a loopback port until the test ends.
func serveTarget(t *testing.T, token string) string {
	t.Helper()
	srv, err := cloud.New(cloud.Config{AdminToken: token})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// Four shard processes on loopback against one target, started on one
// instant and merged, agree exactly with the same fleet run as one process.
func TestFourShardsMergeToTheSameCountsAsOneRun(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.hex")
	code, key, stderr := herd(t, context.Background(), "key")
	if code != 0 {
		t.Fatalf("herd key: %d %s", code, stderr)
	}
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--cameras", "200", "--time-scale", "0.1", "--admin-token", "tok", "--key-file", keyFile, "--quiet"}

	url := serveTarget(t, "tok")
	startAt := time.Now().Add(4 * time.Second).UTC().Format(time.RFC3339)
	var cmds []*exec.Cmd
	var outs []string
	for i := range 4 {
		out := filepath.Join(dir, fmt.Sprintf("shard-%d.json", i))
		outs = append(outs, out)
		args := append([]string{"run", "--shard", fmt.Sprintf("%d/4", i), "--start-at", startAt, "--target", url, "--out", out}, common...)
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), "HERD_TEST_AS_HERD=1")
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("shard %d stderr:\n%s", i, errb.String())
			}
		})
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("shard %d: %v", i, err)
		}
	}
	merged := filepath.Join(dir, "merged.json")
	code, stdout, stderr := herd(t, context.Background(), append([]string{"merge", "--out", merged}, outs...)...)
	if code != exitcode.OK {
		t.Fatalf("merge: exit %d\n%s\n%s", code, stdout, stderr)
	}
	m := readResult(t, merged)

	one := filepath.Join(dir, "one.json")
	code, stdout, stderr = herd(t, context.Background(), append([]string{"run", "--target", serveTarget(t, "tok"), "--out", one}, common...)...)
	if code != exitcode.OK {
		t.Fatalf("one run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	o := readResult(t, one)

	if m.Cameras != o.Cameras || m.Accounts != o.Accounts || m.Cameras != 200 {
		t.Errorf("cameras/accounts: shards %d/%d, one run %d/%d", m.Cameras, m.Accounts, o.Cameras, o.Accounts)
	}
	if m.Events.Captured != o.Events.Captured || m.Events.Acked != o.Events.Acked || m.Audit.Events != o.Audit.Events {
		t.Errorf("events: shards captured %d acked %d audited %d; one run captured %d acked %d audited %d",
			m.Events.Captured, m.Events.Acked, m.Audit.Events, o.Events.Captured, o.Events.Acked, o.Audit.Events)
	}
	if m.Recovery.Affected != o.Recovery.Affected || m.Recovery.Reconnected != o.Recovery.Reconnected {
		t.Errorf("recovery: shards %d/%d, one run %d/%d", m.Recovery.Reconnected, m.Recovery.Affected, o.Recovery.Reconnected, o.Recovery.Affected)
	}
	for class, n := range o.Violations.Counts {
		if m.Violations.Counts[class] != n {
			t.Errorf("violations %s: shards %d, one run %d", class, m.Violations.Counts[class], n)
		}
	}
	if len(m.Shards) != 4 || m.Verdict != o.Verdict {
		t.Errorf("merged shards %+v, verdict %s (one run %s)", m.Shards, m.Verdict, o.Verdict)
	}
	// The shards started on one instant: their phases line up.
	for _, out := range outs[1:] {
		r := readResult(t, out)
		if d := r.Phases[0].Start.Sub(m.Phases[0].Start); d != 0 {
			t.Errorf("%s: first phase starts %v after shard 0's", out, d)
		}
	}
}

// merge refuses results of different runs, and a shard twice.
func TestMergeRefusesMismatchedInputs(t *testing.T) {
	dir := t.TempDir()
	run1 := filepath.Join(dir, "a.json")
	run2 := filepath.Join(dir, "b.json")
	for i, out := range []string{run1, run2} {
		code, _, stderr := herd(t, context.Background(), "run", "--cameras", "30", "--time-scale", "0.05", "--quiet", "--seed", fmt.Sprint(i+1), "--out", out)
		if code != exitcode.OK {
			t.Fatalf("run: %d %s", code, stderr)
		}
	}
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{[]string{run1, run2}, "seed"},
		{[]string{run1, run1}, "shard 0 of 1 is in both"},
		{[]string{run1, filepath.Join(dir, "missing.json")}, "missing.json"},
	} {
		code, _, stderr := herd(t, context.Background(), append([]string{"merge"}, tc.files...)...)
		if code != exitcode.Usage || !strings.Contains(stderr, tc.want) {
			t.Errorf("merge %v: exit %d, stderr %q; want exit 2 naming %q", tc.files, code, stderr, tc.want)
		}
	}
}

// A nightly drill against one staging backend is herd's main use: drills of
// any seed, size, policy or shard layout, and a capacity sweep, all pass on
// an honest backend that has served the drills before them, each in a run
// namespace of its own.
func TestRepeatedDrillsAgainstOneTargetPass(t *testing.T) {
	t.Setenv("HERD_TEST_AS_HERD", "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	url := serveTarget(t, "tok")
	common := []string{"--target", url, "--admin-token", "tok", "--time-scale", "0.1", "--quiet"}
	runs := map[string]bool{}
	check := func(name, file string) {
		t.Helper()
		r := readResult(t, file)
		if r.Verdict != reports.Pass || r.Violations.Total != 0 || r.Audit.FailedAccounts != 0 {
			t.Errorf("%s: verdict %s, violations %v, reasons %v", name, r.Verdict, r.Violations.Counts, r.Reasons)
		}
		if len(r.Run) != 11 || runs[r.Run] {
			t.Errorf("%s: run namespace %q is not a fresh one (seen: %v)", name, r.Run, runs)
		}
		runs[r.Run] = true
	}
	for i, args := range [][]string{
		{"--cameras", "200", "--seed", "1"},
		{"--cameras", "200", "--seed", "7"},
		{"--cameras", "300", "--seed", "1", "--policy", "full-jitter"},
	} {
		out := filepath.Join(dir, fmt.Sprintf("run-%d.json", i))
		code, stdout, stderr := herd(t, context.Background(), append(append([]string{"run", "--out", out}, common...), args...)...)
		if code != exitcode.OK {
			t.Fatalf("drill %d %v: exit %d\n%s\n%s", i, args, code, stdout, stderr)
		}
		check(fmt.Sprintf("drill %d", i), out)
	}

	// Two shards of one run, after those.
	keyFile := writeKey(t)
	startAt := time.Now().Add(4 * time.Second).UTC().Format(time.RFC3339)
	var outs []string
	var cmds []*exec.Cmd
	for i := range 2 {
		out := filepath.Join(dir, fmt.Sprintf("shard-%d.json", i))
		outs = append(outs, out)
		cmd := exec.Command(exe, append([]string{"run", "--shard", fmt.Sprintf("%d/2", i), "--start-at", startAt, "--key-file", keyFile, "--cameras", "200", "--out", out}, common...)...)
		cmd.Env = append(os.Environ(), "HERD_TEST_AS_HERD=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("shard %d: %v", i, err)
		}
	}
	merged := filepath.Join(dir, "merged.json")
	if code, stdout, stderr := herd(t, context.Background(), append([]string{"merge", "--out", merged}, outs...)...); code != exitcode.OK {
		t.Fatalf("merge: exit %d\n%s\n%s", code, stdout, stderr)
	}
	check("two shards", merged)

	// A capacity sweep against the same backend passes at every size.
	capDir := filepath.Join(dir, "capacity")
	code, stdout, stderr := herd(t, context.Background(), "capacity", "--cameras", "60,120", "--dir", capDir, "--target", url, "--admin-token", "tok", "--time-scale", "0.1")
	if code != exitcode.OK {
		t.Fatalf("capacity: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, n := range []int{60, 120} {
		check(fmt.Sprintf("capacity at %d", n), filepath.Join(capDir, fmt.Sprintf("cameras-%d.json", n)))
	}
	// Reusing a run's key against the same backend would mix its events
	// with the earlier run's: the drill refuses before it starts.
	code, _, stderr = herd(t, context.Background(), append([]string{"run", "--key-file", keyFile, "--cameras", "200"}, common...)...)
	if code != exitcode.Runtime || !strings.Contains(stderr, "make a fresh key") {
		t.Errorf("a drill reusing a run's key: exit %d, %q; want 1 and the remedy", code, stderr)
	}
}
