package live

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// sample is a Status part-way through an outage.
func sample(elapsed time.Duration) Status {
	return Status{
		Phase: "outage", Elapsed: elapsed, Cameras: 1000, Connected: 512, Connects: 1400, ConnectsPerSec: 340,
		EventsAcked: 12034, Errors: 2, Shed: 5, ErrorsByClass: map[string]int64{"http_503": 5, "timeout": 2},
		Violations: 1, ViolationsByClass: map[string]int64{"cross_account": 1, "forged": 0},
	}
}

func TestProgressLines(t *testing.T) {
	tests := []struct {
		name    string
		every   time.Duration
		updates []time.Duration // Elapsed of each Update, in seconds
		want    []string        // elapsed of each line printed, Close's included
	}{
		{"every 10s over 35s", 10 * time.Second, seconds(0, 35), []string{"0.0s", "10.0s", "20.0s", "30.0s", "35.0s"}},
		{"last update on the mark", 10 * time.Second, seconds(0, 20), []string{"0.0s", "10.0s", "20.0s"}},
		{"late updates keep the cadence", 10 * time.Second,
			[]time.Duration{500 * time.Millisecond, 10200 * time.Millisecond, 19900 * time.Millisecond, 20100 * time.Millisecond, 41 * time.Second},
			[]string{"0.5s", "10.2s", "20.1s", "41.0s"}},
		{"default interval", 0, seconds(0, 12), []string{"0.0s", "10.0s", "12.0s"}},
		{"no updates", time.Second, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			pr := NewProgress(&buf, false, tc.every, false)
			for _, e := range tc.updates {
				pr.Update(sample(e))
			}
			pr.Close()
			pr.Close() // twice is harmless
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if buf.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.want), buf.String())
			}
			for i, line := range lines {
				for _, field := range []string{"herd: outage", " " + tc.want[i] + " ", "connected 512/1000", "connects/s 340", "acked 12034",
					"errors 2 (timeout 2)  shed 5 (http_503 5)", "violations 1 (cross_account 1)"} {
					if !strings.Contains(line, field) {
						t.Errorf("line %d %q lacks %q", i, line, field)
					}
				}
			}
		})
	}
}

// seconds is whole seconds from..to, inclusive.
func seconds(from, to int) []time.Duration {
	var out []time.Duration
	for s := from; s <= to; s++ {
		out = append(out, time.Duration(s)*time.Second)
	}
	return out
}

func TestProgressLineProblems(t *testing.T) {
	tests := []struct {
		name string
		s    Status
		want string
	}{
		{"none", Status{}, "errors 0  shed 0  violations 0"},
		{"target down", Status{TargetDown: "target unreachable since +5.0s (connection refused at the target)"}, "Target unreachable since +5.0s (connection refused at the target)  errors 0  shed 0  violations 0"},
		{"unclassified rest", Status{Errors: 4, ErrorsByClass: map[string]int64{"timeout": 1}}, "errors 4 (unclassified 3, timeout 1)  shed 0  violations 0"},
		{"many classes", Status{Violations: 15, ViolationsByClass: map[string]int64{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}},
			"errors 0  shed 0  violations 15 (e 5, d 4, c 3, b 2, ...)"},
		{"dead workers", Status{WorkersDead: 2}, "errors 0  shed 0  violations 0  workers dead 2"},
	}
	for _, tc := range tests {
		if got := problems(tc.s); got != tc.want {
			t.Errorf("%s: problems = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestProgressQuiet(t *testing.T) {
	for _, term := range []bool{false, true} {
		var buf bytes.Buffer
		pr := NewProgress(&buf, term, time.Second, true)
		for _, e := range seconds(0, 5) {
			pr.Update(sample(e))
		}
		pr.Close()
		if buf.Len() != 0 {
			t.Errorf("terminal %v: quiet printed %q", term, buf.String())
		}
	}
}

func TestProgressTerminal(t *testing.T) {
	var buf syncBuffer
	pr := NewProgress(&buf, true, time.Second, false)
	// Connected rises to every camera and falls again, as in an outage: the
	// display must follow it down, not stop at a full bar.
	for i, connected := range []int64{100, 1000, 300} {
		s := sample(time.Duration(i+1) * time.Second)
		s.Connected = connected
		s.WorkersDead = 1
		pr.Update(s)
	}
	pr.Close()
	out := buf.String()
	for _, want := range []string{"herd: outage", "3.0s", "connected 300/1000", "connects/s 340", "acked 12034",
		"errors 2 (timeout 2)  shed 5 (http_503 5)", "violations 1 (cross_account 1)", "workers dead 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("display lacks %q:\n%s", want, out)
		}
	}
	// The final frame: the bar line and its detail line.
	if i := strings.LastIndex(out, "herd: outage"); i < 0 || strings.Count(out[i:], "\n") != 2 {
		t.Errorf("last frame is not two lines:\n%q", out)
	}
}

func TestProgressWrite(t *testing.T) {
	for _, term := range []bool{false, true} {
		var buf syncBuffer
		pr := NewProgress(&buf, term, time.Second, false)
		pr.Update(sample(time.Second))
		waitFor(t, &buf, "connected 512/1000")
		fmt.Fprintln(pr, "herd: a log line")
		waitFor(t, &buf, "herd: a log line\n") // at once, not at the next Update or Close
		pr.Close()
		fmt.Fprintln(pr, "herd: after close")
		out := buf.String()
		if !strings.Contains(out, "herd: a log line\n") || !strings.HasSuffix(out, "herd: after close\n") {
			t.Errorf("terminal %v: log lines missing:\n%s", term, out)
		}
	}
}

func TestProgressConcurrent(t *testing.T) {
	for _, term := range []bool{false, true} {
		var buf syncBuffer
		pr := NewProgress(&buf, term, time.Millisecond, false)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 50 {
					pr.Update(sample(time.Duration(g*50+i) * time.Millisecond))
					if i%10 == 0 {
						fmt.Fprintln(pr, "log")
					}
				}
			})
		}
		wg.Wait()
		pr.Close()
		pr.Update(sample(time.Hour)) // after Close: ignored
		if !strings.Contains(buf.String(), "connected 512/1000") {
			t.Errorf("terminal %v: nothing shown", term)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || IsTerminal(nil) {
		t.Error("a file or nil is a terminal")
	}
}

// waitFor waits up to 5 s for buf to hold want.
func waitFor(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(buf.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s the output lacks %q:\n%s", want, buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer for one writer goroutine (mpb's) and a
// reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestProgressNothingToShow(t *testing.T) {
	for _, term := range []bool{false, true} {
		var buf syncBuffer
		pr := NewProgress(&buf, term, time.Second, false)
		pr.Close()
		if out := buf.String(); out != "" {
			t.Errorf("terminal %v: closed without an Update, printed %q", term, out)
		}
	}
}
