package link

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

type loopFunc func()

func (f loopFunc) Loop() { f() }

// Loops run one at a time on as few goroutines as were ever busy at once,
// and Close waits for the readers to end.
func TestReadersReuseGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	r := NewReaders()
	var ran sync.WaitGroup
	release := make(chan struct{})
	for range 10 {
		ran.Add(1)
		r.Go(loopFunc(func() { <-release; ran.Done() }))
	}
	if n := runtime.NumGoroutine() - before; n != 10 {
		t.Fatalf("10 loops at once on %d goroutines", n)
	}
	close(release)
	ran.Wait()
	for range 100 { // one loop at a time: each on a spare reader
		ran.Add(1)
		done := make(chan struct{})
		r.Go(loopFunc(func() { close(done); ran.Done() }))
		<-done
		if n := runtime.NumGoroutine() - before; n > 10 {
			t.Fatalf("%d goroutines for loops run one after the other, 10 before", n)
		}
	}
	ran.Wait()
	r.Close()
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ { // a reader exits just after Done
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine() - before; n != 0 {
		t.Errorf("%d goroutines left after Close", n)
	}
}
