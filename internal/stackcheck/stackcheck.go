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

// Scanned is the bytes of goroutine stacks the last of two collections
// scanned: what the goroutines there are now use of their stacks (the
// runtime's starting size is its average, plus a guard).
func Scanned() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/scan/stack:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// InUse is the bytes of goroutine stacks in use, after two collections
// (which shrink what they can).
func InUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
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
