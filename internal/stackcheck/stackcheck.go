// Package stackcheck is for tests that keep the stacks of a fleet's
// reader goroutines small. A goroutine keeps the stack it grew to (the
// runtime halves one only while less than a quarter is in use), and the
// runtime starts each goroutine on the average stack it last scanned plus
// a guard: a reader that parks in deep frames, or calls something deep
// (an allocation can be), costs 4 KB instead of 2 KB for its whole life,
// and makes later goroutines start on 4 KB too.
package stackcheck

import (
	"os/exec"
	"runtime"
	"runtime/metrics"
	"testing"
)

// Baseline is the goroutine stacks before the goroutines a test measures.
type Baseline struct{ inUse, scanned uint64 }

// Each is what each of n goroutines started since b adds: the stack it
// holds, and the part of it the last collection scanned (what it uses;
// the runtime's starting size is the average of that, plus a guard).
func (b Baseline) Each(n int) (held, used uint64) {
	now := Measure()
	return (now.inUse - b.inUse) / uint64(n), (now.scanned - b.scanned) / uint64(n)
}

// Measure takes a Baseline, after two collections (which shrink what
// stacks they can).
func Measure() Baseline {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := []metrics.Sample{{Name: "/gc/scan/stack:bytes"}}
	metrics.Read(s)
	return Baseline{inUse: ms.StackInuse, scanned: s[0].Value.Uint64()}
}

// WithoutRace runs the test named test of the package in the working
// directory in a build without the race detector, whose instrumentation
// enlarges every frame, and fails t if it fails. It skips t where no go
// command is found.
func WithoutRace(t testing.TB, test string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the race detector enlarges frames, and no go command is here to build without it")
	}
	out, err := exec.Command(goTool, "test", "-count=1", "-run", "^"+test+"$", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("%s without the race detector: %v\n%s", test, err, out)
	}
}
