package procs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary is its own child: with childEnv set, TestMain plays the
// child role its first argument names instead of running the tests.
const childEnv = "HERD_PROCS_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child(os.Args[1]))
	}
	os.Exit(m.Run())
}

type echoed struct {
	Input string    `json:"input"`
	Start time.Time `json:"start"`
}

// child is one child role: it speaks the handshake as herd's children do.
func child(role string) int {
	intr, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p, ok := FromParent(os.Stdin)
	if !ok {
		fmt.Fprintln(os.Stderr, "not started by a parent")
		return 9
	}
	var in string
	if err := p.Input(&in); err != nil {
		_ = p.Fail(err)
		return 1
	}
	switch role {
	case "die":
		fmt.Fprintln(os.Stderr, "out of cheese")
		return 3
	case "fail":
		_ = p.Fail(errors.New("no target answers at " + in))
		return 1
	}
	p.Ready(map[string]string{"url": "http://" + in})
	start, err := p.WaitStart(context.Background())
	if err != nil {
		_ = p.Fail(err)
		return 1
	}
	switch role {
	case "echo":
		p.Status(map[string]int{"n": 1})
		p.Done(echoed{Input: in, Start: start})
	case "hold": // until interrupted, then what it has
		<-intr.Done()
		p.Done(echoed{Input: in + " interrupted", Start: start})
	case "orphan": // until the parent is gone
		<-p.Gone()
	}
	return 0
}

func spec(role, input string) Spec {
	return Spec{Name: role + " " + input, Args: []string{role}, Env: []string{childEnv + "=1"}, Input: input}
}

func TestGroupHandshake(t *testing.T) {
	g, err := StartGroup([]Spec{spec("echo", "a"), spec("echo", "b"), spec("echo", "c")})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop(time.Second)
	ready, err := g.Ready(context.Background(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"a", "b", "c"} {
		var r struct{ URL string }
		if err := json.Unmarshal(ready[i], &r); err != nil || r.URL != "http://"+want {
			t.Errorf("child %d ready = %s, want its url http://%s", i, ready[i], want)
		}
	}
	start := time.Now().Add(100 * time.Millisecond).Round(time.Millisecond)
	g.StartAt(start)
	statuses := 0
	out := g.Run(context.Background(), Watch{Status: func(int, json.RawMessage) { statuses++ }})
	for i, o := range out {
		var e echoed
		if err := json.Unmarshal(o.Done, &e); err != nil {
			t.Fatalf("child %d: no done message (%v): %+v", i, err, o)
		}
		if !e.Start.Equal(start) || e.Input != []string{"a", "b", "c"}[i] {
			t.Errorf("child %d done = %+v, want its input and the start %s", i, e, start)
		}
		if o.Failure != "" || o.PID == 0 {
			t.Errorf("child %d: outcome %+v, want no failure and a pid", i, o)
		}
	}
	if statuses != 3 {
		t.Errorf("%d status messages, want one from each child", statuses)
	}
}

func TestGroupReportsDeathsAndErrors(t *testing.T) {
	g, err := StartGroup([]Spec{spec("echo", "ok"), spec("die", "x"), spec("fail", "10.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop(time.Second)
	if _, err := g.Ready(context.Background(), 30*time.Second); err != nil {
		t.Fatalf("Ready with dead children: %v", err)
	}
	g.StartAt(time.Now())
	out := g.Run(context.Background(), Watch{})
	if out[0].Done == nil {
		t.Errorf("the living child: %+v, want its done message", out[0])
	}
	if out[1].Done != nil || !strings.Contains(out[1].Failure, "exit status 3") || !strings.Contains(out[1].Failure, "out of cheese") {
		t.Errorf("the dead child's failure = %q, want its exit status and its last stderr line", out[1].Failure)
	}
	if out[2].Error != "no target answers at 10.0.0.1" {
		t.Errorf("the failed child's error = %q, want the error it sent", out[2].Error)
	}
	if dead := g.Dead(); len(dead) != 3 || g.Running() != 0 {
		t.Errorf("Dead() = %q, Running() = %d after all ended", dead, g.Running())
	}
	if n := g.Failed(); n != 2 { // the child that ended well is not a dead one
		t.Errorf("Failed() = %d, want 2", n)
	}
}

func TestRunFansOutTheInterrupt(t *testing.T) {
	g, err := StartGroup([]Spec{spec("hold", "a"), spec("hold", "b")})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop(time.Second)
	if _, err := g.Ready(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	g.StartAt(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	for i, o := range g.Run(ctx, Watch{}) {
		var e echoed
		if json.Unmarshal(o.Done, &e) != nil || !strings.HasSuffix(e.Input, " interrupted") {
			t.Errorf("child %d after Ctrl-C: %+v, want the done message it writes when interrupted", i, o)
		}
	}
}

func TestChildEndsWhenItsParentIsGone(t *testing.T) {
	c, err := Start(spec("orphan", "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(time.Second)
	if m := <-c.Messages(); m.Ready == nil {
		t.Fatalf("first message %+v, want ready", m)
	}
	if err := c.StartAt(time.Now()); err != nil {
		t.Fatal(err)
	}
	c.stdin.Close() // what the parent's death does to the child's stdin
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not end when its stdin closed")
	}
	if code := c.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestGroupReadyGivesUp(t *testing.T) {
	g, err := StartGroup([]Spec{{Name: "mute", Args: []string{"hold"}, Env: []string{childEnv + "=1"}}}) // waits for an input never sent
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop(time.Second)
	if _, err := g.Ready(context.Background(), 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "mute not ready") {
		t.Errorf("Ready of a child that never says so = %v, want it named", err)
	}
	g.Signal(syscall.SIGTERM)
}

func TestBudget(t *testing.T) {
	b := Budget{Limit: 20_000}
	for _, tt := range []struct{ n, files, most, want int }{
		{10_000, 1, 15_000, 1},
		{100_000, 1, 15_000, 7}, // 18,500 fit, at most 15,000 each
		{100_000, 2, 15_000, 11},
		{1, 1, 15_000, 1},
	} {
		if got := b.Processes(tt.n, tt.files, tt.most); got != tt.want {
			t.Errorf("Processes(%d, %d, %d) = %d, want %d", tt.n, tt.files, tt.most, got, tt.want)
		}
	}
	if !b.Fits(18_500, 1) || b.Fits(18_501, 1) || b.Fits(9_251, 2) {
		t.Error("Fits does not keep Slack files of 20,000 free")
	}
}
