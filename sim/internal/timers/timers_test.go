package timers

import (
	"context"
	"sync"
	"testing"
	"time"
)

type thing struct {
	Slot
	name string
	runs int
}

func TestRunsInDueOrderAndEarlierWins(t *testing.T) {
	q := New[*thing]()
	now := time.Now()
	a, b, c := &thing{name: "a"}, &thing{name: "b"}, &thing{name: "c"}
	q.At(a, now.Add(60*time.Millisecond))
	q.At(b, now.Add(20*time.Millisecond))
	q.At(c, now.Add(40*time.Millisecond))
	q.At(a, now.Add(10*time.Millisecond)) // earlier: moves up
	q.At(b, now.Add(time.Hour))           // later: ignored
	if q.Len() != 3 {
		t.Fatalf("Len = %d, want 3: asking again must not add a thing twice", q.Len())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var order []string
	done := make(chan struct{})
	go func() {
		q.Run(ctx, 1, func(x *thing) {
			mu.Lock()
			order = append(order, x.name)
			if len(order) == 3 {
				cancel()
			}
			mu.Unlock()
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end when its context did")
	}
	if got := order[0] + order[1] + order[2]; got != "abc" {
		t.Errorf("ran in order %q, want abc (by due time, a moved earlier, b's later ask ignored)", got)
	}
}

func TestAThingPutsItselfBack(t *testing.T) {
	q := New[*thing]()
	x := &thing{name: "poll"}
	start := time.Now()
	q.At(x, start)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var dues []time.Time
	q.Run(ctx, 4, func(x *thing) {
		dues = append(dues, x.Due()) // one thing: never two runs at once
		x.runs++
		if x.runs == 3 {
			cancel()
			return
		}
		q.At(x, x.Due().Add(5*time.Millisecond))
	})
	if len(dues) != 3 {
		t.Fatalf("%d runs, want 3", len(dues))
	}
	for i, d := range dues {
		if want := start.Add(time.Duration(i) * 5 * time.Millisecond); !d.Equal(want) {
			t.Errorf("run %d: Due() = %v after start, want %v: the time it was due, not when it ran", i, d.Sub(start), want.Sub(start))
		}
	}
	if q.Len() != 0 {
		t.Errorf("Len = %d after the last run, want 0", q.Len())
	}
}
